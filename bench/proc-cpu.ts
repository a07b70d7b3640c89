import { readFileSync } from 'node:fs';

/** Linux's clock ticks per second for /proc/PID/stat (USER_HZ): 100 on every architecture Node runs on. */
const USER_HZ = 100;

/**
 * CPU time of a /proc stat file (a process's or one thread's) in ms: utime + stime (fields 14 and 15), and with
 * `reaped` also cutime + cstime (16 and 17: the children it has waited for), counted after the ")" that ends the
 * command name. Undefined off Linux or once the process has gone.
 */
export function statCpuMs(statPath: string, reaped = false): number | undefined {
  try {
    const stat = readFileSync(statPath, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after the name, field 3 (state) is index 0, so utime (14) is index 11 and cstime (17) index 14
    const ticks = Number(fields[11]) + Number(fields[12]) + (reaped ? Number(fields[13]) + Number(fields[14]) : 0);
    return Number.isFinite(ticks) ? (ticks * 1000) / USER_HZ : undefined;
  } catch {
    return undefined;
  }
}

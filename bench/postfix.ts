// A throw-away Postfix for the side-by-side figure (`npm run bench -- --compare`): its own config_directory and
// queue_directory in a temp folder, smtpd on 127.0.0.1 at a free high port, every message relayed to the bench's
// sink on another port, no DNS. Started and stopped with `postfix -c DIR` (needs root, as Postfix's master does);
// the system Postfix instance is never touched.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { statCpuMs } from './proc-cpu.ts';

const run = promisify(execFile);
const POSTFIX = '/usr/sbin/postfix';
const POSTCONF = '/usr/sbin/postconf';
export const SMTP_SOURCE = '/usr/sbin/smtp-source';
export const SMTP_SINK = '/usr/sbin/smtp-sink';
/** How long `postfix start` may take until smtpd answers (ms); it is a few hundred ms on an idle box. */
const READY_TIMEOUT_MS = 20_000;
const READY_POLL_MS = 100;

/**
 * What the bench Postfix changes from Postfix's own defaults, each for a reason:
 * - its own directories, loopback only, no chroot (a chroot needs files copied into the queue folder);
 * - relay_domains = the test domain, delivered by the `relay` transport to [127.0.0.1]:SINK (relay_transport and
 *   relayhost; no MX or A look-up: smtp_dns_support_level = disabled, smtp_host_lookup = native, disable_dns_lookups);
 * - the client is NOT in mynetworks (as for Moat, an MX client from the internet), and the per-client connection
 *   cap (smtpd_client_connection_count_limit, 50) raised to the bench's sessions, like Moat's per-IP cap;
 * - default_process_limit raised from 100 so that 100 sessions never wait for a free smtpd.
 * Queue file fsync, concurrency per destination (20) and everything else keep Postfix's defaults.
 */
function mainCf(dir: string, sinkPort: number, sessions: number, domain: string): string {
  const limit = Math.max(sessions * 2, 200);
  return [
    'compatibility_level = 3.6',
    `queue_directory = ${join(dir, 'queue')}`,
    `data_directory = ${join(dir, 'data')}`,
    `maillog_file = ${join(dir, 'maillog')}`,
    `maillog_file_prefixes = ${dir}`,
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'myhostname = bench-postfix.localdomain',
    'mydestination =',
    'mynetworks = 192.0.2.1/32',
    `relay_domains = ${domain}`,
    `relayhost = [127.0.0.1]:${sinkPort}`,
    `relay_transport = relay:[127.0.0.1]:${sinkPort}`,
    'smtp_dns_support_level = disabled',
    'smtp_host_lookup = native',
    'disable_dns_lookups = yes',
    'smtpd_peername_lookup = no',
    'smtp_tls_security_level = none',
    'smtpd_tls_security_level = none',
    'alias_maps =',
    'alias_database =',
    'local_recipient_maps =',
    'biff = no',
    'smtputf8_enable = no',
    `smtpd_client_connection_count_limit = ${limit}`,
    'smtpd_client_event_limit_exceptions =',
    `default_process_limit = ${limit}`,
    '',
  ].join('\n');
}

function masterCf(port: number): string {
  const services = [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    'pickup    unix  n - n 60 1 pickup',
    'cleanup   unix  n - n - 0 cleanup',
    'qmgr      unix  n - n 300 1 qmgr',
    'tlsmgr    unix  - - n 1000? 1 tlsmgr',
    'rewrite   unix  - - n - - trivial-rewrite',
    'bounce    unix  - - n - 0 bounce',
    'defer     unix  - - n - 0 bounce',
    'trace     unix  - - n - 0 bounce',
    'verify    unix  - - n - 1 verify',
    'flush     unix  n - n 1000? 0 flush',
    'proxymap  unix  - - n - - proxymap',
    'proxywrite unix - - n - 1 proxymap',
    'smtp      unix  - - n - - smtp',
    'relay     unix  - - n - - smtp',
    'showq     unix  n - n - - showq',
    'error     unix  - - n - - error',
    'retry     unix  - - n - - error',
    'discard   unix  - - n - - discard',
    'anvil     unix  - - n - 1 anvil',
    'scache    unix  - - n - 1 scache',
    'postlog   unix-dgram n - n - 1 postlogd',
  ];
  return `${services.join('\n')}\n`;
}

export interface PostfixHandle {
  port: number;
  dir: string;
  /** `postfix stop`, then the temp directory goes (unless kept). */
  stop(keep?: boolean): Promise<void>;
  /**
   * Postfix's memory now (bytes): the proportional set size (Pss, /proc/PID/smaps_rollup) summed over the master
   * and its children, so the libraries all its processes share count once, not once per smtpd.
   */
  rssBytes(): Promise<number | undefined>;
  /**
   * CPU time Postfix has used so far (ms): the master's, its children's that have exited (reaped by the master), and
   * those running now. All of it is Postfix's work on the mail: smtpd, cleanup, qmgr, trivial-rewrite, smtp.
   */
  cpuMs(): Promise<number | undefined>;
}

/** A free TCP port on 127.0.0.1 (asked of the kernel; Postfix needs a fixed number in master.cf). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether Postfix and its test tools are installed and we may start an instance (Postfix's master needs root). */
export function postfixAvailable(): boolean {
  return process.getuid?.() === 0 && [POSTFIX, POSTCONF, SMTP_SOURCE, SMTP_SINK].every((file) => existsSync(file));
}

export async function startPostfix(options: { sinkPort: number; sessions: number; domain: string }): Promise<PostfixHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-bench-postfix-'));
  const port = await freePort();
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'queue'), { mode: 0o755 });
  await mkdir(join(dir, 'data'), { mode: 0o700 });
  const { stdout: uid } = await run('id', ['-u', 'postfix']);
  await chown(join(dir, 'data'), Number(uid.trim()), 0);
  await writeFile(join(dir, 'main.cf'), mainCf(dir, options.sinkPort, options.sessions, options.domain));
  await writeFile(join(dir, 'master.cf'), masterCf(port));
  const postfix = (...args: string[]) => run(POSTFIX, ['-c', dir, ...args], { env: { ...process.env, MAIL_CONFIG: dir } });
  try {
    await run(POSTCONF, ['-c', dir, 'mail_version']);
    await postfix('check');
    await postfix('start');
    await waitForGreeting(port);
  } catch (err) {
    await postfix('stop').catch(() => {});
    throw new Error(`bench Postfix did not start: ${(err as Error).message}\nconfig in ${dir}`);
  }
  return {
    port,
    dir,
    async stop(keep = false) {
      await postfix('stop').catch(() => {});
      if (!keep) await rm(dir, { recursive: true, force: true });
    },
    async rssBytes() {
      try {
        let sum = 0;
        for (const pid of await processes(dir)) sum += await pssBytes(pid);
        return sum;
      } catch {
        return undefined;
      }
    },
    async cpuMs() {
      try {
        let sum = 0;
        // a child that exits between the two reads is missed (a few ms at most): the master reaps it later
        for (const pid of await processes(dir)) sum += statCpuMs(`/proc/${pid}/stat`, true) ?? 0;
        return sum;
      } catch {
        return undefined;
      }
    },
  };
}

/** A process's Pss in bytes; 0 when it has exited meanwhile. */
async function pssBytes(pid: string): Promise<number> {
  try {
    const match = /^Pss:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The master's pid, then its children's. */
async function processes(dir: string): Promise<string[]> {
  const master = (await readFile(join(dir, 'queue', 'pid', 'master.pid'), 'utf8')).trim();
  const children = (await readFile(`/proc/${master}/task/${master}/children`, 'utf8')).split(/\s+/).filter(Boolean);
  return [master, ...children];
}

async function waitForGreeting(port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('data', (chunk) => {
        socket.destroy();
        resolve(chunk.toString().startsWith('220'));
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`smtpd on 127.0.0.1:${port} gave no 220 within ${READY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}


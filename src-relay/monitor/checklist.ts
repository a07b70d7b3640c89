import type { Logger } from '../log/logger.ts';
import type { MonitorStore } from './monitor-store.ts';
import { PROBES, type Probe, type ProbeContext } from './probes.ts';
import type { ProbeResult, ProbeStatus } from './types.ts';

/** Each probe must answer within this long (apt may be slow); after it the result is unknown. */
export const PROBE_TIMEOUT_MS = 180_000;
/** Probe results are kept this long as history. */
export const CHECKLIST_HISTORY_DAYS = 90;

/** Things no probe can see, ticked by the admin with a date; each is due again after `reviewDays`. */
export interface ManualItem {
  id: string;
  text: string;
  reviewDays: number;
}

export const MANUAL_ITEMS: readonly ManualItem[] = [
  {
    id: 'firewall-reviewed',
    text: 'Firewall rules reviewed: from the internet only port 25 (and 587/465 for travelling clients) reaches the relay; only the relay may reach the internal server on port 25',
    reviewDays: 180,
  },
  { id: 'own-dmz', text: 'The relay sits in its own DMZ, apart from other front-end servers (web, VPN, remote desktop)', reviewDays: 365 },
  { id: 'mx-records', text: "The domains' MX records point at the relay only, never at the internal server", reviewDays: 365 },
  { id: 'internal-anonymous-relay-off', text: "The internal server's anonymous relay is off: it takes mail from the relay only for its own domains", reviewDays: 365 },
  { id: 'different-antivirus', text: 'A different anti-virus product runs at the relay than on the internal server', reviewDays: 365 },
  { id: 'os-auto-updates', text: 'Unattended security updates are on for the operating system (or someone installs them every week)', reviewDays: 365 },
  { id: 'restore-tested', text: 'A backup was restored on another box and the relay started from it, its queue left held so nothing is sent twice (restore test; moat backup restore holds it)', reviewDays: 365 },
  { id: 'admin-access', text: "Only the admins' workstations can reach the admin listener (SSH tunnel or firewall)", reviewDays: 365 },
];

export type ManualState = 'done' | 'due' | 'todo';

export interface ManualItemState extends ManualItem {
  state: ManualState;
  tickedAt: number | null;
  note: string | null;
}

export interface ChecklistOptions {
  store: MonitorStore;
  context: () => ProbeContext;
  clock: () => number;
  logger: Logger;
  probes?: readonly Probe[];
}

/** The patch-status checklist: automatic probes (results kept as history) and manual items with ticks. */
export class Checklist {
  private readonly store: MonitorStore;
  private readonly context: () => ProbeContext;
  private readonly clock: () => number;
  private readonly logger: Logger;
  private readonly probes: Probe[];
  private running: Promise<ProbeResult[]> | null = null;

  constructor(options: ChecklistOptions) {
    this.store = options.store;
    this.context = options.context;
    this.clock = options.clock;
    this.logger = options.logger;
    this.probes = [...(options.probes ?? PROBES)];
  }

  /** Plugs in a probe from a later issue; replaces one with the same id. */
  addProbe(probe: Probe): void {
    const at = this.probes.findIndex((candidate) => candidate.id === probe.id);
    if (at >= 0) this.probes[at] = probe;
    else this.probes.push(probe);
  }

  probeList(): { id: string; title: string }[] {
    return this.probes.map(({ id, title }) => ({ id, title }));
  }

  /** Runs every probe (or the named ones) now, stores the results, returns them. Concurrent calls share one run. */
  run(only?: readonly string[]): Promise<ProbeResult[]> {
    if (only) return this.runProbes(this.probes.filter((probe) => only.includes(probe.id)));
    this.running ??= this.runProbes(this.probes).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runProbes(probes: readonly Probe[]): Promise<ProbeResult[]> {
    const context = this.context();
    const results = await Promise.all(probes.map((probe) => this.runOne(probe, context)));
    this.store.insertResults(results);
    this.store.pruneResults(this.clock() - CHECKLIST_HISTORY_DAYS * 86400_000);
    const failing = results.filter((result) => result.status === 'failing').map((result) => result.probe);
    this.logger.info({ probes: results.length, failing: failing.join(',') || undefined }, 'CHECKLIST_RUN');
    return results;
  }

  private async runOne(probe: Probe, context: ProbeContext): Promise<ProbeResult> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const outcome = await Promise.race([
        Promise.resolve(probe.run(context)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`)), PROBE_TIMEOUT_MS);
          timer.unref();
        }),
      ]);
      return { probe: probe.id, title: probe.title, ...outcome, checkedAt: this.clock() };
    } catch (error) {
      return { probe: probe.id, title: probe.title, status: 'unknown', detail: `the probe failed: ${(error as Error).message}`, checkedAt: this.clock() };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The latest result of each probe, in the checklist's order (probes that never ran are left out). */
  latest(): ProbeResult[] {
    const rows = new Map(this.store.latestResults().map((row) => [row.probe, row]));
    const results: ProbeResult[] = [];
    for (const probe of this.probes) {
      const row = rows.get(probe.id);
      if (row) results.push({ probe: probe.id, title: probe.title, status: row.status, detail: row.detail, hint: row.hint ?? undefined, checkedAt: row.checked_at });
    }
    return results;
  }

  latestOf(id: string): ProbeResult | null {
    return this.latest().find((result) => result.probe === id) ?? null;
  }

  /** Past results, newest first; only the changes of status when `changesOnly`. */
  history(probe: string | null = null, limit = 200, changesOnly = false): ProbeResult[] {
    const titles = new Map(this.probes.map((entry) => [entry.id, entry.title]));
    const rows = this.store.resultHistory(probe, changesOnly ? limit * 20 : limit);
    let results = rows.map((row) => ({
      probe: row.probe,
      title: titles.get(row.probe) ?? row.probe,
      status: row.status,
      detail: row.detail,
      hint: row.hint ?? undefined,
      checkedAt: row.checked_at,
    }));
    if (changesOnly) {
      const chronological = [...results].reverse();
      const last = new Map<string, ProbeStatus>();
      results = chronological.filter((result) => {
        const changed = last.get(result.probe) !== result.status;
        last.set(result.probe, result.status);
        return changed;
      });
      results = results.reverse().slice(0, limit);
    }
    return results;
  }

  manual(): ManualItemState[] {
    const ticks = new Map(this.store.latestTicks().map((tick) => [tick.item, tick]));
    const now = this.clock();
    return MANUAL_ITEMS.map((item) => {
      const tick = ticks.get(item.id);
      if (!tick || !tick.done) return { ...item, state: 'todo', tickedAt: null, note: tick?.note ?? null };
      const due = now - tick.at > item.reviewDays * 86400_000;
      return { ...item, state: due ? 'due' : 'done', tickedAt: tick.at, note: tick.note };
    });
  }

  /** Ticks (or unticks) a manual item; `at` lets the admin record when it was really done. */
  tick(item: string, options: { done?: boolean; at?: number; note?: string | null } = {}): boolean {
    if (!MANUAL_ITEMS.some((candidate) => candidate.id === item)) return false;
    this.store.tick(item, options.done ?? true, options.at ?? this.clock(), options.note ?? null);
    return true;
  }

  /** Sets a manual item's note and nothing else: ticked or not, and when, stay as they were. */
  setNote(item: string, note: string | null): boolean {
    if (!MANUAL_ITEMS.some((candidate) => candidate.id === item)) return false;
    const last = this.store.latestTicks().find((tick) => tick.item === item);
    this.store.tick(item, Boolean(last?.done), last?.at ?? this.clock(), note);
    return true;
  }
}

const STATUS_WORD: Record<ProbeStatus, string> = { ok: 'OK', warning: 'WARNING', failing: 'FAILING', unknown: 'UNKNOWN' };
const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, 'Z');

/** `moat checklist`: every probe's latest answer with its hint and time, then the manual items. */
export function formatChecklist(results: readonly ProbeResult[], manual: readonly ManualItemState[], probes: readonly { id: string; title: string }[]): string {
  const lines = ['Patch status (automatic probes; "moat checklist run" runs them now)'];
  const byId = new Map(results.map((result) => [result.probe, result]));
  for (const probe of probes) {
    const result = byId.get(probe.id);
    if (!result) {
      lines.push(`  ${'-'.padEnd(8)} ${probe.id.padEnd(18)} not run yet`);
      continue;
    }
    lines.push(`  ${STATUS_WORD[result.status].padEnd(8)} ${probe.id.padEnd(18)} ${result.detail}  [${time(result.checkedAt)}]`);
    if (result.hint && result.status !== 'ok') lines.push(`  ${''.padEnd(8)} ${''.padEnd(18)} hint: ${result.hint}`);
  }
  lines.push('', 'Manual items ("moat checklist tick ITEM [NOTE]" once done; each is due again after its review period)');
  for (const item of manual) {
    const box = item.state === 'done' ? '[x]' : item.state === 'due' ? '[!]' : '[ ]';
    const when = item.tickedAt ? new Date(item.tickedAt).toISOString().slice(0, 10) : 'never';
    const due = item.state === 'due' ? ` (due again: reviewed over ${item.reviewDays} days ago)` : '';
    lines.push(`  ${box} ${item.id.padEnd(30)} ${when.padEnd(10)} ${item.text}${due}${item.note ? ` — ${item.note}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatHistory(results: readonly ProbeResult[]): string {
  if (results.length === 0) return 'no probe has run yet\n';
  return `${results.map((result) => `${time(result.checkedAt)}  ${STATUS_WORD[result.status].padEnd(8)} ${result.probe.padEnd(18)} ${result.detail}`).join('\n')}\n`;
}

// Minimum data rate in DATA (issue 11, floods). The idle timeout alone does not bound a message: every byte resets it,
// so a client trickling one byte every few seconds would hold its connection until the session deadline (30 minutes).
// Postfix 3.7 bounds DATA with smtpd_min_data_rate (500 bytes/s): the request's deadline starts at smtpd_timeout, runs
// down with time, and every read of N bytes adds N / rate seconds, never beyond smtpd_timeout. Moat keeps the same
// budget: it starts at the idle timeout in force (mx.idleTimeoutSec, 10 s under stress: stress.ts), time spends it,
// each byte adds 1/MIN_DATA_RATE_BYTES_PER_SEC s up to that cap; when it is spent the client gets 421 4.4.2 and
// nothing is queued. A client averaging at least the minimum never runs out; one below it holds its slot at most
// cap / (1 - rate / minimum), e.g. 300 s for a byte every few seconds at the defaults.

/** Postfix's smtpd_min_data_rate default (bytes/s): 4 kbit/s, far below any real link (a 56k modem moves 7 KB/s). */
export const MIN_DATA_RATE_BYTES_PER_SEC = 500;
/** Shortest wait between two checks of one budget (ms), so that a nearly spent budget is not polled in a busy loop. */
const MIN_CHECK_MS = 50;

/** What the guard reads of smtp-server's DATA stream (a PassThrough that the command parser writes into). */
export interface DataProgress {
  /** Message bytes the client has sent so far, kept up to date by smtp-server's parser as they arrive. */
  readonly byteLength: number;
  /** The final dot has arrived: the rest of the time (filters, commit) is ours. */
  readonly writableEnded: boolean;
  /** We are behind reading it (a slow spool): the client is not to blame for the wait. */
  readonly writableNeedDrain: boolean;
}

export interface DataRateGuardOptions {
  stream: DataProgress;
  /** The most budget the client may hold (ms): the idle timeout in force, read at every check. */
  budgetCapMs: () => number;
  /** The budget is spent: cut the client off. Called at most once. */
  onTooSlow: (detail: { bytes: number; elapsedMs: number }) => void;
  now: () => number;
}

/** Watches one DATA transfer; a timer checks the budget when it would run out if no byte came meanwhile. */
export class DataRateGuard {
  private readonly stream: DataProgress;
  private readonly budgetCapMs: () => number;
  private readonly onTooSlow: DataRateGuardOptions['onTooSlow'];
  private readonly now: () => number;
  private readonly startedAt: number;
  private budgetMs: number;
  private checkedAt: number;
  private bytesAt: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: DataRateGuardOptions) {
    this.stream = options.stream;
    this.budgetCapMs = options.budgetCapMs;
    this.onTooSlow = options.onTooSlow;
    this.now = options.now;
    this.startedAt = this.checkedAt = this.now();
    this.bytesAt = this.stream.byteLength;
    this.budgetMs = this.budgetCapMs();
    this.arm();
  }

  /** Spends the time since the last check, adds the bytes since; cuts the client off once the budget is spent. */
  check(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    if (this.stream.writableEnded) return this.stop();
    const now = this.now();
    const bytes = this.stream.byteLength;
    const cap = this.budgetCapMs();
    const earned = ((bytes - this.bytesAt) * 1000) / MIN_DATA_RATE_BYTES_PER_SEC;
    this.budgetMs = this.stream.writableNeedDrain ? cap : Math.min(cap, this.budgetMs - (now - this.checkedAt) + earned);
    this.checkedAt = now;
    this.bytesAt = bytes;
    if (this.budgetMs > 0) return this.arm();
    this.stop();
    this.onTooSlow({ bytes, elapsedMs: Math.round(now - this.startedAt) });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private arm(): void {
    this.timer = setTimeout(() => this.check(), Math.max(MIN_CHECK_MS, this.budgetMs));
    this.timer.unref();
  }
}

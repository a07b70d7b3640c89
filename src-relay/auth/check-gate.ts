/**
 * The relay-wide limit on password checks (scrypt, 32 MiB and tens of ms of a core each). They run on libuv's pool
 * (4 threads), which the spool's writes and fsyncs share: with more checks than threads queued, every message waits
 * behind them (bench/auth-pool.ts: 16 checks at once held a spool fsync 6.3 s; at most 2 at once, 22 ms at worst).
 * So at most `maxRunning` checks run at once, at most `maxQueued` wait for a place, and anything beyond is refused at
 * once (the caller answers 454) without any hashing. Attempts from an address the name logged in from recently
 * (`familiar`) have a queue of their own that goes first: a flood of guesses cannot keep the office out.
 */
export interface CheckGateLimits {
  /** Checks running at once; at most 2, so half the pool is always free for the spool. */
  maxRunning: number;
  /** Checks waiting for a place, in each of the two queues. */
  maxQueued: number;
}

/** A place to run one check; `release()` gives it to the next one waiting (exactly once, however often called). */
export interface CheckSlot {
  release(): void;
}

interface Waiting {
  start: (slot: CheckSlot | null) => void;
  signal: AbortSignal | undefined;
}

export class CheckGate {
  private running = 0;
  private readonly familiar: Waiting[] = [];
  private readonly others: Waiting[] = [];

  constructor(private readonly limits: CheckGateLimits) {}

  /**
   * Takes a place synchronously (so parallel attempts are counted exactly): null when both the running places and
   * the attempt's queue are full; otherwise a promise of the slot, or of null when `signal` aborted while waiting
   * (the client went away: its check is skipped).
   */
  enter(familiar: boolean, signal?: AbortSignal): Promise<CheckSlot | null> | null {
    if (signal?.aborted) return Promise.resolve(null);
    if (this.running < this.limits.maxRunning && this.familiar.length === 0 && this.others.length === 0) {
      this.running++;
      return Promise.resolve(this.slot());
    }
    const queue = familiar ? this.familiar : this.others;
    if (queue.length >= this.limits.maxQueued) return null;
    return new Promise((start) => {
      const waiting: Waiting = { start, signal };
      queue.push(waiting);
      // an abandoned attempt leaves its queue at once, so it no longer holds a place others could have
      signal?.addEventListener(
        'abort',
        () => {
          const at = queue.indexOf(waiting);
          if (at < 0) return;
          queue.splice(at, 1);
          start(null);
        },
        { once: true },
      );
    });
  }

  /** Checks running and waiting now (for tests and the log). */
  get load(): { running: number; queued: number } {
    return { running: this.running, queued: this.familiar.length + this.others.length };
  }

  private slot(): CheckSlot {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.running--;
        this.next();
      },
    };
  }

  private next(): void {
    while (this.running < this.limits.maxRunning) {
      const waiting = this.familiar.shift() ?? this.others.shift();
      if (!waiting) return;
      if (waiting.signal?.aborted) {
        waiting.start(null);
        continue;
      }
      this.running++;
      waiting.start(this.slot());
    }
  }
}

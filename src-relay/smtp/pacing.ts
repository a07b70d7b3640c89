// Pacing of mail transactions (issue 14): under a burst of mail the relay finishes the messages it has before it
// takes more. All of them share the same cores: with the bench's 100 sessions sending at once, a message waited
// about 400 ms from its final dot to the 250 unpaced. The messages holding places end nearly together (one group
// commit), so the p99 is about the time of one such batch. In six alternating pairs of bench runs 8 places gave
// 42-58 ms where 10 gave 57-68, in five; the sixth ran on a machine 40% slower (76 against 72). No rate was lost beyond
// this machine's noise. Fewer still cost rate (4: about 35 ms, a fifth fewer messages a second): each message's work
// comes in smaller batches, and more of it is waiting.
// A DATA that opens a message takes a place until its reply after the final dot, or until the connection closes; past
// MAX_TRANSACTIONS_AT_ONCE its 354 waits for a place, first come first served, but never longer than PACE_WAIT_MS:
// then it goes ahead anyway. The place is taken at DATA, not MAIL FROM, so it is not held over the client's round
// trips nor the recipient checks. Whoever holds places (trickling senders) can slow other senders by at most that
// much a message, never lock them out, and nobody is refused for it.

/** Messages taken in at once per listener (from DATA to its reply) before the next DATA waits for a place. */
export const MAX_TRANSACTIONS_AT_ONCE = 8;
/** The longest a DATA waits for a place (ms) before it goes ahead anyway. */
export const PACE_WAIT_MS = 2_000;

interface Waiter {
  go: () => void;
  timer: NodeJS.Timeout;
}

/** The transactions holding a place (by session id) and the DATA commands waiting for one. */
export class TransactionPacing {
  private readonly held = new Set<string>();
  private readonly waiting = new Map<string, Waiter>();

  constructor(
    private readonly max = MAX_TRANSACTIONS_AT_ONCE,
    private readonly maxWaitMs = PACE_WAIT_MS,
  ) {}

  /** DATA commands waiting for a place now. */
  get queued(): number {
    return this.waiting.size;
  }

  /** `go` runs once the session's transaction has a place: at once when there is room, else in turn or after the longest wait. */
  start(id: string, go: () => void): void {
    if (this.held.has(id)) return go();
    if (this.waiting.size === 0 && this.held.size < this.max) {
      this.held.add(id);
      return go();
    }
    const timer = setTimeout(() => {
      this.waiting.delete(id);
      this.held.add(id);
      go();
    }, this.maxWaitMs);
    timer.unref();
    this.waiting.set(id, { go, timer });
  }

  /** The transaction ended, or its connection closed: its place, or its wait, is given up. */
  end(id: string): void {
    if (this.held.delete(id)) {
      this.drain();
      return;
    }
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.waiting.delete(id);
  }

  private drain(): void {
    for (const [id, waiter] of this.waiting) {
      if (this.held.size >= this.max) return;
      clearTimeout(waiter.timer);
      this.waiting.delete(id);
      this.held.add(id);
      waiter.go();
    }
  }
}

// Pacing of mail transactions (issue 14): under a burst of mail the relay finishes the transactions it has before it
// starts more. All of them share the same cores: with the bench's 100 sessions sending at once, a message waited
// about 400 ms from its final dot to the 250; with at most 16 transactions at once, about 120 ms, at the same rate.
// A MAIL FROM that policy accepted takes a place until its transaction ends (the reply to DATA) or the connection
// closes; past MAX_TRANSACTIONS_AT_ONCE its 250 waits for a place, first come first served, but never longer than
// PACE_WAIT_MS: then it goes ahead anyway. So whoever holds places (silent or trickling transactions) can slow other
// senders by at most that much a message, never lock them out, and nobody is refused for it.

/** Mail transactions worked on at once per listener before a new one waits for a place. */
export const MAX_TRANSACTIONS_AT_ONCE = 16;
/** The longest a MAIL FROM waits for a place (ms) before it goes ahead anyway. */
export const PACE_WAIT_MS = 2_000;

interface Waiter {
  go: () => void;
  timer: NodeJS.Timeout;
}

/** The transactions holding a place (by session id) and the MAIL FROMs waiting for one. */
export class TransactionPacing {
  private readonly held = new Set<string>();
  private readonly waiting = new Map<string, Waiter>();

  constructor(
    private readonly max = MAX_TRANSACTIONS_AT_ONCE,
    private readonly maxWaitMs = PACE_WAIT_MS,
  ) {}

  /** MAIL FROMs waiting for a place now. */
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

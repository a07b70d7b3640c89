// Admission (issue 14): under a flood of real mail, the relay finishes the transactions it has before it starts more.
// Every session at work shares the same cores; with 100 of them a message waited 400 ms from its final dot to the 250,
// with 16 about 100 ms, for the same throughput. Postfix keeps a limit alike: its smtpd processes.
// The place is taken at a session's first MAIL FROM, whose reply waits until there is one, and held until the
// connection closes. Only sessions at work count: one silent for EVICT_MIN_IDLE_MS while it owes us a command does not.
// So connections that say nothing hold nothing back (those are the connection caps' and stress mode's care), and
// a session must keep talking to keep its place. A MAIL FROM that waits longer than mx.busyWaitSec gets 421 4.3.2.

/** While sessions wait, how often the sessions are looked at again (ms): a session falls idle without an event. */
export const ADMISSION_RECHECK_MS = 250;

export interface AdmissionOptions {
  /** Sessions at work at once; past it, a new session's MAIL FROM waits for a place. */
  maxBusy: number;
  /** Of those, from one client address: one address alone cannot fill every place. */
  maxBusyPerClient: number;
  /** Whether a session holding a place is at work now (not silent for long while it owes us a command). */
  busy: (id: string) => boolean;
  /** How long a MAIL FROM may wait for a place (ms). */
  maxWaitMs: number;
}

interface Waiter {
  client: string;
  admit: () => void;
  timer: NodeJS.Timeout;
}

interface AtWork {
  total: number;
  byClient: Map<string, number>;
}

/** The sessions holding a place (by client address) and those waiting for one, first come first served. */
export class Admission {
  private readonly served = new Map<string, string>();
  private readonly waiting = new Map<string, Waiter>();
  private recheck: NodeJS.Timeout | undefined;

  constructor(private readonly options: AdmissionOptions) {}

  /** Sessions waiting for a place now. */
  get queued(): number {
    return this.waiting.size;
  }

  /**
   * `admit` runs when session `id` of `client` has a place: at once when it holds one or there is room, else in its
   * turn (a waiter whose address has its share does not hold up the others); `giveUp` when its wait ran out.
   */
  enter(id: string, client: string, admit: () => void, giveUp: () => void): void {
    if (this.served.has(id)) return admit();
    if (this.waiting.size === 0 && this.fits(this.atWork(), client)) {
      this.served.set(id, client);
      admit();
      return;
    }
    const timer = setTimeout(() => {
      this.waiting.delete(id);
      this.stopRecheckWhenEmpty();
      giveUp();
    }, this.options.maxWaitMs);
    timer.unref();
    this.waiting.set(id, { client, admit, timer });
    this.recheck ??= setInterval(() => this.drain(), ADMISSION_RECHECK_MS).unref();
    this.drain();
  }

  /** The connection closed, holding a place or still waiting. */
  leave(id: string): void {
    if (this.served.delete(id)) {
      this.drain();
      return;
    }
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.waiting.delete(id);
    this.stopRecheckWhenEmpty();
  }

  private atWork(): AtWork {
    const counts: AtWork = { total: 0, byClient: new Map() };
    for (const [id, client] of this.served) {
      if (!this.options.busy(id)) continue;
      counts.total++;
      counts.byClient.set(client, (counts.byClient.get(client) ?? 0) + 1);
    }
    return counts;
  }

  private fits(counts: AtWork, client: string): boolean {
    return counts.total < this.options.maxBusy && (counts.byClient.get(client) ?? 0) < this.options.maxBusyPerClient;
  }

  private drain(): void {
    if (this.waiting.size === 0) return;
    const counts = this.atWork();
    for (const [id, waiter] of this.waiting) {
      if (counts.total >= this.options.maxBusy) break;
      if (!this.fits(counts, waiter.client)) continue;
      clearTimeout(waiter.timer);
      this.waiting.delete(id);
      this.served.set(id, waiter.client);
      counts.total++;
      counts.byClient.set(waiter.client, (counts.byClient.get(waiter.client) ?? 0) + 1);
      waiter.admit();
    }
    this.stopRecheckWhenEmpty();
  }

  private stopRecheckWhenEmpty(): void {
    if (this.waiting.size > 0 || !this.recheck) return;
    clearInterval(this.recheck);
    this.recheck = undefined;
  }
}

// Connection stress (issue 11, floods). Silent connections spread over many client addresses pass the per-IP cap and
// could hold every one of maxConnections slots for the whole idle timeout (5 minutes), locking real senders out.
// Postfix's answer is its stress mode: once every smtpd process is busy, smtpd_timeout drops from 300 s to 10 s
// (smtpd_timeout = ${stress?{10}:{300}}s). Moat does the same, and at the cap makes room for a newcomer:
//  - under stress (open connections at STRESS_SHARE of maxConnections or more), a session that owes us a command
//    is closed with 421 4.4.2 after STRESS_IDLE_TIMEOUT_SEC of silence, and the DATA budget of the minimum data rate
//    (data-rate.ts) is capped at the same;
//  - at the cap, a new connection takes the slot of the session idle longest before MAIL (at least
//    EVICT_MIN_IDLE_MS), which gets 421 4.4.2; when none qualifies, the newcomer gets 421 as before.
// Only silence the client chose costs it its slot: a session waiting for our reply (greeting delay, DNSBL, callout,
// login delay) is never idle, and at the cap a session in a transaction (MAIL given) is never the one closed.
// Stalling is silence too: a command that moves nothing forward (NOOP, RSET, HELP, VRFY, EXPN, a second HELO or
// EHLO, a recipient given again, a second MAIL before a message is sent, anything we refuse) does not restart the
// idle clock, or a NOOP (or the same RCPT) every few seconds would hold a slot forever.
// On an implicit-TLS listener (465) smtp-server has no session until the TLS handshake ends: a socket in its handshake
// holds a slot and counts for its address from the accept, is idle from the accept (the client owes the handshake),
// and is closed at TLS_HANDSHAKE_TIMEOUT_SEC at the latest (listener.ts onAccept).

/** Share of maxConnections open from which a listener is under stress: early enough that slots free before the cap. */
export const STRESS_SHARE = 0.8;
/** Idle timeout under stress (s) for every session that owes us a command, and the DATA budget's cap: Postfix's value. */
export const STRESS_IDLE_TIMEOUT_SEC = 10;
/**
 * At the cap, a session idle this long before MAIL (ms) may be closed to make room. A real client sends its next
 * command one round trip after our reply (under 1 s even over satellite links); to push a real client out instead of
 * its own connections, a flood would have to reopen every slot within this time, and per-address rate limits apply.
 */
export const EVICT_MIN_IDLE_MS = 1_000;
/** How often sessions are checked while under stress (ms): the stress timeout is kept within this much. */
export const STRESS_SWEEP_MS = 1_000;

/** A monotonic clock (ms): idle times are durations, untouched by wall-clock steps or a test's fixed clock. */
export const monotonicNow = (): number => performance.now();

/** Commands that never move a session forward, whatever the reply. */
const STALLING_VERBS = new Set(['NOOP', 'RSET', 'HELP', 'VRFY', 'EXPN']);

/** Recipients remembered per transaction to tell a new one from one given again; past this every RCPT stalls. */
const MAX_TRACKED_RECIPIENTS = 1000;

/** The command's verb, upper case (an AUTH continuation line has none of ours, and is judged by its reply as AUTH is). */
function verbOf(command: Buffer): string {
  return /^[^ \r\n]*/.exec(command.toString('latin1', 0, 8))![0].toUpperCase();
}

/** When a session was last answered after progress (or greeted), and whether the client owes the next move. */
export class SessionActivity {
  private greeted = false;
  private saidHello = false;
  private awaitingReply = false;
  private stalling = false;
  private lastActiveAt: number;
  /** The command being answered, and whether the next reply ends a message's data (after DATA's 354). */
  private verb = '';
  private dataEnds = false;
  /** A MAIL was accepted and its message not sent yet: another MAIL moves nothing forward. */
  private mailOpen = false;
  private readonly recipients = new Set<string>();

  constructor(now: number) {
    this.lastActiveAt = now;
  }

  /** The client sent a command: it waits for us until we answer, and our answer says whether it was progress. */
  heard(command: Buffer): void {
    const verb = verbOf(command);
    const hello = verb === 'EHLO' || verb === 'HELO';
    this.verb = verb;
    // a RCPT is progress only once the listener took a recipient the envelope did not hold (tookRecipient)
    this.stalling = STALLING_VERBS.has(verb) || (hello && this.saidHello) || (verb === 'MAIL' && this.mailOpen) || verb === 'RCPT';
    if (hello) this.saidHello = true;
    this.awaitingReply = true;
  }

  /**
   * The RCPT being answered was taken, as `canonical` (the address the envelope holds): progress when the transaction
   * has not had it yet (remembered up to a bound). Its spelling is the relay's, not the client's: one mailbox typed
   * a new way each time (upper case, full-width letters, a source route) is the same recipient given again.
   */
  tookRecipient(canonical: string): void {
    const recipient = canonical.toLowerCase();
    if (this.verb !== 'RCPT' || this.recipients.has(recipient) || this.recipients.size >= MAX_TRACKED_RECIPIENTS) return;
    this.recipients.add(recipient);
    this.stalling = false;
  }

  /**
   * We sent a reply: from now the client owes us the next command. A 220 is the greeting (or STARTTLS's go-ahead:
   * the client says hello again). A refusal, or the answer to a stalling command, is no progress.
   */
  answered(code: number, now: number): void {
    if (code === 220) {
      this.greeted = true;
      this.saidHello = false;
    }
    if (this.dataEnds) {
      // the reply to a message's data: whatever it was, the transaction is over
      this.dataEnds = false;
      this.endTransaction();
    } else if (this.verb === 'DATA' && code === 354) this.dataEnds = true;
    else if (this.verb === 'MAIL' && code < 400) this.mailOpen = true;
    this.awaitingReply = false;
    if (!this.stalling && code < 400) this.lastActiveAt = now;
    this.stalling = false;
  }

  private endTransaction(): void {
    this.mailOpen = false;
    this.recipients.clear();
  }

  /** Since when the client has been silent while it owed us a command; undefined while we owe it something. */
  idleSince(inData: boolean): number | undefined {
    return this.greeted && !this.awaitingReply && !inData ? this.lastActiveAt : undefined;
  }
}

/** What the stress policy needs to know of one open session. */
export interface IdleSlot {
  /** From SessionActivity.idleSince. */
  idleSince: number | undefined;
  /** MAIL given (a message on its way). */
  inTransaction: boolean;
}

export interface ConnectionStressOptions {
  maxConnections: number;
  idleTimeoutSec: number;
  now?: () => number;
}

/** The stress policy of one listener: pure decisions over its open sessions; the listener sends the replies. */
export class ConnectionStress {
  private readonly threshold: number;
  private readonly idleTimeoutMs: number;
  private readonly stressIdleTimeoutMs: number;
  readonly now: () => number;

  constructor(options: ConnectionStressOptions) {
    this.threshold = Math.ceil(options.maxConnections * STRESS_SHARE);
    this.idleTimeoutMs = options.idleTimeoutSec * 1000;
    this.stressIdleTimeoutMs = Math.min(options.idleTimeoutSec, STRESS_IDLE_TIMEOUT_SEC) * 1000;
    this.now = options.now ?? monotonicNow;
  }

  stressed(open: number): boolean {
    return open >= this.threshold;
  }

  /** The idle timeout in force with `open` connections (ms); also the most budget a DATA transfer may hold. */
  idleLimitMs(open: number): number {
    return this.stressed(open) ? this.stressIdleTimeoutMs : this.idleTimeoutMs;
  }

  /** The sessions to close because they have been silent past the idle limit in force (none unless under stress). */
  expired<T extends IdleSlot>(slots: Iterable<T>, open: number): T[] {
    if (!this.stressed(open)) return [];
    const since = this.now() - this.stressIdleTimeoutMs;
    return [...slots].filter((slot) => slot.idleSince !== undefined && slot.idleSince <= since);
  }

  /** At the cap: the session whose slot a newcomer gets, the one idle longest before MAIL; undefined when none may go. */
  evictee<T extends IdleSlot>(slots: Iterable<T>): T | undefined {
    const since = this.now() - EVICT_MIN_IDLE_MS;
    let oldest: T | undefined;
    for (const slot of slots) {
      if (slot.inTransaction || slot.idleSince === undefined || slot.idleSince > since) continue;
      if (!oldest || slot.idleSince < oldest.idleSince!) oldest = slot;
    }
    return oldest;
  }
}

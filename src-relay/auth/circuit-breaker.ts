import type { Logger } from '../log/logger.ts';
import type { RelayEvents } from '../events.ts';
import type { Account, AccountStore } from './account-store.ts';

/** The breaker looks at what each account sent in the last hour. */
const WINDOW_MS = 3600_000;

export interface AccountLimits {
  messagesPerHour: number;
  recipientsPerHour: number;
}

export type BreakerVerdict = { ok: true } | { ok: false; reason: string };

/**
 * The circuit breaker for stolen accounts: an account that sends more messages or recipients in an hour than its
 * limit allows is suspended (its sessions get 4xx, mail it had sent before is untouched), an `account-suspended`
 * event is raised, and it stays suspended until `moat users unlock NAME`. What was sent is counted in memory (a
 * restart forgets the last hour); the suspension itself is in the database, so it survives a restart.
 *
 * A message admitted at MAIL FROM (and each recipient admitted at RCPT TO) counts at once as pending for its
 * session, until the message is accepted, the session starts another one, or it ends: sessions of one account in
 * parallel see each other's messages in progress, so together they cannot send more than one session could.
 */
export class CircuitBreaker {
  private readonly sent = new Map<string, { at: number; recipients: number }[]>();
  /** Per session id: the message it has in progress (admitted, not yet accepted). */
  private readonly pending = new Map<string, { name: string; recipients: number }>();

  constructor(
    private readonly options: { accounts: AccountStore; limits: AccountLimits; events: RelayEvents; logger: Logger; clock?: () => number },
  ) {}

  /** At MAIL FROM: may the account start one more message? (A message the session had in progress is dropped.) */
  admitMessage(account: Account, clientIp: string, sessionId: string): BreakerVerdict {
    this.pending.delete(sessionId);
    const { messages } = this.usage(account);
    const limit = this.options.limits.messagesPerHour;
    if (messages + 1 > limit) return this.trip(account, clientIp, `more than ${limit} messages in an hour`);
    this.pending.set(sessionId, { name: account.name, recipients: 0 });
    return { ok: true };
  }

  /** At RCPT TO: may the account add one more recipient to its session's message that already has `inEnvelope`? */
  admitRecipient(account: Account, clientIp: string, inEnvelope: number, sessionId: string): BreakerVerdict {
    const own = this.pending.get(sessionId);
    const { recipients } = this.usage(account);
    const others = recipients - (own?.name === account.name ? own.recipients : 0);
    const limit = this.options.limits.recipientsPerHour;
    if (others + inEnvelope + 1 > limit) return this.trip(account, clientIp, `more than ${limit} recipients in an hour`);
    this.pending.set(sessionId, { name: account.name, recipients: inEnvelope + 1 });
    return { ok: true };
  }

  /** A message of the account was accepted (250): no longer pending, counted as sent. */
  recordAccepted(name: string, recipients: number, sessionId: string): void {
    this.pending.delete(sessionId);
    const list = this.sent.get(name) ?? [];
    list.push({ at: this.now(), recipients });
    this.sent.set(name, list);
  }

  /** The session ended: a message it had in progress no longer counts. */
  release(sessionId: string): void {
    this.pending.delete(sessionId);
  }

  /** Sent in the window (since the last unlock) plus what the account's sessions have in progress. */
  private usage(account: Account): { messages: number; recipients: number } {
    const since = Math.max(this.now() - WINDOW_MS, account.unlockedAt ?? 0);
    const list = (this.sent.get(account.name) ?? []).filter((entry) => entry.at > since);
    if (list.length === 0) this.sent.delete(account.name);
    else this.sent.set(account.name, list);
    const inProgress = [...this.pending.values()].filter((entry) => entry.name === account.name);
    return {
      messages: list.length + inProgress.length,
      recipients: list.reduce((sum, entry) => sum + entry.recipients, 0) + inProgress.reduce((sum, entry) => sum + entry.recipients, 0),
    };
  }

  private trip(account: Account, clientIp: string, reason: string): BreakerVerdict {
    const { accounts, events, logger } = this.options;
    const now = this.now();
    if (accounts.suspend(account.name, reason, now)) {
      logger.warn({ user: account.name, ip: clientIp, reason }, 'SUSPENDED');
      try {
        accounts.recordEvent({ at: now, name: account.name, clientIp, listener: null, outcome: 'suspended', detail: reason });
      } catch (error) {
        logger.error({ user: account.name, error: (error as Error).message }, 'AUTH_RECORD_FAILED');
      }
      events.emit('account-suspended', { user: account.name, clientIp, reason });
    }
    return { ok: false, reason };
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }
}

import type { Config } from '../config/schema.ts';
import type { MessageKind } from '../store/queue-store.ts';

/** What the deadlines of a waiting message depend on. */
export interface WaitingMessage {
  /** When its queue lifetime started (its arrival, or its release from quarantine). */
  lifetimeFrom: number;
  kind: MessageKind;
  sender: string;
}

/**
 * When the scheduler gives a waiting message up and returns it to its sender, and when it tells the sender (once)
 * that the message is delayed: null when never (the warning is off; DSNs and null senders never get one). The queue
 * pane shows the same times.
 */
export function queueDeadlines(message: WaitingMessage, limits: Pick<Config['queue'], 'lifetimeHours' | 'delayWarningHours'>): { givesUpAt: number; warnsSenderAt: number | null } {
  const warns = limits.delayWarningHours > 0 && message.kind === 'mail' && message.sender !== '';
  return {
    givesUpAt: message.lifetimeFrom + limits.lifetimeHours * 3600_000,
    warnsSenderAt: warns ? message.lifetimeFrom + limits.delayWarningHours * 3600_000 : null,
  };
}

import type { Input } from '../../src-relay/admin/contract.ts';
import { parseLocalDateTime } from './format.ts';
import { outcomeWords, summarizeList } from './words.ts';

/** The message tracking form: what the admin typed, and the tracking.search request it becomes. */

export type TrackingOutcome = NonNullable<Input<'tracking.search'>['outcome']>;

/** The outcome filter's choices ('' is any outcome). */
export const TRACKING_OUTCOMES: readonly { value: TrackingOutcome | ''; label: string }[] = [
  { value: '', label: 'Any' },
  { value: 'delivered', label: 'Delivered' },
  { value: 'deferred', label: 'Waiting to retry' },
  { value: 'held', label: 'Held' },
  { value: 'bounced', label: 'Bounced' },
  { value: 'refused', label: 'Refused' },
  { value: 'quarantined', label: 'Quarantined' },
  { value: 'deleted', label: 'Deleted' },
];

export interface TrackingForm {
  sender: string;
  recipient: string;
  messageId: string;
  /** The client's address, or its beginning ("203.0.113."). */
  clientIp: string;
  subject: string;
  outcome: TrackingOutcome | '';
  /** date-time-local values in the admin's zone ("" when not set). */
  from: string;
  to: string;
}

export const emptyTrackingForm: TrackingForm = { sender: '', recipient: '', messageId: '', clientIp: '', subject: '', outcome: '', from: '', to: '' };

export type TrackingProblems = Partial<Record<keyof TrackingForm, string>>;

export function toTrackingInput(form: TrackingForm, limit = 100): { input: Input<'tracking.search'>; problems: TrackingProblems } {
  const input: Input<'tracking.search'> = { limit };
  const problems: TrackingProblems = {};
  const sender = form.sender.trim();
  const recipient = form.recipient.trim();
  // Message-IDs are often pasted with their angle brackets; the search wants what is between them.
  const messageId = form.messageId.trim().replace(/^<(.*)>$/, '$1');
  if (sender) input.sender = sender;
  if (recipient) input.recipient = recipient;
  if (messageId) input.messageId = messageId;
  const clientIp = form.clientIp.trim();
  const subject = form.subject.trim();
  if (clientIp) input.clientIp = clientIp;
  if (subject) input.subject = subject;
  if (form.outcome) input.outcome = form.outcome;
  for (const key of ['sender', 'recipient', 'messageId', 'clientIp', 'subject'] as const) if ((input[key] ?? '').length > 200) problems[key] = 'at most 200 characters';
  if (form.from.trim()) {
    const from = parseLocalDateTime(form.from);
    if (from === null) problems.from = 'not a date and time';
    else input.from = from;
  }
  if (form.to.trim()) {
    const to = parseLocalDateTime(form.to);
    if (to === null) problems.to = 'not a date and time';
    // "until 10:37" means to the end of that minute (or second, when one is given), as a person asks it
    else input.to = to + (/T\d{2}:\d{2}:\d{2}$/.test(form.to.trim()) ? 999 : 59_999);
  }
  if (input.from !== undefined && input.to !== undefined && input.from > input.to) problems.to = 'the end is before the start';
  return { input, problems };
}

export type QuickRange = 'hour' | 'today' | 'week';

/** "Last hour", "Today", "Last 7 days": the from/to pair in epoch ms. */
export function quickRange(range: QuickRange, now: number): { from: number; to: number } {
  if (range === 'hour') return { from: now - 3_600_000, to: now };
  if (range === 'week') return { from: now - 7 * 86_400_000, to: now };
  const start = new Date(now);
  start.setHours(0, 0, 0, 0);
  return { from: start.getTime(), to: now };
}

/**
 * ["Delivered: bob@example.test", "Waiting to retry: carol@example.test"]: each outcome with its recipients, where a
 * message's recipients fared differently (its own badge says one thing only); none where they are all alike.
 */
export function recipientOutcomeLines(recipients: readonly { address: string; outcome: string }[]): string[] {
  const groups = new Map<string, string[]>();
  for (const { address, outcome } of recipients) groups.set(outcome, [...(groups.get(outcome) ?? []), address]);
  if (groups.size < 2) return [];
  return [...groups].map(([outcome, addresses]) => `${outcomeWords(outcome).label}: ${summarizeList(addresses, 2)}`);
}

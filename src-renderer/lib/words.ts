import type { Output } from '../../src-relay/admin/contract.ts';
import { formatCount, plural } from './format.ts';
import { explainError } from './plain-errors.ts';

/** The words the screens use for the engine's states, in one place. */

export type Tone = 'ok' | 'warning' | 'critical' | 'neutral' | 'info';

type QueueRow = Output<'queue.list'>['rows'][number];
type Detail = Output<'queue.show'>;
type RelayState = Output<'relay.status'>['state'];
type Probe = Output<'checklist.get'>['probes'][number];
type ManualItem = Output<'checklist.get'>['manual'][number];

export const QUEUE_STATUS: Record<QueueRow['status'], { label: string; tone: Tone }> = {
  waiting: { label: 'Waiting', tone: 'info' },
  deferred: { label: 'Retrying', tone: 'warning' },
  held: { label: 'Held', tone: 'neutral' },
};

export const ROUTE_LABEL: Record<QueueRow['route'], string> = { internal: 'Internal server', outbound: 'Internet', mixed: 'Both' };

export const RECIPIENT_STATUS: Record<Detail['recipients'][number]['status'], { label: string; tone: Tone }> = {
  pending: { label: 'Waiting', tone: 'info' },
  delivered: { label: 'Delivered', tone: 'ok' },
  bounced: { label: 'Bounced', tone: 'critical' },
  deleted: { label: 'Deleted', tone: 'neutral' },
};

export const MESSAGE_STATUS: Record<Detail['status'], { label: string; tone: Tone }> = {
  queued: { label: 'In the queue', tone: 'info' },
  done: { label: 'Finished', tone: 'ok' },
  deleted: { label: 'Deleted', tone: 'neutral' },
  damaged: { label: 'Damaged', tone: 'critical' },
  quarantined: { label: 'Quarantined', tone: 'warning' },
};

export const DECISION_ACTION: Record<NonNullable<Detail['decision']>['action'], { label: string; tone: Tone }> = {
  accept: { label: 'Accepted', tone: 'ok' },
  tag: { label: 'Delivered tagged as junk', tone: 'warning' },
  quarantine: { label: 'Quarantined', tone: 'warning' },
  tempfail: { label: 'Refused for now (4xx)', tone: 'warning' },
  reject: { label: 'Refused (5xx)', tone: 'critical' },
};

export const RELAY_STATE: Record<RelayState, { label: string; tone: Tone }> = {
  setup: { label: 'Not set up', tone: 'warning' },
  starting: { label: 'Starting', tone: 'info' },
  running: { label: 'Running', tone: 'ok' },
  failed: { label: 'Failed', tone: 'critical' },
  stopping: { label: 'Stopping', tone: 'neutral' },
};

export const PROBE_STATUS: Record<Probe['status'], { label: string; tone: Tone }> = {
  ok: { label: 'OK', tone: 'ok' },
  warning: { label: 'Warning', tone: 'warning' },
  failing: { label: 'Failing', tone: 'critical' },
  unknown: { label: 'Not checked', tone: 'neutral' },
};

/**
 * A probe's state in words: "unknown" is "Not checked" before its first run, and "Unknown" (as the CLI says) after one
 * that could not tell or does not apply here; its detail says which.
 */
export function probeStatusWords(probe: Pick<Probe, 'status' | 'checkedAt'>): { label: string; tone: Tone } {
  return probe.status === 'unknown' && probe.checkedAt !== null ? { label: 'Unknown', tone: 'neutral' } : PROBE_STATUS[probe.status];
}

export const MANUAL_STATE: Record<ManualItem['state'], { label: string; tone: Tone }> = {
  done: { label: 'Done', tone: 'ok' },
  due: { label: 'Due again', tone: 'warning' },
  todo: { label: 'To do', tone: 'neutral' },
};

/** tracking.search's outcome column ("queued", "delivered", ...); an unknown word is shown as it came. */
export function outcomeWords(outcome: string): { label: string; tone: Tone } {
  switch (outcome) {
    case 'queued':
      return { label: 'In the queue', tone: 'info' };
    case 'deferred':
      return { label: 'Waiting to retry', tone: 'warning' };
    case 'held':
      return { label: 'Held', tone: 'neutral' };
    case 'partial':
      return { label: 'Partly delivered', tone: 'warning' };
    case 'delivered':
      return { label: 'Delivered', tone: 'ok' };
    case 'bounced':
      return { label: 'Bounced', tone: 'critical' };
    case 'quarantined':
      return { label: 'Quarantined', tone: 'warning' };
    case 'deleted':
      return { label: 'Deleted', tone: 'neutral' };
    case 'refused':
      return { label: 'Refused', tone: 'critical' };
    default:
      return { label: outcome.charAt(0).toUpperCase() + outcome.slice(1), tone: 'neutral' };
  }
}

/**
 * An address cut into the pieces a narrow cell may wrap between: after "@" and before each ".", so
 * "someone@example.test" wraps as "someone@ / example / .test", never "example.te / st".
 */
export function addressPieces(text: string): string[] {
  return text.split(/(?<=@)|(?=\.)/).filter(Boolean);
}

/** "a, b and 3 more" for a recipients cell. */
export function summarizeList(items: readonly string[], shown = 2): string {
  if (items.length <= shown) return items.join(', ');
  return `${items.slice(0, shown).join(', ')} and ${items.length - shown} more`;
}

/** What an action did, for the status line: "Retried 3 messages; 1 was no longer in the queue." */
export function actionReport(verb: string, done: number, gone: number, place = 'queue', unchanged?: { count: number; already: string }): string {
  const what = `${verb} ${done} message${done === 1 ? '' : 's'}`;
  const besides = [
    unchanged?.count ? `${unchanged.count} ${unchanged.count === 1 ? 'was' : 'were'} ${unchanged.already}` : '',
    gone ? `${gone} ${gone === 1 ? 'was' : 'were'} no longer in the ${place}` : '',
  ].filter(Boolean);
  return besides.length ? `${what}; ${besides.join('; ')}.` : `${what}.`;
}

/**
 * What "Release and allow" did to the allow list, after the release's own report: the entries put on it, and the
 * senders of our own domains left off it (never allowed).
 */
export function allowReport(allowed: readonly string[], notAllowed: readonly string[]): string {
  const on = allowed.length ? `On the allow list now: ${summarizeList(allowed)}.` : '';
  const off = notAllowed.length ? `Not on the allow list: ${summarizeList(notAllowed)} (mail that says it is from your own domains is checked every time, because forgers pose as it).` : '';
  return [on, off].filter(Boolean).join(' ');
}

/** A recipient's last status and reply as one line; the status once when the reply already says it ("250 2.0.0 Ok"). */
export function lastReplyText(status: string | null | undefined, reply: string | null | undefined): string {
  if (status && reply?.split(/\s+/).includes(status)) return reply;
  return [status, reply].filter(Boolean).join(' ');
}

/** Whether the server took the probed mailbox: a test that probed none (Settings', a smarthost's) says so. */
export function recipientWords(result: Pick<Output<'setup.testInternal'>, 'recipientAccepted' | 'steps'>): string {
  if (result.recipientAccepted !== null) return result.recipientAccepted ? 'yes' : 'no';
  if (result.steps.some((step) => step.step === 'rcpt')) return 'no clear answer (see the steps above)';
  // a step before the probe failed: the mailbox was never asked about, named or not
  if (result.steps.some((step) => !step.ok)) return 'not asked: the test stopped before it (see the steps above)';
  return 'not asked: this test names no mailbox';
}

const DESTINATION_DONE: Record<'retry' | 'hold' | 'release', string> = {
  retry: 'Scheduled for delivery now',
  hold: 'Held',
  release: 'Released',
};

/** What an action on a destination did; while delivery is paused a retry or release only makes mail due for the resume. */
export function destinationReport(act: 'retry' | 'hold' | 'release', name: string, changed: number, paused: boolean): string {
  if (changed === 0) return act === 'retry' ? `${name}: nothing waits for a later try (messages held on their own are tried once released).` : `${name}: nothing to change.`;
  const messages = plural(changed, 'message');
  if (paused && act !== 'hold') return `${act === 'retry' ? 'Due' : 'Released'}: ${messages} to ${name}, sent as soon as you resume delivery (it is paused).`;
  return `${DESTINATION_DONE[act]}: ${messages} to ${name}.`;
}

/** What came of "Retry all now": the recipients it made due, then the deliveries' outcomes as they come in. */
export interface RetryAllOutcome {
  due: number;
  /** Delivery is paused for the whole queue: nothing is tried until it resumes. */
  paused: boolean;
  delivered: number;
  deferred: number;
  bounced: number;
  /** The last refusal's reply, as the relay kept it. */
  lastReply: string | null;
}

/** How many outcomes a Retry all waits for: one per recipient it made due (later ones are other mail's). */
export function retryAllSettled(outcome: RetryAllOutcome): boolean {
  return outcome.paused || outcome.delivered + outcome.deferred + outcome.bounced >= outcome.due;
}

export function retryAllReport(outcome: RetryAllOutcome): string {
  const { due } = outcome;
  if (due === 0 && outcome.paused) return 'Delivery is paused: the waiting mail goes as soon as you resume it. Nothing was waiting for a later try.';
  if (due === 0) return 'No recipient was waiting for a later try: the rest are being tried already, or held on their own (release them from their rows).';
  const made = `${formatCount(due)} ${due === 1 ? 'recipient was' : 'recipients were'} made due now`;
  if (outcome.paused) return `${made}: ${due === 1 ? 'it goes' : 'they go'} as soon as you resume delivery (it is paused).`;
  const tried = outcome.delivered + outcome.deferred + outcome.bounced;
  if (tried === 0) return `${made}: trying…`;
  const parts = [
    outcome.delivered ? `${formatCount(outcome.delivered)} delivered` : '',
    outcome.deferred ? `${formatCount(outcome.deferred)} still waiting` : '',
    outcome.bounced ? `${formatCount(outcome.bounced)} returned to the sender` : '',
  ].filter(Boolean);
  const why = outcome.deferred && outcome.lastReply ? ` The last try: ${explainError(outcome.lastReply).sentence}` : '';
  return `${made}. ${retryAllSettled(outcome) ? 'Tried' : 'So far'}: ${parts.join(', ')}.${why}`;
}

/** A message address (#/queue?id=…) whose id the relay refused as no id at all: a link cut short or mistyped. */
export function notAnIdNotice(id: string): string {
  return `"${id.length > 40 ? `${id.slice(0, 40)}…` : id}" is not a message id (an id is 22 letters and digits, like 0MXBPAB660003E4282E61A): the link may be cut short or mistyped.`;
}

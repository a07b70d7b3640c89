import type { RouteState } from '../events.ts';
import { classifyResponse } from './classify.ts';
import type { DeliveryResult, RecipientOutcome } from './delivery.ts';

/**
 * What one try says of its route. `down`: no SMTP conversation. `refusing`: the server talked but refused the
 * session, or put off the whole message, as Exchange's back-pressure does ("452 4.3.1 Insufficient system resources"
 * to MAIL FROM) or a 421: it answers, yet takes no mail. `up` otherwise, also when a single mailbox defers (full,
 * greylisted): that is the mailbox's trouble, not the server's. One message put off at its end may be that message's
 * trouble too: the scheduler wants two in a row before a route that took mail is refusing (confirmedState).
 */
export function routeStateOf(result: DeliveryResult): RouteState['state'] {
  if (result.unreachable) return 'down';
  if (result.sessionRefused) return 'refusing';
  if (result.noReplyAfterData || result.outcomes.length === 0) return 'up';
  return result.outcomes.every(putOffWholeMessage) ? 'refusing' : 'up';
}

function putOffWholeMessage(outcome: RecipientOutcome): boolean {
  if (outcome.delivered || !outcome.failure) return false;
  const verdict = classifyResponse(outcome.failure);
  if (verdict.action !== 'defer' || outcome.failure.responseCode === undefined) return false;
  // MAIL FROM, DATA, the final dot: said of the message, not of one recipient
  if (!/^RCPT\b/i.test(outcome.failure.command ?? '')) return true;
  // to a recipient, only a 421 or the want of room the server wrote itself (RFC 3463 4.3.1, 4.3.2) is said of the
  // whole server: "451 4.3.0 mailbox busy" is one mailbox's
  return outcome.failure.responseCode === 421 || SERVER_FULL.test(outcome.failure.response ?? '');
}

const SERVER_FULL = /^\s*4\d\d[ -]+4\.3\.[12](?!\.?\d)/;

/**
 * What the server answered when it refused every recipient of the message for good (a 5xx at RCPT, or the message
 * at MAIL or DATA); null when it took one, put one off, or could not be asked.
 */
export function refusedEveryRecipient(result: DeliveryResult): string | null {
  if (result.unreachable || result.sessionRefused || result.outcomes.length === 0) return null;
  for (const outcome of result.outcomes) {
    if (outcome.delivered || !outcome.failure || outcome.failure.responseCode === undefined) return null;
    if (classifyResponse(outcome.failure).action !== 'bounce') return null;
  }
  const failure = result.outcomes[0]!.failure!;
  return failure.command ? `${failure.command}: ${failure.message}` : failure.message;
}

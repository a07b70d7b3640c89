import type { Decision } from '../filters/policy.ts';
import type { RefusalReason } from '../events.ts';
import { refusalDetail, REPLIES, type SmtpReply } from './replies.ts';

/** Reply text sent to the client is cut here: a reason names a virus or a file, never a whole trace. */
const MAX_DETAIL_CHARS = 200;

/**
 * The SMTP answer to a filter decision at the end of DATA (habit: only the SMTP layer picks numbers). Null for
 * the actions that end in `250` (accept, tag, quarantine).
 */
export function filterReply(decision: Decision): { reply: SmtpReply; detail: string } | null {
  const detail = decision.reason.replace(/^[a-z-]+: /, '').replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, MAX_DETAIL_CHARS);
  // a filter that could not answer says nothing of the message; a policy that asks to try again says why
  if (decision.action === 'tempfail') return decision.cause === 'unavailable' ? { reply: REPLIES.filterTempfail, detail: '' } : { reply: REPLIES.deferredPolicy, detail };
  if (decision.action !== 'reject') return null;
  switch (decision.cause) {
    case 'virus':
      return { reply: REPLIES.rejectedVirus, detail: detail.replace(/^virus found: /, '') };
    case 'sender':
      // the admin's deny list is not named; every recipient's own block is said plainly (none of them wants it)
      return { reply: decision.senderList?.list === 'deny' ? REPLIES.rejectedSender : REPLIES.allRecipientsBlockedSender, detail: '' };
    case 'junk':
      return { reply: REPLIES.rejectedJunk, detail: `score ${decision.score}` };
    default:
      return { reply: REPLIES.rejectedPolicy, detail };
  }
}

/**
 * History's words for a filter's refusal, as for every other refusal (refusalDetail): the reply the sender was given,
 * then the decision's reason, and its score where it counts (junk, or any score the reason does not say).
 */
export function filterRefusalDetail(refusal: { reply: SmtpReply; detail: string }, decision: Decision): string {
  const sent = { ...refusal.reply, text: refusal.detail ? `${refusal.reply.text}: ${refusal.detail}` : refusal.reply.text };
  // "junk score 20 (reject at 15)" inside the parentheses of the detail reads better without its own
  const reason = decision.reason.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/ \(([^()]*)\)$/, ', $1');
  const scored = decision.score === 0 || reason.includes(`score ${decision.score}`) ? reason : `${reason}; score ${decision.score}`;
  return refusalDetail(sent, scored);
}

const FILTER_REFUSALS = new Map<SmtpReply, RefusalReason>([
  [REPLIES.rejectedVirus, 'virus'],
  [REPLIES.rejectedJunk, 'junk'],
  [REPLIES.rejectedPolicy, 'policy'],
  [REPLIES.rejectedSender, 'sender-denied'],
  [REPLIES.allRecipientsBlockedSender, 'sender-denied'],
  [REPLIES.filterTempfail, 'filter-tempfail'],
  [REPLIES.deferredPolicy, 'policy-deferred'],
]);

/** The metric label of a reply `filterReply` gave; undefined for any other reply. */
export function filterRefusalReason(reply: SmtpReply): RefusalReason | undefined {
  return FILTER_REFUSALS.get(reply);
}

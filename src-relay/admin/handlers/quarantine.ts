import { ApiError } from '../errors.ts';
import type { Handlers } from './types.ts';
import type { quarantineContract } from '../../quarantine/contract.ts';
import { contractDecision, previewProblem } from './queue.ts';
import { safePreview } from '../../quarantine/safe-preview.ts';

/** The quarantine browser: list, safe preview, release (and allow the sender), delete (contract: src-relay/quarantine/contract.ts). */
export const quarantineHandlers = {
  'quarantine.list': (input, context) => {
    const { quarantine } = context.relay();
    return { total: quarantine.count(input.search || undefined), requests: quarantine.requestCount(), rows: quarantine.list({ search: input.search || undefined, offset: input.offset, limit: input.limit }) };
  },

  'quarantine.preview': async (input, context) => {
    const preview = await context
      .relay()
      .quarantine.preview(input.id)
      // deleted or expired between the look-up and the read of its file
      .catch(previewProblem);
    if (!preview) throw new ApiError('QUARANTINE_ITEM_GONE');
    return { message: preview.message, decision: preview.decision && contractDecision(preview.decision), ...safePreview(preview), releasedTo: preview.releasedTo };
  },

  'quarantine.act': async ({ action, ids }, context) => {
    const { quarantine } = context.relay();
    const by = context.actor;
    const unique = [...new Set(ids)];
    // the selection in one transaction (one commit, not one per message)
    const released = action === 'delete' ? [] : quarantine.releaseMany(unique, { by, allowSender: action === 'release-allow' });
    const results = action === 'delete' ? await quarantine.deleteMany(unique, by) : released.map((result) => result.released);
    const done = unique.filter((_id, index) => results[index]);
    const gone = unique.filter((_id, index) => !results[index]);
    // the entries put on the allow list, and the senders of our own domains released but never allowed
    const entries = (pick: (result: (typeof released)[number]) => string | null) => [...new Set(released.flatMap((result) => pick(result) ?? []))];
    context.logger.info({ action, by, done: done.length, gone: gone.length }, 'ADMIN_QUARANTINE_ACTION');
    return { done, gone, allowed: entries((result) => result.allowed), notAllowed: entries((result) => result.notAllowed) };
  },

  'quarantine.decideRequest': async ({ id, recipient, decision }, context) => {
    const outcome = await context.relay().quarantine.decideRequest(id, recipient, decision === 'approve', context.actor);
    context.logger.info({ id, rcpt: recipient, decision, by: context.actor, outcome }, 'ADMIN_RELEASE_REQUEST_DECIDED');
    return { outcome };
  },
} satisfies Handlers<typeof quarantineContract>;

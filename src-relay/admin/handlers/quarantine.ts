import { ApiError } from '../errors.ts';
import type { Handlers } from './types.ts';
import type { quarantineContract } from '../../quarantine/contract.ts';
import { contractDecision } from './queue.ts';
import { decodeHeaderText } from '../../util/header-text.ts';

/** Fields meant to be read by a person (RFC 2047 5: unstructured text and display names), shown decoded in a preview. */
const DECODED_FIELDS: ReadonlySet<string> = new Set(['subject', 'from', 'to', 'cc', 'reply-to', 'sender', 'comments', 'keywords']);
import type { QuarantinePreview } from '../../quarantine/quarantine.ts';

/** The quarantine browser: list, safe preview, release (and allow the sender), delete (contract: src-relay/quarantine/contract.ts). */
export const quarantineHandlers = {
  'quarantine.list': (input, context) => {
    const { quarantine } = context.relay();
    return { total: quarantine.count(input.search || undefined), rows: quarantine.list({ search: input.search || undefined, offset: input.offset, limit: input.limit }) };
  },

  'quarantine.preview': async (input, context) => {
    const preview = await context
      .relay()
      .quarantine.preview(input.id)
      // deleted or expired between the look-up and the read of its file
      .catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : Promise.reject(error)));
    if (!preview) throw new ApiError('QUARANTINE_ITEM_GONE');
    return { message: preview.message, decision: preview.decision && contractDecision(preview.decision), ...safePreview(preview) };
  },

  'quarantine.act': async ({ action, ids }, context) => {
    const { quarantine } = context.relay();
    const by = context.actor;
    const unique = [...new Set(ids)];
    // the selection in one transaction (one commit, not one per message)
    const results =
      action === 'delete'
        ? await quarantine.deleteMany(unique, by)
        : quarantine.releaseMany(unique, { by, allowSender: action === 'release-allow' });
    const done = unique.filter((_id, index) => results[index]);
    const gone = unique.filter((_id, index) => !results[index]);
    context.logger.info({ action, by, done: done.length, gone: gone.length }, 'ADMIN_QUARANTINE_ACTION');
    return { done, gone };
  },
} satisfies Handlers<typeof quarantineContract>;

/** A preview's header fields, text and attachment names made safe to show as text (`safeText`). */
export function safePreview(preview: Pick<QuarantinePreview, 'headers' | 'text' | 'attachments'>) {
  return {
    headers: preview.headers.map((header) => ({
      name: safeText(header.name),
      value: DECODED_FIELDS.has(header.name.toLowerCase()) ? (decodeHeaderText(header.value) ?? '') : safeText(header.value),
    })),
    text: safeText(preview.text, true),
    attachments: preview.attachments.map((attachment) => ({
      part: attachment.part,
      filename: attachment.filename === null ? null : safeText(attachment.filename),
      contentType: attachment.contentType,
      size: attachment.size,
      detectedType: attachment.detectedType,
      ...(attachment.archive
        ? { archive: { members: attachment.archive.members.map((member) => ({ ...member, name: safeText(member.name) })), problem: attachment.archive.problem } }
        : {}),
    })),
  };
}

/**
 * Text from a message, made safe to show as text: control characters and bidirectional overrides (which can make
 * "exe.pdf" read as "fdp.exe") become U+FFFD; tabs stay, and line breaks in the text.
 */
export function safeText(text: string, multiline = false): string {
  const normalized = multiline ? text.replace(/\r\n?/g, '\n') : text;
  return normalized.replace(multiline ? /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g : /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, '\ufffd');
}

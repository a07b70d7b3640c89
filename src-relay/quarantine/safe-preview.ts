import { decodeHeaderText } from '../util/header-text.ts';
import type { QuarantinePreview } from './quarantine.ts';

/** Fields meant to be read by a person (RFC 2047 5: unstructured text and display names), shown decoded in a preview. */
const DECODED_FIELDS: ReadonlySet<string> = new Set(['subject', 'from', 'to', 'cc', 'reply-to', 'sender', 'comments', 'keywords']);

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

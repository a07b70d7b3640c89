// Archives shaped so that Moat would not look inside while an extractor does (from an outside review): each must be
// listed and refused, or be unchecked (quarantine by default), never accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttachmentFilter } from '../../../src-relay/filters/attachments.ts';
import { DEFAULT_BLOCKED_EXTENSIONS } from '../../../src-relay/config/schema.ts';
import type { FilterResult, MessageContext } from '../../../src-relay/filters/types.ts';
import { parseRaw } from '../../helpers/parse-message.ts';
import { makeZip, messageWithAttachments, peExecutable } from '../../helpers/mail-parts.ts';

const filter = new AttachmentFilter({ action: 'reject', blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS, scanArchives: true, unchecked: 'quarantine' });
const evilZip = makeZip([{ name: 'evil.exe', data: peExecutable(), deflate: true }]);

/** The attachment filter's verdict on a message whose attachments are `files`, walked as the pipeline walks it. */
async function judge(files: { name: string; data: Buffer }[]): Promise<FilterResult> {
  const { summary } = await parseRaw(messageWithAttachments('archive', files.map((file) => ({ ...file, contentType: 'application/octet-stream' }))));
  return filter.check({ mime: summary } as unknown as MessageContext);
}

test('a zip with a byte before it and a line end after it is not checked (unzip lists it): quarantine, never accept', async () => {
  const result = await judge([{ name: 'docs.zip', data: Buffer.concat([Buffer.from('X'), evilZip, Buffer.from('\n')]) }]);
  assert.equal(result.verdict, 'quarantine');
  assert.match(result.reasons.join('\n'), /archive "docs\.zip" not checked: 1 bytes of other data before the first zip entry/);
});

test('a zip with data after its end record only is listed, and the program in it refused', async () => {
  const result = await judge([{ name: 'docs.zip', data: Buffer.concat([evilZip, Buffer.from('\n')]) }]);
  assert.equal(result.verdict, 'reject');
  assert.match(result.reasons.join('\n'), /blocked file type \.exe inside "docs\.zip": "evil\.exe"/);
});

test('a file holding a zip end record with more than 64 KiB after it is not listed whole: quarantine, never accept', async () => {
  const result = await judge([{ name: 'docs.zip', data: Buffer.concat([evilZip, Buffer.alloc(0x10000, 0x20)]) }]);
  assert.equal(result.verdict, 'quarantine');
});

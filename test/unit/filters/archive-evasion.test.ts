// Archives shaped so that Moat would not look inside while an extractor does (from an outside review): each must be
// listed and refused, or be unchecked (quarantine by default), never accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { AttachmentFilter } from '../../../src-relay/filters/attachments.ts';
import { GZIP_INFLATE_OUTPUT_BYTES, inspectGzip } from '../../../src-relay/filters/gzip.ts';
import { MAX_INFLATE_BYTES, MAX_MESSAGE_ZIP_MEMBERS, MAX_ZIP_MEMBERS, newInflateBudget } from '../../../src-relay/filters/zip.ts';
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

// ---- gzip: gunzip joins every member into the one file it writes ----

const xml = Buffer.from('<?xml version="1.0"?><feedback><record>pass</record></feedback>');

test('a gzip of an empty member, then a gzip of a zip holding evil.exe, is not checked: quarantine, never accept', async () => {
  const result = await judge([{ name: 'docs.zip.gz', data: Buffer.concat([gzipSync(Buffer.alloc(0)), gzipSync(evilZip)]) }]);
  assert.equal(result.verdict, 'quarantine');
  assert.match(result.reasons.join('\n'), /archive "docs\.zip\.gz" not checked: a gzip of more than one member/);
});

test('a gzip whose first member is 600 bytes of text and whose second is a zip is not checked: quarantine', async () => {
  const result = await judge([{ name: 'docs.zip.gz', data: Buffer.concat([gzipSync(Buffer.alloc(600, 'A')), gzipSync(evilZip)]) }]);
  assert.equal(result.verdict, 'quarantine');
  assert.match(result.reasons.join('\n'), /a gzip of more than one member/);
});

test('setup.gz of an empty member and then a program is refused for the program gunzip writes out', async () => {
  const result = await judge([{ name: 'setup.gz', data: Buffer.concat([gzipSync(Buffer.alloc(0)), gzipSync(peExecutable())]) }]);
  assert.equal(result.verdict, 'reject');
  assert.match(result.reasons.join('\n'), /"setup\.gz" holds a program \(pe-executable\)/);
});

test('a gzip of one member holding text and then a zip (which unzip opens by its end) is not checked: quarantine', async () => {
  const result = await judge([{ name: 'docs.zip.gz', data: gzipSync(Buffer.concat([Buffer.alloc(600, 'A'), evilZip])) }]);
  assert.equal(result.verdict, 'quarantine');
  assert.match(result.reasons.join('\n'), /a zip archive in a gzip file/);
});

test('a gzip followed by other data is not checked; one padded with zero bytes (as tapes write it) is read as one member', async () => {
  const garbage = await judge([{ name: 'report.xml.gz', data: Buffer.concat([gzipSync(xml), Buffer.from('PK junk')]) }]);
  assert.equal(garbage.verdict, 'quarantine');
  assert.match(garbage.reasons.join('\n'), /data after the end of the gzip/);
  assert.equal((await judge([{ name: 'report.xml.gz', data: Buffer.concat([gzipSync(xml), Buffer.alloc(512)]) }])).verdict, 'accept');
  assert.equal((await judge([{ name: 'report.xml.gz', data: gzipSync(xml) }])).verdict, 'accept');
});

test('a gzip larger than the part start kept is judged by its start; a small member with more behind it is not checked', async () => {
  const large = gzipSync(randomBytes(64 * 1024));
  assert.equal((await judge([{ name: 'data.bin.gz', data: large }])).verdict, 'accept');
  const behind = await judge([{ name: 'data.bin.gz', data: Buffer.concat([gzipSync(Buffer.alloc(600, 'A')), large]) }]);
  assert.equal(behind.verdict, 'quarantine');
  assert.match(behind.reasons.join('\n'), /a gzip of more than one member/);
});

test(`a gzip is followed to its end through ${GZIP_INFLATE_OUTPUT_BYTES} bytes; one byte more, or past the message's inflate budget, is not checked`, () => {
  assert.equal(GZIP_INFLATE_OUTPUT_BYTES, 4 * 1024 * 1024);
  const at = gzipSync(Buffer.alloc(GZIP_INFLATE_OUTPUT_BYTES));
  const budget = newInflateBudget();
  assert.equal(inspectGzip(at, ['zeros.bin.gz'], at.length, budget).problem, null);
  assert.equal(budget.bytes, MAX_INFLATE_BYTES - GZIP_INFLATE_OUTPUT_BYTES);
  assert.match(inspectGzip(gzipSync(xml), ['report.xml.gz'], undefined, budget).problem ?? '', /the message used up its 4194304 bytes for archives/);
  const over = gzipSync(Buffer.alloc(GZIP_INFLATE_OUTPUT_BYTES + 1));
  assert.match(inspectGzip(over, ['zeros.bin.gz']).problem ?? '', /the gzip holds more than 4194304 bytes in its first \d+/);
});

// ---- memory: member lists are bounded per message, not only per archive ----

test(`zips holding ${MAX_MESSAGE_ZIP_MEMBERS} members in all are listed and judged; one member more in the message is not checked`, async () => {
  const full = makeZip(Array.from({ length: MAX_ZIP_MEMBERS }, (_, i) => ({ name: `f${i}.txt`, data: '' })));
  const zips = Array.from({ length: MAX_MESSAGE_ZIP_MEMBERS / MAX_ZIP_MEMBERS }, (_, i) => ({ name: `d${i}.zip`, data: full }));
  const at = await judge(zips);
  assert.equal(at.verdict, 'accept');
  const over = await judge([...zips, { name: 'last.zip', data: makeZip([{ name: 'notes.txt', data: 'x' }]) }]);
  assert.equal(over.verdict, 'quarantine');
  assert.match(over.reasons.join('\n'), /archive "last\.zip" not checked: the message holds more than 10000 zip members in all/);
});

// The header section and the bytes of a message (issue 11, hostile input). The scrubber that removes forged
// X-Spam-*, X-Moat-* and our own Authentication-Results reads the whole header section, however long; a section over
// mx.maxHeaderBytes is refused (552 5.3.4) instead of passing partly unscrubbed. NUL anywhere and control characters
// in header lines are refused (554 5.6.0); other control bytes in the body pass unchanged. Every test reads the bytes
// that reach the internal server (a real SMTP sink) or proves that nothing was queued.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSchema } from '../../src-relay/config/schema.ts';
import { MAX_RECEIVED_FIELDS, MAX_SENDER_HEADER_LINES } from '../../src-relay/smtp/header-scrub.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { startSubmissionRelay, type SubmissionRelay } from '../helpers/submission.ts';
import { RawSmtp } from '../helpers/smtp.ts';

const MAX_HEADER_BYTES = ConfigSchema.parse({}).mx.maxHeaderBytes;
const KiB = 1024;

/** What a sender forges to be trusted by the internal server: our verdict fields and our Authentication-Results. */
const FORGED = [
  'X-Spam-Status: No, score=-100.0\r\n',
  'X-Spam-Flag: NO\r\n',
  'X-Moat-Action: accept;\r\n score=0\r\n',
  'Authentication-Results: relay.example.test; spf=pass smtp.mailfrom=ceo@example.test;\r\n dkim=pass; dmarc=pass\r\n',
];
const FORGED_TEXT = FORGED.join('');
const FORGED_NAMES = /^(X-Spam-|X-Moat-|Authentication-Results: relay\.example\.test)/im;

let sink: Sink;
let relay: TestRelay;

before(async () => {
  sink = await Sink.start();
  relay = await startRelay(sink.port);
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

const queuedCount = (on: TestRelay = relay) => (on.relay.queue.store.db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;

function spoolFiles(on: TestRelay): { tmp: string[]; msg: string[] } {
  const root = join(on.dataDir, 'spool');
  return { tmp: readdirSync(join(root, 'tmp')), msg: readdirSync(join(root, 'msg')) };
}

/** The first header lines of every test message; `subject` finds its delivered copy. */
function baseHeader(subject: string): string {
  return `From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\nSubject: ${subject}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@sender.test>\r\n`;
}

/** Trace lines (each under 998 octets) of exactly `bytes` octets in total, CRLF included; not Received (a loop past 100). */
function traceLines(bytes: number): string {
  const line = (hop: number, length: number) => {
    const start = `X-Trace: from hop${hop}.sender.test by hop${hop + 1}.sender.test; Sat, 28 Nov 2026 09:00:00 +0000 (`;
    return `${start}${'r'.repeat(length - start.length - 3)})\r\n`;
  };
  const lines: string[] = [];
  let left = bytes;
  for (let hop = 0; left > 0; hop++) {
    // the last line takes what is left; keep it long enough to hold its own words
    const length = left >= 1000 + 400 ? 400 : left;
    assert.ok(length >= 120, 'room for a whole trace line');
    lines.push(line(hop, length));
    left -= length;
  }
  const text = lines.join('');
  assert.equal(text.length, bytes);
  return text;
}

/** A header section of exactly `bytes` octets (every line with its CRLF, not the empty line): trace lines as filler, then `tail`. */
function headerOfSize(subject: string, bytes: number, tail: string): string {
  const head = baseHeader(subject);
  return head + traceLines(bytes - head.length - tail.length) + tail;
}

/** One transaction over a raw socket; resolves with the reply to the end of DATA. */
async function transaction(port: number, data: string | Buffer): Promise<string> {
  const client = await RawSmtp.connect(port);
  try {
    await client.hello();
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('DATA'), /^354/);
    client.write(data);
    client.write('.\r\n');
    return await client.reply();
  } finally {
    client.close();
  }
}

/** Sends a message that must be taken and returns the bytes the internal server got, our Received header removed. */
async function delivered(subject: string, data: string | Buffer): Promise<Buffer> {
  assert.match(await transaction(relay.port, data), /^250 /);
  await sink.waitForSubject(subject);
  const got = sink.messages.find((message) => message.raw.includes(`\r\nSubject: ${subject}\r\n`))!;
  const text = got.raw.toString('latin1');
  const received = /^Received: [^\r\n]*(?:\r\n\t[^\r\n]*)*\r\n/.exec(text);
  assert.ok(received, 'the message starts with our Received header');
  return got.raw.subarray(received[0].length);
}

/** Sends a message that must be refused with `reply`, and proves that nothing was queued or left in the spool. */
async function refused(data: string | Buffer, reply: RegExp, on: TestRelay = relay, port = relay.port): Promise<void> {
  const queued = queuedCount(on);
  const sunk = sink.messages.length;
  const before = spoolFiles(on).msg;
  assert.match(await transaction(port, data), reply);
  assert.equal(queuedCount(on), queued, 'nothing was queued');
  const after = spoolFiles(on);
  assert.deepEqual(after.tmp, [], 'no temp spool file is left');
  assert.deepEqual(after.msg.filter((name) => !before.includes(name)), [], 'no spool file was added');
  assert.equal(sink.messages.length, sunk, 'nothing reached the internal server');
}

/** The history note of the last refusal: a message refused at DATA has no queue row, only this. */
function lastRefusalNote(): string {
  relay.relay.queue.flushHistory();
  const row = relay.relay.queue.store.db
    .prepare("SELECT detail FROM history WHERE action = 'REFUSED' ORDER BY rowid DESC LIMIT 1")
    .get() as { detail: string } | undefined;
  return row?.detail ?? '';
}

test('the header section limit defaults to 1 MiB', () => {
  assert.equal(MAX_HEADER_BYTES, 1024 * KiB);
});

test('a header section of exactly the limit with forged X-Spam, X-Moat and Authentication-Results fields at its very end arrives without them', async () => {
  const header = headerOfSize('just under the limit', MAX_HEADER_BYTES, FORGED_TEXT);
  assert.equal(Buffer.byteLength(header), MAX_HEADER_BYTES);
  const body = 'Hello Bob.\r\n';
  const got = await delivered('just under the limit', `${header}\r\n${body}`);
  assert.equal(got.toString('latin1'), `${header.slice(0, -FORGED_TEXT.length)}\r\n${body}`, 'everything else arrives byte for byte');
  assert.doesNotMatch(got.toString('latin1'), FORGED_NAMES);
});

test('a header section one byte over the limit is refused with 552 5.3.4 before any 250, and nothing is queued or delivered', async () => {
  const header = headerOfSize('one byte over', MAX_HEADER_BYTES + 1, FORGED_TEXT);
  assert.equal(Buffer.byteLength(header), MAX_HEADER_BYTES + 1);
  await refused(`${header}\r\nHello Bob.\r\n`, /^552 5\.3\.4 /);
  assert.match(lastRefusalNote(), /^552 5\.3\.4 Header section too large \(more than \d+ bytes\)$/);
  // the relay takes the next message, and only that one reaches the internal server
  const sunk = sink.messages.length;
  await delivered('after the refused one', `${baseHeader('after the refused one')}\r\nHello.\r\n`);
  assert.equal(sink.messages.length, sunk + 1);
  assert.ok(!sink.messages.some((message) => message.raw.includes('Subject: one byte over')), 'the refused message never arrives');
});

test(`a header section of ${MAX_SENDER_HEADER_LINES} lines arrives whole; one folded line more is refused with 552 5.3.4`, async () => {
  // one field folded over the rest of the lines: what costs mailauth and mailsplit time growing with the square
  const folded = (lines: number) => `X-Fold: a${'\r\n a'.repeat(lines - 1)}\r\n`;
  const head = baseHeader('at the line limit');
  const header = head + folded(MAX_SENDER_HEADER_LINES - (head.split('\r\n').length - 1));
  assert.equal(header.split('\r\n').length - 1, MAX_SENDER_HEADER_LINES);
  const got = await delivered('at the line limit', `${header}\r\nHello.\r\n`);
  assert.equal(got.toString('latin1'), `${header}\r\nHello.\r\n`);
  const over = baseHeader('one line over') + folded(MAX_SENDER_HEADER_LINES + 1 - (head.split('\r\n').length - 1));
  await refused(`${over}\r\nHello.\r\n`, /^552 5\.3\.4 /);
  assert.match(lastRefusalNote(), new RegExp(`^552 5\\.3\\.4 Header section too large \\(more than ${MAX_SENDER_HEADER_LINES} lines\\)$`));
});

test(`a message carrying ${MAX_RECEIVED_FIELDS} Received fields arrives; one more, in any letter case or folded, is a mail loop refused with 554 5.4.6`, async () => {
  const hops = (count: number, write = (hop: number) => `Received: from hop${hop}.sender.test by hop${hop + 1}.sender.test; Sat, 28 Nov 2026 09:00:00 +0000\r\n`) =>
    Array.from({ length: count }, (_, hop) => write(hop)).join('');
  const got = (await delivered('at the hop limit', `${baseHeader('at the hop limit')}${hops(MAX_RECEIVED_FIELDS)}\r\nbody\r\n`)).toString('latin1');
  assert.equal(got.match(/^Received:/gm)?.length, MAX_RECEIVED_FIELDS, 'all of them arrive (ours on top is removed by delivered())');
  await refused(`${baseHeader('one hop over')}${hops(MAX_RECEIVED_FIELDS + 1)}\r\nbody\r\n`, /^554 5\.4\.6 .*mail loop/);
  assert.equal(lastRefusalNote(), `554 5.4.6 Message refused: too many hops, a mail loop (more than ${MAX_RECEIVED_FIELDS} Received fields)`);
  const disguised = hops(MAX_RECEIVED_FIELDS + 1, (hop) => (hop % 2 ? `RECEIVED : from hop${hop}\r\n\tby hop${hop + 1}; Sat, 28 Nov 2026 09:00:00 +0000\r\n` : `received:from hop${hop}\r\n`));
  await refused(`${baseHeader('disguised hops')}${disguised}\r\nbody\r\n`, /^554 5\.4\.6 /);
  assert.ok(!sink.messages.some((message) => /Subject: (one hop over|disguised hops)/.test(message.raw.toString('latin1'))), 'neither arrives');
});

test('a header line that never ends is refused when it passes the limit, with 552 5.3.4', async () => {
  const header = `${baseHeader('endless line')}X-Long: ${'z'.repeat(MAX_HEADER_BYTES)}\r\n`;
  await refused(`${header}\r\nbody\r\n`, /^552 5\.3\.4 /);
});

test('forged fields after 300 KiB of trace lines are still removed, the trace lines arrive whole', async () => {
  const received = traceLines(300 * KiB);
  const header = `${baseHeader('after 300 KiB')}${received}${FORGED_TEXT}X-Mailer: test\r\n`;
  const got = (await delivered('after 300 KiB', `${header}\r\nbody\r\n`)).toString('latin1');
  assert.equal(got, `${baseHeader('after 300 KiB')}${received}X-Mailer: test\r\n\r\nbody\r\n`);
});

test('a message that is all header section, ending at the end of DATA, is scrubbed to its last field', async () => {
  const got = (await delivered('headers only', `${baseHeader('headers only')}X-Mailer: test\r\n${FORGED_TEXT}`)).toString('latin1');
  assert.equal(got, `${baseHeader('headers only')}X-Mailer: test\r\n`);
});

test('a header section written with bare LF line ends is normalised first, so a forged field on a bare-LF or bare-CR line is removed too', async () => {
  const sent = `${baseHeader('bare line ends').replace(/\r\n/g, '\n')}X-Spam-Flag: NO\nX-Moat-Score: 0\rX-Mailer: test\n\nbody\r\n`;
  const got = (await delivered('bare line ends', sent)).toString('latin1');
  assert.equal(got, `${baseHeader('bare line ends')}X-Mailer: test\r\n\r\nbody\r\n`);
});

test('a NUL byte in the header section is refused with 554 5.6.0 and nothing is queued', async () => {
  await refused(`${baseHeader('nul in header')}X-Note: a\0b\r\n\r\nbody\r\n`, /^554 5\.6\.0 .*NUL/);
  assert.equal(lastRefusalNote(), '554 5.6.0 Message refused: it contains NUL bytes (RFC 5322 forbids them; binary data must be base64-encoded)');
});

test('control characters in a header line (here 0x01, 0x0c, 0x7f) are refused with 554 5.6.0', async () => {
  for (const control of ['\x01', '\x0c', '\x7f']) {
    await refused(`${baseHeader('control in header')}X-Note: a${control}b\r\n\r\nbody\r\n`, /^554 5\.6\.0 .*control characters/);
  }
});

test('a NUL byte in the body is refused with 554 5.6.0, after a long clean start too, and nothing is queued', async () => {
  await refused(`${baseHeader('nul in body')}\r\nline one\r\nline\0two\r\n`, /^554 5\.6\.0 .*NUL/);
  await refused(`${baseHeader('late nul in body')}\r\n${`${'x'.repeat(78)}\r\n`.repeat(20_000)}late\0nul\r\n`, /^554 5\.6\.0 .*NUL/);
});

test('other control bytes in the body and ESC in a header line (ISO-2022-JP) reach the internal server byte for byte', async () => {
  const header = `${baseHeader('controls kept')}X-Japanese: \x1b$B$3$s$K$A$O\x1b(B\r\n`;
  const body = 'page one\x0c\r\npage two \x01\x08\x0b\x1b$B$3\x1b(B\x7f\r\n\ttab\r\n';
  const got = await delivered('controls kept', Buffer.from(`${header}\r\n${body}`, 'latin1'));
  assert.deepEqual(got, Buffer.from(`${header}\r\n${body}`, 'latin1'));
});

test('the submission listeners refuse NUL bytes and header control characters the same way', async () => {
  const submission: SubmissionRelay = await startSubmissionRelay(sink.port, { submission: { trustedNetworks: ['127.0.0.1'] } });
  try {
    await refused(`${baseHeader('submitted nul')}\r\nline\0two\r\n`, /^554 5\.6\.0 .*NUL/, submission, submission.submission);
    await refused(`${baseHeader('submitted control')}X-Note: a\x02b\r\n\r\nbody\r\n`, /^554 5\.6\.0 .*control/, submission, submission.submission);
  } finally {
    await submission.stop();
  }
});

// Every limit of the MIME walk and of the zip listing, over real SMTP: just under it, a blocked attachment at the end
// is found and refused as usual; just over it, the message was not checked whole, so it is kept in quarantine
// (filters.unchecked, default) or refused with 550 ('reject'), and never reaches the internal server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema } from '../../src-relay/config/schema.ts';
import { MAX_LINE_BYTES, MAX_HEADER_LINES, MAX_MIME_DEPTH, MAX_MIME_PARTS, MAX_PART_HEADER_BYTES, MAX_TOP_HEADER_BYTES } from '../../src-relay/filters/mime.ts';
import { MAX_SENDER_HEADER_LINES } from '../../src-relay/smtp/header-scrub.ts';
import { MAX_INFLATE_BYTES, MAX_NESTED_ZIP_BYTES, MAX_ZIP_DEPTH, MAX_ZIP_MEMBERS, MAX_ZIP_UNCOMPRESSED_BYTES } from '../../src-relay/filters/zip.ts';
import type { Sink } from '../helpers/sink.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { refusal, startUncheckedRelays, type UncheckedRelays } from '../helpers/unchecked-relays.ts';
import { message, send } from '../helpers/smtp.ts';
import {
  makeZip,
  messageForwardedTimes,
  messageForwarding,
  messageNested,
  messageWithAttachments,
  messageWithHeaderLines,
  messageWithNodes,
  messageWithPartHeader,
  messageWithTopHeader,
  nestedZip,
  peExecutable,
  zipOfSize,
  type ZipMember,
} from '../helpers/mail-parts.ts';

const exe = { name: 'tool.exe', data: peExecutable() };
const zipped = (subject: string, zip: Buffer) => messageWithAttachments(subject, [{ name: 'files.zip', contentType: 'application/zip', data: zip }]);
const names = (count: number): ZipMember[] => Array.from({ length: count }, (_, i) => ({ name: `f${i}.txt`, data: '' }));
const innerOfBudget = (withExe: boolean) => zipOfSize(MAX_NESTED_ZIP_BYTES, withExe ? [{ name: 'run.exe', data: peExecutable() }] : []);
const budgetZips = (count: number, exeInLast: boolean): ZipMember[] =>
  Array.from({ length: count }, (_, i) => ({ name: `i${i}.zip`, data: innerOfBudget(exeInLast && i === count - 1), deflate: true }));
/** Content-Type twice: mailsplit reads the first (plain text), a mail program may show the second (a program). */
const ambiguous = (subject: string, doubled: boolean) =>
  messageWithAttachments(subject, [{ name: 'notes.txt', data: 'hello' }]).replace(
    'Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename="notes.txt"',
    doubled ? 'Content-Type: text/plain\r\nContent-Type: application/octet-stream; name="tool.exe"' : 'Content-Type: application/octet-stream; name="tool.exe"',
  );

interface Case {
  limit: string;
  under: (subject: string) => string;
  over: (subject: string) => string;
  /** The refusal reason just under the limit (the blocked file found). */
  found: RegExp;
  /** The reason just over it (what could not be checked). */
  unchecked: RegExp;
}

/** Forwarded as a base64-encoded attachment: the forwarding message adds 3 MIME nodes and 2 levels of depth. */
const forwarded = (subject: string, inner: string) => messageForwarding(subject, inner, { encoding: 'base64' });

const CASES: Case[] = [
  {
    limit: `MIME parts (${MAX_MIME_PARTS})`,
    under: (s) => messageWithNodes(s, MAX_MIME_PARTS, exe),
    over: (s) => messageWithNodes(s, MAX_MIME_PARTS + 1, exe),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: more than 500 MIME parts/,
  },
  {
    limit: `MIME nesting depth (${MAX_MIME_DEPTH})`,
    under: (s) => messageNested(s, MAX_MIME_DEPTH, exe),
    over: (s) => messageNested(s, MAX_MIME_DEPTH + 1, exe),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: parts nested more than 20 deep/,
  },
  {
    limit: `part header block (${MAX_PART_HEADER_BYTES} bytes)`,
    under: (s) => messageWithPartHeader(s, MAX_PART_HEADER_BYTES, exe),
    over: (s) => messageWithPartHeader(s, MAX_PART_HEADER_BYTES + 1, exe),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: part 2 has a header block longer than 65536 bytes/,
  },
  {
    // the walk sees our Received line too: under leaves room for it, over is past the limit before it is added
    limit: `message header block (${MAX_TOP_HEADER_BYTES} bytes)`,
    under: (s) => messageWithTopHeader(s, MAX_TOP_HEADER_BYTES - 2048, exe),
    over: (s) => messageWithTopHeader(s, MAX_TOP_HEADER_BYTES + 1, exe),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: a header block longer than 262144 bytes/,
  },
  {
    limit: 'one Content-Type per part (ambiguous MIME)',
    under: (s) => ambiguous(s, false),
    over: (s) => ambiguous(s, true),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: part 2 has 2 Content-Type fields \(ambiguous MIME\)/,
  },
  {
    limit: `MIME parts (${MAX_MIME_PARTS}) counted with those of a forwarded message`,
    under: (s) => forwarded(s, messageWithNodes('inner', MAX_MIME_PARTS - 3, exe)),
    over: (s) => forwarded(s, messageWithNodes('inner', MAX_MIME_PARTS - 2, exe)),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: more than 500 MIME parts/,
  },
  {
    limit: `MIME nesting depth (${MAX_MIME_DEPTH}) through forwarded messages`,
    under: (s) => messageForwardedTimes(s, 2, messageNested('inner', MAX_MIME_DEPTH - 4, exe)),
    over: (s) => messageForwardedTimes(s, 2, messageNested('inner', MAX_MIME_DEPTH - 3, exe)),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: parts nested more than 20 deep/,
  },
  {
    limit: `header block in a forwarded message (${MAX_PART_HEADER_BYTES} bytes)`,
    under: (s) => forwarded(s, messageWithPartHeader('inner', MAX_PART_HEADER_BYTES, exe)),
    over: (s) => forwarded(s, messageWithPartHeader('inner', MAX_PART_HEADER_BYTES + 1, exe)),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: a header block in the message attached as part 2 is longer than 65536 bytes/,
  },
  {
    limit: `header block lines in a forwarded message (${MAX_HEADER_LINES})`,
    under: (s) => forwarded(s, messageWithHeaderLines('inner', MAX_HEADER_LINES, exe)),
    over: (s) => forwarded(s, messageWithHeaderLines('inner', MAX_HEADER_LINES + 1, exe)),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: a header block in the message attached as part 2 has more than 5000 lines/,
  },
  {
    // the long line is the message's text (its characters and the CR), the program attached after it
    limit: `line in the message (${MAX_LINE_BYTES} bytes)`,
    under: (s) => messageWithAttachments(s, [exe], { text: 'x'.repeat(MAX_LINE_BYTES - 1) }),
    over: (s) => messageWithAttachments(s, [exe], { text: 'x'.repeat(MAX_LINE_BYTES) }),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: a line longer than 1048576 bytes/,
  },
  {
    // the long line is the forwarded message's text (its characters and the CR), the program attached after it
    limit: `line in a forwarded message (${MAX_LINE_BYTES} bytes)`,
    under: (s) => forwarded(s, messageWithAttachments('inner', [exe], { text: 'x'.repeat(MAX_LINE_BYTES - 1) })),
    over: (s) => forwarded(s, messageWithAttachments('inner', [exe], { text: 'x'.repeat(MAX_LINE_BYTES) })),
    found: /\.exe: "tool\.exe"/,
    unchecked: /not checked whole: the message attached as part 2 has a line longer than 1048576 bytes/,
  },
  {
    limit: `zip nesting depth (${MAX_ZIP_DEPTH})`,
    under: (s) => zipped(s, nestedZip(MAX_ZIP_DEPTH, [exe])),
    over: (s) => zipped(s, nestedZip(MAX_ZIP_DEPTH + 1, [exe])),
    found: /\.exe inside "files\.zip": "l2\.zip\/l3\.zip\/tool\.exe"/,
    unchecked: /archive "files\.zip" not checked: l2\.zip\/l3\.zip: "l4\.zip": zips nested more than 3 deep/,
  },
  {
    limit: `zip members (${MAX_ZIP_MEMBERS})`,
    under: (s) => zipped(s, makeZip([...names(MAX_ZIP_MEMBERS - 1), exe])),
    over: (s) => zipped(s, makeZip([...names(MAX_ZIP_MEMBERS), exe])),
    found: /\.exe inside "files\.zip": "tool\.exe"/,
    unchecked: /archive "files\.zip" not checked: more than 2000 members/,
  },
  {
    // under: the three declared sizes add up to the limit exactly; over: b.bin takes the sum one byte past it
    limit: `zip uncompressed total (${MAX_ZIP_UNCOMPRESSED_BYTES} bytes, as declared)`,
    under: (s) => zipped(s, makeZip([{ name: 'a.bin', data: 'x', declaredSize: MAX_ZIP_UNCOMPRESSED_BYTES / 2 }, { name: 'b.bin', data: 'x', declaredSize: MAX_ZIP_UNCOMPRESSED_BYTES / 2 - 256 }, exe])),
    over: (s) => zipped(s, makeZip([{ name: 'a.bin', data: 'x', declaredSize: MAX_ZIP_UNCOMPRESSED_BYTES / 2 }, { name: 'b.bin', data: 'x', declaredSize: MAX_ZIP_UNCOMPRESSED_BYTES / 2 + 1 }, exe])),
    found: /\.exe inside "files\.zip": "tool\.exe"/,
    unchecked: /archive "files\.zip" not checked: more than 419430400 bytes uncompressed/,
  },
  {
    limit: `nested zip size (${MAX_NESTED_ZIP_BYTES} bytes)`,
    under: (s) => zipped(s, makeZip([{ name: 'in.zip', data: zipOfSize(MAX_NESTED_ZIP_BYTES, [exe]), deflate: true }])),
    over: (s) => zipped(s, makeZip([{ name: 'in.zip', data: zipOfSize(MAX_NESTED_ZIP_BYTES + 1, [exe]), deflate: true }])),
    found: /\.exe inside "files\.zip": "in\.zip\/tool\.exe"/,
    unchecked: /archive "files\.zip" not checked: "in\.zip" is larger than 1048576 bytes and is not opened/,
  },
  {
    limit: `inflate budget per message (${MAX_INFLATE_BYTES} bytes)`,
    under: (s) => zipped(s, makeZip(budgetZips(MAX_INFLATE_BYTES / MAX_NESTED_ZIP_BYTES, true))),
    over: (s) => zipped(s, makeZip([...budgetZips(MAX_INFLATE_BYTES / MAX_NESTED_ZIP_BYTES, false), { name: 'last.zip', data: makeZip([exe]), deflate: true }])),
    found: /\.exe inside "files\.zip": "i3\.zip\/run\.exe"/,
    unchecked: /archive "files\.zip" not checked: "last\.zip" is not opened: the message used up its 4194304 bytes/,
  },
  {
    limit: 'an encrypted zip member',
    under: (s) => zipped(s, makeZip([{ name: 'report.doc', data: 'x' }, exe])),
    over: (s) => zipped(s, makeZip([{ name: 'report.doc', data: 'x', encrypted: true }])),
    found: /\.exe inside "files\.zip": "tool\.exe"/,
    unchecked: /archive "files\.zip" not checked: "report\.doc" is encrypted and cannot be checked/,
  },
  {
    limit: 'data before the first zip entry',
    under: (s) => zipped(s, makeZip([exe])),
    over: (s) => messageWithAttachments(s, [{ name: 'photo.gif', contentType: 'image/gif', data: Buffer.concat([Buffer.from('GIF89a'), makeZip([exe])]) }]),
    found: /\.exe inside "files\.zip": "tool\.exe"/,
    unchecked: /archive "photo\.gif" not checked: 6 bytes of other data before the first zip entry/,
  },
];

let sink: Sink;
let quarantining: TestRelay;
let rejecting: TestRelay;
const overSubjects: string[] = [];

let relays: UncheckedRelays;

before(async () => {
  relays = await startUncheckedRelays();
  ({ sink, quarantining, rejecting } = relays);
});
after(() => relays.stop());


test(`a header section of the ${MAX_SENDER_HEADER_LINES} lines a sender may send is walked whole with our Received on top: the program at its end is found`, async () => {
  const response = await refusal(quarantining, messageWithHeaderLines('at the sender line limit', MAX_SENDER_HEADER_LINES, exe));
  assert.match(response, /^550 5\.7\.1 Message refused by policy: /);
  assert.match(response, /\.exe: "tool\.exe"/);
});

test('filters.unchecked defaults to quarantine', () => {
  assert.equal(ConfigSchema.parse({}).filters.unchecked, 'quarantine');
});

for (const c of CASES) {
  test(`${c.limit}: just under, the blocked file at the end is found and refused with 550`, async () => {
    const response = await refusal(quarantining, c.under(`under ${c.limit}`));
    assert.match(response, /^550 5\.7\.1 Message refused by policy: /);
    assert.match(response, c.found);
  });

  test(`${c.limit}: just over, the message is kept in quarantine with the limit as its reason`, async () => {
    const subject = `over ${c.limit}`;
    overSubjects.push(subject);
    const sent = await send(quarantining.port, 'alice@sender.test', ['bob@example.test'], c.over(subject));
    const id = /queued as ([0-9A-Z]{22})/.exec(sent.response)![1]!;
    const [row] = quarantining.relay.quarantine.list({ search: id });
    assert.ok(row, `${id} is in quarantine`);
    assert.match(row.reason ?? '', c.unchecked);
    assert.equal(quarantining.relay.queue.store.message(id)!.status, 'quarantined');
  });

  test(`${c.limit}: just over, with filters.unchecked = reject, the message is refused with 550`, async () => {
    const response = await refusal(rejecting, c.over(`over ${c.limit} (reject)`));
    assert.match(response, /^550 5\.7\.1 Message refused by policy: /);
  });
}

test('sent all at once, under and over every limit, each message gets the verdict it gets alone (each walk has its own budget)', async () => {
  const verdicts = await Promise.all(
    CASES.flatMap((c) => [
      refusal(quarantining, c.under(`burst under ${c.limit}`)).then((response) => /^550 5\.7\.1 /.test(response) && c.found.test(response)),
      send(quarantining.port, 'alice@sender.test', ['bob@example.test'], c.over(`burst over ${c.limit}`)).then((sent) => {
        overSubjects.push(`burst over ${c.limit}`);
        const id = /queued as ([0-9A-Z]{22})/.exec(sent.response)![1]!;
        return c.unchecked.test(quarantining.relay.quarantine.list({ search: id })[0]?.reason ?? '');
      }),
    ]),
  );
  assert.deepEqual(verdicts, verdicts.map(() => true));
});

test('none of the messages over a limit reached the internal server, while a clean one after them did', async () => {
  await send(quarantining.port, 'alice@sender.test', ['bob@example.test'], message('clean after the limits'));
  await sink.waitForSubject('clean after the limits');
  assert.equal(overSubjects.length, 2 * CASES.length);
  for (const subject of overSubjects) assert.ok(!sink.messages.some((sunk) => sunk.raw.includes(`Subject: ${subject}`)), subject);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildDsn,
  MAX_DIAGNOSTIC_CHARS,
  MAX_RETURNED_FIELD_BYTES,
  MAX_RETURNED_HEADER_BYTES,
  MAX_RETURNED_RECEIVED,
  type DsnInput,
  type DsnRecipient,
} from '../../../src-relay/queue/dsn.ts';

// A small MIME reader, strict on purpose: it accepts CRLF only, unfolds per RFC 5322 2.2.3 and
// splits multipart bodies on the declared boundary per RFC 2046 5.1.1.
interface Entity {
  fields: Map<string, string[]>;
  body: string;
}

function readEntity(raw: string): Entity {
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end >= 0, 'no blank line after the header');
  return { fields: readFields(raw.slice(0, end)), body: raw.slice(end + 4) };
}

function readFields(block: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of block.replace(/\r\n(?=[ \t])/g, '').split('\r\n')) {
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `not a header field: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).toLowerCase();
    fields.set(name, [...(fields.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return fields;
}

function field(entity: { fields: Map<string, string[]> }, name: string): string {
  const values = entity.fields.get(name.toLowerCase());
  assert.equal(values?.length, 1, `expected one ${name} field`);
  return values![0]!;
}

function boundaryOf(contentType: string): string {
  const match = /;\s*boundary="([^"]+)"/.exec(contentType);
  assert.ok(match, `no boundary in ${contentType}`);
  return match[1]!;
}

function readParts(body: string, boundary: string): Entity[] {
  const parts: string[][] = [];
  let closed = false;
  let current: string[] | undefined;
  const epilogue: string[] = [];
  for (const line of body.split('\r\n')) {
    if (closed) epilogue.push(line);
    else if (line === `--${boundary}`) parts.push((current = []));
    else if (line === `--${boundary}--`) closed = true;
    else current?.push(line);
  }
  assert.ok(closed, 'no closing delimiter');
  assert.deepEqual(epilogue, [''], 'text after the closing delimiter');
  return parts.map((lines) => readEntity(lines.join('\r\n')));
}

function decodeQp(text: string): string {
  const soft = text.replace(/=\r\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=') {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(soft.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

function decoded(part: Entity): string {
  const encoding = part.fields.get('content-transfer-encoding')?.[0] ?? '7bit';
  return encoding === 'quoted-printable' ? decodeQp(part.body) : part.body;
}

function parse(raw: string) {
  const message = readEntity(raw);
  const parts = readParts(message.body, boundaryOf(field(message, 'Content-Type')));
  assert.equal(parts.length, 3);
  const [text, status, headers] = parts as [Entity, Entity, Entity];
  const groups = status.body.replace(/\r\n$/, '').split('\r\n\r\n').map((group) => ({ fields: readFields(group) }));
  return { message, text, status, headers, perMessage: groups[0]!, perRecipient: groups.slice(1) };
}

const ORIGINAL_HEADERS =
  'From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Quarterly numbers\r\nMessage-ID: <orig-1@example.com>\r\n\r\n';

function failed(overrides: Partial<DsnRecipient> = {}): DsnRecipient {
  return {
    address: 'bob@example.org',
    action: 'failed',
    status: '5.1.1',
    remoteMta: 'mx.example.org',
    diagnostic: '550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown',
    lastAttempt: new Date('2024-03-05T10:59:00Z'),
    ...overrides,
  };
}

function input(overrides: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: 'relay.example.com',
    from: 'MAILER-DAEMON@relay.example.com',
    to: 'alice@example.com',
    queueId: 'Q7F3A2',
    arrivalDate: new Date('2024-03-05T10:00:00Z'),
    recipients: [failed()],
    originalHeaders: ORIGINAL_HEADERS,
    now: new Date('2024-03-05T11:00:00Z'),
    messageId: '20240305110000.Q7F3A2@relay.example.com',
    ...overrides,
  };
}

function assertWellFormed(raw: string): void {
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(raw), 'a bare CR or LF');
  assert.ok(raw.endsWith('\r\n'));
  assert.ok(/^[\t\r\n\x20-\x7e]*$/.test(raw), 'a character that is not 7bit');
  for (const line of raw.split('\r\n')) assert.ok(line.length < 998, `line of ${line.length} characters`);
}

test('A failure DSN is a multipart/report with text, delivery-status and the original headers.', () => {
  const raw = buildDsn(input());
  assertWellFormed(raw);
  const { message, text, status, headers } = parse(raw);
  assert.match(field(message, 'Content-Type'), /^multipart\/report; report-type=delivery-status; boundary="/);
  assert.equal(field(message, 'MIME-Version'), '1.0');
  assert.equal(field(text, 'Content-Type'), 'text/plain; charset=us-ascii');
  assert.equal(field(status, 'Content-Type'), 'message/delivery-status');
  assert.equal(field(headers, 'Content-Type'), 'text/rfc822-headers');
});

test('The top-level header says who, what and when, and marks the DSN as automatic.', () => {
  const { message } = parse(buildDsn(input()));
  assert.equal(field(message, 'From'), 'Mail Delivery System <MAILER-DAEMON@relay.example.com>');
  assert.equal(field(message, 'To'), '<alice@example.com>');
  assert.equal(field(message, 'Subject'), 'Undelivered Mail Returned to Sender');
  assert.equal(field(message, 'Date'), 'Tue, 05 Mar 2024 11:00:00 +0000');
  assert.equal(field(message, 'Message-ID'), '<20240305110000.Q7F3A2@relay.example.com>');
  assert.equal(field(message, 'Auto-Submitted'), 'auto-replied');
});

test('The delivery-status part carries the RFC 3464 per-message and per-recipient fields.', () => {
  const { perMessage, perRecipient } = parse(buildDsn(input()));
  assert.equal(field(perMessage, 'Reporting-MTA'), 'dns; relay.example.com');
  assert.equal(field(perMessage, 'X-Moat-Queue-ID'), 'Q7F3A2');
  assert.equal(field(perMessage, 'Arrival-Date'), 'Tue, 05 Mar 2024 10:00:00 +0000');
  assert.equal(perRecipient.length, 1);
  const rcpt = perRecipient[0]!;
  assert.equal(field(rcpt, 'Final-Recipient'), 'rfc822; bob@example.org');
  assert.equal(field(rcpt, 'Action'), 'failed');
  assert.equal(field(rcpt, 'Status'), '5.1.1');
  assert.equal(field(rcpt, 'Remote-MTA'), 'dns; mx.example.org');
  assert.equal(
    field(rcpt, 'Diagnostic-Code'),
    'smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown',
  );
  assert.equal(field(rcpt, 'Last-Attempt-Date'), 'Tue, 05 Mar 2024 10:59:00 +0000');
  assert.equal(rcpt.fields.has('will-retry-until'), false);
});

test('The text of a failure DSN names each recipient and the reply it got.', () => {
  const raw = buildDsn(
    input({ recipients: [failed(), failed({ address: 'carol@example.net', remoteMta: 'mx.example.net', diagnostic: '552 5.2.2 Mailbox full' })] }),
  );
  const { text, perRecipient } = parse(raw);
  const words = decoded(text).replace(/\r\n/g, ' ');
  assert.match(words, /could not be delivered to <bob@example\.org> \(status 5\.1\.1\)\. The server mx\.example\.org answered: 550 5\.1\.1/);
  assert.match(words, /could not be delivered to <carol@example\.net> .* mx\.example\.net answered: 552 5\.2\.2 Mailbox full/);
  assert.match(words, /will not be sent again/);
  assert.deepEqual(
    perRecipient.map((r) => field(r, 'Final-Recipient')),
    ['rfc822; bob@example.org', 'rfc822; carol@example.net'],
  );
});

test("A failure the relay decided itself (no server asked) is not put in a server's mouth.", () => {
  const raw = buildDsn(input({ recipients: [failed({ remoteMta: undefined, decidedHere: true, status: '5.4.4', diagnostic: '550 5.4.4 the mail hosts of example.org have only private or loopback addresses' })] }));
  const words = decoded(parse(raw).text).replace(/\r\n/g, ' ');
  assert.match(words, /No receiving server was asked: this mail system did not send it \(550 5\.4\.4 the mail hosts of example\.org have only private or loopback addresses\)\./);
  assert.doesNotMatch(words, /answered/);
});

test('A delay DSN says the message is still being retried and until when.', () => {
  const until = new Date('2024-03-10T10:00:00Z');
  const raw = buildDsn(
    input({
      recipients: [
        { address: 'bob@example.org', action: 'delayed', status: '4.4.1', diagnostic: 'connect ECONNREFUSED', willRetryUntil: until },
      ],
    }),
  );
  assertWellFormed(raw);
  const { message, text, perRecipient } = parse(raw);
  assert.equal(field(message, 'Subject'), 'Delayed Mail (still being retried)');
  const words = decoded(text).replace(/\r\n/g, ' ');
  assert.match(words, /has not yet been delivered to <bob@example\.org>/);
  assert.match(words, /will keep trying until Sun, 10 Mar 2024 10:00:00 \+0000/);
  assert.match(words, /The last attempt failed: connect ECONNREFUSED/);
  const rcpt = perRecipient[0]!;
  assert.equal(field(rcpt, 'Action'), 'delayed');
  assert.equal(field(rcpt, 'Will-Retry-Until'), 'Sun, 10 Mar 2024 10:00:00 +0000');
  assert.equal(field(rcpt, 'Diagnostic-Code'), 'X-Moat; connect ECONNREFUSED', 'not an SMTP reply, so not smtp;');
});

test('A diagnostic with CRLF and a header line in it does not create a header.', () => {
  const raw = buildDsn(
    input({
      to: 'alice@example.com\r\nBcc: victim@example.net',
      recipients: [failed({ address: 'bob@example.org\nBcc: victim@example.net', diagnostic: '550 User unknown\r\nBcc: victim@example.net' })],
    }),
  );
  assertWellFormed(raw);
  assert.ok(!/^Bcc:/im.test(raw), 'a line starts with Bcc:');
  const { message, perRecipient } = parse(raw);
  assert.equal(message.fields.has('bcc'), false);
  assert.equal(perRecipient[0]!.fields.has('bcc'), false);
  assert.equal(field(perRecipient[0]!, 'Diagnostic-Code'), 'smtp; 550 User unknown Bcc: victim@example.net');
});

test('Control characters in outside values never reach the message.', () => {
  const raw = buildDsn(
    input({ recipients: [failed({ remoteMta: 'mx\u0000.example.org\u0007', diagnostic: '550 \u001b[31mno\u0085 such user' })] }),
  );
  assertWellFormed(raw);
  const { perRecipient } = parse(raw);
  assert.equal(field(perRecipient[0]!, 'Remote-MTA'), 'dns; mx .example.org');
  assert.equal(field(perRecipient[0]!, 'Diagnostic-Code'), 'smtp; 550 [31mno such user');
});

test('Text that imitates a MIME boundary stays inside its part.', () => {
  const fake = '--=_moat_AAAAAAAAAAAAAAAAAAAAAAAA';
  const raw = buildDsn(
    input({
      // folded into the Subject, which is returned: a line of its own is not a field and is left out
      originalHeaders: `Subject: x\r\n ${fake}\r\n ${fake}--\r\nContent-Type: text/html\r\n\r\n`,
      recipients: [failed({ diagnostic: `550 no\r\n${fake}--\r\nContent-Type: text/html` })],
    }),
  );
  const { headers } = parse(raw);
  assert.ok(decoded(headers).includes(fake), 'the fake boundary is returned as text');
});

test('A multi-line reply keeps its code once.', () => {
  const raw = buildDsn(
    input({
      recipients: [
        failed({
          diagnostic:
            '550-5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient\'s email address for typos or\n550 5.1.1 unnecessary spaces.',
        }),
      ],
    }),
  );
  assert.equal(
    field(parse(raw).perRecipient[0]!, 'Diagnostic-Code'),
    "smtp; 550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.",
  );
});

test('A long Diagnostic-Code is folded at spaces into lines of at most 78 characters.', () => {
  const diagnostic = '550 5.7.1 ' + Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
  const raw = buildDsn(input({ recipients: [failed({ diagnostic })] }));
  assertWellFormed(raw);
  const { status, perRecipient } = parse(raw);
  const lines = status.body.split('\r\n');
  const start = lines.findIndex((l) => l.startsWith('Diagnostic-Code:'));
  const folded = [lines[start]!];
  for (let i = start + 1; lines[i]?.startsWith(' '); i++) folded.push(lines[i]!);
  assert.ok(folded.length > 1, 'the field was not folded');
  for (const line of folded) assert.ok(line.length <= 78, line);
  assert.equal(field(perRecipient[0]!, 'Diagnostic-Code'), `smtp; ${diagnostic}`);
});

test('A word too long for one line is split so no line reaches 998 characters.', () => {
  const raw = buildDsn(input({ recipients: [failed({ diagnostic: `550 ${'x'.repeat(1500)}` })] }));
  assertWellFormed(raw);
  for (const line of parse(raw).status.body.split('\r\n')) assert.ok(line.length <= 78, `${line.length}`);
});

test(`A diagnostic longer than ${MAX_DIAGNOSTIC_CHARS} characters is cut and marked.`, () => {
  const diagnostic = `550 ${'a '.repeat(MAX_DIAGNOSTIC_CHARS)}`;
  const value = field(parse(buildDsn(input({ recipients: [failed({ diagnostic })] }))).perRecipient[0]!, 'Diagnostic-Code');
  assert.ok(value.endsWith(' [...]'));
  assert.ok(value.length <= 'smtp; '.length + MAX_DIAGNOSTIC_CHARS + ' [...]'.length);
});

test('The fields that name the message are returned as they were, with bare LF turned into CRLF; the others are left out.', () => {
  const original = 'Received: from a\n\tby b; Tue, 5 Mar 2024 09:59:00 +0000\nSubject: Quarterly numbers\rX-Odd: yes\nFrom: <a@b.test>\nMessage-ID: <1@b.test>\n\n';
  const { headers } = parse(buildDsn(input({ originalHeaders: original })));
  assert.equal(field(headers, 'Content-Transfer-Encoding'), '7bit');
  assert.equal(
    headers.body,
    'Received: from a\r\n\tby b; Tue, 5 Mar 2024 09:59:00 +0000\r\nSubject: Quarterly numbers\r\nFrom: <a@b.test>\r\nMessage-ID: <1@b.test>\r\n',
  );
});

test(`A sender's advertising in its header lines is not returned: From, To, Subject, Date, Message-ID once each and the first ${MAX_RETURNED_RECEIVED} Received fields, each cut to ${MAX_RETURNED_FIELD_BYTES} bytes.`, () => {
  const ads = Array.from({ length: 300 }, (_, n) => `X-Ad-${n}: Visit http://spam.example/offer/${n}\r\n`).join('');
  const received = Array.from({ length: 5 }, (_, n) => `Received: from hop${n}.test\r\n\tby next; Tue, 5 Mar 2024 09:59:0${n} +0000\r\n`).join('');
  const longTo = `To: ${Array.from({ length: 100 }, (_, n) => `<user${n}@example.test>`).join(',\r\n ')}\r\n`;
  const original = `${received}${ads}From: <spam@outside.test>\r\nSubject: first\r\nSubject: second\r\n${longTo}Date: Tue, 5 Mar 2024 09:59:00 +0000\r\nMessage-ID: <x@outside.test>\r\n`;
  const raw = buildDsn(input({ originalHeaders: original }));
  assertWellFormed(raw);
  const returned = parse(raw).headers.body;
  assert.doesNotMatch(returned, /spam\.example|X-Ad-/);
  assert.deepEqual(
    returned.split('\r\n').filter((line) => /^\S/.test(line)).map((line) => line.slice(0, line.indexOf(':'))),
    ['Received', 'Received', 'From', 'Subject', 'To', 'Date', 'Message-ID'],
  );
  assert.match(returned, /^Received: from hop0\.test\r\n\tby next; [^\r]*\r\nReceived: from hop1\.test\r\n/);
  assert.match(returned, /\r\nSubject: first\r\n/, 'the first Subject, as readers show it');
  const to = /\r\n(To: (?:.|\r\n\s)*?)\r\n(?=Date:)/.exec(returned)![1]!;
  assert.ok(Buffer.byteLength(to) <= MAX_RETURNED_FIELD_BYTES, 'a long To is cut');
  assert.ok(longTo.startsWith(to) && to.endsWith('>,'), 'at a fold');
  assert.ok(Buffer.byteLength(returned) <= MAX_RETURNED_HEADER_BYTES);
});

test('A single field of one long line is cut inside it, whole characters only.', () => {
  const original = `Subject: ${'ä'.repeat(2000)}\r\n`;
  const { headers } = parse(buildDsn(input({ originalHeaders: original })));
  const subject = decoded(headers);
  assert.ok(Buffer.byteLength(subject) <= MAX_RETURNED_FIELD_BYTES + 2);
  assert.match(subject, /^Subject: ä+\r\n$/);
});

test('Original headers with 8-bit text or overlong lines go quoted-printable and decode to the same text.', () => {
  const original = `Subject: Grüße aus Köln ${'z'.repeat(990)}\r\n`;
  const raw = buildDsn(input({ originalHeaders: original }));
  assertWellFormed(raw);
  const { headers } = parse(raw);
  assert.equal(field(headers, 'Content-Transfer-Encoding'), 'quoted-printable');
  assert.equal(decoded(headers), original);
});

test('An internationalised address stays readable and the message stays 7bit.', () => {
  const raw = buildDsn(
    input({
      to: 'jörg@exämple.de',
      recipients: [failed({ address: 'zoë+tag@bücher.example', remoteMta: 'mx.bücher.example', diagnostic: '550 5.1.1 Benutzer unbekannt: zoë' })],
    }),
  );
  assertWellFormed(raw);
  const { message, text, perRecipient } = parse(raw);
  assert.equal(field(message, 'To').replace(/\?= =\?UTF-8\?Q\?/g, ''), '=?UTF-8?Q?j=C3=B6rg=40ex=C3=A4mple=2Ede?=:;');
  assert.equal(field(text, 'Content-Type'), 'text/plain; charset=utf-8');
  assert.match(decoded(text).replace(/\r\n/g, ' '), /could not be delivered to <zoë\+tag@bücher\.example>/);
  const rcpt = perRecipient[0]!;
  assert.equal(field(rcpt, 'Final-Recipient'), 'utf-8; zo\\x{EB}\\x{2B}tag@b\\x{FC}cher.example');
  assert.equal(field(rcpt, 'Remote-MTA'), 'dns; mx.xn--bcher-kva.example');
  assert.equal(field(rcpt, 'Diagnostic-Code'), 'smtp; 550 5.1.1 Benutzer unbekannt: zo\\x{EB}');
});

test('Each DSN gets its own random boundary.', () => {
  const a = parse(buildDsn(input())).message;
  const b = parse(buildDsn(input())).message;
  assert.notEqual(boundaryOf(field(a, 'Content-Type')), boundaryOf(field(b, 'Content-Type')));
});

test('A DSN without recipients, with mixed actions or to the null sender is refused.', () => {
  assert.throws(() => buildDsn(input({ recipients: [] })), RangeError);
  assert.throws(
    () => buildDsn(input({ recipients: [failed(), { address: 'c@example.net', action: 'delayed', status: '4.4.1' }] })),
    RangeError,
  );
  assert.throws(() => buildDsn(input({ to: '' })), RangeError);
  assert.throws(() => buildDsn(input({ now: new Date(Number.NaN) })), RangeError);
});

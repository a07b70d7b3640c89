// Plain words (issue 12): encoded subjects, display names and attachment names are shown decoded by the admin API and
// the CLI; mail Moat writes is listed by its subject, from "Moat"; the open-relay self-test's own probes are not
// counted as refused mail. Live relays on port 0, real SMTP sinks, the handlers called as the admin server calls them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { queueHandlers } from '../../src-relay/admin/handlers/queue.ts';
import { quarantineHandlers } from '../../src-relay/admin/handlers/quarantine.ts';
import { apiContext } from '../helpers/api-context.ts';
import { callHandler } from '../helpers/api-call.ts';
import { runCli } from '../helpers/cli.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, send, tryRelayTricks } from '../helpers/smtp.ts';
import { checklistCommand } from '../../src-relay/cli/checklist.ts';

const TEST_TIMEOUT_MS = 60_000;
const SUBJECT = 'Grüße aus Köln – Rechnung Nr. 7';
const NAME = 'Jürgen Weiß';
const ENCODED_SUBJECT = `=?UTF-8?B?${Buffer.from(SUBJECT).toString('base64')}?=`;
// Latin-1 quoted-printable: a charset other than UTF-8, and the Q encoding's "_" for a space
const ENCODED_FROM = '=?ISO-8859-1?Q?J=FCrgen_Wei=DF?= <juergen@sender.test>';

let sink: Sink;
let relay: TestRelay;

before(async () => {
  // the internal server answers 451 to everyone: mail stays in the queue, retried once an hour
  sink = await Sink.start({ onRecipient: () => ({ code: 451, text: '4.3.0 mailbox busy, try later' }) });
  relay = await startRelay(sink.port, { queue: { retryIntervalsSec: [3600] } });
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

function call<K extends keyof typeof queueHandlers>(name: K, input: unknown = {}, on: TestRelay = relay) {
  return callHandler(queueHandlers, name, input, apiContext(on.relay));
}

function encodedMessage(tag: string, extra = ''): string {
  return (
    `From: ${ENCODED_FROM}\r\nTo: bob@example.test\r\nSubject: ${ENCODED_SUBJECT}\r\n` +
    `Message-ID: <${tag}.${Date.now()}@sender.test>\r\n${extra}\r\nHallo Bob.\r\n`
  );
}

async function queued(raw: string, from = 'juergen@sender.test'): Promise<string> {
  const info = await send(relay.port, from, ['bob@example.test'], raw);
  return /queued as (\S+)/.exec(info.response)![1]!;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('an encoded Subject and From display name come out decoded from queue.list, queue.show and tracking.search', { timeout: TEST_TIMEOUT_MS }, async () => {
  const start = Date.now();
  const id = await queued(encodedMessage('decoded-api'));
  const page = await call('queue.list', { search: 'Köln' });
  const row = page.rows.find((candidate) => candidate.id === id);
  assert.ok(row, 'a search for a decoded word finds the message');
  assert.equal(row.subject, SUBJECT);
  assert.equal(row.senderName, NAME);
  assert.equal(row.sender, 'juergen@sender.test', 'the envelope address stays as it was');

  const shown = await call('queue.show', { id });
  assert.equal(shown.subject, SUBJECT);
  assert.equal(shown.senderName, NAME);

  const tracked = (await call('tracking.search', { sender: 'juergen@', from: start })).rows.find((candidate) => candidate.id === id);
  assert.ok(tracked);
  assert.equal(tracked.subject, SUBJECT);
  assert.equal(tracked.senderName, NAME);
});

test('a row stored raw before decoding existed is decoded when it is read', { timeout: TEST_TIMEOUT_MS }, async () => {
  const id = await queued(encodedMessage('raw-row'));
  // as an older Moat left it: the header text as received, no display name
  relay.relay.queue.store.db.prepare(`UPDATE messages SET subject = ?, from_name = NULL WHERE id = ?`).run(ENCODED_SUBJECT, id);
  const row = (await call('queue.list', { limit: 500 })).rows.find((candidate) => candidate.id === id)!;
  assert.equal(row.subject, SUBJECT);
  assert.equal(row.senderName, null, 'no display name kept: the screens show the address');
  assert.equal((await call('queue.show', { id })).subject, SUBJECT);
});

test('moat queue list prints the subject and the sender name decoded', { timeout: TEST_TIMEOUT_MS }, async () => {
  const id = await queued(encodedMessage('decoded-cli'));
  const result = await runCli(['queue', 'list', '--data-dir', relay.dataDir]);
  assert.equal(result.code, 0, result.stderr);
  const line = result.stdout.split('\n').find((text) => text.startsWith(id));
  assert.ok(line, result.stdout);
  assert.ok(line.includes(`"${NAME}" <juergen@sender.test>`), line);
  assert.ok(line.includes(`"${SUBJECT}"`), line);
  assert.ok(!line.includes('=?'), 'no encoded word is left');
  const show = await runCli(['queue', 'show', id, '--data-dir', relay.dataDir]);
  assert.match(show.stdout, new RegExp(`subject: +${SUBJECT}`));
});

test('a bounce report Moat writes is listed by its subject, with Moat as the sender', { timeout: TEST_TIMEOUT_MS }, async () => {
  const id = await queued(encodedMessage('to-bounce'));
  const acted = await call('queue.act', { action: 'bounce', ids: [id] });
  assert.deepEqual(acted.done, [id]);
  let dsn: Awaited<ReturnType<typeof call<'queue.list'>>>['rows'][number] | undefined;
  await until('the DSN is queued', async () => {
    dsn = (await call('queue.list', { limit: 500 })).rows.find((row) => row.sender === '' && row.recipients.includes('juergen@sender.test'));
    return dsn !== undefined;
  });
  assert.equal(dsn!.subject, 'Undelivered Mail Returned to Sender');
  assert.equal(dsn!.senderName, 'Moat');
  const shown = await call('queue.show', { id: dsn!.id });
  assert.equal(shown.senderName, 'Moat');
  assert.equal(shown.kind, 'dsn');
  assert.ok(shown.headerMessageId, 'the DSN\'s Message-ID is kept for tracking');
  const cli = await runCli(['queue', 'list', '--data-dir', relay.dataDir]);
  assert.ok(cli.stdout.split('\n').some((line) => line.startsWith(dsn!.id) && line.includes('"Moat" <>') && line.includes('Undelivered Mail Returned to Sender')), cli.stdout);
});

test('the quarantine list and preview show the subject, sender name and an RFC 2231 attachment name decoded', { timeout: TEST_TIMEOUT_MS }, async () => {
  const filtered = await startRelay(sink.port, { filters: { enabled: true, rules: { MISSING_DATE: 11 } }, queue: { retryIntervalsSec: [3600] } });
  try {
    const boundary = 'b-plain-words';
    // no Date: the junk rules quarantine it; the attachment's name in RFC 2231 form (charset, percent-encoded)
    const raw = encodedMessage(
      'quarantined',
      `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n`,
    ).replace(
      '\r\nHallo Bob.\r\n',
      `\r\n--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo Bob.\r\n` +
        `--${boundary}\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9%20M%C3%BCller.pdf\r\n` +
        `Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--${boundary}--\r\n`,
    );
    const info = await send(filtered.port, 'juergen@sender.test', ['bob@example.test'], raw);
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    const context = apiContext(filtered.relay);
    const list = await callHandler(quarantineHandlers, 'quarantine.list', { search: 'grüße' }, context);
    const row = list.rows.find((candidate) => candidate.id === id);
    assert.ok(row, 'a search for a decoded word finds it in quarantine');
    assert.equal(row.subject, SUBJECT);
    assert.equal(row.senderName, NAME);
    const preview = await callHandler(quarantineHandlers, 'quarantine.preview', { id }, context);
    assert.equal(preview.message.subject, SUBJECT);
    assert.equal(preview.headers.find((header) => header.name === 'Subject')!.value, SUBJECT);
    assert.equal(preview.headers.find((header) => header.name === 'From')!.value, `${NAME} <juergen@sender.test>`);
    assert.deepEqual(preview.attachments.map((attachment) => attachment.filename), ['Résumé Müller.pdf']);
  } finally {
    await filtered.stop();
  }
});

test('running the open-relay self-test leaves the rejected counter and tracking as they were; a client trying the same is counted', { timeout: TEST_TIMEOUT_MS }, async () => {
  const start = Date.now();
  const refusedRows = async () => {
    relay.relay.queue.flushHistory();
    return (await call('tracking.search', { from: start })).rows.filter((row) => row.outcome === 'refused').length;
  };
  const rejected = () => relay.relay.monitor.metrics.windowSum('rejected', 60);
  const before = { rejected: rejected(), tracked: await refusedRows() };

  const [result] = await relay.relay.monitor.runChecklist(['open-relay']);
  assert.equal(result!.status, 'ok', result!.detail);
  assert.match(result!.detail, /all 8 relay tricks were refused/);
  assert.equal(rejected(), before.rejected, 'the self-test\'s refusals are not rejected mail');
  assert.equal(await refusedRows(), before.tracked, 'nor are they written to tracking');

  // the same refusals from a client are counted and tracked: the test above can fail
  for (const reply of await tryRelayTricks(relay.port)) assert.match(reply, /^5/);
  assert.equal(rejected(), before.rejected + 2);
  await until('the refusals are tracked', async () => (await refusedRows()) === before.tracked + 2);
});

test('a client greeting with a self-test-like EHLO name but not this run\'s secret is counted like any other', { timeout: TEST_TIMEOUT_MS }, async () => {
  const rejected = () => relay.relay.monitor.metrics.windowSum('rejected', 60);
  const before = rejected();
  const client = await RawSmtp.connect(relay.port);
  try {
    await client.hello('self-test-000000000000000000000000.moat.invalid');
    await client.command('MAIL FROM:<a@sender.test>');
    assert.match(await client.command('RCPT TO:<victim@elsewhere.test>'), /^5/);
  } finally {
    client.close();
  }
  assert.equal(rejected(), before + 1);
});

test('moat checklist run in another process greets with the running relay\'s secret name, so its probes are not counted either', { timeout: TEST_TIMEOUT_MS }, async () => {
  const rejected = () => relay.relay.monitor.metrics.windowSum('rejected', 60);
  const before = rejected();
  let out = '';
  const code = await checklistCommand(
    ['run', 'open-relay'],
    {
      // what `moat checklist run --data-dir DIR` resolves: the relay's configuration and data directory, its own database connection
      resolve: () => ({ dataDir: relay.dataDir, configFile: '/nonexistent/moat.json', result: { ok: true, config: relay.relay.config } as never }),
      refuseConfig: () => 2,
    },
    { stdin: process.stdin, out: (text) => (out += text), err: (text) => (out += text) },
  );
  assert.equal(code, 0, out);
  assert.match(out, /OK +open-relay +all 8 relay tricks were refused/);
  assert.equal(rejected(), before);
});

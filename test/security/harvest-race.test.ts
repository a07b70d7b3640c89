// The harvest caps (mx.harvest) under concurrency, over real SMTP: one client address with many sessions open, each
// sending unknown recipients at once (pipelined), is limited exactly as if it had sent them one after another. Each
// test runs twice: with the recipient callout to a slow internal server (a raw socket server that answers RCPT after
// a delay, so the look-ups of all sessions are in progress together) and with a plain `recipients` list.
// The clients connect from 127.0.0.7 (127.0.0.8 stands for another client); the relays start with an empty allow
// list, since the default one (127.0.0.0/8) would skip the policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp.ts';

const CLIENT = '127.0.0.7';
const OTHER_CLIENT = '127.0.0.8';
const KNOWN = ['bob@example.test', 'carol@example.test', 'dave@example.test', 'erin@example.test', 'frank@example.test', 'grace@example.test'];
/** How long the slow internal server takes to answer a RCPT (ms): every session's RCPT arrives within it. */
const ANSWER_DELAY_MS = 400;

type Mode = 'callout' | 'recipients list';
const MODES: Mode[] = ['callout', 'recipients list'];

/** The internal server, slow to answer RCPT: 250 for KNOWN, 550 for anyone else; keeps each address it was asked. */
async function slowInternalServer(): Promise<{ port: number; asked: string[]; stop(): Promise<void> }> {
  const asked: string[] = [];
  const server: Server = createServer((socket) => {
    socket.on('error', () => {});
    socket.setEncoding('latin1');
    socket.write('220 internal.example.test ESMTP\r\n');
    let buffer = '';
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const rcpt = /^RCPT TO:<([^>]*)>/i.exec(line);
        if (rcpt) {
          const address = rcpt[1]!.toLowerCase();
          asked.push(address);
          const answer = KNOWN.includes(address) ? '250 2.1.5 OK' : '550 5.1.1 RESOLVER.ADR.RecipientNotFound';
          setTimeout(() => socket.writable && socket.write(`${answer}\r\n`), ANSWER_DELAY_MS);
        } else if (/^QUIT/i.test(line)) socket.end('221 2.0.0 Bye\r\n');
        else socket.write('250 internal.example.test\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    asked,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface World {
  relay: TestRelay;
  /** The addresses the internal server was asked about (callout mode; always empty with the recipients list). */
  asked: string[];
}

async function withRelay(mode: Mode, harvest: Record<string, number>, body: (world: World) => Promise<void>): Promise<void> {
  const internal = mode === 'callout' ? await slowInternalServer() : null;
  const sink = internal ? null : await Sink.start();
  const mx = { clientNetworks: { allow: [] }, harvest, errorDelay: { stepMs: 0 }, callout: { enabled: mode === 'callout', timeoutSec: 30 } };
  const overrides = mode === 'callout' ? { mx } : { mx, recipients: KNOWN };
  const relay = await startRelay(internal?.port ?? sink!.port, overrides);
  try {
    await body({ relay, asked: internal?.asked ?? [] });
  } finally {
    await relay.stop();
    await internal?.stop();
    await sink?.stop();
  }
}

/** A session from `from`, greeted, with a MAIL FROM accepted: ready for RCPTs. */
async function openSession(relay: TestRelay, from = CLIENT): Promise<RawSmtp> {
  const client = await RawSmtp.connect(relay.port, false, from);
  assert.match(await client.hello(), /^250/);
  assert.match(await client.command('MAIL FROM:<harvester@sender.test>'), /^250/);
  return client;
}

/** Writes all RCPTs in one go (PIPELINING) and reads their replies; a session closed by a 421 answers no more. */
async function pipelineRcpts(client: RawSmtp, addresses: string[]): Promise<string[]> {
  client.write(addresses.map((address) => `RCPT TO:<${address}>\r\n`).join(''));
  const replies: string[] = [];
  for (const _ of addresses) {
    const reply = await client.reply();
    if (!reply) break;
    replies.push(reply);
  }
  return replies;
}

function countOf(replies: string[], pattern: RegExp): number {
  return replies.filter((reply) => pattern.test(reply)).length;
}

async function greeting(relay: TestRelay, from: string): Promise<string> {
  const client = await RawSmtp.connect(relay.port, false, from);
  try {
    return await client.reply();
  } finally {
    client.close();
  }
}

for (const mode of MODES) {
  test(`${mode}: ten sessions from one address sending unknown recipients at once get exactly maxUnknownPerIp 550s, the rest 421, and the address is blocked`, async () => {
    const cap = 5;
    await withRelay(mode, { maxUnknownPerSession: 0, maxUnknownPerIp: cap }, async ({ relay, asked }) => {
      const sessions = await Promise.all(Array.from({ length: 10 }, () => openSession(relay)));
      const answers = await Promise.all(sessions.map((session, s) => pipelineRcpts(session, [0, 1, 2].map((r) => `nobody${s}-${r}@example.test`))));
      const all = answers.flat();
      assert.equal(countOf(all, /^550 5\.1\.1 /), cap, `550s across all sessions: ${JSON.stringify(answers)}`);
      assert.equal(countOf(all, /^421 4\.7\.1 /), all.length - cap, 'every other answer is 421');
      for (const replies of answers) {
        // in each session: some 550s, then at most one 421, after which the session is over
        assert.ok(replies.slice(0, -1).every((reply) => reply.startsWith('550')), JSON.stringify(replies));
      }
      if (mode === 'callout') {
        assert.equal(asked.length, cap + 1, `the internal server is asked about cap + 1 recipients, no more: ${JSON.stringify(asked)}`);
      }
      assert.match(await greeting(relay, CLIENT), /^421 /, 'blocked at connect');
      // a session of the blocked address still open gets 421 at its next RCPT, even for a recipient that exists
      const open = sessions.filter((session) => !session.closed);
      for (const session of open) {
        assert.match(await session.command('RCPT TO:<bob@example.test>'), /^421 4\.7\.1 /);
        await session.waitClosed();
      }
      if (mode === 'callout') assert.equal(asked.length, cap + 1, 'nothing is looked up for a blocked address');
      assert.match(await greeting(relay, CLIENT), /^421 /, 'still blocked at connect');
      assert.match(await greeting(relay, OTHER_CLIENT), /^220 /, 'another address is not blocked');
      for (const session of sessions) session.close();
    });
  });

  test(`${mode}: sessions from one address sending exactly maxUnknownPerIp unknown recipients at once get that many 550s, no 421, and stay welcome`, async () => {
    const cap = 5;
    await withRelay(mode, { maxUnknownPerSession: 0, maxUnknownPerIp: cap }, async ({ relay, asked }) => {
      const sessions = await Promise.all(Array.from({ length: cap }, () => openSession(relay)));
      const answers = await Promise.all(sessions.map((session, s) => pipelineRcpts(session, [`nobody${s}@example.test`])));
      assert.deepEqual(answers.flat().map((reply) => reply.slice(0, 9)), Array(cap).fill('550 5.1.1'));
      if (mode === 'callout') assert.equal(asked.length, cap);
      assert.match(await greeting(relay, CLIENT), /^220 /, 'not blocked');
      const known = await Promise.all(sessions.map((session, s) => pipelineRcpts(session, [KNOWN[s]!])));
      assert.deepEqual(known.flat().map((reply) => reply.slice(0, 3)), Array(cap).fill('250'), 'recipients that exist are still accepted');
      for (const session of sessions) session.close();
    });
  });

  test(`${mode}: recipients that exist, looked up in parallel past the number of free places, are all accepted and give their places back`, async () => {
    const cap = 2;
    await withRelay(mode, { maxUnknownPerSession: 0, maxUnknownPerIp: cap }, async ({ relay, asked }) => {
      const sessions = await Promise.all(KNOWN.map(() => openSession(relay)));
      const answers = await Promise.all(sessions.map((session, s) => pipelineRcpts(session, [KNOWN[s]!])));
      assert.deepEqual(answers.flat().map((reply) => reply.slice(0, 3)), Array(KNOWN.length).fill('250'));
      if (mode === 'callout') assert.deepEqual([...asked].sort(), [...KNOWN].sort());
      // no place was kept: the client still has its cap of unknown recipients, and one more blocks it
      const unknown = await Promise.all(sessions.slice(0, cap + 1).map((session, s) => pipelineRcpts(session, [`nobody${s}@example.test`])));
      assert.equal(countOf(unknown.flat(), /^550 5\.1\.1 /), cap);
      assert.equal(countOf(unknown.flat(), /^421 4\.7\.1 /), 1);
      for (const session of sessions) session.close();
    });
  });

  test(`${mode}: one session pipelining unknown recipients gets maxUnknownPerSession 550s, then 421 and the end of the session`, async () => {
    const cap = 3;
    await withRelay(mode, { maxUnknownPerSession: cap, maxUnknownPerIp: 0 }, async ({ relay, asked }) => {
      const under = await openSession(relay);
      const fine = await pipelineRcpts(under, [...[0, 1, 2].map((r) => `nobody-a${r}@example.test`), 'bob@example.test']);
      assert.deepEqual(fine.map((reply) => reply.slice(0, 3)), ['550', '550', '550', '250'], 'just at the cap the session goes on');
      under.close();
      const over = await openSession(relay);
      const replies = await pipelineRcpts(over, [0, 1, 2, 3, 4, 5].map((r) => `nobody-b${r}@example.test`));
      assert.deepEqual(replies.map((reply) => reply.slice(0, 9)), ['550 5.1.1', '550 5.1.1', '550 5.1.1', '421 4.7.1']);
      await over.waitClosed();
      if (mode === 'callout') assert.equal(asked.filter((address) => address.startsWith('nobody-b')).length, cap + 1, 'the RCPTs after the 421 were never looked at');
      assert.match(await greeting(relay, CLIENT), /^220 /, 'the session cap alone does not block the address');
    });
  });
}

test('callout: RCPTs at once for the same unknown address share one probe, and each still counts as an unknown recipient', async () => {
  const cap = 5;
  await withRelay('callout', { maxUnknownPerSession: 0, maxUnknownPerIp: cap }, async ({ relay, asked }) => {
    const sessions = await Promise.all(Array.from({ length: 10 }, () => openSession(relay)));
    const answers = (await Promise.all(sessions.map((session) => pipelineRcpts(session, ['nobody@example.test'])))).flat();
    assert.deepEqual(asked, ['nobody@example.test'], 'asked once: the first answer is shared, then remembered');
    assert.equal(countOf(answers, /^550 5\.1\.1 /), cap, 'a shared or remembered "unknown" counts like a probed one');
    assert.equal(countOf(answers, /^421 4\.7\.1 /), 10 - cap);
    assert.match(await greeting(relay, CLIENT), /^421 /);
    for (const session of sessions) session.close();
  });
});

// SMTP smuggling (SEC Consult, December 2023): a lenient server reads a bare-LF or bare-CR "end of data" that a strict
// one passes through as content, and the commands after it become a second, forged message. Moat's choice: end of DATA
// is CRLF.CRLF only (smtp-server), and every bare CR and bare LF in the content is rewritten to CRLF before the message
// is spooled (src-relay/smtp/line-endings.ts), so the internal server, however lenient, sees only CRLF lines and a
// dot-stuffed "." line where the smuggling sequence was. These tests read the exact bytes that reach it.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Sink, type SunkMessage } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp.ts';
import { LineEndingNormalizer } from '../../src-relay/smtp/line-endings.ts';
import { StageChain } from '../../src-relay/smtp/stage-chain.ts';

/** Records every byte the relay sends to the internal server: what a lenient server would have to parse. */
class Tap {
  readonly toServer: Buffer[] = [];
  port = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(targetPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => this.toServer.push(chunk));
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  bytes(): string {
    return Buffer.concat(this.toServer).toString('latin1');
  }

  stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let sink: Sink;
let tap: Tap;
let relay: TestRelay;

before(async () => {
  sink = await Sink.start();
  tap = new Tap(sink.port);
  await tap.start();
  relay = await startRelay(tap.port);
});
after(async () => {
  await relay.stop();
  await tap.stop();
  await sink.stop();
});

const BARE_CR_OR_LF = /\r(?!\n)|(?<!\r)\n/;
const SMUGGLED = 'MAIL FROM:<x@evil.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nFrom: x@evil.test\r\nTo: victim@example.test\r\nSubject: smuggled\r\n\r\nforged body';
const HEADER = 'From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\nSubject: smuggling\r\nMessage-ID: <smuggling@sender.test>\r\n\r\n';

const queuedCount = () => (relay.relay.queue.store.db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;

/** Waits until every queued message has been dealt with (short polling; the queue has no "empty" event). */
async function queueDrained(timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (relay.relay.queue.store.summary().size > 0) {
    if (Date.now() > deadline) throw new Error(`queue still holds ${relay.relay.queue.store.summary().size} messages`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Lets the listener's socket read what was written so far before the next write: client and relay share this event loop. */
async function flushed(client: RawSmtp): Promise<void> {
  await new Promise<void>((resolve, reject) => client.socket.write('', (error) => (error ? reject(error) : resolve())));
  for (let hop = 0; hop < 3; hop++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Sends one transaction whose DATA is `segments` (one TCP write each), then QUIT. The queue is held meanwhile so the
 * spool file can be read as Moat wrote it: nodemailer (>= 10.0.12) also rewrites bare line endings on the way out,
 * so the internal server's copy alone would not show whether Moat itself normalised.
 */
async function sendSegments(segments: string[]): Promise<{ id: string; got: SunkMessage; wire: string }> {
  const sunk = sink.messages.length;
  const wireBefore = tap.bytes().length;
  const queued = queuedCount();
  const client = await RawSmtp.connect(relay.port);
  client.socket.setNoDelay(true);
  relay.relay.queue.holdAll();
  let id: string;
  let spooled: Buffer;
  try {
    await client.hello();
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('DATA'), /^354/);
    for (const [index, segment] of segments.entries()) {
      if (index > 0) await flushed(client);
      client.write(index === segments.length - 1 ? `${segment}QUIT\r\n` : segment);
    }
    const reply = await client.reply();
    id = /^250 .*queued as ([0-9A-Z]{22})/.exec(reply)?.[1] ?? assert.fail(`expected 250 with a queue id, got ${reply}`);
    // had the smuggled commands been read as commands, their replies (250, 250, 354, 250) would come first
    assert.match(await client.reply(), /^221/, 'the next reply is the one to QUIT');
    await client.waitClosed();
    assert.equal(queuedCount(), queued + 1, 'exactly one message was queued');
    spooled = readFileSync(relay.relay.queue.spool.path(id));
  } finally {
    client.close();
    // released whatever happened, or every later test would wait for a held queue
    relay.relay.queue.releaseAll();
  }
  await sink.waitFor(sunk + 1);
  await queueDrained();
  assert.equal(sink.messages.length, sunk + 1, 'exactly one message reached the internal server');
  assert.equal(queuedCount(), queued + 1, 'and nothing else was queued meanwhile');
  const got = sink.messages[sunk]!;
  assert.equal(got.from, 'alice@sender.test');
  assert.deepEqual(got.to, ['bob@example.test']);
  assert.deepEqual(got.raw, spooled, 'the internal server gets the spooled bytes unchanged');
  return { id, got, wire: tap.bytes().slice(wireBefore) };
}

/** The message as the relay spooled and forwarded it, without the Received header it added. */
function content(raw: Buffer): string {
  const text = raw.toString('latin1');
  const received = /^Received: [^\r\n]*(?:\r\n\t[^\r\n]*)*\r\n/.exec(text);
  assert.ok(received, 'the message starts with our Received header');
  return text.slice(received[0].length);
}

function assertOnlyCrlf(text: string, what: string): void {
  const bare = BARE_CR_OR_LF.exec(text);
  assert.equal(bare, null, `${what} has a bare ${bare?.[0] === '\r' ? 'CR' : 'LF'} at ${bare?.index}`);
}

/** On the wire to the internal server: CRLF lines only, and exactly one "." line per message delivered. */
function assertWireIsClean(): void {
  const wire = tap.bytes();
  assertOnlyCrlf(wire, 'the SMTP stream to the internal server');
  const endOfData = wire.split('\r\n').filter((line) => line === '.').length;
  assert.equal(endOfData, sink.messages.length, 'one end-of-data line per delivered message');
}

/** The message's history says that (and optionally how many) bare line endings were rewritten. */
function assertRewriteRecorded(id: string, count?: number): void {
  const details = relay.relay.queue.store.history(id).map((row) => row.detail ?? '');
  const expected = new RegExp(`^${count ?? '\\d+'} bare CR/LF rewritten to CRLF$`);
  assert.ok(details.some((detail) => expected.test(detail)), `a history row matches ${expected}: ${JSON.stringify(details)}`);
}

const SEQUENCES: Record<string, string> = {
  '\\n.\\n': '\n.\n',
  '\\r.\\r': '\r.\r',
  '\\r\\n.\\r': '\r\n.\r',
  '\\n.\\r\\n': '\n.\r\n',
  '\\r.\\r\\n': '\r.\r\n',
};

for (const [name, sequence] of Object.entries(SEQUENCES)) {
  test(`a body with "${name}" before smuggled commands arrives as one message, normalised to CRLF, with the commands as content`, async () => {
    const sent = `${HEADER}Hello Bob.${sequence}${SMUGGLED}\r\n`;
    const { id, got, wire } = await sendSegments([`${sent}.\r\n`]);
    const text = content(got.raw);
    assertOnlyCrlf(got.raw.toString('latin1'), 'the message');
    assert.equal(text, sent.replace(/\r\n|\r|\n/g, '\r\n'), 'the content is the sent message with bare CR/LF made CRLF');
    assert.ok(text.includes(`Hello Bob.\r\n.\r\n${SMUGGLED}\r\n`), 'the smuggled commands are content of this message');
    // nodemailer dot-stuffs the lone dot, so even a server that ends DATA at "<LF>.<LF>" reads on
    assert.ok(wire.includes(`Hello Bob.\r\n..\r\n${SMUGGLED.split('\r\n')[0]}\r\n`), 'the dot line is stuffed on the wire');
    assertWireIsClean();
    assertRewriteRecorded(id);
  });
}

test('a message written with bare LF line endings only arrives with CRLF line endings (Moat normalises, it does not refuse)', async () => {
  const lines = ['From: Alice <alice@sender.test>', 'To: bob@example.test', 'Subject: unix', '', 'line one', '', 'line three'];
  const { id, got } = await sendSegments([`${lines.join('\n')}\r\n.\r\n`]);
  assert.equal(content(got.raw), `${lines.join('\r\n')}\r\n`);
  assertRewriteRecorded(id, lines.length - 1);
  assertOnlyCrlf(got.raw.toString('latin1'), 'the message');
  assertWireIsClean();
});

test('the normaliser gives the same bytes however the message is cut into chunks, empty chunks included', async () => {
  // where the chunks fall depends on TCP segments and stream buffering, which a test over a socket cannot pin down
  const input = Buffer.from('a\r\nb\rc\nd\r\r\n\n.\r\ne\r', 'latin1');
  const expected = 'a\r\nb\r\nc\r\nd\r\n\r\n\r\n.\r\ne\r\n';
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) {
      const { bytes, bare } = await normalise([input.subarray(0, i), input.subarray(i, j), input.subarray(j)]);
      assert.equal(bytes, expected, `cut at ${i} and ${j}`);
      assert.equal(bare, 5, `bare line endings counted when cut at ${i} and ${j}`);
    }
  }
});

async function normalise(chunks: Buffer[]): Promise<{ bytes: string; bare: number }> {
  const normalizer = new LineEndingNormalizer();
  const stream = new StageChain([normalizer]);
  const out: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = once(stream, 'end');
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  await ended;
  return { bytes: Buffer.concat(out).toString('latin1'), bare: normalizer.bareLineEndings };
}

const SPLITS: Record<string, [string, string]> = {
  'after its CR': ['\r', '\n.\r\n'],
  'after its first CRLF': ['\r\n', '.\r\n'],
  'after the dot': ['\r\n.', '\r\n'],
  'before the final LF': ['\r\n.\r', '\n'],
};

for (const [where, [first, second]] of Object.entries(SPLITS)) {
  test(`the real CRLF.CRLF split ${where} across two TCP writes still ends exactly one message, with QUIT pipelined behind it`, async () => {
    const body = `${HEADER}Split terminator.`;
    const { got } = await sendSegments([`${body}${first}`, `${second}`]);
    assert.equal(content(got.raw), `${body}\r\n`);
    assertWireIsClean();
  });
}

test('a smuggling sequence split across TCP writes is content too', async () => {
  const { got } = await sendSegments([`${HEADER}Hello Bob.\n`, `.\n${SMUGGLED}\r\n`, '.\r\n']);
  assert.ok(content(got.raw).includes(`Hello Bob.\r\n.\r\n${SMUGGLED}\r\n`));
  assertWireIsClean();
});

test('a first DATA line of a single dot sent alone (as "..") does not end the message early', async () => {
  // a parser that strips the stuffing dot first and then looks for a terminator at the start of the segment would end
  // DATA here and run what follows as commands
  const { got } = await sendSegments(['..\r\n', `${SMUGGLED}\r\n`, '.\r\n']);
  assert.equal(content(got.raw), `.\r\n${SMUGGLED}\r\n`);
  assertWireIsClean();
});


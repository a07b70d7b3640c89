// Floods against a real relay process (issue 11): peak RSS of the relay and how long a real sender waits.
//   npm run bench:floods -- [--silent 1000] [--tricklers 200] [--churn-sec 5] [--refused 50000]
// Each flood gets its own relay process (default config), so its VmHWM is that flood's peak. Flood clients bind
// 127.0.0.2 .. 127.0.0.250 (Linux routes all of 127/8 to lo); the real sender is nodemailer from 127.0.0.1.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import nodemailer from 'nodemailer';
import { startRelay, type RelayHandle } from './relay-process.ts';
import { startSink } from './sink.ts';

const FLOOD_ADDRESSES = 249;
const floodAddress = (index: number): string => `127.0.0.${2 + (index % FLOOD_ADDRESSES)}`;
/** The relay's own minimum wait before a standing silent session may be closed for a newcomer (smtp/stress.ts). */
const STANDING_MS = 1_100;
const TRICKLE_INTERVAL_MS = 2_000;
const GOOD_RETRY_MS = 250;
const GOOD_TIMEOUT_MS = 60_000;

const MESSAGE = 'From: alice@sender.test\r\nTo: bob@example.test\r\nSubject: real sender\r\n\r\nHello.\r\n';
const mib = (bytes: number | undefined): string => (bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** One flood connection: resolves with the first reply line; the socket stays open until closed by either side. */
function open(port: number, from: string, script: (socket: Socket, first: string) => void = () => {}): Promise<{ socket: Socket; first: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    socket.setEncoding('latin1');
    socket.on('error', () => {});
    socket.once('data', (first: string) => {
      script(socket, first);
      resolve({ socket, first });
    });
    socket.once('close', () => resolve({ socket, first: '' }));
  });
}

/** nodemailer to the relay, retried every GOOD_RETRY_MS while refused; how long until accepted, and the attempts. */
async function realSender(port: number): Promise<{ waitedMs: number; attempts: number }> {
  const started = Date.now();
  for (let attempts = 1; ; attempts++) {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, logger: false });
    try {
      await transport.sendMail({ envelope: { from: 'alice@sender.test', to: ['bob@example.test'] }, raw: MESSAGE });
      return { waitedMs: Date.now() - started, attempts };
    } catch (error) {
      if (Date.now() - started > GOOD_TIMEOUT_MS) throw error;
      await sleep(GOOD_RETRY_MS);
    } finally {
      transport.close();
    }
  }
}

async function withRelay<T>(sinkPort: number, body: (relay: RelayHandle) => Promise<T>): Promise<{ result: T; peak: number | undefined }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'moat-floods-'));
  const relay = await startRelay({ dataDir, internalPort: sinkPort });
  try {
    const result = await body(relay);
    return { result, peak: relay.peakRssBytes() };
  } finally {
    await relay.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function silentFlood(relay: RelayHandle, count: number, churnSec: number): Promise<string[]> {
  const lines: string[] = [];
  const flood = await Promise.all(Array.from({ length: count }, (_, i) => open(relay.mxPort, floodAddress(i))));
  const greeted = flood.filter(({ first }) => first.startsWith('220')).length;
  lines.push(`silent flood: ${count} connections in one burst, ${greeted} greeted, ${count - greeted} refused`);
  await sleep(STANDING_MS);
  const standing = await realSender(relay.mxPort);
  lines.push(`  standing flood: real sender accepted after ${standing.waitedMs} ms (${standing.attempts} attempt(s))`);

  // every flood connection that is closed is opened again at once, for churnSec
  let churning = true;
  let reopened = 0;
  const churn = async (index: number): Promise<void> => {
    while (churning) {
      const { socket } = await open(relay.mxPort, floodAddress(index));
      reopened++;
      await new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
    }
  };
  for (const { socket } of flood) socket.destroy();
  const churners = Array.from({ length: count }, (_, i) => churn(i));
  await sleep(STANDING_MS);
  const during = await realSender(relay.mxPort);
  lines.push(`  churning flood (closed connections reopened at once): real sender accepted after ${during.waitedMs} ms (${during.attempts} attempt(s))`);
  await sleep(Math.max(0, churnSec * 1000 - during.waitedMs));
  churning = false;
  lines.push(`  ${reopened} flood connections opened while churning`);
  // the churners end as the relay stops and closes their sockets
  void Promise.all(churners);
  return lines;
}

async function trickleFlood(relay: RelayHandle, count: number): Promise<string[]> {
  const sockets: Socket[] = [];
  const script = (socket: Socket): void => {
    const steps = ['EHLO flood.test\r\n', 'MAIL FROM:<flood@sender.test>\r\n', 'RCPT TO:<bob@example.test>\r\n', 'DATA\r\n'];
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: string) => {
      if (steps.length > 0) return void socket.write(steps.shift()!);
      if (chunk.startsWith('354') && !timer) timer = setInterval(() => socket.write('x'), TRICKLE_INTERVAL_MS);
    });
    socket.once('close', () => clearInterval(timer));
    socket.write(steps.shift()!);
  };
  const flood = await Promise.all(Array.from({ length: count }, (_, i) => open(relay.mxPort, floodAddress(i), script)));
  for (const { socket } of flood) sockets.push(socket);
  const started = Date.now();
  await sleep(500);
  const good = await realSender(relay.mxPort);
  const open_ = sockets.filter((socket) => !socket.destroyed).length;
  for (const socket of sockets) socket.destroy();
  return [
    `trickle flood: ${count} clients in DATA, one byte every ${TRICKLE_INTERVAL_MS} ms`,
    `  real sender accepted after ${good.waitedMs} ms (${good.attempts} attempt(s)); ${open_} tricklers still connected ${Date.now() - started} ms in`,
  ];
}

/** Client addresses of the refused flood: 200 x 253, more than the relay tracks (MAX_TRACKED_CLIENTS, 50,000). */
const refusedFloodAddress = (index: number): string => `127.0.${1 + (index % 200)}.${2 + (index % 253)}`;
/** A flood session that has not ended in this long is cut (ms): one stalled session must not hang the bench. */
const REFUSED_SESSION_TIMEOUT_MS = 30_000;

/**
 * Short sessions that ask to relay elsewhere, `count` of them, 50 at a time from 50,600 client addresses (more than
 * the relay tracks, so it drops the oldest): what the relay keeps per client and per session must stop growing.
 */
async function refusedFlood(relay: RelayHandle, count: number): Promise<string[]> {
  const lines = [`refused flood: ${count} sessions asking to relay to another domain, 50 at a time`];
  const replies = new Map<string, number>();
  const session = (i: number): Promise<string> =>
    new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: relay.mxPort, localAddress: refusedFloodAddress(i) });
      socket.setEncoding('latin1');
      socket.setTimeout(REFUSED_SESSION_TIMEOUT_MS, () => socket.destroy());
      const steps = [`EHLO flood${i}.test`, `MAIL FROM:<spam${i}@flood${i % 1000}.test>`, `RCPT TO:<victim${i}@elsewhere${i}.test>`, 'QUIT'];
      let buffered = '';
      let replyToRcpt = '';
      let step = 0;
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        for (let end = buffered.indexOf('\r\n'); end >= 0; end = buffered.indexOf('\r\n')) {
          const line = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          if (line[3] === '-') continue;
          if (step === 3) replyToRcpt = line.slice(0, 3);
          if (step < steps.length) socket.write(`${steps[step++]}\r\n`);
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(replyToRcpt || 'none'));
    });
  let next = 0;
  const step = Math.max(1, Math.floor(count / 5));
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < count) {
        const i = next++;
        const reply = await session(i);
        replies.set(reply, (replies.get(reply) ?? 0) + 1);
        if ((i + 1) % step === 0) lines.push(`  after ${i + 1} sessions: RSS ${mib(relay.rssBytes())}`);
      }
    }),
  );
  lines.push(`  replies to RCPT: ${[...replies].map(([code, n]) => `${code} x${n}`).join(', ')}`);
  return lines;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      silent: { type: 'string', default: '1000' },
      tricklers: { type: 'string', default: '200' },
      'churn-sec': { type: 'string', default: '5' },
      refused: { type: 'string', default: '50000' },
    },
  });
  const sink = await startSink();
  try {
    const silent = await withRelay(sink.port, (relay) => silentFlood(relay, Number(values.silent), Number(values['churn-sec'])));
    console.log([...silent.result, `  relay peak RSS (VmHWM): ${mib(silent.peak)}`].join('\n'));
    const trickle = await withRelay(sink.port, (relay) => trickleFlood(relay, Number(values.tricklers)));
    console.log([...trickle.result, `  relay peak RSS (VmHWM): ${mib(trickle.peak)}`].join('\n'));
    const refused = await withRelay(sink.port, (relay) => refusedFlood(relay, Number(values.refused)));
    console.log([...refused.result, `  relay peak RSS (VmHWM): ${mib(refused.peak)}`].join('\n'));
    const idle = await withRelay(sink.port, async () => undefined);
    console.log(`for comparison, a relay started and stopped without traffic: peak RSS ${mib(idle.peak)}`);
  } finally {
    await sink.close();
  }
}

await main();

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Sink } from '../helpers/sink.ts';
import { startRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { message, send } from '../helpers/smtp.ts';
import { CLI_ENV, REPO_ROOT, ServeProcess } from '../helpers/cli.ts';
import { createStreamLogger, createStreamWriter, MAX_LOG_BUFFER_BYTES } from '../../src-relay/log/logger.ts';
import { openStore } from '../../src-relay/engine.ts';
import { validateConfig } from '../../src-relay/config/load.ts';
import { newQueueId } from '../../src-relay/util/ids.ts';

/**
 * `moat queue list` must write more than the child's stdout socket holds (a few hundred KiB) for the reader's leaving
 * to cut it short: it lists at most 1000 messages, so each has enough recipients for a line of about 700 bytes.
 */
const QUEUED_FOR_LONG_LIST = 1000;
const RECIPIENTS_EACH = 20;

const dirs: string[] = [];
const serves: ServeProcess[] = [];
after(async () => {
  for (const serve of serves) if (serve.running) await serve.stop('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const QUEUED = /^250 .*queued as [0-9A-Z]{22}/;

/** A log file on a full disk: every write fails with ENOSPC, as fs.WriteStream reports it. */
function fullDisk(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' }));
    },
  });
}

/** A reader that stopped reading: nothing written is ever taken off the stream's buffer. */
function stuckReader(): Writable {
  return new Writable({ highWaterMark: 16, write() {} });
}

test('a log stream that fails with ENOSPC drops and counts its lines, and writing to it never throws', async () => {
  const stream = fullDisk();
  const writer = createStreamWriter(stream);
  writer.write('first line\n');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(writer.failure(), 'ENOSPC');
  for (let i = 0; i < 5; i++) writer.write(`line ${i}\n`);
  assert.equal(writer.dropped(), 6, 'the failed line and every line after it');
});

test('a log stream whose write throws at once is dropped too, never reaching the caller', () => {
  const stream = new Writable({ write() {} });
  stream.write = () => {
    throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' });
  };
  const logger = createStreamLogger(stream);
  assert.doesNotThrow(() => logger.error({ id: 'x' }, 'DELIVERY_CRASHED'));
  assert.equal(logger.droppedLines(), 1);
});

test('a stuck reader is given up to MAX_LOG_BUFFER_BYTES of lines, and the line beyond is dropped instead of growing the heap', () => {
  const stream = stuckReader();
  const writer = createStreamWriter(stream);
  const line = 'x'.repeat(1023) + '\n';
  for (let written = 0; written < MAX_LOG_BUFFER_BYTES; written += line.length) writer.write(line);
  assert.equal(stream.writableLength, MAX_LOG_BUFFER_BYTES);
  assert.equal(writer.dropped(), 0, 'exactly at the limit nothing is dropped');
  writer.write('one more\n');
  assert.equal(writer.dropped(), 1);
  assert.equal(stream.writableLength, MAX_LOG_BUFFER_BYTES);
  assert.equal(writer.failure(), null, 'a slow reader is not a failed stream');
});

test('a relay whose log disk is full still answers 250 and delivers, dropping its log lines', async () => {
  const sink = await Sink.start();
  const stream = fullDisk();
  const logger = createStreamLogger(stream);
  const relay = await startRelay(sink.port, {}, { logger });
  try {
    for (let i = 0; i < 3; i++) {
      const info = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`full disk ${i}`));
      assert.match(info.response, QUEUED);
    }
    await sink.waitFor(3);
    assert.ok(logger.droppedLines() >= 3, `dropped ${logger.droppedLines()} lines (one DELIVERED line a message at least)`);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('moat serve keeps answering 250 and delivering after the readers of its stdout and stderr have gone, and stops cleanly', async () => {
  const sink = await Sink.start();
  const dataDir = tempDir('moat-closed-stdio-');
  dirs.push(dataDir);
  try {
    const relay = await ServeProcess.start(['--data-dir', dataDir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${sink.port}`, '--admin-listen', '127.0.0.1:0']);
    serves.push(relay);
    // the terminal is closed, the `| logger` died: every log line from now on is written into a pipe with no reader
    relay.child.stdout!.destroy();
    relay.child.stderr!.destroy();
    for (let i = 0; i < 3; i++) {
      const info = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`no reader ${i}`));
      assert.match(info.response, QUEUED);
      await sink.waitFor(i + 1);
    }
    assert.ok(relay.running, 'the relay is still running');
    assert.deepEqual(await relay.stop('SIGTERM'), { code: 0, signal: null });
  } finally {
    await sink.stop();
  }
});

test('moat queue list piped into a reader that leaves after the first line exits 0 with nothing on stderr', async () => {
  const dataDir = tempDir('moat-epipe-');
  dirs.push(dataDir);
  const config = validateConfig({ domains: ['example.test'] });
  if (!config.ok) throw new Error(JSON.stringify(config.problems));
  const { db, queue } = openStore(dataDir, config.config, { info() {}, warn() {}, error() {} });
  const now = Date.now();
  queue.store.insertBatch(
    Array.from({ length: QUEUED_FOR_LONG_LIST }, (_, i) => ({
      id: newQueueId(now + i),
      receivedAt: now,
      clientIp: '192.0.2.1',
      helo: 'sender.test',
      sender: `sender${i}@sender.test`,
      size: 100,
      spoolBytes: 100,
      headerMessageId: null,
      subject: null,
      kind: 'mail' as const,
      recipients: Array.from({ length: RECIPIENTS_EACH }, (_, r) => ({ address: `recipient-${r}-of-${i}@example.test`, route: 'internal' as const })),
    })),
    [],
  );
  db.close();

  const child = spawn(process.execPath, ['--import', 'tsx', 'src-relay/moat.ts', 'queue', 'list', '--data-dir', dataDir, '--domain', 'example.test'], {
    cwd: REPO_ROOT,
    env: CLI_ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let firstLine = '';
  let stderr = '';
  // `| head -1`: read up to the first line, then close the pipe while the command is still writing
  child.stdout.on('data', (chunk: Buffer) => {
    if (firstLine) return;
    firstLine = chunk.toString('utf8').split('\n')[0]!;
    child.stdout.destroy();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  assert.match(firstLine, new RegExp(`^${QUEUED_FOR_LONG_LIST} message\\(s\\) queued`));
  assert.equal(stderr, '', 'no stack trace, no message');
  assert.deepEqual({ code, signal }, { code: 0, signal: null });
});

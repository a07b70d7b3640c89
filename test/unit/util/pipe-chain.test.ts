// pipeChain (util/pipe-chain.ts): stream.pipeline's contract without its per-call AbortController: resolves when the
// sink finishes; an error anywhere, a source closed early or the signal aborting rejects and destroys every stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import { pipeChain } from '../../../src-relay/util/pipe-chain.ts';

function collector(): { sink: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { sink, text: () => Buffer.concat(chunks).toString() };
}

const upper = () =>
  new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, chunk.toString().toUpperCase());
    },
  });

test('pipe chain: the source reaches the sink through the transforms, and the signal is let go of', async () => {
  const { sink, text } = collector();
  const controller = new AbortController();
  await pipeChain([Readable.from(['abc', 'def']), upper(), sink], controller.signal);
  assert.equal(text(), 'ABCDEF');
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

test('pipe chain: an error in the middle rejects with that error and destroys every stream', async () => {
  const source = new PassThrough();
  const broken = new Transform({
    transform(_chunk, _encoding, callback) {
      callback(new Error('bad bytes'));
    },
  });
  const { sink } = collector();
  const controller = new AbortController();
  const chained = pipeChain([source, broken, sink], controller.signal);
  source.write('x');
  await assert.rejects(chained, /bad bytes/);
  assert.ok(source.destroyed && broken.destroyed && sink.destroyed);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

test('pipe chain: a source destroyed before its end (client gone) rejects, never resolves as complete', async () => {
  const source = new PassThrough();
  const { sink } = collector();
  const chained = pipeChain([source, sink]);
  source.write('half a message');
  source.destroy();
  await assert.rejects(chained, /closed before its end/);
  assert.ok(sink.destroyed);
});

test('pipe chain: the signal aborting midway rejects with an AbortError carrying the reason, and destroys every stream', async () => {
  const source = new PassThrough();
  const { sink } = collector();
  const controller = new AbortController();
  const chained = pipeChain([source, upper(), sink], controller.signal);
  source.write('part');
  const reason = new Error('deadline');
  controller.abort(reason);
  await assert.rejects(chained, (error: Error) => error.name === 'AbortError' && error.cause === reason);
  assert.ok(source.destroyed && sink.destroyed);
});

test('pipe chain: a signal aborted already rejects at once and reads nothing', async () => {
  let read = false;
  const source = new Readable({
    read() {
      read = true;
      this.push(null);
    },
  });
  const { sink } = collector();
  await assert.rejects(pipeChain([source, sink], AbortSignal.abort()), { name: 'AbortError' });
  assert.equal(read, false);
  assert.ok(source.destroyed && sink.destroyed);
});

test('pipe chain: a source destroyed before the call (client gone while the spool file opened) rejects at once', async () => {
  const source = new PassThrough();
  source.destroy();
  await new Promise(setImmediate); // its 'close' has been emitted, as while the relay awaited the spool file
  const { sink } = collector();
  await assert.rejects(pipeChain([source, sink]), /closed before its end/);
  assert.ok(sink.destroyed);
});

test('pipe chain: a source that failed before the call rejects with its error', async () => {
  const source = new PassThrough();
  source.on('error', () => {});
  source.destroy(new Error('reset by peer'));
  await new Promise(setImmediate);
  await assert.rejects(pipeChain([source, collector().sink]), /reset by peer/);
});

test('pipe chain: a middle stream or the sink destroyed without an error rejects, never waits forever', async () => {
  for (const which of ['middle', 'sink'] as const) {
    const source = new PassThrough();
    const middle = upper();
    const { sink } = collector();
    const chained = pipeChain([source, middle, sink]);
    source.write('part');
    (which === 'middle' ? middle : sink).destroy();
    await assert.rejects(chained, /closed before its end/, which);
    assert.ok(source.destroyed, `${which}: the source is destroyed too`);
  }
});

test('pipe chain: a stream that emits a second error after the chain failed does not reach the process', async () => {
  const source = new PassThrough();
  const { sink } = collector();
  const chained = pipeChain([source, sink]);
  source.emit('error', new Error('first'));
  source.emit('error', new Error('second'));
  await assert.rejects(chained, /first/);
});

import type { Readable, Writable } from 'node:stream';

/**
 * Pipes source through transforms into a sink and resolves when the sink has finished; any stream's error, or
 * `signal` aborting, rejects and destroys the rest. stream.pipeline does the same but makes an AbortController and an
 * AbortError (a captured stack) per call, a measurable cost on the per-message path.
 */
export function pipeChain(streams: [Readable, ...(Readable | Writable)[]], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = () => {
      settled = true;
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error) => {
      if (settled) return;
      done();
      for (const stream of streams) if (!stream.destroyed) stream.destroy();
      reject(error);
    };
    // named as stream.pipeline names it, so callers tell a stop from a broken stream the same way
    const onAbort = () => fail(Object.assign(new Error('the operation was aborted', { cause: signal?.reason }), { name: 'AbortError', code: 'ABORT_ERR' }));
    for (const stream of streams) stream.once('error', fail);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    for (let i = 1; i < streams.length; i++) (streams[i - 1] as Readable).pipe(streams[i] as Writable);
    const sink = streams[streams.length - 1] as Writable;
    sink.once('finish', () => {
      if (settled) return;
      done();
      resolve();
    });
    // a source destroyed without an error (client gone) never ends the chain: treat as a failure
    streams[0].once('close', () => {
      if (!(streams[0] as Readable).readableEnded) fail(new Error('the message stream closed before its end'));
    });
  });
}

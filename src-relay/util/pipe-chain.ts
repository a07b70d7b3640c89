import type { Readable, Writable } from 'node:stream';

/**
 * Pipes source through transforms into a sink and resolves when the sink has finished. Any stream's error, any
 * stream closing before its end (a client gone: smtp-server destroys the DATA stream without an error, possibly
 * before this is called), or `signal` aborting rejects and destroys the rest. stream.pipeline does the same but
 * makes an AbortController and an AbortError (a captured stack) per call, a measurable cost on the per-message path.
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
    const last = streams.length - 1;
    const completed = (i: number) => (i === last ? (streams[i] as Writable).writableFinished : (streams[i] as Readable).readableEnded);
    const closedEarly = (i: number) =>
      fail((streams[i] as Readable).errored ?? Object.assign(new Error('the message stream closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    for (let i = 0; i < streams.length; i++) {
      // `on`, not `once`: a stream that errors twice must not reach the process with its second error
      streams[i]!.on('error', fail);
      streams[i]!.once('close', () => {
        if (!completed(i)) closedEarly(i);
      });
    }
    for (let i = 0; i < streams.length; i++) if (streams[i]!.destroyed && !completed(i)) return closedEarly(i);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    for (let i = 1; i < streams.length; i++) (streams[i - 1] as Readable).pipe(streams[i] as Writable);
    (streams[last] as Writable).once('finish', () => {
      if (settled) return;
      done();
      resolve();
    });
  });
}

import type { Readable, Writable } from 'node:stream';

/**
 * Pipes source through transforms into a sink and resolves when the sink has finished; any stream's error rejects and
 * destroys the rest. stream.pipeline does the same but makes an AbortController and an AbortError per call, a
 * measurable cost on the per-message path.
 */
export function pipeChain(streams: [Readable, ...(Readable | Writable)[]]): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      for (const stream of streams) if (!stream.destroyed) stream.destroy();
      reject(error);
    };
    for (let i = 0; i < streams.length; i++) {
      const stream = streams[i]!;
      stream.once('error', fail);
      if (i > 0) (streams[i - 1] as Readable).pipe(stream as Writable);
    }
    const sink = streams[streams.length - 1] as Writable;
    sink.once('finish', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
    // a source destroyed without an error (client gone) never ends the chain: treat as a failure
    streams[0].once('close', () => {
      if (!(streams[0] as Readable).readableEnded) fail(new Error('the message stream closed before its end'));
    });
  });
}

import { Transform, type TransformCallback } from 'node:stream';

/** One step over a message's bytes on their way to the spool. */
export interface ChunkStage {
  /** What to pass on of `chunk` (undefined or empty: nothing, for now or for good). */
  push(chunk: Buffer): Buffer | undefined;
  /** The content has ended: what is left to pass on. */
  end(): Buffer | undefined;
}

/**
 * Runs `stages` in turn over each chunk, in one Transform. A stream per stage would cost, per message on the SMTP
 * thread, a stream and a pipe each: their states, listeners and closures, most of them outliving a young collection.
 */
export class StageChain extends Transform {
  constructor(private readonly stages: readonly ChunkStage[]) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let data: Buffer | undefined = chunk;
    for (let i = 0; i < this.stages.length && data?.length; i++) data = this.stages[i]!.push(data);
    callback(null, data?.length ? data : undefined);
  }

  override _flush(callback: TransformCallback): void {
    // what a stage holds at the end still goes through the stages after it, and then they end
    let carried: Buffer | undefined;
    for (const stage of this.stages) {
      const passed = carried?.length ? stage.push(carried) : undefined;
      const rest = stage.end();
      carried = passed?.length && rest?.length ? Buffer.concat([passed, rest]) : passed?.length ? passed : rest;
    }
    callback(null, carried?.length ? carried : undefined);
  }
}

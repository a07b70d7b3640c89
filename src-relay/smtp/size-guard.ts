import type { ChunkStage } from './stage-chain.ts';

/** Drops everything once smtp-server has flagged the message as over the size limit: it is refused, never buffered. */
export class SizeGuard implements ChunkStage {
  constructor(private readonly exceeded: () => boolean) {}

  push(chunk: Buffer): Buffer | undefined {
    return this.exceeded() ? undefined : chunk;
  }

  end(): undefined {
    return undefined;
  }
}

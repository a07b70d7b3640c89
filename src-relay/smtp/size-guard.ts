import { Transform, type TransformCallback } from 'node:stream';

/** Drops everything once smtp-server has flagged the message as over the size limit: it is refused, never buffered. */
export class SizeGuard extends Transform {
  constructor(private readonly exceeded: () => boolean) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, this.exceeded() ? undefined : chunk);
  }
}

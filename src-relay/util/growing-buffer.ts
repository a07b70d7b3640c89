/**
 * `bytes` written after the first `used` bytes of `buffer`: in it when they fit, else in a new buffer twice as large
 * (at most `max` bytes, which the caller keeps `used + bytes.length` within). Many small pieces cost one buffer, not
 * a Buffer each (an object a piece: over 100 bytes each), and keep no view of the chunks they came in. Returns the
 * buffer that now holds them. Never from Node's shared pool, whose 8 KB slab a small view would keep alive.
 */
export function appendGrowing(buffer: Buffer, used: number, bytes: Buffer, max: number): Buffer {
  const needed = used + bytes.length;
  if (needed > buffer.length) {
    const grown = Buffer.allocUnsafeSlow(Math.min(max, Math.max(needed, buffer.length * 2, MIN_BYTES)));
    buffer.copy(grown, 0, 0, used);
    buffer = grown;
  }
  bytes.copy(buffer, used);
  return buffer;
}

const MIN_BYTES = 256;

import type { ChunkStage } from './stage-chain.ts';

const CR = 0x0d;
const LF = 0x0a;

/**
 * Rewrites every bare CR and bare LF in message content to CRLF, so that what reaches the internal server has one
 * kind of line ending only and nothing in it can be read as an end of DATA by a more lenient parser (SMTP smuggling).
 * End of DATA itself is recognised by smtp-server only as CRLF.CRLF; a `\n.\n` inside the content becomes a line
 * holding a single dot, which nodemailer dot-stuffs on the way out.
 */
export class LineEndingNormalizer implements ChunkStage {
  /** Bare CR or LF seen (and rewritten) so far. */
  bareLineEndings = 0;
  private pendingCR = false;

  push(chunk: Buffer): Buffer | undefined {
    // an empty chunk says nothing about whether a pending CR is followed by LF; judging it here would double the CRLF
    if (chunk.length === 0) return undefined;
    // the usual chunk, its lines already ended by CRLF, goes on as it is: no copy, no walk byte by byte
    if (!this.pendingCR && crlfOnly(chunk)) return chunk;
    const out = Buffer.allocUnsafe(chunk.length * 2 + 2);
    let length = 0;
    let start = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      out[length++] = CR;
      out[length++] = LF;
      if (chunk[0] === LF) start = 1;
      else this.bareLineEndings++;
    }
    for (let i = start; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === CR) {
        if (i + 1 === chunk.length) {
          this.pendingCR = true;
        } else {
          out[length++] = CR;
          out[length++] = LF;
          if (chunk[i + 1] === LF) i++;
          else this.bareLineEndings++;
        }
      } else if (byte === LF) {
        out[length++] = CR;
        out[length++] = LF;
        this.bareLineEndings++;
      } else {
        out[length++] = byte;
      }
    }
    return out.subarray(0, length);
  }

  end(): Buffer | undefined {
    if (!this.pendingCR) return undefined;
    this.bareLineEndings++;
    this.pendingCR = false;
    return Buffer.from('\r\n');
  }
}

/** Whether every CR of the chunk is followed by LF in it and every LF preceded by CR (a CR at its end is not). */
function crlfOnly(chunk: Buffer): boolean {
  for (let cr = chunk.indexOf(CR); cr !== -1; cr = chunk.indexOf(CR, cr + 2)) if (chunk[cr + 1] !== LF) return false;
  for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, lf + 1)) if (lf === 0 || chunk[lf - 1] !== CR) return false;
  return true;
}

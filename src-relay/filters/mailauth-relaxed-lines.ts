// mailauth's relaxed body hash (RelaxedHash.update in dkim/body/relaxed.js, mailauth 4.13.3, pinned) keeps the
// unfinished line of each chunk and joins it to the next chunk, scanning it again from its start: a line spread over
// n chunks costs n²/2 chunks of scanning. One 24 MB line without a break (nothing in SMTP forbids it) held the
// filter thread for seconds per signature. A chunk with no line feed changes nothing in the hash (mailauth only keeps
// it), so it is held here and joined once, when the line ends: the same bytes reach the same code, once.

const LF = 0x0a;

/** The parts of mailauth's RelaxedHash the change uses, and what it keeps on it. */
interface HashState {
  byteLength: number;
  maxSizeReached: boolean;
  moatHeld?: Buffer[];
  moatHeldBytes?: number;
}
type Update = (chunk: Buffer | null | undefined, final?: boolean) => void;

/** Puts the change into RelaxedHash.prototype; returns the update it wraps. */
export function installRelaxedLines(prototype: { update: Update }): Update {
  const original = prototype.update;
  prototype.update = function update(this: HashState, chunk: Buffer | null | undefined, final?: boolean): void {
    if (!final && chunk && chunk.length > 0 && !this.maxSizeReached && !chunk.includes(LF)) {
      // counted as mailauth counts every chunk it is given
      this.byteLength += chunk.length;
      (this.moatHeld ??= []).push(chunk);
      this.moatHeldBytes = (this.moatHeldBytes ?? 0) + chunk.length;
      return;
    }
    const held = this.moatHeld;
    if (held?.length) {
      this.moatHeld = [];
      // mailauth counts the joined chunk again
      this.byteLength -= this.moatHeldBytes ?? 0;
      this.moatHeldBytes = 0;
      chunk = Buffer.concat(chunk ? [...held, chunk] : held);
    }
    original.call(this, chunk, final);
  };
  return original;
}

// mailauth's DKIM parser finds the end of a message's header block by pushing every header byte onto an array and
// copying its last four bytes into a new array each time: about 70% of what a DKIM check allocates (a 4 KB message
// with a 1 KB header: 0.33 MB), and so most of its garbage collection. This scan finds the same end with indexOf over
// each chunk. It replaces MessageParser.prototype.processChunk (mailauth 4.13.3, pinned; mailauth 7.1.0 still scans
// byte by byte), keeping everything else that method does; test/unit/filters/mailauth-header-scan.test.ts checks
// both against each other on every way of cutting a set of messages into chunks.

const LF = 0x0a;
const CR = 0x0d;

/**
 * Where the header block ends in `chunk`: the index of the LF of the first empty line ("\n\n" or "\n\r\n"), or -1.
 * `before` holds the last bytes of the earlier chunks (at most four, oldest first), for an end cut across chunks.
 */
export function headerEnd(chunk: Uint8Array, before: readonly number[]): number {
  for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
    const b1 = i >= 1 ? chunk[i - 1] : before[before.length - 1];
    const b2 = i >= 2 ? chunk[i - 2] : i === 1 ? before[before.length - 1] : before[before.length - 2];
    if (b1 === LF || (b1 === CR && b2 === LF)) return i;
  }
  return -1;
}

/** The last four bytes of `before` followed by `seen`, as mailauth keeps them. */
function lastBytes(before: readonly number[], seen: Uint8Array): number[] {
  return [...before, ...seen.subarray(Math.max(0, seen.length - 4))].slice(-4);
}

/** The parts of mailauth's MessageParser the scan uses. */
interface ParserState {
  state: 'header' | 'body';
  stateBytes: number[];
  headerChunks: Buffer[];
  headers: unknown;
  messageHeaders(headers: unknown): Promise<void>;
  nextChunk(chunk: Buffer): Promise<void>;
}

/**
 * Puts the scan into mailauth's MessageParser prototype (the DKIM verifier's and signer's base class); returns the
 * method it replaced. `parseHeaders` is mailauth's own (tools.js), as the original calls it.
 */
export function installHeaderScan(prototype: { processChunk: (chunk: Buffer) => Promise<void> }, parseHeaders: (block: Buffer) => unknown): (chunk: Buffer) => Promise<void> {
  const original = prototype.processChunk;
  prototype.processChunk = async function processChunk(this: ParserState, chunk: Buffer): Promise<void> {
    if (!chunk || !chunk.length) return;
    if (this.state === 'header') {
      const end = headerEnd(chunk, this.stateBytes);
      this.stateBytes = lastBytes(this.stateBytes, end === -1 ? chunk : chunk.subarray(0, end + 1));
      if (end === -1) {
        this.headerChunks.push(chunk);
        return;
      }
      this.state = 'body';
      this.headerChunks.push(end === chunk.length - 1 ? chunk : chunk.slice(0, end + 1));
      this.headers = parseHeaders(Buffer.concat(this.headerChunks));
      await this.messageHeaders(this.headers);
      if (end === chunk.length - 1) return;
      chunk = chunk.slice(end + 1);
    }
    await this.nextChunk(chunk);
  };
  return original;
}

// mailsplit's Splitter with five changes (and a sixth, to its Headers, in mailsplit-encoding.ts): the lines of a chunk are split in one synchronous pass, a header block's
// lines are counted (maxHeadLines), a line longer than maxLineBytes stops the walk, a boundary line may end in spaces
// or tabs and one ending in other white space stops the walk (compareBoundary), and a boundary of a multipart further
// out than the parent stops the walk (checkBoundary).
//
// mailsplit 5.4.6 (Andris Reinman; MIT or EUPL-1.1+, used here under MIT) hands each line to processLine and
// continues with setImmediate, so every line of a message waits one turn of the event loop: a 4 KB message took
// about 70 turns, and under load each turn serves every other session first. Its processLine always answers
// synchronously, so the port below loops instead; the rest is mailsplit's _transform as it is (mailsplit's version
// is pinned exactly for this), with the line end found by indexOf. test/unit/filters/mime-splitter.test.ts compares
// both splitters' output on every cut of a set of messages. A chunk is one read of the spool file (at most 256 KB)
// or at most 64 KB of an attached message's decoded content (mime.ts), so a pass is short.
import { Splitter, type MimeNode } from 'mailsplit';
import MailsplitHeaders from 'mailsplit/lib/headers.js';
import { installLinearEncoding } from './mailsplit-encoding.ts';

// every part's Content-Transfer-Encoding read in one pass (mailsplit-encoding.ts); before any splitter runs
installLinearEncoding(MailsplitHeaders.prototype);

/** What C's isspace() takes for white space: tab, line feed, vertical tab, form feed, carriage return, space. */
const C_SPACES: ReadonlySet<number> = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]);

/** mailsplit's state while it reads a node's header block (message-splitter.js: HEAD). */
const HEAD = 0x01;

type Group = { type: 'none' | 'node' | 'body' | 'data'; node?: MimeNode; value?: Buffer };
type LineCallback = (err?: Error | null, data?: Group | MimeNode | false, flush?: boolean) => void;
interface SplitterInternals {
  state: number;
  node: MimeNode;
  line: Buffer | false;
  hasFailed: boolean;
  processLine(line: Buffer, final: boolean, next: LineCallback): void;
  push(chunk: unknown): boolean;
}

export interface MimeSplitterConfig {
  maxHeadSize?: number;
  maxChildNodes?: number;
  /**
   * Lines in one node's header block. mailsplit (and mailauth, for the message's own block) join folded lines in
   * time that grows with the square of their number: 40,000 lines took 8 s here, and the event loop waits for it.
   */
  maxHeadLines?: number;
  /** Bytes of one line before its line feed; past it the walk fails (EMAXLEN): an unfinished line is held whole. */
  maxLineBytes?: number;
}

export class MimeSplitter extends Splitter {
  private readonly maxHeadLines: number;
  private readonly maxLineBytes: number;
  /** Bytes of the unfinished line read so far (maxLineBytes). */
  private lineBytes = 0;
  private countedNode: MimeNode | null = null;
  private headLines = 0;

  constructor(config: MimeSplitterConfig = {}) {
    super({ maxHeadSize: config.maxHeadSize, maxChildNodes: config.maxChildNodes });
    this.maxHeadLines = config.maxHeadLines ?? Infinity;
    this.maxLineBytes = config.maxLineBytes ?? Infinity;
  }

  /** Counts a line mailsplit is about to read into a header block; false past the limit. */
  private headLineAllowed(self: SplitterInternals): boolean {
    if (self.state !== HEAD) return true;
    if (self.node !== this.countedNode) {
      this.countedNode = self.node;
      this.headLines = 0;
    }
    return ++this.headLines <= this.maxHeadLines;
  }

  /**
   * mailsplit's boundary test with RFC 2046 5.1.1's transport padding: spaces and tabs after the boundary (and after
   * the closing "--") are allowed, as mail programs read them. mailsplit took such a line for content, so a part it
   * opened (an .exe) was read as text of the part before and never checked, while the internal server saw the part.
   * 1: the next part; 2: the end of the multipart (also a boundary line with no line end, as mailsplit has it).
   */
  compareBoundary(line: Buffer, startpos: number, boundary: Buffer): 1 | 2 | false {
    const from = startpos + 2;
    if (line.length < from + boundary.length) return false;
    for (let i = 0; i < boundary.length; i++) if (line[from + i] !== boundary[i]) return false;
    let at = from + boundary.length;
    let end = false;
    if (line[at] === 0x2d) {
      if (line[at + 1] !== 0x2d) return false;
      end = true;
      at += 2;
    }
    const rest = at;
    while (line[at] === 0x20 || line[at] === 0x09) at++;
    if (at === line.length) return 2;
    if (line[at] === 0x0d) at++;
    if (line[at] === 0x0a) at++;
    if (at === line.length) return end ? 2 : 1;
    // Thunderbird ends a boundary line at any C isspace() (a form feed, a vertical tab, a CR before the CRLF), RFC
    // 2046 and mailsplit only at spaces and tabs: one reader splits a part there, the other reads on as content.
    // Not guessed at: the message stops here, unchecked (a line of mail with such bytes after a boundary is no real one).
    let space = rest;
    while (space < line.length && C_SPACES.has(line[space]!)) space++;
    if (space === line.length) this.ambiguous = 'a boundary line ending in a form feed, vertical tab or other white space that mail programs read differently (ambiguous MIME)';
    return false;
  }

  /**
   * mailsplit's test for the boundaries of the node and of its parent, and then of every multipart further out: one
   * of those inside a part that was never closed would end that part for a mail program, while mailsplit reads on as
   * content (a program after it went unchecked). Such a message is not read further (`ambiguous`): not checked.
   */
  checkBoundary(line: Buffer): number | false {
    const found = (Splitter.prototype as unknown as { checkBoundary(this: Splitter, line: Buffer): number | false }).checkBoundary.call(this, line);
    if (found !== false) return found;
    const self = this as unknown as SplitterInternals;
    const startpos = line[0] === 0x0d || line[0] === 0x0a ? (line[1] === 0x0a ? 2 : 1) : 0;
    if (line[startpos] !== 0x2d || line[startpos + 1] !== 0x2d) return false;
    const parent = self.node.parentNode;
    for (let outer = parent ? parent.parentNode : false; outer; outer = outer.parentNode) {
      const boundary = (outer as unknown as { _boundary?: Buffer })._boundary;
      if (boundary && this.compareBoundary(line, startpos, boundary)) {
        this.ambiguous = 'a boundary of an enclosing multipart inside a part that was never closed (ambiguous MIME)';
        return false;
      }
    }
    return false;
  }

  private lineTooLong(): Error {
    return Object.assign(new Error(`Max line length of ${this.maxLineBytes} bytes exceeded`), { code: 'EMAXLEN' });
  }

  /** Why the message cannot be read unambiguously, once a line showed it (checkBoundary); the walk stops there. */
  private ambiguous: string | null = null;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    const self = this as unknown as SplitterInternals;
    let pos = 0;
    let i = 0;
    let group: Group = { type: 'none' };
    let groupstart = self.line ? -self.line.length : 0;
    let groupend = 0;

    const checkTrailingLinebreak = (data: Group): void => {
      if (data.type === 'body' && data.node?.parentNode && data.value && data.value.length) {
        if (data.value[data.value.length - 1] === 0x0a) {
          groupstart--;
          groupend--;
          pos--;
          if (data.value.length > 1 && data.value[data.value.length - 2] === 0x0d) {
            groupstart--;
            groupend--;
            pos--;
            if (groupstart < 0 && !self.line) {
              // store only <CR> as <LF> should be on the positive side
              self.line = Buffer.from([0x0d]);
            }
            data.value = data.value.subarray(0, data.value.length - 2);
          } else {
            data.value = data.value.subarray(0, data.value.length - 1);
          }
        } else if (data.value[data.value.length - 1] === 0x0d) {
          groupstart--;
          groupend--;
          pos--;
          data.value = data.value.subarray(0, data.value.length - 1);
        }
      }
    };

    /** mailsplit's body ranges leave out the line end before a boundary. */
    const trimBodyEnd = (): void => {
      if (group.type === 'body' && groupend >= groupstart && group.node?.parentNode) {
        if (chunk[groupend - 1] === 0x0a) {
          groupend--;
          if (groupend >= groupstart && chunk[groupend - 1] === 0x0d) groupend--;
        }
      }
    };

    let failed: Error | null = null;
    let answered = false;
    const take: LineCallback = (err, found, flush) => {
      if (answered || failed) return; // a late or second answer: this chunk has already failed
      answered = true;
      if (err) {
        failed = err;
        return;
      }
      const data = found as Group | false | undefined;
      if (!data) return;
      if (flush) {
        if (group && group.type !== 'none') {
          trimBodyEnd();
          if (groupstart !== groupend) {
            group.value = chunk.subarray(groupstart, groupend);
            if (groupend < i) data.value = chunk.subarray(groupend, i);
          }
          self.push(group);
          group = { type: 'none' };
          groupstart = groupend = i;
        }
        self.push(data);
        groupend = i;
        return;
      }
      if (data.type === group.type) {
        // shift slice end position forward
        groupend = i;
        return;
      }
      trimBodyEnd();
      if (group.type !== 'none' && group.type !== 'node') {
        // we have a previous data/body chunk to output
        if (groupstart !== groupend) {
          group.value = chunk.subarray(groupstart, groupend);
          if (group.value.length) {
            self.push(group);
            group = { type: 'none' };
          }
        }
      }
      if (data.type === 'node') {
        self.push(data);
        groupstart = i;
        groupend = i;
      } else if (groupstart < 0) {
        groupstart = i;
        groupend = i;
        checkTrailingLinebreak(data);
        if (data.value && data.value.length) self.push(data);
      } else {
        // start new body/data chunk
        group = data;
        groupstart = groupend;
        groupend = i;
      }
    };

    // each line's bytes before its line feed, counted on the input itself (mailsplit's held line may carry the line
    // end before it); the first line of a chunk goes on from the chunks before
    let lineStart = 0;
    for (let lf = chunk.indexOf(0x0a, i); lf !== -1; lf = chunk.indexOf(0x0a, i)) {
      const start = Math.max(pos, 0);
      pos = i = lf + 1;
      const lineBytes = this.lineBytes + lf - lineStart;
      this.lineBytes = 0;
      lineStart = lf + 1;
      if (lineBytes > this.maxLineBytes) {
        failed = this.lineTooLong();
      } else if (!this.headLineAllowed(self)) {
        failed = Object.assign(new Error('Max header lines for a MIME node exceeded'), { code: 'EMAXLEN' });
      } else {
        answered = false;
        self.processLine(chunk.subarray(start, i), false, take);
        // a mailsplit that answers later than this is not the one ported here: the walk fails (closed), never guesses
        if (!answered) failed = new Error('mailsplit answered a line asynchronously: MimeSplitter needs the mailsplit version it was written for');
        if (this.ambiguous) failed = new Error(this.ambiguous);
      }
      if (failed) {
        self.hasFailed = true;
        const err = failed;
        setImmediate(() => callback(err));
        return;
      }
    }
    i = chunk.length;

    // skip last linebreak for body
    if (pos >= groupstart + 1 && group.type === 'body' && group.node?.parentNode) {
      if (chunk[pos - 1] === 0x0a) {
        pos--;
        if (pos >= groupstart && chunk[pos - 1] === 0x0d) pos--;
      }
    }
    if (group.type !== 'none' && group.type !== 'node' && pos > groupstart) {
      // we have a leftover data/body chunk to push out
      group.value = chunk.subarray(groupstart, pos);
      if (group.value.length) {
        self.push(group);
        group = { type: 'none' };
      }
    }
    this.lineBytes += chunk.length - lineStart;
    if (pos < chunk.length) {
      if (this.lineBytes > this.maxLineBytes) {
        self.hasFailed = true;
        const err = this.lineTooLong();
        setImmediate(() => callback(err));
        return;
      }
      self.line = self.line ? Buffer.concat([self.line, chunk.subarray(pos)]) : chunk.subarray(pos);
    }
    callback();
  }
}

// A gzip attachment holds one file, which Windows 11 and every archive program open: the name it is saved under
// ("invoice.exe.gz" gives "invoice.exe", or the name in the gzip header) and what its first bytes say it is are
// checked like an attachment's. The start is inflated from at most GZIP_INFLATE_INPUT_BYTES of input; a gzip seen
// whole is followed to the end of its members. gunzip joins the members of a gzip into that one file (RFC 1952
// 2.2), so an empty or short first member would hide the file's start: a gzip of more than one member is not
// checked, and the joined start is still judged (a program in it is refused).
import { constants, inflateRawSync } from 'node:zlib';
import { windowsName } from './attachments.ts';
import { detectFileType, MAGIC_HEAD_BYTES } from './file-type.ts';
import { holdsZipEnd, MAX_INFLATE_BYTES, newInflateBudget, type InflateBudget } from './zip.ts';

/** Compressed bytes inflated to see what the file inside starts with: at most about 1 MB out (deflate's ratio). */
export const GZIP_INFLATE_INPUT_BYTES = 1024;
/**
 * Bytes inflated to follow the members of a gzip to their ends within the part's first MAGIC_HEAD_BYTES: a file of
 * a few MiB packed into 36 KiB is no document anyone mails; past it the gzip is not checked, as its end (and what
 * follows it) cannot be seen without inflating more. The message's inflate budget (zip.ts) bounds them all.
 */
export const GZIP_INFLATE_OUTPUT_BYTES = 4 * 1024 * 1024;
/**
 * What the file inside must show of its start from that input, unless the gzip ends before: enough for a program's
 * PE header and a tar's magic. Less (empty stored blocks) would hide the start: not checked.
 */
const MIN_START_BYTES = 512;
/** Longest name read from the gzip header (RFC 1952 FNAME, zero-terminated). */
const MAX_NAME_BYTES = 1024;
/** CRC32 and ISIZE after each member's deflate data (RFC 1952 2.3.1). */
const TRAILER_BYTES = 8;

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

export interface GzipContent {
  /** The names the file inside may be saved under. */
  names: string[];
  /** What its first bytes say it is (detectFileType); null when not recognised. */
  innerType: string | null;
  /** Why it could not be read (damaged header or data); null when it was. */
  problem: string | null;
}

/**
 * The file inside a gzip of `size` bytes whose first bytes are `head` (all of it when `size` is not larger),
 * attached under `outerNames`; `budget` is the message's inflate allowance, shared with its zips.
 */
export function inspectGzip(head: Buffer, outerNames: readonly string[], size = head.length, budget: InflateBudget = newInflateBudget()): GzipContent {
  const names = outerNames.map(innerName).filter((name): name is string => name !== null);
  const fail = (problem: string, innerType: string | null = null): GzipContent => ({ names: [...new Set(names)], innerType, problem });
  const header = readHeader(head, 0);
  if (typeof header === 'string') return fail(header);
  if (header.name !== null) names.push(header.name);
  const at = header.dataStart;
  let start: Buffer;
  try {
    start = inflateRawSync(head.subarray(at, at + GZIP_INFLATE_INPUT_BYTES), { finishFlush: constants.Z_SYNC_FLUSH });
  } catch (error) {
    return fail(`damaged gzip data (${(error as Error).message})`);
  }
  if (start.length < MIN_START_BYTES && head.length - at > GZIP_INFLATE_INPUT_BYTES) {
    return fail(`what the gzip holds does not start within its first ${GZIP_INFLATE_INPUT_BYTES} bytes`);
  }
  const members = followMembers(head, size, names, budget);
  if (members === null) return { names: [...new Set(names)], innerType: detectFileType(start), problem: null };
  // what gunzip writes: the members joined; a zip at its end behind other data is opened by unzip all the same
  const type = detectFileType(members.content.subarray(0, MAGIC_HEAD_BYTES)) ?? (members.whole && holdsZipEnd(members.content) ? 'zip' : null);
  if (members.problem) return fail(members.problem, type);
  return { names: [...new Set(names)], innerType: type, problem: null };
}

/** A member's header at `offset`: where its deflate data starts and the name it gives its file; or why it is damaged. */
function readHeader(head: Buffer, offset: number): { dataStart: number; name: string | null } | string {
  if (head.length < offset + 10 || head[offset] !== 0x1f || head[offset + 1] !== 0x8b) return 'not a gzip file';
  if (head[offset + 2] !== 8) return `an unknown gzip compression method (${head[offset + 2]})`;
  const flags = head[offset + 3]!;
  let at = offset + 10;
  let name: string | null = null;
  if (flags & FEXTRA) {
    if (at + 2 > head.length) return 'a damaged gzip header';
    at += 2 + head.readUInt16LE(at);
  }
  if (flags & FNAME) {
    const end = head.indexOf(0, at);
    if (end === -1 || end - at > MAX_NAME_BYTES) return 'a damaged gzip header (its file name does not end)';
    // RFC 1952: ISO 8859-1
    name = head.toString('latin1', at, end).replace(/[\\/]+$/, '');
    at = end + 1;
  }
  if (flags & FCOMMENT) {
    const end = head.indexOf(0, at);
    if (end === -1) return 'a damaged gzip header (its comment does not end)';
    at = end + 1;
  }
  if (flags & FHCRC) at += 2;
  if (at > head.length) return 'a damaged gzip header';
  return { dataStart: at, name };
}

/**
 * The members of a gzip followed to their ends, their content joined as gunzip writes it (`whole`: all of it), and
 * why the gzip is not checked (more than one member, data after it, cut short, too much to inflate); null when its
 * first member runs past `head` (a large gzip: its start is judged alone). Names in later headers join `names`.
 */
function followMembers(head: Buffer, size: number, names: string[], budget: InflateBudget): { content: Buffer; whole: boolean; problem: string | null } | null {
  const seenWhole = size <= head.length;
  const pieces: Buffer[] = [];
  let inflated = 0;
  let problem: string | null = null;
  const done = (whole: boolean) => ({ content: Buffer.concat(pieces), whole, problem });
  for (let offset = 0, count = 1; ; count++) {
    const header = readHeader(head, offset);
    if (typeof header === 'string') {
      problem ??= `member ${count} of the gzip: ${header}`;
      return done(false);
    }
    if (header.name !== null) names.push(header.name);
    let member: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      const allowed = Math.min(GZIP_INFLATE_OUTPUT_BYTES - inflated, budget.bytes);
      member = inflateRawSync(head.subarray(header.dataStart), { info: true, maxOutputLength: Math.max(1, allowed) }) as unknown as typeof member;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        problem ??=
          budget.bytes < GZIP_INFLATE_OUTPUT_BYTES - inflated
            ? `the gzip is not followed to its end: the message used up its ${MAX_INFLATE_BYTES} bytes for archives`
            : `the gzip holds more than ${GZIP_INFLATE_OUTPUT_BYTES} bytes in its first ${head.length} (too much to follow to its end)`;
        return done(false);
      }
      // the member goes on past what was kept of a large gzip: only its start is seen
      if (count === 1 && !seenWhole) return null;
      problem ??= seenWhole ? `damaged gzip data (${(error as Error).message})` : 'a gzip of more than one member (gunzip joins them into one file)';
      return done(false);
    }
    pieces.push(member.buffer);
    inflated += member.buffer.length;
    budget.bytes -= member.buffer.length;
    const end = header.dataStart + member.engine.bytesWritten + TRAILER_BYTES;
    if (end === size) return done(true);
    const rest = head.subarray(Math.min(end, head.length));
    // gzip -d reads zero bytes after the last member as padding (tape blocks)
    if (seenWhole && end < size && rest.every((byte) => byte === 0)) return done(true);
    if (end > size) {
      problem ??= 'a gzip cut short (its last member has no trailer)';
      return done(true);
    }
    if (rest.length < 2 || rest[0] !== 0x1f || rest[1] !== 0x8b) {
      problem ??= seenWhole ? 'data after the end of the gzip (gunzip may read it as another member)' : 'a gzip of more than one member, or data after it (gunzip joins them into one file)';
      return done(false);
    }
    problem ??= 'a gzip of more than one member (gunzip joins them into one file, whose start may be in any of them)';
    offset = end;
  }
}

/** "report.xml.gz" → "report.xml", "backup.tgz" → "backup.tar"; null for a name that says nothing of what is inside. */
function innerName(name: string): string | null {
  const match = /^(.*?)(\.gz|\.gzip|\.tgz|\.taz)$/i.exec(windowsName(name));
  if (!match || !match[1]) return null;
  return /\.t(gz|az)/i.test(match[2]!) ? `${match[1]}.tar` : match[1];
}

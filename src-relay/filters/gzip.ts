// A gzip attachment holds one file, which Windows 11 and every archive program open: the name it is saved under
// ("invoice.exe.gz" gives "invoice.exe", or the name in the gzip header) and what its first bytes say it is are
// checked like an attachment's. Only the start is inflated, from at most GZIP_INFLATE_INPUT_BYTES of input.
import { constants, inflateRawSync } from 'node:zlib';
import { windowsName } from './attachments.ts';
import { detectFileType } from './file-type.ts';

/** Compressed bytes inflated to see what the file inside starts with: at most about 1 MB out (deflate's ratio). */
export const GZIP_INFLATE_INPUT_BYTES = 1024;
/**
 * What the file inside must show of its start from that input, unless the gzip ends before: enough for a program's
 * PE header and a tar's magic. Less (empty stored blocks, an empty first member) would hide the start: not checked.
 */
const MIN_START_BYTES = 512;
/** Longest name read from the gzip header (RFC 1952 FNAME, zero-terminated). */
const MAX_NAME_BYTES = 1024;

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

/** The file inside a gzip whose first bytes are `head`, attached under `outerNames`. */
export function inspectGzip(head: Buffer, outerNames: readonly string[]): GzipContent {
  const names = outerNames.map(innerName).filter((name): name is string => name !== null);
  const fail = (problem: string): GzipContent => ({ names, innerType: null, problem });
  if (head.length < 10 || head[0] !== 0x1f || head[1] !== 0x8b) return fail('not a gzip file');
  if (head[2] !== 8) return fail(`an unknown gzip compression method (${head[2]})`);
  const flags = head[3]!;
  let at = 10;
  if (flags & FEXTRA) {
    if (at + 2 > head.length) return fail('a damaged gzip header');
    at += 2 + head.readUInt16LE(at);
  }
  if (flags & FNAME) {
    const end = head.indexOf(0, at);
    if (end === -1 || end - at > MAX_NAME_BYTES) return fail('a damaged gzip header (its file name does not end)');
    // RFC 1952: ISO 8859-1
    names.push(head.toString('latin1', at, end).replace(/[\\/]+$/, ''));
    at = end + 1;
  }
  if (flags & FCOMMENT) {
    const end = head.indexOf(0, at);
    if (end === -1) return fail('a damaged gzip header (its comment does not end)');
    at = end + 1;
  }
  if (flags & FHCRC) at += 2;
  if (at > head.length) return fail('a damaged gzip header');
  let start: Buffer;
  try {
    start = inflateRawSync(head.subarray(at, at + GZIP_INFLATE_INPUT_BYTES), { finishFlush: constants.Z_SYNC_FLUSH });
  } catch (error) {
    return fail(`damaged gzip data (${(error as Error).message})`);
  }
  if (start.length < MIN_START_BYTES && head.length - at > GZIP_INFLATE_INPUT_BYTES) {
    return fail(`what the gzip holds does not start within its first ${GZIP_INFLATE_INPUT_BYTES} bytes`);
  }
  return { names: [...new Set(names)], innerType: detectFileType(start), problem: null };
}

/** "report.xml.gz" → "report.xml", "backup.tgz" → "backup.tar"; null for a name that says nothing of what is inside. */
function innerName(name: string): string | null {
  const match = /^(.*?)(\.gz|\.gzip|\.tgz|\.taz)$/i.exec(windowsName(name));
  if (!match || !match[1]) return null;
  return /\.t(gz|az)/i.test(match[2]!) ? `${match[1]}.tar` : match[1];
}

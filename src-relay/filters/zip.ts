import { crc32, inflateRawSync } from 'node:zlib';

/**
 * Lists a zip archive's members from its central directory (APPNOTE.TXT 4.3.12-4.3.16), read from the end of the
 * archive only: the parser keeps a bounded tail of each zip attachment instead of the whole file. Zips inside the
 * zip are opened (small ones, to a bounded depth, inflated under a hard byte cap) and their members listed as
 * "inner.zip/name". Whatever cannot be listed whole is a `problem`: the caller treats it as "not checked", never
 * as clean.
 *
 * A member can go by more than one name, and extractors differ in which they use: the Info-ZIP Unicode Path extra
 * field (0x7075, what 7-Zip, WinRAR and others show and write), the raw name read as UTF-8 or as CP437 (whatever
 * general-purpose bit 11 says, old and new tools disagree), the name cut at a NUL (C string APIs) or at a ':' (an
 * NTFS stream: "evil.exe:x" writes evil.exe). Each member carries all of them (`otherNames`) so that every one is
 * checked. A local header whose name is not its directory entry's, or a malformed Unicode Path field, is a problem.
 */

/** The end of a zip kept in memory to find its central directory: ~10,000 ordinary entries fit. */
export const ZIP_TAIL_BYTES = 1024 * 1024;
/** Members listed per archive, nested ones included; more is a problem (each name costs memory and a check). */
export const MAX_ZIP_MEMBERS = 2000;
/**
 * Zips inside zips opened, counting the attachment as depth 1; one deeper is a problem. Real mail rarely holds
 * even one level; ClamAV's MaxRecursion is 17 for every container kind, three zips deep is already an evasion.
 */
export const MAX_ZIP_DEPTH = 3;
/**
 * Sum of the uncompressed sizes the central directories declare (bytes, nested archives included). ClamAV's
 * default MaxScanSize is 400 MiB: past it a scanner cannot check the content either, and past it lies a zip bomb.
 */
export const MAX_ZIP_UNCOMPRESSED_BYTES = 400 * 1024 * 1024;
/**
 * Declared uncompressed size of one nested zip that is inflated to be listed (bytes); a larger inner zip is a
 * problem. An inner zip holding a few documents or a dropper is far smaller; the cap keeps inflating cheap.
 */
export const MAX_NESTED_ZIP_BYTES = 1024 * 1024;
/**
 * Bytes inflated for nested zips per message, across all its attachments: a message of many small nested zips
 * cannot make the parser inflate more than this (and the inflater stops at each member's declared size).
 */
export const MAX_INFLATE_BYTES = 4 * 1024 * 1024;
/**
 * Zip member entries listed per message, across all its archives (nested ones, and those in a winmail.dat or an
 * attached message, included); past it the listing stops and the archive is a problem. MAX_ZIP_MEMBERS bounds one
 * archive, not a message of many: 96 zips of 1,999 empty members (24 MB of mail) kept 190,000 entries, over 80 MB
 * a message and 2 GB for 20 at once. 10,000 is five archives full to their own limit, far more than mail carries.
 */
export const MAX_MESSAGE_ZIP_MEMBERS = 10_000;

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_MIN_BYTES = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
/** Records of a zip's directory, which have no business inside a comment. */
const STRUCTURE_SIGNATURES: readonly Buffer[] = [CENTRAL_SIGNATURE, EOCD_SIGNATURE, ZIP64_EOCD_SIGNATURE, ZIP64_LOCATOR_SIGNATURE].map((signature) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(signature);
  return bytes;
});
const EOCD_BYTES = Buffer.from('PK\x05\x06', 'latin1');
/** The archive comment is at most 65535 bytes, so the end record starts within this many bytes of the end. */
const EOCD_SEARCH_BYTES = 0xffff + EOCD_MIN_BYTES;
/** How far from the end Python's zipfile looks for the end record signature (`_EndRecData`): a byte further. */
const EXTRACTOR_EOCD_SEARCH_BYTES = 0x10000 + EOCD_MIN_BYTES;
const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;
/** Info-ZIP Unicode Path extra field: version 1, CRC-32 of the header's raw name, the name in UTF-8. */
const UNICODE_PATH_ID = 0x7075;
const UNICODE_PATH_VERSION = 1;
const FLAG_UTF8 = 0x800;
/** Code page 437 (the zip default for names without bit 11), bytes 0x80-0xff; 0x00-0x7f are ASCII. */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

export interface ZipListing {
  /** `name` is the one most extractors show; `otherNames` the other names some extractor may use (see above). */
  members: { name: string; otherNames?: string[]; encrypted: boolean; size: number }[];
  problem: string | null;
  /** Listed whole, and its only problems are password-protected members (their names are known, their contents not). */
  onlyEncrypted: boolean;
}

/** What one message may spend on its archives, shared by all of them: bytes inflated, member entries listed. */
export interface InflateBudget {
  /** Left of MAX_INFLATE_BYTES. */
  bytes: number;
  /** Left of MAX_MESSAGE_ZIP_MEMBERS. */
  members: number;
}

export function newInflateBudget(): InflateBudget {
  return { bytes: MAX_INFLATE_BYTES, members: MAX_MESSAGE_ZIP_MEMBERS };
}

interface Walk {
  members: ZipListing['members'];
  problem: string | null;
  /** A problem other than an encrypted member was met (the listing may have stopped there). */
  otherProblem: boolean;
  uncompressed: number;
  budget: InflateBudget;
}

/**
 * True when `tail` (the last bytes of some file) holds a zip end record signature where an extractor looks for one:
 * within the last 65,558 bytes, as far as Python's zipfile searches (unzip one byte less). Such a file is opened as a zip
 * whatever comes before it (a self-extractor, a zip glued behind an image) or after it (unzip only warns of bytes
 * past the end record), so it must be listed, or be unchecked: a signature that is no real end record leaves the
 * listing with a problem, never a pass.
 */
export function holdsZipEnd(tail: Buffer): boolean {
  const from = Math.max(0, tail.length - EXTRACTOR_EOCD_SEARCH_BYTES);
  return tail.subarray(from).includes(EOCD_BYTES);
}

/** `tail` is the last bytes of an archive of `total` bytes; `budget` is the message's inflate allowance. */
export function listZip(tail: Buffer, total: number, budget: InflateBudget = newInflateBudget()): ZipListing {
  const walk: Walk = { members: [], problem: null, otherProblem: false, uncompressed: 0, budget };
  listInto(walk, tail, total, 1, '');
  return { members: walk.members, problem: walk.problem, onlyEncrypted: walk.problem !== null && !walk.otherProblem };
}

function listInto(walk: Walk, tail: Buffer, total: number, depth: number, prefix: string): void {
  const fail = (problem: string, encryptedMember = false): void => {
    if (!encryptedMember) walk.otherProblem = true;
    walk.problem ??= prefix ? `${prefix.slice(0, -1)}: ${problem}` : problem;
  };
  let eocd = -1;
  for (let at = tail.length - EOCD_MIN_BYTES; at >= Math.max(0, tail.length - EOCD_SEARCH_BYTES); at--) {
    if (tail.readUInt32LE(at) === EOCD_SIGNATURE) {
      eocd = at;
      break;
    }
  }
  if (eocd === -1) return fail('no zip central directory found (damaged or not a zip)');
  let entries = tail.readUInt16LE(eocd + 10);
  if (tail.readUInt16LE(eocd + 8) !== entries) return fail('zip central directory counts its entries two ways (damaged, or spanning disks)');
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  const locator = eocd - 20;
  const hasLocator = locator >= 0 && tail.readUInt32LE(locator) === ZIP64_LOCATOR_SIGNATURE;
  const classicFull = entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff;
  // a reader that goes by the zip64 records whenever their locator is there (Python's zipfile) must see the archive
  // the classic end record describes: one hidden in an entry's comment showed it another directory
  if (classicFull || hasLocator) {
    if (!hasLocator) return fail('zip64 archive without its locator');
    const record = Number(tail.readBigUInt64LE(locator + 8)) - (total - tail.length);
    if (record < 0 || record + 56 > tail.length || tail.readUInt32LE(record) !== ZIP64_EOCD_SIGNATURE) {
      return fail('zip64 central directory is out of reach');
    }
    const zip64 = { entries: Number(tail.readBigUInt64LE(record + 32)), cdSize: Number(tail.readBigUInt64LE(record + 40)), cdOffset: Number(tail.readBigUInt64LE(record + 48)) };
    const agree = (classic: number, all: number, value: number) => classic === all || classic === value;
    if (!agree(entries, 0xffff, zip64.entries) || !agree(cdSize, 0xffffffff, zip64.cdSize) || !agree(cdOffset, 0xffffffff, zip64.cdOffset)) {
      return fail('its zip64 end record and its classic one describe different directories (made to show two readers two archives)');
    }
    ({ entries, cdSize, cdOffset } = zip64);
    eocd = record;
  }
  const start = eocd - cdSize;
  if (start < 0) return fail(total > tail.length ? 'zip central directory too large to check' : 'zip central directory is damaged');
  // where the directory is against where the archive says it is: a difference is data before the first entry
  // (a self-extractor, a zip glued behind an image) or a rewritten archive; either way the offsets cannot be trusted
  const base = total - tail.length + start - cdOffset;
  if (base !== 0) return fail(base > 0 ? `${base} bytes of other data before the first zip entry` : 'zip central directory offsets are damaged');
  let at = start;
  for (let i = 0; i < entries; i++) {
    if (walk.members.length >= MAX_ZIP_MEMBERS) return fail(`more than ${MAX_ZIP_MEMBERS} members`);
    if (walk.budget.members <= 0) return fail(`the message holds more than ${MAX_MESSAGE_ZIP_MEMBERS} zip members in all`);
    if (at + 46 > eocd || tail.readUInt32LE(at) !== CENTRAL_SIGNATURE) return fail('zip central directory is damaged');
    const flags = tail.readUInt16LE(at + 8);
    const method = tail.readUInt16LE(at + 10);
    const nameLength = tail.readUInt16LE(at + 28);
    const extraLength = tail.readUInt16LE(at + 30);
    const commentLength = tail.readUInt16LE(at + 32);
    if (at + 46 + nameLength + extraLength + commentLength > eocd) return fail('zip central directory is damaged');
    const comment = tail.subarray(at + 46 + nameLength + extraLength, at + 46 + nameLength + extraLength + commentLength);
    if (STRUCTURE_SIGNATURES.some((signature) => comment.includes(signature))) return fail('an entry comment holds zip directory records (made to show another reader another archive)');
    // a field of all ones is in the zip64 extra field (streaming writers use it for small files too)
    const sizes = zip64Sizes(tail.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength), {
      size: tail.readUInt32LE(at + 24),
      compressed: tail.readUInt32LE(at + 20),
      localOffset: tail.readUInt32LE(at + 42),
    });
    if (typeof sizes === 'string') return fail(`"${rawName(tail.subarray(at + 46, at + 46 + nameLength), flags)}": ${sizes}`);
    const { size, compressed, localOffset } = sizes;
    const nameBytes = tail.subarray(at + 46, at + 46 + nameLength);
    const encrypted = (flags & 0x1) !== 0;
    const names = memberNames(nameBytes, flags, tail.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength));
    if (typeof names === 'string') return fail(`"${rawName(nameBytes, flags)}": ${names}`);
    // the local header, where it is in reach (the whole archive unless it is larger than the tail kept): an
    // extractor reading local headers (streaming ones do) must see the same name as one reading the directory
    const local = localNames(tail, localOffset - (total - tail.length), nameBytes);
    if (typeof local === 'string') return fail(`"${names[0]}": ${local}`);
    const all = [...new Set([...names, ...local])];
    const name = all[0]!;
    const otherNames = all.slice(1).map((other) => prefix + other);
    walk.members.push({ name: prefix + name, ...(otherNames.length ? { otherNames } : {}), encrypted, size });
    walk.budget.members--;
    at += 46 + nameLength + extraLength + commentLength;
    walk.uncompressed += size;
    if (walk.uncompressed > MAX_ZIP_UNCOMPRESSED_BYTES) return fail(`more than ${MAX_ZIP_UNCOMPRESSED_BYTES} bytes uncompressed (a zip bomb?)`);
    if (encrypted) {
      fail(`"${name}" is encrypted and cannot be checked`, true);
      continue;
    }
    if (!all.some((candidate) => /\.zip[\s.]*$/i.test(candidate.replace(/[\u0000-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '')))) continue;
    if (depth >= MAX_ZIP_DEPTH) {
      fail(`"${name}": zips nested more than ${MAX_ZIP_DEPTH} deep`);
      continue;
    }
    const inner = openMember(walk, tail, total, { method, compressed, size, localOffset });
    if (typeof inner === 'string') fail(`"${name}" ${inner}`);
    else listInto(walk, inner, inner.length, depth + 1, `${prefix}${name}/`);
  }
  // the directory goes on past the count its end record gives: extractors that read it all would find more members
  if (at !== eocd) return fail('zip central directory holds more than its end record counts (damaged, or made to hide members)');
}

/** One member's bytes (the caller has already checked it is a nested zip), or why they cannot be had. */
function openMember(walk: Walk, tail: Buffer, total: number, entry: { method: number; compressed: number; size: number; localOffset: number }): Buffer | string {
  if (entry.size > MAX_NESTED_ZIP_BYTES) return `is larger than ${MAX_NESTED_ZIP_BYTES} bytes and is not opened`;
  if (entry.size > walk.budget.bytes) return `is not opened: the message used up its ${MAX_INFLATE_BYTES} bytes for nested archives`;
  const local = entry.localOffset - (total - tail.length);
  if (local < 0) return 'lies too far from the end of a large archive to be read';
  if (local + 30 > tail.length || tail.readUInt32LE(local) !== LOCAL_SIGNATURE) return 'has a damaged local header';
  const dataStart = local + 30 + tail.readUInt16LE(local + 26) + tail.readUInt16LE(local + 28);
  if (dataStart + entry.compressed > tail.length) return 'is cut short';
  const data = tail.subarray(dataStart, dataStart + entry.compressed);
  let inflated: Buffer;
  if (entry.method === METHOD_STORED) {
    inflated = data;
  } else if (entry.method === METHOD_DEFLATED) {
    try {
      // the cap makes zlib stop as soon as the output would pass the declared size: a bomb is never inflated
      inflated = inflateRawSync(data, { maxOutputLength: Math.max(1, entry.size) });
    } catch {
      return 'cannot be inflated (damaged, or larger than it says)';
    }
  } else {
    return `uses compression method ${entry.method}, which is not opened`;
  }
  if (inflated.length !== entry.size) return 'is not the size its directory entry says';
  walk.budget.bytes -= inflated.length;
  return inflated;
}

/** The raw name as the directory's bit 11 says to read it, for messages. */
function rawName(bytes: Buffer, flags: number): string {
  return flags & FLAG_UTF8 ? bytes.toString('utf8') : cp437(bytes);
}

function cp437(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) text += byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80];
  return text;
}

/**
 * Every name an extractor may give a member, the one most show first: the Unicode Path name (when its CRC matches
 * the raw name; checked even when not, as not every tool compares), the raw name read as bit 11 says and read the
 * other way, and each cut at a control character and at ':'. A string: the extra fields are malformed.
 */
function memberNames(raw: Buffer, flags: number, extra: Buffer): string[] | string {
  const unicode = unicodePaths(extra);
  if (typeof unicode === 'string') return unicode;
  const crc = crc32(raw);
  const matching = unicode.filter((path) => path.crc === crc).map((path) => path.name);
  const stale = unicode.filter((path) => path.crc !== crc).map((path) => path.name);
  const other = flags & FLAG_UTF8 ? cp437(raw) : raw.toString('utf8');
  return [...new Set([...matching, rawName(raw, flags), other, ...stale].flatMap(cuts))];
}

/** The name, and where Windows or a C string API would end it: at the first control character, at the first ':'. */
function cuts(name: string): string[] {
  const control = name.search(/[\u0000-\u001f\u007f]/);
  const stream = name.indexOf(':');
  return [name, ...(control > 0 ? [name.slice(0, control)] : []), ...(stream > 0 ? [name.slice(0, stream)] : [])];
}

const ZIP64_EXTRA_ID = 0x0001;

/**
 * An entry's sizes and local header offset, with those written as 0xffffffff read from its zip64 extra field
 * (APPNOTE 4.5.3: the 8-byte values in this order, only for the fields so marked); or why they cannot be read.
 */
function zip64Sizes(extra: Buffer, fields: { size: number; compressed: number; localOffset: number }): typeof fields | string {
  const wanted = (['size', 'compressed', 'localOffset'] as const).filter((key) => fields[key] === 0xffffffff);
  if (wanted.length === 0) return fields;
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (at + 4 + length > extra.length) break;
    if (id === ZIP64_EXTRA_ID) {
      if (length < wanted.length * 8) return 'its zip64 extra field is too short (damaged)';
      const read = { ...fields };
      wanted.forEach((key, i) => (read[key] = Number(extra.readBigUInt64LE(at + 4 + i * 8))));
      return read;
    }
    at += 4 + length;
  }
  return 'its sizes are in a zip64 extra field that is missing (damaged)';
}

/** The Unicode Path fields in an extra block (APPNOTE 4.6.9), or why the block cannot be trusted. */
function unicodePaths(extra: Buffer): { crc: number; name: string }[] | string {
  const paths: { crc: number; name: string }[] = [];
  // fields are read in order; fewer than 4 bytes left over is padding (zipalign writes such), not a field
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(at);
    const size = extra.readUInt16LE(at + 2);
    const end = at + 4 + size;
    if (end > extra.length) {
      // a field running past the block: no reader finds anything after it; a cut Unicode Path is malformed
      if (id === UNICODE_PATH_ID) return 'its Unicode Path extra field is cut short (malformed)';
      break;
    }
    if (id === UNICODE_PATH_ID) {
      if (size < 6) return `its Unicode Path extra field is ${size} bytes, too short to hold a name (malformed)`;
      const version = extra[at + 4]!;
      if (version !== UNICODE_PATH_VERSION) return `its Unicode Path extra field has version ${version}, not ${UNICODE_PATH_VERSION} (malformed)`;
      let name: string;
      try {
        name = STRICT_UTF8.decode(extra.subarray(at + 9, end));
      } catch {
        return 'its Unicode Path extra field is not UTF-8 (malformed)';
      }
      paths.push({ crc: extra.readUInt32LE(at + 5), name });
    }
    at = end;
  }
  return paths;
}

/**
 * The names of a member's local header at `local` (an offset into `tail`; negative: out of reach, nothing to
 * compare), or why they disagree with the directory entry's raw name `raw`.
 */
function localNames(tail: Buffer, local: number, raw: Buffer): string[] | string {
  if (local < 0) return [];
  if (local + 30 > tail.length || tail.readUInt32LE(local) !== LOCAL_SIGNATURE) return 'has a damaged local header';
  const flags = tail.readUInt16LE(local + 6);
  const nameLength = tail.readUInt16LE(local + 26);
  const extraLength = tail.readUInt16LE(local + 28);
  if (local + 30 + nameLength + extraLength > tail.length) return 'has a damaged local header';
  const name = tail.subarray(local + 30, local + 30 + nameLength);
  if (!name.equals(raw)) return `its local header names it "${rawName(name, flags).slice(0, 100)}" (extractors differ in which name they use)`;
  return memberNames(name, flags, tail.subarray(local + 30 + nameLength, local + 30 + nameLength + extraLength));
}

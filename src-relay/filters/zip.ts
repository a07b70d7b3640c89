/**
 * Lists a zip archive's members from its central directory (APPNOTE.TXT 4.3.12-4.3.16), read from the end of the
 * archive only: the parser keeps a bounded tail of each zip attachment instead of the whole file.
 */

/** The end of a zip kept in memory to find its central directory: ~10,000 ordinary entries fit. */
export const ZIP_TAIL_BYTES = 1024 * 1024;
/** Members listed per archive; past this the archive is reported as having too many to check. */
export const MAX_ZIP_MEMBERS = 2000;

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_MIN_BYTES = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
/** The archive comment is at most 65535 bytes, so the end record starts within this many bytes of the end. */
const EOCD_SEARCH_BYTES = 0xffff + EOCD_MIN_BYTES;

export interface ZipListing {
  members: { name: string; encrypted: boolean; size: number }[];
  problem: string | null;
}

/** `tail` is the last bytes of an archive of `total` bytes. */
export function listZip(tail: Buffer, total: number): ZipListing {
  const members: ZipListing['members'] = [];
  const fail = (problem: string): ZipListing => ({ members, problem });
  let eocd = -1;
  for (let at = tail.length - EOCD_MIN_BYTES; at >= Math.max(0, tail.length - EOCD_SEARCH_BYTES); at--) {
    if (tail.readUInt32LE(at) === EOCD_SIGNATURE) {
      eocd = at;
      break;
    }
  }
  if (eocd === -1) return fail('no zip central directory found (damaged or not a zip)');
  let entries = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  if (entries === 0xffff || cdSize === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || tail.readUInt32LE(locator) !== ZIP64_LOCATOR_SIGNATURE) return fail('zip64 archive without its locator');
    const record = Number(tail.readBigUInt64LE(locator + 8)) - (total - tail.length);
    if (record < 0 || record + 56 > tail.length || tail.readUInt32LE(record) !== ZIP64_EOCD_SIGNATURE) {
      return fail('zip64 central directory is out of reach');
    }
    entries = Number(tail.readBigUInt64LE(record + 32));
    cdSize = Number(tail.readBigUInt64LE(record + 40));
    eocd = record;
  }
  // measured back from the end record, so data prepended to the archive (self-extractors) does not matter
  const start = eocd - cdSize;
  if (start < 0) return fail(total > tail.length ? 'zip central directory too large to check' : 'zip central directory is damaged');
  let at = start;
  for (let i = 0; i < entries; i++) {
    if (members.length >= MAX_ZIP_MEMBERS) return fail(`more than ${MAX_ZIP_MEMBERS} members`);
    if (at + 46 > eocd || tail.readUInt32LE(at) !== CENTRAL_SIGNATURE) return fail('zip central directory is damaged');
    const flags = tail.readUInt16LE(at + 8);
    const size = tail.readUInt32LE(at + 24);
    const nameLength = tail.readUInt16LE(at + 28);
    const extraLength = tail.readUInt16LE(at + 30);
    const commentLength = tail.readUInt16LE(at + 32);
    const nameBytes = tail.subarray(at + 46, at + 46 + nameLength);
    // bit 11: UTF-8 names; otherwise CP437, close enough to latin1 for the ASCII extensions we look at
    const name = nameBytes.toString(flags & 0x800 ? 'utf8' : 'latin1');
    members.push({ name, encrypted: (flags & 0x1) !== 0, size });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return { members, problem: null };
}

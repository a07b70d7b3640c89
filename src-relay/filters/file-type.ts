/**
 * What a file is by its first bytes ("magic numbers"), whatever its name says: a table plus one pure function.
 * Only the types a mail filter cares about (executables, archives, documents that carry macros) are listed.
 */

/** Enough of the start of a part to see an ISO 9660 image, whose signature sits at byte 32769. */
export const MAGIC_HEAD_BYTES = 36 * 1024;

interface MagicRule {
  type: string;
  offset: number;
  bytes: number[];
}

const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

const MAGIC: readonly MagicRule[] = [
  { type: 'elf-executable', offset: 0, bytes: [0x7f, ...ascii('ELF')] },
  { type: 'mach-o-executable', offset: 0, bytes: [0xcf, 0xfa, 0xed, 0xfe] },
  { type: 'mach-o-executable', offset: 0, bytes: [0xce, 0xfa, 0xed, 0xfe] },
  { type: 'mach-o-executable', offset: 0, bytes: [0xca, 0xfe, 0xba, 0xbe] },
  { type: 'windows-shortcut', offset: 0, bytes: [0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0] },
  { type: 'zip', offset: 0, bytes: ascii('PK\x03\x04') },
  { type: 'zip', offset: 0, bytes: ascii('PK\x05\x06') },
  { type: 'rar', offset: 0, bytes: ascii('Rar!\x1a\x07') },
  { type: '7z', offset: 0, bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c] },
  // ID1 ID2 and CM 8 (deflate, the only method defined): other bytes after 1f 8b are not a gzip any program opens
  { type: 'gzip', offset: 0, bytes: [0x1f, 0x8b, 0x08] },
  { type: 'bzip2', offset: 0, bytes: ascii('BZh') },
  { type: 'xz', offset: 0, bytes: [0xfd, ...ascii('7zXZ'), 0x00] },
  { type: 'zstd', offset: 0, bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { type: 'cab', offset: 0, bytes: ascii('MSCF') },
  // "ustar" and its NUL (POSIX) or space (GNU): the word alone is in text ("mustard" at byte 257)
  { type: 'tar', offset: 257, bytes: ascii('ustar\0') },
  { type: 'tar', offset: 257, bytes: ascii('ustar ') },
  { type: 'tnef', offset: 0, bytes: [0x78, 0x9f, 0x3e, 0x22] },
  { type: 'ole2', offset: 0, bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1] },
  { type: 'pdf', offset: 0, bytes: ascii('%PDF-') },
  { type: 'rtf', offset: 0, bytes: ascii('{\\rtf') },
  { type: 'iso-image', offset: 32769, bytes: ascii('CD001') },
  { type: 'png', offset: 0, bytes: [0x89, ...ascii('PNG')] },
  { type: 'jpeg', offset: 0, bytes: [0xff, 0xd8, 0xff] },
  { type: 'gif', offset: 0, bytes: ascii('GIF8') },
  { type: 'script', offset: 0, bytes: ascii('#!') },
];

/** Archives Moat cannot list (it lists zips, and looks into gzip's one file): not checked, so never clean. */
export const UNLISTED_ARCHIVE_TYPES: ReadonlySet<string> = new Set(['rar', '7z', 'cab', 'tar', 'bzip2', 'xz', 'zstd']);

/** Types that run code when opened: blocked whatever the attachment is called. */
export const EXECUTABLE_TYPES: ReadonlySet<string> = new Set(['pe-executable', 'dos-executable', 'elf-executable', 'mach-o-executable', 'windows-shortcut']);

/** Windows refuses an image whose e_lfanew is this or more (RtlImageNtHeaderEx). */
const MAX_PE_HEADER_OFFSET = 0x10000000;

/**
 * "MZ" and what follows. e_lfanew at 0x3c points at the "PE\0\0" of a Windows program: seen there, or beyond the
 * head's end but inside the file (`size`, when known) at an offset Windows takes, it is one; so is one whose
 * offset lands inside the head at something else (text cannot point there). A DOS header says its
 * last page holds under 512 bytes (e_cblp). Text that starts with "MZ" ("MZ-Nummer;...") has neither: its bytes
 * make both values too large.
 */
function programWithMz(head: Buffer, size: number): string | null {
  if (head.length >= 0x40) {
    const peAt = head.readUInt32LE(0x3c);
    if (peAt > 0 && peAt + 4 <= head.length && head.readUInt32BE(peAt) === 0x50450000) return 'pe-executable';
    // the 16-bit and OS/2 formats (NE, LE, LX) that 32-bit Windows still loads
    if (peAt > 0 && peAt + 2 <= head.length && ['NE', 'LE', 'LX'].includes(head.toString('latin1', peAt, peAt + 2))) return 'dos-executable';
    if (peAt >= 0x40 && peAt + 4 > head.length && peAt + 4 <= size && peAt < MAX_PE_HEADER_OFFSET) return 'dos-executable';
    // a header offset inside the head needs NUL bytes, which text has not: a program read askew (a decoding that
    // shifted its bytes) is still one
    if (peAt >= 0x40 && peAt + 4 <= head.length) return 'dos-executable';
  }
  if (head.length < 4 || head.readUInt16LE(2) < 512) return head.length < 4 ? null : 'dos-executable';
  return null;
}

/** Detects the type of `head` (the first bytes of a decoded part of `size` bytes, when known); null when none of the table matches. */
export function detectFileType(head: Buffer, size = Number.POSITIVE_INFINITY): string | null {
  if (head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a) return programWithMz(head, size);
  for (const rule of MAGIC) {
    if (head.length < rule.offset + rule.bytes.length) continue;
    if (rule.bytes.every((byte, i) => head[rule.offset + i] === byte)) return rule.type;
  }
  return null;
}

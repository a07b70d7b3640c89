// TNEF (winmail.dat, MS-OXTNEF): Outlook and Exchange may send a message's attachments wrapped in one attachment of
// their own, which Outlook unwraps on the recipient's side. Its files are listed like a zip's members, so a blocked
// name or a program inside is found. Read as the part streams by: only names, property blocks (bounded) and the ends
// of each file's data are kept. What cannot be read whole is a problem (the message was not checked), never a pass.
import { DataEnds, wholeEnds, type Ends } from './data-ends.ts';
import { detectFileType, EXECUTABLE_TYPES } from './file-type.ts';
import { holdsZipEnd, listZip, newInflateBudget, type InflateBudget, type ZipListing } from './zip.ts';

/** Files listed at most, embedded messages' and zips' inside counted too; one more is a problem. */
export const MAX_TNEF_FILES = 500;
/** The longest file name (attAttachTitle) read, in bytes; a longer one is a problem (its extension could be cut off). */
export const MAX_TNEF_NAME_BYTES = 4096;
/** The largest block of one attachment's properties (attAttachment) read whole; a larger one is a problem. */
export const MAX_TNEF_PROPERTY_BYTES = 1024 * 1024;
/** Messages embedded in messages (Outlook's "attach item"), each with a TNEF of its own, opened this many levels deep; one more is a problem. */
export const MAX_TNEF_DEPTH = 3;
/** Names one file may carry (title, long name, extension, display name, each in its readings); more is a problem. */
export const MAX_TNEF_NAMES_PER_FILE = 32;
/** Copies of one file's data (attAttachData, the data property, an embedded message); Outlook writes one; more than this is a problem. */
export const MAX_TNEF_DATA_COPIES = 4;

const SIGNATURE = Buffer.from([0x78, 0x9f, 0x3e, 0x22]);
const LEVEL_ATTACHMENT = 2;
// Attributes by their id's low 16 bits, as TNEF readers match them (the high half names a type they do not check)
/** attAttachRenddata: each attachment starts with it. */
const ATT_RENDDATA = 0x9002;
const ATT_TITLE = 0x8010;
const ATT_DATA = 0x800f;
/** attAttachment: the attachment's MAPI properties. */
const ATT_PROPERTIES = 0x9005;
const HEADER_BYTES = 9;
const CHECKSUM_BYTES = 2;

// MAPI property ids (MS-OXPROPS) that name an attachment's file or hold its data
const PR_DISPLAY_NAME = 0x3001;
const PR_ATTACH_DATA = 0x3701;
const PR_ATTACH_EXTENSION = 0x3703;
const PR_ATTACH_FILENAME = 0x3704;
const PR_ATTACH_LONG_FILENAME = 0x3707;
const PR_ATTACH_PATHNAME = 0x3708;
const PR_ATTACH_LONG_PATHNAME = 0x370d;
const NAME_PROPERTIES: ReadonlySet<number> = new Set([PR_DISPLAY_NAME, PR_ATTACH_EXTENSION, PR_ATTACH_FILENAME, PR_ATTACH_LONG_FILENAME, PR_ATTACH_PATHNAME, PR_ATTACH_LONG_PATHNAME]);
const PT_OBJECT = 0x000d;
const PR_ATTACH_METHOD = 0x3705;
/** PR_ATTACH_METHOD of an attached Outlook item (ATTACH_EMBEDDED_MSG). */
const ATTACH_EMBEDDED_MSG = 5;
/** The interface id an embedded message object starts with, {00020307-0000-0000-C000-000000000046}. */
const IID_IMESSAGE = Buffer.from('0703020000000000c000000000000046', 'hex');
const PT_STRING8 = 0x001e;
const PT_UNICODE = 0x001f;
const PT_BINARY = 0x0102;
const MULTI_VALUED = 0x1000;
/** Bytes of each fixed-size MAPI type's value as TNEF writes it (16-bit values padded to 4). */
const FIXED_BYTES: ReadonlyMap<number, number> = new Map([
  [0x0001, 4], [0x0002, 4], [0x0003, 4], [0x0004, 4], [0x000a, 4], [0x000b, 4],
  [0x0005, 8], [0x0006, 8], [0x0007, 8], [0x0014, 8], [0x0040, 8], [0x0048, 16],
]);
const VARIABLE_TYPES: ReadonlySet<number> = new Set([0x0000, PT_OBJECT, PT_STRING8, PT_UNICODE, PT_BINARY]);
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

export interface TnefFile {
  /** The name Outlook saves it under; `otherNames`: the other names it carries (8.3 title, extension, display name). */
  name: string;
  otherNames?: string[];
  encrypted: false;
  size: number;
  /** What its first bytes say it is (file-type.ts); null when unknown or when it has no data. */
  type: string | null;
}

export interface TnefListing {
  files: TnefFile[];
  problem: string | null;
}

/** What one copy of a file's data is, found as soon as it has gone by (its bytes are not kept past that). */
interface DataSummary {
  type: string | null;
  size: number;
  zip: ZipListing | null;
}

function summarize(ends: Ends, budget: InflateBudget): DataSummary {
  const type = detectFileType(ends.head, ends.size);
  const tail = ends.tail ?? Buffer.alloc(0);
  return { type, size: ends.size, zip: type === 'zip' || holdsZipEnd(tail) ? listZip(tail, ends.size, budget) : null };
}

/** What one attachment carries; every copy of its data and every name, since which one Outlook goes by is not ours to guess. */
interface Attachment {
  longNames: string[];
  title: string[];
  names: string[];
  data: DataSummary[];
  /** Messages embedded as this attachment (PT_OBJECT holding a TNEF stream of their own), listed when read. */
  embedded: (TnefListing | 'too deep')[];
  /** PR_ATTACH_METHOD, when given: 5 is an attached Outlook item. */
  method: number | null;
  /** Its data is an object whose interface is IID_IMessage: a message, never saved as a file. */
  messageObject: boolean;
}

/** Adds names an attachment carries; a problem past MAX_TNEF_NAMES_PER_FILE. */
function addNames(attachment: Attachment, list: 'longNames' | 'title' | 'names', names: string[]): string | null {
  attachment[list].push(...names);
  const count = attachment.longNames.length + attachment.title.length + attachment.names.length;
  return count > MAX_TNEF_NAMES_PER_FILE ? `a file carries more than ${MAX_TNEF_NAMES_PER_FILE} names` : null;
}

/** Counts one more copy of an attachment's data; a problem past MAX_TNEF_DATA_COPIES. */
function dataCopyProblem(attachment: Attachment): string | null {
  return attachment.data.length + attachment.embedded.length >= MAX_TNEF_DATA_COPIES ? `a file carries its data more than ${MAX_TNEF_DATA_COPIES} times` : null;
}

/**
 * Reads one part's bytes as they come (`write`), and lists the files of a TNEF at the `end`; a part that does not
 * start with TNEF's signature is let go after its first four bytes (end gives null).
 */
export class TnefReader {
  private state: 'signature' | 'header' | 'data' | 'checksum' | 'not-tnef' | 'failed' = 'signature';
  private fixed: Buffer[] = [];
  private fixedBytes = 0;
  private level = 0;
  private id = 0;
  private remaining = 0;
  private kept: Buffer[] | null = null;
  private data: DataEnds | null = null;
  private readonly attachments: Attachment[] = [];
  /** Files listed so far, zips' members and embedded messages' files too, counted as they are found. */
  private listed = 0;
  private problem: string | null = null;

  constructor(
    private readonly budget: InflateBudget = newInflateBudget(),
    private readonly depth = 0,
  ) {}

  write(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.state !== 'not-tnef' && this.state !== 'failed') {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, chunk.length - at);
        this.attributeBytes(chunk.subarray(at, at + take));
        this.remaining -= take;
        at += take;
        if (this.remaining === 0) this.endAttribute();
        continue;
      }
      const need = this.state === 'signature' ? SIGNATURE.length + 2 : this.state === 'header' ? HEADER_BYTES : CHECKSUM_BYTES;
      const take = Math.min(need - this.fixedBytes, chunk.length - at);
      this.fixed.push(Buffer.from(chunk.subarray(at, at + take)));
      this.fixedBytes += take;
      at += take;
      if (this.state === 'signature' && !SIGNATURE.subarray(0, this.fixedBytes).equals(Buffer.concat(this.fixed).subarray(0, SIGNATURE.length))) {
        this.state = 'not-tnef';
        return;
      }
      if (this.fixedBytes < need) continue;
      const bytes = Buffer.concat(this.fixed);
      this.fixed = [];
      this.fixedBytes = 0;
      if (this.state === 'header') this.startAttribute(bytes.readUInt8(0), bytes.readUInt32LE(1) & 0xffff, bytes.readUInt32LE(5));
      else this.state = 'header';
    }
  }

  /** The files listed, with why the TNEF could not be read whole; null when the part is no TNEF. */
  end(): TnefListing | null {
    if (this.state === 'not-tnef' || (this.state === 'signature' && this.fixedBytes < SIGNATURE.length)) return null;
    // every item read whole: a stream may end without its last checksum, or with a few stray bytes (less than a header)
    if (this.state !== 'header' && this.state !== 'checksum') this.fail('it ends inside an item (damaged)');
    const files: TnefFile[] = [];
    for (const [index, attachment] of this.attachments.entries()) {
      if (!this.listAttachment(attachment, index, files)) break;
    }
    return { files, problem: this.problem };
  }

  private fail(problem: string): void {
    this.problem ??= problem;
    this.state = 'failed';
  }

  private startAttribute(level: number, id: number, length: number): void {
    this.level = level;
    this.id = id;
    this.remaining = length;
    const attachment = level === LEVEL_ATTACHMENT;
    if (attachment && id === ATT_RENDDATA) {
      if (!this.count(1)) return;
      this.attachments.push({ longNames: [], title: [], names: [], data: [], embedded: [], method: null, messageObject: false });
    } else if (attachment && !this.current()) {
      return this.fail('an attachment item comes before its attachment (damaged)');
    }
    if (attachment && id === ATT_TITLE && length > MAX_TNEF_NAME_BYTES) return this.fail(`a file name is longer than ${MAX_TNEF_NAME_BYTES} bytes`);
    if (attachment && id === ATT_PROPERTIES && length > MAX_TNEF_PROPERTY_BYTES) return this.fail(`an attachment's properties are larger than ${MAX_TNEF_PROPERTY_BYTES} bytes`);
    this.kept = attachment && (id === ATT_TITLE || id === ATT_PROPERTIES) ? [] : null;
    if (attachment && id === ATT_DATA) {
      const copies = dataCopyProblem(this.current()!);
      if (copies) return this.fail(copies);
    }
    this.data = attachment && id === ATT_DATA ? new DataEnds(true) : null;
    this.state = 'data';
    if (length === 0) this.endAttribute();
  }

  private attributeBytes(bytes: Buffer): void {
    this.kept?.push(Buffer.from(bytes));
    this.data?.write(bytes);
  }

  private endAttribute(): void {
    const attachment = this.current();
    if (this.level === LEVEL_ATTACHMENT && attachment) {
      if (this.id === ATT_TITLE) {
        const problem = addNames(attachment, 'title', namesOf(Buffer.concat(this.kept ?? []), PT_STRING8));
        if (problem) return this.fail(problem);
      }
      if (this.id === ATT_DATA && this.data) {
        const summary = summarize(this.data.ends(), this.budget);
        attachment.data.push(summary);
        if (!this.count(summary.zip?.members.length ?? 0)) return;
      }
      if (this.id === ATT_PROPERTIES) {
        const problem = readProperties(Buffer.concat(this.kept ?? []), attachment, {
          data: (ends) => {
            const summary = summarize(ends, this.budget);
            attachment.data.push(summary);
            return this.count(summary.zip?.members.length ?? 0);
          },
          embedded: (tnef) => {
            const listing = this.readEmbedded(tnef);
            attachment.embedded.push(listing);
            return this.count(listing === 'too deep' ? 0 : listing.files.length);
          },
        });
        if (problem) return this.fail(problem);
        if (this.state === 'failed') return;
      }
    }
    this.kept = null;
    this.data = null;
    this.state = 'checksum';
  }

  private current(): Attachment | undefined {
    return this.attachments[this.attachments.length - 1];
  }

  /** Counts files as they are found: past MAX_TNEF_FILES the reading stops (false). */
  private count(files: number): boolean {
    this.listed += files;
    if (this.listed <= MAX_TNEF_FILES) return true;
    this.fail(`it holds more than ${MAX_TNEF_FILES} files`);
    return false;
  }

  private readEmbedded(tnef: Buffer): TnefListing | 'too deep' {
    if (this.depth >= MAX_TNEF_DEPTH) return 'too deep';
    const inner = new TnefReader(this.budget, this.depth + 1);
    inner.write(tnef);
    return inner.end() ?? { files: [], problem: null };
  }

  /** Adds one attachment's files to `files` (its own, a zip's members, an embedded message's); false past the limit. */
  private listAttachment(attachment: Attachment, index: number, files: TnefFile[]): boolean {
    const given = [...new Set([...attachment.longNames, ...attachment.title, ...attachment.names])];
    // an attached Outlook item (method 5, a message object, no file data) has no file: its "name" is its subject
    // ("Your booking at Booking.com"), and Outlook saves it as NAME.msg; judged by the subject's last word it would be
    // a program. Data that merely starts like a TNEF, by value or in another object, is a file under its own names.
    const item = attachment.data.length === 0 && attachment.embedded.length === 1 && attachment.method === ATTACH_EMBEDDED_MSG && attachment.messageObject;
    const names = item ? given.map((subject) => (/\.msg$/i.test(subject) ? subject : `${subject}.msg`)) : given;
    const name = names[0] ?? `attachment ${index + 1}`;
    const types = attachment.data.map((data) => data.type);
    const type = types.find((found) => found !== null && EXECUTABLE_TYPES.has(found)) ?? types.find((found) => found !== null) ?? null;
    const size = attachment.data.reduce((largest, data) => Math.max(largest, data.size), 0);
    files.push({ name, ...(names.length > 1 ? { otherNames: names.slice(1) } : {}), encrypted: false, size, type });
    const inside = (file: { name: string; otherNames?: string[] }) => ({ name: `${name}/${file.name}`, ...(file.otherNames ? { otherNames: file.otherNames.map((other) => `${name}/${other}`) } : {}) });
    for (const { zip } of attachment.data) {
      for (const member of zip?.members ?? []) files.push({ ...inside(member), encrypted: false, size: member.size, type: null });
      if (zip?.problem) this.problem ??= `${name}: ${zip.problem}`;
    }
    for (const listing of attachment.embedded) {
      if (listing === 'too deep') {
        this.problem ??= `${name}: messages embedded more than ${MAX_TNEF_DEPTH} deep`;
        continue;
      }
      for (const file of listing.files) files.push({ ...file, ...inside(file) });
      if (listing.problem) this.problem ??= `${name}: ${listing.problem}`;
    }
    if (files.length <= MAX_TNEF_FILES) return true;
    this.problem ??= `it holds more than ${MAX_TNEF_FILES} files`;
    files.length = MAX_TNEF_FILES;
    return false;
  }
}

/**
 * An attachment's MAPI properties (MS-OXTNEF 2.1.3.5): its file names, and its data when it is held there (an
 * embedded message, or the file itself). Null, or why the block could not be read.
 */
function readProperties(
  block: Buffer,
  attachment: Attachment,
  found: { data: (ends: Ends) => boolean; embedded: (tnef: Buffer) => boolean },
): string | null {
  const damaged = 'its attachment properties are damaged';
  let at = 0;
  const u32 = (): number => {
    if (at + 4 > block.length) throw new RangeError(damaged);
    const value = block.readUInt32LE(at);
    at += 4;
    return value;
  };
  try {
    const count = u32();
    for (let i = 0; i < count; i++) {
      const tag = u32();
      const type = tag & 0xffff;
      const id = tag >>> 16;
      if (id >= 0x8000) {
        at += 16; // the named property's set (a GUID)
        const kind = u32();
        // a number, or a name of that many bytes (UTF-16)
        const skip = kind === 0 ? 4 : padded(u32());
        at += skip;
      }
      const base = type & ~MULTI_VALUED;
      const fixed = FIXED_BYTES.get(base);
      if (fixed === undefined && !VARIABLE_TYPES.has(base)) return `${damaged} (a property of unknown type 0x${type.toString(16)})`;
      const values = fixed !== undefined && !(type & MULTI_VALUED) ? 1 : u32();
      for (let v = 0; v < values; v++) {
        const length = fixed ?? u32();
        if (at + length > block.length) return damaged;
        const value = block.subarray(at, at + length);
        at += fixed ?? padded(length);
        // a name in any variable type (a reader may take binary as 8-bit text)
        if (NAME_PROPERTIES.has(id) && fixed === undefined && base !== PT_OBJECT) {
          const names = namesOf(value, base === PT_UNICODE ? PT_UNICODE : PT_STRING8);
          const problem = id === PR_ATTACH_LONG_FILENAME ? addNames(attachment, 'longNames', names) : addNames(attachment, 'names', id === PR_ATTACH_EXTENSION ? names.map((extension) => `*${extension}`) : names);
          if (problem) return problem;
        }
        if (id === PR_ATTACH_METHOD && fixed === 4) attachment.method = value.readUInt32LE(0);
        if (id !== PR_ATTACH_DATA || fixed !== undefined) continue;
        // the file's data, whatever variable type it is given; an embedded object starts with its interface id (16
        // bytes), and a message's then holds a TNEF of its own
        const copies = dataCopyProblem(attachment);
        if (copies) return copies;
        const object = base === PT_OBJECT ? value.subarray(Math.min(16, value.length)) : value;
        if (base === PT_OBJECT && value.subarray(0, 16).equals(IID_IMESSAGE)) attachment.messageObject = true;
        const listed = object.subarray(0, SIGNATURE.length).equals(SIGNATURE) ? found.embedded(object) : found.data(wholeEnds(object));
        if (!listed) return null;
      }
      if (at > block.length) return damaged;
    }
  } catch (error) {
    if (error instanceof RangeError) return damaged;
    throw error;
  }
  return null;
}

const padded = (length: number): number => length + ((4 - (length % 4)) % 4);


/**
 * The names a string value may stand for: cut at its first NUL (as a C string is read), and whole without the NULs; an
 * 8-bit one as Latin-1, and as UTF-8 when it is that.
 */
function namesOf(value: Buffer, type: number): string[] {
  const texts = type === PT_UNICODE ? [value.toString('utf16le')] : [value.toString('latin1'), ...utf8(value)];
  const names = texts.flatMap((text) => [text.split('\0')[0]!, text.replaceAll('\0', '')]);
  return [...new Set(names.map((name) => name.trim()).filter(Boolean))];
}

function utf8(value: Buffer): string[] {
  try {
    return [STRICT_UTF8.decode(value)];
  } catch {
    return [];
  }
}

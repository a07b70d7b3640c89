/**
 * What a part says about itself in its header fields, read the way RFC 2045, 2047, 2231 and 5322 say (comments
 * stripped outside quoted strings, continuations joined, encoded words decoded), and the files a text part carries
 * uuencoded. Where mail programs could read a name differently (a parameter given twice, a plain and an RFC 2231
 * form, a control character that ends the name for some), every reading is kept as a candidate and the attachment
 * check refuses the message if any one is blocked. What cannot be read at all (an unterminated quoted string or
 * comment, an unknown charset, RFC 2231 pieces missing or twice) is a problem: the message is unchecked, never clean.
 */

/** RFC 2045 6.1 mechanisms Moat decodes; any other (x-uuencode, "base64; x", "base64 junk") a client might decode. */
export const KNOWN_ENCODINGS: readonly string[] = ['7bit', '8bit', 'binary', 'base64', 'quoted-printable'];
/**
 * A uuencode begin line in a text part ("begin 644 name", bytes up to the line end, a CR or LF): a file name of 255
 * characters in UTF-8 with the mode needs about 1 KiB; longer, the name is not judged and the message is unchecked.
 */
export const MAX_UUENCODE_BEGIN_LINE_BYTES = 2048;

interface Token {
  quoted: boolean;
  text: string;
}

export interface HeaderParameter {
  /** Lower-cased, comments removed. */
  attribute: string;
  value: string;
}

export interface ParsedHeaderValue {
  /** The value before the first ";" (comments removed, trimmed; not lower-cased). */
  value: string;
  /** Every parameter in order, the same attribute as often as it was given. */
  params: HeaderParameter[];
  /** Why the field cannot be read unambiguously; null when it can. */
  problem: string | null;
}

/** Splits a structured field body at ";" into tokens: RFC 5322 comments dropped, quoted strings unescaped. */
function tokenize(raw: string): { segments: Token[][]; problem: string | null } {
  const segments: Token[][] = [[]];
  let text = '';
  const flush = () => {
    if (text) segments.at(-1)!.push({ quoted: false, text });
    text = '';
  };
  let i = 0;
  while (i < raw.length) {
    const char = raw[i]!;
    if (char === '"') {
      flush();
      let value = '';
      let closed = false;
      for (i++; i < raw.length; i++) {
        if (raw[i] === '\\' && i + 1 < raw.length) value += raw[++i];
        else if (raw[i] === '"') {
          closed = true;
          break;
        } else value += raw[i];
      }
      if (!closed) return { segments, problem: 'an unterminated quoted string' };
      segments.at(-1)!.push({ quoted: true, text: value });
      i++;
    } else if (char === '(') {
      // RFC 5322 3.2.2: comments nest and take quoted pairs; they separate tokens like a space
      let depth = 0;
      for (; i < raw.length; i++) {
        if (raw[i] === '\\') i++;
        else if (raw[i] === '(') depth++;
        else if (raw[i] === ')' && --depth === 0) break;
      }
      if (depth !== 0) return { segments, problem: 'an unterminated comment' };
      text += ' ';
      i++;
    } else if (char === ';') {
      flush();
      segments.push([]);
      i++;
    } else {
      text += char;
      i++;
    }
  }
  flush();
  return { segments, problem: null };
}

/** A Content-Type or Content-Disposition field body: its value and every parameter, RFC 5322 comments removed. */
export function parseHeaderValue(raw: string): ParsedHeaderValue {
  const { segments, problem } = tokenize(raw);
  const [first = [], ...rest] = segments;
  const params: HeaderParameter[] = [];
  for (const tokens of rest) {
    const at = tokens.findIndex((token) => !token.quoted && token.text.includes('='));
    if (at === -1) continue; // "attachment; junk": no parameter to read
    const token = tokens[at]!;
    const equals = token.text.indexOf('=');
    const attribute = [...tokens.slice(0, at), { quoted: false, text: token.text.slice(0, equals) }]
      .map((part) => part.text)
      .join('')
      .replace(/\s+/g, '')
      .toLowerCase();
    const valueTokens = [{ quoted: false, text: token.text.slice(equals + 1) }, ...tokens.slice(at + 1)];
    const value = valueTokens.map((part) => (part.quoted ? part.text : part.text.trim())).join('');
    params.push({ attribute, value });
  }
  return { value: first.map((token) => token.text).join('').trim(), params, problem };
}

/**
 * The transfer encoding of a part as Moat reads it, and whether Moat can decode it. Comments are stripped
 * (RFC 2045 allows them: "base64 (sent by x)" is base64); RFC 2045 6.1 gives the field no parameters, so anything
 * after a ";" makes it unknown, as does any other word ("base64 junk") or a quoted string: readers differ there.
 */
export function transferEncoding(raw: string | null): { encoding: string; known: boolean } {
  if (raw === null) return { encoding: '7bit', known: true };
  const { segments, problem } = tokenize(raw);
  const words = (segments[0] ?? []).map((token) => token.text).join('').trim().toLowerCase();
  if (problem || segments.length > 1 || (segments[0] ?? []).some((token) => token.quoted)) return { encoding: raw.trim().toLowerCase(), known: false };
  if (words === '') return { encoding: '7bit', known: true };
  return { encoding: words, known: KNOWN_ENCODINGS.includes(words) };
}

/** Bytes in `charset`, strictly (bytes that are not valid in it, or a charset Node does not know, throw). */
function decodeCharset(bytes: Uint8Array, charset: string): string {
  return new TextDecoder(charset.trim().toLowerCase() || 'utf-8', { fatal: true }).decode(bytes);
}

const ENCODED_WORD = /=\?([^?*\s]+)(?:\*[^?\s]*)?\?([BbQq])\?([^?\s]*)\?=/g;

/** RFC 2047 encoded words in a parameter value (as Outlook and Gmail write them); throws when one cannot be read. */
export function decodeEncodedWords(text: string): string {
  let out = '';
  let last = 0;
  let pending: { charset: string; bytes: Buffer[] } | null = null;
  const emit = () => {
    if (pending) out += decodeCharset(Buffer.concat(pending.bytes), pending.charset);
    pending = null;
  };
  for (const match of text.matchAll(ENCODED_WORD)) {
    const between = text.slice(last, match.index);
    // RFC 2047 6.2: white space between two encoded words is not shown
    if (!(pending && /^[ \t\r\n]*$/.test(between))) {
      emit();
      out += between;
    }
    const [, charset, kind, body] = match as unknown as [string, string, string, string];
    let bytes: Buffer;
    if (kind.toLowerCase() === 'b') {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 === 1) throw new Error(`a broken base64 encoded word`);
      bytes = Buffer.from(body, 'base64');
    } else {
      bytes = percentBytes(body.replace(/_/g, ' '), '=');
    }
    const current = pending as { charset: string; bytes: Buffer[] } | null;
    if (current && current.charset.toLowerCase() === charset.toLowerCase()) current.bytes.push(bytes);
    else {
      emit();
      pending = { charset, bytes: [bytes] };
    }
    last = match.index + match[0].length;
  }
  emit();
  return out + text.slice(last);
}

/** "%41" (RFC 2231) or "=41" (RFC 2047 Q) escapes to bytes; a lone escape character throws (readers differ on it). */
function percentBytes(text: string, escape: '%' | '='): Buffer {
  const bytes: number[] = [];
  const raw = Buffer.from(text, 'utf8');
  const code = escape.charCodeAt(0);
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== code) {
      bytes.push(raw[i]!);
      continue;
    }
    const hex = raw.subarray(i + 1, i + 3).toString('latin1');
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`a "${escape}" that is not followed by two hex digits`);
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes);
}

/** An RFC 2231 extended value, charset'language'%xx (the first piece of a name, or a name*=). */
function decodeExtended(value: string): { charset: string; bytes: Buffer } {
  const match = /^([^']*)'[^']*'(.*)$/s.exec(value);
  if (!match) throw new Error('an RFC 2231 value without its charset\'language\' part');
  return { charset: match[1]!, bytes: percentBytes(match[2]!, '%') };
}

/**
 * Every name the parameter `base` ("filename", "name") gives, each form decoded on its own: each plain `base=`
 * (with encoded words), each `base*=`, and the `base*0`, `base*1`... continuations joined. Pieces of a continuation
 * given twice or missing, or a value that cannot be decoded, are problems: mail programs would read them differently.
 */
export function parameterNames(params: readonly HeaderParameter[], base: string): { names: string[]; problems: string[] } {
  const names: string[] = [];
  const problems: string[] = [];
  const pieces = new Map<number, { value: string; extended: boolean }>();
  const read = (what: string, decode: () => string) => {
    try {
      names.push(decode());
    } catch (error) {
      problems.push(`its ${what} cannot be read: ${(error as Error).message}`);
    }
  };
  for (const { attribute, value } of params) {
    if (attribute === base) read(`${base} parameter`, () => decodeEncodedWords(value));
    else if (attribute === `${base}*`) {
      read(`${base}* parameter`, () => {
        const { charset, bytes } = decodeExtended(value);
        return decodeCharset(bytes, charset);
      });
    } else {
      const piece = new RegExp(`^${base}\\*(\\d{1,4})(\\*?)$`).exec(attribute);
      if (!piece) {
        if (attribute.startsWith(`${base}*`)) problems.push(`its ${base} parameter "${attribute.slice(0, 40)}" is not RFC 2231`);
        continue;
      }
      const number = Number(piece[1]);
      if (pieces.has(number)) problems.push(`its ${base}*${number} is given twice (ambiguous name)`);
      pieces.set(number, { value, extended: piece[2] === '*' });
    }
  }
  if (pieces.size) {
    const missing = Array.from({ length: pieces.size }, (_, n) => n).find((n) => !pieces.has(n));
    if (missing !== undefined) problems.push(`its ${base}*${missing} is missing (ambiguous name)`);
    else {
      read(`${base}*0... parameters`, () => {
        let charset = 'utf-8';
        const bytes: Buffer[] = [];
        for (let n = 0; n < pieces.size; n++) {
          const { value, extended } = pieces.get(n)!;
          if (extended && n === 0) {
            const first = decodeExtended(value);
            charset = first.charset;
            bytes.push(first.bytes);
          } else bytes.push(extended ? percentBytes(value, '%') : Buffer.from(value, 'utf8'));
        }
        return decodeCharset(Buffer.concat(bytes), charset);
      });
    }
  }
  return { names, problems };
}

/**
 * The readings of one name: the name itself, and the name up to its first control character, where a program
 * written in C (or one that drops the rest) ends it: "evil.js\0.txt" is checked as "evil.js" as well.
 */
export function nameReadings(name: string): string[] {
  const control = name.search(/[\u0000-\u001f\u007f]/);
  return control === -1 ? [name] : [name, name.slice(0, control)];
}

const BEGIN_LINE = /^[ \t]*begin(?:-base64)?[ \t]+[0-7]{3,4}[ \t]+(.*?)[ \t\r]*$/is;
/** A yEnc header line ("=ybegin line=128 size=60 name=invoice.js"): the name is the rest of the line. */
const YENC_LINE = /^[ \t]*=ybegin[ \t].*?(?<=[ \t])name=(.*?)[ \t\r]*$/is;
const BEGIN_START = /^[ \t]*(?:begin(?:-base64)?[ \t]+[0-7]{3,4}[ \t]|=ybegin[ \t])/i;

/**
 * Finds uuencode (begin-base64, yEnc "=ybegin") begin lines in the decoded bytes of a text part, streaming: Outlook, Thunderbird
 * and others turn "begin 644 name" ... "end" in a text body into an attachment called name. Holds at most one line
 * head of MAX_UUENCODE_BEGIN_LINE_BYTES; lines that cannot be a begin line are skipped after their first bytes.
 */
/**
 * A finder of the line ends (CR or LF) in `data`, asked with rising positions: a bare CR ends a line as mail
 * programs read text. Each byte is searched once, however many lines (`find(from)`: the next end, or -1).
 */
export function lineEndFinder(data: Buffer): (from: number) => number {
  let lineFeed = -2;
  let carriageReturn = -2;
  return (from) => {
    if (lineFeed !== -1 && lineFeed < from) lineFeed = data.indexOf(0x0a, from);
    if (carriageReturn !== -1 && carriageReturn < from) carriageReturn = data.indexOf(0x0d, from);
    if (lineFeed === -1) return carriageReturn;
    return carriageReturn === -1 ? lineFeed : Math.min(lineFeed, carriageReturn);
  };
}

/** A file uuencoded (or begin-base64) in a text, as far as it was decoded (UuencodeScanner). */
export interface EncodedFile {
  name: string;
  /** Its first decoded bytes, up to the head size the scanner was given. */
  head: Buffer;
  /** Its decoded size in bytes (counted to its end line, or to the end of the part). */
  size: number;
}

/** The file after a begin line, being decoded. */
interface OpenFile {
  name: string;
  base64: boolean;
  head: Buffer[];
  headBytes: number;
  size: number;
  /** base64 characters of an unfinished group of four. */
  rest: string;
}

export class UuencodeScanner {
  private line: Buffer[] = [];
  private lineBytes = 0;
  private skipping = false;
  private file: OpenFile | null = null;

  /**
   * `found.file` (optional) is told each uuencoded and begin-base64 file with its first `headBytes` decoded bytes,
   * so its content can be judged like an attachment's (a program whatever its name; yEnc files are named only).
   */
  constructor(
    private readonly found: { name(name: string): void; problem(why: string): void; file?(file: EncodedFile): void },
    private readonly headBytes = 0,
  ) {}

  write(data: Buffer): void {
    // a bare CR ends a line too, as mail programs read text (a "begin" line after one is a file)
    const nextLineEnd = lineEndFinder(data);
    for (let start = 0; start < data.length; ) {
      const lineEnd = nextLineEnd(start);
      const end = lineEnd === -1 ? data.length : lineEnd;
      if (!this.skipping) this.take(data, start, end);
      if (lineEnd === -1) break;
      this.endLine();
      start = lineEnd + 1;
    }
  }

  /** The part ended: its last line, if it had no line feed, and the file it was in. */
  end(): void {
    this.endLine();
    this.closeFile();
  }

  /** The bytes of `data` from `start` to `end`, a piece of the current line. */
  private take(data: Buffer, start: number, end: number): void {
    const room = MAX_UUENCODE_BEGIN_LINE_BYTES + 1 - this.lineBytes;
    if (end === start || room <= 0) return;
    // inside a file every line is data, or its end line
    if (this.file) {
      this.line.push(Buffer.from(data.subarray(start, Math.min(end, start + room))));
      this.lineBytes += Math.min(end - start, room);
      return;
    }
    // most lines are text: their first bytes rule them out without copying the line
    if (this.lineBytes === 0 && !startsLikeBegin(data, start, end)) return this.skip();
    this.line.push(Buffer.from(data.subarray(start, Math.min(end, start + room))));
    this.lineBytes += Math.min(end - start, room);
    const head = Buffer.concat(this.line).toString('latin1');
    if (!couldBeBegin(head)) this.skip();
    else if (this.lineBytes > MAX_UUENCODE_BEGIN_LINE_BYTES) {
      if (BEGIN_START.test(head)) this.found.problem(`a uuencode begin line longer than ${MAX_UUENCODE_BEGIN_LINE_BYTES} bytes`);
      this.skip();
    }
  }

  private skip(): void {
    this.skipping = true;
    this.line = [];
    this.lineBytes = 0;
  }

  private endLine(): void {
    if (!this.skipping && this.lineBytes) {
      const line = Buffer.concat(this.line).toString('utf8');
      const begin = BEGIN_LINE.exec(line);
      const name = (begin ?? YENC_LINE.exec(line))?.[1];
      if (name) {
        this.closeFile();
        this.found.name(name);
        // a decoder may take the name without the quotes around it
        const unquoted = /^"(.*)"$/s.exec(name)?.[1];
        if (unquoted) this.found.name(unquoted);
        if (begin && this.found.file) this.file = { name: unquoted || name, base64: /^[ \t]*begin-base64/i.test(line), head: [], headBytes: 0, size: 0, rest: '' };
      } else if (this.file) this.fileLine(line);
    }
    this.skipping = false;
    this.line = [];
    this.lineBytes = 0;
  }

  /** A line inside a file: its end line, or data decoded into the file's head (uuencode: one length character, then groups of four). */
  private fileLine(line: string): void {
    const file = this.file!;
    if (file.base64 ? line.trim() === '====' : line.trim().toLowerCase() === 'end') return this.closeFile();
    if (this.lineBytes > MAX_UUENCODE_BEGIN_LINE_BYTES && file.headBytes < this.headBytes) {
      this.found.problem(`a uuencoded line longer than ${MAX_UUENCODE_BEGIN_LINE_BYTES} bytes in "${file.name.slice(0, 80)}"`);
    }
    let bytes: Buffer;
    if (file.base64) {
      const chars = file.rest + line.replace(/[^A-Za-z0-9+/]/g, '');
      const usable = chars.length - (chars.length % 4);
      file.rest = chars.slice(usable);
      bytes = Buffer.from(chars.slice(0, usable), 'base64');
    } else {
      const length = (line.charCodeAt(0) - 32) & 63;
      const out: number[] = [];
      // characters a transport dropped at the line end (trailing spaces) are zeros, as uudecode reads them
      const value = (at: number) => (at < line.length ? (line.charCodeAt(at) - 32) & 63 : 0);
      for (let at = 1; out.length < length; at += 4) {
        const [a, b, c, d] = [value(at), value(at + 1), value(at + 2), value(at + 3)];
        out.push(((a << 2) | (b >> 4)) & 0xff, ((b << 4) | (c >> 2)) & 0xff, ((c << 6) | d) & 0xff);
      }
      bytes = Buffer.from(out.slice(0, length));
    }
    file.size += bytes.length;
    if (file.headBytes < this.headBytes && bytes.length) {
      const take = bytes.subarray(0, this.headBytes - file.headBytes);
      file.head.push(take);
      file.headBytes += take.length;
    }
  }

  private closeFile(): void {
    const file = this.file;
    if (!file) return;
    this.file = null;
    if (file.rest) {
      const bytes = Buffer.from(file.rest, 'base64');
      file.size += bytes.length;
      if (file.headBytes < this.headBytes) file.head.push(bytes.subarray(0, this.headBytes - file.headBytes));
    }
    this.found.file?.({ name: file.name, head: Buffer.concat(file.head), size: file.size });
  }
}

const BEGIN_BYTES = Buffer.from('begin');
const YENC_BYTES = Buffer.from('=ybegin');

/**
 * `couldBeBegin` on the bytes of a line's start (`data` from `start` to `end`), without copying or decoding them:
 * false only where it would say false (ASCII letters compared case-blind; no latin1 letter lowercases to an ASCII one).
 */
function startsLikeBegin(data: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end && (data[i] === 0x20 || data[i] === 0x09)) i++;
  const yenc = data[i] === 0x3d;
  const word = yenc ? YENC_BYTES : BEGIN_BYTES;
  for (let k = 0; k < word.length; k++) {
    if (i + k >= end) return true;
    if ((data[i + k]! | 0x20) !== (word[k]! | 0x20)) return false;
  }
  if (i + word.length >= end) return true;
  const after = data[i + word.length];
  return after === 0x20 || after === 0x09 || (!yenc && after === 0x2d);
}

/** Whether a line starting with `head` may still turn out to be a begin line (uuencode, begin-base64 or yEnc). */
function couldBeBegin(head: string): boolean {
  const text = head.replace(/^[ \t]+/, '').toLowerCase();
  if (text.startsWith('=')) return text.length < 8 ? '=ybegin '.startsWith(text) : /^=ybegin[ \t]/.test(text);
  if (text.length < 6) return 'begin '.startsWith(text);
  return /^begin[ \t-]/.test(text);
}

import { crc32, deflateRawSync } from 'node:zlib';

/** The EICAR anti-virus test file (68 bytes): every scanner must report it, it does nothing. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

export interface ZipMember {
  name: string;
  data: Buffer | string;
  /** Only sets the flag, enough for a listing. */
  encrypted?: boolean;
  /** Deflate the data (method 8) instead of storing it. */
  deflate?: boolean;
  /** The uncompressed size the headers claim, when it should not be the data's (a lying archive, a bomb). */
  declaredSize?: number;
  /** The name's raw bytes, when they should not be `name` in UTF-8 (a CP437 name, a NUL inside). */
  rawName?: Buffer;
  /** General-purpose bit 11 (the name is UTF-8); default set. */
  utf8?: boolean;
  /** Extra fields of both headers (e.g. unicodePathField()); `localExtra` replaces them in the local header. */
  extra?: Buffer;
  localExtra?: Buffer;
  /** The local header's name, when it should differ from the directory's. */
  localName?: string;
}

/** A zip archive; members are stored unless `deflate` is set. */
export function makeZip(members: ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const plain = Buffer.isBuffer(member.data) ? member.data : Buffer.from(member.data);
    const data = member.deflate ? deflateRawSync(plain) : plain;
    const method = member.deflate ? 8 : 0;
    const size = member.declaredSize ?? plain.length;
    const name = member.rawName ?? Buffer.from(member.name, 'utf8');
    const localName = member.localName === undefined ? name : Buffer.from(member.localName, 'utf8');
    const extra = member.extra ?? Buffer.alloc(0);
    const localExtra = member.localExtra ?? extra;
    const flags = (member.utf8 === false ? 0 : 0x800) | (member.encrypted ? 1 : 0);
    const crc = crc32(plain);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(localName.length, 26);
    local.writeUInt16LE(localExtra.length, 28);
    locals.push(local, localName, localExtra, data);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name, extra);
    offset += 30 + localName.length + localExtra.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/**
 * An Info-ZIP Unicode Path extra field (0x7075): version 1, the CRC-32 of the header's raw name `raw`, `name` in
 * UTF-8. `version`, `crc` and `size` (the field's declared data size) override the true values for malformed fields.
 */
export function unicodePathField(name: string, raw: string | Buffer, options: { version?: number; crc?: number; size?: number } = {}): Buffer {
  const utf8 = Buffer.from(name, 'utf8');
  const field = Buffer.alloc(9);
  field.writeUInt16LE(0x7075, 0);
  field.writeUInt16LE(options.size ?? 5 + utf8.length, 2);
  field.writeUInt8(options.version ?? 1, 4);
  field.writeUInt32LE(options.crc ?? crc32(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8')), 5);
  return Buffer.concat([field, utf8]);
}

/** The start of a Windows program: an MZ stub whose e_lfanew points at "PE\0\0". */
export function peExecutable(): Buffer {
  const pe = Buffer.alloc(256);
  pe.write('MZ', 0, 'latin1');
  pe.writeUInt32LE(0x80, 0x3c);
  pe.write('PE\0\0', 0x80, 'latin1');
  return pe;
}

function base64Lines(data: Buffer): string {
  return data.toString('base64').replace(/.{1,76}/g, '$&\r\n');
}

export interface Attachment {
  /** Raw Content-Disposition parameters after "attachment;" (e.g. an RFC 2231 filename*0*=...); default: filename="NAME". */
  disposition?: string;
  name?: string;
  contentType?: string;
  data: Buffer | string;
}

/** A multipart/mixed message (CRLF) with a text part and the given attachments, base64-encoded. */
export function messageWithAttachments(subject: string, attachments: Attachment[], options: { text?: string; from?: string } = {}): string {
  const boundary = `b-${subject.replace(/\W/g, '')}-${Date.now()}`;
  const parts = [
    `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${options.text ?? 'Please find the file attached.'}\r\n`,
    ...attachments.map((attachment) => {
      const data = Buffer.isBuffer(attachment.data) ? attachment.data : Buffer.from(attachment.data);
      const disposition = attachment.disposition ?? `filename="${attachment.name ?? 'file.bin'}"`;
      return (
        `--${boundary}\r\nContent-Type: ${attachment.contentType ?? 'application/octet-stream'}\r\n` +
        `Content-Disposition: attachment;\r\n ${disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(data)}`
      );
    }),
  ];
  return (
    `From: ${options.from ?? 'Alice <alice@sender.test>'}\r\nTo: bob@example.test\r\nSubject: ${subject}\r\n` +
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@sender.test>\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n${parts.join('')}--${boundary}--\r\n`
  );
}

/** A zip of `levels` zips, each inside the next ("l1.zip" holds "l2.zip" ...), the innermost holding `members`. */
export function nestedZip(levels: number, members: ZipMember[]): Buffer {
  let zip = makeZip(members);
  for (let level = levels; level > 1; level--) zip = makeZip([{ name: `l${level}.zip`, data: zip, deflate: true }]);
  return zip;
}

/** A zip of exactly `bytes` bytes: `members` and a stored padding member sized to fit. */
export function zipOfSize(bytes: number, members: ZipMember[]): Buffer {
  const without = makeZip([...members, { name: 'pad.bin', data: '' }]).length;
  const zip = makeZip([...members, { name: 'pad.bin', data: Buffer.alloc(bytes - without) }]);
  if (zip.length !== bytes) throw new Error(`zipOfSize: ${zip.length} != ${bytes}`);
  return zip;
}

const HEAD = (subject: string) =>
  `From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\nSubject: ${subject}\r\nDate: ${new Date().toUTCString().replace('GMT', '+0000')}\r\n` +
  `Message-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@sender.test>\r\nMIME-Version: 1.0\r\n`;

/** One attachment part (headers and base64 body, CRLF), without its boundary line. */
function attachmentPart(attachment: Attachment, extraHeader = ''): string {
  const data = Buffer.isBuffer(attachment.data) ? attachment.data : Buffer.from(attachment.data);
  return (
    `Content-Type: ${attachment.contentType ?? 'application/octet-stream'}\r\nContent-Disposition: attachment; filename="${attachment.name ?? 'file.bin'}"\r\n` +
    `Content-Transfer-Encoding: base64\r\n${extraHeader}\r\n${base64Lines(data)}`
  );
}

/**
 * A message of exactly `nodes` MIME nodes as mailsplit counts them: the multipart/mixed message, `nodes - 2` small
 * text parts, and `attachment` as the last part.
 */
export function messageWithNodes(subject: string, nodes: number, attachment: Attachment): string {
  const parts = Array.from({ length: nodes - 2 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`);
  return `${HEAD(subject)}Content-Type: multipart/mixed; boundary="b"\r\n\r\n${parts.join('')}--b\r\n${attachmentPart(attachment)}--b--\r\n`;
}

/** A message whose `attachment` sits at nesting depth `depth` (the message is 0): depth - 1 multiparts inside it. */
export function messageNested(subject: string, depth: number, attachment: Attachment): string {
  let body = attachmentPart(attachment);
  for (let level = depth - 1; level >= 1; level--) body = `Content-Type: multipart/mixed; boundary="n${level}"\r\n\r\n--n${level}\r\n${body}--n${level}--\r\n`;
  return `${HEAD(subject)}Content-Type: multipart/mixed; boundary="n0"\r\n\r\n--n0\r\n${body}--n0--\r\n`;
}

/** A message whose attachment part has a header block of exactly `bytes` bytes (the blank line ending it included). */
export function messageWithPartHeader(subject: string, bytes: number, attachment: Attachment): string {
  const base = attachmentPart(attachment);
  const headerBytes = base.indexOf('\r\n\r\n') + 4;
  const filler = bytes - headerBytes - 'X-Filler: \r\n'.length;
  // folded over continuation lines of 73 bytes ("\r\n " and 70 characters), as a long header would be
  const continuations = Math.floor((filler - 1) / 73);
  const lines = ['x'.repeat(filler - continuations * 73), ...Array.from({ length: continuations }, () => `\r\n ${'x'.repeat(70)}`)];
  const part = attachmentPart(attachment, `X-Filler: ${lines.join('')}\r\n`);
  if (part.indexOf('\r\n\r\n') + 4 !== bytes) throw new Error(`messageWithPartHeader: ${part.indexOf('\r\n\r\n') + 4} != ${bytes}`);
  return `${HEAD(subject)}Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n${part}--b--\r\n`;
}

/** A message whose own header block is exactly `bytes` bytes (the blank line included), then `attachment`. */
export function messageWithTopHeader(subject: string, bytes: number, attachment: Attachment): string {
  const head = `${HEAD(subject)}Content-Type: multipart/mixed; boundary="b"\r\n`;
  let left = bytes - Buffer.byteLength(head) - 2;
  const lines: string[] = [];
  const line = (take: number) => {
    const name = `X-Trace-${lines.length}: `;
    lines.push(`${name}${'t'.repeat(take - name.length - 2)}\r\n`);
  };
  for (; left > 1900; left -= 900) line(900);
  const half = Math.floor(left / 2);
  line(half);
  line(left - half);
  return `${head}${lines.join('')}\r\n--b\r\n${attachmentPart(attachment)}--b--\r\n`;
}

/** A message whose own header block has exactly `lines` lines (the blank line included): one field folded over most. */
export function messageWithHeaderLines(subject: string, lines: number, attachment: Attachment): string {
  const head = `${HEAD(subject)}Content-Type: multipart/mixed; boundary="b"\r\n`;
  const fixed = head.split('\r\n').length - 1 + 2; // the X-Fold line and the blank line
  const message = `${head}X-Fold: a${'\r\n a'.repeat(lines - fixed)}\r\n\r\n--b\r\n${attachmentPart(attachment)}--b--\r\n`;
  const counted = message.slice(0, message.indexOf('\r\n\r\n') + 4).split('\r\n').length - 1;
  if (counted !== lines) throw new Error(`messageWithHeaderLines: ${counted} != ${lines}`);
  return message;
}

let forwards = 0;

export interface ForwardOptions {
  /** Default message/rfc822. */
  contentType?: string;
  /** How the attached message is encoded in its part; default 7bit (as Outlook sends it), base64 as some clients do. */
  encoding?: '7bit' | 'base64';
  /** Default attachment (Outlook's "forward as attachment"). */
  disposition?: 'attachment' | 'inline' | null;
  name?: string;
  text?: string;
}

/**
 * A message forwarding `inner` (a whole message, CRLF) as an attached message part after a text part: the
 * attached message is at depth 1, its own root at depth 2, what is inside it deeper still.
 */
export function messageForwarding(subject: string, inner: string, options: ForwardOptions = {}): string {
  const boundary = `fwd-${++forwards}-${Date.now()}`;
  const encoding = options.encoding ?? '7bit';
  const disposition = options.disposition === undefined ? 'attachment' : options.disposition;
  const body = encoding === 'base64' ? base64Lines(Buffer.from(inner)) : inner.endsWith('\r\n') ? inner : `${inner}\r\n`;
  return (
    `${HEAD(subject)}Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
    `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${options.text ?? 'See the message below.'}\r\n` +
    `--${boundary}\r\nContent-Type: ${options.contentType ?? 'message/rfc822'}\r\n` +
    (disposition ? `Content-Disposition: ${disposition}; filename="${options.name ?? 'forwarded.eml'}"\r\n` : '') +
    `Content-Transfer-Encoding: ${encoding}\r\n\r\n${body}--${boundary}--\r\n`
  );
}

/** `inner` forwarded as an attachment `times` times over (each forward puts it two levels deeper). */
export function messageForwardedTimes(subject: string, times: number, inner: string, options: ForwardOptions = {}): string {
  let raw = inner;
  for (let time = 1; time <= times; time++) raw = messageForwarding(`${subject} (forward ${time})`, raw, options);
  return raw;
}

// TNEF streams (winmail.dat, MS-OXTNEF) as Outlook writes them, for the tests of filters/tnef.ts.

export const PT_LONG = 0x0003;
export const PT_OBJECT = 0x000d;
export const PT_STRING8 = 0x001e;
export const PT_UNICODE = 0x001f;
export const PT_BINARY = 0x0102;
export const PR_ATTACH_DATA = 0x3701;
export const PR_ATTACH_EXTENSION = 0x3703;
export const PR_ATTACH_LONG_FILENAME = 0x3707;
export const PR_ATTACH_METHOD = 0x3705;
/** IID_IMessage: an embedded object that is a message (its data is a TNEF stream of its own). */
const IID_IMESSAGE = Buffer.from('0703020000000000c000000000000046', 'hex');

export interface MapiProperty {
  id: number;
  type: number;
  /** A string for the string types, a number for PT_LONG, bytes for the rest (PT_OBJECT: after its interface id). */
  value: string | number | Buffer;
  /** A named property (id 0x8000 and up): its set and a number, or a name (as Outlook's "AttachmentOriginalUrl"). */
  named?: boolean | string;
}

export interface TnefAttachment {
  /** attAttachTitle: the name Outlook shows (often 8.3); raw bytes when it should not be the text in Latin-1. */
  title?: string | Buffer;
  /** attAttachData. */
  data?: Buffer | string;
  /** attAttachment: the MAPI properties (a long file name, the data of an embedded message). */
  properties?: MapiProperty[];
  /** attAttachment's raw bytes instead of `properties` (a damaged or oversized block). */
  rawProperties?: Buffer;
  /** The attributes' ids with another high half (the type word), which TNEF readers do not check. */
  typeWord?: number;
}

const pad4 = (bytes: Buffer) => Buffer.concat([bytes, Buffer.alloc((4 - (bytes.length % 4)) % 4)]);
const u32 = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0);
  return bytes;
};

/** One attribute: level, id, length, data and the checksum (the sum of the data's bytes, 16 bits). */
export function tnefAttribute(level: number, id: number, data: Buffer): Buffer {
  let sum = 0;
  for (const byte of data) sum = (sum + byte) & 0xffff;
  const checksum = Buffer.alloc(2);
  checksum.writeUInt16LE(sum);
  return Buffer.concat([Buffer.from([level]), u32(id), u32(data.length), data, checksum]);
}

/** An attAttachment block (MS-OXTNEF 2.1.3.5). */
export function mapiProperties(properties: MapiProperty[]): Buffer {
  const parts: Buffer[] = [u32(properties.length)];
  for (const property of properties) {
    parts.push(u32(((property.id << 16) | property.type) >>> 0));
    if (typeof property.named === 'string') {
      const name = Buffer.from(`${property.named}\0`, 'utf16le');
      parts.push(Buffer.alloc(16, 0x11), u32(1), u32(name.length), pad4(name));
    } else if (property.named) {
      parts.push(Buffer.alloc(16, 0x11), u32(0), u32(0x8233));
    }
    if (property.type === PT_LONG) {
      parts.push(u32(Number(property.value)));
      continue;
    }
    const value =
      property.type === PT_STRING8 ? Buffer.from(`${String(property.value)}\0`, 'latin1')
      : property.type === PT_UNICODE ? Buffer.from(`${String(property.value)}\0`, 'utf16le')
      : property.type === PT_OBJECT ? Buffer.concat([IID_IMESSAGE, property.value as Buffer])
      : (property.value as Buffer);
    parts.push(u32(1), u32(value.length), pad4(value));
  }
  return Buffer.concat(parts);
}

/** A whole TNEF stream: signature, version, message class, then each attachment's attributes. */
export function makeTnef(attachments: TnefAttachment[]): Buffer {
  const parts = [
    u32(0x223e9f78),
    Buffer.from([0x01, 0x00]),
    tnefAttribute(1, 0x00089006, u32(0x00010000)),
    tnefAttribute(1, 0x00069007, Buffer.concat([u32(1252), u32(0)])),
    tnefAttribute(1, 0x00078008, Buffer.from('IPM.Microsoft Mail.Note\0', 'latin1')),
  ];
  for (const attachment of attachments) {
    const id = (usual: number) => (attachment.typeWord === undefined ? usual : ((attachment.typeWord << 16) | (usual & 0xffff)) >>> 0);
    parts.push(tnefAttribute(2, 0x00069002, Buffer.alloc(14)));
    if (attachment.title !== undefined) parts.push(tnefAttribute(2, id(0x00018010), Buffer.isBuffer(attachment.title) ? attachment.title : Buffer.from(`${attachment.title}\0`, 'latin1')));
    if (attachment.data !== undefined) parts.push(tnefAttribute(2, id(0x0006800f), Buffer.isBuffer(attachment.data) ? attachment.data : Buffer.from(attachment.data)));
    const block = attachment.rawProperties ?? (attachment.properties ? mapiProperties(attachment.properties) : null);
    if (block) parts.push(tnefAttribute(2, id(0x00069005), block));
  }
  return Buffer.concat(parts);
}

/** An attachment that is a message embedded `levels` deep, the innermost holding `inner`. */
export function embeddedMessages(levels: number, inner: TnefAttachment[]): TnefAttachment {
  let attachment: TnefAttachment = { title: 'level.msg', properties: [{ id: PR_ATTACH_METHOD, type: PT_LONG, value: 5 }, { id: PR_ATTACH_DATA, type: PT_OBJECT, value: makeTnef(inner) }] };
  for (let level = 1; level < levels; level++) {
    attachment = { title: 'level.msg', properties: [{ id: PR_ATTACH_DATA, type: PT_OBJECT, value: makeTnef([attachment]) }] };
  }
  return attachment;
}

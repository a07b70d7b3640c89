import { crc32 } from 'node:zlib';

/** The EICAR anti-virus test file (68 bytes): every scanner must report it, it does nothing. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** A zip archive with stored (uncompressed) members; `encrypted` only sets the flag, enough for a listing. */
export function makeZip(members: { name: string; data: Buffer | string; encrypted?: boolean }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const data = Buffer.isBuffer(member.data) ? member.data : Buffer.from(member.data);
    const name = Buffer.from(member.name, 'utf8');
    const flags = 0x800 | (member.encrypted ? 1 : 0);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, data);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
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

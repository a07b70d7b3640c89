// The part of mailsplit's API that filters/mime.ts uses (the package ships no types).
declare module 'mailsplit' {
  import { Transform } from 'node:stream';

  export interface MimeNode {
    type: 'node';
    root: boolean;
    parentNode: MimeNode | false;
    multipart: string | false;
    contentType: string | false;
    charset: string | false;
    disposition: string | false;
    filename: string | false;
    encoding: string | false;
    partNr: (number | string)[] | false;
    headers: { getList(): { key: string; line: string }[]; getFirst(key: string): string };
    _parsedContentType: { params: Record<string, string> } | false;
    _parsedContentDisposition: { params: Record<string, string> } | false;
    libmime: { decodeWords(text: string): string };
    /**
     * Set on a message/rfc822 node: true when mailsplit walks into it (inline, unencoded), false when its content
     * comes as the node's body; absent on other nodes.
     */
    messageNode?: boolean;
    /** Bytes of the node's header block read so far (the blank line ending it included). */
    _headerlen: number;
    /** The boundary mailsplit splits a multipart at (its Content-Type's boundary parameter as libmime reads it); false when none. */
    _boundary: Buffer | false;
  }

  export interface SplitterChunk {
    type: 'body' | 'data';
    node: MimeNode;
    value?: Buffer;
  }

  export class Splitter extends Transform {
    constructor(config?: { maxHeadSize?: number; maxChildNodes?: number; ignoreEmbedded?: boolean });
  }
}

/** mailsplit's header block of a part (filters/mailsplit-encoding.ts wraps one method of it). */
declare module 'mailsplit/lib/headers.js' {
  const Headers: { prototype: { getFirst(key: string): string } };
  export default Headers;
}

// Bounds on the signatures mailauth's DKIM verifier takes on, checked when it has read a message's header block and
// before it hashes anything. Unbounded, one message could hold the filter thread for a minute: mailauth keeps one body
// hasher per distinct canonicalization, hash and l= value, and runs every one over the whole body in JavaScript
// (4,000 signatures each with its own l= fit in the 1 MiB header limit: about 74 s of CPU), and it looks up every
// name of a signature's h= list in every header line. Real mail carries a few signatures and one ARC set per hop.
// A message past a bound, or with a field naming __proto__ (which mailauth's tag parser would follow onto
// Object.prototype), is not checked: the filter gives it the unchecked verdict (never "pass"), or what DMARC on SPF
// alone asks where that is more (sender-auth.ts onSpfAlone).

import { MAX_AUTHOR_FIELD_CHARS } from '../util/address.ts';

/** DKIM-Signature fields in one message. */
export const MAX_DKIM_SIGNATURES = 10;
/** ARC sets (RFC 8617 4.2.1: instances run from 1 to 50): at most this many of each of its three fields. */
export const MAX_ARC_SETS = 50;
/** Header names in one signature's h= list. */
export const MAX_SIGNED_FIELDS = 100;
/** Distinct body hashes (canonicalization, hash and l= together), each a pass over the body; real mail needs one or two. */
export const MAX_BODY_HASHES = 3;
/** Bytes of one DKIM or ARC field (mailauth parses each character by character). */
export const MAX_SIGNATURE_FIELD_BYTES = 64 * 1024;

const ARC_FIELDS = ['arc-seal', 'arc-message-signature', 'arc-authentication-results'];

/** Sender authentication was not done: the signatures are past a bound. */
export class NotCheckedError extends Error {
  override readonly name = 'NotCheckedError';
  /** The header block, when it was read before the bound was found: its From can still be judged on SPF alone. */
  headers?: ParsedHeaders;
}

/** The parts of mailauth's DkimVerifier the bounds read. */
interface VerifierState {
  signatureHeaders?: { skip?: boolean; type?: string; parsed?: { h?: { value?: unknown } } }[];
  bodyHashes?: Map<string, unknown>;
}
export interface ParsedHeaders {
  parsed: { key: string; line: Uint8Array }[];
}

/** Fails with NotCheckedError when the header block's DKIM and ARC fields are past a bound (before any parsing of them). */
export function checkSignatureFields(headers: ParsedHeaders): void {
  let dkim = 0;
  const arc = new Map<string, number>();
  for (const { key, line } of headers.parsed) {
    // mailauth reads each From as addresses for DMARC, in time that grows with the square of its mailboxes
    if (key === 'from' && line.length > MAX_AUTHOR_FIELD_CHARS) throw new NotCheckedError(`a From field of ${line.length} bytes, over the limit of ${MAX_AUTHOR_FIELD_CHARS}`);
    const isArc = ARC_FIELDS.includes(key);
    if (key !== 'dkim-signature' && !isArc) continue;
    if (line.length > MAX_SIGNATURE_FIELD_BYTES) throw new NotCheckedError(`a field ${key} of ${line.length} bytes, over the limit of ${MAX_SIGNATURE_FIELD_BYTES}`);
    // mailauth's tag parser follows a dotted tag name (a.b=…) through __proto__ onto Object.prototype; it drops
    // quotes, backslashes and spaces first (_"_"proto__ is __proto__ to it)
    if (Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('latin1').replace(/["'\\\s]+/g, '').includes('__proto__')) {
      throw new NotCheckedError(`a field ${key} naming __proto__`);
    }
    if (key === 'dkim-signature' && ++dkim > MAX_DKIM_SIGNATURES) throw new NotCheckedError(`more than ${MAX_DKIM_SIGNATURES} DKIM signatures`);
    if (isArc) {
      const count = (arc.get(key) ?? 0) + 1;
      if (count > MAX_ARC_SETS) throw new NotCheckedError(`more than ${MAX_ARC_SETS} ${key} fields`);
      arc.set(key, count);
    }
  }
}

/** Fails with NotCheckedError when the parsed signatures ask for too much work (after mailauth parsed them, before the body). */
export function checkSignatureWork(verifier: VerifierState): void {
  for (const signature of verifier.signatureHeaders ?? []) {
    if (signature.skip) continue;
    const names = String(signature.parsed?.h?.value ?? '').split(':').length;
    if (names > MAX_SIGNED_FIELDS) throw new NotCheckedError(`a ${signature.type ?? 'DKIM'} signature that signs ${names} header fields, over the limit of ${MAX_SIGNED_FIELDS}`);
  }
  const hashes = verifier.bodyHashes?.size ?? 0;
  if (hashes > MAX_BODY_HASHES) throw new NotCheckedError(`signatures asking for ${hashes} different body hashes, over the limit of ${MAX_BODY_HASHES}`);
}

/**
 * Puts the bounds around DkimVerifier.prototype.messageHeaders (mailauth 4.13.3, pinned; the ARC and DKIM checks
 * both go through it); returns the method it wrapped. An error there ends mailauth's stream, so dkimVerify rejects.
 */
export function installSignatureLimits(prototype: { messageHeaders: (headers: ParsedHeaders) => Promise<void> }): (headers: ParsedHeaders) => Promise<void> {
  const original = prototype.messageHeaders;
  prototype.messageHeaders = async function messageHeaders(this: VerifierState, headers: ParsedHeaders): Promise<void> {
    try {
      checkSignatureFields(headers);
      await original.call(this, headers);
      checkSignatureWork(this);
    } catch (error) {
      if (error instanceof NotCheckedError) error.headers = headers;
      throw error;
    }
  };
  return original;
}

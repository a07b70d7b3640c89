// Address checks for MAIL FROM and RCPT TO. This is where envelope addresses enter Moat, so
// everything else may assume what is checked here (STYLE habit 14). The checks return
// verdicts with reasons; src-relay/smtp/ turns them into reply codes (STYLE habit 8).
import { domainToASCII } from 'node:url';

export const MAX_LOCAL_PART_OCTETS = 64; // RFC 5321 4.5.3.1.1
export const MAX_ADDRESS_OCTETS = 254; // RFC 3696 errata 1690: RFC 5321 path of 256 octets minus "<" and ">"
export const MAX_DOMAIN_OCTETS = 253; // RFC 1035 2.3.4: 255 octets on the wire is 253 characters in text form
export const MAX_LABEL_OCTETS = 63; // RFC 1035 2.3.4
/**
 * The longest From or Sender field read as addresses (its value, unfolded). Real ones are a line or two; the address
 * parsers of mailauth and nodemailer take time that grows with the square of a longer one's mailboxes.
 */
export const MAX_AUTHOR_FIELD_CHARS = 8 * 1024;

export type RecipientRefusal = 'syntax' | 'relay' | 'unknown-recipient';

export type RecipientCheck =
  | { ok: true; address: string; domain: string }
  | { ok: false; refusal: RecipientRefusal; reason: string };

export interface RecipientPolicy {
  /** Accepted domains, already normalised with normalizeDomain. */
  domains: ReadonlySet<string>;
  /** When present and non-empty, only these full addresses (normalised, lower-case) are accepted. */
  recipients?: ReadonlySet<string>;
}

export type SenderCheck = { ok: true; address: string } | { ok: false; reason: string };

// Characters in a local part that some mail system along the way may read as a route to
// another host. Any of them in a recipient is refused as an attempt to relay, before the
// ordinary syntax rules are looked at, so the log says why.
const ROUTING_IN_LOCAL_PART: ReadonlyArray<{ pattern: RegExp; reason: string }> = [
  { pattern: /%/, reason: 'percent-hack routing ("%") in the local part is not accepted' },
  { pattern: /!/, reason: 'bang-path routing ("!") in the local part is not accepted' },
  { pattern: /@/, reason: 'an "@" inside the local part is not accepted' },
  { pattern: /["\\]/, reason: 'quoted or escaped local parts are not accepted' },
  { pattern: /[:,]/, reason: 'source-route characters (":" or ",") in the local part are not accepted' },
  { pattern: /[[\]<>]/, reason: 'brackets in the local part are not accepted' },
  // Exchange decodes IMCEA-encapsulated addresses (IMCEASMTP-user+40elsewhere.example) into a foreign address
  { pattern: /^IMCEA/i, reason: 'IMCEA-encapsulated addresses are not accepted' },
];

// RFC 5322 3.2.3 atext, without "%" and "!" which recipients may not use (see above), plus
// the letters, marks and digits of any script (RFC 6531 SMTPUTF8). Marks are needed because
// letters of several scripts (Devanagari vowel signs, for one) are combining characters.
const RECIPIENT_ATOM = /^[A-Za-z0-9#$&'*+\-/=?^_`{|}~\p{L}\p{M}\p{N}]+$/u;
// a sender's "%" or "!" routes nothing through us, and refusing it would lose mail
const SENDER_ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\p{L}\p{M}\p{N}]+$/u;

// Lone surrogates are included: such a string has no UTF-8 form
const CONTROL_CHARS = /[\p{Cc}\p{Cs}]/u;
// Invisible characters (zero-width space, soft hyphen, word joiner, bidi overrides...) make
// one address look like another. The IDNA mapping even drops some of them silently, so
// "ours\u200B.example" would become "ours.example". The zero-width (non-)joiners are left
// to the IDNA rules, which allow them only where some scripts need them.
const INVISIBLE_CHARS = /(?![\u200C\u200D])\p{Default_Ignorable_Code_Point}/u;
// The WHATWG host parser behind domainToASCII percent-decodes its input and cuts it at "/",
// "?", "#" and "\", so "ours%2Eexample" and "ours.example/evil.com" both come out as
// "ours.example". Only letters, digits, hyphens and dots may reach it. The check runs on the
// NFKC form, which leaves ASCII alone and turns a full-width "／" into the "/" that IDNA
// sees; Node refuses those mapped forms today, this does not rely on it.
const ASCII_OUTSIDE_LDH = /[\x00-\x2C\x2F\x3A-\x40\x5B-\x60\x7B-\x7F]/;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const ALL_DIGITS = /^[0-9]+$/;
const POSTMASTER = /^postmaster$/i;

const octets = (value: string): number => Buffer.byteLength(value, 'utf8');

/** Lower-case ASCII (punycode) form of a domain without a trailing dot, or null when it is not a valid DNS domain name. */
export function normalizeDomain(domain: string): string | null {
  if (typeof domain !== 'string' || domain === '') return null;
  if (CONTROL_CHARS.test(domain) || INVISIBLE_CHARS.test(domain)) return null;
  if (ASCII_OUTSIDE_LDH.test(domain.normalize('NFKC'))) return null;

  let ascii = domainToASCII(domain);
  // one root dot is allowed (RFC 1034 3.1); domainToASCII keeps it and maps "。" to it
  if (ascii.endsWith('.')) ascii = ascii.slice(0, -1);
  if (ascii === '' || ascii.length > MAX_DOMAIN_OCTETS) return null;

  const labels = ascii.split('.');
  if (!labels.every((label) => label.length <= MAX_LABEL_OCTETS && LDH_LABEL.test(label))) return null;
  // an all-numeric top label is an IPv4 address (domainToASCII turns "127.1" into "127.0.0.1"),
  // and IP addresses are only accepted as bracketed literals, which this function refuses
  if (ALL_DIGITS.test(labels[labels.length - 1] ?? '')) return null;
  return ascii;
}

/** Splits an address at its last '@'; null when it has none. */
export function splitAddress(address: string): { local: string; domain: string } | null {
  const at = address.lastIndexOf('@');
  if (at < 0) return null;
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/** The normalised domain of an address (after its last '@'); null when it has none or it is not a domain. */
export function addressDomain(address: string): string | null {
  return normalizeDomain(splitAddress(address)?.domain ?? '');
}

/** A list of domains (the accepted ones) as `inDomains` reads them: normalised, one that is not a domain left out. */
export function domainSet(domains: readonly string[]): ReadonlySet<string> {
  return new Set(domains.map(normalizeDomain).filter((domain): domain is string => domain !== null));
}

/** Whether the address is in one of the domains (made by `domainSet`). */
export function inDomains(address: string, domains: ReadonlySet<string>): boolean {
  const domain = addressDomain(address);
  return domain !== null && domains.has(domain);
}

/** Decides whether an RCPT TO address (as smtp-server hands it over) is one of our own plain mailboxes. */
export function checkRecipient(address: string, policy: RecipientPolicy): RecipientCheck {
  const syntax = (reason: string): RecipientCheck => ({ ok: false, refusal: 'syntax', reason });
  const relay = (reason: string): RecipientCheck => ({ ok: false, refusal: 'relay', reason });

  const unsafe = unsafeCharsProblem(address);
  if (unsafe) return syntax(unsafe);

  // RFC 5321 4.1.1.3: "RCPT TO:<Postmaster>" without a domain must be accepted
  if (POSTMASTER.test(address)) {
    const first = policy.domains.values().next();
    if (first.done) return relay('no domain is configured to receive mail for postmaster');
    return { ok: true, address: `postmaster@${first.value}`, domain: first.value };
  }

  const parts = splitAddress(address);
  if (!parts) return syntax('the address has no domain');
  if (parts.local === '') return syntax('the local part is empty');
  if (parts.domain === '') return syntax('the domain is empty');

  for (const { pattern, reason } of ROUTING_IN_LOCAL_PART) {
    if (pattern.test(parts.local)) return relay(reason);
  }
  if (/[[\]]/.test(parts.domain)) return relay('address literals are not accepted as a recipient domain');

  const domain = normalizeDomain(parts.domain);
  if (domain === null) return syntax('the domain is not a valid domain name');
  // exact match only: a subdomain of ours is served by whoever its MX points at, not by us
  if (!policy.domains.has(domain)) return relay('the domain is not one we accept mail for');

  const localProblem = localPartProblem(parts.local, RECIPIENT_ATOM);
  if (localProblem) return syntax(localProblem);

  const normalised = `${parts.local}@${domain}`;
  if (octets(normalised) > MAX_ADDRESS_OCTETS) return syntax(`the address is longer than ${MAX_ADDRESS_OCTETS} octets`);

  // RFC 5321 4.5.1: postmaster at each of our domains must work, listed or not
  if (POSTMASTER.test(parts.local)) return { ok: true, address: normalised, domain };
  if (policy.recipients && policy.recipients.size > 0 && !policy.recipients.has(normalised.toLowerCase())) {
    return { ok: false, refusal: 'unknown-recipient', reason: 'there is no such mailbox here' };
  }
  return { ok: true, address: normalised, domain };
}

/** Validates a MAIL FROM address ('' is the null sender and is valid). Returns the normalised sender or an error reason. */
export function checkSender(address: string): SenderCheck {
  const refuse = (reason: string): SenderCheck => ({ ok: false, reason });
  // RFC 5321 4.5.5: the null reverse-path of bounces and auto-replies
  if (address === '') return { ok: true, address: '' };

  const unsafe = unsafeCharsProblem(address);
  if (unsafe) return refuse(unsafe);

  const parts = splitAddress(address);
  if (!parts) return refuse('the address has no domain');
  if (parts.local === '') return refuse('the local part is empty');
  if (parts.domain === '') return refuse('the domain is empty');
  if (/[[\]]/.test(parts.domain)) return refuse('address literals are not accepted as a sender domain');

  const localProblem = localPartProblem(parts.local, SENDER_ATOM);
  if (localProblem) return refuse(localProblem);

  const domain = normalizeDomain(parts.domain);
  if (domain === null) return refuse('the domain is not a valid domain name');

  const normalised = `${parts.local}@${domain}`;
  if (octets(normalised) > MAX_ADDRESS_OCTETS) return refuse(`the address is longer than ${MAX_ADDRESS_OCTETS} octets`);
  return { ok: true, address: normalised };
}

function unsafeCharsProblem(address: string): string | null {
  if (typeof address !== 'string' || address === '') return 'the address is empty';
  if (CONTROL_CHARS.test(address)) return 'the address contains a control character';
  if (INVISIBLE_CHARS.test(address)) return 'the address contains an invisible formatting character';
  return null;
}

// RFC 5321 4.1.2 Dot-string; quoted strings are refused by the callers' rules
function localPartProblem(local: string, atom: RegExp): string | null {
  if (octets(local) > MAX_LOCAL_PART_OCTETS) return `the local part is longer than ${MAX_LOCAL_PART_OCTETS} octets`;
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    return 'the local part has a dot at its start or end, or two dots in a row';
  }
  if (!local.split('.').every((piece) => atom.test(piece))) return 'the local part contains a character that is not allowed';
  return null;
}

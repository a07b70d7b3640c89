import { TextDecoder } from 'node:util';
import { addressDomain, domainSet, normalizeDomain } from '../util/address.ts';
import { decodeHeaderText } from '../util/header-text.ts';
import { trimEndOf, withoutParenthesized } from '../util/linear-text.ts';
import type { Filter, FilterResult, MessageContext, MimeSummary } from './types.ts';
import { fromAddresses, mailboxAddresses } from './from-addresses.ts';

/** SpamAssassin's Generic Test for Unsolicited Bulk Email: any junk filter must treat it as certain junk. */
export const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
/** A Date more than this far ahead is not a clock off by a little (RFC 5322 3.3 allows any zone, so a day). */
const FUTURE_DATE_SLACK_MS = 24 * 3600 * 1000;
/** An HTML-only message with fewer visible characters than this is mostly an image or a link. */
const LITTLE_TEXT_CHARS = 100;

/** What a rule may look at. */
export interface RuleInput {
  message: MessageContext;
  mime: MimeSummary | undefined;
  /** Lower-cased header name -> values in order. */
  fields: Map<string, string[]>;
  /** Our accepted domains and the relay's own host name (the sender of its digests and bounces). */
  ownDomains: ReadonlySet<string>;
  now: number;
}

export interface BuiltinRule {
  /** Upper-case id, as in X-Spam-Status tests= and the `filters.rules` score overrides. */
  id: string;
  /** Plain words for the admin. */
  description: string;
  score: number;
  /** A detail in plain words (or true) when the rule hits; false/null when not. */
  test(input: RuleInput): string | boolean | null;
}

const ADDRESS = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;
const MESSAGE_ID = /^<[^\s<>@]+@[^\s<>@]+>$/;

function one(input: RuleInput, name: string): string | undefined {
  return input.fields.get(name)?.[0];
}

/**
 * A mailing list that rewrites its poster's From (Google Groups, Mailman: DMARC would fail the poster's own domain)
 * shows the poster, then "via" and the list, with the list's own address: `"'ann@example.org' via Staff"
 * <staff@googlegroups.com>`. Only the form a list writes counts: the address before "via", and a List-Id
 * (<name.domain>) of the domain the mail is really from.
 */
function listRewrite(input: RuleInput, name: string, shown: string, real: string): boolean {
  const poster = /^\s*["']*([^\s"']+)["']*\s+via\s+\S/i.exec(name)?.[1]?.toLowerCase();
  const realDomain = real.slice(real.lastIndexOf('@') + 1);
  const listId = /<([^<>\s]+)>/.exec(one(input, 'list-id') ?? '')?.[1]?.toLowerCase();
  return poster === shown && listId !== undefined && realDomain.length > 0 && (listId === realDomain || listId.endsWith(`.${realDomain}`));
}

function lastExtensions(name: string): string[] {
  return trimEndOf(name.toLowerCase(), /[\s.]/).split('.').slice(1);
}

const DOCUMENT_EXTENSIONS = new Set(['pdf', 'doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'txt', 'rtf', 'jpg', 'jpeg', 'png', 'gif', 'zip', 'htm', 'html', 'csv', 'odt']);
const PROGRAM_EXTENSIONS = new Set(['exe', 'scr', 'com', 'pif', 'bat', 'cmd', 'vbs', 'vbe', 'js', 'jse', 'wsf', 'hta', 'jar', 'msi', 'lnk', 'ps1', 'cpl', 'iso', 'img']);

/** Every built-in rule: a table, so the README lists it and the admin can change a score by id. */
export const BUILTIN_RULES: readonly BuiltinRule[] = [
  {
    id: 'GTUBE',
    description: 'the GTUBE test string (a deliberate junk test)',
    score: 1000,
    test: ({ mime }) => (mime?.text.includes(GTUBE) ? 'the message contains the GTUBE test string' : false),
  },
  {
    id: 'MISSING_DATE',
    description: 'no Date header (RFC 5322 requires one)',
    score: 1.5,
    test: (input) => !input.fields.has('date'),
  },
  {
    id: 'MALFORMED_DATE',
    description: 'a Date header that cannot be read as a date',
    score: 1.5,
    test: (input) => {
      const date = one(input, 'date');
      return date !== undefined && Number.isNaN(Date.parse(withoutParenthesized(date))) ? `Date: ${date.slice(0, 60)}` : false;
    },
  },
  {
    id: 'FUTURE_DATE',
    description: 'a Date more than a day in the future',
    score: 2,
    test: (input) => {
      const date = one(input, 'date');
      const at = date === undefined ? NaN : Date.parse(withoutParenthesized(date));
      return at > input.now + FUTURE_DATE_SLACK_MS ? `Date: ${date!.slice(0, 60)}` : false;
    },
  },
  {
    id: 'MISSING_FROM',
    description: 'no From header (RFC 5322 requires one)',
    score: 3,
    test: (input) => !input.fields.has('from'),
  },
  {
    id: 'MALFORMED_FROM',
    description: 'a From header without a readable address, or more than one From header',
    score: 2.5,
    test: (input) => {
      const froms = input.fields.get('from');
      if (!froms) return false;
      if (froms.length > 1) return `${froms.length} From headers`;
      const addresses = fromAddresses([{ name: 'from', value: froms[0]! }]);
      return addresses.length === 0 || !addresses.every((address) => ADDRESS.test(address)) ? `From: ${froms[0]!.slice(0, 80)}` : false;
    },
  },
  {
    id: 'MISSING_MESSAGE_ID',
    description: 'no Message-ID header (every real mail program writes one)',
    score: 1.5,
    test: (input) => !input.fields.has('message-id'),
  },
  {
    id: 'MALFORMED_MESSAGE_ID',
    description: 'a Message-ID that is not <something@somewhere>',
    score: 1,
    test: (input) => {
      const id = one(input, 'message-id');
      return id !== undefined && !MESSAGE_ID.test(id.trim()) ? `Message-ID: ${id.slice(0, 80)}` : false;
    },
  },
  {
    id: 'MISSING_SUBJECT',
    description: 'no Subject header',
    score: 0.5,
    test: (input) => !input.fields.has('subject'),
  },
  {
    id: 'FROM_OWN_DOMAIN_UNAUTHENTICATED',
    description: 'From one of our own domains, arriving from outside without passing sender authentication (no DMARC pass, no verified DKIM signature of it, no SPF pass for it)',
    // the default tag score by itself: a forged "CEO" goes to the Junk folder, marked, not to the inbox unmarked
    score: 5,
    test: (input) => {
      if (input.message.authenticatedUser) return false;
      const fields = [...(input.fields.get('from') ?? [])];
      // every reading: the words a person sees (an address in the display name too) and the mailboxes RFC 5322 finds
      const addresses = [...fromAddresses(fields.map((value) => ({ name: 'from', value }))), ...fields.flatMap((value) => mailboxAddresses(value).addresses)];
      // a sub-domain of ours too ("it.example.test"), and the relay's own name: a forged copy of its quarantine digest
      // (From postmaster@relay.example.test) teaches users to click
      const own = addresses.find((address) => ownRootOf(addressDomain(address), input.ownDomains) !== null);
      if (!own) return false;
      const ownDomain = addressDomain(own)!;
      const root = ownRootOf(ownDomain, input.ownDomains)!;
      // DMARC passed for that domain, a DKIM signature of it verified, or SPF passed for it (the office's own SPF record
      // allows the sending host: its web shop, its mailing service, without a DMARC record yet); a pass for another
      // name of ours counts too (news.example.test sent through bounce.example.test, relaxed alignment); an attacker's
      // pass for its own domain does not
      const ours = (name: string) => {
        const domain = normalizeDomain(name);
        return aligned(name, ownDomain) || (domain !== null && under(domain, root));
      };
      const passed = (input.message.results ?? []).some(
        (result) => result.passed && (result.passed.dmarc.includes(ownDomain) || result.passed.dkim.some(ours) || (result.passed.spf ?? []).some(ours)),
      );
      return passed ? false : `From: ${own}`;
    },
  },
  {
    id: 'FROM_NAME_HIDES_ADDRESS',
    description: 'the From display name shows a different address than the real one',
    score: 2.5,
    test: (input) => {
      const from = one(input, 'from');
      const match = from && /^(.*)<([^<>]+)>\s*$/.exec(from);
      if (!match) return false;
      // the name as a mail program shows it: an encoded word (=?utf-8?B?…?=) is decoded first
      const name = decodeHeaderText(match[1]) ?? '';
      const shown = /[^\s<>"'@]+@[^\s<>"'@]+\.[a-z]{2,}/i.exec(name)?.[0]?.toLowerCase();
      const real = match[2]!.trim().toLowerCase();
      if (!shown || shown === real || listRewrite(input, name, shown, real)) return false;
      return `shows ${shown}, is ${match[2]!.trim()}`;
    },
  },
  {
    id: 'HTML_ONLY',
    description: 'HTML without a plain-text alternative',
    score: 0.5,
    test: ({ mime }) => Boolean(mime && bodyParts(mime, 'text/html') > 0 && bodyParts(mime, 'text/plain') === 0),
  },
  {
    id: 'HTML_LITTLE_TEXT',
    description: 'HTML-only with almost no text (an image or a link in disguise)',
    score: 2.5,
    test: ({ mime }) =>
      mime && bodyParts(mime, 'text/html') > 0 && bodyParts(mime, 'text/plain') === 0 && mime.htmlChars < LITTLE_TEXT_CHARS
        ? `${mime.htmlChars} visible characters`
        : false,
  },
  {
    id: 'BASE64_TEXT',
    description: 'the text of the message is base64-encoded (hides words from simple filters)',
    score: 0.5,
    test: ({ mime }) => Boolean(mime?.parts.some((part) => isBody(part) && part.contentType.startsWith('text/') && part.transferEncoding === 'base64')),
  },
  {
    id: 'NEEDLESSLY_ENCODED_SUBJECT',
    description: 'a Subject in encoded words that are plain ASCII once decoded',
    score: 1,
    test: (input) => {
      const subject = one(input, 'subject');
      if (!subject || !/=\?[^?]+\?[bq]\?/i.test(subject)) return false;
      const decoded = decodeEncodedWords(subject);
      return decoded !== null && /^[\x20-\x7e]*$/.test(decoded) ? `Subject: ${subject.slice(0, 80)}` : false;
    },
  },
  {
    id: 'UNUSUAL_ENCODING',
    description: 'an unknown transfer encoding or charset',
    score: 1.5,
    test: ({ mime }) => mime?.anomalies.find((anomaly) => /^unknown (transfer encoding|charset)/.test(anomaly)) ?? false,
  },
  {
    id: 'MALFORMED_MIME',
    description: 'a broken MIME structure (a multipart without a boundary)',
    score: 1.5,
    test: ({ mime }) => mime?.anomalies.find((anomaly) => !/^unknown (transfer encoding|charset)/.test(anomaly)) ?? false,
  },
  {
    id: 'DISGUISED_ATTACHMENT_NAME',
    description: 'an attachment name made to look like a document (x.pdf.exe, hidden by spaces or right-to-left marks)',
    score: 3,
    test: ({ mime }) => {
      for (const part of mime?.parts ?? []) {
        for (const name of part.names) {
          if (/[\u202a-\u202e\u2066-\u2069\u200e\u200f]/.test(name)) return `"${name.replace(/[\u202a-\u202e\u2066-\u2069\u200e\u200f]/g, '?')}" has direction marks`;
          if (hidesExtension(name)) return `"${name}" hides its extension after spaces`;
          const extensions = lastExtensions(name);
          if (extensions.length >= 2 && DOCUMENT_EXTENSIONS.has(extensions.at(-2)!) && PROGRAM_EXTENSIONS.has(extensions.at(-1)!)) return `"${name}"`;
        }
      }
      return false;
    },
  },
];

function isBody(part: MimeSummary['parts'][number]): boolean {
  return part.filename === null && part.disposition !== 'attachment';
}

function bodyParts(mime: MimeSummary, type: string): number {
  return mime.parts.filter((part) => isBody(part) && part.contentType === type).length;
}

/** RFC 2047 encoded words to text (for the rules only; null when a charset is unknown). */
function decodeEncodedWords(value: string): string | null {
  try {
    return value.replace(/=\?([^?]+)\?([bq])\?([^?]*)\?=\s*/gi, (_all, charset: string, kind: string, text: string) => {
      const bytes = kind.toLowerCase() === 'b' ? Buffer.from(text, 'base64') : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
      return new TextDecoder(charset.split('*')[0]!).decode(bytes);
    });
  } catch {
    return null;
  }
}

export interface BuiltinRulesOptions {
  domains: readonly string[];
  /** The relay's host name: mail from outside that claims it is judged as mail claiming one of our domains. */
  hostname?: string;
  /** Rule id -> score, replacing the table's (0 turns a rule off). */
  scores?: Readonly<Record<string, number>>;
  clock?: () => number;
}

/**
 * Moat's own junk rules: works with nothing else installed. It only scores (verdict accept); the policy's
 * thresholds decide. Runs in stage 1 so that it sees sender authentication's results.
 */
export class BuiltinRulesFilter implements Filter {
  readonly name = 'builtin-rules';
  readonly role = 'junk';
  readonly stage = 1;
  private readonly rules: BuiltinRule[];
  private readonly ownDomains: ReadonlySet<string>;
  private readonly clock: () => number;

  constructor(options: BuiltinRulesOptions) {
    this.ownDomains = domainSet(options.hostname ? [...options.domains, options.hostname] : options.domains);
    this.clock = options.clock ?? Date.now;
    this.rules = BUILTIN_RULES.map((rule) => ({ ...rule, score: options.scores?.[rule.id] ?? rule.score })).filter((rule) => rule.score !== 0);
  }

  async check(message: MessageContext): Promise<FilterResult> {
    const fields = new Map<string, string[]>();
    for (const header of message.headers) {
      const key = header.name.toLowerCase();
      fields.set(key, [...(fields.get(key) ?? []), header.value]);
    }
    const input: RuleInput = { message, mime: message.mime, fields, ownDomains: this.ownDomains, now: this.clock() };
    let score = 0;
    const reasons: string[] = [];
    for (const rule of this.rules) {
      const hit = rule.test(input);
      if (!hit) continue;
      score += rule.score;
      reasons.push(`${rule.id} (${rule.score}): ${rule.description}${typeof hit === 'string' ? ` — ${hit}` : ''}`);
    }
    return { filter: this.name, verdict: 'accept', score: Math.round(score * 100) / 100, reasons };
  }
}

/** A signing domain speaks for `domain` when it is that domain, a parent of it or a sub-domain (relaxed alignment). */
function aligned(signer: string, domain: string): boolean {
  const name = normalizeDomain(signer);
  return name !== null && name.includes('.') && (name === domain || domain.endsWith(`.${name}`) || name.endsWith(`.${domain}`));
}

/** "invoice.pdf      .exe": an extension at the end after four or more spaces (found from the last dots, in one pass). */
function hidesExtension(name: string): boolean {
  const extension = /\.\w+\s*$/.exec(name);
  return extension !== null && /^\s{4}$/.test(name.slice(Math.max(0, extension.index - 4), extension.index));
}

/** The domain is `root` or a sub-domain of it (compared by its end: one pass). */
function under(domain: string, root: string): boolean {
  return domain === root || domain.endsWith(`.${root}`);
}

/** Which of `domains` the domain is, or is a sub-domain of; null for none. */
function ownRootOf(domain: string | null, domains: ReadonlySet<string>): string | null {
  if (domain === null) return null;
  if (domains.has(domain)) return domain;
  for (const own of domains) if (under(domain, own)) return own;
  return null;
}

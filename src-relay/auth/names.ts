// User names and sender rules enter Moat here (the CLI, later the admin API, and AUTH): checked once, normalised
// to lower case, so the rest of the code compares plain strings (STYLE habit 14).
import { isIP } from 'node:net';
import { checkSender, normalizeDomain, splitAddress } from '../util/address.ts';
import { closest } from '../util/typos.ts';

/** Longest user name; people often log in with their e-mail address, which is at most 254 octets. */
export const MAX_USER_NAME_CHARS = 254;
const USER_NAME = /^[a-z0-9][a-z0-9._@+-]*$/;

/** The stored form of a user name (lower case), or null when it is not an acceptable name. */
export function normalizeUserName(name: string): string | null {
  if (typeof name !== 'string') return null;
  const lower = name.trim().toLowerCase();
  if (lower.length === 0 || lower.length > MAX_USER_NAME_CHARS || !USER_NAME.test(lower)) return null;
  // `moat users unlock ADDRESS` takes a client address too, so a name may not look like one
  if (isIP(lower)) return null;
  return lower;
}

/** One entry of an account's allowed senders: a whole address, or every address at a domain ("@example.com"). */
export type SenderRule = string;

/** The stored form of a sender rule, or a reason it is refused. */
export function parseSenderRule(rule: string): { ok: true; rule: SenderRule } | { ok: false; reason: string } {
  const trimmed = rule.trim();
  if (trimmed.startsWith('@')) {
    const domain = normalizeDomain(trimmed.slice(1));
    return domain ? { ok: true, rule: `@${domain}` } : { ok: false, reason: `"${rule}" is not a valid domain (write @example.com)` };
  }
  const checked = checkSender(trimmed);
  if (!checked.ok || checked.address === '') return { ok: false, reason: `"${rule}" is not a valid address (${checked.ok ? 'empty' : checked.reason})` };
  return { ok: true, rule: checked.address.toLowerCase() };
}

/** Sender rules in their stored form without repeats, or the problem of each one that is refused (by its index). */
export function parseSenderRules(values: readonly string[]): { ok: true; rules: SenderRule[] } | { ok: false; problems: { index: number; reason: string }[] } {
  const rules: SenderRule[] = [];
  const problems: { index: number; reason: string }[] = [];
  values.forEach((value, index) => {
    const parsed = parseSenderRule(value);
    if (!parsed.ok) problems.push({ index, reason: parsed.reason });
    else if (!rules.includes(parsed.rule)) rules.push(parsed.rule);
  });
  return problems.length ? { ok: false, problems } : { ok: true, rules };
}

/** The rules of an account added without any: a user named by an address may send as that address; other names get none (null). */
export function defaultSenderRules(name: string): SenderRule[] | null {
  const checked = checkSender(name);
  return checked.ok && checked.address.includes('@') ? [checked.address.toLowerCase()] : null;
}

/** Whether an address (MAIL FROM or a From header address) is one the rules allow; case never matters. */
export function senderAllowed(rules: readonly SenderRule[], address: string): boolean {
  const checked = checkSender(address);
  if (!checked.ok || checked.address === '') return false;
  const normalised = checked.address.toLowerCase();
  const domain = splitAddress(normalised)!.domain;
  return rules.some((rule) => (rule.startsWith('@') ? rule.slice(1) === domain : rule === normalised));
}

/**
 * A word for each rule whose domain is not one of the relay's (nor under one): allowed, since an office may send for
 * a domain it does not receive, but most often a typo ("@ofice.test"), which the admin should see before a user's
 * mail is refused for it.
 */
export function outsideDomainNotes(rules: readonly SenderRule[], relayDomains: readonly string[]): string[] {
  const ours = relayDomains.map((domain) => domain.toLowerCase());
  if (ours.length === 0) return []; // not set up yet: nothing to compare with
  const seen = new Set<string>();
  const notes: string[] = [];
  for (const rule of rules) {
    const domain = rule.startsWith('@') ? rule.slice(1) : splitAddress(rule)?.domain;
    if (!domain || seen.has(domain) || ours.some((own) => domain === own || domain.endsWith(`.${own}`))) continue;
    seen.add(domain);
    const near = closest(domain, ours);
    notes.push(`${domain} is not one of the relay's domains${near ? ` (did you mean ${near}?)` : ` (${ours.join(', ')})`}: allowed, but check the spelling`);
  }
  return notes;
}

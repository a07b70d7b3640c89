/**
 * Who may be sent a bounce or delay notice (backscatter, SECURITY.md). A notice goes to the envelope sender, which
 * anyone on the internet can write: mail accepted on port 25 that later fails (the internal server refuses it for
 * size or content, or is down past the delay warning) would send the message's Subject and headers to whoever was
 * named. So mail from the internet is answered only when its sender was vouched for when it came in: SPF passed for
 * the MAIL FROM domain, or a verified DKIM signature or a DMARC pass for that domain (or a parent of it). Mail the
 * office submitted is answered as always. Decided at intake, kept with the message (messages.sender_check), since
 * the sender checks' passes are not kept in the decision trace and a notice may be due days later.
 */
import type { Decision } from '../filters/policy.ts';
import { parseDecision } from '../filters/policy.ts';
import { normalizeDomain, splitAddress } from '../util/address.ts';

/** The decision for one message: may its sender be told, and why, in plain words for its history. */
export interface SenderCheck {
  notify: boolean;
  why: string;
}

/** The filter whose passes vouch for a sender (filters/sender-auth.ts). */
const SENDER_AUTH_FILTER = 'sender-auth';

/** Mail the office submitted (a logged-in user or a trusted network): its sender is told, as always. */
export function submittedSenderCheck(how: string): SenderCheck {
  return { notify: true, why: `submitted by the office (${how})` };
}

/**
 * Mail that came in from the internet, judged by sender authentication's passes (the live decision, before
 * serializeDecision drops the passes); `decision` null: the filters are off, nothing vouched for the sender.
 */
export function inboundSenderCheck(sender: string, decision: Pick<Decision, 'results'> | null): SenderCheck {
  const domain = senderDomain(sender);
  if (!domain) return { notify: false, why: 'the envelope sender has no domain to check' };
  const auth = decision?.results.find((result) => result.filter === SENDER_AUTH_FILTER);
  if (!auth) return { notify: false, why: `sender authentication is off, so nothing showed that ${sender} sent it` };
  if (!auth.passed) return { notify: false, why: `sender authentication could not check ${sender}` };
  if ((auth.passed.spf ?? []).includes(domain)) return { notify: true, why: `SPF passed for ${domain}` };
  const signer = auth.passed.dkim.find((signed) => covers(signed, domain));
  if (signer) return { notify: true, why: `a DKIM signature of ${signer} verified` };
  const dmarc = auth.passed.dmarc.find((passed) => covers(passed, domain));
  if (dmarc) return { notify: true, why: `DMARC passed for ${dmarc}` };
  return { notify: false, why: `neither SPF nor a DKIM signature vouched for ${domain}, so ${sender} may not have sent it` };
}

/**
 * What the queue acts on when a notice is due. A message from before sender checks were kept (null) is told only
 * when it was submitted (its SUBMITTED history row); mail from the internet then was not vouched for.
 */
export function dsnDecision(row: { sender_check: string | null; decision: string | null }, submitted: () => boolean): SenderCheck {
  const stored = parseSenderCheck(row.sender_check);
  if (stored) return stored;
  if (submitted()) return submittedSenderCheck('before sender checks were kept');
  const spfFailed = parseDecision(row.decision)?.results.some((result) => result.reasons.some((reason) => reason.startsWith('SPF_FAIL '))) ?? false;
  return { notify: false, why: spfFailed ? 'SPF failed for the sender when the message came in' : 'it came in from the internet before Moat kept its sender checks' };
}

export function serializeSenderCheck(check: SenderCheck): string {
  return JSON.stringify(check);
}

export function parseSenderCheck(text: string | null | undefined): SenderCheck | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<SenderCheck>;
    return typeof value.notify === 'boolean' && typeof value.why === 'string' ? { notify: value.notify, why: value.why } : null;
  } catch {
    return null;
  }
}

function senderDomain(sender: string): string | null {
  const parts = splitAddress(sender);
  return parts ? normalizeDomain(parts.domain) : null;
}

/** A pass for `vouching` covers the MAIL FROM domain when it is that domain or a parent of it (bounces.example.com). */
function covers(vouching: string, domain: string): boolean {
  const name = vouching.toLowerCase();
  return domain === name || domain.endsWith(`.${name}`);
}

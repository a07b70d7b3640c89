// DMARC's strict alignment (adkim=s, aspf=s; RFC 7489 3.1): the domain that signed, or passed SPF, must be the From
// domain itself, not a sub-domain or parent of it. mailauth (4.13.3, pinned) never applies it: its DMARC check passes
// getAlignment `{ strict: … }` where a boolean is read (an object is always true), and that function's strict branch
// compares the signer's organizational domain with the From domain, then falls through to the relaxed comparison
// anyway. So `adkim=s` behaved as relaxed: a signature by any sub-domain of the From domain counted for it. This
// replaces getAlignment in the tools module's exports before mailauth's DMARC module takes it (it does when it loads);
// the relaxed comparison stays mailauth's own.

/** A domain that signed or passed SPF, as mailauth's DMARC check is given it. */
interface Aligned {
  domain: string;
  underSized?: number;
}
export type GetAlignment = (fromDomain: string, domains: unknown, strict?: unknown) => Aligned | false;

/** getAlignment with strict alignment applied; `relaxed` is mailauth's, `formatDomain` its comparison form (lower case, punycode). */
export function withStrictAlignment(relaxed: GetAlignment, formatDomain: (domain: string) => string): GetAlignment {
  return (fromDomain, domains, strict) => {
    const wantsStrict = typeof strict === 'object' && strict !== null ? (strict as { strict?: unknown }).strict === true : strict === true;
    if (!wantsStrict) return relaxed(fromDomain, domains, false);
    const from = formatDomain(fromDomain);
    // mailauth's order: signatures that cover the whole body first
    const candidates = ([] as unknown[])
      .concat(domains ?? [])
      .map((entry) => (typeof entry === 'string' ? { domain: entry } : (entry as Aligned)))
      .sort((a, b) => (a.underSized || 0) - (b.underSized || 0));
    return candidates.find((entry) => typeof entry.domain === 'string' && formatDomain(entry.domain) === from) ?? false;
  };
}

/** Puts strict alignment into mailauth's tools module, before its DMARC module is loaded. */
export function installStrictAlignment(tools: { getAlignment: GetAlignment; formatDomain: (domain: string) => string }): void {
  tools.getAlignment = withStrictAlignment(tools.getAlignment, tools.formatDomain);
}

/** The DMARC check as mailauth exports it, for the self-test. */
type DmarcCheck = (options: { headerFrom: string; spfDomains: string[]; dkimDomains: Aligned[]; resolver: (name: string, type: string) => Promise<string[][]> }) => Promise<{ status?: { result?: string } } | false>;

/**
 * Throws unless `dmarc` applies strict alignment: a relaxed check of a strict policy would pass forged mail, so a
 * DMARC module loaded before the change went in (which keeps the old function) must not be used.
 */
export async function checkStrictAlignment(dmarc: DmarcCheck): Promise<void> {
  const outcome = await dmarc({
    headerFrom: 'ceo@example.com',
    spfDomains: [],
    dkimDomains: [{ domain: 'mail.example.com' }],
    resolver: async (name) => (name === '_dmarc.example.com' ? [['v=DMARC1; p=reject; adkim=s']] : []),
  });
  if (!outcome || outcome.status?.result !== 'fail') throw new Error("mailauth's DMARC check does not apply strict alignment (adkim=s): it was loaded before Moat's change");
}

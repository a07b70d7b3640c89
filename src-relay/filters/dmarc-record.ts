// DMARC records as RFC 7489 6.4 reads them, for mailauth, which reads them as written. ABNF strings ignore case
// (RFC 5234 2.3) and a tag may have spaces around its "=", so `p=REJECT`, `adkim = s` and `v = DMARC1` are all valid;
// mailauth took the first for no known policy (the message was accepted), the second for relaxed alignment, and did
// not see the third record at all. The relay's DMARC look-ups hand mailauth each record in one spelling: tags without
// the spaces around them, tag names and the values that are keywords in lower case (the version as "DMARC1"), and no
// pct= that is not a number (RFC 7489 6.3: the default, 100, applies).
import type { DnsLookup } from './sender-auth.ts';

/** Tags whose values are keywords (RFC 7489 6.3); the others (rua, ruf: URIs; pct, ri: numbers) keep their spelling. */
const KEYWORD_TAGS = new Set(['p', 'sp', 'adkim', 'aspf', 'fo', 'rf']);

/** One DMARC record in one spelling; text that is no DMARC record (its first tag is not v=DMARC1) is returned as it is. */
export function canonicalDmarcRecord(text: string): string {
  const parts = text.split(';').map((tag) => tag.trim());
  // the record starts with its version, or it is none (RFC 7489 6.4)
  const [name, value] = split(parts[0]!);
  if (name !== 'v' || value?.toUpperCase() !== 'DMARC1') return text;
  const tags = parts.filter((tag) => tag !== '').map(split);
  return (
    tags
      // mailauth reads a pct= that is no number as 0: every message outside the sample, the policy one step milder
      .filter(([tagName, tagValue]) => tagName !== 'pct' || /^\d{1,3}$/.test(tagValue ?? ''))
      .map(([tagName, tagValue]) => {
        if (tagValue === undefined) return tagName;
        return `${tagName}=${tagName === 'v' ? 'DMARC1' : KEYWORD_TAGS.has(tagName) ? tagValue.toLowerCase() : tagValue}`;
      })
      .join('; ')
  );
}

function split(tag: string): [string, string | undefined] {
  const at = tag.indexOf('=');
  return at < 0 ? [tag.toLowerCase(), undefined] : [tag.slice(0, at).trim().toLowerCase(), tag.slice(at + 1).trim()];
}

/** `lookup` with every `_dmarc.` TXT answer in canonicalDmarcRecord's spelling (each answer's strings joined, as mailauth joins them). */
export function dmarcRecordLookup(lookup: DnsLookup): DnsLookup {
  return async (name, type) => {
    const answer = await lookup(name, type);
    if (type !== 'TXT' || !/^_dmarc\./i.test(name)) return answer;
    return (answer as (string[] | string)[]).map((row) => [canonicalDmarcRecord(Array.isArray(row) ? row.join('') : row)]);
  };
}

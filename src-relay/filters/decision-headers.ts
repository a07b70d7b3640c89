import type { Decision } from './policy.ts';

/** RFC 5322 2.1.1: lines should stay under 78 characters; header fields are folded at spaces to that width. */
const FOLD_WIDTH = 76;
/** A header value from a filter is cut to this many characters before folding. */
const MAX_FILTER_HEADER_CHARS = 2000;
const MAX_WORD_CHARS = 900;
const HEADER_NAME = /^[!-9;-~]{1,76}$/;
/** Header fields only the relay may write: a filter cannot add them, they are computed here. */
const RESERVED = new Set(['x-spam-flag', 'x-spam-score', 'x-spam-status', 'x-moat-status', 'x-moat-released', 'received']);

/** Folds a header field at spaces (RFC 5322 2.2.3) and ends it with CRLF. */
export function foldHeader(name: string, value: string): string {
  // RFC 5322 2.1.1's hard limit is 998 characters a line; a single word longer than that is cut
  const words = `${name}: ${clean(value)}`.split(' ').map((word) => word.slice(0, MAX_WORD_CHARS));
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && line.length + 1 + word.length > FOLD_WIDTH) {
      lines.push(line);
      line = `\t${word}`;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  lines.push(line);
  return `${lines.join('\r\n')}\r\n`;
}

/** Header values enter here from filters and reasons: no CR, LF or other controls, bounded length. */
function clean(value: string): string {
  return value.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/ {2,}/g, ' ').trim().slice(0, MAX_FILTER_HEADER_CHARS);
}

/** Rule names for X-Spam-Status `tests=`: the built-in rules' ids, other filters by name when they scored. */
function testNames(decision: Decision): string[] {
  const tests: string[] = [];
  for (const result of decision.results) {
    const ids = result.reasons.map((reason) => /^([A-Z][A-Z0-9_]{2,}) /.exec(reason)?.[1]).filter((id): id is string => Boolean(id));
    if (ids.length) tests.push(...ids);
    else if (result.score !== 0) tests.push(result.filter.toUpperCase().replace(/[^A-Z0-9]+/g, '_'));
  }
  return tests;
}

/**
 * The header block added to the delivered message (prepended at delivery; the spool file stays as received):
 * Authentication-Results from the filters' parts, the SpamAssassin-style X-Spam-* set that Exchange transport rules
 * match on, and X-Moat-Status with the whole verdict.
 */
export function decisionHeaders(decision: Decision, options: { hostname: string; queueId: string; tagScore: number }): string {
  let block = '';
  const authParts: string[] = [];
  const others: { name: string; value: string }[] = [];
  for (const result of decision.results) {
    for (const header of result.headers ?? []) {
      if (!HEADER_NAME.test(header.name) || RESERVED.has(header.name.toLowerCase())) continue;
      if (header.name.toLowerCase() === 'authentication-results') authParts.push(clean(header.value));
      else others.push(header);
    }
  }
  if (authParts.length) block += foldHeader('Authentication-Results', `${options.hostname}; ${authParts.join('; ')}`);
  for (const header of others) block += foldHeader(header.name, header.value);
  const junk = decision.action === 'tag' || decision.action === 'quarantine';
  const tests = testNames(decision);
  block += `X-Spam-Flag: ${junk ? 'YES' : 'NO'}\r\n`;
  block += `X-Spam-Score: ${decision.score.toFixed(1)}\r\n`;
  block += foldHeader(
    'X-Spam-Status',
    `${junk ? 'Yes' : 'No'}, score=${decision.score.toFixed(1)} required=${options.tagScore.toFixed(1)} tests=${tests.join(',') || 'none'}`,
  );
  const verdicts = decision.results.map((result) => `${result.filter}=${result.verdict}`).join(' ');
  block += foldHeader('X-Moat-Status', `${decision.action}; score=${decision.score}; ${verdicts ? `${verdicts}; ` : ''}id=${options.queueId}; by ${options.hostname}`);
  return block;
}

/**
 * The block for a message the admin released from quarantine: who and when on top, and the junk flag turned off
 * (the admin judged it wanted, so the internal server should not file it in Junk).
 */
export function releasedHeaders(previous: string | null, by: string, at: Date): string {
  const rest = (previous ?? '')
    .replace(/^X-Spam-Flag: YES\r\n/m, 'X-Spam-Flag: NO\r\n')
    .replace(/^X-Spam-Status: Yes,/m, 'X-Spam-Status: No,');
  return foldHeader('X-Moat-Released', `released from quarantine by ${by} at ${at.toISOString()}`) + rest;
}

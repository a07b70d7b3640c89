import type { FilterResult, FilterRole } from './types.ts';
import type { Verdict } from '../events.ts';

/** What the admin sets: score thresholds (0 turns one off) and, per filter, what its failure means. */
export interface PolicySettings {
  tagScore: number;
  quarantineScore: number;
  rejectScore: number;
  /** Filter name -> closed (tempfail, the sender retries) or open (tag and deliver). Absent: closed. */
  failMode: Readonly<Record<string, 'closed' | 'open'>>;
}

/** One filter's answer as the decision trace keeps it. */
export interface FilterOutcome extends FilterResult {
  role: FilterRole;
  /** How long the filter took, in milliseconds. */
  ms: number;
  /** Set when the runner replaced the filter's answer (threw, timed out, malformed answer). */
  failed?: string;
}

/** Why the action was taken, which is what the SMTP layer picks its reply by. */
export type DecisionCause = 'virus' | 'junk' | 'policy' | 'sender' | 'unavailable' | null;

export interface Decision {
  action: Verdict;
  score: number;
  cause: DecisionCause;
  /** The deciding reason in plain words (a virus name, a blocked attachment, the score). */
  reason: string;
  /** The sender allow/deny list entry that matched, if any. */
  senderList: { list: 'allow' | 'deny'; entry: string } | null;
  /**
   * Recipients' own lists that spoke (filters/personal-lists.ts): a `deny` recipient is not delivered to; allowances
   * only skip the junk filters when every remaining recipient allows the sender. Absent on decisions from before.
   */
  personal?: PersonalHit[];
  results: FilterOutcome[];
}

/** One recipient's own list entry that matched a message. */
export interface PersonalHit {
  recipient: string;
  list: 'allow' | 'deny';
  entry: string;
}

/** What the recipients' own lists add to a decision (filters/pipeline.ts works it out). */
export interface PersonalVerdict {
  hits: PersonalHit[];
  /** Every recipient blocked the sender: refused, whatever the filters said. */
  allBlocked: boolean;
  /** Every recipient left allows the envelope sender: junk scoring is skipped as for the admin's allow list. */
  allAllow: boolean;
}

/** Stronger first: a rejection is final, a tempfail beats quarantine because the message is not known to be safe. */
export const SEVERITY: Record<Verdict, number> = { accept: 0, tag: 1, quarantine: 2, tempfail: 3, reject: 4 };

/** Applies fail modes to runner failures and unreachable engines, in place; returns the outcomes. */
export function applyFailModes(results: FilterOutcome[], failMode: PolicySettings['failMode']): FilterOutcome[] {
  for (const result of results) {
    if (!result.failed && !result.unavailable) continue;
    if ((failMode[result.filter] ?? 'closed') === 'open') {
      result.verdict = 'tag';
      result.reasons = [...result.reasons, 'delivered unchecked (fail open)'];
    } else {
      result.verdict = 'tempfail';
    }
  }
  return results;
}

/**
 * The one place that turns the filters' verdicts and the total score into an action. Pure: same input, same
 * decision; `results` have their fail modes applied already (the pipeline does it).
 */
export function decide(results: FilterOutcome[], settings: PolicySettings, senderList: Decision['senderList'] = null, personal: PersonalVerdict | null = null): Decision {
  const score = round(results.reduce((sum, result) => sum + result.score, 0));
  const hits = personal?.hits.length ? { personal: personal.hits } : {};
  if (senderList?.list === 'deny') {
    return { action: 'reject', score, cause: 'sender', reason: `sender is on the deny list (${senderList.entry})`, senderList, ...hits, results };
  }
  if (personal?.allBlocked) {
    return { action: 'reject', score, cause: 'sender', reason: 'every recipient has blocked this sender on their own list', senderList, ...hits, results };
  }
  let action: Verdict = 'accept';
  let cause: DecisionCause = null;
  let reason = 'no filter objected';
  for (const result of results) {
    if (SEVERITY[result.verdict] <= SEVERITY[action]) continue;
    action = result.verdict;
    // a policy filter's own deferral (sender-auth: a DMARC policy that cannot be looked up) says why to the sender;
    // any other tempfail (a filter that failed, an engine that could not answer or scan) says nothing of the message
    const deferredByPolicy = result.verdict === 'tempfail' && result.role === 'policy' && result.failed === undefined && !result.unavailable;
    cause = result.verdict === 'tempfail' && !deferredByPolicy ? 'unavailable' : result.role;
    reason = `${result.filter}: ${result.reasons[0] ?? result.verdict}`;
  }
  if (senderList?.list !== 'allow' && !personal?.allAllow) {
    const byScore: [Verdict, number][] = [
      ['reject', settings.rejectScore],
      ['quarantine', settings.quarantineScore],
      ['tag', settings.tagScore],
    ];
    for (const [verdict, threshold] of byScore) {
      if (threshold > 0 && score >= threshold) {
        if (SEVERITY[verdict] > SEVERITY[action]) {
          action = verdict;
          cause = 'junk';
          reason = `junk score ${score} (${verdict} at ${threshold})`;
        }
        break;
      }
    }
  }
  return { action, score, cause, reason, senderList, ...hits, results };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * A decision as stored with the message (the trace `moat queue show` prints and the UI shows): each filter's header
 * fields are left out (the message's added header block holds them already) and times are kept to 0.01 ms. Half the
 * bytes for a signed message (866 to 437 in the bench), so fewer database pages written per message.
 */
export function serializeDecision(decision: Decision): string {
  // the header fields are in the message, the passes were for the rules: neither is stored with the trace
  return JSON.stringify({ ...decision, results: decision.results.map(({ headers: _headers, passed: _passed, ...result }) => ({ ...result, ms: Math.round(result.ms * 100) / 100 })) });
}

export function parseDecision(text: string | null | undefined): Decision | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as Decision;
  } catch {
    return null;
  }
}

/** The decision trace as lines for the CLI (none for a message the filters did not see). */
export function formatDecision(decision: Decision | null): string[] {
  if (!decision) return [];
  const lines = [`filters:     ${decision.action}, score ${decision.score} — ${decision.reason}`];
  if (decision.senderList) lines.push(`  sender list: ${decision.senderList.list} (${decision.senderList.entry})`);
  for (const hit of decision.personal ?? []) lines.push(`  own list:    ${hit.recipient} ${hit.list === 'allow' ? 'allows' : 'blocks'} ${hit.entry}`);
  for (const result of decision.results) {
    const score = result.score ? ` ${result.score > 0 ? '+' : ''}${result.score}` : '';
    lines.push(`  ${result.filter.padEnd(16)} ${result.verdict}${score} (${Math.round(result.ms)} ms)${result.failed ? ` FAILED: ${result.failed}` : ''}`);
    for (const reason of result.reasons) lines.push(`      ${reason}`);
  }
  return lines;
}

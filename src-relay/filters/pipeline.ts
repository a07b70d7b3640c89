import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.ts';
import { parseMessageFile, type ParsedMessage } from './mime.ts';
import { readOnce } from './message-source.ts';
import { deadline } from '../util/deadline.ts';
import { applyFailModes, decide, type Decision, type FilterOutcome, type PersonalHit, type PersonalVerdict, type PolicySettings } from './policy.ts';
import type { PersonalLists } from './personal-lists.ts';
import type { SenderLists } from './sender-lists.ts';
import type { StartedCheck } from './filter-thread.ts';
import type { Filter, FilterResult, MessageContext, SealedPass } from './types.ts';
import type { Verdict } from '../events.ts';
import { fromAddresses, mailboxAddresses } from './from-addresses.ts';
import { inDomains } from '../util/address.ts';

const VERDICTS: ReadonlySet<Verdict> = new Set(['accept', 'tag', 'quarantine', 'reject', 'tempfail']);
/** A filter's answer is trimmed to this before it goes into the trace (and the database). */
const MAX_REASONS = 20;
const MAX_REASON_CHARS = 500;
const MAX_HEADERS = 10;
/** A filter's own account of its time is believed up to this (ms): a day. */
const MAX_REPORTED_MS = 86_400_000;
/** The pseudo-filter name under which a failure of our own MIME parser is traced. */
const PARSER_NAME = 'mime-parser';
/** The pseudo-filter name under which the recipients' own lists are traced (what they did, in words). */
export const OWN_LISTS_NAME = 'own-lists';

export interface PipelineOptions {
  filters: readonly Filter[];
  /** Deadline of each filter (and of the MIME parse) on one message. */
  timeoutMs: number;
  policy: PolicySettings;
  senderLists?: SenderLists;
  /**
   * Each recipient's own allow and block lists: a recipient who blocks the sender (envelope or From) is dropped from
   * the message, and the junk filters are skipped only when every recipient left allows the envelope sender.
   */
  personalLists?: PersonalLists;
  /**
   * The office's own domains (normalized): an allowance, the admin's or a recipient's, never covers a message whose
   * envelope sender or From is in them. A forged "ceo@" of the office is what a user is most tempted to always allow,
   * and what forgers send.
   */
  ownDomains?: ReadonlySet<string>;
  logger: Logger;
  /**
   * A message the MIME walk could not look at whole (a limit reached, ambiguous MIME; `MimeSummary.unchecked`):
   * kept in quarantine or refused, never delivered as if clean (`filters.unchecked`). Default quarantine.
   */
  unchecked?: 'quarantine' | 'reject';
  /** Content sealed by its sender (`MimeSummary.sealed`) is no reason to stop it: the office's own mail, `submission.encryptedArchives: send`. */
  sealedPass?: SealedPass;
  /**
   * The MIME walk: parseMessageFile in this thread unless given (the relay's walks in the filter thread, which may
   * start sender authentication's check with it: `senderCheck`).
   */
  parse?: ParseMessage;
}

export type ParseMessage = (
  path: string,
  signal: AbortSignal,
  read: { content: Buffer | null; size: number },
  input: MessageInput,
) => Promise<ParsedMessage & { senderCheck?: StartedCheck }>;

/** What the listener knows about a message when DATA has ended (the pipeline adds headers, MIME and results). */
export type MessageInput = Omit<MessageContext, 'headers' | 'mime' | 'results'>;

/**
 * Runs the content filters on one message, each with a deadline, and asks the policy for one decision.
 * Never rejects: a filter that throws, hangs or answers nonsense becomes a failed outcome, and one whose engine is
 * unreachable answers `unavailable`; either way its fail mode applies and `FILTER_FAILED` is logged once
 * (`id`, `filter`, `error`).
 */
export class FilterPipeline {
  private readonly stages: Filter[][];
  private readonly options: PipelineOptions;
  private readonly parse: ParseMessage;

  constructor(options: PipelineOptions) {
    this.options = options;
    this.parse = options.parse ?? parseMessageFile;
    const byStage = new Map<number, Filter[]>();
    for (const filter of options.filters) {
      const stage = filter.stage ?? 0;
      byStage.set(stage, [...(byStage.get(stage) ?? []), filter]);
    }
    this.stages = [...byStage.entries()].sort(([a], [b]) => a - b).map(([, filters]) => filters);
  }

  get filterNames(): string[] {
    return this.stages.flat().map((filter) => filter.name);
  }

  async run(input: MessageInput): Promise<Decision> {
    const outcomes: FilterOutcome[] = [];
    let parsed: (ParsedMessage & { senderCheck?: StartedCheck }) | undefined;
    let content: Buffer | null = null;
    const started = performance.now();
    const parseDeadline = deadline(this.options.timeoutMs);
    try {
      content = input.content !== undefined ? input.content : readOnce(input.path, input.size);
      parsed = await this.parse(input.path, parseDeadline.signal, { content, size: input.size }, input);
    } catch (error) {
      const why = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError' ? `no result within ${this.options.timeoutMs} ms` : `failed: ${(error as Error).message}`;
      this.options.logger.warn({ id: input.queueId, filter: PARSER_NAME, error: why }, 'FILTER_FAILED');
      outcomes.push({ filter: PARSER_NAME, role: 'policy', verdict: 'tempfail', score: 0, reasons: [`the message could not be parsed: ${why}`], ms: performance.now() - started, failed: why });
    } finally {
      parseDeadline.clear();
    }
    const notChecked = parsed ? [...parsed.summary.unchecked, ...(this.options.sealedPass?.(input) ? [] : parsed.summary.sealed)] : [];
    if (notChecked.length) {
      const reasons = notChecked.map((why) => `not checked whole: ${why}`);
      outcomes.push({ filter: PARSER_NAME, role: 'policy', verdict: this.options.unchecked ?? 'quarantine', score: 0, reasons, ms: performance.now() - started });
    }
    try {
      return await this.listsAndFilters(input, outcomes, { ...input, content, headers: parsed?.headers ?? [], mime: parsed?.summary, senderCheck: parsed?.senderCheck, results: [] });
    } finally {
      // a refused sender's check was never waited for: the thread need not finish it
      parsed?.senderCheck?.cancel();
    }
  }

  /** The lists' word and the filters' verdicts on a parsed message, as one decision. */
  private async listsAndFilters(input: MessageInput, outcomes: FilterOutcome[], context: MessageContext): Promise<Decision> {
    const from = fromAddresses(context.headers);
    const listed = this.options.senderLists?.lookup(input.sender, from) ?? null;
    // the envelope or a From address of ours (the forger picks the envelope freely; FROM_OWN_DOMAIN_* reads From);
    // read only when an allowance was found, which few messages have
    let own: boolean | undefined;
    const ownSender = (): boolean => {
      const domains = this.options.ownDomains ?? new Set<string>();
      own ??= [input.sender, ...from, ...context.headers.filter((header) => header.name.toLowerCase() === 'from').flatMap((header) => mailboxAddresses(header.value).addresses)].some((address) => inDomains(address, domains));
      return own;
    };
    const senderList = listed?.list === 'allow' && ownSender() ? null : listed;
    const personal = this.personalVerdict(input.recipients, input.sender, from, senderList?.list === 'allow', ownSender);
    const ownLists = [
      ...(listed !== senderList ? [notForOwnDomains(`the allow list's ${listed!.entry}`)] : []),
      ...(personal?.hits.length ? [ownListsOutcome(personal, senderList?.list === 'allow', ownSender)] : []),
    ];
    if (senderList?.list === 'deny' || personal?.allBlocked) return decide([...outcomes, ...ownLists], this.options.policy, senderList, personal);
    // one recipient's allowance never lowers another's protection: junk is skipped only when all of them allow
    const allowed = senderList?.list === 'allow' || Boolean(personal?.allAllow);
    for (const stage of this.stages) {
      const runnable = stage.filter((filter) => !(allowed && filter.role === 'junk'));
      // the filters of a stage start together, so one timer is each one's deadline
      const stageDeadline = deadline(this.options.timeoutMs);
      try {
        const stageOutcomes = await Promise.all(runnable.map((filter) => this.runOne(filter, { ...context, results: [...outcomes] }, stageDeadline.signal)));
        outcomes.push(...stageOutcomes);
      } finally {
        stageDeadline.clear();
      }
    }
    return decide([...applyFailModes(outcomes, this.options.policy.failMode), ...ownLists], this.options.policy, senderList, personal);
  }

  /** What the recipients' own lists say of this message; null when there are none to ask. */
  private personalVerdict(recipients: readonly string[], sender: string, from: readonly string[], globallyAllowed: boolean, ownSender: () => boolean): PersonalVerdict | null {
    const lists = this.options.personalLists;
    if (!lists || recipients.length === 0) return null;
    const hits: PersonalHit[] = [];
    for (const recipient of recipients) {
      const hit = lists.lookup(recipient, sender, from);
      if (hit) hits.push({ recipient, ...hit });
    }
    const blocked = new Set(hits.filter((hit) => hit.list === 'deny').map((hit) => hit.recipient));
    const allowing = new Set(hits.filter((hit) => hit.list === 'allow').map((hit) => hit.recipient));
    const remaining = recipients.filter((recipient) => !blocked.has(recipient));
    return {
      hits,
      allBlocked: remaining.length === 0,
      allAllow: !globallyAllowed && remaining.length > 0 && remaining.every((recipient) => allowing.has(recipient)) && !ownSender(),
    };
  }

  /** One filter under its deadline (`signal`, aborted when it passes); whatever happens, exactly one outcome. */
  private runOne(filter: Filter, context: MessageContext, signal: AbortSignal): Promise<FilterOutcome> {
    const role = filter.role ?? 'policy';
    const timeoutMs = this.options.timeoutMs;
    const started = performance.now();
    return new Promise<FilterOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: FilterOutcome) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const fail = (why: string) => {
        this.options.logger.warn({ id: context.queueId, filter: filter.name, error: why }, 'FILTER_FAILED');
        settle({ filter: filter.name, role, verdict: 'tempfail', score: 0, reasons: [`${filter.name} ${why}`], ms: performance.now() - started, failed: why });
      };
      const onAbort = () => fail(`gave no answer within ${timeoutMs} ms`);
      signal.addEventListener('abort', onAbort, { once: true });
      let answer: Promise<FilterResult>;
      try {
        answer = Promise.resolve(filter.check(context, signal));
      } catch (error) {
        return fail(`threw: ${(error as Error)?.message ?? String(error)}`);
      }
      answer.then(
        (result) => {
          if (settled) return; // a late answer after the deadline: the failure was logged already
          const checked = sanitize(filter.name, result);
          if (typeof checked === 'string') return fail(checked);
          // an engine that could not be reached answers in time, yet it failed all the same: logged like a throw
          if (checked.unavailable) this.options.logger.warn({ id: context.queueId, filter: filter.name, error: checked.reasons[0] ?? 'its engine is unavailable' }, 'FILTER_FAILED');
          settle({ ...checked, role, ms: Math.max(performance.now() - started, checked.ms ?? 0) });
        },
        (error: unknown) => {
          if (!settled) fail(`threw: ${(error as Error)?.message ?? String(error)}`);
        },
      );
    });
  }
}

/** Validates a filter's answer where it enters the pipeline; a string says what was wrong with it. */
function sanitize(name: string, result: unknown): FilterResult | string {
  if (typeof result !== 'object' || result === null) return 'answered with no result';
  const candidate = result as Partial<FilterResult>;
  if (!candidate.verdict || !VERDICTS.has(candidate.verdict)) return `answered with an unknown verdict ${JSON.stringify(candidate.verdict)}`;
  if (typeof candidate.score !== 'number' || !Number.isFinite(candidate.score)) return 'answered with a score that is not a number';
  const reasons = Array.isArray(candidate.reasons) ? candidate.reasons : [];
  const headers = Array.isArray(candidate.headers) ? candidate.headers : [];
  return {
    filter: name,
    verdict: candidate.verdict,
    score: Math.max(-1000, Math.min(1000, candidate.score)),
    reasons: reasons.slice(0, MAX_REASONS).map((reason) => String(reason).replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, MAX_REASON_CHARS)),
    headers: headers
      .filter((header) => header && typeof header.name === 'string' && typeof header.value === 'string')
      .slice(0, MAX_HEADERS)
      .map((header) => ({ name: header.name, value: header.value })),
    ...(candidate.unavailable ? { unavailable: true } : {}),
    ...(typeof candidate.ms === 'number' && candidate.ms >= 0 && candidate.ms <= MAX_REPORTED_MS ? { ms: candidate.ms } : {}),
    ...(candidate.passed ? { passed: { dmarc: domainList(candidate.passed.dmarc), dkim: domainList(candidate.passed.dkim), spf: domainList(candidate.passed.spf ?? []) } } : {}),
  };
}

/** A list of domain names from a filter, bounded: strings only, at most MAX_HEADERS of them, each at most a DNS name's length. */
function domainList(list: unknown): string[] {
  return Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string' && item.length <= 253).slice(0, MAX_HEADERS) : [];
}

const NOT_FOR_OWN_DOMAINS = 'an allowance does not cover mail that claims to be from our own domains, the addresses forgers pose as';

/** An allowance left unused because the sender is in our own domains, in the decision trace. */
function notForOwnDomains(what: string): FilterOutcome {
  return { filter: OWN_LISTS_NAME, role: 'policy', verdict: 'accept', score: 0, reasons: [`${what} was not used, junk checks ran as usual: ${NOT_FOR_OWN_DOMAINS}`], ms: 0 };
}

/** The recipients' own lists in the decision trace, in words (the admin's message view shows them as a filter row). */
function ownListsOutcome(personal: PersonalVerdict, globallyAllowed: boolean, ownSender: () => boolean): FilterOutcome {
  const reasons: string[] = [];
  for (const hit of personal.hits) {
    reasons.push(
      hit.list === 'deny'
        ? `not delivered to ${hit.recipient}: ${hit.recipient} blocked ${hit.entry} on their own list`
        : `allowed by ${hit.recipient}'s own list (${hit.entry})`,
    );
  }
  if (personal.hits.some((hit) => hit.list === 'allow') && ownSender()) reasons.push(`junk checks ran as usual: ${NOT_FOR_OWN_DOMAINS}`);
  else if (personal.hits.some((hit) => hit.list === 'allow') && !globallyAllowed) {
    reasons.push(
      personal.allAllow
        ? 'junk checks skipped: every recipient allows this sender (virus, attachment and policy checks still ran)'
        : 'junk checks ran as usual: not every recipient allows this sender',
    );
  }
  return { filter: OWN_LISTS_NAME, role: 'policy', verdict: 'accept', score: 0, reasons, ms: 0 };
}

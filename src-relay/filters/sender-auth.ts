// Sender authentication with mailauth: SPF (the client may send for the envelope domain), DKIM (the signatures
// verify), ARC (the chain of earlier hops) and DMARC (the From domain's policy, RFC 7489). The results become an
// Authentication-Results part (RFC 8601), scores for failures, and the From domain's DMARC policy where it asks for
// rejection or quarantine. Every DNS look-up goes through the injected resolver.
// mailauth is loaded at the first check, and only its SPF, DKIM, ARC and DMARC modules: its index also loads BIMI
// (undici, an X.509 parser), about 18 MB of memory a relay never needs (BIMI is off); joi gets a stand-in.
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Resolver } from '../util/resolver.ts';
import { installHeaderScan } from './mailauth-header-scan.ts';
import { installJoiStandIn } from './mailauth-joi.ts';
import { installRelaxedLines } from './mailauth-relaxed-lines.ts';
import { installSignatureLimits, NotCheckedError, type ParsedHeaders } from './mailauth-signature-limits.ts';
import { checkStrictAlignment, installStrictAlignment, type GetAlignment } from './mailauth-strict-alignment.ts';
import { dmarcRecordLookup } from './dmarc-record.ts';
import { mailboxAddresses } from './from-addresses.ts';
import { normalizeDomain } from '../util/address.ts';
import { messageStream } from './message-source.ts';
import { publicKeyCache, type GetPublicKey, type PublicKeyCache } from './public-key-cache.ts';
import type { Filter, FilterResult, MessageContext } from './types.ts';
import type { Verdict } from '../events.ts';
import { SEVERITY } from './policy.ts';

/**
 * One DNS answer is awaited this long (ms). A resolver that drops packets makes node:dns retry for about 20 s per
 * question, and SPF alone may ask ten; past this a look-up is a temperror, which scores nothing.
 */
export const DNS_LOOKUP_TIMEOUT_MS = 4_000;
/**
 * All look-ups of one message together (ms): past this every further one fails at once, so broken DNS costs a message
 * at most this. An SPF check started at MAIL FROM (`startSpf`) has a budget of its own, from MAIL FROM.
 */
export const DNS_BUDGET_MS = 12_000;

export type DnsLookup = (name: string, type: string) => Promise<string[][] | string[]>;
/** The parts of mailauth used here, in the shapes we call them with (lib/mailauth.js authenticate() does the same). */
interface Mailauth {
  dkimVerify(input: NodeJS.ReadableStream | Buffer, options: { resolver: DnsLookup; sender: string }): Promise<DkimOutcome>;
  spf(options: { ip: string; helo: string; sender: string; mta: string; resolver: DnsLookup }): Promise<SpfOutcome>;
  arc(chain: unknown, options: { resolver: DnsLookup }): Promise<NonNullable<MailauthOutcome['arc']>>;
  dmarc(options: {
    headerFrom: unknown;
    spfDomains: string[];
    dkimDomains: { id: unknown; domain: unknown; aligned: unknown; underSized: unknown }[];
    arcResult: unknown;
    resolver: DnsLookup;
  }): Promise<NonNullable<MailauthOutcome['dmarc']>>;
  /** An Authentication-Results part ("dkim=policy (…) header.d=…"), as mailauth writes them. */
  formatAuthHeaderRow(method: string, status: unknown): string;
  /** mailauth's alignment test (with strict alignment applied): the first of `domains` aligned with `fromDomain`, or false. */
  getAlignment: GetAlignment;
}
let loaded: Promise<Mailauth> | undefined;
const keyCache: { current?: PublicKeyCache; wired?: boolean } = {};
/** mailauth's modules that take getPublicKey from the tools module when they load. */
const VERIFIERS = ['mailauth/lib/dkim/dkim-verifier.js', 'mailauth/lib/arc/index.js'];
/**
 * mailauth's modules, imported once at first use, with Moat's changes (mailauth's version is pinned exactly for
 * them): its DKIM and ARC verifiers take getPublicKey from the tools module's exports when they load, so the key
 * cache goes into those exports first (test/unit/filters/public-key-cache.test.ts checks that the verifiers use it);
 * the DKIM parser finds the end of the header block without an allocation per byte (mailauth-header-scan.ts); its
 * verifier takes on a bounded number of signatures (mailauth-signature-limits.ts); its relaxed body hash scans a long
 * line once (mailauth-relaxed-lines.ts); its DMARC check applies strict alignment (mailauth-strict-alignment.ts); and
 * its two joi checks are done without loading joi (mailauth-joi.ts).
 */
function mailauth(): Promise<Mailauth> {
  if (!loaded) installJoiStandIn();
  loaded ??= (async () => {
    const [tools, parser] = await Promise.all([import('mailauth/lib/tools.js'), import('mailauth/lib/dkim/message-parser.js')]);
    const exports = tools.default as unknown as { getPublicKey: GetPublicKey; parseHeaders: (block: Buffer) => unknown; getAlignment: GetAlignment; formatDomain: (domain: string) => string; formatAuthHeaderRow: Mailauth['formatAuthHeaderRow'] };
    installHeaderScan(parser.default.MessageParser.prototype, exports.parseHeaders);
    // before the DMARC module loads: it takes getAlignment from these exports then
    installStrictAlignment(exports);
    // a verifier loaded earlier (mailauth's index imported somewhere) already holds the original: no cache then
    const require = createRequire(import.meta.url);
    const early = VERIFIERS.some((name) => {
      try {
        return require.cache[require.resolve(name)] !== undefined;
      } catch {
        return false;
      }
    });
    keyCache.current = publicKeyCache(exports.getPublicKey);
    keyCache.wired = !early;
    exports.getPublicKey = keyCache.current.getPublicKey;
    const [dkim, spf, arc, dmarc, verifier, relaxed] = await Promise.all([
      import('mailauth/lib/dkim/verify.js'),
      import('mailauth/lib/spf/index.js'),
      import('mailauth/lib/arc/index.js'),
      import('mailauth/lib/dmarc/index.js'),
      // after the key cache went in: the verifier takes getPublicKey when it loads
      import('mailauth/lib/dkim/dkim-verifier.js'),
      import('mailauth/lib/dkim/body/relaxed.js'),
    ]);
    installSignatureLimits(verifier.default.DkimVerifier.prototype);
    installRelaxedLines(relaxed.default.RelaxedHash.prototype);
    await checkStrictAlignment(dmarc.dmarc as unknown as Parameters<typeof checkStrictAlignment>[0]);
    return { dkimVerify: dkim.dkimVerify, spf: spf.spf, arc: arc.arc, dmarc: dmarc.dmarc, formatAuthHeaderRow: exports.formatAuthHeaderRow, getAlignment: exports.getAlignment } as unknown as Mailauth;
  })();
  return loaded;
}

/**
 * How often the verifiers' key look-ups were answered from the parsed-key cache, and whether the verifiers use it
 * (`wired`; false before the first check, or when they were loaded before it could be put in).
 */
export function publicKeyCacheStats(): { hits: number; misses: number; wired: boolean } {
  return { ...(keyCache.current?.stats ?? { hits: 0, misses: 0 }), wired: keyCache.wired ?? false };
}

/**
 * An SPF check started when MAIL FROM was accepted, for the end-of-DATA check to use (the DNS look-ups then overlap
 * the client's RCPT and DATA). It belongs to one transaction: the listener aborts it at RSET, a new MAIL or the end of
 * the connection, and the filter uses it only for the same client address, HELO name and sender it was started for.
 */
export interface EarlySpf {
  clientIp: string;
  helo: string | null;
  sender: string;
  /** Stops its DNS look-ups (each further one fails at once); idempotent. */
  abort(): void;
}

/** An early SPF check running in this thread (`SenderAuthFilter.startSpf`). */
export interface RunningSpf extends EarlySpf {
  /** Settles once, never rejects: the SPF outcome or what it failed with (a DNS budget, an abort). */
  outcome: Promise<{ ok: true; spf: SpfOutcome } | { ok: false; error: Error }>;
}

/** A resolver that can answer TXT look-ups (node:dns and the tests' fixture resolver can). */
export type AuthResolver = Resolver & Required<Pick<Resolver, 'resolveTxt'>>;

export interface SenderAuthScores {
  spfFail: number;
  spfSoftfail: number;
  dkimFail: number;
  dmarcFail: number;
}

export interface SenderAuthOptions {
  resolver: AuthResolver;
  /** Our host name: the authserv-id in the comments, and mailauth's MTA name. */
  hostname: string;
  /** What a DMARC failure does when the From domain publishes p=reject. */
  dmarcReject: 'reject' | 'quarantine' | 'tag';
  /** What a DMARC failure does when the From domain publishes p=quarantine. */
  dmarcQuarantine: 'quarantine' | 'tag';
  scores: SenderAuthScores;
  /** For RFC 7489 6.6.4 pct= sampling; a parameter so tests are not random. */
  random?: () => number;
  /** DNS_LOOKUP_TIMEOUT_MS and DNS_BUDGET_MS unless given (tests). */
  lookupTimeoutMs?: number;
  dnsBudgetMs?: number;
  /** A message that could not be checked (its signatures past a bound, a From it cannot read): `filters.unchecked`, default quarantine. */
  unchecked?: 'quarantine' | 'reject';
}

/** What mailauth's checks answer, the parts we read. */
interface AuthStatus {
  result?: string;
}
export interface SpfOutcome {
  status?: AuthStatus;
  domain?: string;
  info?: string;
}
interface DkimOutcome {
  results?: { id?: unknown; status?: AuthStatus & { aligned?: string | boolean; underSized?: unknown; policy?: Record<string, string> }; signingDomain?: string; algo?: unknown; info?: string }[];
  arc?: unknown;
  /** mailauth's parse of the header block (a property it does not enumerate). */
  headers?: { parsed?: { key: string | null; line: Uint8Array }[] };
}
interface MailauthOutcome {
  spf?: SpfOutcome | false;
  dkim?: DkimOutcome;
  arc?: { status?: AuthStatus; info?: string } | false;
  dmarc?: { status?: AuthStatus; domain?: string; policy?: string; sp?: string; pct?: number | string; info?: string; alignment?: { spf?: { strict?: boolean }; dkim?: { strict?: boolean } } } | false;
  /** DMARC failed, but an SPF or DKIM check that could have passed it aligned failed for DNS (unsure). */
  dmarcUnsure?: boolean;
  /** DMARC was a temperror for a sub-domain whose organizational domain asks this of its sub-domains' failing mail. */
  parentAsks?: string;
  /** The signatures were past a bound and not verified (onSpfAlone). */
  dkimUnchecked?: boolean;
  /** SPF or a DKIM signature passed aligned (relaxed) with the From domain DMARC was judged for. */
  alignedPass?: boolean;
  /** The From domain `dmarc` is for (mailauth's outcome names the organizational domain of a sub-domain). */
  fromDomain?: string;
  /** The DMARC parts of Authentication-Results of every From domain, in place of `dmarc`'s alone. */
  dmarcParts?: string[];
}
/** What `judge` answers. */
type Judged = Omit<FilterResult, 'filter'>;

/** The filter: name `sender-auth`, stage 0, so that the built-in rules (stage 1) can read its result. */
export class SenderAuthFilter implements Filter {
  readonly name = 'sender-auth';
  // a DMARC reject protects the From domain against forgery: an allow-listed sender address does not skip it
  readonly role = 'policy' as const;
  readonly stage = 0;
  private readonly random: () => number;

  constructor(private readonly options: SenderAuthOptions) {
    this.random = options.random ?? Math.random;
  }

  /** Loads mailauth now, for the first check not to wait for it (a failed load fails that check, as it would have). */
  preload(): void {
    mailauth().catch(() => {});
  }

  async check(message: MessageContext, signal: AbortSignal): Promise<FilterResult> {
    if (message.authenticatedUser) {
      return { filter: this.name, verdict: 'accept', score: 0, reasons: [`not checked: submitted by the logged-in user ${message.authenticatedUser}`] };
    }
    const early = message.earlySpf && 'outcome' in message.earlySpf && sameTransaction(message.earlySpf, message) ? (message.earlySpf as RunningSpf) : null;
    // the copy the pipeline read once, or the file streamed; the copy as a stream too, since mailauth hands a Buffer
    // to its parser after a turn of the event loop (two for a small message, each behind every other session)
    const input = messageStream(message.path, message.content, message.size);
    // a message that cannot be read, or a stream destroyed at the deadline, ends the check: mailauth listens for the
    // stream's error only from when it is handed the stream, and would wait forever for an error that came before
    const unreadable = new Promise<never>((_, reject) => input.on('error', reject));
    unreadable.catch(() => {});
    const stop = () => {
      input.destroy(new Error('sender authentication was stopped at its deadline'));
      early?.abort();
    };
    signal.addEventListener('abort', stop, { once: true });
    const budgetEndsAt = performance.now() + (this.options.dnsBudgetMs ?? DNS_BUDGET_MS);
    try {
      const lib = await mailauth();
      const { dkimVerify, spf, arc, formatAuthHeaderRow } = lib;
      // a deadline passed while mailauth loaded: the stream is destroyed already, and mailauth would wait on it forever
      signal.throwIfAborted();
      const resolver = mailauthResolver(this.options.resolver, { signal, budgetEndsAt, lookupTimeoutMs: this.options.lookupTimeoutMs });
      const spfResult = early
        ? awaitEarly(early, signal)
        : spf({ ip: message.clientIp, helo: heloForSpf(message), sender: message.sender, mta: this.options.hostname, resolver });
      // both settle before either is judged: a rejection of one must not leave the other unobserved
      const [dkimSettled, spfSettled] = await Promise.allSettled([Promise.race([dkimVerify(input, { resolver, sender: message.sender }), unreadable]), spfResult]);
      // the SPF check's failure first: a client that hangs up ends its early SPF check, and that must not leave a
      // signature bound to decide (quarantine) where the check would have failed (tempfail)
      if (spfSettled.status === 'rejected') throw spfSettled.reason;
      if (dkimSettled.status === 'rejected') {
        const cut = dkimSettled.reason as unknown;
        if (cut instanceof NotCheckedError && cut.headers) return await this.onSpfAlone(cut, cut.headers, spfSettled.value, lib, signal);
        throw cut;
      }
      const dkimResult = withDkimPolicy(dkimSettled.value, formatAuthHeaderRow);
      const spfOutcome = spfSettled.value;
      const from = fromDomains(dkimResult);
      const arcResult = await arc(dkimResult.arc, { resolver });
      const checked = await this.dmarcOf(from.domains, spfOutcome, dkimResult, arcResult, lib, signal);
      const judged = this.judgeEach(checked, { dkim: dkimResult, spf: spfOutcome, arc: arcResult }, lib.getAlignment);
      // a From that could not be read whole passes nothing for the rules, and is judged on the domains that could
      if (from.problem) return this.withUnchecked([from.problem], judged, 'on the From domains that could be read');
      // for the built-in rules (FROM_OWN_DOMAIN_UNAUTHENTICATED), as data: never read back out of header text
      const passed = {
        dmarc: checked.filter((each) => each.outcome && each.outcome.status?.result === 'pass').map((each) => each.domain),
        dkim: (dkimResult.results ?? []).filter((row) => row.status?.result === 'pass' && row.signingDomain).map((row) => row.signingDomain!.toLowerCase()),
        spf: spfOutcome.status?.result === 'pass' && spfOutcome.domain ? [spfOutcome.domain.toLowerCase()] : [],
      };
      return { filter: this.name, ...judged, passed };
    } finally {
      signal.removeEventListener('abort', stop);
      input.destroy();
    }
  }

  /**
   * DMARC for each From domain (mailauth answers false, no DMARC, for more than one From address). For a sub-domain
   * whose own policy could not be looked up, its organizational domain's sp= too: mailauth reads that only after "no
   * such name", so a sub-zone with broken DNS would make a forgery of it a temperror.
   */
  private async dmarcOf(domains: string[], spf: SpfOutcome, dkim: DkimOutcome, arcResult: unknown, lib: Mailauth, signal: AbortSignal): Promise<DomainDmarc[]> {
    // a budget of its own: the sender's look-ups (keys, SPF) or its CPU must not use up the From domain's policy;
    // and its records in one spelling: mailauth reads p=REJECT or adkim = s as written (dmarc-record.ts)
    const lookup = dmarcRecordLookup(
      mailauthResolver(this.options.resolver, { signal, budgetEndsAt: performance.now() + 2 * (this.options.lookupTimeoutMs ?? DNS_LOOKUP_TIMEOUT_MS), lookupTimeoutMs: this.options.lookupTimeoutMs }),
    );
    // each name asked once per message, its failure too: From domains share an organizational domain, and its sp=
    // look-up asks again the name whose failure may have made the temperror
    const asked = new Map<string, ReturnType<typeof lookup>>();
    const resolver: typeof lookup = (name, type) => {
      const key = `${type} ${name.toLowerCase()}`;
      if (!asked.has(key)) asked.set(key, lookup(name, type));
      return asked.get(key)!;
    };
    const checked = await Promise.all(
      domains.map(async (domain): Promise<DomainDmarc> => {
        const outcome = await lib.dmarc({
          headerFrom: `postmaster@${domain}`,
          spfDomains: spf.status?.result === 'pass' && spf.domain ? [spf.domain] : [],
          dkimDomains: (dkim.results ?? [])
            .filter((row) => row.status?.result === 'pass')
            .map((row) => ({ id: row.id, domain: row.signingDomain, aligned: row.status?.aligned, underSized: row.status?.underSized })),
          arcResult,
          resolver,
        });
        const parent =
          outcome && outcome.status?.result === 'temperror' && outcome.domain && outcome.domain !== domain
            ? await lib.dmarc({ headerFrom: `postmaster@${outcome.domain}`, spfDomains: [], dkimDomains: [], arcResult, resolver })
            : false;
        const parentAsks = parent && ['reject', 'quarantine'].includes(parent.sp ?? '') ? parent.sp : undefined;
        return { domain, outcome, parentAsks };
      }),
    );
    signal.throwIfAborted();
    return checked;
  }

  /**
   * Each From domain judged on its own (its policy, its aligned passes, its DNS failures), and the answer that asks
   * the most: a refusal, then a deferral, then quarantine; at the same verdict the higher score (a failure under
   * p=none scores), then the DMARC result that says the least for the message (a pass last). Every domain's DMARC
   * part goes into Authentication-Results. `adjust` may change a domain's answer before the choice. No From domain:
   * judged without DMARC.
   */
  private judgeEach(
    checked: DomainDmarc[],
    common: Pick<MailauthOutcome, 'dkim' | 'spf' | 'arc' | 'dkimUnchecked'>,
    getAlignment: GetAlignment,
    adjust: (domain: string, judged: Judged) => Judged = (_, judged) => judged,
  ): Judged {
    const spf = common.spf || {};
    const dkim = common.dkim ?? {};
    const dmarcParts = checked.flatMap(({ outcome }) => (outcome && outcome.info ? [outcome.info] : []));
    if (checked.length === 0) return this.judge({ ...common, dmarc: false });
    const each = checked.map(({ domain, outcome, parentAsks }) => ({
      rank: DMARC_RESULT_RANK[(outcome && outcome.status?.result) || 'none'] ?? 1,
      judged: adjust(
        domain,
        this.judge({
          ...common,
          dmarc: outcome,
          dmarcParts,
          fromDomain: domain,
          dmarcUnsure: unsure(outcome, domain, spf, dkim, getAlignment),
          parentAsks,
          alignedPass: alignedPass(domain, spf, dkim, getAlignment),
        }),
      ),
    }));
    const weight = ({ rank, judged }: (typeof each)[number]) => [SEVERITY[judged.verdict], judged.score, rank];
    return each.reduce((most, next) => {
      const [a, b] = [weight(most), weight(next)];
      const index = b.findIndex((value, i) => value !== a[i]);
      return index >= 0 && b[index]! > a[index]! ? next : most;
    }).judged;
  }

  /**
   * A message past a signature bound is not checked: its signatures are not verified, and it gets the unchecked
   * verdict. Its From can still fail DMARC on SPF alone, as it would with no signature at all: where that refuses or
   * defers it, so it is, not quarantined for carrying eleven junk signatures; unless one of those signatures is by
   * the From domain that refuses (it could have passed DMARC, unverified: a forwarded message of the domain's own).
   */
  private async onSpfAlone(cut: NotCheckedError, headers: ParsedHeaders, spf: SpfOutcome, lib: Mailauth, signal: AbortSignal): Promise<FilterResult> {
    const dkim: DkimOutcome = { results: [], headers };
    const from = fromDomains(dkim);
    const checked = await this.dmarcOf(from.domains, spf, dkim, false, lib, signal);
    const signers = signingDomains(headers);
    const unchecked = this.options.unchecked ?? 'quarantine';
    const judged = this.judgeEach(checked, { spf, dkim, dkimUnchecked: true }, lib.getAlignment, (domain, answer) => {
      const signer = answer.verdict === 'reject' ? alignedWith(lib.getAlignment, domain, signers) : null;
      if (!signer) return answer;
      return { ...answer, verdict: unchecked, reasons: [`${answer.reasons[0]}; not refused: a signature by ${signer} could not be verified`, ...answer.reasons.slice(1)] };
    });
    return this.withUnchecked([cut.message, ...(from.problem ? [from.problem] : [])], judged, 'on SPF alone');
  }

  /**
   * A message sender authentication could not check whole (`why`): the unchecked verdict, or what the checks that
   * could be made said where that asks more (a refusal, a deferral). Its passes count for nothing.
   */
  private withUnchecked(why: string[], judged: Judged, what: string): FilterResult {
    const unchecked = this.options.unchecked ?? 'quarantine';
    const notes = why.map((reason) => `not checked: ${reason}`);
    if (SEVERITY[judged.verdict] > SEVERITY[unchecked]) return { filter: this.name, ...judged, reasons: [...judged.reasons, ...notes] };
    // no Authentication-Results: a pass written for part of a From that was not read whole could mislead its reader
    return { filter: this.name, ...judged, verdict: unchecked, reasons: [...notes, `${what}: ${judged.reasons[0]}`, ...judged.reasons.slice(1)], headers: undefined };
  }

  /**
   * Starts the SPF check of a transaction at MAIL FROM (what `check` would ask at the end of DATA, with the same
   * look-up timeout and a budget of DNS_BUDGET_MS of its own); the listener hands it to `check` in the message's
   * context. It never changes the MAIL reply: its outcome is judged with the rest, after DATA.
   */
  startSpf(transaction: { clientIp: string; helo: string | null; sender: string }): RunningSpf {
    const controller = new AbortController();
    const budgetEndsAt = performance.now() + (this.options.dnsBudgetMs ?? DNS_BUDGET_MS);
    const resolver = mailauthResolver(this.options.resolver, { signal: controller.signal, budgetEndsAt, lookupTimeoutMs: this.options.lookupTimeoutMs });
    // dropped means done: a look-up already under way is not waited for
    const dropped = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true }));
    const checked = mailauth().then(({ spf }) =>
      spf({ ip: transaction.clientIp, helo: heloForSpf(transaction), sender: transaction.sender, mta: this.options.hostname, resolver }),
    );
    checked.catch(() => {}); // its failure after a drop is nobody's
    let settled = false;
    const outcome = Promise.race([checked, dropped]).then(
      (spf) => ((settled = true), { ok: true as const, spf }),
      (error: unknown) => ((settled = true), { ok: false as const, error: error instanceof Error ? error : new Error(String(error)) }),
    );
    return {
      ...transaction,
      outcome,
      // one that has settled has nothing left to stop (the usual case: the check that used it ends it)
      abort: () => settled || controller.abort(new Error('the SPF check started at MAIL FROM was dropped with its transaction')),
    };
  }

  /** The results as a verdict, a score and reasons (pure but for pct sampling). */
  judge(outcome: MailauthOutcome): Judged {
    const { scores } = this.options;
    const parts: string[] = [];
    const findings: string[] = [];
    let score = 0;
    for (const signature of outcome.dkim?.results ?? []) if (signature.info) parts.push(signature.info);
    if (outcome.spf && outcome.spf.info) parts.push(outcome.spf.info);
    if (outcome.arc && outcome.arc.info) parts.push(outcome.arc.info);
    if (outcome.dmarcParts) parts.push(...outcome.dmarcParts);
    else if (outcome.dmarc && outcome.dmarc.info) parts.push(outcome.dmarc.info);

    const spf = outcome.spf ? (outcome.spf.status?.result ?? 'none') : 'none';
    if (spf === 'fail') {
      score += scores.spfFail;
      findings.push(`SPF_FAIL the client is not allowed to send for ${outcome.spf ? outcome.spf.domain : 'the sender domain'}`);
    } else if (spf === 'softfail') {
      score += scores.spfSoftfail;
      findings.push(`SPF_SOFTFAIL the client is probably not allowed to send for ${outcome.spf ? outcome.spf.domain : 'the sender domain'}`);
    }
    const signatures = outcome.dkim?.results ?? [];
    const dkimPassed = signatures.filter((signature) => signature.status?.result === 'pass');
    // mailauth reports a body hash mismatch as "neutral (body hash did not verify)": that is a broken signature too
    const dkimFailed = signatures.filter((signature) => !['pass', 'none', 'temperror'].includes(signature.status?.result ?? 'none'));
    if (dkimFailed.length && !dkimPassed.length) {
      score += scores.dkimFail;
      const named = dkimFailed.map((signature) => `${signature.signingDomain}${POLICY_WORDS[signature.status?.policy?.['dkim-rules'] ?? ''] ?? ''}`);
      findings.push(`DKIM_FAIL the signature of ${named.join(', ')} does not verify or does not count`);
    }

    let verdict: Verdict = 'accept';
    const dkim = outcome.dkimUnchecked
      ? 'unchecked'
      : dkimPassed.length
      ? `pass (${dkimPassed.map((signature) => signature.signingDomain).join(', ')})`
      : (signatures[0]?.status?.result ?? 'none');
    let summary = `spf=${spf} dkim=${dkim}`;
    if (outcome.arc) summary += ` arc=${outcome.arc.status?.result ?? 'none'}`;
    const dmarc = outcome.dmarc || null;
    const dmarcResult = dmarc?.status?.result ?? 'none';
    summary += ` dmarc=${dmarcResult}`;
    if (dmarc && dmarcResult === 'fail') {
      score += scores.dmarcFail;
      const policy = this.sampledPolicy(dmarc.policy, dmarc.pct);
      const domain = dmarc.domain ?? 'the From domain';
      findings.push(`DMARC_FAIL neither SPF nor DKIM passed aligned with ${domain} (policy ${dmarc.policy ?? 'none'})`);
      if (policy === 'reject') verdict = this.options.dmarcReject;
      else if (policy === 'quarantine') verdict = this.options.dmarcQuarantine;
      // the sender's DNS failed for the very check that could pass it: its server is asked to try again, not refused;
      // never with pct below 100 (each try would draw again until one is let through) nor where the admin chose "tag"
      const deferred = outcome.dmarcUnsure && (verdict === 'reject' || verdict === 'quarantine') && !(Number(dmarc.pct ?? 100) < 100);
      if (deferred) {
        verdict = 'tempfail';
        summary = `dmarc=fail: ${domain} asks receivers to ${policy} mail that fails DMARC (p=${policy}), but a check that could have passed this message failed for DNS (temperror): try again later (${summary})`;
      } else if (policy === 'reject' || policy === 'quarantine') {
        summary = `dmarc=fail: ${domain} asks receivers to ${policy} mail that fails DMARC (p=${policy}), and this message failed it (${summary})`;
      }
    }
    if (dmarc && dmarcResult === 'temperror' && !outcome.alignedPass && this.options.dmarcReject !== 'tag') {
      // RFC 7489 6.6.3 leaves a DNS error to the receiver: the policy might be p=reject, and nothing shows the message
      // is the From domain's, so it is deferred ("fail closed"); an aligned pass (relaxed) is taken as the domain's own
      verdict = 'tempfail';
      summary = outcome.parentAsks
        ? `dmarc=temperror: the DMARC policy of ${outcome.fromDomain ?? 'the From domain'} could not be looked up, and ${dmarc.domain} asks receivers to ${outcome.parentAsks} its sub-domains' mail that fails DMARC (sp=${outcome.parentAsks}): try again later (${summary})`
        : `dmarc=temperror: the DMARC policy of ${outcome.fromDomain ?? dmarc.domain ?? 'the From domain'} could not be looked up, and neither SPF nor DKIM passed for it: try again later (${summary})`;
    }
    const headers = parts.length ? [{ name: 'Authentication-Results', value: parts.join('; ') }] : [];
    return { verdict, score: Math.round(score * 100) / 100, reasons: [summary, ...findings], headers };
  }

  /** RFC 7489 6.6.4: with pct below 100, a message outside the sample gets the next milder policy. */
  private sampledPolicy(policy: string | undefined, pct: number | string | undefined): string {
    const share = Number(pct ?? 100);
    if (!policy || !Number.isFinite(share) || share >= 100 || this.random() * 100 < share) return policy ?? 'none';
    return policy === 'reject' ? 'quarantine' : 'none';
  }
}

/** Why a signature that verified does not count (withDkimPolicy), in the finding. */
const POLICY_WORDS: Record<string, string> = { 'weak-algorithm': ' (SHA-1: no longer accepted)', 'unsigned-body': ' (part of the body is not signed)', 'weak-key': ' (key too short)' };

/** Distinct From domains DMARC is checked for; more and the message is not checked (each costs DNS look-ups). */
export const MAX_FROM_DOMAINS = 5;

/**
 * Every domain a reader could take the message to be from, for DMARC: of each mailbox of the From fields as RFC 5322
 * reads them (mailboxAddresses: comments, groups, spaces around "@"; mailauth's own reading misses all three, and
 * finds no address in a group), every part after an "@" ("ceo@victim@attacker" names both). A From field that cannot
 * be read, has no address, names a domain that is no host name (which DNS would answer with an error, a temperror),
 * or names more than MAX_FROM_DOMAINS domains cannot be checked whole: `problem` says why, and `domains` holds those
 * that could be read (the first MAX_FROM_DOMAINS). No From field: nothing to check.
 */
function fromDomains(dkim: DkimOutcome): { domains: string[]; problem: string | null } {
  const fields = (dkim.headers?.parsed ?? []).filter((header) => header.key === 'from');
  const domains = new Set<string>();
  let problem: string | null = null;
  for (const field of fields) {
    const value = Buffer.from(field.line).toString('utf8').replace(/^[^:]*:/, '').replace(/\r?\n/g, '');
    const { addresses, malformed } = mailboxAddresses(value);
    if (malformed) problem ??= 'a From field that cannot be read as addresses';
    for (const address of addresses) {
      for (const part of address.split('@').slice(1)) {
        const domain = normalizeDomain(part);
        if (domain) domains.add(domain);
        else problem ??= `a From address whose domain is no host name (${JSON.stringify(part.slice(0, 80))})`;
      }
    }
  }
  if (fields.length > 0 && domains.size === 0) problem ??= 'a From field with no address in it';
  if (domains.size > MAX_FROM_DOMAINS) problem ??= `a From naming ${domains.size} domains, over the limit of ${MAX_FROM_DOMAINS}`;
  return { domains: [...domains].slice(0, MAX_FROM_DOMAINS), problem };
}

type DmarcOutcome = NonNullable<MailauthOutcome['dmarc']>;
/** One From domain's DMARC outcome, and for a sub-domain whose own look-up failed, what its organizational domain's sp= asks. */
interface DomainDmarc {
  domain: string;
  outcome: DmarcOutcome | false;
  parentAsks?: string;
}

/** The signing domains (d=) of a header block's DKIM-Signature fields, as written (UTF-8, RFC 8616), unverified. */
function signingDomains(headers: ParsedHeaders): string[] {
  return headers.parsed
    .filter((header) => header.key === 'dkim-signature')
    .map((header) => {
      const tags = Buffer.from(header.line).toString('utf8').replace(/^[^:]*:/, '').split(';');
      const tag = tags.map((each) => each.split('=')).find(([name]) => name!.trim().toLowerCase() === 'd');
      return (tag?.slice(1).join('=') ?? '').replace(/\s+/g, '');
    })
    .filter((domain) => domain !== '');
}

/** For the choice among From domains at the same verdict and score: the result that says least for the message first. */
const DMARC_RESULT_RANK: Record<string, number> = { fail: 4, temperror: 3, permerror: 3, none: 1, pass: 0 };

/** The first of `domains` aligned (relaxed) with `fromDomain`, or null. */
function alignedWith(getAlignment: GetAlignment, fromDomain: string, domains: string[]): string | null {
  if (!fromDomain || domains.length === 0) return null;
  const aligned = getAlignment(fromDomain, domains.map((domain) => domain.toLowerCase()), { strict: false });
  return aligned === false ? null : String((aligned as { domain?: unknown }).domain);
}

/**
 * Signatures that verify but do not count (RFC 8601 `dkim=policy`), for DMARC, the score and the built-in rules alike:
 * SHA-1 (rsa-sha1), which RFC 8301 says a verifier must not take as valid, and one whose `l=` leaves part of the body unsigned
 * (mailauth honours it: what follows could be anyone's, a signed message replayed with a payload appended). Each
 * becomes `policy`, its Authentication-Results part written again.
 */
export function withDkimPolicy(outcome: DkimOutcome, format: Mailauth['formatAuthHeaderRow']): DkimOutcome {
  for (const row of outcome.results ?? []) {
    const status = row.status;
    if (status?.result !== 'pass') continue;
    // the hash as mailauth takes it from a= (rsa-sha1, ed25519-sha1)
    const hash = String(row.algo ?? '').split('-').pop()!.trim().toLowerCase();
    const rule = hash === 'sha1' ? 'weak-algorithm' : Number(status.underSized) > 0 ? 'unsigned-body' : null;
    if (!rule) continue;
    status.result = 'policy';
    status.policy = { ...status.policy, 'dkim-rules': rule };
    row.info = format('dkim', status);
  }
  return outcome;
}

/**
 * DMARC failed, but SPF, or a DKIM signature, that would align with the From domain ended in a temperror (the
 * sender's DNS failed: SERVFAIL, a timeout, a lame include). That is no proof of forgery: the message is deferred,
 * not refused. An attacker gains a 4xx at most: a check of its own domain does not align with the one it forges
 * (one that uses up the message's DNS budget before the forged domain's key is asked gets that 4xx every time).
 */
function unsure(dmarc: DmarcOutcome | false, fromDomain: string, spf: SpfOutcome, dkim: DkimOutcome, getAlignment: GetAlignment): boolean {
  if (!dmarc || dmarc.status?.result !== 'fail' || !fromDomain) return false;
  // a name DNS could not be asked (a HELO of 254 characters) is no failure of the sender's DNS
  const spfFailed = spf.status?.result === 'temperror' && spf.domain && dnsName(spf.domain) !== null ? [spf.domain] : [];
  const dkimFailed = (dkim.results ?? []).filter((row) => row.status?.result === 'temperror' && row.signingDomain).map((row) => row.signingDomain!);
  // aligned as the policy asks: under aspf=s or adkim=s only the From domain itself could have passed
  const aligns = (failed: string[], strict: boolean | undefined) => failed.length > 0 && getAlignment(fromDomain, failed, { strict: strict === true }) !== false;
  return aligns(spfFailed, dmarc.alignment?.spf?.strict) || aligns(dkimFailed, dmarc.alignment?.dkim?.strict);
}

/**
 * SPF or a DKIM signature that counts passed for a domain aligned with `fromDomain`. Relaxed: with the policy unknown
 * (a temperror), a pass by the domain's own sub-domain (its bounce domain, its mail service's signing name) is taken
 * as the domain's own, as a relaxed policy (the default) would take it.
 */
function alignedPass(fromDomain: string, spf: SpfOutcome, dkim: DkimOutcome, getAlignment: GetAlignment): boolean {
  const passed = [
    ...(spf.status?.result === 'pass' && spf.domain ? [spf.domain] : []),
    ...(dkim.results ?? []).filter((row) => row.status?.result === 'pass' && row.signingDomain).map((row) => row.signingDomain!),
  ];
  return alignedWith(getAlignment, fromDomain, passed) !== null;
}

/** The transaction an early SPF check was started for is the message's own. */
function sameTransaction(early: EarlySpf, message: MessageContext): boolean {
  return early.clientIp === message.clientIp && early.helo === message.helo && early.sender === message.sender;
}

/** The early check's outcome, or the filter's deadline, whichever comes first; its failure is the check's failure. */
function awaitEarly(early: RunningSpf, signal: AbortSignal): Promise<SpfOutcome> {
  return new Promise((resolve, reject) => {
    const stop = () => reject(signal.reason instanceof Error ? signal.reason : new Error('sender authentication was stopped at its deadline'));
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    void early.outcome.then((settled) => {
      signal.removeEventListener('abort', stop);
      if (settled.ok) resolve(settled.spf);
      else reject(settled.error);
    });
  });
}

/** The HELO name SPF checks as mailauth's authenticate() forms it: the client address when there is none, an address in brackets. */
function heloForSpf(transaction: { clientIp: string; helo: string | null }): string {
  const helo = transaction.helo || transaction.clientIp;
  return isIP(helo) ? `[${helo}]` : helo;
}

/**
 * mailauth asks DNS as `resolver(name, type)` in node:dns' shapes; this answers from our Resolver. A type we
 * cannot ask counts as "no such record". A look-up that takes longer than DNS_LOOKUP_TIMEOUT_MS, or comes after
 * `budgetEndsAt` (performance.now() time), fails as a DNS timeout (a temperror for mailauth); at the filter's deadline (`signal`) every
 * look-up, also one under way, fails at once with the abort.
 *
 * A DKIM or DMARC name no DNS zone can hold (dnsName) is "no such name" without asking: a sender picks the names of
 * its DKIM signature, and mailauth takes the organizational domain of `d=victim.test/x.attacker.test` to be
 * victim.test (tldts reads it as a URL) while DNS would ask the attacker's zone for its key; and `_dmarc.` before a
 * From domain of 250 characters is too long for DNS, which mailauth took for a temperror (accepted) instead of looking
 * for the organizational domain's policy. Any other such name (an SPF macro that expands a local part with "+") is a
 * temperror, as node:dns' EBADNAME was. Labels in Unicode are asked in punycode, as node:dns asks them.
 * A failure DNS gives that mailauth's SPF does not know (SERVFAIL, a refused connection) is passed on as a timeout:
 * its SPF check passed over an include: that failed so, and `-all` then failed the message; DKIM and DMARC take every
 * such failure for a temperror already. A PTR look-up that fails is no answer (RFC 7208 5.5: the ptr mechanism does
 * not match), so a sender's reverse zone cannot make SPF a temperror.
 */
export function mailauthResolver(
  resolver: AuthResolver,
  limits: { signal?: AbortSignal; budgetEndsAt?: number; lookupTimeoutMs?: number } = {},
): (name: string, type: string) => Promise<string[][] | string[]> {
  const timedOut = (name: string) => Object.assign(new Error(`ETIMEOUT ${name}`), { code: 'ETIMEOUT' });
  const lookup = lookupByType(resolver);
  return async (name, type) => {
    limits.signal?.throwIfAborted();
    const asked = dnsName(name);
    if (asked === null) {
      if (/^_dmarc\./i.test(name) || /\._domainkey\./i.test(name)) throw none(name);
      throw Object.assign(new Error(`EBADNAME ${name}`), { code: 'ETIMEOUT' });
    }
    if (limits.budgetEndsAt !== undefined && performance.now() >= limits.budgetEndsAt) throw timedOut(name);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    // a look-up under way when the deadline passes ends with it, so the check answers at once
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut(name)), limits.lookupTimeoutMs ?? DNS_LOOKUP_TIMEOUT_MS);
      onAbort = () => reject(limits.signal!.reason instanceof Error ? limits.signal!.reason : new Error('stopped at its deadline'));
      limits.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([lookup(asked, type), timeout]);
    } catch (error) {
      if (type.toUpperCase() === 'PTR' && !limits.signal?.aborted) return [];
      const code = (error as { code?: unknown } | null)?.code;
      if (typeof code !== 'string' || MAILAUTH_DNS_CODES.has(code)) throw error;
      throw Object.assign(new Error(`${(error as Error).message} (${code})`), { code: 'ETIMEOUT', cause: error });
    } finally {
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort!);
    }
  };
}

/** The DNS failures mailauth's SPF check tells apart (the others it passes over). */
const MAILAUTH_DNS_CODES = new Set(['ENOTFOUND', 'ENODATA', 'ETIMEOUT', 'EREFUSED']);

/**
 * `name` as DNS is asked it (labels in Unicode in punycode), or null when no zone can hold it: more than 253
 * characters, or a label other than 1 to 63 letters, digits, hyphens or underscores.
 */
const NON_ASCII = /[^\x00-\x7f]/;
function dnsName(name: string): string | null {
  // the form mailauth compares for alignment (lower case, then punycode), or none: only letters, digits and hyphens go
  // to domainToASCII, which reads a URL ("com/ü" would be "com"), and a label it maps to another (the capital "ẞ" to
  // "ss", a full-width letter to ASCII) would be looked up in a zone other than the one it aligns with
  const toAscii = (label: string) => {
    const lower = label.toLowerCase();
    if (!/^[\p{L}\p{M}\p{N}_-]+$/u.test(lower)) return '';
    const ascii = domainToASCII(lower);
    return ascii && domainToUnicode(ascii) === lower ? ascii : '';
  };
  const ascii = NON_ASCII.test(name) ? name.split('.').map((label) => (NON_ASCII.test(label) ? toAscii(label) : label)).join('.') : name;
  const bare = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  const valid = bare.length > 0 && bare.length <= 253 && bare.split('.').every((label) => /^[A-Za-z0-9_-]{1,63}$/.test(label));
  return valid ? ascii : null;
}

/** "No such record", as node:dns says it. */
const none = (name: string) => Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' });

/** The record types mailauth asks for, each from its Resolver method; a type it cannot ask is "no such record". */
export function lookupByType(resolver: AuthResolver): (name: string, type: string) => Promise<string[][] | string[]> {
  return async (name, type) => {
    switch (type.toUpperCase()) {
      case 'TXT':
        return resolver.resolveTxt(name);
      case 'A':
        return resolver.resolve4(name);
      case 'AAAA':
        return resolver.resolve6(name);
      case 'MX':
        return (await resolver.resolveMx(name)) as unknown as string[];
      case 'PTR':
        if (resolver.resolvePtr) return resolver.resolvePtr(name);
        throw none(name);
      default:
        throw none(name);
    }
  };
}

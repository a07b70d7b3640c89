// Connection policy of the mx listener (DESIGN "A message's path": connect -> limits, allow/deny nets, DNSBL,
// pregreet): who may talk to us, how often, and what a client that probes for addresses or keeps making errors gets.
// It answers with verdicts and reasons; mx-listener.ts picks the reply codes (STYLE habit 8).
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Logger } from '../log/logger.ts';
import type { Resolver } from '../util/resolver.ts';
import { clientKey, expandIPv6, normalizeClientIp, parseCidr } from '../util/networks.ts';

/** One DNS block list: its zone, how much a listing weighs, and which answers count (none given: any 127.0.0.0/8). */
export interface DnsblZone {
  zone: string;
  weight: number;
  answers?: string[];
}

/** The settings, as `mx.*` in the configuration resolves them (see config/schema.ts). */
export interface ConnectionPolicySettings {
  clientNetworks: { allow: string[]; deny: string[] };
  dnsbl: { zones: DnsblZone[]; threshold: number; timeoutMs: number };
  rateLimit: { connectionsPerMinute: number; messagesPerMinute: number };
  harvest: { maxUnknownPerSession: number; maxUnknownPerIp: number; windowMinutes: number; blockMinutes: number };
  errorDelay: { afterErrors: number; stepMs: number; maxMs: number };
}

export type ClientRefusal = 'client-denied' | 'dnsbl' | 'connection-rate' | 'message-rate' | 'harvest';

export type PolicyVerdict = { ok: true } | { ok: false; refusal: ClientRefusal; reason: string };

/** What the policy decided about one connection when it opened; the DNSBL part is awaited later, at RCPT. */
export interface ClientScreen {
  ip: string;
  /** What the counters count by: the address, or the /64 of an IPv6 one (util/networks.ts clientKey). */
  key: string;
  /** On an allow-listed network: no DNSBL, rate limits, harvest cap or error delay. */
  trusted: boolean;
  /** Refused at connect (rate limit, harvest block). */
  atConnect: PolicyVerdict;
  /** Deny list or DNSBL listing: refused at RCPT, so the log keeps sender and recipient of what was refused. */
  listing: Promise<PolicyVerdict>;
}

/** What a session keeps of its own unknown recipients (directory harvest). */
export interface HarvestTally {
  /** Unknown recipients answered in this session. */
  unknown: number;
  /** Recipient checks of this session in progress, each holding a place (ConnectionPolicy.recipient). */
  pending: number;
}

/** The place one recipient check holds on the harvest counters while it runs; settled once, by one of the two. */
export interface RecipientPlace {
  /** The recipient does not exist: counted for the session and the client; past a cap, the harvest refusal. */
  unknown(): PolicyVerdict;
  /** Any other answer (exists, relay denied, could not be checked): the place is given back. */
  release(): void;
}

export type RecipientGate = { ok: true; place: RecipientPlace } | { ok: false; refusal: ClientRefusal; reason: string };

const ACCEPT: PolicyVerdict = { ok: true };
/** An allow-listed client's recipients are not counted. */
const UNCOUNTED_PLACE: RecipientPlace = { unknown: () => ACCEPT, release: () => {} };
const MINUTE_MS = 60_000;
/** A client's DNSBL result is reused this long (ms): a sender opens several connections in a row, lists change slowly. */
const DNSBL_CACHE_MS = 5 * MINUTE_MS;
/** Clients remembered for rate limits, harvest counts and the DNSBL cache, each; the oldest are forgotten past it. */
export const MAX_TRACKED_CLIENTS = 50_000;
/** Spamhaus and others answer 127.255.255.0/24 for "query refused" (e.g. through a public resolver): never a listing. */
const DNSBL_ERROR_ANSWER = /^127\.255\.255\.\d{1,3}$/;
const LOOPBACK_NET_ANSWER = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
/** A list's TXT reason is kept to this many characters (it goes into the log and the history). */
const MAX_LISTING_TEXT = 200;

/** The DNSBL query name for a client (RFC 5782 2.1 and 2.4): reversed octets, or reversed nibbles for IPv6. */
export function dnsblQueryName(ip: string, zone: string): string | null {
  const client = normalizeClientIp(ip);
  if (isIPv4(client)) return `${client.split('.').reverse().join('.')}.${zone}`;
  if (!isIPv6(client)) return null;
  const nibbles = expandIPv6(client).replace(/:/g, '').split('').reverse().join('.');
  return `${nibbles}.${zone}`;
}

/** Allow and deny lists of client networks; the most specific matching network decides, deny on a tie. */
export class ClientNetworks {
  private readonly entries: { list: BlockList; prefix: number; family: 'ipv4' | 'ipv6'; verdict: 'allow' | 'deny'; text: string }[] = [];

  constructor(allow: readonly string[], deny: readonly string[]) {
    for (const [verdict, texts] of [['allow', allow], ['deny', deny]] as const) {
      for (const text of texts) {
        const cidr = parseCidr(text);
        if (!cidr) throw new Error(`not a network: ${JSON.stringify(text)}`);
        const list = new BlockList();
        list.addSubnet(cidr.address, cidr.prefix, cidr.family);
        this.entries.push({ list, prefix: cidr.prefix, family: cidr.family, verdict, text });
      }
    }
  }

  /** Which list the client is on, with the network that matched; null when neither. */
  classify(ip: string): { verdict: 'allow' | 'deny'; network: string } | null {
    const client = normalizeClientIp(ip);
    const family = isIPv4(client) ? 'ipv4' : isIPv6(client) ? 'ipv6' : null;
    if (!family) return null;
    let best: (typeof this.entries)[number] | undefined;
    for (const entry of this.entries) {
      if (entry.family !== family || !entry.list.check(client, family)) continue;
      if (!best || entry.prefix > best.prefix || (entry.prefix === best.prefix && entry.verdict === 'deny')) best = entry;
    }
    return best ? { verdict: best.verdict, network: best.text } : null;
  }
}

/**
 * Events per key within a sliding window, bounded in memory: per key at most `limit + 1` timestamps are kept (enough
 * to know the limit is passed), and at most MAX_TRACKED_CLIENTS keys (the least recently seen go first).
 */
export class SlidingWindow {
  private readonly hits = new Map<string, number[]>();

  constructor(private readonly windowMs: number, private readonly limit: number) {}

  /** Records one event now; returns how many fell in the window, this one included (capped at limit + 1). */
  hit(key: string, now: number): number {
    const kept = this.recent(key, now);
    // kept in time order, so the expired ones are always the first few; a clock set back puts its time in its place
    let at = kept.length;
    while (at > 0 && kept[at - 1]! > now) at--;
    kept.splice(at, 0, now);
    if (kept.length > this.limit + 1) kept.shift();
    this.hits.delete(key);
    this.hits.set(key, kept);
    if (this.hits.size > MAX_TRACKED_CLIENTS) this.hits.delete(this.hits.keys().next().value!);
    return kept.length;
  }

  count(key: string, now: number): number {
    return this.recent(key, now).length;
  }

  get size(): number {
    return this.hits.size;
  }

  /** The key's times still in the window, pruned in place (a busy client's list is not copied at every event). */
  private recent(key: string, now: number): number[] {
    const kept = this.hits.get(key);
    if (!kept) return [];
    const since = now - this.windowMs;
    let expired = 0;
    while (expired < kept.length && kept[expired]! <= since) expired++;
    if (expired > 0) kept.splice(0, expired);
    return kept;
  }
}

export interface ConnectionPolicyOptions {
  settings: ConnectionPolicySettings;
  /** DNS for the block lists; tests pass fixture records. */
  resolver: Pick<Resolver, 'resolve4' | 'resolveTxt'>;
  logger: Logger;
  clock?: () => number;
}

/** The connection policy of one listener: its counters live as long as the listener. */
export class ConnectionPolicy {
  private readonly settings: ConnectionPolicySettings;
  private readonly networks: ClientNetworks;
  private readonly resolver: Pick<Resolver, 'resolve4' | 'resolveTxt'>;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly connections: SlidingWindow;
  private readonly messages: SlidingWindow;
  private readonly unknown: SlidingWindow;
  private readonly blocked = new Map<string, number>();
  /** Recipient checks in progress per client (each holds a place on its counters); no entry when none. */
  private readonly pending = new Map<string, number>();
  /** Recipient checks waiting for a place (harvest counters full were the checks in progress all unknown). */
  private waiters: (() => void)[] = [];
  private readonly dnsblCache = new Map<string, { until: number; verdict: Promise<PolicyVerdict> }>();

  constructor(options: ConnectionPolicyOptions) {
    this.settings = options.settings;
    this.networks = new ClientNetworks(options.settings.clientNetworks.allow, options.settings.clientNetworks.deny);
    this.resolver = options.resolver;
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
    const { rateLimit, harvest } = options.settings;
    this.connections = new SlidingWindow(MINUTE_MS, rateLimit.connectionsPerMinute);
    this.messages = new SlidingWindow(MINUTE_MS, rateLimit.messagesPerMinute);
    this.unknown = new SlidingWindow(harvest.windowMinutes * MINUTE_MS, harvest.maxUnknownPerIp);
  }

  /** A new connection: counts it, and starts the DNSBL look-ups so that they are done by the time RCPT comes. */
  connect(rawIp: string): ClientScreen {
    const ip = normalizeClientIp(rawIp);
    const key = clientKey(ip);
    const network = this.networks.classify(ip);
    if (network?.verdict === 'allow') return { ip, key, trusted: true, atConnect: ACCEPT, listing: Promise.resolve(ACCEPT) };
    const listing: Promise<PolicyVerdict> =
      network?.verdict === 'deny'
        ? Promise.resolve({ ok: false, refusal: 'client-denied', reason: `client network ${network.network} is on the deny list` })
        : this.dnsbl(ip);
    return { ip, key, trusted: false, atConnect: this.admit(key), listing };
  }

  /** MAIL FROM: the per-client message rate. */
  mail(screen: ClientScreen): PolicyVerdict {
    const limit = this.settings.rateLimit.messagesPerMinute;
    if (screen.trusted || limit === 0) return ACCEPT;
    const count = this.messages.hit(screen.key, this.clock());
    if (count <= limit) return ACCEPT;
    return { ok: false, refusal: 'message-rate', reason: `more than ${limit} messages a minute from ${screen.key}` };
  }

  /**
   * RCPT, before the recipient is looked at: a client blocked for harvesting, also by another of its sessions while
   * this one was open, gets the harvest refusal. Otherwise the check takes a place on the client's and the session's
   * unknown-recipient counters, synchronously, and holds it until its answer is known (the callout may take seconds).
   * A check in progress counts as a possible unknown recipient: a check that would be past a cap were all those in
   * progress unknown waits for one of them to end. One check at a time always runs, so parallel sessions and
   * pipelined commands are limited exactly as one command after another: never more than the caps' 550s, and once
   * the client is blocked no more recipients are looked up for it.
   */
  async recipient(screen: ClientScreen, tally: HarvestTally): Promise<RecipientGate> {
    if (screen.trusted) return { ok: true, place: UNCOUNTED_PLACE };
    for (;;) {
      // synchronous, before any await: looking at the counters and taking a place are one step
      const gate = this.takePlace(screen.key, tally);
      if (gate !== 'wait') return gate;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private takePlace(client: string, tally: HarvestTally): RecipientGate | 'wait' {
    const { maxUnknownPerSession, maxUnknownPerIp } = this.settings.harvest;
    const now = this.clock();
    const blocked = this.blockedVerdict(client, now);
    if (blocked) return blocked;
    const pending = this.pending.get(client) ?? 0;
    const clientFull = maxUnknownPerIp > 0 && pending > 0 && this.unknown.count(client, now) + pending > maxUnknownPerIp;
    const sessionFull = maxUnknownPerSession > 0 && tally.pending > 0 && tally.unknown + tally.pending > maxUnknownPerSession;
    if (clientFull || sessionFull) return 'wait';
    this.pending.set(client, pending + 1);
    tally.pending++;
    let held = true;
    const settle = <T>(outcome: () => T): T => {
      held = false;
      const left = (this.pending.get(client) ?? 1) - 1;
      if (left > 0) this.pending.set(client, left);
      else this.pending.delete(client);
      tally.pending--;
      try {
        return outcome();
      } finally {
        const waiting = this.waiters;
        this.waiters = [];
        for (const wake of waiting) wake();
      }
    };
    return {
      ok: true,
      place: {
        unknown: () => (held ? settle(() => this.countUnknown(client, tally)) : ACCEPT),
        release: () => {
          if (held) settle(() => undefined);
        },
      },
    };
  }

  /**
   * An unknown recipient was refused: counted for the session and for the client over the window. Past either cap
   * the session is ended; past the client's cap the client is also blocked for `blockMinutes`.
   */
  private countUnknown(client: string, tally: HarvestTally): PolicyVerdict {
    const { maxUnknownPerSession, maxUnknownPerIp, windowMinutes, blockMinutes } = this.settings.harvest;
    const now = this.clock();
    tally.unknown++;
    const perIp = maxUnknownPerIp > 0 ? this.unknown.hit(client, now) : 0;
    if (maxUnknownPerIp > 0 && perIp > maxUnknownPerIp) {
      this.blocked.delete(client);
      this.blocked.set(client, now + blockMinutes * MINUTE_MS);
      if (this.blocked.size > MAX_TRACKED_CLIENTS) this.blocked.delete(this.blocked.keys().next().value!);
      this.logger.warn({ ip: client, unknown: perIp, minutes: blockMinutes }, 'HARVEST_BLOCKED');
      return { ok: false, refusal: 'harvest', reason: `more than ${maxUnknownPerIp} unknown recipients from ${client} within ${windowMinutes} minutes; blocked for ${blockMinutes} minutes` };
    }
    if (maxUnknownPerSession > 0 && tally.unknown > maxUnknownPerSession) {
      return { ok: false, refusal: 'harvest', reason: `more than ${maxUnknownPerSession} unknown recipients in one session` };
    }
    return ACCEPT;
  }

  /** The tarpit: how long to hold the next reply of a session that has made `errors` refused commands so far. */
  errorDelayMs(screen: ClientScreen | undefined, errors: number): number {
    const { afterErrors, stepMs, maxMs } = this.settings.errorDelay;
    if (screen?.trusted || errors <= afterErrors) return 0;
    return Math.min((errors - afterErrors) * stepMs, maxMs);
  }

  /** Clients blocked for harvesting right now (for tests and the admin view). */
  isBlocked(ip: string): boolean {
    const until = this.blocked.get(clientKey(ip));
    return until !== undefined && until > this.clock();
  }

  /** The harvest refusal while the client is blocked; null when it is not (an ended block is forgotten). */
  private blockedVerdict(client: string, now: number): Extract<PolicyVerdict, { ok: false }> | null {
    const until = this.blocked.get(client);
    if (until === undefined) return null;
    if (until > now) return { ok: false, refusal: 'harvest', reason: `${client} is blocked for too many unknown recipients until ${new Date(until).toISOString()}` };
    this.blocked.delete(client);
    return null;
  }

  private admit(client: string): PolicyVerdict {
    const now = this.clock();
    const blocked = this.blockedVerdict(client, now);
    if (blocked) return blocked;
    const limit = this.settings.rateLimit.connectionsPerMinute;
    if (limit > 0 && this.connections.hit(client, now) > limit) {
      return { ok: false, refusal: 'connection-rate', reason: `more than ${limit} connections a minute from ${client}` };
    }
    return ACCEPT;
  }

  /**
   * Asks every zone at once and sums the weights of the zones that list the client. A zone that fails or does not
   * answer within `timeoutMs` counts as not listing it: a broken list must not stop the mail (Postfix does the same).
   */
  private dnsbl(ip: string): Promise<PolicyVerdict> {
    const { zones, threshold, timeoutMs } = this.settings.dnsbl;
    if (zones.length === 0) return Promise.resolve(ACCEPT);
    const now = this.clock();
    const cached = this.dnsblCache.get(ip);
    if (cached && cached.until > now) return cached.verdict;
    const verdict = (async (): Promise<PolicyVerdict> => {
      const listed = await Promise.all(zones.map((zone) => this.lookup(ip, zone, timeoutMs)));
      const hits = zones.filter((_, index) => listed[index]);
      const score = hits.reduce((sum, zone) => sum + zone.weight, 0);
      if (hits.length === 0) return ACCEPT;
      const names = hits.map((zone) => zone.zone).join(', ');
      // the lists publish why (and where to ask for delisting) in a TXT record beside the A record
      const why = score >= threshold ? await this.listingText(ip, hits[0]!, timeoutMs) : '';
      this.logger.info({ ip, zones: names, score, threshold, why: why || undefined }, score >= threshold ? 'DNSBL_LISTED' : 'DNSBL_HIT');
      if (score < threshold) return ACCEPT;
      return { ok: false, refusal: 'dnsbl', reason: `client ${ip} is listed by ${names}${why ? ` (${why})` : ''}` };
    })();
    this.dnsblCache.delete(ip);
    this.dnsblCache.set(ip, { until: now + DNSBL_CACHE_MS, verdict });
    if (this.dnsblCache.size > MAX_TRACKED_CLIENTS) this.dnsblCache.delete(this.dnsblCache.keys().next().value!);
    return verdict;
  }

  private async lookup(ip: string, zone: DnsblZone, timeoutMs: number): Promise<boolean> {
    const name = dnsblQueryName(ip, zone.zone);
    if (!name) return false;
    const answers = await withTimeout(this.resolver.resolve4(name), timeoutMs, [] as string[]);
    return answers.some((answer) => isListing(answer, zone));
  }

  /** The zone's TXT record for the client, cleaned and cut short; '' when there is none (or no TXT look-ups). */
  private async listingText(ip: string, zone: DnsblZone, timeoutMs: number): Promise<string> {
    const name = dnsblQueryName(ip, zone.zone);
    if (!name || !this.resolver.resolveTxt) return '';
    const records = await withTimeout(this.resolver.resolveTxt(name), timeoutMs, [] as string[][]);
    return (records[0] ?? []).join('').replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, MAX_LISTING_TEXT);
  }
}

/** Resolves with `fallback` when `promise` fails or takes longer than `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise.catch(() => fallback), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** RFC 5782 2.3: a listing is an A record in 127.0.0.0/8; a zone may narrow that to the answers it documents. */
function isListing(answer: string, zone: DnsblZone): boolean {
  if (zone.answers?.length) return zone.answers.includes(answer);
  return LOOPBACK_NET_ANSWER.test(answer) && !DNSBL_ERROR_ANSWER.test(answer);
}

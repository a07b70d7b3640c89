import { promises as dns } from 'node:dns';
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { RefusalReason } from '../events.ts';
import { checkRecipient, checkSender, type RecipientPolicy } from '../util/address.ts';
import { inboundSenderCheck, serializeSenderCheck } from '../queue/dsn-policy.ts';
import { SmtpListener, senderOf, type EngineListenerOptions, type SpooledMessage } from './listener.ts';
import type { HistoryEntry } from '../store/queue-store.ts';
import { REPLIES, SmtpReplyError, refusalDetail, type SmtpReply } from './replies.ts';
import type { FilterPipeline } from '../filters/pipeline.ts';
import type { PersonalLists } from '../filters/personal-lists.ts';
import type { EarlySpf } from '../filters/sender-auth.ts';
import { serializeDecision, type Decision } from '../filters/policy.ts';
import { decisionHeaders } from '../filters/decision-headers.ts';
import { filterRefusalDetail, filterRefusalReason, filterReply } from './filter-replies.ts';
import type { Resolver } from '../util/resolver.ts';
import { ConnectionPolicy, type ClientRefusal, type ClientScreen, type HarvestTally, type RecipientPlace } from './connection-policy.ts';
import { RecipientCallout } from './callout.ts';
import { peerOf, watchConnections } from './smtp-server-adapter.ts';
import { clientKey } from '../util/networks.ts';

/** The reply and the metric label of each connection-policy refusal. */
const CLIENT_REFUSALS: Record<ClientRefusal, { reply: SmtpReply; reason: RefusalReason }> = {
  'client-denied': { reply: REPLIES.clientDenied, reason: 'client-denied' },
  dnsbl: { reply: REPLIES.clientListed, reason: 'dnsbl' },
  'connection-rate': { reply: REPLIES.connectionRate, reason: 'rate-limit' },
  'message-rate': { reply: REPLIES.messageRate, reason: 'rate-limit' },
  harvest: { reply: REPLIES.harvest, reason: 'harvest' },
};

/** Words added to a policy reply: RFC 5321 4.5.3.1.5 allows 512 octets for the whole reply line. */
const MAX_REPLY_DETAIL = 300;

/** What the connection policy keeps per session, beside the base class's SessionState. */
interface ClientSession {
  screen: ClientScreen;
  /** Unknown recipients refused in this session, and checks in progress (directory harvest). */
  harvest: HarvestTally;
  greeting: NodeJS.Timeout | undefined;
}

/** The metric label of each filter reply (the base class knows only its own). */
export interface MxListenerOptions extends EngineListenerOptions {
  /** The content filters, run at the end of DATA before the 250; none: every message is accepted unchecked. */
  filters?: FilterPipeline | null;
  /** DNS for the block lists (mx.dnsbl); default node:dns, tests pass fixture records. */
  resolver?: Resolver;
  /** Each recipient's own block list, asked at RCPT for the envelope sender (a From address is the filters' part). */
  personalLists?: PersonalLists;
  /** The sender-authentication filter among `filters`: its SPF check starts when MAIL FROM is accepted. */
  senderAuth?: SpfStarter | null;
  /** Called for each client let in: gets the filters' thread going before that client's message needs it. */
  warmFilters?: () => void;
}

/** What starts a transaction's SPF check at MAIL FROM: sender authentication, in its thread or in this one. */
interface SpfStarter {
  startSpf(transaction: { clientIp: string; helo: string | null; sender: string }): EarlySpf;
}

/** An SPF check started at MAIL FROM, with the transaction (smtp-server's envelope object, new at RSET/HELO/EHLO) it is for. */
interface TransactionSpf {
  envelope: SMTPServerSession['envelope'];
  spf: EarlySpf;
}

/** The inbound listener: takes mail for our own domains only, spools it durably, answers 250 with the queue id. */
export class MxListener extends SmtpListener {
  protected readonly listener = 'mx';
  private readonly policy: RecipientPolicy;
  private readonly filters: FilterPipeline | null;
  private readonly tagScore: number;
  private readonly connectionPolicy: ConnectionPolicy;
  private readonly callout: RecipientCallout | null;
  private readonly calloutWhenUnreachable: 'tempfail' | 'accept';
  private readonly greetingDelayMs: number;
  private readonly clients = new Map<string, ClientSession>();
  /** Client address of every open connection by session id, also those that never got a greeting. */
  private readonly peers = new Map<string, string>();
  private readonly personalLists: PersonalLists | null;
  private readonly senderAuth: SpfStarter | null;
  private readonly warmFilters: (() => void) | undefined;
  /** At most one early SPF check per session: a new MAIL aborts the one before it. */
  private readonly transactionSpf = new Map<string, TransactionSpf>();

  constructor(options: MxListenerOptions) {
    const { config } = options;
    super({
      ...options,
      limits: config.mx,
      shutdownGraceSec: config.shutdownGraceSec,
      // No AUTH on the inbound listener, ever
      server: { disabledCommands: ['AUTH'], authOptional: true },
    });
    this.policy = {
      domains: new Set(config.domains),
      recipients: config.recipients.length ? new Set(config.recipients) : undefined,
    };
    this.filters = options.filters ?? null;
    this.personalLists = options.personalLists ?? null;
    this.senderAuth = this.filters ? (options.senderAuth ?? null) : null;
    this.warmFilters = this.filters ? options.warmFilters : undefined;
    this.tagScore = config.filters.tagScore;
    this.connectionPolicy = new ConnectionPolicy({ settings: config.mx, resolver: options.resolver ?? dns, logger: this.logger, clock: this.clock });
    this.callout =
      config.mx.callout.enabled && config.internal
        ? new RecipientCallout({ target: config.internal, settings: config.mx.callout, hostname: options.hostname, logger: this.logger, clock: this.clock })
        : null;
    this.calloutWhenUnreachable = config.mx.callout.whenUnreachable;
    this.greetingDelayMs = config.mx.greetingDelayMs;
    this.watchEarlyTalkers();
  }

  /** The connection policy runs once the base class's connection limits have let the client in. */
  protected override admit(session: SMTPServerSession, callback: (error?: Error | null) => void): void {
    this.screenClient(session, callback);
  }

  /**
   * Rate limits and harvest blocks answer at connect (421); the DNSBL look-ups start here and are awaited at RCPT.
   * The greeting waits `greetingDelayMs`: smtp-server answers anything the client sends before it with 421.
   */
  private screenClient(session: SMTPServerSession, callback: (error?: Error | null) => void): void {
    const screen = this.connectionPolicy.connect(session.remoteAddress);
    const client: ClientSession = { screen, harvest: { unknown: 0, pending: 0 }, greeting: undefined };
    this.clients.set(session.id, client);
    if (!screen.atConnect.ok) return callback(this.refuseClient(session, screen.atConnect.refusal, screen.atConnect.reason));
    this.warmFilters?.();
    const delay = screen.trusted ? 0 : this.greetingDelayMs;
    if (delay === 0) return callback();
    client.greeting = setTimeout(() => callback(), delay);
    client.greeting.unref();
  }

  protected override closed(session: SMTPServerSession): void {
    this.dropSpf(session);
    clearTimeout(this.clients.get(session.id)?.greeting);
    this.clients.delete(session.id);
    super.closed(session);
  }

  /**
   * smtp-server answers an early talker itself (421 "You talk too soon", then closes), often before any of our hooks
   * ran (within its 100 ms window); this notes each connection's peer so that the close can be logged and counted.
   */
  private watchEarlyTalkers(): void {
    watchConnections(this.server, {
      after: (connection) => {
        if (!connection) return;
        const { id, remoteAddress } = peerOf(connection);
        this.peers.set(id, remoteAddress);
      },
    });
  }

  protected override disconnected(session: SMTPServerSession): void {
    const ip = this.peers.get(session.id);
    this.peers.delete(session.id);
    if (ip && / You talk too soon$/.test(session.error ?? '')) {
      this.logger.info({ ip }, 'PREGREET');
      this.events.emit('refused', { reason: 'pregreet', clientIp: ip });
    }
    super.disconnected(session);
  }

  private countRefusal(session: SMTPServerSession, reason: RefusalReason): void {
    if (!this.isSelfTest(session)) this.events.emit('refused', { reason, clientIp: session.remoteAddress });
  }

  /** A connection-policy refusal: logged, counted, and the reply from the table. */
  private refuseClient(session: SMTPServerSession, refusal: ClientRefusal, reason: string, recipient?: string): SmtpReplyError {
    const { reply, reason: label } = CLIENT_REFUSALS[refusal];
    this.logger.info({ ip: session.remoteAddress, from: senderOf(session) ?? undefined, to: recipient, policy: refusal, reason }, 'REFUSED');
    // connect-time refusals are only logged: a client hammering us must not fill the history table
    if (senderOf(session) !== null) this.note(session, 'REFUSED', senderOf(session), recipient ?? null, refusalDetail(reply, reason));
    this.countRefusal(session, label);
    // a listed sender's admin needs to know which list (and its delisting hint); a deny list is not disclosed
    return this.refuse(session, reply, refusal === 'dnsbl' ? reason.slice(0, MAX_REPLY_DETAIL) : undefined);
  }

  /** The tarpit: a session that keeps making errors waits a little longer for each MAIL and RCPT reply. */
  private afterErrorDelay(session: SMTPServerSession, next: () => void): void {
    const errors = this.sessions.get(session.id)?.errors ?? 0;
    const delay = this.connectionPolicy.errorDelayMs(this.clients.get(session.id)?.screen, errors);
    if (delay === 0) return next();
    setTimeout(next, delay).unref();
  }

  /** An IPv6 client by its /64: a site may use any address in it, and new addresses must not buy new connections. */
  protected override countedAs(ip: string): string {
    return clientKey(ip);
  }

  protected onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void): void {
    this.afterErrorDelay(session, () => this.mailFrom(address, session, callback));
  }

  private mailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void): void {
    if (this.stopping) return callback(this.refuse(session, REPLIES.shuttingDown));
    const sender = checkSender(address.address);
    if (!sender.ok) {
      this.note(session, 'REFUSED', address.address, null, refusalDetail(REPLIES.badSender, sender.reason));
      this.countRefusal(session, 'bad-address');
      return callback(this.refuse(session, REPLIES.badSender, sender.reason));
    }
    const client = this.clients.get(session.id);
    const rate = client ? this.connectionPolicy.mail(client.screen) : null;
    if (rate && !rate.ok) return callback(this.refuseClient(session, rate.refusal, rate.reason));
    this.startSpf(session, address.address);
    callback();
  }

  /**
   * Starts sender authentication's SPF check for the transaction MAIL FROM just opened, so its DNS look-ups overlap
   * RCPT and DATA. Its outcome never changes a reply before DATA; the filter judges it after DATA as before.
   */
  private startSpf(session: SMTPServerSession, sender: string): void {
    this.dropSpf(session);
    if (!this.senderAuth) return;
    const spf = this.senderAuth.startSpf({ clientIp: session.remoteAddress, helo: session.hostNameAppearsAs || null, sender });
    this.transactionSpf.set(session.id, { envelope: session.envelope, spf });
  }

  /** The session's early SPF check, if it is for the transaction under way (not one reset since by RSET, HELO or EHLO). */
  private currentSpf(session: SMTPServerSession): EarlySpf | undefined {
    const entry = this.transactionSpf.get(session.id);
    return entry && entry.envelope === session.envelope ? entry.spf : undefined;
  }

  private dropSpf(session: SMTPServerSession): void {
    this.transactionSpf.get(session.id)?.spf.abort();
    this.transactionSpf.delete(session.id);
  }

  protected onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void): void {
    this.afterErrorDelay(session, () => this.rcptTo(address, session).then(() => callback(), (error: Error) => callback(error)));
  }

  /**
   * Deny list and block lists first, then the harvest block and a place on the harvest counters (held until the
   * recipient's answer is known), then our domains and the static list, then the callout to the internal server.
   */
  private async rcptTo(address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
    const client = this.clients.get(session.id);
    const listing = client ? await client.screen.listing : null;
    if (listing && !listing.ok) throw this.refuseClient(session, listing.refusal, listing.reason, address.address);
    const gate = client ? await this.connectionPolicy.recipient(client.screen, client.harvest) : null;
    if (gate && !gate.ok) throw this.refuseClient(session, gate.refusal, gate.reason, address.address);
    const place = gate?.place ?? null;
    try {
      await this.answerRecipient(address, session, place);
    } finally {
      // any answer but "unknown" gives the place back (an unknown one has been counted on it already)
      place?.release();
    }
  }

  private async answerRecipient(address: SMTPServerAddress, session: SMTPServerSession, place: RecipientPlace | null): Promise<void> {
    const check = checkRecipient(address.address, this.policy);
    if (check.ok) {
      this.refuseIfBlocked(check.address, session);
      // RFC 5321 4.5.1: postmaster is always taken, whatever the internal server says
      if (this.callout && !/^postmaster@/i.test(check.address)) await this.verifyRecipient(check.address, session, place);
      // the envelope we forward is canonical
      this.takeRecipient(address, session, check.address);
      return;
    }
    const reply = check.refusal === 'unknown-recipient' ? REPLIES.unknownRecipient : check.refusal === 'syntax' ? REPLIES.badRecipient : REPLIES.relayDenied;
    this.note(session, 'REFUSED', senderOf(session), address.address, refusalDetail(reply, check.reason));
    this.logger.info({ ip: session.remoteAddress, from: senderOf(session), to: address.address, reason: check.reason }, 'REFUSED');
    const reason: RefusalReason = check.refusal === 'syntax' ? 'bad-address' : check.refusal;
    this.countRefusal(session, reason);
    if (check.refusal === 'unknown-recipient') throw this.unknownRecipient(session, place, reply);
    throw this.refuse(session, reply);
  }

  /**
   * A recipient who has the envelope sender on their own block list is refused (550 5.7.1), alone: the other
   * recipients of the transaction are unaffected. Looked up before the callout, which it saves.
   */
  private refuseIfBlocked(recipient: string, session: SMTPServerSession): void {
    const sender = senderOf(session);
    const hit = sender && this.personalLists ? this.personalLists.lookup(recipient, sender, []) : null;
    if (hit?.list !== 'deny') return;
    const reply = REPLIES.recipientBlockedSender;
    this.note(session, 'REFUSED', sender, recipient, refusalDetail(reply, `${recipient} blocked ${hit.entry} on their own list`));
    this.logger.info({ ip: session.remoteAddress, from: sender, to: recipient, reason: `own block list: ${hit.entry}` }, 'REFUSED');
    this.countRefusal(session, 'sender-denied');
    throw this.refuse(session, reply);
  }

  /** Asks the internal server (or the callout cache) whether the recipient exists. */
  private async verifyRecipient(recipient: string, session: SMTPServerSession, place: RecipientPlace | null): Promise<void> {
    const result = await this.callout!.verify(recipient);
    if (result.answer === 'exists') return;
    const fields = { ip: session.remoteAddress, from: senderOf(session), to: recipient, reason: `callout: ${result.detail}`, cached: result.cached };
    if (result.answer === 'unavailable' && this.calloutWhenUnreachable === 'accept') {
      this.logger.warn(fields, 'CALLOUT_UNVERIFIED');
      return;
    }
    const reply = result.answer === 'unknown' ? REPLIES.unknownRecipient : REPLIES.recipientUnverified;
    this.note(session, 'REFUSED', senderOf(session), recipient, refusalDetail(reply, `internal server: ${result.detail}`));
    this.logger.info(fields, 'REFUSED');
    this.countRefusal(session, result.answer === 'unknown' ? 'unknown-recipient' : 'unverified-recipient');
    throw result.answer === 'unknown' ? this.unknownRecipient(session, place, reply) : this.refuse(session, reply);
  }

  /** An unknown recipient gets 550, or 421 once the session or the client has tried too many (directory harvest). */
  private unknownRecipient(session: SMTPServerSession, place: RecipientPlace | null, reply: SmtpReply): SmtpReplyError {
    if (!place) return this.refuse(session, reply);
    const harvest = place.unknown();
    if (harvest.ok) return this.refuse(session, reply);
    return this.refuseClient(session, harvest.refusal, harvest.reason);
  }

  /** Streams the message to a spool file and commits it; resolves with the queue id once it is durable. */
  protected async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const message = await this.spoolData(stream, session);
    if (!this.filters) {
      await this.commitSpooled(message, session);
      return message.id;
    }
    const decision = await this.screen(this.filters, message, session);
    await this.commitFiltered(message, session, decision);
    return message.id;
  }

  protected override refusalReason(reply: SmtpReply): RefusalReason {
    return filterRefusalReason(reply) ?? super.refusalReason(reply);
  }

  /**
   * Runs the content filters on the temp file while it is fsync'd; a rejection or tempfail discards the file and
   * throws the reply (nothing was acknowledged, so nothing is lost and nobody gets a bounce).
   */
  private async screen(filters: FilterPipeline, message: SpooledMessage, session: SMTPServerSession): Promise<Decision> {
    const { id, writer } = message;
    const synced = writer.sync();
    synced.catch(() => {}); // commit() waits for the same fsync and reports its failure
    let decision: Decision;
    try {
      decision = await filters.run({ ...this.filterInput(message, session, null), earlySpf: this.currentSpf(session) });
    } catch (error) {
      // the pipeline answers every failure with a decision; this is a bug, answered 451 like any local error
      await synced.catch(() => {});
      await writer.discard();
      this.logger.error({ id, ip: session.remoteAddress, error: (error as Error).message }, 'RECEIVE_FAILED');
      throw error;
    }
    this.events.emit('filtered', {
      id,
      clientIp: session.remoteAddress,
      action: decision.action,
      score: decision.score,
      filters: decision.results.map((result) => ({ name: result.filter, verdict: result.verdict, failed: Boolean(result.failed) })),
    });
    const refusal = filterReply(decision);
    if (!refusal) return decision;
    await synced.catch(() => {});
    await writer.discard();
    const action = decision.action === 'reject' ? 'REJECTED' : 'TEMPFAILED';
    this.queue.note({
      at: this.clock(),
      queueId: id,
      action,
      clientIp: session.remoteAddress,
      helo: session.hostNameAppearsAs || null,
      sender: message.sender,
      recipient: message.recipients.join(', '),
      size: message.size,
      detail: filterRefusalDetail(refusal, decision),
    });
    this.logger.info({ id, ip: session.remoteAddress, from: message.sender, rcpts: message.recipients.length, score: decision.score, reason: decision.reason }, action);
    throw this.refuse(session, refusal.reply, refusal.detail || undefined);
  }

  /**
   * `commitSpooled` with the filters' outcome in the same group commit: the decision trace, the header block that
   * delivery prepends, and the quarantine status that keeps the message from delivery.
   */
  private async commitFiltered(message: SpooledMessage, session: SMTPServerSession, decision: Decision): Promise<void> {
    const { id, receivedAt: now } = message;
    const quarantined = decision.action === 'quarantine';
    // a recipient who blocked a From address (known only now) is dropped; its row is finished, with the reason in history
    const blocks = (decision.personal ?? []).filter((hit) => hit.list === 'deny' && message.recipients.includes(hit.recipient));
    const dropped = blocks.map(
      (hit): HistoryEntry => ({ at: now, queueId: id, action: 'DELETED', recipient: hit.recipient, detail: `not delivered to ${hit.recipient}: ${hit.recipient} blocked ${hit.entry} on their own list` }),
    );
    await this.commitSpooled(message, session, {
      notes: [...dropped, ...(quarantined ? [{ at: now, queueId: id, action: 'QUARANTINED' as const, detail: `${decision.reason}; score ${decision.score}` }] : [])],
      dropped: new Set(blocks.map((hit) => hit.recipient)),
      row: {
        status: quarantined ? 'quarantined' : 'queued',
        decision: serializeDecision(decision),
        addedHeaders: decisionHeaders(decision, { hostname: this.hostname, queueId: id, tagScore: this.tagScore }),
        // judged now, while the decision still holds sender authentication's passes (the stored trace does not)
        senderCheck: serializeSenderCheck(inboundSenderCheck(message.sender, decision)),
      },
      log: quarantined ? { action: decision.action, score: decision.score, reason: decision.reason } : { action: decision.action, score: decision.score },
      action: quarantined ? 'QUARANTINED' : 'QUEUED',
    });
    if (quarantined) {
      this.events.emit('quarantined', { id, clientIp: session.remoteAddress, sender: message.sender, recipients: message.recipients.length, score: decision.score, reason: decision.reason });
    }
  }
}

import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerAuthentication,
  type SMTPServerAuthenticationResponse,
  type SMTPServerDataStream,
  type SMTPServerOptions,
  type SMTPServerSession,
} from 'smtp-server';
import { TLS_HANDSHAKE_TIMEOUT_SEC, type Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Queue } from '../queue/queue.ts';
import type { RefusalReason, RelayEvents } from '../events.ts';
import type { HistoryEntry, NewMessage } from '../store/queue-store.ts';
import type { SpoolWriter } from '../store/spool.ts';
import { newQueueId } from '../util/ids.ts';
import { pipeChain } from '../util/pipe-chain.ts';
import { decodeHeaderText, fromDisplayName } from '../util/header-text.ts';
import { HeaderScrubber, MAX_RECEIVED_FIELDS, MAX_SENDER_HEADER_LINES, type ContentRefusal } from './header-scrub.ts';
import { HeaderPeek } from './header-peek.ts';
import { LineEndingNormalizer } from './line-endings.ts';
import { SizeGuard } from './size-guard.ts';
import { StageChain } from './stage-chain.ts';
import { ConnectionStress, SessionActivity, STRESS_SWEEP_MS, type IdleSlot } from './stress.ts';
import { DataRateGuard } from './data-rate.ts';
import { TransactionPacing } from './pacing.ts';
import { receivedHeader } from './received.ts';
import { REPLIES, SmtpReplyError, refusalDetail, type SmtpReply } from './replies.ts';
import type { TlsPair } from './tls.ts';
import type { MessageInput } from '../filters/pipeline.ts';
import { inboundSenderCheck, serializeSenderCheck, submittedSenderCheck } from '../queue/dsn-policy.ts';
import {
  checkSmtpServerVersion,
  chooseEnhancedCode,
  closeBeforeSession,
  connectionOf,
  gateAccepts,
  gateCommands,
  interceptReplies,
  isBeforeSession,
  listen,
  onEveryCommand,
  openConnections,
  peerAddressOf,
  sendReply,
  socketsBeforeSession,
  watchConnections,
  type ConnectionHandle,
  type ReplyContext,
  type ReplyText,
} from './smtp-server-adapter.ts';

/** The limits every listener enforces; the mx listener's come from `mx`, the submission listeners' from `mx` and `submission`. */
export type ListenerLimits = Pick<
  Config['mx'],
  'maxMessageBytes' | 'maxRecipients' | 'maxConnections' | 'maxConnectionsPerIp' | 'idleTimeoutSec' | 'sessionDeadlineSec' | 'maxCommandLineBytes' | 'maxErrors'
  | 'maxHeaderBytes'
>;

/** What a listener keeps per connection (habit: session state apart from message state). */
export interface SessionState {
  ip: string;
  session: SMTPServerSession;
  /** smtp-server's connection, steered through smtp/smtp-server-adapter.ts only. */
  connection: ConnectionHandle | undefined;
  errors: number;
  /** What the per-address connection cap counts by (countedAs). */
  clientKey: string;
  countedForIp: boolean;
  deadline: NodeJS.Timeout | undefined;
  /** The enhanced status of the reply being sent, when our policy chose it. */
  enhanced: string | undefined;
  inData: boolean;
  /** Who owes the next move, since when (smtp/stress.ts). */
  activity: SessionActivity;
  /** The minimum data rate of the DATA transfer under way (smtp/data-rate.ts). */
  dataRate: DataRateGuard | undefined;
}

export interface ListenerOptions {
  limits: ListenerLimits;
  shutdownGraceSec: number;
  hostname: string;
  queue: Queue;
  tls: TlsPair;
  logger: Logger;
  events: RelayEvents;
  clock?: () => number;
  /** smtp-server options particular to one listener (AUTH, implicit TLS); the shared ones are set here. */
  server: Partial<SMTPServerOptions>;
  /** The EHLO name of this relay's own open-relay self-test (monitor/self-test.ts selfTestHelo): not counted, not tracked. */
  selfTestHelo?: string;
  /** With implicit TLS (server.secure): how long a client has from its accept to the end of its TLS handshake (s). */
  tlsHandshakeTimeoutSec?: number;
}

/** A socket accepted on an implicit-TLS listener: counted for its address from the accept to its close. */
interface AcceptedSocket {
  socket: Socket;
  ip: string;
  clientKey: string;
  /** On the stress policy's clock: a handshake is idle (the client owes it) from the accept. */
  acceptedAt: number;
  /** Closed by us (deadline, eviction), not yet gone: not a slot to free again. */
  closing: boolean;
}

/** One slot the stress policy may free: a session idle before MAIL, or a TLS handshake not finished. */
type Slot = IdleSlot & { ip: string; close: () => void; /** A handshake's accepted socket. */ socket?: Socket };

/** What the engine hands every listener; each listener adds its own collaborators. */
export interface EngineListenerOptions {
  config: Config;
  hostname: string;
  queue: Queue;
  tls: TlsPair;
  logger: Logger;
  events: RelayEvents;
  clock?: () => number;
  selfTestHelo?: string;
}

/** A message streamed to its temp spool file, not yet durable: the listener checks it, then commits or discards it. */
export interface SpooledMessage {
  id: string;
  receivedAt: number;
  sender: string;
  recipients: string[];
  /** Bytes the client sent (what SIZE and the size limit count). */
  size: number;
  writer: SpoolWriter;
  peek: HeaderPeek;
  bareLineEndings: number;
  /** Header fields removed because they claimed to be ours (X-Spam-*, X-Moat-*, our Authentication-Results). */
  scrubbedFields: number;
}

/** For each fault the header scrubber finds in a message's bytes: the reply, and what history adds to its words. */
const CONTENT_REFUSALS: Record<ContentRefusal, { reply: SmtpReply; detail: (maxHeaderBytes: number) => string }> = {
  'header-too-big': { reply: REPLIES.headerTooBig, detail: (maxHeaderBytes) => `more than ${maxHeaderBytes} bytes` },
  'header-lines': { reply: REPLIES.headerTooBig, detail: () => `more than ${MAX_SENDER_HEADER_LINES} lines` },
  nul: { reply: REPLIES.nulByte, detail: () => '' },
  'header-control': { reply: REPLIES.headerControl, detail: () => '' },
  'too-many-hops': { reply: REPLIES.tooManyHops, detail: () => `more than ${MAX_RECEIVED_FIELDS} Received fields` },
};

/**
 * What every SMTP listener of Moat does the same way: connection limits in total and per client IP, a whole-session
 * deadline, refused commands counted and the session closed after too many, our replies' enhanced status codes, a
 * graceful stop, and DATA streamed to the spool (Received header, line endings normalised, size and header caps)
 * and committed durably before the 250. The mx and the submission listeners differ only in their MAIL, RCPT and message policies.
 */
export abstract class SmtpListener {
  readonly server: SMTPServer;
  protected readonly limits: ListenerLimits;
  protected readonly queue: Queue;
  protected readonly logger: Logger;
  protected readonly events: RelayEvents;
  protected readonly hostname: string;
  protected readonly clock: () => number;
  protected readonly sessions = new Map<string, SessionState>();
  private readonly perIp = new Map<string, number>();
  private readonly stress: ConnectionStress;
  private readonly pacing = new TransactionPacing();
  private stressSweep: NodeJS.Timeout | undefined;
  protected stopping = false;
  private readonly selfTestHelo: string | null;
  /**
   * Implicit TLS: smtp-server runs the handshake before any hook, so the per-address cap and the slots count a
   * socket from its accept (gateAccepts), not from onConnect; sockets not yet through their handshake, by socket.
   */
  private readonly implicitTls: boolean;
  private readonly tlsHandshakeTimeoutMs: number;
  private readonly accepted = new Map<Socket, AcceptedSocket>();
  /** Which listener this is, in the `received` event (the metrics count inbound and submitted mail apart). */
  protected abstract readonly listener: 'mx' | 'submission';

  constructor(options: ListenerOptions) {
    this.limits = options.limits;
    this.queue = options.queue;
    this.logger = options.logger;
    this.events = options.events;
    this.hostname = options.hostname;
    this.clock = options.clock ?? Date.now;
    this.selfTestHelo = options.selfTestHelo ?? null;
    this.implicitTls = options.server.secure === true;
    this.tlsHandshakeTimeoutMs = (options.tlsHandshakeTimeoutSec ?? TLS_HANDSHAKE_TIMEOUT_SEC) * 1000;
    checkSmtpServerVersion();
    this.server = new SMTPServer({
      name: options.hostname,
      banner: 'Moat',
      key: options.tls.key,
      cert: options.tls.cert,
      size: this.limits.maxMessageBytes,
      rejectOversized: true,
      maxRecipients: this.limits.maxRecipients,
      maxClients: this.limits.maxConnections,
      maxCommandLength: this.limits.maxCommandLineBytes,
      socketTimeout: this.limits.idleTimeoutSec * 1000,
      // smtp-server reads 0 as its own default (30 s); a grace of 0 means close at once
      closeTimeout: Math.max(1, options.shutdownGraceSec * 1000),
      // no proxy protocols that would let a client pick its own IP
      useXClient: false,
      useXForward: false,
      useProxy: false,
      hideREQUIRETLS: true,
      // Our replies carry RFC 3463 codes; RFC 2034 wants them advertised and on smtp-server's own replies too (452, 552, 421)
      hideENHANCEDSTATUSCODES: false,
      disableReverseLookup: true,
      logger: false,
      ...options.server,
      onConnect: (session, callback) => this.onConnect(session, callback),
      onSecure: (socket, session, callback) => this.onSecure(socket, session, callback),
      onAuth: (auth, session, callback) => this.onAuth(auth, session, callback),
      onMailFrom: (address, session, callback) => this.onMailFrom(address, session, callback),
      onRcptTo: (address, session, callback) => this.onRcptTo(address, session, callback),
      onData: (stream, session, callback) => this.onData(stream, session, callback),
      onClose: (session) => this.onClose(session),
    });
    this.server.on('error', (error) => this.logger.warn({ error: error.message }, 'SMTP_ERROR'));
    this.stress = new ConnectionStress({ maxConnections: this.limits.maxConnections, idleTimeoutSec: this.limits.idleTimeoutSec });
    this.guardSlots();
    if (this.implicitTls) gateAccepts(this.server, (socket, accept, refuse) => this.onAccept(socket, accept, refuse));
  }

  /** Serves `pair` on the connections that start TLS from now on; those already in TLS keep theirs. */
  useCertificate(pair: TlsPair): void {
    this.server.updateSecureContext({ key: pair.key, cert: pair.cert });
  }

  protected abstract onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void): void;
  protected abstract onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void): void;
  /** Receives one message; resolves with its queue id once it is durable. */
  protected abstract receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string>;

  /**
   * Takes a recipient in its canonical form, which smtp-server then keeps. It files a repeat under the form the client
   * typed: with ours in its place, "RCPT TO:<postmaster>" given again was added again, past maxRecipients, each time
   * after a scan of the whole list (50,000 of them stalled the relay for minutes). An earlier entry of the same
   * address goes, so the envelope holds each recipient once and the limit counts each once. Call it on success only:
   * a refused repeat keeps the earlier, accepted entry.
   */
  protected takeRecipient(address: SMTPServerAddress, session: SMTPServerSession, canonical: string): void {
    this.sessions.get(session.id)?.activity.tookRecipient(canonical);
    address.address = canonical;
    const key = canonical.toLowerCase();
    const rcptTo = session.envelope.rcptTo;
    const earlier = rcptTo.findIndex((entry) => entry.address.toLowerCase() === key);
    if (earlier >= 0) rcptTo.splice(earlier, 1);
  }

  /** Listeners without AUTH never get here (smtp-server refuses the command); a listener with AUTH overrides it. */
  protected onAuth(_auth: SMTPServerAuthentication, _session: SMTPServerSession, callback: (error: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void): void {
    callback(new SmtpReplyError(REPLIES.authUnavailable));
  }

  /** Called once TLS is up (after STARTTLS, or at connect on an implicit-TLS port). */
  protected onSecure(_socket: Socket | TLSSocket, _session: SMTPServerSession, callback: (error?: Error | null) => void): void {
    callback();
  }

  /** The metric label of a refusal sent at the end of DATA. */
  protected refusalReason(reply: SmtpReply): RefusalReason {
    if (reply === REPLIES.messageTooBig || reply === REPLIES.headerTooBig) return 'size';
    if (reply === REPLIES.nulByte || reply === REPLIES.headerControl) return 'malformed';
    if (reply === REPLIES.dataTooSlow) return 'slow-data';
    if (reply === REPLIES.tooManyHops) return 'mail-loop';
    return 'local-error';
  }

  /**
   * Rewrites one of smtp-server's own replies before it is sent (e.g. a clearer code). Its refusal of a message over
   * the size limit gets the words history keeps for it.
   */
  protected rewriteReply(_state: SessionState, code: number, text: ReplyText, context: ReplyContext): { code: number; text: ReplyText; enhanced?: string } {
    if (context === 'MESSAGE_TOO_BIG') return { ...REPLIES.messageTooBig };
    return { code, text };
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listen(this.server, host, port);
  }

  /**
   * Stops accepting; sessions get 421 now, those sending a message once its DATA is answered. A client that opened
   * a transaction and went quiet would otherwise hold a stop (an Apply: mx down meanwhile) for the whole grace.
   */
  stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.stressSweep);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const state of this.sessions.values()) {
      if (!state.inData) this.reply(state, REPLIES.shuttingDown);
    }
    return closed;
  }

  protected reply(state: SessionState, reply: SmtpReply): void {
    state.enhanced = reply.enhanced;
    if (state.connection) sendReply(state.connection, reply.code, reply.text);
  }

  protected refuse(session: SMTPServerSession, reply: SmtpReply, detail?: string): SmtpReplyError {
    const state = this.sessions.get(session.id);
    if (state) state.enhanced = reply.enhanced;
    return new SmtpReplyError(reply, detail);
  }

  private onConnect(session: SMTPServerSession, callback: (error?: Error | null) => void): void {
    const ip = session.remoteAddress;
    const connection = connectionOf(this.server, session);
    const state: SessionState = {
      ip, clientKey: this.countedAs(ip), session, connection, errors: 0, countedForIp: false, deadline: undefined, enhanced: undefined, inData: false,
      activity: new SessionActivity(this.stress.now()), dataRate: undefined,
    };
    this.sessions.set(session.id, state);
    if (connection) this.instrument(connection, state);
    if (this.stopping) return callback(this.refuse(session, REPLIES.shuttingDown));
    // on an implicit-TLS listener the socket was counted for its address at accept (onAccept)
    if (!this.implicitTls) {
      const open = this.perIp.get(state.clientKey) ?? 0;
      if (open >= this.limits.maxConnectionsPerIp) {
        this.logger.warn({ ip, open }, 'CONNECTION_LIMIT');
        this.events.emit('refused', { reason: 'connection-limit', clientIp: ip });
        return callback(this.refuse(session, REPLIES.tooManyConnectionsFromIp));
      }
      this.countIp(state.clientKey, 1);
      state.countedForIp = true;
    }
    state.deadline = setTimeout(() => this.reply(state, REPLIES.sessionDeadline), this.limits.sessionDeadlineSec * 1000);
    state.deadline.unref();
    this.connected(session);
    this.admit(session, callback);
  }

  /**
   * Who the per-address connection cap counts a client as: its address. The mx listener counts an IPv6 client by its
   * /64 (one site on the Internet); the submission listeners' clients are the office's, which share one /64.
   */
  protected countedAs(ip: string): string {
    return ip;
  }

  /** A connection was accepted (limits passed); listeners set up their per-session state here. */
  protected connected(_session: SMTPServerSession): void {}

  /** The last word on a connection the limits let in: calling back sends the greeting, an error refuses the client. */
  protected admit(_session: SMTPServerSession, callback: (error?: Error | null) => void): void {
    callback();
  }

  /**
   * smtp-server derives the enhanced status from the reply code alone, and counts no errors; this gives our replies
   * their own enhanced status and closes a session after too many refused commands, whoever refused them.
   */
  private instrument(connection: ConnectionHandle, state: SessionState): void {
    chooseEnhancedCode(connection, (_code, context) => {
      const chosen = state.enhanced;
      state.enhanced = undefined;
      return context === false ? undefined : chosen;
    });
    interceptReplies(connection, (reply, write) => {
      const { code, text, enhanced } = this.rewriteReply(state, reply.code, reply.text, reply.context);
      if (enhanced) state.enhanced = enhanced;
      state.activity.answered(code, this.stress.now());
      write(code, text, reply.context);
      if (code >= 400 && code !== 421 && ++state.errors >= this.limits.maxErrors) {
        this.logger.warn({ ip: state.ip, errors: state.errors }, 'TOO_MANY_ERRORS');
        this.events.emit('refused', { reason: 'too-many-errors', clientIp: state.ip });
        state.enhanced = REPLIES.tooManyErrors.enhanced;
        write(REPLIES.tooManyErrors.code, REPLIES.tooManyErrors.text);
      }
    });
    // a DATA that opens a message (it has recipients) waits for a place (smtp/pacing.ts); any other is answered at once
    gateCommands(connection, (command, proceed) => {
      if (!isDataCommand(command) || state.session.envelope.rcptTo.length === 0) return proceed();
      this.pacing.start(state.session.id, () => {
        proceed();
        // smtp-server did not start a message (the line answered an AUTH challenge, or was refused): no place held
        if (!state.inData) this.pacing.end(state.session.id);
      });
    });
    onEveryCommand(connection, (command) => state.activity.heard(command));
  }

  /**
   * Connection stress (smtp/stress.ts): at the cap a newcomer takes the slot of the session idle longest before MAIL,
   * and under stress silent sessions go after STRESS_IDLE_TIMEOUT_SEC. smtp-server refuses past maxClients in
   * connect(), so room is made just before it. On an implicit-TLS listener onAccept does the same at the accept.
   */
  private guardSlots(): void {
    const open = openConnections(this.server);
    watchConnections(this.server, {
      before: () => {
        if (open.size >= this.limits.maxConnections) this.makeRoom(open);
      },
      after: () => this.watchStress(open),
    });
  }

  /** The connections holding slots: sessions, and on an implicit-TLS listener sockets still in their handshake. */
  private openCount(open: ReadonlySet<ConnectionHandle>): number {
    return open.size + socketsBeforeSession(this.server);
  }

  private watchStress(open: ReadonlySet<ConnectionHandle>): void {
    const count = this.openCount(open);
    if (this.stressSweep || !this.stress.stressed(count)) return;
    this.logger.warn({ open: count, max: this.limits.maxConnections }, 'STRESS_ON');
    this.stressSweep = setInterval(() => this.sweepUnderStress(open), STRESS_SWEEP_MS);
    this.stressSweep.unref();
  }

  /**
   * A socket accepted on an implicit-TLS listener, before smtp-server starts its handshake: past the per-address cap
   * or, with no slot to free, the listener's cap it is closed at once (nothing can be written before TLS); otherwise
   * it is counted for its address until it closes, and closed if its handshake has not ended by the deadline.
   */
  private onAccept(socket: Socket, accept: () => void, refuse: () => void): void {
    const ip = peerAddressOf(socket);
    const clientKey = this.countedAs(ip);
    const mine = this.perIp.get(clientKey) ?? 0;
    if (mine >= this.limits.maxConnectionsPerIp) {
      this.logger.warn({ ip, open: mine }, 'CONNECTION_LIMIT');
      this.events.emit('refused', { reason: 'connection-limit', clientIp: ip });
      return refuse();
    }
    const open = openConnections(this.server);
    let freed: Slot | undefined;
    if (this.openCount(open) >= this.limits.maxConnections) {
      freed = this.makeRoom(open);
      if (!freed) return refuse();
    }
    const accepted: AcceptedSocket = { socket, ip, clientKey, acceptedAt: this.stress.now(), closing: false };
    this.accepted.set(socket, accepted);
    this.countIp(clientKey, 1);
    const deadline = setTimeout(() => {
      if (!isBeforeSession(this.server, socket)) return;
      this.logger.warn({ ip, ms: this.tlsHandshakeTimeoutMs }, 'TLS_HANDSHAKE_TIMEOUT');
      this.closeHandshake(accepted);
    }, this.tlsHandshakeTimeoutMs);
    deadline.unref();
    socket.once('close', () => {
      clearTimeout(deadline);
      this.accepted.delete(socket);
      this.countIp(clientKey, -1);
    });
    if (freed?.socket) {
      // smtp-server drops a socket while maxClients others are in their handshake, and the one closed to make room
      // leaves its list only as it closes; meanwhile nobody else listens for this socket's errors
      socket.on('error', () => undefined);
      freed.socket.once('close', accept);
    } else accept();
    this.watchStress(open);
  }

  private closeHandshake(accepted: AcceptedSocket): void {
    accepted.closing = true;
    closeBeforeSession(this.server, accepted.socket);
  }

  /** The slots the stress policy may free: open sessions (not closing), and TLS handshakes under way. */
  private *slots(open: ReadonlySet<ConnectionHandle>): Generator<Slot> {
    for (const state of this.sessions.values()) {
      if (!state.connection || !open.has(state.connection)) continue;
      yield {
        ip: state.ip,
        idleSince: state.activity.idleSince(state.inData),
        inTransaction: Boolean(state.session.envelope.mailFrom),
        close: () => this.reply(state, REPLIES.idleUnderStress),
      };
    }
    for (const accepted of this.accepted.values()) {
      if (accepted.closing || !isBeforeSession(this.server, accepted.socket)) continue;
      // the client owes the handshake from the accept: silence before TLS is silence
      yield { ip: accepted.ip, idleSince: accepted.acceptedAt, inTransaction: false, socket: accepted.socket, close: () => this.closeHandshake(accepted) };
    }
  }

  private makeRoom(open: ReadonlySet<ConnectionHandle>): Slot | undefined {
    const slot = this.stress.evictee(this.slots(open));
    if (slot) this.closeIdle(slot, this.openCount(open), 'EVICTED_IDLE');
    return slot;
  }

  private sweepUnderStress(open: ReadonlySet<ConnectionHandle>): void {
    const count = this.openCount(open);
    if (!this.stress.stressed(count)) {
      this.logger.info({ open: count, max: this.limits.maxConnections }, 'STRESS_OFF');
      clearInterval(this.stressSweep);
      this.stressSweep = undefined;
      return;
    }
    for (const slot of this.stress.expired(this.slots(open), count)) this.closeIdle(slot, count, 'STRESS_IDLE_CLOSED');
    // the budget cap of transfers under way has just shrunk to the stress timeout
    for (const state of this.sessions.values()) state.dataRate?.check();
  }

  private closeIdle(slot: Slot, open: number, action: 'EVICTED_IDLE' | 'STRESS_IDLE_CLOSED'): void {
    this.logger.warn({ ip: slot.ip, idleMs: Math.round(this.stress.now() - slot.idleSince!), open, ...(slot.socket ? { tls: 'handshake' } : {}) }, action);
    this.events.emit('refused', { reason: 'connection-limit', clientIp: slot.ip });
    slot.close();
  }

  private onClose(session: SMTPServerSession): void {
    this.pacing.end(session.id);
    this.disconnected(session);
    const state = this.sessions.get(session.id);
    if (!state) return;
    this.sessions.delete(session.id);
    clearTimeout(state.deadline);
    state.dataRate?.stop();
    if (state.countedForIp) this.countIp(state.clientKey, -1);
    this.closed(session);
  }

  private countIp(clientKey: string, change: 1 | -1): void {
    const open = (this.perIp.get(clientKey) ?? 0) + change;
    if (open > 0) this.perIp.set(clientKey, open);
    else this.perIp.delete(clientKey);
  }

  /** The connection closed; listeners drop their per-session state here. */
  protected closed(_session: SMTPServerSession): void {}

  /**
   * Any connection closed, also one refused before onConnect (an early talker, one over maxClients): `session` then
   * holds only its id, and `session.error` the last error reply. Runs before `closed`.
   */
  protected disconnected(_session: SMTPServerSession): void {}

  /**
   * This relay's own open-relay self-test: loopback, greeting with the secret EHLO name it was told. Its refusals are
   * what the test is for, not mail refused, so they are neither counted (moat_messages_rejected_total) nor tracked.
   */
  protected isSelfTest(session: SMTPServerSession): boolean {
    return this.selfTestHelo !== null && session.hostNameAppearsAs === this.selfTestHelo && isLoopback(session.remoteAddress);
  }

  protected note(session: SMTPServerSession, action: 'REFUSED', sender: string | null, recipient: string | null, detail: string): void {
    if (this.isSelfTest(session)) return;
    this.queue.note({
      at: this.clock(),
      action,
      clientIp: session.remoteAddress,
      helo: session.hostNameAppearsAs || null,
      sender,
      recipient,
      detail,
    });
  }

  private onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (error?: Error | null, message?: string) => void): void {
    const state = this.sessions.get(session.id);
    if (state) {
      state.inData = true;
      state.dataRate = this.watchDataRate(stream, state);
    }
    // the message's place, guard and state end before its reply: a client may have pipelined the next message, and
    // smtp-server reads it as soon as the reply is written
    const ended = (): void => {
      this.pacing.end(session.id);
      if (!state) return;
      state.dataRate?.stop();
      state.dataRate = undefined;
      state.inData = false;
      if (this.stopping) setImmediate(() => this.reply(state, REPLIES.shuttingDown));
    };
    this.receive(stream, session).then(
      (id) => {
        ended();
        callback(null, `${REPLIES.queued.text} ${id}`);
      },
      (error: Error) => {
        const reply = error instanceof SmtpReplyError ? error : this.refuse(session, REPLIES.localError);
        if (state) state.enhanced = reply.reply.enhanced;
        this.events.emit('refused', { reason: this.refusalReason(reply.reply), clientIp: session.remoteAddress });
        ended();
        callback(reply);
      },
    );
  }

  /**
   * The minimum data rate (smtp/data-rate.ts): a client that trickles its message gets 421 4.4.2 and is closed; the
   * stream fails with the same reply, so the spool file is discarded and nothing is queued.
   */
  private watchDataRate(stream: SMTPServerDataStream, state: SessionState): DataRateGuard {
    const open = openConnections(this.server);
    return new DataRateGuard({
      stream,
      budgetCapMs: () => this.stress.idleLimitMs(this.openCount(open)),
      now: this.stress.now,
      onTooSlow: ({ bytes, elapsedMs }) => {
        this.logger.warn({ ip: state.ip, bytes, elapsedMs }, 'DATA_TOO_SLOW');
        this.reply(state, REPLIES.dataTooSlow);
        const error = new SmtpReplyError(REPLIES.dataTooSlow, `${bytes} bytes in ${elapsedMs} ms`);
        // with the error only when the reader listens for it: an 'error' event nobody listens to would end the process
        stream.destroy(stream.listenerCount('error') > 0 ? error : undefined);
      },
    });
  }

  /**
   * Streams the message to a temp spool file behind our Received header: size cap, bare CR/LF rewritten, the whole
   * header section scrubbed and capped, NUL and header control bytes refused, Subject and Message-ID noted. The file
   * is not yet durable: the caller checks it, then `commitSpooled` or `writer.discard()`.
   */
  protected async spoolData(stream: SMTPServerDataStream, session: SMTPServerSession, trace: { authenticated?: boolean; hideClient?: boolean } = {}): Promise<SpooledMessage> {
    const now = this.clock();
    const id = newQueueId(now);
    const recipients = session.envelope.rcptTo.map((rcpt) => rcpt.address);
    const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const writer = await this.queue.spool.create(id).catch((error: Error) => {
      stream.resume();
      throw error;
    });
    const normalizer = new LineEndingNormalizer();
    const scrubber = new HeaderScrubber({ hostname: this.hostname, maxHeaderBytes: this.limits.maxHeaderBytes });
    const peek = new HeaderPeek();
    try {
      writer.write(
        receivedHeader({
          helo: session.hostNameAppearsAs || undefined,
          clientIp: session.remoteAddress,
          hostname: this.hostname,
          queueId: id,
          tls: session.secure,
          authenticated: trace.authenticated,
          hideClient: trace.hideClient,
          recipient: recipients.length === 1 ? recipients[0] : undefined,
          date: new Date(now),
        }),
      );
      await pipeChain([stream, new StageChain([new SizeGuard(() => stream.sizeExceeded), normalizer, scrubber, peek]), writer]);
      // a bare CR or LF became CRLF, a byte more: the limit holds for the message the internal server gets
      if (stream.sizeExceeded || stream.byteLength + normalizer.bareLineEndings > this.limits.maxMessageBytes) {
        throw this.refuseAtEndOfData(session, REPLIES.messageTooBig, `more than ${this.limits.maxMessageBytes} bytes`, sender, recipients);
      }
      if (scrubber.refusal) {
        const { reply, detail } = CONTENT_REFUSALS[scrubber.refusal];
        throw this.refuseAtEndOfData(session, reply, detail(this.limits.maxHeaderBytes), sender, recipients);
      }
    } catch (error) {
      await writer.discard();
      if (!(error instanceof SmtpReplyError)) {
        this.logger.error({ id, ip: session.remoteAddress, error: (error as Error).message }, 'RECEIVE_FAILED');
      }
      throw error;
    }
    return { id, receivedAt: now, sender, recipients, size: stream.byteLength, writer, peek, bareLineEndings: normalizer.bareLineEndings, scrubbedFields: scrubber.removed };
  }

  /** What the content filters are given of a spooled message (the file as received, its envelope, its client). */
  protected filterInput(message: SpooledMessage, session: SMTPServerSession, authenticatedUser: string | null): MessageInput {
    const { writer } = message;
    return {
      queueId: message.id,
      clientIp: session.remoteAddress,
      helo: session.hostNameAppearsAs || null,
      sender: message.sender,
      recipients: message.recipients,
      path: writer.tempPath,
      size: writer.bytes,
      content: writer.content,
      tls: Boolean(session.secure),
      authenticatedUser,
    };
  }

  /** A message refused at the end of DATA for what it is (too big, bytes the scrubber refused): kept in history and logged. */
  private refuseAtEndOfData(session: SMTPServerSession, reply: SmtpReply, why: string, sender: string, recipients: string[]): SmtpReplyError {
    const explained = refusalDetail(reply, why);
    this.note(session, 'REFUSED', sender, recipients.join(', ') || null, explained);
    this.logger.info({ ip: session.remoteAddress, from: sender, rcpts: recipients.length, reason: explained }, 'REFUSED');
    return this.refuse(session, reply);
  }

  /** Makes the spooled file durable, commits the queue row (group commit) and tells the log and the events. */
  protected async commitSpooled(
    message: SpooledMessage,
    session: SMTPServerSession,
    extra: {
      notes?: HistoryEntry[];
      log?: Record<string, string | number>;
      row?: Pick<NewMessage, 'status' | 'decision' | 'addedHeaders' | 'senderCheck'>;
      action?: string;
      /** Recipients committed as finished, never delivered to (they blocked the sender on their own list). */
      dropped?: ReadonlySet<string>;
    } = {},
  ): Promise<void> {
    const { id, receivedAt: now, writer } = message;
    try {
      await writer.commit();
    } catch (error) {
      await writer.discard();
      this.logger.error({ id, ip: session.remoteAddress, error: (error as Error).message }, 'RECEIVE_FAILED');
      throw error;
    }
    const { subject, messageId, from } = message.peek.fields();
    // the message row is the record of its receipt; history only adds what is unusual about it
    const notes: HistoryEntry[] = message.bareLineEndings
      ? [{ at: now, queueId: id, action: 'NORMALIZED', detail: `${message.bareLineEndings} bare CR/LF rewritten to CRLF` }]
      : [];
    if (message.scrubbedFields) {
      notes.push({ at: now, queueId: id, action: 'NORMALIZED', detail: `${message.scrubbedFields} X-Spam/X-Moat/Authentication-Results field(s) claiming to be ours removed` });
    }
    notes.push(...(extra.notes ?? []));
    await this.queue.commit(
      {
        clientIp: session.remoteAddress,
        helo: session.hostNameAppearsAs || null,
        sender: message.sender,
        id,
        receivedAt: now,
        size: message.size,
        spoolBytes: writer.bytes,
        headerMessageId: messageId,
        // stored as it reads (RFC 2047 decoded), so a search finds what the screens show
        subject: decodeHeaderText(subject),
        fromName: fromDisplayName(from, message.sender),
        kind: 'mail',
        // who may be told if it fails (queue/dsn-policy.ts): the mx listener says for mail from the internet
        senderCheck: serializeSenderCheck(this.listener === 'submission' ? submittedSenderCheck(typeof session.user === 'string' ? `logged in as ${session.user}` : 'from a trusted network') : inboundSenderCheck(message.sender, null)),
        recipients: message.recipients.map((address) => ({ address, route: this.queue.routeFor(address), ...(extra.dropped?.has(address) ? { dropped: true } : {}) })),
        ...extra.row,
      },
      notes,
    );
    this.logger.info({ id, ip: session.remoteAddress, from: message.sender, rcpts: message.recipients.length, size: message.size, ...extra.log }, extra.action ?? 'QUEUED');
    this.events.emit('received', { id, listener: this.listener, clientIp: session.remoteAddress, sender: message.sender, recipients: message.recipients.length, size: message.size });
  }
}

/** A DATA command as smtp-server names commands: the line's first word, in any case. */
function isDataCommand(command: Buffer): boolean {
  return /^data(?: |$)/i.test(command.subarray(0, 5).toString('latin1'));
}

export function senderOf(session: SMTPServerSession): string | null {
  return session.envelope.mailFrom ? session.envelope.mailFrom.address : null;
}

/** 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6 (::ffff:127.x.y.z, how a dual-stack socket reports it). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

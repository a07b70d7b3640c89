import { pipeChain } from '../util/pipe-chain.ts';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Queue } from '../queue/queue.ts';
import type { RefusalReason, RelayEvents } from '../events.ts';
import type { HistoryEntry } from '../store/queue-store.ts';
import { newQueueId } from '../util/ids.ts';
import { checkRecipient, checkSender, type RecipientPolicy } from './address.ts';
import { HeaderPeek } from './header-peek.ts';
import { LineEndingNormalizer } from './line-endings.ts';
import { SizeGuard } from './size-guard.ts';
import { receivedHeader } from './received.ts';
import { REPLIES, SmtpReplyError, type SmtpReply } from './replies.ts';
import type { TlsPair } from './tls.ts';

/** The parts of smtp-server's per-connection object that the listener steers (not in its public types). */
interface ConnectionHandle {
  session: SMTPServerSession;
  send(code: number, text: string, context?: string | false): void;
  _getEnhancedStatusCode(code: number, context?: string | false): string;
}

/** What the listener keeps per connection (habit: session state apart from message state). */
interface SessionState {
  ip: string;
  connection: ConnectionHandle | undefined;
  errors: number;
  countedForIp: boolean;
  deadline: NodeJS.Timeout | undefined;
  /** The enhanced status of the reply being sent, when our policy chose it. */
  enhanced: string | undefined;
  inData: boolean;
}

export interface MxListenerOptions {
  config: Config;
  hostname: string;
  queue: Queue;
  tls: TlsPair;
  logger: Logger;
  events: RelayEvents;
  clock?: () => number;
}

/** The inbound listener: takes mail for our own domains only, spools it durably, answers 250 with the queue id. */
export class MxListener {
  readonly server: SMTPServer;
  private readonly limits: Config['mx'];
  private readonly policy: RecipientPolicy;
  private readonly queue: Queue;
  private readonly logger: Logger;
  private readonly events: RelayEvents;
  private readonly hostname: string;
  private readonly clock: () => number;
  private readonly sessions = new Map<string, SessionState>();
  private readonly perIp = new Map<string, number>();
  private stopping = false;

  constructor(options: MxListenerOptions) {
    const { config } = options;
    this.limits = config.mx;
    this.queue = options.queue;
    this.logger = options.logger;
    this.events = options.events;
    this.hostname = options.hostname;
    this.clock = options.clock ?? Date.now;
    this.policy = {
      domains: new Set(config.domains),
      recipients: config.recipients.length ? new Set(config.recipients) : undefined,
    };
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
      closeTimeout: config.shutdownGraceSec * 1000,
      // No AUTH on the inbound listener, ever; and no proxy protocols that would let a client pick its own IP.
      disabledCommands: ['AUTH'],
      authOptional: true,
      useXClient: false,
      useXForward: false,
      useProxy: false,
      hideREQUIRETLS: true,
      // Our replies carry RFC 3463 codes; RFC 2034 wants them advertised and on smtp-server's own replies too (452, 552, 421)
      hideENHANCEDSTATUSCODES: false,
      disableReverseLookup: true,
      logger: false,
      onConnect: (session, callback) => this.onConnect(session, callback),
      onMailFrom: (address, session, callback) => this.onMailFrom(address, session, callback),
      onRcptTo: (address, session, callback) => this.onRcptTo(address, session, callback),
      onData: (stream, session, callback) => this.onData(stream, session, callback),
      onClose: (session) => this.onClose(session),
    });
    this.server.on('error', (error) => this.logger.warn({ error: error.message }, 'SMTP_ERROR'));
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.server.off('error', reject);
        resolve(this.server.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; idle sessions get 421 now, sessions in a transaction after it, the rest when the grace ends. */
  stop(): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const state of this.sessions.values()) {
      if (!state.inData && !state.connection?.session.envelope.mailFrom) this.reply(state, REPLIES.shuttingDown);
    }
    return closed;
  }

  private reply(state: SessionState, reply: SmtpReply): void {
    state.enhanced = reply.enhanced;
    state.connection?.send(reply.code, reply.text);
  }

  private refuse(session: SMTPServerSession, reply: SmtpReply, detail?: string): SmtpReplyError {
    const state = this.sessions.get(session.id);
    if (state) state.enhanced = reply.enhanced;
    return new SmtpReplyError(reply, detail);
  }

  private onConnect(session: SMTPServerSession, callback: (error?: Error) => void): void {
    const ip = session.remoteAddress;
    const connection = [...(this.server as unknown as { connections: Set<ConnectionHandle> }).connections].find(
      (candidate) => candidate.session === session,
    );
    const state: SessionState = { ip, connection, errors: 0, countedForIp: false, deadline: undefined, enhanced: undefined, inData: false };
    this.sessions.set(session.id, state);
    if (connection) this.instrument(connection, state);
    if (this.stopping) return callback(this.refuse(session, REPLIES.shuttingDown));
    const open = this.perIp.get(ip) ?? 0;
    if (open >= this.limits.maxConnectionsPerIp) {
      this.logger.warn({ ip, open }, 'CONNECTION_LIMIT');
      this.events.emit('refused', { reason: 'connection-limit', clientIp: ip });
      return callback(this.refuse(session, REPLIES.tooManyConnectionsFromIp));
    }
    this.perIp.set(ip, open + 1);
    state.countedForIp = true;
    state.deadline = setTimeout(() => this.reply(state, REPLIES.sessionDeadline), this.limits.sessionDeadlineSec * 1000);
    state.deadline.unref();
    callback();
  }

  /**
   * smtp-server derives the enhanced status from the reply code alone, and counts no errors; this gives our replies
   * their own enhanced status and closes a session after too many refused commands, whoever refused them.
   */
  private instrument(connection: ConnectionHandle, state: SessionState): void {
    const enhancedFor = connection._getEnhancedStatusCode.bind(connection);
    connection._getEnhancedStatusCode = (code, context) => {
      const chosen = state.enhanced;
      state.enhanced = undefined;
      return chosen && context !== false ? chosen : enhancedFor(code, context);
    };
    const send = connection.send.bind(connection);
    connection.send = (code, text, context) => {
      send(code, text, context);
      if (code >= 400 && code !== 421 && ++state.errors >= this.limits.maxErrors) {
        this.logger.warn({ ip: state.ip, errors: state.errors }, 'TOO_MANY_ERRORS');
        this.events.emit('refused', { reason: 'too-many-errors', clientIp: state.ip });
        state.enhanced = REPLIES.tooManyErrors.enhanced;
        send(REPLIES.tooManyErrors.code, REPLIES.tooManyErrors.text);
      }
    };
  }

  private onClose(session: SMTPServerSession): void {
    const state = this.sessions.get(session.id);
    if (!state) return;
    this.sessions.delete(session.id);
    clearTimeout(state.deadline);
    if (state.countedForIp) {
      const open = (this.perIp.get(state.ip) ?? 1) - 1;
      if (open > 0) this.perIp.set(state.ip, open);
      else this.perIp.delete(state.ip);
    }
  }

  private onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void): void {
    if (this.stopping) return callback(this.refuse(session, REPLIES.shuttingDown));
    const sender = checkSender(address.address);
    if (!sender.ok) {
      this.note(session, 'REFUSED', address.address, null, sender.reason);
      this.events.emit('refused', { reason: 'bad-address', clientIp: session.remoteAddress });
      return callback(this.refuse(session, REPLIES.badSender, sender.reason));
    }
    callback();
  }

  private onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void): void {
    const check = checkRecipient(address.address, this.policy);
    if (check.ok) {
      // smtp-server keeps what we hand back; store the normalised form so the envelope we forward is canonical
      address.address = check.address;
      return callback();
    }
    const reply = check.refusal === 'unknown-recipient' ? REPLIES.unknownRecipient : check.refusal === 'syntax' ? REPLIES.badRecipient : REPLIES.relayDenied;
    this.note(session, 'REFUSED', senderOf(session), address.address, `${reply.code} ${reply.enhanced} ${check.reason}`);
    this.logger.info({ ip: session.remoteAddress, from: senderOf(session), to: address.address, reason: check.reason }, 'REFUSED');
    const reason: RefusalReason = check.refusal === 'syntax' ? 'bad-address' : check.refusal;
    this.events.emit('refused', { reason, clientIp: session.remoteAddress });
    callback(this.refuse(session, reply));
  }

  private note(session: SMTPServerSession, action: 'REFUSED', sender: string | null, recipient: string | null, detail: string): void {
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
    if (state) state.inData = true;
    this.receive(stream, session).then(
      (id) => callback(null, `${REPLIES.queued.text} ${id}`),
      (error: Error) => {
        const reply = error instanceof SmtpReplyError ? error : this.refuse(session, REPLIES.localError);
        this.events.emit('refused', { reason: reply.reply === REPLIES.messageTooBig ? 'size' : 'local-error', clientIp: session.remoteAddress });
        callback(reply);
      },
    ).finally(() => {
      if (!state) return;
      state.inData = false;
      if (this.stopping) setImmediate(() => this.reply(state, REPLIES.shuttingDown));
    });
  }

  /** Streams the message to a spool file and commits it; resolves with the queue id once it is durable. */
  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const now = this.clock();
    const id = newQueueId(now);
    const recipients = session.envelope.rcptTo.map((rcpt) => rcpt.address);
    const sender = senderOf(session) ?? '';
    const writer = await this.queue.spool.create(id).catch((error: Error) => {
      stream.resume();
      throw error;
    });
    const normalizer = new LineEndingNormalizer();
    const peek = new HeaderPeek();
    try {
      writer.write(
        receivedHeader({
          helo: session.hostNameAppearsAs || undefined,
          clientIp: session.remoteAddress,
          hostname: this.hostname,
          queueId: id,
          tls: session.secure,
          recipient: recipients.length === 1 ? recipients[0] : undefined,
          date: new Date(now),
        }),
      );
      await pipeChain([stream, new SizeGuard(() => stream.sizeExceeded), normalizer, peek, writer]);
      if (stream.sizeExceeded) throw this.refuse(session, REPLIES.messageTooBig);
      await writer.commit();
    } catch (error) {
      await writer.discard();
      if (!(error instanceof SmtpReplyError)) {
        this.logger.error({ id, ip: session.remoteAddress, error: (error as Error).message }, 'RECEIVE_FAILED');
      }
      throw error;
    }
    const { subject, messageId } = peek.fields();
    // the message row is the record of its receipt; history only adds what is unusual about it
    const notes: HistoryEntry[] = normalizer.bareLineEndings
      ? [{ at: now, queueId: id, action: 'NORMALIZED', detail: `${normalizer.bareLineEndings} bare CR/LF rewritten to CRLF` }]
      : [];
    const peer = { clientIp: session.remoteAddress, helo: session.hostNameAppearsAs || null, sender };
    await this.queue.commit(
      {
        ...peer,
        id,
        receivedAt: now,
        size: stream.byteLength,
        spoolBytes: writer.bytes,
        headerMessageId: messageId,
        subject,
        kind: 'mail',
        recipients: recipients.map((address) => ({ address, route: this.queue.routeFor(address) })),
      },
      notes,
    );
    this.logger.info({ id, ip: session.remoteAddress, from: sender, rcpts: recipients.length, size: stream.byteLength }, 'QUEUED');
    this.events.emit('received', { id, clientIp: session.remoteAddress, sender, recipients: recipients.length, size: stream.byteLength });
    return id;
  }
}

function senderOf(session: SMTPServerSession): string | null {
  return session.envelope.mailFrom ? session.envelope.mailFrom.address : null;
}

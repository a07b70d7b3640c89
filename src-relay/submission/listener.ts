import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { RefusalReason } from '../events.ts';
import type { HistoryEntry } from '../store/queue-store.ts';
import type { Account, AccountStore } from '../auth/account-store.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { CircuitBreaker } from '../auth/circuit-breaker.ts';
import { normalizeUserName, senderAllowed } from '../auth/names.ts';
import type { DkimSigner } from '../dkim/sign.ts';
import { checkRecipient, checkSender, normalizeDomain, splitAddress, type RecipientCheck, type RecipientPolicy } from '../util/address.ts';
import { SmtpListener, senderOf, type EngineListenerOptions, type SessionState, type SpooledMessage } from '../smtp/listener.ts';
import { REPLIES, SmtpReplyError, refusalDetail, type SmtpReply } from '../smtp/replies.ts';
import type { ReplyContext, ReplyText } from '../smtp/smtp-server-adapter.ts';
import { addressesNotOwned, checkAuthorFields } from './from-header.ts';
import type { FilterPipeline } from '../filters/pipeline.ts';
import { filterRefusalReason, filterReply } from '../smtp/filter-replies.ts';
import type { TrustedNetworks } from '../util/networks.ts';

/** Failed logins in one session before it is closed: a client that has the password needs one try. */
export const MAX_AUTH_FAILURES_PER_SESSION = 3;

/** Longest explanation put after a refusal's text (an SMTP reply line should stay under 512 octets, RFC 5321 4.5.3.1.5). */
const MAX_DETAIL_CHARS = 300;

export type SubmissionPort = 'submission' | 'submissions';

export interface SubmissionListenerOptions extends EngineListenerOptions {
  /** `submissions` is port 465, TLS from the first byte (RFC 8314); `submission` is port 587 with STARTTLS. */
  port: SubmissionPort;
  accounts: AccountStore;
  authenticator: Authenticator;
  breaker: CircuitBreaker;
  trusted: TrustedNetworks;
  dkim: DkimSigner;
  /** The virus scanner and attachment rules for the office's own mail (filters/content-filters.ts); null: none. */
  scan: FilterPipeline | null;
}

interface SubmissionSession {
  authFailures: number;
  /** Aborted as the connection closes: a login still waiting for its password check is dropped unchecked. */
  gone: AbortController;
  /** The account's password hash when this session logged in: a password changed since ends what the session may do. */
  loggedInWith?: string;
}

/**
 * The outgoing server for the office (ports 587 and 465): SMTP AUTH PLAIN or LOGIN, only over TLS; clients on a
 * trusted network may send without it. Mail to any domain is taken: our domains go to the internal server, the rest
 * out to the internet. An account may send only as the addresses it owns (MAIL FROM and the From header), within its
 * hourly limits; its mail is DKIM-signed when the From domain has a key.
 */
export class SubmissionListener extends SmtpListener {
  protected readonly listener = 'submission';
  private readonly port: SubmissionPort;
  private readonly policy: RecipientPolicy;
  private readonly accounts: AccountStore;
  private readonly authenticator: Authenticator;
  private readonly breaker: CircuitBreaker;
  private readonly trusted: TrustedNetworks;
  private readonly dkim: DkimSigner;
  private readonly scan: FilterPipeline | null;
  private readonly hideClient: boolean;
  private readonly submissionSessions = new Map<string, SubmissionSession>();

  constructor(options: SubmissionListenerOptions) {
    const { config } = options;
    super({
      ...options,
      limits: {
        ...config.mx,
        maxMessageBytes: config.submission.maxMessageBytes,
        maxRecipients: config.submission.maxRecipients,
        maxConnectionsPerIp: config.submission.maxConnectionsPerIp,
      },
      shutdownGraceSec: config.shutdownGraceSec,
      tlsHandshakeTimeoutSec: config.submission.tlsHandshakeTimeoutSec,
      server: {
        secure: options.port === 'submissions',
        authMethods: ['PLAIN', 'LOGIN'],
        // trusted networks send without AUTH: onMailFrom decides, with our own reply
        authOptional: true,
        // AUTH only under TLS; before STARTTLS it is not even offered (see connected/onSecure)
        allowInsecureAuth: false,
      },
    });
    this.port = options.port;
    this.accounts = options.accounts;
    this.authenticator = options.authenticator;
    this.breaker = options.breaker;
    this.trusted = options.trusted;
    this.dkim = options.dkim;
    this.scan = options.scan;
    this.hideClient = config.submission.receivedClient === 'hide';
    this.policy = {
      domains: new Set(config.domains),
      recipients: config.recipients.length ? new Set(config.recipients) : undefined,
    };
  }

  protected override connected(session: SMTPServerSession): void {
    this.submissionSessions.set(session.id, { authFailures: 0, gone: new AbortController() });
    // RFC 4954 4 and RFC 8314: no AUTH offered or taken on a plaintext channel
    if (!session.secure) session.disabledCommands = ['AUTH'];
    super.connected(session);
  }

  protected override closed(session: SMTPServerSession): void {
    this.submissionSessions.get(session.id)?.gone.abort();
    this.submissionSessions.delete(session.id);
    this.breaker.release(session.id);
    super.closed(session);
  }

  protected override onSecure(_socket: Socket | TLSSocket, session: SMTPServerSession, callback: (error?: Error | null) => void): void {
    session.disabledCommands = undefined;
    callback();
  }

  /** AUTH before STARTTLS is an unknown command to smtp-server (we hid it); the client is told what to do instead. */
  protected override rewriteReply(state: SessionState, code: number, text: ReplyText, context: ReplyContext) {
    if (code === 500 && context === 'AUTH' && !state.session.secure) {
      return { code: REPLIES.startTlsFirst.code, text: REPLIES.startTlsFirst.text, enhanced: REPLIES.startTlsFirst.enhanced };
    }
    return super.rewriteReply(state, code, text, context);
  }

  protected override refusalReason(reply: SmtpReply): RefusalReason {
    if (reply === REPLIES.fromNotOwned) return 'sender-not-owned';
    if (reply === REPLIES.accountSuspended) return 'account-suspended';
    if (reply === REPLIES.fromInvalid || reply === REPLIES.fromRawBytes || reply === REPLIES.headerTooBig) return 'bad-address';
    if (reply === REPLIES.authRequired) return 'auth-required';
    return filterRefusalReason(reply) ?? super.refusalReason(reply);
  }

  protected override onAuth(
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
    callback: (error: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
  ): void {
    if (!session.secure) return callback(this.refuse(session, REPLIES.startTlsFirst));
    // RFC 4616: asking to act as another user fails, whatever the password; it is refused before any password check
    if (auth.method === 'PLAIN' && auth.authzid && auth.authcid && normalizeUserName(auth.authzid) !== normalizeUserName(auth.authcid)) {
      return callback(this.refuse(session, REPLIES.authzidRefused));
    }
    const signal = this.submissionSessions.get(session.id)?.gone.signal;
    this.authenticator
      .authenticate({ username: auth.username ?? '', password: auth.password ?? '', clientIp: session.remoteAddress, listener: this.port, signal })
      .then(
        (result) => {
          if (result.ok) {
            const counted = this.submissionSessions.get(session.id);
            // the hash the password was checked against, not a fresh read: a change committed during the check ends this session too
            if (counted) counted.loggedInWith = result.passwordHash;
            return callback(null, { user: result.user });
          }
          // no password was checked: answered at once, as temporary (the mail program tries again later)
          if (result.reply === 'busy') return callback(this.refuse(session, REPLIES.authUnavailable));
          const counted = this.submissionSessions.get(session.id);
          const failures = counted ? ++counted.authFailures : MAX_AUTH_FAILURES_PER_SESSION;
          const timer = setTimeout(() => {
            callback(this.refuse(session, result.reply === 'locked' ? REPLIES.authLocked : REPLIES.authFailed));
            const state = this.sessions.get(session.id);
            if (state && failures >= MAX_AUTH_FAILURES_PER_SESSION) setImmediate(() => this.reply(state, REPLIES.tooManyAuthFailures));
          }, result.delayMs);
          timer.unref();
        },
        (error: Error) => {
          this.logger.error({ ip: session.remoteAddress, error: error.message }, 'AUTH_ERROR');
          callback(this.refuse(session, REPLIES.authUnavailable));
        },
      );
  }

  protected onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void): void {
    if (this.stopping) return callback(this.refuse(session, REPLIES.shuttingDown));
    const user = userOf(session);
    if (!user && !this.trusted.has(session.remoteAddress)) {
      return callback(this.refuseWith(session, REPLIES.authRequired, 'auth-required', address.address, null, 'not logged in and not on a trusted network'));
    }
    const sender = checkSender(address.address);
    if (!sender.ok) {
      return callback(this.refuseWith(session, REPLIES.badSender, 'bad-address', address.address, null, sender.reason));
    }
    if (!user) {
      address.address = sender.address;
      return callback();
    }
    const account = this.accounts.get(user);
    if (!account) return callback(this.refuseWith(session, REPLIES.authRequired, 'auth-required', address.address, null, `account ${user} no longer exists`));
    if (this.passwordChanged(session, account)) {
      return callback(this.refuseWith(session, REPLIES.authRequired, 'auth-required', address.address, null, `the password of account ${user} changed since this session logged in`));
    }
    if (account.suspendedAt !== null) {
      return callback(this.refuseWith(session, REPLIES.accountSuspended, 'account-suspended', address.address, null, `account ${user} is suspended: ${account.suspendedReason ?? ''}`));
    }
    if (sender.address === '' || !senderAllowed(account.senders, sender.address)) {
      return callback(this.refuseWith(session, REPLIES.senderNotOwned, 'sender-not-owned', address.address, null, `account ${user} may not send as <${sender.address}>`));
    }
    const verdict = this.breaker.admitMessage(account, session.remoteAddress, session.id);
    if (!verdict.ok) return callback(this.refuseWith(session, REPLIES.accountSuspended, 'account-suspended', address.address, null, `account ${user}: ${verdict.reason}`));
    address.address = sender.address;
    callback();
  }

  protected onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void): void {
    const check = this.checkRecipient(address.address);
    if (!check.ok) {
      const reply = check.refusal === 'unknown-recipient' ? REPLIES.unknownRecipient : check.refusal === 'syntax' ? REPLIES.badRecipient : REPLIES.relayDenied;
      const reason: RefusalReason = check.refusal === 'syntax' ? 'bad-address' : check.refusal;
      return callback(this.refuseWith(session, reply, reason, senderOf(session), address.address, check.reason));
    }
    const user = userOf(session);
    if (user) {
      const account = this.accounts.get(user);
      const verdict = account ? this.breaker.admitRecipient(account, session.remoteAddress, session.envelope.rcptTo.length, session.id) : { ok: false as const, reason: 'account removed' };
      if (!verdict.ok) {
        return callback(this.refuseWith(session, REPLIES.accountSuspended, 'account-suspended', senderOf(session), address.address, `account ${user}: ${verdict.reason}`));
      }
    }
    this.takeRecipient(address, session, check.address);
    callback();
  }

  /**
   * Any domain is accepted, but with the same rules as inbound (no routing tricks, no address literals): for our own
   * domains the recipient list applies too; another domain is checked as if it were the one accepted domain.
   */
  private checkRecipient(address: string): RecipientCheck {
    const own = checkRecipient(address, this.policy);
    if (own.ok || own.refusal !== 'relay') return own;
    const parts = splitAddress(address);
    const domain = parts && normalizeDomain(parts.domain);
    if (!domain || this.policy.domains.has(domain)) return own;
    return checkRecipient(address, { domains: new Set([domain]) });
  }

  protected async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const user = userOf(session);
    const message = await this.spoolData(stream, session, { authenticated: user !== undefined, hideClient: this.hideClient });
    const notes: HistoryEntry[] = [];
    try {
      const header = message.peek.headerBlock();
      if (!header.complete) throw this.refuseMessage(session, REPLIES.headerTooBig, message.sender, 'the header section is longer than 64 KiB');
      const author = checkAuthorFields(header.text);
      if (!author.ok) throw this.refuseMessage(session, author.fault === 'raw-bytes' ? REPLIES.fromRawBytes : REPLIES.fromInvalid, message.sender, author.reason);
      if (user !== undefined) {
        const account = this.accounts.get(user);
        if (!account) throw this.refuseMessage(session, REPLIES.authRequired, message.sender, `account ${user} no longer exists`);
        if (this.passwordChanged(session, account)) throw this.refuseMessage(session, REPLIES.authRequired, message.sender, `the password of account ${user} changed since this session logged in`);
        if (account.suspendedAt !== null) throw this.refuseMessage(session, REPLIES.accountSuspended, message.sender, `account ${user} is suspended`);
        const foreign = addressesNotOwned(author.shown, account.senders);
        if (foreign.length > 0) throw this.refuseMessage(session, REPLIES.fromNotOwned, message.sender, `account ${user} may not send as ${foreign.map((a) => `<${a}>`).join(', ')}`);
        const misread = author.misread.filter((entry) => addressesNotOwned([entry.address], account.senders).length > 0);
        if (misread.length > 0) {
          const shown = misread.map((entry) => `<${entry.address}> read as ${entry.charset}`).join(', ');
          throw this.refuseMessage(session, REPLIES.fromRawBytes, message.sender, `raw UTF-8 in From or Sender shows ${shown}`);
        }
      }
      if (this.scan) await this.screen(this.scan, message, session, user);
      notes.push({
        at: message.receivedAt,
        queueId: message.id,
        action: 'SUBMITTED',
        clientIp: session.remoteAddress,
        sender: message.sender,
        detail: user !== undefined ? `authenticated as ${user} on ${this.port}${session.secure ? ' (TLS)' : ''}` : `trusted network, no login, on ${this.port}`,
      });
      const fromDomains = author.from.map((address) => splitAddress(address)!.domain);
      const signed = await this.dkim.sign(message.writer, fromDomains, new Date(message.receivedAt)).catch((error: Error) => {
        this.logger.error({ id: message.id, error: error.message }, 'DKIM_FAILED');
        throw this.refuse(session, REPLIES.localError);
      });
      if (signed) {
        message.writer = signed.writer;
        notes.push({ at: message.receivedAt, queueId: message.id, action: 'SIGNED', detail: `DKIM signature for ${signed.signedFor.join(', ')}` });
      }
    } catch (error) {
      await message.writer.discard();
      throw error;
    }
    await this.commitSpooled(message, session, { notes, log: user !== undefined ? { user } : { trusted: 'yes' } });
    if (user !== undefined) this.breaker.recordAccepted(user, message.recipients.length, session.id);
    return message.id;
  }

  /**
   * The scan's verdict on a submitted message: a virus or a blocked attachment is refused at once, so the sender
   * hears it (a quarantine is for mail that comes in); a scanner that cannot answer is a 451, as inbound.
   */
  private async screen(scan: FilterPipeline, message: SpooledMessage, session: SMTPServerSession, user: string | undefined): Promise<void> {
    const decision = await scan.run(this.filterInput(message, session, user ?? null));
    const refusal = filterReply(decision.action === 'quarantine' ? { ...decision, action: 'reject' } : decision);
    if (refusal) throw this.refuseMessage(session, refusal.reply, message.sender, refusal.detail || decision.reason);
  }

  /** A stolen password changed by the admin (`moat users passwd`) also ends the thief's open session, at its next message. */
  private passwordChanged(session: SMTPServerSession, account: Account): boolean {
    return this.submissionSessions.get(session.id)?.loggedInWith !== account.passwordHash;
  }

  /** A refusal at MAIL or RCPT: logged, kept in history, counted, answered. */
  private refuseWith(session: SMTPServerSession, reply: SmtpReply, reason: RefusalReason, sender: string | null, recipient: string | null, rawDetail: string): SmtpReplyError {
    const detail = printable(rawDetail);
    this.note(session, 'REFUSED', sender, recipient, refusalDetail(reply, detail));
    this.logger.info({ ip: session.remoteAddress, user: userOf(session), from: sender, to: recipient ?? undefined, reason: detail }, 'REFUSED');
    if (!this.isSelfTest(session)) this.events.emit('refused', { reason, clientIp: session.remoteAddress });
    return this.refuse(session, reply, detail);
  }

  /** A refusal at the end of DATA: logged and kept in history (the base class counts it). */
  private refuseMessage(session: SMTPServerSession, reply: SmtpReply, sender: string, rawDetail: string): SmtpReplyError {
    const detail = printable(rawDetail);
    this.note(session, 'REFUSED', sender, null, refusalDetail(reply, detail));
    this.logger.info({ ip: session.remoteAddress, user: userOf(session), from: sender, reason: detail }, 'REFUSED');
    return this.refuse(session, reply, detail);
  }
}

/** Client-supplied text in a reply or the log: printable ASCII only, and not too long (STYLE habit 14). */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_DETAIL_CHARS);
}

function userOf(session: SMTPServerSession): string | undefined {
  return typeof session.user === 'string' ? session.user : undefined;
}

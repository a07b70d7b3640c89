import type { Transporter } from 'nodemailer';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { PassThrough, Readable } from 'node:stream';
import type { Config, HopConfig } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Spool } from '../store/spool.ts';
import type { Route } from '../events.ts';
import { NO_REPLY_AFTER_DATA, type DeliveryFailure } from './classify.ts';
import { Slots } from '../util/slots.ts';
import { isNonPublicAddress } from '../util/networks.ts';
import type { Resolver } from '../util/resolver.ts';

/** Waits for one SMTP exchange step; RFC 5321 4.5.3.2 allows minutes, a dead peer should not hold a slot that long. */
const CONNECT_TIMEOUT_MS = 30_000;
const GREETING_TIMEOUT_MS = 60_000;
const SOCKET_TIMEOUT_MS = 300_000;
/**
 * Bounds on one attempt at a domain's MX hosts, whose list the domain's owner writes (as Postfix's
 * smtp_mx_address_limit and smtp_mx_session_limit): addresses connected to, sessions that got as far as a reply,
 * and host names looked up.
 */
export const MX_ADDRESS_LIMIT = 5;
export const MX_SESSION_LIMIT = 2;
export const MX_HOST_LIMIT = 10;

type Nodemailer = (typeof import('nodemailer'))['default'];
let nodemailer: Nodemailer | undefined;
/** nodemailer and its transports load with the first delivery: a relay with nothing to send does not carry them. */
async function loadNodemailer(): Promise<Nodemailer> {
  nodemailer ??= (await import('nodemailer')).default;
  return nodemailer;
}

export interface DeliveryJob {
  queueId: string;
  sender: string;
  recipients: string[];
  route: Route;
  /**
   * Ends the delivery where it is (the relay stopping), unless the message has been sent: then the server's answer is
   * awaited. The connection is closed, the result says `stopped`.
   */
  signal?: AbortSignal;
  /**
   * Ends it even after the message was sent (the stop's wait for that answer is over): the connection is closed and
   * the result is "no reply after the data", recorded before the store closes so that the retry is on the record.
   */
  closing?: AbortSignal;
}

export interface RecipientOutcome {
  address: string;
  delivered: boolean;
  /** The remote reply or the local error, as the queue viewer shows it. */
  failure?: DeliveryFailure & { command?: string; message: string };
  /**
   * Delivered: the server's reply to the message, as it came (at most MAX_REPLY_CHARS, control characters as
   * spaces). Exchange names its own message id there, which an admin looks up in its message tracking.
   */
  reply?: string;
}

/**
 * The route keys of the hops Moat is set up to deliver through (the internal server, the smarthost), as opposed to
 * `mx:DOMAIN`, one per destination domain on the internet: a hop down is the admin's business, a remote domain not.
 */
export const HOP_ROUTES: ReadonlySet<string> = new Set(['internal', 'smarthost']);

/** The longest delivery reply kept. */
export const MAX_REPLY_CHARS = 512;
/** The longest reply a next hop may send to one command (a longer one ends the session, as an error). */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** A server's reply as kept and shown: one line, bounded (it comes from the network). */
export function keptReply(response: unknown): string | undefined {
  if (typeof response !== 'string') return undefined;
  const line = response.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return line ? line.slice(0, MAX_REPLY_CHARS) : undefined;
}

export interface DeliveryResult {
  remoteMta: string | null;
  outcomes: RecipientOutcome[];
  /** No SMTP conversation took place (refused, timed out, DNS): says the route itself is in trouble. */
  unreachable: boolean;
  /**
   * The whole message was handed over after DATA's 354, then the connection ended (closed, reset, timed out) with
   * no reply to the final dot. The server may have delivered it (RFC 1047): a retry can deliver it twice.
   */
  noReplyAfterData?: boolean;
  /**
   * The server refused the session before any transaction (its greeting, EHLO/HELO, STARTTLS): a busy or broken
   * host, not a verdict on the message; the next MX host is tried (Postfix's smtp_skip_5xx_greeting, RFC 5321 5.1).
   */
  sessionRefused?: boolean;
  /** The job's signal stopped it before the server had the whole message: nothing was delivered, nothing to record. */
  stopped?: boolean;
}

/** nodemailer's names of the commands before MAIL FROM ('CONN': the greeting). */
const SESSION_COMMANDS: ReadonlySet<string> = new Set(['CONN', 'EHLO', 'HELO', 'LHLO', 'STARTTLS']);

interface SmtpError extends Error {
  code?: string;
  originalCode?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
  rejectedErrors?: SmtpError[];
}

export interface DelivererOptions {
  config: Config;
  hostname: string;
  spool: Spool;
  resolver: Resolver;
  logger: Logger;
  /** The header block the content filters added to a message (kept in the database), prepended as it is sent. */
  addedHeaders?: (queueId: string) => string | null;
}

/** Sends a queued message over SMTP with nodemailer: pooled to the internal server and the smarthost, direct to MX hosts. */
export class Deliverer {
  private readonly pools = new Map<string, Transporter>();
  /** MX deliveries open a connection each (no pool): this keeps them within maxConnectionsPerDomain per domain. */
  private readonly mxSlots = new Map<string, Slots>();
  /** The system's CAs plus outbound.caFile, when one is configured. */
  private readonly ca: string[] | undefined;
  private readonly tlsRequired: ReadonlySet<string>;
  /** Per message being sent (keyed by its content object): has the server been handed all of it after DATA? */
  private readonly handedOver = new WeakMap<object, { done: boolean }>();

  constructor(private readonly options: DelivererOptions) {
    const { caFile, tlsRequiredDomains } = options.config.outbound;
    this.ca = caFile ? [...rootCertificates, readFileSync(caFile, 'utf8')] : undefined;
    this.tlsRequired = new Set(tlsRequiredDomains);
  }

  /** Which concurrency bucket a recipient belongs to: one per hop (HOP_ROUTES), one per destination domain for MX delivery. */
  routeKey(route: Route, recipient: string): string {
    if (route === 'internal') return 'internal';
    if (this.options.config.outbound.smarthost) return 'smarthost';
    return `mx:${recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase()}`;
  }

  routeCapacity(key: string): number {
    const { config } = this.options;
    if (key === 'internal') return config.internal?.maxConnections ?? 1;
    if (key === 'smarthost') return config.outbound.smarthost?.maxConnections ?? 1;
    return config.outbound.maxConnectionsPerDomain;
  }

  async deliver(job: DeliveryJob): Promise<DeliveryResult> {
    const { config } = this.options;
    const mailer = await loadNodemailer();
    if (job.route === 'internal') {
      if (!config.internal) throw new Error('no internal server configured');
      return this.sendVia(this.pool(mailer, 'internal', config.internal), config.internal.host, job);
    }
    if (config.outbound.smarthost) return this.sendVia(this.pool(mailer, 'smarthost', config.outbound.smarthost), config.outbound.smarthost.host, job);
    return this.deliverByMx(mailer, job);
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }

  private pool(mailer: Nodemailer, key: string, hop: HopConfig): Transporter {
    let pool = this.pools.get(key);
    if (!pool) {
      pool = mailer.createTransport({ ...this.hopOptions(hop.host, hop.port, hop), pool: true, maxConnections: hop.maxConnections, maxMessages: 1000 });
      pool.use('stream', this.watchHandOver);
      this.pools.set(key, pool);
    }
    return pool;
  }

  private hopOptions(host: string, port: number, hop: Pick<HopConfig, 'tls' | 'verifyCertificate' | 'auth'>, servername?: string) {
    return {
      host,
      port,
      secure: false,
      name: this.options.hostname,
      ignoreTLS: hop.tls === 'none',
      requireTLS: hop.tls === 'required',
      tls: { rejectUnauthorized: hop.verifyCertificate, servername: servername ?? (isIP(host) ? undefined : host), ca: this.ca },
      auth: hop.auth,
      connectionTimeout: CONNECT_TIMEOUT_MS,
      greetingTimeout: GREETING_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
      // a reply is a line or a few; nodemailer's own bound is 1 MiB of one (from a remote MX anyone can set up)
      maxResponseSize: MAX_RESPONSE_BYTES,
      logger: false,
      debug: false,
    };
  }

  /** The spool file as received, behind the filters' header block: a Buffer concat or a stream, never a rewrite. */
  private messageContent(queueId: string): Buffer | Readable {
    const content = this.options.spool.content(queueId);
    const added = this.options.addedHeaders?.(queueId);
    if (!added) return content;
    const head = Buffer.from(added, 'utf8');
    if (Buffer.isBuffer(content)) return Buffer.concat([head, content]);
    return Readable.from((async function* () {
      yield head;
      yield* content;
    })(), { objectMode: false });
  }

  /**
   * nodemailer reads the message ahead into its own buffers, before MAIL FROM, so the content being read says
   * nothing about the server. Its output stream, though, is piped into the DATA stream only after the 354: when that
   * stream has been read to its end, the server has been handed the whole message. A nodemailer 'stream' plugin
   * (its public hook, as DKIM signing uses) puts a pass-through there and notes the end for this message.
   */
  private readonly watchHandOver = (mail: { data: { raw?: unknown }; message: { processFunc(fn: (input: Readable) => Readable): void } }, done: (error?: Error | null) => void): void => {
    const state = typeof mail.data.raw === 'object' && mail.data.raw !== null ? this.handedOver.get(mail.data.raw) : undefined;
    if (state) {
      mail.message.processFunc((input) => {
        const output = new PassThrough();
        // pipe, not pipeline: pipeline builds an AbortController and a DOMException for every message
        input.once('error', (error) => output.destroy(error));
        output.once('close', () => {
          if (!input.readableEnded) input.destroy();
        });
        input.pipe(output);
        output.once('end', () => (state.done = true));
        return output;
      });
    }
    done();
  };

  private async sendVia(transport: Transporter, remoteMta: string, job: DeliveryJob): Promise<DeliveryResult> {
    const raw = this.messageContent(job.queueId);
    const handedOver = { done: false };
    this.handedOver.set(raw, handedOver);
    // a stop ends the send before the final dot; after it, the server's answer is awaited (ended there, a retry
    // would risk a second copy: RFC 1047)
    const abort = new AbortController();
    const onStop = () => {
      if (!handedOver.done) abort.abort();
    };
    const onClosing = () => abort.abort();
    job.signal?.addEventListener('abort', onStop, { once: true });
    job.closing?.addEventListener('abort', onClosing, { once: true });
    if (job.signal?.aborted) onStop();
    if (job.closing?.aborted) onClosing();
    try {
      const info = await transport.sendMail({
        envelope: { from: job.sender, to: job.recipients },
        raw,
        // never written (raw is sent as it is); given, it spares nodemailer five randomBytes calls for one of its own
        messageId: `<${job.queueId}@${this.options.hostname}>`,
        signal: abort.signal,
      } as Parameters<Transporter['sendMail']>[0]);
      const rejected = new Map<string, SmtpError>();
      for (const error of ((info as { rejectedErrors?: SmtpError[] }).rejectedErrors ?? [])) {
        if (error.recipient) rejected.set(error.recipient, error);
      }
      const response = (info as { response?: unknown }).response;
      const garbled = typeof response === 'string' ? garbledReply(response) : null;
      // it took the data and answered with something other than a reply: as ambiguous as no answer (RFC 1047)
      if (garbled) return noReplyAfterData(remoteMta, job, `${garbled}: "${keptReply(response)}"`);
      const accepted = new Set((info.accepted as string[]).map(String));
      const reply = keptReply(response);
      return {
        remoteMta,
        unreachable: false,
        outcomes: job.recipients.map((address) => {
          const error = rejected.get(address);
          if (error || !accepted.has(address)) return { address, delivered: false, failure: describe(error ?? { name: 'Error', message: 'not accepted' }) };
          return { address, delivered: true, reply };
        }),
      };
    } catch (caught) {
      if (!(caught as SmtpError).responseCode && handedOver.done) {
        const error = caught as SmtpError;
        return noReplyAfterData(remoteMta, job, `the connection ended (${error.originalCode ?? error.code ?? 'closed'})`);
      }
      if (abort.signal.aborted) {
        const failure = { message: 'the delivery was stopped before the message was sent: the relay was stopping' };
        return { remoteMta, unreachable: false, stopped: true, outcomes: job.recipients.map((address) => ({ address, delivered: false, failure })) };
      }
      const error = ownFailure(caught as SmtpError);
      const perRecipient = new Map((error.rejectedErrors ?? []).map((rejected) => [rejected.recipient, rejected]));
      return {
        remoteMta,
        unreachable: !error.responseCode,
        sessionRefused: Boolean(error.responseCode) && SESSION_COMMANDS.has(error.command ?? ''),
        outcomes: job.recipients.map((address) => ({ address, delivered: false, failure: describe(perRecipient.get(address) ?? error) })),
      };
    } finally {
      job.signal?.removeEventListener('abort', onStop);
      job.closing?.removeEventListener('abort', onClosing);
    }
  }

  /** At most maxConnectionsPerDomain deliveries to one domain at a time, whatever the scheduler hands over. */
  private async deliverByMx(mailer: Nodemailer, job: DeliveryJob): Promise<DeliveryResult> {
    const key = this.routeKey(job.route, job.recipients[0]!);
    let slots = this.mxSlots.get(key);
    if (!slots) {
      slots = new Slots(this.routeCapacity(key));
      this.mxSlots.set(key, slots);
    }
    const release = await slots.acquire();
    try {
      return await this.deliverByMxNow(mailer, job);
    } finally {
      release();
      if (slots.busy === 0) this.mxSlots.delete(key);
    }
  }

  /** RFC 5321 5.1: MX records in preference order, else the domain's own address; a null MX (RFC 7505) takes no mail. */
  private async deliverByMxNow(mailer: Nodemailer, job: DeliveryJob): Promise<DeliveryResult> {
    const domain = job.recipients[0]!.slice(job.recipients[0]!.lastIndexOf('@') + 1);
    // outbound.tlsRequiredDomains: STARTTLS and a certificate valid for the MX host name, or no delivery at all
    const tlsPolicy = this.tlsRequired.has(domain.toLowerCase())
      ? ({ tls: 'required', verifyCertificate: true, auth: undefined } as const)
      : ({ tls: 'opportunistic', verifyCertificate: false, auth: undefined } as const);
    const { resolver } = this.options;
    const fail = (failure: DeliveryFailure & { message: string }, unreachable = true): DeliveryResult => ({
      remoteMta: null,
      unreachable,
      outcomes: job.recipients.map((address) => ({ address, delivered: false, failure })),
    });
    let hosts: string[];
    try {
      const records = await resolver.resolveMx(domain);
      if (records.length === 1 && (records[0]!.exchange === '' || records[0]!.exchange === '.')) {
        return fail({ responseCode: 556, response: `556 5.1.10 ${domain} accepts no mail (null MX)`, message: 'null MX' }, false);
      }
      hosts = records.sort((a, b) => a.priority - b.priority).map((record) => record.exchange);
      if (hosts.length === 0) hosts = [domain];
    } catch (caught) {
      const code = (caught as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND') {
        return fail({ responseCode: 550, response: `550 5.1.2 ${domain}: no such domain`, message: 'no such domain' }, false);
      }
      if (code !== 'ENODATA') return fail({ code: 'EDNS', message: `MX lookup for ${domain} failed: ${code ?? (caught as Error).message}` });
      hosts = [domain];
    }
    let last: DeliveryResult = fail({ code: 'EDNS', message: `no address found for the mail hosts of ${domain}` });
    const { allowPrivateMxAddresses, mxPort } = this.options.config.outbound;
    const skipped: string[] = [];
    let tried = 0;
    let sessions = 0;
    let lookupFailed = false;
    const addressesOf = (lookup: Promise<string[]>) =>
      lookup.catch((caught: NodeJS.ErrnoException) => {
        if (caught.code !== 'ENODATA' && caught.code !== 'ENOTFOUND') lookupFailed = true;
        return [] as string[];
      });
    for (const host of hosts.slice(0, MX_HOST_LIMIT)) {
      const addresses = [...(await addressesOf(resolver.resolve4(host))), ...(await addressesOf(resolver.resolve6(host)))];
      for (const address of addresses) {
        if (!allowPrivateMxAddresses && isNonPublicAddress(address)) {
          skipped.push(`${host} ${address}`);
          continue;
        }
        if (tried === MX_ADDRESS_LIMIT || sessions === MX_SESSION_LIMIT) return last;
        tried++;
        const transport = mailer.createTransport(this.hopOptions(address, mxPort, tlsPolicy, host));
        transport.use('stream', this.watchHandOver);
        try {
          last = await this.sendVia(transport, host, job);
        } finally {
          transport.close();
        }
        if (last.stopped || (!last.unreachable && !last.sessionRefused)) return last;
        if (last.sessionRefused) sessions++;
      }
    }
    // a look-up that failed may have hidden a public address: that waits for the next try
    if (tried === 0 && skipped.length > 0 && !lookupFailed) {
      // an outside domain pointing its MX at a private or loopback address would have Moat deliver into the office's network, or to itself
      const response = `550 5.4.4 the mail hosts of ${domain} have only private or loopback addresses (${skipped.slice(0, 3).join(', ')}), which Moat does not deliver to (outbound.allowPrivateMxAddresses)`;
      return fail({ responseCode: 550, response, message: response }, false);
    }
    return last;
  }
}

/**
 * The connection ended after the whole message was sent and before the server answered the final dot: deferred,
 * never bounced (classify.ts), and not "unreachable": the server talked, so the route is up and no other MX host is
 * tried in the same attempt (that would be a second copy at once). RFC 1047: the server may already have delivered
 * it, so every retry risks a duplicate; the scheduler bounds the retries (MAX_NO_REPLY_AFTER_DATA).
 */
function noReplyAfterData(remoteMta: string, job: DeliveryJob, why: string): DeliveryResult {
  const failure = {
    code: NO_REPLY_AFTER_DATA,
    command: 'DATA',
    message: `no reply after the message data: ${why}; the server may have delivered the message`,
  };
  return { remoteMta, unreachable: false, noReplyAfterData: true, outcomes: job.recipients.map((address) => ({ address, delivered: false, failure })) };
}

/**
 * What is wrong with a success reply to the final dot, or null for a proper one (RFC 5321 4.2: three digits, then a
 * space, a hyphen on all but the last line, or nothing; one code on every line). nodemailer reads only the first
 * line's first digit: "250-ok" then "550 no", or "2500 ok", counted as delivered.
 */
export function garbledReply(response: string): string | null {
  const lines = response.split('\n');
  const code = /^(\d{3})(?:[ -]|$)/.exec(lines[0]!)?.[1];
  if (!code) return 'its answer was not an SMTP reply';
  for (const [index, line] of lines.entries()) {
    const last = index === lines.length - 1;
    if (!line.startsWith(code) || !(last ? /^\d{3}(?: |$)/ : /^\d{3}-/).test(line)) return `its answer mixed reply codes or lines (${code} first)`;
  }
  return null;
}

/**
 * Failures that are ours, not the message's, are kept without the server's reply code, so they are deferred (and
 * the next MX host is tried) instead of bounced: a refused STARTTLS when TLS is required (a "500 command not
 * recognized" to STARTTLS is our policy failing; 4.7.5), and a refused login to our own smarthost or internal
 * server (a wrong password in the configuration must not bounce every message).
 */
function ownFailure(error: SmtpError): SmtpError {
  if (!error.responseCode) return error;
  if (error.code === 'ETLS') {
    const message = `TLS is required but the server refused STARTTLS: ${error.response ?? error.message}`;
    return Object.assign(new Error(message), { code: 'ETLS', command: error.command ?? 'STARTTLS' }) as SmtpError;
  }
  if (error.code === 'EAUTH') {
    const message = `the server refused our login (check the configured user and password): ${error.response ?? error.message}`;
    return Object.assign(new Error(message), { code: 'EAUTH', command: error.command ?? 'AUTH' }) as SmtpError;
  }
  return error;
}

function describe(error: SmtpError): DeliveryFailure & { command?: string; message: string } {
  // bounded before anything reads, logs or keeps it: the reply is the next hop's to write (up to MAX_RESPONSE_BYTES)
  const response = keptReply(error.response);
  return {
    code: error.code,
    originalCode: error.originalCode,
    responseCode: error.responseCode,
    response,
    command: error.command,
    message: response ?? keptReply(error.message) ?? 'the delivery failed',
  };
}

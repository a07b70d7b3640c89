// rspamd as a junk engine: the message file is streamed to its HTTP /checkv2 endpoint with the envelope in request
// headers (rspamd's protocol), and its action and score become our verdict and score, its symbols our reasons.
import { request } from 'node:http';
import { open } from 'node:fs/promises';
import type { Filter, FilterResult, MessageContext } from './types.ts';
import type { Verdict } from '../events.ts';
import { splitHostPort } from '../config/load.ts';

/** rspamd's answer is a small JSON object; more than this is not an answer to /checkv2. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Symbols listed as reasons, highest scores first (the decision trace keeps 20 reasons in all). */
const MAX_SYMBOL_REASONS = 15;

/** rspamd's actions (rspamd.com/doc/configuration/metrics.html) as verdicts; greylisting is not ours to do. */
const ACTIONS: Record<string, Verdict> = {
  reject: 'reject',
  'soft reject': 'tempfail',
  'rewrite subject': 'tag',
  'add header': 'tag',
  greylist: 'accept',
  'no action': 'accept',
};

export interface RspamdOptions {
  /** HOST:PORT of rspamd's normal (or proxy) worker, e.g. 127.0.0.1:11333. */
  address: string;
  /** Larger messages are not sent (rspamd's own limit is 50 MB; junk is small). */
  maxBytes: number;
  /** Our host name, sent as MTA-Name. */
  hostname?: string;
}

interface RspamdSymbol {
  name?: string;
  score?: number;
  description?: string;
  options?: string[];
}

/** What /checkv2 answers (the fields we read). */
export interface RspamdResponse {
  action?: string;
  score?: number;
  required_score?: number;
  symbols?: Record<string, RspamdSymbol>;
  messages?: { smtp_message?: string };
  is_skipped?: boolean;
}

/** The filter: name `rspamd`, a junk engine (an allow-listed sender skips it). */
export class RspamdFilter implements Filter {
  readonly name = 'rspamd';
  readonly role = 'junk' as const;
  private readonly host: string;
  private readonly port: number;

  constructor(private readonly options: RspamdOptions) {
    ({ host: this.host, port: this.port } = splitHostPort(options.address));
  }

  async check(message: MessageContext, signal: AbortSignal): Promise<FilterResult> {
    const file = await open(message.path, 'r');
    try {
      const { size } = await file.stat();
      if (size > this.options.maxBytes) {
        return { filter: this.name, verdict: 'accept', score: 0, reasons: [`not scanned: ${size} bytes is over the ${this.options.maxBytes}-byte limit for rspamd`] };
      }
      let response: RspamdResponse;
      try {
        response = await this.post(message, file, size, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        return { filter: this.name, verdict: 'tempfail', score: 0, reasons: [`rspamd at ${this.options.address} did not answer: ${(error as Error).message}`], unavailable: true };
      }
      return { filter: this.name, ...rspamdVerdict(response) };
    } finally {
      await file.close();
    }
  }

  private post(message: MessageContext, file: Awaited<ReturnType<typeof open>>, size: number, signal: AbortSignal): Promise<RspamdResponse> {
    const headers: Record<string, string | string[]> = {
      'Content-Length': String(size),
      IP: message.clientIp,
      From: message.sender,
      Rcpt: message.recipients,
      'Queue-Id': message.queueId,
    };
    if (message.helo) headers.Helo = message.helo;
    if (message.authenticatedUser) headers.User = message.authenticatedUser;
    if (this.options.hostname) headers['MTA-Name'] = this.options.hostname;
    return new Promise((resolve, reject) => {
      const req = request({ host: this.host, port: this.port, method: 'POST', path: '/checkv2', headers, signal }, (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > MAX_RESPONSE_BYTES) return req.destroy(new Error('answer too large'));
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
          try {
            const parsed = JSON.parse(body) as unknown;
            if (typeof parsed !== 'object' || parsed === null) throw new Error('not a JSON object');
            resolve(parsed as RspamdResponse);
          } catch (error) {
            reject(new Error(`unreadable answer: ${(error as Error).message}`));
          }
        });
      });
      req.on('error', reject);
      const body = file.createReadStream({ start: 0, end: Math.max(0, size - 1), autoClose: false });
      body.on('error', (error) => req.destroy(error));
      if (size === 0) req.end();
      else body.pipe(req);
    });
  }
}

/** rspamd's action, score and symbols as our verdict, score and reasons (pure; the unit tests feed it answers). */
export function rspamdVerdict(response: RspamdResponse): Omit<FilterResult, 'filter'> {
  const action = response.action ?? 'no action';
  const verdict = ACTIONS[action] ?? 'accept';
  const score = round(Number(response.score) || 0);
  const required = Number(response.required_score);
  const smtpMessage = response.messages?.smtp_message;
  const head = `rspamd: ${action}, score ${score}${Number.isFinite(required) ? ` / ${round(required)}` : ''}${smtpMessage ? ` (${smtpMessage})` : ''}`;
  const symbols = Object.entries(response.symbols ?? {})
    .map(([key, symbol]) => ({ name: symbol.name ?? key, score: Number(symbol.score) || 0, description: symbol.description }))
    .filter((symbol) => symbol.score !== 0 || action === 'reject' || action === 'soft reject')
    .sort((a, b) => Math.abs(b.score) - Math.abs(a.score) || a.name.localeCompare(b.name))
    .slice(0, MAX_SYMBOL_REASONS)
    .map((symbol) => `${symbol.name} ${symbol.score}${symbol.description ? ` ${symbol.description}` : ''}`);
  return { verdict, score, reasons: [head, ...symbols] };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** rspamd is local: one that has not answered /ping by then is not there (or is stuck). */
const PING_TIMEOUT_MS = 5_000;
/** /ping answers "pong"; more than this is something else on the port. */
const MAX_PING_BYTES = 1024;

/** GET /ping on rspamd's normal worker, as its own health checks do; resolves on "pong", else rejects with why. */
export function rspamdPing(address: string, timeoutMs = PING_TIMEOUT_MS): Promise<void> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method: 'GET', path: '/ping', signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > MAX_PING_BYTES) req.destroy(new Error('answer too large for /ping'));
      });
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode === 200 && body.trim() === 'pong') resolve();
        else reject(new Error(`/ping answered HTTP ${res.statusCode}: ${JSON.stringify(body.slice(0, 100))}`));
      });
    });
    req.on('error', (error) => reject((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError' ? new Error(`no answer to /ping within ${timeoutMs / 1000} s`) : error));
    req.end();
  });
}

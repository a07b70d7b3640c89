// SpamAssassin's spamd as a junk engine, over its own protocol (SPAMC/1.5, as spamc speaks it): a SYMBOLS request
// with the message streamed behind a Content-length header; the "Spam:" header of the answer gives the verdict and
// the score, the body the names of the rules that hit.
import { connect } from 'node:net';
import { open } from 'node:fs/promises';
import type { Filter, FilterResult, MessageContext } from './types.ts';
import { splitHostPort } from '../config/load.ts';

/** A SYMBOLS answer is a header block and one line of rule names; more than this is not an answer. */
const MAX_RESPONSE_BYTES = 256 * 1024;
/** Rule names listed as reasons (the decision trace keeps 20 reasons in all). */
const MAX_RULE_REASONS = 15;

export interface SpamdOptions {
  /** HOST:PORT of spamd, e.g. 127.0.0.1:783. */
  address: string;
  /** Larger messages are not sent (spamc's own default is 500 KB: SpamAssassin is slow on big mail, and junk is small). */
  maxBytes: number;
  /** Sent as spamd's User header (which user's preferences apply); none: spamd's default user. */
  user?: string;
}

/** spamd's answer, parsed. */
export interface SpamdResponse {
  /** 0 is EX_OK; anything else is spamd's error (EX_PROTOCOL 76, EX_TEMPFAIL 75, ...). */
  status: number;
  message: string;
  spam: boolean | null;
  score: number;
  threshold: number;
  rules: string[];
}

/** The filter: name `spamd`, a junk engine (an allow-listed sender skips it). */
export class SpamdFilter implements Filter {
  readonly name = 'spamd';
  readonly role = 'junk' as const;
  private readonly host: string;
  private readonly port: number;

  constructor(private readonly options: SpamdOptions) {
    ({ host: this.host, port: this.port } = splitHostPort(options.address));
  }

  async check(message: MessageContext, signal: AbortSignal): Promise<FilterResult> {
    const file = await open(message.path, 'r');
    try {
      const { size } = await file.stat();
      if (size > this.options.maxBytes) {
        return { filter: this.name, verdict: 'accept', score: 0, reasons: [`not scanned: ${size} bytes is over the ${this.options.maxBytes}-byte limit for spamd`] };
      }
      let raw: string;
      try {
        raw = await this.exchange(file, size, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        return { filter: this.name, verdict: 'tempfail', score: 0, reasons: [`spamd at ${this.options.address} did not answer: ${(error as Error).message}`], unavailable: true };
      }
      const response = parseSpamdResponse(raw);
      if (!response || response.status !== 0 || response.spam === null) {
        const why = response ? `${response.status} ${response.message}` : JSON.stringify(raw.slice(0, 100));
        return { filter: this.name, verdict: 'tempfail', score: 0, reasons: [`spamd at ${this.options.address} gave no verdict: ${why}`], unavailable: true };
      }
      return { filter: this.name, ...spamdVerdict(response) };
    } finally {
      await file.close();
    }
  }

  private exchange(file: Awaited<ReturnType<typeof open>>, size: number, signal: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      signal.throwIfAborted();
      const socket = connect({ host: this.host, port: this.port });
      const chunks: Buffer[] = [];
      let length = 0;
      const abort = () => socket.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal.addEventListener('abort', abort, { once: true });
      socket.on('connect', () => {
        const user = this.options.user ? `User: ${this.options.user.replace(/[\r\n]/g, '')}\r\n` : '';
        socket.write(`SYMBOLS SPAMC/1.5\r\nContent-length: ${size}\r\n${user}\r\n`);
        const body = file.createReadStream({ start: 0, end: Math.max(0, size - 1), autoClose: false });
        body.on('error', (error) => socket.destroy(error));
        // spamd reads exactly Content-length octets; half-closing tells older versions the message is complete
        if (size === 0) socket.end();
        else body.pipe(socket);
      });
      socket.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > MAX_RESPONSE_BYTES) return socket.destroy(new Error('answer too large'));
        chunks.push(chunk);
      });
      socket.on('error', (error) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      });
      socket.on('end', () => {
        signal.removeEventListener('abort', abort);
        resolve(Buffer.concat(chunks).toString('latin1'));
      });
    });
  }
}

/** Reads "SPAMD/1.1 0 EX_OK", its headers ("Spam: True ; 1003.3 / 5.0") and the body (comma-separated rule names). */
export function parseSpamdResponse(raw: string): SpamdResponse | null {
  const headerEnd = raw.indexOf('\r\n\r\n');
  const head = headerEnd >= 0 ? raw.slice(0, headerEnd) : raw.replace(/\r\n$/, '');
  const body = headerEnd >= 0 ? raw.slice(headerEnd + 4) : '';
  const [statusLine, ...headerLines] = head.split('\r\n');
  const status = /^SPAMD\/\d+\.\d+ (\d+) ?(.*)$/.exec(statusLine ?? '');
  if (!status) return null;
  const response: SpamdResponse = { status: Number(status[1]), message: status[2] ?? '', spam: null, score: 0, threshold: 0, rules: [] };
  for (const line of headerLines) {
    const spam = /^Spam:\s*(True|False|Yes|No)\s*;\s*(-?\d+(?:\.\d+)?)\s*\/\s*(-?\d+(?:\.\d+)?)\s*$/i.exec(line);
    if (!spam) continue;
    response.spam = /^(true|yes)$/i.test(spam[1]!);
    response.score = Number(spam[2]);
    response.threshold = Number(spam[3]);
  }
  response.rules = body
    .split(/[,\s]+/)
    .map((rule) => rule.trim())
    .filter((rule) => /^[A-Za-z0-9_]{1,100}$/.test(rule));
  return response;
}

/** spamd's verdict as ours: over its threshold is junk (tagged); the policy's score thresholds decide the rest. */
export function spamdVerdict(response: SpamdResponse): Omit<FilterResult, 'filter'> {
  const score = Math.round(response.score * 100) / 100;
  const head = `spamd: ${response.spam ? 'spam' : 'not spam'}, score ${score} / ${response.threshold}`;
  const rules = response.rules.slice(0, MAX_RULE_REASONS).map((rule) => `${rule} (SpamAssassin rule)`);
  return { verdict: response.spam ? 'tag' : 'accept', score, reasons: [head, ...rules] };
}

/** spamd is local: one that has not answered PING by then is not there (or is stuck). */
const PING_TIMEOUT_MS = 5_000;
/** "SPAMD/1.5 0 PONG\r\n"; more than this is something else on the port. */
const MAX_PING_BYTES = 1024;

/** spamd's PING (as spamc -K sends it); resolves on "SPAMD/x.y 0 PONG", else rejects with why. */
export function spamdPing(address: string, timeoutMs = PING_TIMEOUT_MS): Promise<void> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve, reject) => {
    let answer = '';
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const socket = connect({ host, port });
    const timer = setTimeout(() => finish(new Error(`no answer to PING within ${timeoutMs / 1000} s`)), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.end('PING SPAMC/1.5\r\n\r\n'));
    socket.on('data', (chunk: string) => {
      answer += chunk;
      if (/^SPAMD\/\d+\.\d+ 0 PONG\r?\n/.test(answer)) finish();
      else if (answer.length > MAX_PING_BYTES || answer.includes('\n')) finish(new Error(`PING answered ${JSON.stringify(answer.split('\n')[0]!.slice(0, 100))}`));
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(answer ? `PING answered ${JSON.stringify(answer.slice(0, 100))}` : 'the connection closed without an answer to PING')));
  });
}

import { createReadStream } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { Filter, FilterResult, MessageContext, SealedPass } from './types.ts';
import { splitHostPort } from '../config/load.ts';

/**
 * INSTREAM chunk size. clamd reads each chunk whole into its buffer; 64 KiB keeps the number of writes low
 * without making any one large (clamd's own clamdscan uses the same order of size).
 */
const CHUNK_BYTES = 64 * 1024;
/** A clamd reply is one short line ("stream: Eicar-Test-Signature FOUND"); more than this is not clamd. */
const MAX_REPLY_BYTES = 4096;
/** How long the VERSION probe waits (it is answered from memory). */
const VERSION_TIMEOUT_MS = 5000;

export interface ClamavOptions {
  /** A unix socket path (`/run/clamav/clamd.ctl`) or `host:port`. */
  address: string;
  infected: 'reject' | 'quarantine';
  /** Scanner errors, limits exceeded, encrypted archives, Heuristics.* results: never "clean". */
  onProblem: 'quarantine' | 'tempfail';
  /** Largest message sent to clamd; must not exceed clamd's StreamMaxLength. Larger ones are a problem. */
  streamMaxBytes: number;
  /** A zip that is only password-protected is no problem (the office's own mail, `submission.encryptedArchives: send`). */
  encryptedArchivesPass?: SealedPass;
}

/** Where to connect: a path (contains a slash) or host:port. */
export function clamdEndpoint(address: string): { path: string } | { host: string; port: number } {
  if (address.includes('/')) return { path: address };
  return splitHostPort(address);
}

class ClamdUnreachable extends Error {}

function open(address: string, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const endpoint = clamdEndpoint(address);
    const socket = 'path' in endpoint ? connect({ path: endpoint.path }) : connect({ host: endpoint.host, port: endpoint.port });
    const onAbort = () => socket.destroy(new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (error: Error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new ClamdUnreachable(`clamd at ${address} is unreachable: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
    };
    socket.once('error', onError);
    socket.once('close', () => signal?.removeEventListener('abort', onAbort));
  });
}

/** Collects clamd's NUL-terminated reply (the z-prefixed commands end replies with NUL). */
function readReply(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      const end = reply.indexOf(0);
      if (end !== -1 || reply.length > MAX_REPLY_BYTES) {
        resolve(reply.subarray(0, end === -1 ? MAX_REPLY_BYTES : end).toString('utf8').trim());
        socket.end();
      }
    });
    socket.once('error', reject);
    socket.once('close', () => (reply.length ? resolve(reply.toString('utf8').replace(/\0.*$/s, '').trim()) : reject(new Error('clamd closed the connection without an answer'))));
  });
}

/** Streams the file as INSTREAM chunks (4-byte big-endian length, data), then the zero-length end marker. */
async function sendFile(socket: Socket, path: string, signal: AbortSignal, answered: () => boolean): Promise<void> {
  const write = (data: Buffer) => (socket.write(data) ? Promise.resolve() : new Promise<void>((resolve) => socket.once('drain', resolve)));
  await write(Buffer.from('zINSTREAM\0'));
  const header = (length: number) => {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(length);
    return buffer;
  };
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES, signal })) {
    // clamd answers early when the stream passes StreamMaxLength; it then closes, so stop writing
    if (answered() || socket.destroyed) return;
    await write(Buffer.concat([header((chunk as Buffer).length), chunk as Buffer]));
  }
  if (!answered() && !socket.destroyed) await write(header(0));
}

/** ClamAV's clamd over a unix socket or TCP (INSTREAM): the raw message, which clamd decodes (MIME, base64, zip) itself. */
export class ClamavFilter implements Filter {
  readonly name = 'clamav';
  readonly role = 'virus';

  constructor(private readonly options: ClamavOptions) {}

  async check(message: MessageContext, signal: AbortSignal): Promise<FilterResult> {
    if (message.size > this.options.streamMaxBytes) {
      return this.problem(`message too large to scan (${message.size} bytes, limit ${this.options.streamMaxBytes})`);
    }
    let socket: Socket;
    try {
      socket = await open(this.options.address, signal);
    } catch (error) {
      return { filter: this.name, verdict: 'tempfail', score: 0, reasons: [(error as Error).message], unavailable: true };
    }
    let reply: string;
    try {
      let done = false;
      const replied = readReply(socket).finally(() => (done = true));
      replied.catch(() => {});
      await sendFile(socket, message.path, signal, () => done).catch((error: Error) => {
        if (!done) throw error;
      });
      reply = await replied;
    } catch (error) {
      socket.destroy();
      if (signal.aborted) throw error;
      return this.problem(`scan failed: ${(error as Error).message}`);
    }
    const result = this.interpret(reply);
    // what our parser found and clamd cannot open: an encrypted archive is never "clean"
    if (result.verdict === 'accept') {
      const pass = this.options.encryptedArchivesPass?.(message) === true;
      const encrypted = (message.mime?.parts ?? []).find(
        (part) => part.archive?.members.some((member) => member.encrypted) && !(pass && part.archive.onlyEncrypted),
      );
      if (encrypted) return this.problem(`encrypted archive "${encrypted.filename ?? `part ${encrypted.part}`}" cannot be scanned`);
    }
    return result;
  }

  /** clamd's reply: "stream: OK", "stream: NAME FOUND", "...ERROR". */
  private interpret(reply: string): FilterResult {
    const found = /^stream: (.+) FOUND$/.exec(reply);
    if (found) {
      const name = found[1]!;
      if (/^Heuristics\./.test(name)) return this.problem(`ClamAV could not rule out a threat: ${name}`);
      return { filter: this.name, verdict: this.options.infected, score: 0, reasons: [`virus found: ${name}`] };
    }
    if (/^stream: OK$/.test(reply)) return { filter: this.name, verdict: 'accept', score: 0, reasons: [] };
    if (/size limit exceeded/i.test(reply)) return this.problem("message larger than clamd's StreamMaxLength");
    return this.problem(`clamd answered: ${reply.slice(0, 200)}`);
  }

  private problem(reason: string): FilterResult {
    return { filter: this.name, verdict: this.options.onProblem, score: 0, reasons: [`not scanned: ${reason}`] };
  }
}

export interface ClamdVersion {
  /** "ClamAV 1.4.6" */
  engine: string;
  /** Signature database version, when clamd loaded the official databases. */
  signatures: string | null;
  /** When the loaded signatures were built (what the patch checklist shows as the signature age). */
  signatureDate: Date | null;
  raw: string;
}

/** clamd's VERSION: "ClamAV 1.4.6/27450/Tue Nov 24 09:26:02 2026" (or just "ClamAV 1.4.6" with private databases). */
export async function clamdVersion(address: string, timeoutMs = VERSION_TIMEOUT_MS): Promise<ClamdVersion> {
  const signal = AbortSignal.timeout(timeoutMs);
  const socket = await open(address, signal);
  try {
    const replied = readReply(socket);
    socket.write('zVERSION\0');
    const raw = await Promise.race([
      replied,
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`clamd gave no VERSION within ${timeoutMs} ms`)), { once: true })),
    ]);
    const [engine, signatures, date] = raw.split('/');
    const parsed = date ? new Date(`${date} UTC`) : null;
    return { engine: engine ?? raw, signatures: signatures ?? null, signatureDate: parsed && !Number.isNaN(parsed.getTime()) ? parsed : null, raw };
  } finally {
    socket.destroy();
  }
}

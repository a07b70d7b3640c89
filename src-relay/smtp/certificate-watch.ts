// The listeners' certificate after start: renewal tools (certbot, win-acme, an admin with cp) overwrite the PEM files in
// place, and a relay that read them once would serve the old certificate until a restart. The files are looked at
// (stat only) on a timer and read again when they changed; SIGHUP reads them at once. A pair that cannot be used (the
// certificate written, the key not yet) never replaces the one in use: new connections get a new pair only once a
// matching, valid one is readable, and connections already in TLS keep the context they started with.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import { CertificateProblem, inspectCertificatePair } from './certificate.ts';
import type { TlsPair } from './tls.ts';

/** How often the files are looked at (two stat calls): a renewed certificate is served within a minute. */
export const CERTIFICATE_CHECK_MS = 60_000;

/** The pair the listeners serve, with what the log and the monitor say about it. */
export interface ServedPair extends TlsPair {
  /** SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
  subject: string;
  validTo: number;
  /** When this pair was read (ms). */
  loadedAt: number;
}

export type ReloadOutcome = 'reloaded' | 'unchanged' | 'failed';

export interface CertificateWatchOptions {
  certPath: string;
  keyPath: string;
  /** The pair read at start (what the listeners were created with). */
  initial: TlsPair;
  logger: Logger;
  clock?: () => number;
  checkEveryMs?: number;
}

/** The certificate files' identity: inode, size and mtime of each, or why one cannot be looked at. */
function filesStamp(paths: readonly string[]): string {
  return paths
    .map((path) => {
      try {
        const stat = statSync(path);
        return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
      } catch (error) {
        return `missing:${(error as NodeJS.ErrnoException).code ?? 'error'}`;
      }
    })
    .join('|');
}

/** Facts about a PEM certificate (its first block: the server's own). */
export function describePair(pair: TlsPair, loadedAt: number): ServedPair {
  const cert = new X509Certificate(pair.cert);
  return {
    ...pair,
    fingerprint: cert.fingerprint256,
    subject: cert.subject.split('\n').filter(Boolean).join(', '),
    validTo: Date.parse(cert.validTo),
    loadedAt,
  };
}

/**
 * Keeps the pair the listeners serve in step with its files. `onChange` subscribers (the listeners, the monitor) get
 * each new pair once it is known to work.
 */
export class CertificateWatch {
  private served: ServedPair;
  private stamp: string;
  private timer: NodeJS.Timeout | null = null;
  private readonly subscribers: ((pair: ServedPair) => void)[] = [];
  private readonly clock: () => number;
  private readonly checkEveryMs: number;

  constructor(private readonly options: CertificateWatchOptions) {
    this.clock = options.clock ?? Date.now;
    this.checkEveryMs = options.checkEveryMs ?? CERTIFICATE_CHECK_MS;
    this.served = describePair(options.initial, this.clock());
    this.stamp = filesStamp([options.certPath, options.keyPath]);
  }

  get current(): ServedPair {
    return this.served;
  }

  onChange(subscriber: (pair: ServedPair) => void): void {
    this.subscribers.push(subscriber);
  }

  start(): void {
    if (this.timer || this.checkEveryMs <= 0) return;
    this.timer = setInterval(() => this.check(), this.checkEveryMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the files again when their inode, size or mtime changed since last looked at; a stat otherwise. */
  check(): ReloadOutcome {
    const stamp = filesStamp([this.options.certPath, this.options.keyPath]);
    if (stamp === this.stamp) return 'unchanged';
    return this.load(stamp, 'files changed');
  }

  /** Reads the files now, changed or not (SIGHUP); always logs what came of it. */
  reload(reason: string): ReloadOutcome {
    return this.load(filesStamp([this.options.certPath, this.options.keyPath]), reason, true);
  }

  /**
   * `stamp` is taken before the files are read: a file written while they are read has a newer stamp, so the next
   * check reads it again. A pair that fails is not tried again until its files change (one log line, not one a minute).
   */
  private load(stamp: string, reason: string, loud = false): ReloadOutcome {
    this.stamp = stamp;
    const { certPath, keyPath, logger } = this.options;
    const now = this.clock();
    let next: ServedPair;
    try {
      const cert = readFileSync(certPath);
      const key = readFileSync(keyPath);
      inspectCertificatePair(cert.toString('utf8'), key.toString('utf8'), now);
      // what the listeners will do with it: a pair node:tls refuses must fail here, not at a client's handshake
      createSecureContext({ cert, key });
      next = describePair({ cert, key, selfSigned: this.served.selfSigned }, now);
    } catch (error) {
      const why = error instanceof CertificateProblem || (error as NodeJS.ErrnoException).code ? (error as Error).message : `the pair cannot be used: ${(error as Error).message}`;
      logger.error(
        { cert: certPath, key: keyPath, reason, error: why, serving: this.served.fingerprint, validTo: new Date(this.served.validTo).toISOString() },
        'CERTIFICATE_RELOAD_FAILED',
      );
      return 'failed';
    }
    if (next.fingerprint === this.served.fingerprint && next.key.equals(this.served.key)) {
      if (loud) logger.info({ reason, fingerprint: next.fingerprint, validTo: new Date(next.validTo).toISOString() }, 'CERTIFICATE_UNCHANGED');
      return 'unchanged';
    }
    const previous = this.served;
    this.served = next;
    logger.info(
      { reason, subject: next.subject, fingerprint: next.fingerprint, validTo: new Date(next.validTo).toISOString(), previous: previous.fingerprint },
      'CERTIFICATE_RELOADED',
    );
    for (const subscriber of this.subscribers) {
      try {
        subscriber(next);
      } catch (error) {
        logger.error({ error: (error as Error).message }, 'CERTIFICATE_SWAP_FAILED');
      }
    }
    return 'reloaded';
  }
}

/** A fingerprint of a PEM certificate's first block (the server's own), for comparing what is served with the files. */
export function certificateFingerprint(pem: Buffer | string): string | null {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return null;
  }
}

import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { splitHostPort } from '../config/load.ts';
import type { Logger } from '../log/logger.ts';
import type { Queue } from '../queue/queue.ts';
import type { RelayEvents } from '../events.ts';
import type { Db } from '../store/db.ts';
import type { TlsPair } from '../smtp/tls.ts';
import { AccountStore } from '../auth/account-store.ts';
import { Authenticator } from '../auth/authenticator.ts';
import { CircuitBreaker } from '../auth/circuit-breaker.ts';
import { DkimKeyStore } from '../dkim/keys.ts';
import { DkimSigner } from '../dkim/sign.ts';
import { SubmissionListener, type SubmissionPort } from './listener.ts';
import { TrustedNetworks } from '../util/networks.ts';
import type { FilterPipeline } from '../filters/pipeline.ts';

/** How often old login history and spent failure counters are dropped while the relay runs. */
const PRUNE_EVERY_MS = 3600_000;

export interface SubmissionOptions {
  config: Config;
  dataDir: string;
  db: Db;
  queue: Queue;
  tls: TlsPair;
  hostname: string;
  logger: Logger;
  events: RelayEvents;
  clock?: () => number;
  /** The log-in's password check (tests count the checks); scrypt otherwise. */
  verifyPassword?: (password: string, hash: string) => Promise<boolean>;
  /** The virus scanner and attachment rules for submitted mail (createSubmissionScan); none when absent. */
  scan?: FilterPipeline | null;
  /** The EHLO name of the open-relay self-test's probes (monitor/self-test.ts), not counted nor tracked. */
  selfTestHelo?: string;
}

/** Where the submission listeners ended up; a listener that is not configured is absent. */
export type SubmissionAddresses = Partial<Record<SubmissionPort, string>>;

export interface Submission {
  readonly addresses: SubmissionAddresses;
  readonly accounts: AccountStore;
  /** Serves a renewed certificate on the connections that start TLS from now on. */
  useCertificate(pair: TlsPair): void;
  stop(): Promise<void>;
}

/** Where DKIM keys live in a data directory. */
export function dkimDir(dataDir: string): string {
  return join(dataDir, 'dkim');
}

/**
 * Starts the submission listeners that are configured (`submission.listen` for 587, `submission.tlsListen` for 465).
 * None is started otherwise, even when accounts exist: opening a port on a DMZ box is the administrator's decision.
 */
export async function startSubmission(options: SubmissionOptions): Promise<Submission> {
  const { config, logger, events } = options;
  const clock = options.clock ?? Date.now;
  const accounts = new AccountStore(options.db);
  const settings = config.submission;
  accounts.prune(clock(), settings.login.windowMinutes * 60_000);
  const wanted = ([['submission', settings.listen], ['submissions', settings.tlsListen]] as const).filter(
    (entry): entry is readonly [SubmissionPort, string] => entry[1] !== undefined,
  );
  if (wanted.length === 0) {
    const users = accounts.count();
    if (users > 0) logger.warn({ users }, 'SUBMISSION_OFF');
    return { addresses: {}, accounts, useCertificate: () => {}, stop: async () => {} };
  }
  const authenticator = new Authenticator({ accounts, policy: settings.login, events, logger, clock, verify: options.verifyPassword });
  const breaker = new CircuitBreaker({ accounts, limits: settings.accountLimits, events, logger, clock });
  const trusted = new TrustedNetworks(settings.trustedNetworks);
  const dkim = new DkimSigner(new DkimKeyStore(dkimDir(options.dataDir)));
  const listeners: SubmissionListener[] = [];
  const addresses: SubmissionAddresses = {};
  try {
    for (const [port, listen] of wanted) {
      const listener = new SubmissionListener({ ...options, clock, port, accounts, authenticator, breaker, trusted, dkim, scan: options.scan ?? null });
      const { host, port: number } = splitHostPort(listen);
      listeners.push(listener);
      addresses[port] = formatAddress(await listener.listen(host, number));
    }
  } catch (error) {
    await Promise.all(listeners.map((listener) => listener.stop()));
    throw error;
  }
  if (accounts.count() === 0 && trusted.size === 0) logger.warn({}, 'SUBMISSION_NO_USERS');
  // counters of names that were guessed once (a spray of made-up names) must not pile up between restarts
  const pruning = setInterval(() => {
    try {
      accounts.prune(clock(), settings.login.windowMinutes * 60_000);
    } catch (error) {
      logger.error({ error: (error as Error).message }, 'AUTH_PRUNE_FAILED');
    }
  }, PRUNE_EVERY_MS);
  pruning.unref();
  return {
    addresses,
    accounts,
    useCertificate: (pair) => {
      for (const listener of listeners) listener.useCertificate(pair);
    },
    stop: async () => {
      clearInterval(pruning);
      await Promise.all(listeners.map((listener) => listener.stop()));
    },
  };
}

export function formatAddress(bound: AddressInfo): string {
  return bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
}

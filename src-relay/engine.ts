import { existsSync, mkdirSync } from 'node:fs';
import { promises as dns } from 'node:dns';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from './config/schema.ts';
import { splitHostPort } from './config/load.ts';
import { resolveLogger, type Logger } from './log/logger.ts';
import { STATE_KEYS } from './store/state-store.ts';
import { openDatabase, type Db } from './store/db.ts';
import { lockDataDir } from './store/data-dir-lock.ts';
import { QueueStore } from './store/queue-store.ts';
import { Spool } from './store/spool.ts';
import { Queue } from './queue/queue.ts';
import { Deliverer } from './queue/delivery.ts';
import type { Resolver } from './util/resolver.ts';
import { Scheduler } from './queue/scheduler.ts';
import { MxListener } from './smtp/mx-listener.ts';
import { createFilterThread, createOptionalFilters } from './filters/optional-filters.ts';
import { STREAM_CHUNK_BYTES } from './filters/message-source.ts';
import { SenderAuthWorker } from './filters/sender-auth-worker.ts';
import { loadOrCreateTls, tlsPaths } from './smtp/tls.ts';
import { CertificateWatch, type ReloadOutcome, type ServedPair } from './smtp/certificate-watch.ts';
import { createRelayEvents, type RelayEvents, type RouteState } from './events.ts';
import { startSubmission } from './submission/index.ts';
import { createContentPipeline, createSubmissionScan } from './filters/content-filters.ts';
import type { Filter } from './filters/types.ts';
import { SenderLists } from './filters/sender-lists.ts';
import { PersonalLists } from './filters/personal-lists.ts';
import { Quarantine } from './quarantine/quarantine.ts';
import { QuarantineDigest, DIGEST_CHECK_MS } from './quarantine/digest.ts';
import { Monitor, type MonitorOptions } from './monitor/index.ts';
import type { ListenerState } from './monitor/types.ts';
import { backupLog } from './monitor/monitor-store.ts';
import { selfTestHelo } from './monitor/self-test.ts';
import { BackupScheduler, type BackupLog } from './backup/schedule.ts';
import { UserLinks } from './quarantine/user-links.ts';
import { UserPage } from './quarantine/user-page.ts';

export interface RelayOptions {
  /** DNS for MX delivery; tests pass fixture records so no real DNS is asked. */
  resolver?: Resolver;
  logger?: Logger | boolean;
  clock?: () => number;
  /** What the monitor probes and calls (commands, disk, hooks of later issues); tests replace parts of it. */
  monitor?: MonitorOptions;
  /** Content filters run beside the configured ones (tests add failing or slow ones). */
  filters?: Filter[];
  /** The submission log-in's password check; tests pass a spy that counts how many checks ran. */
  verifyPassword?: (password: string, hash: string) => Promise<boolean>;
  /**
   * The admin listener's state, which the monitor probes. The listener is not the engine's: its owner (the admin host,
   * which keeps it across restarts and before setup) reports it here. Without it the engine reports none.
   */
  adminListener?: () => ListenerState;
  /** How often the certificate files are looked at for a renewal (ms; default smtp/certificate-watch.ts, 0: never); tests shorten it. */
  certificateCheckMs?: number;
  /** How often the users' page tries its address again after it could not bind it (ms; default ADMIN_RETRY_BIND_MS); tests shorten it. */
  userPageRetryBindMs?: number;
  /** How long a message preview's MIME walk may take (ms; default PREVIEW_DEADLINE_MS); tests shorten it. */
  previewDeadlineMs?: number;
}

const NO_ADMIN_LISTENER: ListenerState = { address: null, error: null };

/**
 * Spool files without a row that a crash alone explains: those renamed into msg/ but not yet committed, at most the
 * messages finishing at once (10 a listener, more after a wait, smtp/pacing.ts). Past this the log line is an error.
 */
const ORPHANS_EXPECTED_AFTER_CRASH = 64;

/** Quarantined messages past their retention are looked for this often (and at start). */
const QUARANTINE_EXPIRY_MS = 3600 * 1000;

export interface Relay {
  readonly config: Config;
  readonly dataDir: string;
  readonly queue: Queue;
  /** The data directory's database connection, for the areas' own stores (accounts, sender lists). */
  readonly database: Db;
  readonly events: RelayEvents;
  /** Metrics, alerts, the patch-status checklist. */
  readonly monitor: Monitor;
  /** Scheduled backups (and a backup now, for the admin); they record each run where the monitor reads it. */
  readonly backups: BackupScheduler;
  /** Quarantined messages: list, preview, release, delete (expiry runs by itself). */
  readonly quarantine: Quarantine;
  /** The users' quarantine digest: sent by itself on its schedule (quarantine.digest); `send` sends one now. */
  readonly digest: QuarantineDigest;
  /** The end users' quarantine page, when `quarantine.userPage.listen` is set. */
  readonly userPage: UserPage | null;
  /** Where the listeners ended up (port 0 resolved); the submission listeners only when configured. */
  readonly addresses: { mx: string; submission?: string; submissions?: string; readonly admin: string | null };
  routeStates(): RouteState[];
  /** The certificate the listeners serve. */
  certificate(): ServedPair;
  /** Reads the certificate files now (SIGHUP): a valid, matching pair is served to new connections; a bad one is logged and the old pair stays. */
  reloadCertificate(reason: string): ReloadOutcome;
  /** Called with each new pair the listeners serve (the admin listener follows it when it has no pair of its own). */
  onCertificateChange(subscriber: (pair: ServedPair) => void): void;
  /** Messages whose spool file was missing or torn at start (raised loudly; not delivered). */
  readonly damaged: string[];
  stop(): Promise<void>;
}

/** The paths a data directory holds. */
export function dataPaths(dataDir: string) {
  return { config: join(dataDir, 'moat.json'), spool: join(dataDir, 'spool'), db: join(dataDir, 'moat.db') };
}

/**
 * Why a command that reads the relay's data cannot run on `dataDir`: it holds no moat.db (a typo, or the default
 * folder of a relay whose data is elsewhere). Opening it would make an empty store and report an empty queue.
 */
export function missingStore(dataDir: string): string | null {
  if (existsSync(dataPaths(dataDir).db)) return null;
  return `no Moat data in ${dataDir} (it holds no moat.db): give --data-dir the folder \`moat serve\` uses`;
}

/** Opens the store of a data dir without starting anything: what the CLI's queue commands work on. */
export function openStore(dataDir: string, config: Config, logger: Logger, clock: () => number = Date.now) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db: Db = openDatabase(dataDir);
  const store = new QueueStore(db);
  const spool = new Spool(dataPaths(dataDir).spool);
  const queue = new Queue({ store, spool, hostname: config.hostname ?? osHostname(), domains: new Set(config.domains), logger, clock });
  return { db, queue };
}

/**
 * The store with the domains `serve` last ran with, unless this command gave its own (`givenDomains`): a relay
 * whose domains come from `serve --domain` alone has none in its config file, and a command without them would
 * take every recipient for an outside one.
 */
export function openServedStore(dataDir: string, config: Config, logger: Logger, givenDomains: boolean) {
  const store = openStore(dataDir, config, logger);
  const served = givenDomains ? undefined : store.queue.store.getState(STATE_KEYS.servedDomains);
  if (served === undefined || served === JSON.stringify(config.domains)) return { ...store, config };
  store.db.close();
  const servedConfig: Config = { ...config, domains: JSON.parse(served) as string[] };
  return { ...openStore(dataDir, servedConfig, logger), config: servedConfig };
}

/** Composition root: the store, the queue, delivery and the inbound listener, started in that order. */
export async function createRelay(config: Config, dataDir: string, options: RelayOptions = {}): Promise<Relay> {
  const logger = resolveLogger(options.logger);
  const clock = options.clock ?? Date.now;
  const hostname = config.hostname ?? osHostname();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // before anything reads the spool: another relay's new files are no leftovers (store/data-dir-lock.ts)
  const lock = lockDataDir(dataDir);
  let opened: ReturnType<typeof openStore>;
  try {
    opened = openStore(dataDir, config, logger, clock);
  } catch (error) {
    lock.release();
    throw error;
  }
  const { db, queue } = opened;
  const events = createRelayEvents();
  // what has been started, undone in reverse when a later step fails (a full disk at start): nothing may run on
  // after the database is closed
  const undo: (() => unknown)[] = [];
  try {
    const { removed, orphans, damaged } = await queue.recover();
    if (removed > 0) logger.info({ files: removed }, 'SPOOL_CLEANED');
    if (orphans.length > 0) {
      const dir = queue.spool.orphansDir;
      const why = `${orphans.length} spool file(s) have no queue row and were set aside in ${dir} for 30 days; a crash before a commit leaves a few (never acknowledged), many mean the database lost rows`;
      (orphans.length > ORPHANS_EXPECTED_AFTER_CRASH ? logger.error : logger.warn)({ files: orphans.length, dir, detail: why }, 'SPOOL_ORPHANS_SET_ASIDE');
    }
    const deliverer = new Deliverer({ config, hostname, spool: queue.spool, resolver: options.resolver ?? dns, logger, addedHeaders: (id) => queue.store.addedHeaders(id) });
    const scheduler = new Scheduler({ queue, deliverer, config, logger, clock, events });
    const tls = await loadOrCreateTls(dataDir, hostname, config.mx.tls.cert, config.mx.tls.key);
    const paths = tlsPaths(dataDir, config.mx.tls.cert, config.mx.tls.key);
    const certificate = new CertificateWatch({ certPath: paths.cert, keyPath: paths.key, initial: tls, logger, clock, checkEveryMs: options.certificateCheckMs });
    // started when the first client is let in: the MIME walk and sender authentication, off the SMTP thread
    const thread = createFilterThread(config, {
      resolver: options.resolver ?? dns,
      hostname,
      onStopped: (why) => logger.warn({ error: why }, 'FILTER_THREAD_STOPPED'),
      onStarted: () => logger.info({}, 'FILTER_THREAD_STARTED'),
    });
    undo.push(() => thread.stop());
    const optional = createOptionalFilters(config, { hostname, thread });
    const senderAuth = optional.find((filter) => filter instanceof SenderAuthWorker) ?? null;
    const filters = createContentPipeline(config, {
      db,
      logger,
      hostname,
      filters: [...optional, ...(options.filters ?? [])],
      clock,
      parse: (path, signal, read, input) => thread.parse(path, signal, read, senderAuth?.threadMessage(input)),
    });
    const probeHelo = selfTestHelo();
    const personalLists = new PersonalLists(db);
    const mx = new MxListener({ config, hostname, queue, tls, logger, events, clock, filters, resolver: options.resolver ?? dns, selfTestHelo: probeHelo, personalLists, senderAuth, warmFilters: () => thread.warm() });
    // a preview reads the file in the walk's large chunks (no size given, it would read 16 KB at a time)
    const quarantine = new Quarantine({ queue, senders: new SenderLists(db), personal: personalLists, hostname, ownDomains: config.domains, logger, clock, walk: (path, signal) => thread.parse(path, signal, { size: STREAM_CHUNK_BYTES }), previewDeadlineMs: options.previewDeadlineMs });
    const monitor = new Monitor({ config, dataDir, hostname, db, queue, events, logger, clock, certificate, routeStates: () => scheduler.routeStates(), selfTestHelo: probeHelo, options: options.monitor });
    const log = backupLog(monitor.store);
    // the checklist's backup item is looked at again at once: it used to say "no backup" until its next run (6 h)
    const backupWritten: BackupLog['succeeded'] = (summary) => {
      log.succeeded(summary);
      monitor.recheck('backup-age');
    };
    const backups = new BackupScheduler({ config, dataDir, db, log: { ...log, succeeded: backupWritten }, clock, logger });
    const { host, port } = splitHostPort(config.mx.listen);
    const bound = await mx.listen(host, port);
    undo.push(() => mx.stop());
    const scan = createSubmissionScan(config, { logger, parse: (path, signal, read) => thread.parse(path, signal, read) });
    const submission = await startSubmission({ config, dataDir, db, queue, tls, hostname, logger, events, clock, verifyPassword: options.verifyPassword, scan, selfTestHelo: probeHelo });
    undo.push(() => submission.stop());
    certificate.onChange((pair) => {
      mx.useCertificate(pair);
      submission.useCertificate(pair);
    });
    certificate.start();
    undo.push(() => certificate.stop());
    const userPage = config.quarantine.userPage.listen
      ? new UserPage({ config: config.quarantine.userPage, ownDomains: config.domains, quarantine, links: await UserLinks.open(dataDir), logger, clock, retryBindMs: options.userPageRetryBindMs, onBoundAfterFailure: () => monitor.recheck('user-page') })
      : null;
    // like the admin listener: an address that cannot be bound is logged and retried, the mail keeps flowing
    await userPage?.start();
    undo.push(() => userPage?.stop());
    scheduler.start();
    undo.push(() => scheduler.stop(0));
    const expireQuarantine = () => void quarantine.expire(config.quarantine.retentionDays).catch((error: Error) => logger.error({ error: error.message }, 'QUARANTINE_EXPIRY_FAILED'));
    expireQuarantine();
    const quarantineTimer = setInterval(expireQuarantine, QUARANTINE_EXPIRY_MS).unref();
    const digest = new QuarantineDigest({ queue, config, dataDir, hostname, logger, clock });
    // checked at start too: a relay that was down at the digest's time sends the day's digest when it comes back
    const digestCheck = () => void digest.tick();
    digestCheck();
    const digestTimer = setInterval(digestCheck, DIGEST_CHECK_MS).unref();
    undo.push(() => {
      clearInterval(quarantineTimer);
      clearInterval(digestTimer);
      return digest.idle();
    });
    const mxAddress = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
    const adminListener = options.adminListener ?? (() => NO_ADMIN_LISTENER);
    undo.push(() => monitor.stop());
    monitor.start({ mx: mxAddress, submission: submission.addresses, admin: adminListener, userPage: () => (userPage ? { address: userPage.address, error: userPage.error } : null) });
    undo.push(() => backups.stop());
    backups.start();
    logger.info({ mx: mxAddress, ...submission.addresses, queued: queue.store.summary().size, damaged: damaged.length }, 'STARTED');
    let stopping: Promise<void> | null = null;
    return {
      config,
      dataDir,
      queue,
      database: db,
      events,
      monitor,
      backups,
      quarantine,
      digest,
      userPage,
      damaged,
      addresses: { mx: mxAddress, ...submission.addresses, get admin() { return adminListener().address; } },
      routeStates: () => scheduler.routeStates(),
      certificate: () => certificate.current,
      reloadCertificate: (reason) => certificate.reload(reason),
      onCertificateChange: (subscriber) => certificate.onChange(subscriber),
      stop() {
        stopping ??= (async () => {
          certificate.stop();
          clearInterval(quarantineTimer);
          clearInterval(digestTimer);
          await Promise.all([mx.stop(), submission.stop(), userPage?.stop()]);
          await thread.stop();
          await scheduler.stop(config.shutdownGraceSec * 1000);
          await backups.stop();
          await monitor.stop();
          await digest.idle();
          queue.flushHistory();
          db.close();
          lock.release();
          logger.info({}, 'STOPPED');
        })();
        return stopping;
      },
    };
  } catch (error) {
    for (const step of undo.reverse()) await Promise.resolve().then(step).catch(() => {});
    try {
      queue.flushHistory();
    } catch {
      // the start failed already (a full disk, likely this too): its reason is the one to report
    }
    db.close();
    lock.release();
    throw error;
  }
}

import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { promises as dns } from 'node:dns';
import { passphraseFileProblems } from '../config/passphrase-file.ts';
import { alertRuleProblems, checkServeReady, jsonErrorWords, loadConfig, mergeConfig, overriddenPaths, saveConfig, scoreOrderProblems, tlsFileProblems, validateConfig, type ConfigProblem } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { bindProblem, listenSettingOf } from '../config/listen-setting.ts';
import { createRelay, dataPaths, type Relay, type RelayOptions } from '../engine.ts';
import { resolveLogger, type Logger } from '../log/logger.ts';
import { openDatabase, type Db } from '../store/db.ts';
import { lockDataDir, type DataDirLock } from '../store/data-dir-lock.ts';
import { loadOrCreateTls } from '../smtp/tls.ts';
import { MOAT_VERSION } from '../util/version.ts';
import { addMonitorRoutes } from '../monitor/http.ts';
import type { Monitor } from '../monitor/index.ts';
import { AdminAuth } from './admin-auth.ts';
import { adminTlsPair } from '../http/tls.ts';
import { addApiRoutes, callerOf } from './api.ts';
import { addDownloadRoutes, DownloadTokens, ownerOf } from './downloads.ts';
import { ApiError, sendApiError, type ApiIssue } from './errors.ts';
import { EventStream } from './event-stream.ts';
import { AdminServer } from '../http/server.ts';
import { Router } from '../http/router.ts';
import { addUiRoutes } from './static-files.ts';
import { handlers } from './service.ts';
import type { ApiContext, CallInfo, ConfigCapability, RelayStatus, StatusCapability } from './handlers/types.ts';
import { HOP_ROUTES } from '../queue/delivery.ts';
import { alertMailOutside } from '../monitor/probes.ts';
import { configFields } from '../config/docs.ts';
import { AccountStore } from '../auth/account-store.ts';
import { writeFileWhole } from '../util/write-whole.ts';

type Json = Record<string, unknown>;

/** Queue events are coalesced: at most one summary per this long reaches the UIs. */
const QUEUE_EVENT_MS = 250;

export interface AdminHostOptions {
  dataDir: string;
  /** Default: DATA/moat.json. */
  configFile?: string;
  /** Command-line settings: they win over the file, also after an apply. */
  overrides?: Json;
  /** The admin address (a flag, or the desktop shell's 127.0.0.1:0); default config.admin.listen. */
  adminListen?: string;
  /** A bearer token accepted instead of a session: the desktop shell that started this engine holds it. */
  adminToken?: string | null;
  logger?: Logger | boolean;
  clock?: () => number;
  /** Passed to the engine (tests: a fixture resolver, monitor parts, extra filters). */
  relayOptions?: Omit<RelayOptions, 'logger' | 'clock' | 'adminListener'>;
  /** The React build to serve (default dist-renderer/). */
  uiDir?: string;
  /** The admin log-in's password check (scrypt); tests pass a spy that counts the checks. */
  verifyPassword?: (password: string, hash: string) => Promise<boolean>;
  /** Called after each engine start (the first, and after every apply). */
  onEngineStarted?: (relay: Relay) => void;
  /** How often an engine that could not start is tried again (START_RETRY_MS; tests shorten it). */
  startRetryMs?: number;
}

/**
 * How often an engine that could not start is tried again (ms): what stopped it (a full disk, a port another
 * program held) often passes, and the process stays up for the admin page, so no service manager restarts it.
 */
export const START_RETRY_MS = 30_000;

/** Thrown by start when the file or the flags are not valid at all (the CLI prints them and exits 2). */
export class ConfigRefused extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((problem) => `${problem.path}: ${problem.message}`).join('; '));
  }
}

/** Keys the admin listener reads when moat serve starts: neither an Apply nor an engine restart moves it. */
const KEYS_READ_AT_START = ['admin.listen', 'admin.tls.enabled', 'admin.tls.cert', 'admin.tls.key'];

/** A setting whose value in the file is not the one the relay runs with (a hand edit not applied, or one read only at start). */
export interface FileDifference {
  key: string;
  running: unknown;
  file: unknown;
  /** Only a new start of moat serve puts it in force (an Apply does not). */
  atRestart: boolean;
}

/** What makes a relay "not set up yet" rather than broken: the wizard fills these in. */
const SETUP_PATHS = ['domains', 'internal'];

/**
 * What `moat serve` runs: the admin listener (web UI, admin API, live events, /metrics) that lives for the whole
 * process, and the engine inside it, which may be absent (a fresh relay waiting for its setup), running, or failed.
 * Applying a configuration saves it whole and restarts the engine with it; if the new one cannot start, the old file
 * comes back and the old engine runs again.
 */
export class AdminHost {
  state: RelayStatus['state'] = 'setup';
  error: string | null = null;
  relay: Relay | null = null;
  config: Config;
  setupToken: string | null = null;
  readonly events = new EventStream();
  readonly auth: AdminAuth;
  readonly configFile: string;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly db: Db;
  private readonly lock: DataDirLock;
  /** Whether the admin listener serves HTTPS: admin.tls changes only at the next start. */
  private adminServedOverTls = false;
  /** Whether the admin listener's HTTPS pair is the mx listeners' (admin.tls names no files): it follows a renewal. */
  private adminFollowsMxPair = false;
  /** The configuration the admin listener started with (KEYS_READ_AT_START are in force from it). */
  private listenerConfig: Config | null = null;
  private server: AdminServer | null = null;
  private startedAt: number | null = null;
  private appliedAt: number | null = null;
  private applying: Promise<unknown> = Promise.resolve();
  private queueTimer: NodeJS.Timeout | null = null;
  private startRetry: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly downloads: DownloadTokens;

  constructor(
    private readonly options: AdminHostOptions,
    config: Config,
  ) {
    this.config = config;
    this.logger = resolveLogger(options.logger);
    this.clock = options.clock ?? Date.now;
    this.configFile = options.configFile ?? dataPaths(options.dataDir).config;
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    // before the setup token and the store: a second host on this data dir stops here (store/data-dir-lock.ts)
    this.lock = lockDataDir(options.dataDir);
    try {
      this.db = openDatabase(options.dataDir);
    } catch (error) {
      this.lock.release();
      throw error;
    }
    this.downloads = new DownloadTokens(this.clock);
    this.auth = new AdminAuth({ db: this.db, dataDir: options.dataDir, clock: this.clock, bearerToken: options.adminToken, verify: options.verifyPassword });
  }

  get dataDir(): string {
    return this.options.dataDir;
  }

  get adminAddress(): string | null {
    return this.server?.address ?? null;
  }

  /** The address the admin listener is asked to bind, and why it is not bound (null once it is). */
  get adminListen(): { listen: string; error: string | null } {
    // the server's own: the configuration may have changed since it started (it moves only at a restart)
    return { listen: this.server?.listen ?? this.options.adminListen ?? this.config.admin.listen, error: this.server?.error ?? null };
  }

  get hostname(): string {
    return this.config.hostname ?? osHostname();
  }

  status(): RelayStatus {
    const relay = this.relay;
    return {
      state: this.state,
      error: this.error,
      startedAt: this.startedAt,
      appliedAt: this.appliedAt,
      version: MOAT_VERSION,
      hostname: this.hostname,
      dataDir: this.options.dataDir,
      addresses: {
        mx: relay?.addresses.mx ?? null,
        submission: relay?.addresses.submission ?? null,
        submissions: relay?.addresses.submissions ?? null,
        admin: this.adminAddress,
      },
      // the hops only: each remote domain's route (mx:DOMAIN) is the queue's By destination view, not the relay's health
      routes: relay ? relay.routeStates().filter((state) => HOP_ROUTES.has(state.route)) : [],
      configProblem: this.configFileProblem(),
    };
  }

  /**
   * Why the next start of moat serve would refuse the file as it is now (damaged by hand, a setting it does not
   * take), or null: the relay runs on meanwhile, so only this says that a restart would leave it down.
   */
  configFileProblem(): string | null {
    if (this.state === 'setup' && !existsSync(this.configFile)) return null;
    const loaded = loadConfig(this.configFile, this.options.overrides ?? {});
    if (loaded.ok) return null;
    return loaded.problems.map((problem) => (problem.path === '(file)' ? problem.message : `${problem.path}: ${problem.message}`)).join('; ');
  }

  /**
   * The settings the file holds that the relay does not run with: a hand edit of moat.json that was not applied, or
   * an admin listener setting that moves only at the next start. Keys set on the command line are left out (the file
   * does not count for them); so is everything while the engine is not running (nothing runs to compare with).
   */
  fileDifferences(saved: Json): FileDifference[] {
    if (!this.relay || this.state !== 'running') return [];
    const fromFile = validateConfig(mergeConfig(saved, this.options.overrides ?? {}));
    if (!fromFile.ok) return [];
    const overridden = this.overriddenKeys();
    const covers = (prefix: string, path: string) => path === prefix || path.startsWith(`${prefix}.`);
    return configFields().flatMap(({ key }): FileDifference[] => {
      if (overridden.some((path) => covers(key, path) || covers(path, key))) return [];
      const atRestart = KEYS_READ_AT_START.includes(key);
      if (atRestart && (this.options.adminListen || !this.listenerConfig)) return [];
      const running = valueAt(atRestart ? this.listenerConfig : this.config, key);
      const file = valueAt(fromFile.config, key);
      return sameJson(running, file) ? [] : [{ key, running: running ?? null, file: file ?? null, atRestart }];
    });
  }

  /** Starts the engine when the configuration is complete, then the admin listener; prints nothing (the caller does). */
  async start(): Promise<void> {
    const problems = checkServeReady(this.config);
    if (problems.some((problem) => SETUP_PATHS.some((path) => problem.path.startsWith(path)))) {
      this.state = 'setup';
      this.setupToken = await this.auth.prepareSetup();
    } else if (problems.length > 0) {
      this.fail(problems.map((problem) => `${problem.path}: ${problem.message}`).join('; '));
      this.setupToken = await this.auth.prepareSetup();
    } else {
      this.setupToken = await this.auth.prepareSetup();
      await this.startEngine(this.config).catch((error: Error) => this.failToStart(this.config, error));
    }
    const tls = await adminTlsPair(this.config, () => loadOrCreateTls(this.options.dataDir, this.hostname, this.config.mx.tls.cert, this.config.mx.tls.key));
    this.adminServedOverTls = Boolean(tls);
    this.adminFollowsMxPair = Boolean(tls) && !(this.config.admin.tls.cert && this.config.admin.tls.key);
    this.listenerConfig = this.config;
    this.server = new AdminServer({ listen: this.options.adminListen ?? this.config.admin.listen, router: this.router(Boolean(tls)), logger: this.logger, tls });
    await this.server.start();
  }

  /** The engine could not start: said, and tried again every START_RETRY_MS until it runs or is replaced. */
  private failToStart(config: Config, error: Error): void {
    const everyMs = this.options.startRetryMs ?? START_RETRY_MS;
    this.fail(`${startError(config, error).reason} (Moat tries to start it again every ${Math.round(everyMs / 1000)} s)`);
    this.cancelStartRetry();
    this.startRetry = setTimeout(() => {
      this.startRetry = null;
      // in turn with the applies: one engine at a time
      this.applying = this.applying.then(async () => {
        if (this.state !== 'failed' || this.stopped) return;
        this.logger.info({}, 'RELAY_START_RETRY');
        await this.startEngine(config).catch((again: Error) => this.failToStart(config, again));
      });
    }, everyMs);
    this.startRetry.unref();
  }

  private cancelStartRetry(): void {
    if (this.startRetry) clearTimeout(this.startRetry);
    this.startRetry = null;
  }

  private fail(message: string): void {
    this.state = 'failed';
    this.error = message;
    this.logger.error({ error: message }, 'RELAY_NOT_STARTED');
    this.publishStatus();
  }

  /** `byApply`: an Apply restarts it, which the Dashboard says (a fresh start would look like a restart of the box). */
  private async startEngine(config: Config, byApply = false): Promise<void> {
    this.state = 'starting';
    this.error = null;
    this.publishStatus();
    const hooks = { ...this.options.relayOptions?.monitor?.hooks, adminPasswordSet: () => this.auth.passwordSet };
    const relay = await createRelay(config, this.options.dataDir, {
      ...this.options.relayOptions,
      monitor: { ...this.options.relayOptions?.monitor, hooks },
      logger: this.logger,
      clock: this.clock,
      adminListener: () => ({ address: this.server?.address ?? null, error: this.server?.error ?? null }),
    });
    this.relay = relay;
    this.config = config;
    this.state = 'running';
    relay.onCertificateChange((pair) => {
      if (this.adminFollowsMxPair && this.relay === relay) this.server?.useCertificate(pair);
    });
    this.startedAt = this.clock();
    this.appliedAt = byApply ? this.startedAt : null;
    this.forwardEvents(relay);
    this.options.onEngineStarted?.(relay);
    this.publishStatus();
  }

  private async stopEngine(): Promise<void> {
    const relay = this.relay;
    if (!relay) return;
    this.state = 'stopping';
    this.publishStatus();
    await relay.stop();
    this.relay = null;
    this.startedAt = null;
    this.appliedAt = null;
  }

  /**
   * SIGHUP: reloads what changes without dropping a connection, the SMTP listeners' certificate and key. moat.json is
   * not read again: applying settings restarts the engine (open sessions get their grace, then 421), which a signal
   * sent by a renewal hook or logrotate must not do; settings change through Apply or a restart.
   */
  reload(signal: string): void {
    const relay = this.relay;
    if (!relay || this.state !== 'running') {
      this.logger.info({ signal, state: this.state, detail: 'the relay is not running: nothing to reload (the certificate files are read when it starts)' }, 'RELOADING');
      return;
    }
    this.logger.info({ signal, detail: 'the certificate and key files; moat.json is not read again (Apply or a restart)' }, 'RELOADING');
    relay.reloadCertificate(signal);
  }

  /** Validates, saves whole and restarts; on a start failure the old file and the old engine come back. */
  apply(input: Json, revision?: string): Promise<RelayStatus & { notes: string[] }> {
    const run = this.applying.then(() => {
      // checked in turn with the other applies: of two windows that loaded the same file, the second is told
      if (revision !== undefined && revision !== this.configRevision()) {
        throw new ApiError('CONFIG_CHANGED', 'the settings were changed elsewhere after this page loaded them (another window, the wizard, or moat.json by hand): reload to see them, then make your change again');
      }
      return this.applyNow(input);
    });
    this.applying = run.catch(() => {});
    return run;
  }

  /** Problems of a configuration as the file would hold it: the schema's, then (when complete) what serving needs. */
  check(input: Json, complete: boolean): ConfigProblem[] {
    const saved = validateConfig(input);
    if (!saved.ok) return saved.problems;
    const order = [...scoreOrderProblems(input), ...alertRuleProblems(input)];
    if (order.length > 0) return order;
    const effective = validateConfig(mergeConfig(input, this.options.overrides ?? {}));
    if (!effective.ok) return effective.problems;
    // a step of the wizard: its TLS files are read as soon as they are named
    // the backup passphrase file too, though a relay starts without it (checkServeReady): its backups would fail
    return [...(complete ? checkServeReady(effective.config) : tlsFileProblems(effective.config)), ...passphraseFileProblems(effective.config)];
  }

  private async applyNow(input: Json): Promise<RelayStatus & { notes: string[] }> {
    const problems = this.check(input, true);
    if (problems.length > 0) throw new ApiError('CONFIG_INVALID', undefined, problems);
    const effective = validateConfig(mergeConfig(input, this.options.overrides ?? {}));
    if (!effective.ok) throw new ApiError('CONFIG_INVALID', undefined, effective.problems);
    const previousText = existsSync(this.configFile) ? readFileSync(this.configFile, 'utf8') : null;
    // an engine that could not start, waiting to be tried again (START_RETRY_MS), is gone back to as a running one is
    const previousConfig = this.relay || this.startRetry ? this.config : null;
    const previousInternal = this.config.internal;
    const previousSubmission = { listen: this.config.submission.listen, tlsListen: this.config.submission.tlsListen };
    await saveConfig(this.configFile, input);
    this.cancelStartRetry();
    await this.stopEngine();
    try {
      await this.startEngine(effective.config, true);
      this.logger.info({ file: this.configFile }, 'CONFIG_APPLIED');
      this.retryWhenInternalMoved(previousInternal, effective.config.internal);
      const removed = (previousConfig?.domains ?? []).filter((domain) => !effective.config.domains.includes(domain));
      const submissionNote = previousConfig ? this.submissionOffNote(previousSubmission, effective.config) : null;
      const alertNote = alertMailNote(previousConfig, effective.config);
      return { ...this.status(), notes: [...(submissionNote ? [submissionNote] : []), ...(alertNote ? [alertNote] : []), ...this.applyNotes(effective.config, removed)] };
    } catch (error) {
      const { reason, issues } = startError(effective.config, error as Error);
      this.logger.error({ error: reason }, 'CONFIG_APPLY_FAILED');
      try {
        // the old file byte for byte, whatever it held (a damaged one too): never a reading of it
        if (previousText === null) rmSync(this.configFile, { force: true });
        else await writeFileWhole(this.configFile, previousText, 0o600);
      } catch (restoring) {
        this.logger.error({ file: this.configFile, error: (restoring as Error).message }, 'CONFIG_RESTORE_FAILED');
      }
      if (previousConfig) await this.startEngine(previousConfig, true).catch((again: Error) => this.failToStart(previousConfig, again));
      else {
        this.state = 'setup';
        this.error = reason;
        this.publishStatus();
      }
      const after =
        previousConfig && this.state === 'running'
          ? 'the previous one is back in force'
          : previousConfig
            ? 'the file is as it was; that configuration could not start either, and Moat tries it again every so often'
            : previousText === null
              ? 'nothing was saved: Moat is still not set up'
              : 'the file is as it was, and the relay is not running';
      throw new ApiError('APPLY_FAILED', `the new configuration could not be started (${reason}); ${after}`, issues);
    }
  }

  /** What an apply that succeeded still leaves undone: a listener that could not start, one that moves only at a restart. */
  private applyNotes(config: Config, removedDomains: readonly string[]): string[] {
    const notes: string[] = [];
    for (const domain of removedDomains) {
      const waiting = this.relay?.queue.store.pendingAtDomain(domain) ?? 0;
      if (waiting > 0) {
        notes.push(`${waiting} ${waiting === 1 ? 'recipient' : 'recipients'} at ${domain}, no longer an accepted domain, still ${waiting === 1 ? 'waits' : 'wait'} in the queue: accepted while the domain was yours, ${waiting === 1 ? 'it goes' : 'they go'} to the internal server as before. Delete them in the Queue if they should not.`);
      }
    }
    const userPage = this.relay?.userPage;
    if (userPage && !userPage.address) {
      notes.push(`The users' quarantine page could not start: ${userPage.error ?? 'unknown error'}. Its links lead nowhere until that address is free or changed; the checklist's "user-page" item says when it listens.`);
    }
    const { listen } = this.adminListen;
    if (config.admin.listen !== listen && !this.options.adminListen) {
      notes.push(`The admin page stays at ${this.adminAddress ?? listen} until moat serve is started again; then it moves to ${config.admin.listen}.`);
    }
    if (config.admin.tls.enabled !== this.adminServedOverTls) {
      const [now, then] = this.adminServedOverTls ? ['https', 'http'] : ['http', 'https'];
      notes.push(`The admin page stays on ${now}:// until moat serve is started again; then it is served on ${then}:// only (${then}://${this.adminAddress ?? listen}/): bookmarks and tunnels to ${now}:// stop working.`);
    }
    return notes;
  }

  /**
   * A submission listener switched off while accounts exist: the office clients set to it can no longer send, which
   * the Apply says in numbers (as it does for mail still queued for a removed domain).
   */
  private submissionOffNote(before: { listen?: string; tlsListen?: string }, config: Config): string | null {
    const off = [before.listen && !config.submission.listen ? `STARTTLS (${before.listen})` : null, before.tlsListen && !config.submission.tlsListen ? `implicit TLS (${before.tlsListen})` : null].filter((item): item is string => item !== null);
    if (off.length === 0) return null;
    const accounts = new AccountStore(this.db).count();
    if (accounts === 0) return null;
    const them = accounts === 1 ? 'The 1 submission account' : `The ${accounts} submission accounts`;
    const listeners = off.length === 1 ? `the submission listener with ${off[0]} is` : `the submission listeners with ${off.join(' and ')} are`;
    if (!config.submission.listen && !config.submission.tlsListen) {
      return `${them} can no longer send mail through Moat: ${listeners} off now, and no other one is on. Office clients get no connection until a submission listener is on again (Settings, Submission).`;
    }
    const still = config.submission.listen ? `STARTTLS (${config.submission.listen})` : `implicit TLS (${config.submission.tlsListen})`;
    return `${them} can no longer send from clients set to that port: ${listeners} off now. Clients set to the listener with ${still} still send; move the others to it, or turn the listener on again.`;
  }

  /**
   * Mail deferred because the internal server's address was wrong waits out its backoff for nothing once the address
   * is fixed: when host or port changed, every waiting recipient of the internal route is tried at once.
   */
  private retryWhenInternalMoved(before: Config['internal'], after: Config['internal']): void {
    if (!before || !after || !this.relay || (before.host === after.host && before.port === after.port)) return;
    const retried = this.relay.queue.retryRoute('internal', 'the configuration (a new internal server address)');
    this.logger.info({ from: `${before.host}:${before.port}`, to: `${after.host}:${after.port}`, retried }, 'INTERNAL_MOVED');
  }

  /** The keys the command line sets ("mx.listen"): the file's values for them apply only without those flags. */
  overriddenKeys(): string[] {
    return overriddenPaths(this.options.overrides ?? {});
  }

  /** The file's revision: a digest of its bytes, "none" without one. */
  configRevision(): string {
    if (!existsSync(this.configFile)) return 'none';
    try {
      return createHash('sha256').update(readFileSync(this.configFile)).digest('base64url').slice(0, 22);
    } catch {
      return 'unreadable';
    }
  }

  /**
   * The configuration file as saved (what the wizard and settings edit). A file that cannot be read is an error, not
   * an empty one: settings edited from nothing and applied would drop every setting the relay runs with.
   */
  savedConfig(): Json {
    if (!existsSync(this.configFile)) return {};
    const damaged = (why: string) =>
      new ApiError('CONFIG_FILE_DAMAGED', `${this.configFile} cannot be read (${why}). ${this.relay ? 'The relay goes on with the settings it started with.' : 'The relay is not running.'} Put the file right (or restore it from a backup), then reload this page.`);
    let parsed: unknown;
    let text: string;
    try {
      text = readFileSync(this.configFile, 'utf8');
    } catch (error) {
      throw damaged((error as Error).message);
    }
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw damaged(`not valid JSON: ${jsonErrorWords(text, error as Error)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw damaged('it holds no settings object');
    return parsed as Json;
  }

  private forwardEvents(relay: Relay): void {
    const { events } = relay;
    const queueChanged = () => {
      if (this.queueTimer) return;
      this.queueTimer = setTimeout(() => {
        this.queueTimer = null;
        if (this.relay !== relay) return;
        this.events.publish('queue', this.queueSummary(relay));
      }, QUEUE_EVENT_MS);
      this.queueTimer.unref();
    };
    relay.queue.on('changed', queueChanged);
    // mail Moat writes itself (an alert, a digest, a bounce notice) is counted too: it is no 'received'
    relay.queue.on('queued', queueChanged);
    events.on('received', (event) => {
      this.events.publish('received', { id: event.id, sender: event.sender, recipients: event.recipients, size: event.size });
      queueChanged();
    });
    events.on('delivered', (event) => {
      this.events.publish('delivered', { id: event.id, recipient: event.recipient, route: event.route });
      queueChanged();
    });
    events.on('deferred', (event) => this.events.publish('deferred', { id: event.id, recipient: event.recipient, route: event.route, reply: event.reply }));
    events.on('bounced', (event) => {
      this.events.publish('bounced', { id: event.id, recipient: event.recipient, route: event.route, status: event.status });
      queueChanged();
    });
    events.on('quarantined', (event) => this.events.publish('quarantined', { id: event.id, sender: event.sender, score: event.score, reason: event.reason }));
    events.on('alert', (event) => this.events.publish('alert', event));
    events.on('route', () => this.publishStatus());
  }

  queueSummary(relay: Relay) {
    const summary = relay.queue.store.summary();
    return { size: summary.size, oldest: summary.oldest ?? null, held: summary.held ?? 0, queueHeld: relay.queue.isQueueHeld() };
  }

  private publishStatus(): void {
    this.events.publish('relay', this.status() as never);
  }

  /** What the handlers may ask of the host: its state and the configuration file (the log-in is `auth`). */
  private readonly statusCapability: StatusCapability = { current: () => this.status() };
  private readonly configCapability: ConfigCapability = {
    saved: () => this.savedConfig(),
    revision: () => this.configRevision(),
    check: (input, complete) => this.check(input, complete),
    apply: (input, revision) => this.apply(input, revision),
    overridden: () => this.overriddenKeys(),
    differences: (saved) => this.fileDifferences(saved),
  };

  private context(call: CallInfo): ApiContext {
    return {
      relay: () => {
        if (!this.relay || this.state !== 'running') throw new ApiError('RELAY_NOT_RUNNING', this.error ? `the relay is not running: ${this.error}` : undefined);
        return this.relay;
      },
      config: () => this.config,
      status: this.statusCapability,
      auth: this.auth,
      settings: this.configCapability,
      dataDir: this.options.dataDir,
      configFile: this.configFile,
      actor: call.caller.kind === 'bearer' ? 'desktop' : `admin@${call.clientIp}`,
      clientIp: call.clientIp,
      logger: this.logger,
      clock: this.clock,
      resolver: this.options.relayOptions?.resolver ?? dns,
      downloads: {
        mint: (id) => {
          const owner = ownerOf(call.caller);
          return owner ? this.downloads.mint(owner, id) : null;
        },
      },
      call,
    };
  }

  private router(secure: boolean): Router {
    const router = new Router();
    router.use(({ req, res, url }) => {
      const refusal = refuseRequest(req.headers.host, req.headers.origin, req.headers['sec-fetch-site'], this.allowedHosts(), { secure, api: url.pathname.startsWith('/api/') });
      if (!refusal) return false;
      sendApiError(res, refusal);
      return true;
    });
    addApiRoutes(router, { auth: this.auth, handlers, context: (call) => this.context(call), logger: this.logger, secure });
    addDownloadRoutes(router, { auth: this.auth, tokens: this.downloads, relay: () => (this.state === 'running' ? this.relay : null), logger: this.logger });
    router.get('/api/events', ({ req, res }) => {
      const caller = callerOf(req, this.auth);
      if (caller.kind === 'anonymous') return sendApiError(res, this.auth.passwordSet ? 'UNAUTHENTICATED' : 'SETUP_REQUIRED');
      const initial = [{ name: 'relay' as const, data: this.status() }];
      if (this.relay && this.state === 'running') initial.push({ name: 'queue' as never, data: this.queueSummary(this.relay) as never });
      const allowed = caller.kind === 'session' ? () => this.auth.alive(caller.session) : () => true;
      const owner = caller.kind === 'session' ? caller.session.id : caller.kind;
      if (!this.events.open(res, owner, initial, allowed)) sendApiError(res, 'UNAVAILABLE', 'too many live views are open');
    });
    const monitor = () => {
      if (!this.relay) throw new ApiError('RELAY_NOT_RUNNING');
      return this.relay.monitor;
    };
    addMonitorRoutes(router, new Proxy({} as Monitor, { get: (_, key) => Reflect.get(monitor(), key, monitor()) }));
    addUiRoutes(router, this.options.uiDir);
    return router;
  }

  private allowedHosts(): Set<string> {
    return new Set(['localhost', this.hostname, osHostname(), ...this.config.admin.hostnames].map((name) => name.toLowerCase()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelStartRetry();
    this.events.close();
    if (this.queueTimer) clearTimeout(this.queueTimer);
    await this.server?.stop();
    await this.applying;
    await this.stopEngine();
    this.db.close();
    this.lock.release();
  }
}

/** The value at a dotted key path ("mx.maxRecipients"), or undefined. */
function valueAt(config: unknown, key: string): unknown {
  let value = config;
  for (const part of key.split('.')) value = typeof value === 'object' && value !== null ? (value as Json)[part] : undefined;
  return value;
}

/** Equal as JSON, whatever the order of an object's keys (a hand-edited file may hold them in another). */
function sameJson(a: unknown, b: unknown): boolean {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(canonical) : typeof value === 'object' && value !== null ? Object.fromEntries(Object.entries(value).sort(([x], [y]) => (x < y ? -1 : 1)).map(([key, item]) => [key, canonical(item)])) : value;
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/**
 * The Host header must name this machine (an IP, localhost, its host name): a web page on another site whose name
 * resolves to 127.0.0.1 (DNS rebinding) is refused. A browser's Origin, when sent, must be this very origin.
 */
export function refuseRequest(
  host: string | undefined,
  origin: string | undefined,
  fetchSite: string | string[] | undefined,
  allowed: Set<string>,
  listener: { secure: boolean; api: boolean },
): 'BAD_HOST' | 'BAD_ORIGIN' | null {
  if (!host) return 'BAD_HOST';
  const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (!isIP(name) && !allowed.has(name)) return 'BAD_HOST';
  if (fetchSite === 'cross-site') return 'BAD_ORIGIN';
  // same-site is another port of this host (the user page, any other service on the box): it may link to the admin
  // page, never call its API
  if (listener.api && fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') return 'BAD_ORIGIN';
  if (origin !== undefined && origin !== 'null') {
    let from: URL;
    try {
      from = new URL(origin);
    } catch {
      return 'BAD_ORIGIN';
    }
    if (from.host.toLowerCase() !== host.toLowerCase() || from.protocol !== (listener.secure ? 'https:' : 'http:')) return 'BAD_ORIGIN';
  }
  return null;
}

/** Loads the configuration (file + command line) and starts the admin host: what `moat serve` and the desktop shell call. */
export async function startAdminHost(options: AdminHostOptions): Promise<AdminHost> {
  const configFile = options.configFile ?? dataPaths(options.dataDir).config;
  const result = loadConfig(configFile, options.overrides ?? {}, options.configFile !== undefined);
  if (!result.ok) throw new ConfigRefused(result.problems);
  const host = new AdminHost({ ...options, configFile }, result.config);
  try {
    await host.start();
  } catch (error) {
    await host.stop();
    throw error;
  }
  return host;
}

/**
 * Why an engine could not start; a listener that could not bind in words, with the setting to change, and as an
 * issue at that setting (the admin page marks the field).
 */
function startError(config: Config, error: Error): { reason: string; issues: ApiIssue[] } {
  const setting = listenSettingOf(config, error);
  if (!setting) return { reason: error.message, issues: [] };
  const { code, address, port } = error as NodeJS.ErrnoException & { address?: string; port?: number };
  const problem = bindProblem(code, `${address}:${port}`, error.message);
  return { reason: `${problem}: change ${setting.words}, or free that address`, issues: [{ path: setting.key, message: `${problem}: the last Apply could not use it` }] };
}

/**
 * Alert mail set, in this Apply, only to addresses of our own domains: it goes through the internal server, so "the
 * internal server is not taking mail" would wait behind the outage it reports (the checklist's alert-mail says so
 * too, at its next run). Said when the addresses changed, not at every Apply.
 */
function alertMailNote(previous: Config | null, config: Config): string | null {
  const to = config.alerts.emailTo;
  if (to.length === 0 || alertMailOutside(config).length > 0) return null;
  if (previous && JSON.stringify(previous.alerts.emailTo) === JSON.stringify(to) && JSON.stringify(previous.domains) === JSON.stringify(config.domains)) return null;
  return `Alert mail goes to ${to.join(', ')} only, through the internal server: when that server stops taking mail, the alert saying so waits in the queue behind it. Add an address outside your domains (a mobile or provider mailbox) to "Email alerts to", or a webhook.`;
}

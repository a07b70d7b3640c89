import { existsSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { release } from 'node:os';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { RelayEvents, RouteState, AlertEvent, RefusalReason } from '../events.ts';
import type { Queue } from '../queue/queue.ts';
import { HOP_ROUTES } from '../queue/delivery.ts';
import type { Db } from '../store/db.ts';
import { AlertManager } from './alerts.ts';
import { BUILT_IN_RULES, type RuleContext } from './alert-rules.ts';
import { Checklist } from './checklist.ts';
import { METRICS, Metrics, METRICS_FLUSH_MS, type Sample } from './metrics.ts';
import { MonitorStore, STATE_KEYS } from './monitor-store.ts';
import { alertEmail, postWebhook, webhookPayload } from './notify.ts';
import { renderPrometheus, type PromFamily } from './prometheus.ts';
import { runCommand, type CommandRunner, type ProbeContext, type ServedCertificate } from './probes.ts';
import type { CertificateWatch, ServedPair } from '../smtp/certificate-watch.ts';
import { tlsPaths } from '../smtp/tls.ts';
import { MOAT_VERSION, SUPPORTED_NODE_RANGE } from '../util/version.ts';
import { defaultHooks } from './default-hooks.ts';
import type { ListenerState, MonitorHooks } from './types.ts';
import type { SubmissionAddresses } from '../submission/index.ts';

/** The first scheduled checklist run waits this long after a start (apt is not run while the relay starts up). */
export const CHECKLIST_FIRST_RUN_DELAY_MS = 5 * 60_000;
/** The first check of the alert rules after a start. */
const FIRST_ALERT_CHECK_MS = 1_000;
/** Refusal reasons known today: each gets a 0 series from the start. */
const REFUSAL_REASONS: readonly RefusalReason[] = [
  'relay', 'unknown-recipient', 'bad-address', 'size', 'connection-limit', 'too-many-errors', 'local-error', 'malformed',
  'auth-required', 'sender-not-owned', 'account-suspended',
  'virus', 'junk', 'policy', 'sender-denied', 'filter-tempfail', 'policy-deferred',
  'client-denied', 'dnsbl', 'rate-limit', 'harvest', 'pregreet', 'unverified-recipient',
  'slow-data', 'mail-loop',
];
const ROUTES = ['internal', 'outbound'] as const;

/** Things a test (or a later platform port) replaces; defaults are the real box. */
export interface MonitorOptions {
  hooks?: MonitorHooks;
  run?: CommandRunner;
  root?: string;
  platform?: NodeJS.Platform;
  kernelRelease?: string;
  diskSpace?: (path: string) => Promise<{ free: number; total: number } | null>;
  /** HOST:PORT the open-relay self-test probes instead of the relay's own mx listener. */
  selfTestTarget?: string;
  /** Webhook retry delays (tests shorten them). */
  webhookDelaysMs?: readonly number[];
  /** The first scheduled checklist run comes this long after the start at the earliest (CHECKLIST_FIRST_RUN_DELAY_MS; tests shorten it). */
  checklistFirstRunDelayMs?: number;
}

export async function realDiskSpace(path: string): Promise<{ free: number; total: number } | null> {
  try {
    const stats = await statfs(path);
    return { free: stats.bavail * stats.bsize, total: stats.blocks * stats.bsize };
  } catch {
    return null;
  }
}

/** How the running relay records its served certificate in the state table (PEM text). */
interface StoredCertificate {
  cert: string;
  loadedAt: number;
}

/** The certificate the running relay recorded as served (`moat checklist run` in another process); null when none runs. */
export function storedServedCertificate(store: MonitorStore): ServedCertificate | null {
  const stored = store.getJson<StoredCertificate>(STATE_KEYS.servedCertificate);
  if (!stored || typeof stored.cert !== 'string' || typeof stored.loadedAt !== 'number') return null;
  return { cert: Buffer.from(stored.cert), loadedAt: stored.loadedAt };
}

/** The mx certificate: the configured pair, else the self-signed one in DATA/tls (what the listener loads). */
export function readTlsPair(config: Config, dataDir: string): { cert: Buffer; key: Buffer; selfSigned: boolean } | null {
  const paths = tlsPaths(dataDir, config.mx.tls.cert, config.mx.tls.key);
  if (!existsSync(paths.cert) || !existsSync(paths.key)) return null;
  return { cert: readFileSync(paths.cert), key: readFileSync(paths.key), selfSigned: paths.selfSigned };
}

/** What the running relay serves, for the self-test and the probes. */
export interface ServedAddresses {
  mx: string;
  submission?: SubmissionAddresses;
  admin: () => ListenerState;
  /** The users' quarantine page; null when it is off. */
  userPage: () => ListenerState | null;
}

export interface ProbeEnvironment {
  config: Config;
  dataDir: string;
  hostname: string;
  store: MonitorStore;
  clock: () => number;
  options: MonitorOptions;
  mxAddress: string | null;
  submissionAddresses?: SubmissionAddresses;
  selfTestHelo?: string | null;
  adminAddress: string | null;
  adminError: string | null;
  /** The users' quarantine page of the relay in this process (null: off); absent when no relay runs here. */
  userPage?: ListenerState | null;
  tls: () => { cert: Buffer; key: Buffer; selfSigned: boolean } | null;
  /** The certificate the running relay's listeners serve; absent or null when no relay runs. */
  servedCertificate?: () => ServedCertificate | null;
}

/** What the probes see; the same for the serving relay and for `moat checklist run` in another process. */
export function probeContext(env: ProbeEnvironment): ProbeContext {
  const { options, store } = env;
  return {
    now: env.clock(),
    config: env.config,
    dataDir: env.dataDir,
    hostname: env.hostname,
    platform: options.platform ?? process.platform,
    root: options.root ?? '/',
    run: options.run ?? runCommand,
    kernelRelease: options.kernelRelease ?? release(),
    nodeVersion: process.version,
    nodeRange: SUPPORTED_NODE_RANGE,
    electronVersion: process.versions.electron,
    moatVersion: MOAT_VERSION,
    mxAddress: options.selfTestTarget ?? env.mxAddress,
    submissionAddresses: env.submissionAddresses ?? {},
    selfTestHelo: env.selfTestHelo ?? null,
    adminAddress: env.adminAddress,
    adminError: env.adminError,
    userPage: env.userPage,
    tls: env.tls,
    servedCertificate: env.servedCertificate ?? (() => null),
    lastBackup: () => store.getJson<{ at: number; file: string }>(STATE_KEYS.lastBackup) ?? null,
    lastBackupError: () => store.getJson<{ at: number; error: string }>(STATE_KEYS.lastBackupError) ?? null,
    hooks: options.hooks ?? {},
  };
}

export interface MonitorDeps {
  config: Config;
  dataDir: string;
  hostname: string;
  db: Db;
  queue: Queue;
  events: RelayEvents;
  logger: Logger;
  clock: () => number;
  routeStates: () => RouteState[];
  /** The EHLO name of the self-test's probes, which the mx listener does not count (engine: selfTestHelo()). */
  selfTestHelo?: string;
  /** The listeners' certificate (smtp/certificate-watch.ts): the pair in use, its files looked at again on `check`. */
  certificate: Pick<CertificateWatch, 'current' | 'check' | 'onChange'>;
  options?: MonitorOptions;
}

/**
 * Watching the relay: metrics fed by engine events, alert rules checked on a timer, the patch-status
 * checklist, and alert notifications (e-mail through the relay's own queue, a webhook). Backups run beside it (the
 * engine composes them); it reads what they record.
 */
export class Monitor {
  readonly store: MonitorStore;
  readonly metrics: Metrics;
  readonly alerts: AlertManager;
  readonly checklist: Checklist;
  readonly hooks: MonitorHooks;
  readonly startedAt: number;
  private readonly deps: MonitorDeps;
  private readonly options: MonitorOptions;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly abort = new AbortController();
  private readonly notifications = new Set<Promise<unknown>>();
  private addresses: ServedAddresses | { mx: null; admin: ServedAddresses['admin']; userPage?: undefined; submission?: undefined } = {
    mx: null,
    admin: () => ({ address: null, error: null }),
  };
  private stopping = false;
  /** When the checklist runs next by its schedule (ms); null when its runs are off (checklist.intervalHours 0). */
  private nextChecklistAt: number | null = null;

  constructor(deps: MonitorDeps) {
    this.deps = deps;
    this.options = deps.options ?? {};
    this.hooks = { ...defaultHooks(deps.config, deps.db), ...this.options.hooks };
    this.options.hooks = this.hooks;
    this.store = new MonitorStore(deps.db);
    this.startedAt = deps.clock();
    if (this.store.getState(STATE_KEYS.firstStarted) === undefined) this.store.setState(STATE_KEYS.firstStarted, String(this.startedAt));
    deps.certificate.onChange((pair) => this.recordCertificate(pair));
    this.metrics = new Metrics({
      store: this.store,
      clock: deps.clock,
      sampleGauges: () => this.sampleGauges(),
      initial: [
        { name: 'received', labels: {}, value: 0 },
        { name: 'submitted', labels: {}, value: 0 },
        { name: 'quarantined', labels: {}, value: 0 },
        { name: 'tagged', labels: {}, value: 0 },
        ...REFUSAL_REASONS.map((reason): Sample => ({ name: 'rejected', labels: { reason }, value: 0 })),
        ...ROUTES.flatMap((route) => (['delivered', 'deferred', 'bounced'] as const).map((name): Sample => ({ name, labels: { route }, value: 0 }))),
      ],
    });
    this.checklist = new Checklist({ store: this.store, context: () => this.probeContext(), clock: deps.clock, logger: deps.logger });
    this.alerts = new AlertManager({
      store: this.store,
      events: deps.events,
      rules: BUILT_IN_RULES,
      disabled: deps.config.alerts.disabled,
      context: () => this.ruleContext(),
      clock: deps.clock,
      logger: deps.logger,
    });
    const { events } = deps;
    events.on('received', (event) => this.metrics.increment(event.listener === 'submission' ? 'submitted' : 'received'));
    events.on('refused', (event) => this.metrics.increment('rejected', { reason: event.reason }));
    events.on('delivered', (event) => this.metrics.increment('delivered', { route: event.route }));
    events.on('deferred', (event) => this.metrics.increment('deferred', { route: event.route }));
    events.on('bounced', (event) => this.metrics.increment('bounced', { route: event.route }));
    events.on('quarantined', () => this.metrics.increment('quarantined'));
    events.on('filtered', (event) => event.action === 'tag' && this.metrics.increment('tagged'));
    events.on('alert', (event) => this.notify(event));
    // a hop that takes mail again clears its alert at once: the screens must not show it Up beside "not taking mail"
    events.on('route', (state) => state.state === 'up' && HOP_ROUTES.has(state.route) && void this.checkAlerts());
  }

  /** Starts the timers once the listeners are up (their addresses are what the self-test and probes use). */
  start(addresses: ServedAddresses): void {
    this.addresses = addresses;
    this.store.setState(STATE_KEYS.servedMx, addresses.mx);
    this.store.setState(STATE_KEYS.servedSubmission, JSON.stringify(addresses.submission ?? {}));
    if (this.deps.selfTestHelo) this.store.setState(STATE_KEYS.selfTestHelo, this.deps.selfTestHelo);
    const admin = addresses.admin();
    if (admin.address) this.store.setState(STATE_KEYS.servedAdmin, admin.address);
    this.recordCertificate(this.deps.certificate.current);
    const { config, clock } = this.deps;
    this.every(METRICS_FLUSH_MS, () => this.flushMetrics());
    this.after(FIRST_ALERT_CHECK_MS, () => {
      void this.checkAlerts();
      this.every(config.alerts.intervalSec * 1000, () => void this.checkAlerts());
    });
    this.recheck('user-page');
    const checklistEvery = config.checklist.intervalHours * 3600_000;
    if (checklistEvery > 0) {
      // the last whole run: each probe's newest result is at least that recent (one probe run on its own moves
      // nothing); none while a probe has never run
      const latest = this.checklist.latest().map((result) => result.checkedAt);
      const last = latest.length === this.checklist.probeList().length ? Math.min(...latest) : 0;
      const wait = Math.max(this.options.checklistFirstRunDelayMs ?? CHECKLIST_FIRST_RUN_DELAY_MS, last + checklistEvery - clock());
      const scheduledRun = (): void => {
        this.nextChecklistAt = clock() + checklistEvery;
        // a run that cannot write its results (a full disk) is logged; it must not end the process, which takes mail
        this.runChecklist().catch((error: Error) => this.deps.logger.error({ error: error.message }, 'CHECKLIST_RUN_FAILED'));
      };
      this.nextChecklistAt = clock() + wait;
      this.after(wait, () => {
        scheduledRun();
        this.every(checklistEvery, scheduledRun);
      });
    }
  }

  /** What `moat checklist run` in another process compares the files with: the certificate the listeners serve. */
  private recordCertificate(pair: ServedPair): void {
    if (this.stopping) return;
    try {
      this.store.setState(STATE_KEYS.servedCertificate, JSON.stringify({ cert: pair.cert.toString('utf8'), loadedAt: pair.loadedAt } satisfies StoredCertificate));
    } catch (error) {
      this.deps.logger.warn({ error: (error as Error).message }, 'STATE_WRITE_FAILED');
    }
  }

  /** The listeners' certificate, for the alert rule and /metrics. */
  private get certificate(): { validTo: number; subject: string } {
    const { validTo, subject } = this.deps.certificate.current;
    return { validTo, subject };
  }

  private every(ms: number, run: () => void): void {
    const timer = setInterval(run, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private after(ms: number, run: () => void): void {
    const timer = setTimeout(run, ms);
    timer.unref();
    this.timers.push(timer);
  }

  flushMetrics(): void {
    try {
      this.metrics.flush();
    } catch (error) {
      this.deps.logger.error({ error: (error as Error).message }, 'METRICS_WRITE_FAILED');
    }
  }

  /**
   * Runs one probe now, apart from the schedule: for one whose answer has just changed (a backup written, the users'
   * page bound, a start or an Apply), so the Checklist does not show an old answer for hours.
   */
  recheck(probe: string): void {
    if (this.stopping) return;
    this.checklist.run([probe]).catch((error: Error) => this.deps.logger.error({ probe, error: error.message }, 'CHECKLIST_RUN_FAILED'));
  }

  /** Checks the alert rules now (also on a timer). */
  async checkAlerts(): Promise<AlertEvent[]> {
    if (this.stopping) return [];
    try {
      return await this.alerts.evaluate();
    } catch (error) {
      this.deps.logger.error({ error: (error as Error).message }, 'ALERT_CHECK_FAILED');
      return [];
    }
  }

  /** When the checklist runs by itself: every `everyHours` (0: never), next at `nextRunAt` (ms). */
  checklistSchedule(): { everyHours: number; nextRunAt: number | null } {
    return { everyHours: this.deps.config.checklist.intervalHours, nextRunAt: this.nextChecklistAt };
  }

  /** Runs the checklist's probes now, then the alert rules (the self-test feeds one). */
  async runChecklist(only?: readonly string[]) {
    const results = await this.checklist.run(only);
    await this.checkAlerts();
    return results;
  }

  private probeContext(): ProbeContext {
    const admin = this.addresses.admin();
    return probeContext({
      config: this.deps.config,
      dataDir: this.deps.dataDir,
      hostname: this.deps.hostname,
      store: this.store,
      clock: this.deps.clock,
      options: this.options,
      mxAddress: this.addresses.mx,
      submissionAddresses: this.addresses.submission ?? {},
      selfTestHelo: this.deps.selfTestHelo ?? null,
      adminAddress: admin.address,
      adminError: admin.error,
      userPage: this.addresses.userPage?.() ?? null,
      tls: () => readTlsPair(this.deps.config, this.deps.dataDir),
      // the files are looked at first: a pair renewed a moment ago is served before the probe compares
      servedCertificate: () => {
        this.deps.certificate.check();
        const { cert, loadedAt } = this.deps.certificate.current;
        return { cert, loadedAt };
      },
    });
  }

  private ruleContext(): RuleContext {
    const { config, queue, routeStates, clock, dataDir } = this.deps;
    const store = this.store;
    return {
      now: clock(),
      config,
      queueSummary: () => queue.store.summary(),
      releaseRequests: () => queue.store.releaseRequestCount(),
      routeStates,
      metrics: this.metrics,
      diskSpace: () => (this.options.diskSpace ?? realDiskSpace)(dataDir),
      tlsCertificate: () => this.certificate,
      lastBackup: () => store.getJson<{ at: number; file: string }>(STATE_KEYS.lastBackup) ?? null,
      firstStartedAt: Number(store.getState(STATE_KEYS.firstStarted) ?? this.startedAt),
      lastSelfTest: () => this.checklist.latestOf('open-relay'),
      hooks: this.hooks,
    };
  }

  private sampleGauges(): Sample[] {
    const now = this.deps.clock();
    const summary = this.deps.queue.store.summary();
    const samples: Sample[] = [
      { name: 'queue_size', labels: {}, value: summary.size },
      { name: 'queue_oldest_age_seconds', labels: {}, value: summary.oldest === null ? 0 : Math.max(0, Math.round((now - summary.oldest) / 1000)) },
    ];
    for (const state of this.deps.routeStates()) {
      if (state.route.startsWith('mx:')) continue; // one series per destination domain would be unbounded
      samples.push({ name: 'route_up', labels: { route: state.route }, value: state.state === 'up' ? 1 : 0 });
    }
    return samples;
  }

  /** Alerts go out by e-mail (queued like any message) and to the webhook; failures are logged, never thrown. */
  private notify(event: AlertEvent): void {
    const { config, hostname, queue, logger, clock } = this.deps;
    // a mail or a post each time an outage changes kind (a server flapping between refused and unreachable) is noise:
    // the raising one said what and since when, and the clearing one will come
    if (this.stopping || event.action === 'updated') return;
    if (config.alerts.emailTo.length) {
      const raw = alertEmail({ event, hostname, to: config.alerts.emailTo, now: clock() });
      this.track(
        queue.enqueueGenerated(raw, '', [...config.alerts.emailTo], 'mail').then(
          (id) => logger.info({ id, rule: event.alert.rule, action: event.action, to: config.alerts.emailTo.join(',') }, 'ALERT_MAILED'),
          (error: Error) => logger.error({ rule: event.alert.rule, error: error.message }, 'ALERT_MAIL_FAILED'),
        ),
      );
    }
    if (config.alerts.webhookUrl) {
      this.track(
        postWebhook(config.alerts.webhookUrl, webhookPayload(event, hostname), { logger, delaysMs: this.options.webhookDelaysMs, signal: this.abort.signal }),
      );
    }
  }

  private track(promise: Promise<unknown>): void {
    this.notifications.add(promise);
    void promise.finally(() => this.notifications.delete(promise));
  }

  /** Free and total bytes of the file system holding the data directory; null when it cannot be read. */
  diskSpace(): Promise<{ free: number; total: number } | null> {
    return (this.options.diskSpace ?? realDiskSpace)(this.deps.dataDir);
  }

  /** The Prometheus page: counters since start, gauges now, plus alert, certificate, backup and disk figures. */
  async prometheus(): Promise<string> {
    const families: PromFamily[] = [];
    const counters = this.metrics.counters();
    for (const [name, definition] of Object.entries(METRICS)) {
      const samples = definition.kind === 'counter' ? counters.filter((sample) => sample.name === name) : this.metrics.gauges().filter((sample) => sample.name === name);
      if (definition.kind === 'counter' || samples.length) families.push({ name: definition.prom, type: definition.kind, help: definition.help, samples });
    }
    const summary = this.deps.queue.store.summary();
    const mxDown = this.deps.routeStates().filter((state) => state.route.startsWith('mx:') && state.state === 'down').length;
    families.push({ name: 'moat_queue_held_messages', type: 'gauge', help: 'Queued messages held by the administrator', samples: [{ value: summary.held }] });
    families.push({ name: 'moat_mx_destinations_down', type: 'gauge', help: 'Destination domains whose MX hosts could not be reached on the last attempt', samples: [{ value: mxDown }] });
    const open = new Map(this.alerts.open().map((alert) => [alert.rule, alert]));
    families.push({
      name: 'moat_alert_active',
      type: 'gauge',
      help: 'Whether an alert of this rule is raised (1) or not (0)',
      samples: this.alerts.ruleIds().map((rule) => ({ labels: { rule, severity: this.alerts.rule(rule)!.severity }, value: open.has(rule) ? 1 : 0 })),
    });
    {
      families.push({ name: 'moat_tls_certificate_expiry_timestamp_seconds', type: 'gauge', help: "When the mx listener's certificate expires", samples: [{ value: Math.floor(this.certificate.validTo / 1000) }] });
    }
    // always there, 0 before the first backup: a missing series cannot raise "time() - x > 7d", a 0 does
    const lastBackup = this.store.getJson<{ at: number }>(STATE_KEYS.lastBackup);
    families.push({
      name: 'moat_last_backup_timestamp_seconds',
      type: 'gauge',
      help: 'When the last backup was made (seconds since the epoch; 0: never)',
      samples: [{ value: lastBackup ? Math.floor(lastBackup.at / 1000) : 0 }],
    });
    const disk = await (this.options.diskSpace ?? realDiskSpace)(this.deps.dataDir);
    if (disk) {
      families.push({ name: 'moat_disk_free_bytes', type: 'gauge', help: "Free bytes on the data directory's file system", samples: [{ value: disk.free }] });
      families.push({ name: 'moat_disk_size_bytes', type: 'gauge', help: "Size of the data directory's file system", samples: [{ value: disk.total }] });
    }
    const statuses = { ok: 0, warning: 0, failing: 0, unknown: 0 };
    for (const result of this.checklist.latest()) statuses[result.status]++;
    families.push({
      name: 'moat_checklist_probes',
      type: 'gauge',
      help: 'Patch-status probes by their latest answer',
      samples: Object.entries(statuses).map(([status, value]) => ({ labels: { status }, value })),
    });
    families.push({ name: 'moat_build_info', type: 'gauge', help: 'Moat and Node.js versions', samples: [{ labels: { version: MOAT_VERSION, node: process.version }, value: 1 }] });
    families.push({ name: 'moat_start_time_seconds', type: 'gauge', help: 'When the relay started', samples: [{ value: Math.floor(this.startedAt / 1000) }] });
    return renderPrometheus(families);
  }

  /**
   * For /healthz: null when the database cannot be read. The error itself goes to the log only: /healthz is open to
   * anyone who reaches the listener, and SQLite's text can name files and their state.
   */
  health() {
    let summary;
    try {
      summary = this.deps.queue.store.summary();
    } catch (error) {
      this.deps.logger.error({ error: (error as Error).message }, 'HEALTH_DATABASE_UNREADABLE');
      return null;
    }
    const open = this.alerts.open();
    return {
      status: this.stopping ? 'stopping' : 'ok',
      mx: this.addresses.mx,
      uptimeSec: Math.round((this.deps.clock() - this.startedAt) / 1000),
      queue: { size: summary.size, oldestAgeSec: summary.oldest === null ? 0 : Math.round((this.deps.clock() - summary.oldest) / 1000) },
      alerts: { open: open.length, critical: open.filter((alert) => alert.severity === 'critical').length },
    };
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Stops the timers, waits for notifications already under way (e-mails are queued before the queue closes), writes the metrics. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearTimeout(timer);
    await Promise.race([Promise.allSettled([...this.notifications]), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    this.abort.abort();
    this.flushMetrics();
    // a stopped relay has no listener to probe: `moat checklist run` must not test whatever takes the port next
    try {
      this.store.deleteState(STATE_KEYS.servedMx);
      this.store.deleteState(STATE_KEYS.servedSubmission);
      this.store.deleteState(STATE_KEYS.servedAdmin);
      this.store.deleteState(STATE_KEYS.selfTestHelo);
      this.store.deleteState(STATE_KEYS.servedCertificate);
    } catch (error) {
      this.deps.logger.warn({ error: (error as Error).message }, 'STATE_WRITE_FAILED');
    }
  }
}

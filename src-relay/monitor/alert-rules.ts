import type { Config } from '../config/schema.ts';
import type { RouteState, Severity } from '../events.ts';
import type { Metrics } from './metrics.ts';
import type { MonitorHooks, ProbeResult } from './types.ts';

/**
 * What a rule says about its condition now. `bad`: raise (or keep raised); `good`: clear (or stay clear);
 * `between`: inside the hysteresis band, keep whatever state the alert is in; `unknown`: cannot tell, keep it too.
 */
export type RuleVerdict =
  | { state: 'bad'; message: string; hint: string }
  | { state: 'good'; message: string }
  | { state: 'between' }
  | { state: 'unknown'; why: string };

/** What rules look at: read when a check runs, never cached by the rule. */
export interface RuleContext {
  now: number;
  config: Config;
  /** `held`: messages held on their own (they wait for the admin, not for a server). */
  queueSummary(): { size: number; oldest: number | null; held: number };
  /** Quarantined messages a user asked on the users' page to have released, waiting for the admin's answer. */
  releaseRequests(): number;
  routeStates(): RouteState[];
  metrics: Metrics;
  /** Free and total bytes of the data directory's file system; null when it cannot be told. */
  diskSpace(): Promise<{ free: number; total: number } | null>;
  /** The mx listener's certificate in use. */
  tlsCertificate(): { validTo: number; subject: string } | null;
  lastBackup(): { at: number; file: string } | null;
  firstStartedAt: number;
  lastSelfTest(): ProbeResult | null;
  hooks: MonitorHooks;
}

export interface AlertRule {
  id: string;
  severity: Severity;
  title: string;
  /** The condition must stay bad this long before the alert is raised (0: at once). */
  raiseAfterMs?: number;
  /**
   * Its message counts what is wrong now (requests waiting), not for how long: an open alert takes each new message.
   * Otherwise it takes a new one only with new advice (a duration in it changes at every check).
   */
  messageIsState?: boolean;
  check(context: RuleContext): RuleVerdict | Promise<RuleVerdict>;
}

const DAY_MS = 86400_000;

/** Below this many days a duration keeps its hours ("3 days 12 h"): against a limit of days, the hours matter. */
const DAYS_WITH_HOURS = 14;

/**
 * "45 s", "2 min 30 s", "1 h 5 min", "3 days 12 h": durations in an alert's (and a probe's) words. Each unit is cut
 * down, never rounded up, and the next smaller one is kept, so 90 s reads "1 min 30 s", never "2 min" (which would
 * claim a limit was passed that was not) or "1 min".
 */
export function describeDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  const days = Math.floor(hours / 24);
  const and = (text: string, amount: number, unit: string) => (amount ? `${text} ${amount} ${unit}` : text);
  if (minutes < 1) return `${seconds} s`;
  if (hours < 1) return and(`${minutes} min`, seconds % 60, 's');
  if (hours < 48) return and(`${hours} h`, minutes % 60, 'min');
  if (days < DAYS_WITH_HOURS) return and(`${days} days`, hours % 24, 'h');
  return `${days} days`;
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;

/** Compares with hysteresis: `above` rules are bad past raise and good at or below clear; `below` rules the other way. */
function band(value: number, raise: number, clear: number, direction: 'above' | 'below'): 'bad' | 'good' | 'between' {
  if (direction === 'above') return value > raise ? 'bad' : value <= clear ? 'good' : 'between';
  return value < raise ? 'bad' : value >= clear ? 'good' : 'between';
}

export const queueSizeRule: AlertRule = {
  id: 'queue-size',
  severity: 'warning',
  title: 'The queue is large',
  check({ config, queueSummary }) {
    const { raise, clear } = config.alerts.queueSize;
    const { size } = queueSummary();
    const state = band(size, raise, clear, 'above');
    if (state === 'bad') {
      return {
        state,
        message: `${size} messages are waiting in the queue (the alert is set at more than ${raise}).`,
        hint: 'Look at the Queue screen (or "moat queue list"): if the internal server is down, mail waits and is delivered once it is back; a flood of mail from one sender may be spam or a loop.',
      };
    }
    return state === 'good' ? { state, message: `The queue is down to ${size} messages.` } : { state };
  },
};

export const queueAgeRule: AlertRule = {
  id: 'queue-age',
  severity: 'warning',
  title: 'Mail has been waiting a long time',
  check({ config, queueSummary, now }) {
    const { raise, clear } = config.alerts.oldestQueuedMinutes;
    const { oldest } = queueSummary();
    const ageMinutes = oldest === null ? 0 : (now - oldest) / 60_000;
    const state = band(ageMinutes, raise, clear, 'above');
    if (state === 'bad') {
      return {
        state,
        message: `The oldest queued message has been waiting ${describeDuration(now - oldest!)} (the alert is set at ${describeDuration(raise * 60_000)}).`,
        hint: 'The Queue screen (or "moat queue list") shows why each message is still there: the last reply of the next hop. Mail that cannot be delivered is bounced after queue.lifetimeHours.',
      };
    }
    return state === 'good'
      ? { state, message: oldest === null ? 'The queue is empty.' : `The oldest queued message is ${describeDuration(now - oldest)} old.` }
      : { state };
  },
};

export const internalDownRule: AlertRule = {
  id: 'internal-down',
  severity: 'critical',
  title: 'The internal mail server is not taking mail',
  check({ config, routeStates, now }) {
    const route = routeStates().find((state) => state.route === 'internal');
    if (!route) return { state: 'unknown', why: 'no delivery to the internal server has been tried since the start' };
    // up is "took the last message": single mailboxes may still defer (a full one); the Queue says which
    if (route.state === 'up') return { state: 'good', message: 'The internal mail server takes mail again, and waiting mail is being tried now: the Queue shows what it has not taken yet.' };
    const outFor = now - route.since;
    if (outFor < config.alerts.internalDownMinutes * 60_000) return { state: 'between' };
    const host = config.internal ? `${config.internal.host}:${config.internal.port}` : 'the internal server';
    const waiting = 'Nothing is lost meanwhile: mail waits in the queue and goes at its next try once the server takes it (the Queue screen shows when; "Retry all now" tries at once).';
    if (route.state === 'refusing') {
      return {
        state: 'bad',
        message: `The internal mail server (${host}) answers but has refused every message for ${describeDuration(outFor)}; its last answer: ${route.lastError ?? 'unknown'}. Mail is kept in the queue.`,
        hint: `A server that puts all mail off is usually protecting itself: Exchange's back-pressure does so when the disk of its queue database or its memory runs short ("452 4.3.1 Insufficient system resources"). Free space on that server or look in its event log. ${waiting}`,
      };
    }
    return {
      state: 'bad',
      message: `The internal mail server (${host}) has been unreachable for ${describeDuration(outFor)}; last error: ${route.lastError ?? 'unknown'}. Mail is kept in the queue.`,
      hint: `Check that the internal server is running and that the firewall lets the relay reach it on its SMTP port. ${waiting}`,
    };
  },
};

export const deliveryFailuresRule: AlertRule = {
  id: 'delivery-failures',
  severity: 'warning',
  title: 'Deliveries are failing',
  check({ config, metrics, queueSummary }) {
    const { windowMinutes, minAttempts, raisePercent, clearPercent } = config.alerts.deliveryFailures;
    const bounced = metrics.windowSum('bounced', windowMinutes);
    const failed = metrics.windowSum('deferred', windowMinutes) + bounced;
    const total = failed + metrics.windowSum('delivered', windowMinutes);
    if (total < minAttempts) {
      return failed === 0
        ? { state: 'good', message: `No delivery failed in the last ${windowMinutes} min.` }
        : { state: 'unknown', why: `only ${total} attempts in the window` };
    }
    const percent = (failed / total) * 100;
    // nothing waits for a retry now (what is held waits for the admin): the deferrals were delivered since, an outage
    // that ended; what is left of the failures is the bounces, judged on their own
    const { size, held } = queueSummary();
    if (percent > clearPercent && size - held === 0 && (bounced / total) * 100 <= clearPercent) {
      const deferred = failed - bounced;
      return { state: 'good', message: `${deferred} delivery attempts in the last ${windowMinutes} min were deferred, but nothing waits for a retry any more${bounced ? ` (${bounced} bounced)` : ''}.` };
    }
    const state = percent >= raisePercent ? 'bad' : percent <= clearPercent ? 'good' : 'between';
    if (state === 'bad') {
      return {
        state,
        message: `${failed} of ${total} delivery attempts in the last ${windowMinutes} min failed (${Math.round(percent)}%; the alert is set at ${raisePercent}%).`,
        hint: 'The Queue screen (or "moat queue list") shows the replies of the next hop. Deferred mail is retried; bounced mail went back to its sender.',
      };
    }
    return state === 'good' ? { state, message: `${Math.round(percent)}% of delivery attempts in the last ${windowMinutes} min failed.` } : { state };
  },
};

export const diskFreeRule: AlertRule = {
  id: 'disk-free',
  severity: 'critical',
  title: 'The disk is almost full',
  async check({ config, diskSpace }) {
    const space = await diskSpace();
    if (!space || space.total <= 0) return { state: 'unknown', why: 'the free space could not be read' };
    const percent = (space.free / space.total) * 100;
    const { raise, clear } = config.alerts.diskFreePercent;
    const state = band(percent, raise, clear, 'below');
    if (state === 'bad') {
      return {
        state,
        message: `Only ${gib(space.free)} (${percent.toFixed(1)}%) of ${gib(space.total)} is free on the disk holding the data directory.`,
        hint: 'When the disk is full the relay answers 451 and senders retry later. Remove old backups or logs, or give the data directory more room.',
      };
    }
    return state === 'good' ? { state, message: `${gib(space.free)} (${percent.toFixed(1)}%) free on the data directory's disk.` } : { state };
  },
};

export const tlsExpiryRule: AlertRule = {
  id: 'tls-expiry',
  severity: 'warning',
  title: 'The TLS certificate expires soon',
  check({ config, tlsCertificate, now }) {
    const cert = tlsCertificate();
    if (!cert) return { state: 'unknown', why: 'no certificate could be read' };
    const days = (cert.validTo - now) / DAY_MS;
    const { raise, clear } = config.alerts.tlsExpiryDays;
    const state = band(days, raise, clear, 'below');
    if (state === 'bad') {
      const when = days < 0 ? `expired ${describeDuration(-days * DAY_MS)} ago` : `expires in ${describeDuration(days * DAY_MS)}`;
      return {
        state,
        message: `The mx listener's certificate (${cert.subject}) ${when}, on ${new Date(cert.validTo).toISOString().slice(0, 10)}.`,
        hint: 'Renew it: overwrite the files mx.tls.cert / mx.tls.key name (Moat serves the new pair within a minute, or at once with systemctl reload moat), or delete DATA/tls and restart to have a new self-signed pair made.',
      };
    }
    return state === 'good' ? { state, message: `The certificate is valid until ${new Date(cert.validTo).toISOString().slice(0, 10)}.` } : { state };
  },
};

export const backupAgeRule: AlertRule = {
  id: 'backup-age',
  severity: 'warning',
  title: 'No recent backup',
  check({ config, lastBackup, firstStartedAt, now }) {
    const limit = config.alerts.backupAgeDays * DAY_MS;
    const last = lastBackup();
    const age = now - (last?.at ?? firstStartedAt);
    if (age <= limit) return { state: 'good', message: last ? `The last backup was made ${describeDuration(now - last.at)} ago.` : 'No backup is due yet.' };
    return {
      state: 'bad',
      message: last
        ? `The last backup is ${describeDuration(age)} old (${last.file}).`
        : `No backup has been made since the relay first started ${describeDuration(age)} ago.`,
      hint: 'Make one now (Settings › Backups, or "moat backup create FILE"), or set backup.intervalHours to have them made on a schedule; keep a copy off the box.',
    };
  },
};

export const clamavSignaturesRule: AlertRule = {
  id: 'clamav-signatures',
  severity: 'warning',
  title: 'The virus signatures are old',
  async check({ config, hooks, now }) {
    if (!hooks.clamav) return { state: 'unknown', why: 'no virus scanner is set up' };
    const info = await hooks.clamav();
    if (!info?.signatureDate) return { state: 'unknown', why: 'clamd did not tell its signature date' };
    const age = now - info.signatureDate.getTime();
    if (age <= config.alerts.clamavSignatureDays * DAY_MS) return { state: 'good', message: `The ClamAV signatures are ${describeDuration(age)} old.` };
    return {
      state: 'bad',
      message: `The ClamAV signatures are ${describeDuration(age)} old (${info.version}).`,
      hint: 'Check that freshclam runs (systemctl status clamav-freshclam) and can reach its mirrors.',
    };
  },
};

export const accountSuspendedRule: AlertRule = {
  id: 'account-suspended',
  severity: 'warning',
  title: 'A mail account was suspended',
  async check({ hooks }) {
    if (!hooks.suspendedAccounts) return { state: 'unknown', why: 'no submission accounts' };
    const accounts = await hooks.suspendedAccounts();
    if (accounts.length === 0) return { state: 'good', message: 'No account is suspended.' };
    return {
      state: 'bad',
      message: `The circuit breaker suspended ${accounts.length === 1 ? 'the account' : `${accounts.length} accounts`}: ${accounts.slice(0, 10).join(', ')}.`,
      hint: 'An account that suddenly sends a lot is often a stolen password: change it, then unlock the account.',
    };
  },
};

/**
 * A user asked for a quarantined message (approval mode) and waits: told "your administrator will decide", they wait
 * on an admin who may not have the admin page open. As an alert, the request reaches the mail, the webhook and the
 * desktop like any other.
 */
export const releaseRequestsRule: AlertRule = {
  id: 'release-requests',
  severity: 'warning',
  title: 'Users wait for your answer on quarantined mail',
  messageIsState: true,
  check({ releaseRequests }) {
    const waiting = releaseRequests();
    if (waiting === 0) return { state: 'good', message: 'No release request waits for an answer.' };
    return {
      state: 'bad',
      message: `${waiting === 1 ? '1 quarantined message a user asked' : `${waiting} quarantined messages users asked`} to have released ${waiting === 1 ? 'waits' : 'wait'} for your answer.`,
      hint: 'Open Quarantine: each such message says who asked. Release or delete it; the user gets an e-mail with your answer either way.',
    };
  },
};

export const openRelayRule: AlertRule = {
  id: 'open-relay',
  severity: 'critical',
  title: 'The open-relay self-test failed',
  check({ lastSelfTest }) {
    const result = lastSelfTest();
    if (!result || result.status === 'unknown') return { state: 'unknown', why: result?.detail ?? 'the self-test has not run yet' };
    if (result.status === 'ok') return { state: 'good', message: 'The open-relay self-test passes: every relay trick was refused.' };
    return {
      state: 'bad',
      message: `The open-relay self-test did not pass: ${result.detail}`,
      hint: result.hint ?? 'Check domains and recipients in the configuration, then run the check again (Checklist › Run now, or "moat checklist run").',
    };
  },
};

/** Every built-in rule; later issues add theirs with `AlertManager.addRule`. */
export const BUILT_IN_RULES: readonly AlertRule[] = [
  queueSizeRule,
  queueAgeRule,
  internalDownRule,
  deliveryFailuresRule,
  diskFreeRule,
  tlsExpiryRule,
  backupAgeRule,
  clamavSignaturesRule,
  accountSuspendedRule,
  releaseRequestsRule,
  openRelayRule,
];

import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { isLoopbackListen } from '../config/schema.ts';
import { splitHostPort } from '../config/load.ts';
import { describeDuration } from './alert-rules.ts';
import { nodeRuntimeStatus } from './node-releases.ts';
import { openRelaySelfTest, submissionSelfTest } from './self-test.ts';
import { TrustedNetworks } from '../util/networks.ts';
import { domainSet, inDomains } from '../util/address.ts';
import { checkSmtpServer } from './server-check.ts';
import type { ListenerState, MonitorHooks, ProbeOutcome } from './types.ts';
import type { SubmissionAddresses } from '../submission/index.ts';
import { certificateFingerprint } from '../smtp/certificate-watch.ts';

/** apt, PowerShell: a command that has not finished within this long is stopped and the probe says unknown. */
export const COMMAND_TIMEOUT_MS = 120_000;
/** Package lists older than this cannot tell whether updates are pending. */
export const APT_LISTS_MAX_AGE_DAYS = 7;
/** Windows: the last installed update older than this is worth a look (monthly Patch Tuesday plus a margin). */
export const WINDOWS_UPDATE_MAX_AGE_DAYS = 40;
/** Talking to an SMTP server (the internal one, our own listener). */
const SMTP_PROBE_TIMEOUT_MS = 15_000;
const DAY_MS = 86400_000;

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell); rejects when it cannot be started (ENOENT) or runs out of time. Injected in tests. */
export type CommandRunner = (command: string, args: readonly string[], options: { timeoutMs: number }) => Promise<CommandResult>;

export const runCommand: CommandRunner = (command, args, { timeoutMs }) =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, windowsHide: true },
      (error, stdout, stderr) => {
        const failure = error as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        if (failure && (typeof failure.code === 'string' || failure.killed)) {
          reject(failure.killed ? new Error(`${command} did not finish within ${timeoutMs / 1000} s`) : failure);
          return;
        }
        resolve({ code: failure ? Number(failure.code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });

/** What probes may look at. Everything that touches the box (files, commands, versions) is here so tests can replace it. */
export interface ProbeContext {
  now: number;
  config: Config;
  dataDir: string;
  hostname: string;
  platform: NodeJS.Platform;
  /** Where "/" is: tests point it at a folder of fixture files. */
  root: string;
  run: CommandRunner;
  kernelRelease: string;
  nodeVersion: string;
  /** The Node.js versions this Moat supports (package.json engines.node, util/version.ts); null when unreadable. */
  nodeRange: string | null;
  electronVersion?: string;
  moatVersion: string;
  /** Where the running relay's mx listener is (null: not running). */
  mxAddress: string | null;
  /** Where the running relay's submission listeners are (587 `submission`, 465 `submissions`); absent: not listening. */
  submissionAddresses?: SubmissionAddresses;
  /** The EHLO name the self-test greets with, known to the running mx listener so its probes are not counted; null: the hostname. */
  selfTestHelo?: string | null;
  /** Where the admin listener is bound; null with `adminError` when binding failed. */
  adminAddress: string | null;
  adminError?: string | null;
  /** The running relay's users' quarantine page (null: off); undefined when no relay runs in this process. */
  userPage?: ListenerState | null;
  /** The mx listener's certificate and key as their files hold them (PEM). */
  tls: () => { cert: Buffer; key: Buffer; selfSigned: boolean } | null;
  /** The certificate the running relay's listeners serve; null when no relay runs (or it is not known). */
  servedCertificate: () => ServedCertificate | null;
  lastBackup: () => { at: number; file: string } | null;
  lastBackupError: () => { at: number; error: string } | null;
  hooks: MonitorHooks;
}

/** A certificate a listener serves (PEM) and when the relay read it (ms). */
export interface ServedCertificate {
  cert: Buffer;
  loadedAt: number;
}

export interface Probe {
  id: string;
  title: string;
  run(context: ProbeContext): Promise<ProbeOutcome> | ProbeOutcome;
}

const unknown = (detail: string, hint?: string): ProbeOutcome => ({ status: 'unknown', detail, hint });

// ---------------------------------------------------------------------------------------------- OS updates

/** Counts `Inst` lines of `apt-get -s dist-upgrade`; a security update is one coming from a *-security suite. */
export function parseAptSimulation(output: string): { total: number; security: string[]; other: string[] } {
  const security: string[] = [];
  const other: string[] = [];
  for (const line of output.split('\n')) {
    const match = /^Inst (\S+)(?: \[[^\]]*\])? \(([^)]*)\)/.exec(line);
    if (!match) continue;
    (/security/i.test(match[2]!) ? security : other).push(match[1]!);
  }
  return { total: security.length + other.length, security, other };
}

/** Ubuntu's /var/lib/update-notifier/updates-available (the MOTD text). */
export function parseUpdateNotifier(text: string): { total: number; security: number } | null {
  const total = /(\d+) (?:updates?|packages?) can be (?:applied|updated|installed)/i.exec(text);
  const security = /(\d+)(?: of these)? updates? (?:is a |are )?(?:standard )?security updates?/i.exec(text);
  if (!total && !security) return /^\s*0 updates/im.test(text) ? { total: 0, security: 0 } : null;
  return { total: Number(total?.[1] ?? 0), security: Number(security?.[1] ?? 0) };
}

function aptListsAge(context: ProbeContext): number | null {
  const candidates = ['var/lib/apt/periodic/update-success-stamp', 'var/lib/apt/lists/partial', 'var/cache/apt/pkgcache.bin'];
  let newest = 0;
  for (const path of candidates) {
    try {
      newest = Math.max(newest, statSync(join(context.root, path)).mtimeMs);
    } catch {
      // not there on this system
    }
  }
  return newest ? context.now - newest : null;
}

const listNames = (names: string[]) => `${names.slice(0, 8).join(', ')}${names.length > 8 ? `, and ${names.length - 8} more` : ''}`;

async function debianUpdates(context: ProbeContext): Promise<ProbeOutcome> {
  let counts: { total: number; securityNames: string[]; security: number } | null = null;
  let failure = '';
  try {
    const result = await context.run('apt-get', ['-s', '-q', 'dist-upgrade'], { timeoutMs: COMMAND_TIMEOUT_MS });
    if (result.code === 0) {
      const parsed = parseAptSimulation(result.stdout);
      counts = { total: parsed.total, securityNames: parsed.security, security: parsed.security.length };
    } else failure = `apt-get -s dist-upgrade exited with ${result.code}: ${result.stderr.trim().split('\n').pop() ?? ''}`;
  } catch (error) {
    failure = `apt-get could not run: ${(error as Error).message}`;
  }
  if (!counts) {
    const notifier = join(context.root, 'var/lib/update-notifier/updates-available');
    const parsed = existsSync(notifier) ? parseUpdateNotifier(readFileSync(notifier, 'utf8')) : null;
    if (!parsed) return unknown(failure || 'the pending updates could not be read', 'Run "apt list --upgradable" by hand.');
    counts = { total: parsed.total, security: parsed.security, securityNames: [] };
  }
  const age = aptListsAge(context);
  const ageText = age === null ? '' : ` (package lists refreshed ${clockTime(context.now - age)})`;
  if (counts.security > 0) {
    return {
      status: 'failing',
      detail: `${counts.security} security update(s) pending${counts.securityNames.length ? `: ${listNames(counts.securityNames)}` : ''}${ageText}`,
      hint: 'Install them now: apt-get update && apt-get upgrade (or turn on unattended-upgrades).',
    };
  }
  if (age !== null && age > APT_LISTS_MAX_AGE_DAYS * DAY_MS) {
    return {
      status: 'warning',
      detail: `no security update pending according to package lists that are ${describeDuration(age)} old`,
      hint: 'Old lists cannot show new updates: run apt-get update (unattended-upgrades does it daily).',
    };
  }
  return { status: 'ok', detail: `no security update pending${counts.total ? ` (${counts.total} other update(s) available)` : ''}${ageText}` };
}

async function windowsUpdates(context: ProbeContext): Promise<ProbeOutcome> {
  try {
    const script = "(Get-HotFix | Where-Object InstalledOn | Sort-Object InstalledOn -Descending | Select-Object -First 1 | ForEach-Object { $_.HotFixID + ' ' + $_.InstalledOn.ToString('yyyy-MM-dd') })";
    const result = await context.run('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', script], { timeoutMs: COMMAND_TIMEOUT_MS });
    const match = /(KB\d+)\s+(\d{4}-\d{2}-\d{2})/.exec(result.stdout);
    if (result.code !== 0 || !match) return unknown('the last installed Windows update could not be read', 'Look at Settings > Windows Update.');
    const age = context.now - Date.parse(`${match[2]}T00:00:00Z`);
    if (age > WINDOWS_UPDATE_MAX_AGE_DAYS * DAY_MS) {
      return { status: 'warning', detail: `the last Windows update (${match[1]}) was installed on ${match[2]}, ${describeDuration(age)} ago`, hint: 'Run Windows Update.' };
    }
    return { status: 'ok', detail: `the last Windows update (${match[1]}) was installed on ${match[2]}` };
  } catch (error) {
    return unknown(`PowerShell could not run: ${(error as Error).message}`);
  }
}

export const osUpdatesProbe: Probe = {
  id: 'os-updates',
  title: 'Operating system security updates',
  run(context) {
    if (context.platform === 'win32') return windowsUpdates(context);
    if (context.platform === 'linux' && existsSync(join(context.root, 'usr/bin/apt-get'))) return debianUpdates(context);
    return unknown(`no update check for this system (${context.platform}${context.platform === 'linux' ? ' without apt' : ''})`, 'Check for OS security updates by hand.');
  },
};

// ---------------------------------------------------------------------------------------------- reboot

/** Compares kernel releases like 6.1.0-27-amd64 and 6.1.0-28-amd64 (numbers as numbers). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[^0-9A-Za-z]+/);
  const pb = b.split(/[^0-9A-Za-z]+/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    const order = !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x.localeCompare(y);
    if (order !== 0) return order;
  }
  return 0;
}

export const rebootProbe: Probe = {
  id: 'reboot-required',
  title: 'Reboot after updates',
  run(context) {
    if (context.platform !== 'linux') return unknown(`not checked on ${context.platform}`);
    for (const flag of ['run/reboot-required', 'var/run/reboot-required']) {
      const path = join(context.root, flag);
      if (!existsSync(path)) continue;
      const pkgs = existsSync(`${path}.pkgs`) ? readFileSync(`${path}.pkgs`, 'utf8').split('\n').filter(Boolean) : [];
      return {
        status: 'warning',
        detail: `a reboot is required${pkgs.length ? ` (for ${listNames([...new Set(pkgs)])})` : ''}`,
        hint: 'Updates are installed but not in use until the box restarts; the queue survives a reboot.',
      };
    }
    let kernels: string[] = [];
    try {
      kernels = readdirSync(join(context.root, 'boot'))
        .filter((name) => name.startsWith('vmlinuz-'))
        .map((name) => name.slice('vmlinuz-'.length));
    } catch {
      // no /boot we can read (a container)
    }
    if (kernels.length === 0) return unknown('no reboot flag and no kernel in /boot to compare with (a container?)');
    const newest = kernels.sort(compareVersions).at(-1)!;
    if (compareVersions(newest, context.kernelRelease) > 0) {
      return { status: 'warning', detail: `kernel ${newest} is installed but ${context.kernelRelease} is running`, hint: 'Reboot to run the new kernel.' };
    }
    return { status: 'ok', detail: `no reboot flag; the newest installed kernel (${newest}) is running` };
  },
};

// ---------------------------------------------------------------------------------------------- versions

export const moatVersionProbe: Probe = {
  id: 'moat-version',
  title: "Moat's version",
  async run(context) {
    if (!context.hooks.latestMoatVersion) {
      return unknown(`Moat ${context.moatVersion} (no release feed is configured to compare with)`, 'Compare with the newest release by hand.');
    }
    const latest = await context.hooks.latestMoatVersion();
    if (!latest) return unknown(`Moat ${context.moatVersion}; the release feed did not answer`);
    if (compareVersions(latest, context.moatVersion) > 0) {
      return { status: 'warning', detail: `Moat ${context.moatVersion} is running; ${latest} is available`, hint: 'Update Moat (the queue and settings are kept).' };
    }
    return { status: 'ok', detail: `Moat ${context.moatVersion} is the newest release` };
  },
};

export const nodeRuntimeProbe: Probe = {
  id: 'node-runtime',
  title: 'Node.js runtime',
  run(context) {
    const node = nodeRuntimeStatus(context.nodeVersion, context.now, context.nodeRange);
    if (context.electronVersion) {
      return { ...node, status: node.status === 'ok' ? 'unknown' : node.status, detail: `${node.detail}; Electron ${context.electronVersion}'s age is not checked yet` };
    }
    return node;
  },
};

export const clamavProbe: Probe = {
  id: 'clamav',
  title: 'ClamAV engine and signatures',
  async run(context) {
    if (!context.hooks.clamav) return unknown('no virus scanner is configured (filters.clamav.address is unset)', 'Run the setup wizard\'s Filters step (it finds clamd), or set "ClamAV (clamd) address" (filters.clamav.address) in Settings → Configuration → Filters and quarantine.');
    const info = await context.hooks.clamav();
    if (!info) return { status: 'failing', detail: 'clamd does not answer', hint: 'systemctl status clamav-daemon' };
    if (!info.signatureDate) return unknown(`${info.version}; signature date not reported`);
    const age = context.now - info.signatureDate.getTime();
    if (age > context.config.alerts.clamavSignatureDays * DAY_MS) {
      return { status: 'warning', detail: `${info.version}: signatures are ${describeDuration(age)} old`, hint: 'Check that freshclam runs.' };
    }
    return { status: 'ok', detail: `${info.version}: signatures ${describeDuration(age)} old` };
  },
};

export const spamEnginesProbe: Probe = {
  id: 'spam-engines',
  title: 'Spam engines reachable',
  async run(context) {
    if (!context.hooks.spamEngines) return unknown('nothing reports whether the spam engines answer (no spamEngines hook)');
    const engines = await context.hooks.spamEngines();
    if (engines.length === 0) return { status: 'ok', detail: "no spam engine is configured: only Moat's built-in rules are in use" };
    const down = engines.filter((engine) => !engine.reachable);
    if (down.length) {
      const failOpen = down.filter((engine) => engine.filter && context.config.filters.failMode[engine.filter] === 'open');
      const effect = failOpen.length === down.length ? 'meanwhile mail is delivered tagged, unchecked by it (fail mode open)' : 'meanwhile mail is refused with 451 and the senders retry (fail mode closed)';
      return {
        status: 'failing',
        detail: `not answering: ${down.map((engine) => `${engine.name}${engine.detail ? ` (${engine.detail})` : ''}`).join(', ')}`,
        hint: `Start the engine (systemctl status rspamd / spamd) or remove its address from the settings; ${effect}.`,
      };
    }
    return { status: 'ok', detail: `answering: ${engines.map((engine) => engine.name).join(', ')}` };
  },
};

// ---------------------------------------------------------------------------------------------- TLS

/** What renewing takes: the files, nothing more (smtp/certificate-watch.ts). */
const RENEW_HINT = 'Renew it (overwrite the certificate and key files): Moat serves the new pair within a minute, or at once with systemctl reload moat (SIGHUP).';

export function describeCertificate(pem: Buffer, key: Buffer | null, now: number, warnDays: number): ProbeOutcome & { validTo?: number } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (error) {
    return { status: 'failing', detail: `the certificate cannot be read: ${(error as Error).message}`, hint: 'Check mx.tls.cert (PEM).' };
  }
  const validTo = Date.parse(cert.validTo);
  const validFrom = Date.parse(cert.validFrom);
  const subject = cert.subject.replace(/\n/g, ', ');
  const selfSigned = cert.subject === cert.issuer && cert.verify(cert.publicKey);
  const what = `${subject}${selfSigned ? ' (self-signed)' : `, issued by ${cert.issuer.replace(/\n/g, ', ')}`}`;
  if (key) {
    try {
      if (!cert.checkPrivateKey(createPrivateKey(key))) return { status: 'failing', detail: `${what}: the key does not belong to the certificate`, hint: 'Point mx.tls.key at the matching key.', validTo };
    } catch (error) {
      return { status: 'failing', detail: `${what}: the key cannot be read (${(error as Error).message})`, validTo };
    }
  }
  if (validTo < now) return { status: 'failing', detail: `${what} expired on ${cert.validTo}`, hint: RENEW_HINT, validTo };
  if (validFrom > now) return { status: 'failing', detail: `${what} is not valid before ${cert.validFrom}`, hint: "Check the box's clock.", validTo };
  const left = validTo - now;
  if (left < warnDays * DAY_MS) return { status: 'warning', detail: `${what} expires in ${describeDuration(left)} (${cert.validTo})`, hint: RENEW_HINT, validTo };
  return { status: 'ok', detail: `${what}, valid until ${cert.validTo}`, validTo };
}

export const tlsProbe: Probe = {
  id: 'tls-certificate',
  title: 'TLS certificate of the mx listener',
  run(context) {
    const tls = context.tls();
    const served = context.servedCertificate();
    if (!tls && !served) return unknown('no certificate found (it is made on the first start)');
    const warnDays = context.config.alerts.tlsExpiryDays.raise;
    const files = tls ? describeCertificate(tls.cert, tls.key, context.now, warnDays) : null;
    const { validTo: _validTo, ...outcome } = files ?? { status: 'failing' as const, detail: 'the certificate or key file is missing' };
    if (!served) return outcome;
    const servedFingerprint = certificateFingerprint(served.cert);
    if (tls && servedFingerprint === certificateFingerprint(tls.cert)) return outcome;
    // the files say one thing, the listeners serve another: describe both, the served one first (what clients see)
    const inUse = describeCertificate(served.cert, null, context.now, warnDays);
    const serving = `the listeners serve ${inUse.detail} (read ${new Date(served.loadedAt).toISOString()})`;
    if (outcome.status === 'failing' || outcome.status === 'unknown') {
      return {
        status: 'failing',
        detail: `the files cannot be used: ${outcome.detail}; ${serving}`,
        hint: `${outcome.hint ? `${outcome.hint} ` : ''}The listeners keep the pair they serve until the files hold a matching, valid pair (the log says why with CERTIFICATE_RELOAD_FAILED).`,
      };
    }
    return {
      status: inUse.status === 'ok' ? 'warning' : inUse.status,
      detail: `${serving}; the files hold another, not served yet: ${outcome.detail}`,
      hint: 'Moat serves the files within a minute of their change, or at once with systemctl reload moat (SIGHUP); if it stays, the log says why (CERTIFICATE_RELOAD_FAILED).',
    };
  },
};

// ---------------------------------------------------------------------------------------------- SMTP

/** 0.0.0.0 and :: are "every address": the relay reaches itself on loopback. */
export function connectableAddress(listen: string): { host: string; port: number } {
  const { host, port } = splitHostPort(listen);
  if (host === '0.0.0.0' || host === '') return { host: '127.0.0.1', port };
  if (host === '::') return { host: '::1', port };
  return { host, port };
}

export const selfTestProbe: Probe = {
  id: 'open-relay',
  title: 'Open-relay self-test',
  async run(context) {
    if (!context.mxAddress) return unknown('the relay is not running, so its mx listener cannot be tested', 'Start "moat serve", then run "moat checklist run".');
    const domain = context.config.domains[0];
    if (!domain) return unknown('no accepted domain is configured');
    const helo = context.selfTestHelo ?? context.hostname;
    const { host, port } = connectableAddress(context.mxAddress);
    const { results: _results, ...mx } = await openRelaySelfTest({ host, port, ourDomain: domain, helo });
    const outcomes = [mx];
    for (const [listener, address] of Object.entries(context.submissionAddresses ?? {}) as ['submission' | 'submissions', string][]) {
      outcomes.push(await submissionOutcome(context.config, listener, connectableAddress(address), helo));
    }
    return worstOf(outcomes);
  },
};

/** A submission listener must refuse a client that does not log in (unless the probe's own address is trusted). */
async function submissionOutcome(config: Config, listener: 'submission' | 'submissions', { host, port }: { host: string; port: number }, helo: string): Promise<ProbeOutcome> {
  const name = listener === 'submission' ? 'submission (587)' : 'submission with TLS (465)';
  try {
    const result = await submissionSelfTest({ host, port, listener, helo });
    if (result.refused === 'yes') return { status: 'ok', detail: `${name} at ${result.target} refused relaying without a login (${result.reply})` };
    if (result.refused === 'temporarily') {
      return { status: 'warning', detail: `${name} at ${result.target} refused relaying without a login only for now (${result.reply})`, hint: 'A client that does not log in should get a permanent 530. Run the self-test again; if it persists, report it.' };
    }
    if (new TrustedNetworks(config.submission.trustedNetworks).has(host)) {
      return { status: 'unknown', detail: `${name} at ${result.target} could not be tested from this box: ${host} is in the trusted networks, which may send without logging in` };
    }
    return {
      status: 'failing',
      detail: `OPEN RELAY: ${name} at ${result.target} relays mail to other domains without a login (${result.reply})`,
      hint: 'Anyone who can reach this port can send spam through the relay. Stop the relay or firewall the port now, check "submission.trustedNetworks", and report this as a bug.',
    };
  } catch (error) {
    return { status: 'unknown', detail: `could not talk to ${name} at ${host.includes(':') ? `[${host}]` : host}:${port}: ${(error as Error).message}`, hint: 'Is "moat serve" running? The self-test connects to the relay\'s own listeners.' };
  }
}

const SEVERITY: Record<ProbeOutcome['status'], number> = { ok: 0, unknown: 1, warning: 2, failing: 3 };

/** One outcome for several checks: the worst status, every detail, the hints of those that are not ok. */
function worstOf(outcomes: ProbeOutcome[]): ProbeOutcome {
  const status = outcomes.reduce((worst, outcome) => (SEVERITY[outcome.status] > SEVERITY[worst] ? outcome.status : worst), 'ok' as ProbeOutcome['status']);
  const hints = outcomes.filter((outcome) => outcome.status !== 'ok' && outcome.hint).map((outcome) => outcome.hint!);
  return { status, detail: outcomes.map((outcome) => outcome.detail).join('; '), ...(hints.length ? { hint: [...new Set(hints)].join(' ') } : {}) };
}

export const internalAuthProbe: Probe = {
  id: 'internal-auth',
  title: 'SMTP AUTH off on the internal server',
  async run(context) {
    const internal = context.config.internal;
    if (!internal) return unknown('no internal server is configured');
    const where = `${internal.host}:${internal.port}`;
    const check = await checkSmtpServer({
      host: internal.host,
      port: internal.port,
      hostname: context.hostname,
      starttls: internal.tls !== 'none',
      stepTimeoutMs: SMTP_PROBE_TIMEOUT_MS,
    });
    if (!check.steps.some((step) => step.step === 'ehlo' && step.ok)) {
      const failed = check.steps.find((step) => !step.ok);
      return unknown(`could not talk to ${where}: ${failed?.detail ?? 'no answer'}`);
    }
    // AUTH in plain text is the finding even when STARTTLS then fails; without it, only the session after TLS tells
    const afterTls = check.steps.filter((step) => step.step === 'ehlo' && step.ok).length === 2;
    if (!check.authBeforeTls.length && check.starttls && internal.tls !== 'none' && !afterTls) {
      return unknown(`could not talk to ${where} after STARTTLS: ${check.steps.find((step) => !step.ok)?.detail ?? 'no answer'}`);
    }
    const auth = check.authBeforeTls.length ? check.authBeforeTls : afterTls ? check.authMechanisms : [];
    if (auth.length === 0) return { status: 'ok', detail: `${where} does not offer SMTP AUTH to the relay` };
    const how = `(${auth.join(' ')}) ${check.authBeforeTls.length ? 'in plain text' : 'after STARTTLS'}`;
    if (internal.auth) return { status: 'ok', detail: `${where} offers SMTP AUTH ${how}; Moat itself logs in with internal.auth` };
    return {
      status: 'warning',
      detail: `${where} offers SMTP AUTH ${how}`,
      hint: 'Once office clients submit through Moat, switch AUTH off on the connector the relay uses, so stolen passwords have nothing to log in to.',
    };
  },
};

// ---------------------------------------------------------------------------------------------- admin, backup

export const adminListenerProbe: Probe = {
  id: 'admin-listener',
  title: 'Admin listener on loopback or HTTPS',
  run(context) {
    const listen = context.config.admin.listen;
    if (context.adminError) return { status: 'failing', detail: `the admin listener is not listening on ${listen}: ${context.adminError}`, hint: 'Free the port or choose another with --admin-listen.' };
    const address = context.adminAddress ?? listen;
    if (isLoopbackListen(address)) return { status: 'ok', detail: `bound to ${address} (loopback only)` };
    if (context.config.admin.tls.enabled) return { status: 'ok', detail: `bound to ${address}, HTTPS only` };
    return { status: 'failing', detail: `bound to ${address}, reachable from the network without TLS`, hint: 'Bind it to 127.0.0.1, or turn on "Serve the admin page over HTTPS" (admin.tls.enabled) in Settings → Configuration → Admin access.' };
  },
};

/** The users' quarantine page: its links go out in digests and notices, so one that could not bind leads users nowhere. */
export const userPageProbe: Probe = {
  id: 'user-page',
  title: "Users' quarantine page listening",
  run(context) {
    const listen = context.config.quarantine.userPage.listen;
    if (!listen) return { status: 'ok', detail: "the users' quarantine page is off (quarantine.userPage.listen is empty): only you release quarantined mail" };
    const page = context.userPage;
    if (page === undefined) return unknown(`run apart from the relay (moat checklist run), this cannot see whether the relay's page on ${listen} is up: the admin page's Checklist can`);
    if (page?.address) return { status: 'ok', detail: `listening on ${page.address}` };
    return {
      status: 'failing',
      detail: `it is not listening on ${listen}: ${page?.error ?? 'not started'}; the links in quarantine digests lead nowhere until it does (Moat tries to bind it again by itself)`,
      hint: 'Free that port, or choose another "User page address (internal interface)" (quarantine.userPage.listen) in Settings → Configuration → Filters and quarantine.',
    };
  },
};

export const adminPasswordProbe: Probe = {
  id: 'admin-password',
  title: 'Admin password set',
  async run(context) {
    if (!context.hooks.adminPasswordSet) {
      return unknown('this relay runs without the admin host (embedded use): nothing reports whether an admin password is set');
    }
    return (await context.hooks.adminPasswordSet())
      ? { status: 'ok', detail: 'an admin password is set' }
      : { status: 'failing', detail: 'no admin password is set', hint: 'Finish the setup wizard (it asks for one).' };
  },
};

/**
 * A moment in a probe's detail: when, not how long ago, since the result is read for hours after the check
 * ("on 2026-12-05 at 20:14 UTC").
 */
function clockTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `on ${iso.slice(0, 10)} at ${iso.slice(11, 16)} UTC`;
}

export const backupProbe: Probe = {
  id: 'backup-age',
  title: 'Recent backup',
  run(context) {
    const last = context.lastBackup();
    const error = context.lastBackupError();
    if (error && (!last || error.at > last.at)) {
      return { status: 'failing', detail: `the last scheduled backup failed ${clockTime(error.at)}: ${error.error}`, hint: 'Check the backup folder (Settings → Backups, backup.folder): free space and permissions.' };
    }
    if (!last) return { status: 'warning', detail: 'no backup has been made yet', hint: 'Press "Back up now" in Settings → Backups (or run "moat backup create FILE"), and for a schedule set "Back up every" (backup.intervalHours) in Settings → Configuration → Backups.' };
    const age = context.now - last.at;
    if (age > context.config.alerts.backupAgeDays * DAY_MS) {
      return { status: 'warning', detail: `the last backup was made ${clockTime(last.at)}, over ${context.config.alerts.backupAgeDays} days before this check (${last.file})`, hint: 'Make one now and keep a copy off the box.' };
    }
    return { status: 'ok', detail: `last backup ${clockTime(last.at)} (${last.file})` };
  },
};

/**
 * Alert mail to the office's own domains goes through the internal server: the one alert that matters most, "the
 * internal server is down", would wait in the queue behind the outage it reports.
 */
export const alertMailProbe: Probe = {
  id: 'alert-mail',
  title: 'Alert mail gets out when the internal server is down',
  run(context) {
    const to = context.config.alerts.emailTo;
    const outside = alertMailOutside(context.config);
    if (to.length === 0) {
      // a small office does not watch a dashboard: without a mail or a webhook, an outage is found by the users
      if (context.config.alerts.webhookUrl) return { status: 'ok', detail: 'no alert e-mail is set; alerts are posted to the webhook (alerts.webhookUrl)' };
      return {
        status: 'warning',
        detail: 'no alert e-mail is set: nobody is told when mail stops, unless the admin page or the desktop app is open at the time',
        hint: 'Add an address outside your domains (a mobile or provider mailbox) to "Email alerts to" (alerts.emailTo) in Settings → Configuration → Alerts.',
      };
    }
    if (outside.length) return { status: 'ok', detail: `alerts also go to ${outside.join(', ')}, outside your domains` };
    return {
      status: 'warning',
      detail: `alerts go to ${to.join(', ')} only, through the internal server: "the internal server is unreachable" waits in the queue until it is back`,
      hint: 'Add an address outside your domains (a mobile or provider mailbox) to "Email alerts to" (alerts.emailTo) in Settings → Configuration → Alerts.',
    };
  },
};

/** The alert addresses outside the accepted domains: the ones an alert reaches while the internal server is down. */
export function alertMailOutside(config: Pick<Config, 'domains' | 'alerts'>): string[] {
  const own = domainSet(config.domains);
  return config.alerts.emailTo.filter((address) => !inDomains(address, own));
}

/** The automatic probes, in the order the checklist shows them. */
export const PROBES: readonly Probe[] = [
  osUpdatesProbe,
  rebootProbe,
  moatVersionProbe,
  nodeRuntimeProbe,
  clamavProbe,
  spamEnginesProbe,
  tlsProbe,
  selfTestProbe,
  internalAuthProbe,
  adminListenerProbe,
  userPageProbe,
  adminPasswordProbe,
  alertMailProbe,
  backupProbe,
];

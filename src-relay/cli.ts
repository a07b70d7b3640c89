import { parseArgs } from 'node:util';
import { homedir, platform } from 'node:os';
import { join } from 'node:path';
import type { ConfigInput } from './config/schema.ts';
import { checkServeReady, formatProblems, loadConfig, splitHostPort, type ConfigProblem, type ConfigResult } from './config/load.ts';
import { hostPortSchema } from './config/schema.ts';
import { createStreamLogger, silentLogger } from './log/logger.ts';
import { dataPaths, missingStore, openServedStore, type Relay } from './engine.ts';
import { ConfigRefused, startAdminHost, type AdminHost } from './admin/host.ts';
import { resolverFromEnvironment } from './util/fixture-resolver.ts';
import { notAQueueId, typedQueueId } from './util/ids.ts';
import { STATE_KEYS } from './store/state-store.ts';
import { databaseProblem } from './store/db.ts';
import { DataDirBusy } from './store/data-dir-lock.ts';
import { formatMessageDetail, formatQueueList } from './queue/format.ts';
import { cliActor, guardStdio, processIo } from './cli/io.ts';
import { USERS_USAGE, usersCommand } from './cli/users.ts';
import { closest } from './util/typos.ts';
import { DKIM_USAGE, dkimCommand } from './cli/dkim.ts';
import { BACKUP_USAGE, backupCommand } from './cli/backup.ts';
import { CHECKLIST_USAGE, checklistCommand } from './cli/checklist.ts';
import { QUARANTINE_USAGE, quarantineCommand, sendersCommand } from './cli/quarantine.ts';
import { ADMIN_USAGE, adminCommand } from './cli/admin.ts';
import { ADMIN_RETRY_BIND_MS } from './http/server.ts';

const USAGE = `usage:
  moat serve  [--data-dir DIR] [--config FILE] [--domain NAME]... [--mx-listen HOST:PORT]
              [--internal HOST:PORT] [--smarthost HOST:PORT]
              [--submission-listen HOST:PORT] [--submissions-listen HOST:PORT]
              [--admin-listen HOST:PORT]
  moat check  [--data-dir DIR] [--config FILE] [same flags as serve]
  moat queue  list | show ID | retry ID | retry --all | hold ID | hold --all | resume
              | release ID | release --all | delete ID | bounce ID      [--data-dir DIR]
${USERS_USAGE}
${DKIM_USAGE}
${BACKUP_USAGE}
${CHECKLIST_USAGE}
${QUARANTINE_USAGE}
${ADMIN_USAGE}

DIR defaults to $MOAT_DATA_DIR, else ${defaultDataDir()}; FILE defaults to DIR/moat.json.`;

/** Exit codes: 0 done, 1 the operation failed (e.g. no such message), 2 bad usage or configuration. */
const EXIT_USAGE = 2;

class UsageError extends Error {
  /** `brief`: the message says what to do; the whole usage after it would bury it. */
  constructor(message: string, readonly brief = false) {
    super(message);
  }
}

const COMMANDS = ['serve', 'check', 'queue', 'users', 'dkim', 'backup', 'quarantine', 'senders', 'admin', 'checklist', 'help'];
const QUEUE_ACTIONS = ['list', 'show', 'retry', 'hold', 'resume', 'release', 'delete', 'bounce'];

const didYouMean = (typed: string, known: readonly string[], prefix = ''): string => {
  const near = closest(typed, known);
  return near ? ` (did you mean ${prefix}${near}?)` : '';
};

function defaultDataDir(): string {
  if (process.env.MOAT_DATA_DIR) return process.env.MOAT_DATA_DIR;
  if (platform() === 'win32') return join(process.env.ProgramData ?? 'C:\\ProgramData', 'Moat');
  if (platform() === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Moat');
  return '/var/lib/moat';
}

export const FLAGS = {
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  domain: { type: 'string', multiple: true },
  'mx-listen': { type: 'string' },
  internal: { type: 'string' },
  smarthost: { type: 'string' },
  'submission-listen': { type: 'string' },
  'submissions-listen': { type: 'string' },
  sender: { type: 'string', multiple: true },
  selector: { type: 'string' },
  'admin-listen': { type: 'string' },
  'passphrase-file': { type: 'string' },
  'deliver-queue': { type: 'boolean' },
  'allow-sender': { type: 'boolean' },
  search: { type: 'string' },
  now: { type: 'boolean' },
  to: { type: 'string' },
  note: { type: 'string' },
  all: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parseFlags>['values'];

function parseFlags(args: string[]) {
  try {
    return parseArgs({ args, options: FLAGS, allowPositionals: true, strict: true });
  } catch (error) {
    // Node's own words suggest '--' for a positional: the admin mistyped a flag
    const unknown = /^Unknown option '(-{1,2}[^']*)'/.exec((error as Error).message)?.[1];
    if (unknown) throw new UsageError(`unknown option ${unknown}${didYouMean(unknown.replace(/^-+/, ''), Object.keys(FLAGS), '--')}`);
    throw new UsageError((error as Error).message);
  }
}

/** Flags become config overrides; a malformed HOST:PORT is a problem with its flag's name. */
export function overridesFrom(flags: Flags): { overrides: ConfigInput; problems: ConfigProblem[] } {
  const overrides: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  const hop = (flag: 'internal' | 'smarthost', path: string) => {
    const value = flags[flag];
    if (value === undefined) return undefined;
    if (!hostPortSchema.safeParse(value).success) {
      problems.push({ path: `${path} (--${flag})`, message: `expected HOST:PORT, got ${JSON.stringify(value)}` });
      return undefined;
    }
    return splitHostPort(value);
  };
  if (flags.domain) overrides.domains = flags.domain;
  if (flags['mx-listen'] !== undefined) overrides.mx = { listen: flags['mx-listen'] };
  if (flags['admin-listen'] !== undefined) overrides.admin = { listen: flags['admin-listen'] };
  const submission: Record<string, string> = {};
  if (flags['submission-listen'] !== undefined) submission.listen = flags['submission-listen'];
  if (flags['submissions-listen'] !== undefined) submission.tlsListen = flags['submissions-listen'];
  if (Object.keys(submission).length > 0) overrides.submission = submission;
  const internal = hop('internal', 'internal');
  if (internal) overrides.internal = internal;
  const smarthost = hop('smarthost', 'outbound.smarthost');
  if (smarthost) overrides.outbound = { smarthost };
  return { overrides: overrides as ConfigInput, problems };
}

/**
 * Flags over the file, validated; for serve and check also what serving needs. Every problem is listed at once:
 * a malformed flag does not hide a problem in the file or a missing setting.
 */
function resolveConfig(flags: Flags, forServe = false): { dataDir: string; configFile: string; result: ConfigResult } {
  const dataDir = flags['data-dir'] ?? defaultDataDir();
  const configFile = flags.config ?? dataPaths(dataDir).config;
  const { overrides, problems } = overridesFrom(flags);
  const result = loadConfig(configFile, overrides, flags.config !== undefined);
  if (!result.ok) problems.push(...result.problems);
  else if (forServe) {
    // a setting whose flag was refused above is not reported a second time as missing
    const refused = problems.map((problem) => problem.path.split(' ')[0]!);
    problems.push(...checkServeReady(result.config).filter((problem) => !refused.some((path) => problem.path.startsWith(path))));
  }
  return { dataDir, configFile, result: problems.length > 0 ? { ok: false, problems } : result };
}

function refuseConfig(configFile: string, problems: ConfigProblem[]): number {
  process.stderr.write(`moat: the configuration is not valid (${configFile}):\n${formatProblems(problems)}\nNothing was started or changed.\n`);
  return EXIT_USAGE;
}

async function serve(flags: Flags): Promise<number> {
  const { dataDir, configFile, result } = resolveConfig(flags);
  if (!result.ok) return refuseConfig(configFile, result.problems);
  const logger = createStreamLogger(process.stderr);
  const { overrides } = overridesFrom(flags);
  // listening for the stop signal from the start: whoever reads the ready line may signal at once, and a signal
  // during start-up stops the relay once it has started
  const stopRequested = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'STOPPING');
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  let host: AdminHost | undefined;
  // SIGHUP is a reload (systemctl reload, certbot and logrotate hooks), never a stop: Node's default for it would end
  // the process on the spot, with no STOPPING and no grace for the sessions
  process.on('SIGHUP', () => {
    if (host) host.reload('SIGHUP');
    else logger.info({ signal: 'SIGHUP', detail: 'still starting: the certificate files are read as the listeners start' }, 'RELOADING');
  });
  let admin = 'unavailable';
  // after the first start, each (re)start by the wizard or Apply prints the ready line again: the console tells the truth
  let printReady = false;
  const readyLine = (relay: Relay) => {
    const submission = (['submission', 'submissions'] as const).map((name) => (relay.addresses[name] ? ` ${name}=${relay.addresses[name]}` : '')).join('');
    const userPage = relay.userPage ? ` user-page=${relay.userPage.address ?? 'unavailable'}` : '';
    process.stdout.write(`moat ready mx=${relay.addresses.mx}${submission}${userPage} admin=${admin} data-dir=${dataDir}\n`);
  };
  try {
    host = await startAdminHost({
      dataDir,
      configFile: flags.config,
      overrides: overrides as Record<string, unknown>,
      adminToken: process.env.MOAT_ADMIN_TOKEN || null,
      logger,
      relayOptions: { resolver: resolverFromEnvironment() },
      onEngineStarted: (relay) => {
        relay.queue.store.setState(STATE_KEYS.servedDomains, JSON.stringify(relay.config.domains));
        if (printReady) readyLine(relay);
      },
    });
  } catch (error) {
    if (error instanceof ConfigRefused) return refuseConfig(configFile, error.problems);
    throw error;
  }
  admin = host.adminAddress ?? 'unavailable';
  printReady = true;
  const relay = host.relay;
  if (relay) {
    if (relay.damaged.length > 0) {
      process.stderr.write(`moat: WARNING ${relay.damaged.length} queued message(s) have a missing or torn spool file: ${relay.damaged.join(', ')}\n`);
    }
    readyLine(relay);
  } else {
    process.stdout.write(`moat waiting for setup admin=${admin} state=${host.state} data-dir=${dataDir}\n`);
    if (host.error) process.stderr.write(`moat: the relay is not running: ${host.error}\n`);
  }
  const { listen, error } = host.adminListen;
  if (!host.adminAddress) {
    process.stderr.write(
      `moat: the admin page is not up: ${listen} cannot be bound (${error ?? 'unknown error'}); another program, perhaps another Moat, holds it. ` +
        `It is tried again every ${ADMIN_RETRY_BIND_MS / 1000} s: stop the other one, or start this one with --admin-listen 127.0.0.1:PORT.\n`,
    );
  }
  if (host.setupToken) {
    const page = `http${host.config.admin.tls.enabled ? 's' : ''}://${host.adminAddress ?? listen}/`;
    process.stdout.write(
      `moat setup token: ${host.setupToken}\n  Open the admin page (${page}${host.adminAddress ? '' : ', once it is up'}) and enter this token to set the admin password.\n` +
        `  It is also in ${host.auth.tokenFile}; it changes at each start until the relay is claimed.\n`,
    );
  }
  // a service whose relay and admin page both failed to start waits for its retries (and a stop), not for nothing
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1);
  await stopRequested;
  clearInterval(keepAlive);
  await host.stop();
  return 0;
}

function check(flags: Flags): number {
  const { configFile, result } = resolveConfig(flags, true);
  if (!result.ok) return refuseConfig(configFile, result.problems);
  process.stdout.write(`configuration OK (${configFile}): domains ${result.config.domains.join(', ')}\n`);
  return 0;
}

async function queueCommand(flags: Flags, args: string[]): Promise<number> {
  const [action, typed] = args;
  if (action === undefined) throw new UsageError(`queue needs an action: ${QUEUE_ACTIONS.join(', ')}`);
  if (!QUEUE_ACTIONS.includes(action)) throw new UsageError(`unknown queue action ${JSON.stringify(action)}${didYouMean(action, QUEUE_ACTIONS)}`);
  const { dataDir, configFile, result } = resolveConfig(flags);
  if (!result.ok) return refuseConfig(configFile, result.problems);
  const needsId = !(action === 'list' || action === 'resume' || ((action === 'retry' || action === 'hold' || action === 'release') && flags.all));
  const id = typed === undefined ? undefined : (typedQueueId(typed) ?? undefined);
  if (needsId && typed === undefined) throw new UsageError(`queue ${action} needs a queue id${action === 'list' || action === 'show' || action === 'delete' || action === 'bounce' ? '' : ' (or --all)'}`);
  if (needsId && id === undefined) throw new UsageError(notAQueueId(typed!), true);
  const missing = missingStore(dataDir);
  if (missing) {
    process.stderr.write(`moat: ${missing}
`);
    return 1;
  }
  const { db, queue } = openServedStore(dataDir, result.config, silentLogger, Boolean(flags.domain));
  const by = cliActor();
  const done = (ok: boolean, what: string) => {
    process.stdout.write(ok ? `${what}\n` : `no queued message ${id}\n`);
    return ok ? 0 : 1;
  };
  try {
    switch (action) {
      case 'list':
        process.stdout.write(formatQueueList(queue, Date.now()));
        return 0;
      case 'show': {
        const text = formatMessageDetail(queue, id!);
        if (!text) return done(false, '');
        process.stdout.write(text);
        return 0;
      }
      case 'retry':
        if (flags.all) return done(true, `${queue.retryAll(by)} recipient(s) due now`);
        return done(queue.retry(id!, by), `${id} due now`);
      case 'hold':
        if (flags.all) {
          queue.holdAll(by);
          return done(true, 'queue held: nothing is delivered until "moat queue resume" (messages held on their own stay held) or "moat queue release --all" (releases them too)');
        }
        return done(queue.hold(id!, by), `${id} held`);
      case 'resume': {
        const stillHeld = queue.resume(by);
        return done(true, stillHeld ? `delivery resumed; ${stillHeld} message(s) held on their own stay held` : 'delivery resumed');
      }
      case 'release':
        if (flags.all) return done(true, `queue released (${queue.releaseAll(by)} held message(s) released too)`);
        return done(queue.release(id!, by), `${id} released`);
      case 'delete':
        return done(await queue.delete(id!, by), `${id} deleted`);
      case 'bounce':
        return done(await queue.bounce(id!, by), `${id} returned to its sender`);
      default:
        throw new UsageError(`unknown queue action ${JSON.stringify(action ?? '')}`);
    }
  } finally {
    queue.flushHistory();
    db.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  guardStdio();
  const [command, ...rest] = argv;
  try {
    if (command === '--help' || command === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (command?.startsWith('-')) throw new UsageError(`the command comes first (moat COMMAND [options]): ${COMMANDS.filter((name) => name !== 'help').join(', ')}; got ${command}`);
    const { values: flags, positionals } = parseFlags(rest);
    if (flags.help || command === undefined || command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? EXIT_USAGE : 0;
    }
    switch (command) {
      case 'serve':
        if (positionals.length) throw new UsageError(`serve takes no arguments, got ${positionals.join(' ')}`);
        return await serve(flags);
      case 'check':
        return check(flags);
      case 'queue':
        return await queueCommand(flags, positionals);
      case 'users': {
        // the relay's domains, to note a sender domain that is not one of them; users work without a configuration too
        const { result } = resolveConfig(flags);
        return await usersCommand(flags['data-dir'] ?? defaultDataDir(), positionals, flags, processIo, result.ok ? result.config.domains : []);
      }
      case 'dkim':
        return await dkimCommand(flags['data-dir'] ?? defaultDataDir(), positionals, flags, processIo);
      case 'backup':
        return await backupCommand(positionals, { dataDirFlag: flags['data-dir'], passphraseFile: flags['passphrase-file'], deliverQueue: flags['deliver-queue'], resolve: () => resolveConfig(flags), refuseConfig }, processIo);
      case 'quarantine':
      case 'senders':
        return await (command === 'quarantine' ? quarantineCommand : sendersCommand)(positionals, { resolve: () => resolveConfig(flags), refuseConfig, flags }, processIo);
      case 'admin':
        return await adminCommand(flags['data-dir'] ?? defaultDataDir(), positionals, processIo);
      case 'checklist':
        return await checklistCommand(positionals, { resolve: () => resolveConfig(flags), refuseConfig }, processIo);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}${didYouMean(command, COMMANDS)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(error.brief ? `moat: ${error.message}\n` : `moat: ${error.message}\n${USAGE}\n`);
      return EXIT_USAGE;
    }
    // the store's own errors (a full disk, a damaged database, another relay on it) are the admin's to act on: the
    // words, no stack
    if (error instanceof DataDirBusy) {
      process.stderr.write(`moat: ${error.message}\n`);
      return 1;
    }
    const problem = databaseProblem(error);
    if (problem) {
      process.stderr.write(`moat: ${problem}\n`);
      return 1;
    }
    process.stderr.write(`moat: ${(error as Error).stack ?? error}\n`);
    return 1;
  }
}

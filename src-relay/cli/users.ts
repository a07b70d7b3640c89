// `moat users ...`: the accounts that may send through the submission listeners. Works on the data directory while
// `serve` runs (SQLite, WAL): a new password, a removal or an unlock takes effect on the relay's next check.
import { mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { AccountStore, lockKey, splitPairKey } from '../auth/account-store.ts';
import { FAMILIAR_ADDRESS_DAYS } from '../auth/lockout.ts';
import { defaultSenderRules, normalizeUserName, outsideDomainNotes, parseSenderRules, type SenderRule } from '../auth/names.ts';
import { hashPassword, passwordProblem } from '../auth/password.ts';
import { openDatabase } from '../store/db.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, formatTime, readSecret, type CommandIo } from './io.ts';

export const USERS_USAGE = `  moat users  add NAME [--sender ADDRESS | --sender @DOMAIN]... | passwd NAME | remove NAME
              | senders NAME [--sender ...]... | unlock NAME|ADDRESS | show NAME | list   [--data-dir DIR]
              (passwords are asked for, or read from the first line of standard input; never arguments)`;

export interface UsersFlags {
  sender?: string[] | undefined;
}

class UsageProblem extends Error {}

const notes = (rules: readonly SenderRule[], relayDomains: readonly string[]) => outsideDomainNotes(rules, relayDomains).map((note) => `note: ${note}\n`).join('');

/** `relayDomains`: the domains of the relay's configuration, to note sender domains that are not among them. */
export async function usersCommand(dataDir: string, args: string[], flags: UsersFlags, io: CommandIo, relayDomains: readonly string[] = [], now: () => number = Date.now): Promise<number> {
  const [action, rawName, ...extra] = args;
  try {
    if (extra.length > 0) throw new UsageProblem(`unexpected arguments: ${extra.join(' ')}`);
    if (flags.sender && action !== 'add' && action !== 'senders') throw new UsageProblem('--sender goes with "users add" or "users senders"');
    if (action === 'list') {
      if (rawName !== undefined) throw new UsageProblem('users list takes no name');
      return withStore(dataDir, (accounts) => list(accounts, io, now()));
    }
    if (!action || !['add', 'passwd', 'remove', 'senders', 'unlock', 'show'].includes(action)) {
      throw new UsageProblem(`unknown users action ${JSON.stringify(action ?? '')}`);
    }
    if (rawName === undefined) throw new UsageProblem(`users ${action} needs a user name`);
    if (action === 'unlock' && isIP(rawName)) {
      return withStore(dataDir, (accounts) => {
        const unlocked = accounts.unlockAddress(rawName.toLowerCase().replace(/^::ffff:/, ''));
        io.out(unlocked ? `client address ${rawName} unlocked\n` : `client address ${rawName} was not locked\n`);
        return EXIT_OK;
      });
    }
    const name = normalizeUserName(rawName);
    if (!name) throw new UsageProblem(`"${rawName}" is not a valid user name (letters, digits and . _ @ + -; at most 254 characters)`);
    const senders = flags.sender ? parseRules(flags.sender) : undefined;
    switch (action) {
      case 'add': {
        const rules = senders ?? defaultRules(name);
        const password = await newPassword(io, name);
        if (password === null) return EXIT_FAILED;
        const hash = await hashPassword(password);
        return withStore(dataDir, (accounts) => {
          if (!accounts.add(name, hash, rules, now())) return failed(io, `user ${name} already exists ("moat users passwd ${name}" sets a new password)`);
          io.out(`user ${name} added; may send as ${rules.join(', ')}\n${notes(rules, relayDomains)}`);
          return EXIT_OK;
        });
      }
      case 'passwd': {
        if (!(await withStore(dataDir, (accounts) => accounts.get(name) !== undefined))) return failed(io, `no user ${name}`);
        const password = await newPassword(io, name);
        if (password === null) return EXIT_FAILED;
        const hash = await hashPassword(password);
        return withStore(dataDir, (accounts) => (accounts.setPassword(name, hash, now()) ? done(io, `password of ${name} changed`) : failed(io, `no user ${name}`)));
      }
      case 'remove':
        return withStore(dataDir, (accounts) => (accounts.remove(name) ? done(io, `user ${name} removed`) : failed(io, `no user ${name}`)));
      case 'senders':
        return withStore(dataDir, (accounts) => {
          const account = accounts.get(name);
          if (!account) return failed(io, `no user ${name}`);
          if (!senders) return done(io, `${name} may send as ${account.senders.join(', ') || '(nothing)'}`);
          accounts.setSenders(name, senders, now());
          return done(io, `${name} may now send as ${senders.join(', ')}\n${notes(senders, relayDomains)}`.trimEnd());
        });
      case 'unlock':
        return withStore(dataDir, (accounts) => {
          if (!accounts.adminUnlock(name, now())) return failed(io, `no user ${name}`);
          return done(io, `user ${name} unlocked: logins and sending are allowed again, the hourly counts start afresh`);
        });
      case 'show':
        return withStore(dataDir, (accounts) => show(accounts, name, io, now()));
    }
    throw new UsageProblem(`unknown users action ${JSON.stringify(action)}`);
  } catch (error) {
    if (error instanceof UsageProblem) {
      io.err(`moat: ${error.message}\nusage:\n${USERS_USAGE}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

function parseRules(values: string[]): SenderRule[] {
  const parsed = parseSenderRules(values);
  if (!parsed.ok) throw new UsageProblem(`--sender ${parsed.problems[0]!.reason}`);
  return parsed.rules;
}

/** A user named by an address may send as that address; any other name needs --sender. */
function defaultRules(name: string): SenderRule[] {
  const rules = defaultSenderRules(name);
  if (rules) return rules;
  throw new UsageProblem(`say which addresses ${name} may send as: --sender ${name}@example.com or --sender @example.com`);
}

async function newPassword(io: CommandIo, name: string): Promise<string | null> {
  let password: string;
  try {
    password = await readSecret(io, `New password for ${name}`);
  } catch (error) {
    io.err(`moat: ${(error as Error).message}\n`);
    return null;
  }
  const problem = passwordProblem(password);
  if (problem) {
    io.err(`moat: ${problem}\n`);
    return null;
  }
  return password;
}

function withStore<T>(dataDir: string, use: (accounts: AccountStore) => T): T {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(dataDir);
  try {
    return use(new AccountStore(db));
  } finally {
    db.close();
  }
}

function done(io: CommandIo, text: string): number {
  io.out(`${text}\n`);
  return EXIT_OK;
}

function failed(io: CommandIo, text: string): number {
  io.err(`moat: ${text}\n`);
  return EXIT_FAILED;
}

function status(accounts: AccountStore, account: { name: string; suspendedAt: number | null; suspendedReason: string | null }, now: number): string {
  if (account.suspendedAt !== null) return `SUSPENDED since ${formatTime(account.suspendedAt)} (${account.suspendedReason ?? 'circuit breaker'})`;
  const lock = accounts.lock(lockKey.name(account.name));
  if (lock?.locked_until && lock.locked_until > now) {
    return `LOCKED until ${formatTime(lock.locked_until)} (${lock.failures} failed logins from all addresses; addresses it logged in from in the last ${FAMILIAR_ADDRESS_DAYS} days may still log in)`;
  }
  const pairs = accounts.activeLocks(now).flatMap((row) => {
    const pair = splitPairKey(row.key);
    return pair?.name === account.name ? [`LOCKED from ${pair.ip} until ${formatTime(row.locked_until)} (${row.failures} failed logins from there)`] : [];
  });
  return pairs.length > 0 ? pairs.join('; ') : 'ok';
}

function list(accounts: AccountStore, io: CommandIo, now: number): number {
  const all = accounts.list();
  if (all.length === 0) io.out('no users (add one with "moat users add NAME --sender ADDRESS")\n');
  for (const account of all) {
    const last = accounts.lastSuccess(account.name);
    io.out(
      `${account.name}\n  status: ${status(accounts, account, now)}\n  may send as: ${account.senders.join(', ') || '(nothing)'}\n` +
        `  last login: ${last ? `${formatTime(last.at)} from ${last.client_ip ?? '?'}` : 'never'}\n`,
    );
  }
  const addresses = accounts.activeLocks(now).filter((lock) => lock.key.startsWith('ip:'));
  for (const lock of addresses) {
    io.out(`locked client address ${lock.key.slice(3)} until ${formatTime(lock.locked_until)} (${lock.failures} failed logins; "moat users unlock ${lock.key.slice(3)}")\n`);
  }
  return EXIT_OK;
}

function show(accounts: AccountStore, name: string, io: CommandIo, now: number): number {
  const account = accounts.get(name);
  if (!account) return failed(io, `no user ${name}`);
  io.out(
    `user ${account.name}\n  status: ${status(accounts, account, now)}\n  may send as: ${account.senders.join(', ') || '(nothing)'}\n` +
      `  created: ${formatTime(account.createdAt)}, changed: ${formatTime(account.updatedAt)}, last unlocked: ${formatTime(account.unlockedAt)}\n  recent logins and events:\n`,
  );
  const events = accounts.events(name, 20);
  if (events.length === 0) io.out('    (none)\n');
  for (const event of events) {
    io.out(`    ${formatTime(event.at)} ${event.outcome.toUpperCase()} ${event.client_ip ?? ''}${event.listener ? ` on ${event.listener}` : ''}${event.detail ? `: ${event.detail}` : ''}\n`);
  }
  return EXIT_OK;
}

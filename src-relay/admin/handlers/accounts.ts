// Submission accounts (the office clients that send through Moat): the same store, name and sender rules, password
// hashing and unlock as `moat users`. Works before the first start too: the wizard adds accounts during setup.
import { isIP } from 'node:net';
import { AccountStore, lockKey, splitPairKey, type Account } from '../../auth/account-store.ts';
import type { accountsContract } from '../../auth/contract.ts';
import { defaultSenderRules, normalizeUserName, outsideDomainNotes, parseSenderRules, type SenderRule } from '../../auth/names.ts';
import { hashPassword, passwordProblem } from '../../auth/password.ts';
import { clientKey, normalizeClientIp } from '../../util/networks.ts';
import { ApiError } from '../errors.ts';
import { withDatabase } from './database.ts';
import type { ApiContext, Handlers } from './types.ts';

function userName(raw: string): string {
  const name = normalizeUserName(raw);
  if (!name) throw new ApiError('INVALID_INPUT', undefined, [{ path: 'name', message: 'use letters, digits and . _ @ + - (at most 254 characters; not an IP address)' }]);
  return name;
}

/**
 * A client address as the lockouts key it: IPv4-mapped IPv6 is the IPv4 client, IPv6 in lower case (as Node gives
 * it); an IPv6 /64 as the lockouts list shows it ("2001:db8:1:2::/64") is taken as it is.
 */
function clientAddress(raw: string): string {
  const network = /^([0-9a-f:]+)\/64$/i.exec(raw);
  if (network && isIP(network[1]!) === 6) return clientKey(network[1]!);
  if (!isIP(raw)) throw new ApiError('INVALID_INPUT', undefined, [{ path: 'address', message: 'expected an IP address, e.g. 192.0.2.10 or 2001:db8::10, or an IPv6 /64 as listed' }]);
  return normalizeClientIp(raw.toLowerCase());
}

function checkPassword(password: string): void {
  const problem = passwordProblem(password);
  if (problem) throw new ApiError('INVALID_INPUT', undefined, [{ path: 'password', message: problem }]);
}

function senderRules(values: readonly string[]): SenderRule[] {
  const parsed = parseSenderRules(values);
  if (!parsed.ok) throw new ApiError('INVALID_INPUT', undefined, parsed.problems.map(({ index, reason }) => ({ path: `senders.${index}`, message: reason })));
  return parsed.rules;
}

const lockView = (lock: { until: number; from: string[] | null } | null) => ({ lockedUntil: lock?.until ?? null, lockedFrom: lock?.from ?? null });

function view(accounts: AccountStore, account: Account, now: number) {
  const last = accounts.lastSuccess(account.name);
  return {
    name: account.name,
    senders: account.senders,
    createdAt: account.createdAt,
    updatedAt: account.updatedAt,
    suspendedAt: account.suspendedAt,
    suspendedReason: account.suspendedReason,
    ...lockView(accounts.lockOf(account.name, now)),
    lastLogin: last ? { at: last.at, clientIp: last.client_ip } : null,
  };
}

/** Runs `use` on the account store; the account named must exist (ACCOUNT_GONE), and is returned as the API shows it. */
function withAccount(context: ApiContext, name: string, use: (accounts: AccountStore, now: number) => boolean) {
  return withDatabase(context, (db) => {
    const accounts = new AccountStore(db);
    const now = context.clock();
    if (!use(accounts, now)) throw new ApiError('ACCOUNT_GONE', `no account ${name}`);
    const account = accounts.get(name);
    if (!account) throw new ApiError('ACCOUNT_GONE', `no account ${name}`);
    return view(accounts, account, now);
  });
}

const exists = (context: ApiContext, name: string) => withDatabase(context, (db) => new AccountStore(db).get(name) !== undefined);

export const accountsHandlers = {
  'accounts.list': (_input, context) =>
    withDatabase(context, (db) => {
      const accounts = new AccountStore(db);
      const now = context.clock();
      return { accounts: accounts.list().map((account) => view(accounts, account, now)) };
    }),

  'accounts.add': async (input, context) => {
    const name = userName(input.name);
    checkPassword(input.password);
    const rules = input.senders.length ? senderRules(input.senders) : defaultSenderRules(name);
    if (!rules) throw new ApiError('INVALID_INPUT', undefined, [{ path: 'senders', message: `say which addresses ${name} may send as: an address, or @example.com for a whole domain` }]);
    if (exists(context, name)) throw new ApiError('ACCOUNT_EXISTS', `an account ${name} exists already (set a new password instead)`);
    const hash = await hashPassword(input.password);
    const result = withDatabase(context, (db) => {
      const accounts = new AccountStore(db);
      const now = context.clock();
      if (!accounts.add(name, hash, rules, now)) throw new ApiError('ACCOUNT_EXISTS', `an account ${name} exists already (set a new password instead)`);
      return view(accounts, accounts.get(name)!, now);
    });
    context.logger.info({ user: name, senders: rules.join(','), by: context.actor }, 'ACCOUNT_ADDED');
    return { ...result, notes: outsideDomainNotes(rules, context.config().domains) };
  },

  'accounts.setPassword': async (input, context) => {
    const name = userName(input.name);
    checkPassword(input.password);
    if (!exists(context, name)) throw new ApiError('ACCOUNT_GONE', `no account ${name}`);
    const hash = await hashPassword(input.password);
    const result = withAccount(context, name, (accounts, now) => accounts.setPassword(name, hash, now));
    context.logger.info({ user: name, by: context.actor }, 'ACCOUNT_PASSWORD_SET');
    return result;
  },

  'accounts.setSenders': (input, context) => {
    const name = userName(input.name);
    const rules = senderRules(input.senders);
    const result = withAccount(context, name, (accounts, now) => accounts.setSenders(name, rules, now));
    context.logger.info({ user: name, senders: rules.join(','), by: context.actor }, 'ACCOUNT_SENDERS_SET');
    return { ...result, notes: outsideDomainNotes(rules, context.config().domains) };
  },

  'accounts.unlock': (input, context) => {
    const name = userName(input.name);
    const result = withAccount(context, name, (accounts, now) => accounts.adminUnlock(name, now, `unlocked by ${context.actor}`));
    context.logger.info({ user: name, by: context.actor }, 'ACCOUNT_UNLOCKED');
    return result;
  },

  'accounts.remove': (input, context) => {
    const name = userName(input.name);
    if (!withDatabase(context, (db) => new AccountStore(db).remove(name))) throw new ApiError('ACCOUNT_GONE', `no account ${name}`);
    context.logger.info({ user: name, by: context.actor }, 'ACCOUNT_REMOVED');
    return {};
  },

  'accounts.lockouts': (_input, context) =>
    withDatabase(context, (db) => {
      const accounts = new AccountStore(db);
      const [ip, name] = [lockKey.ip(''), lockKey.name('')];
      const active = accounts.activeLocks(context.clock()).map((lock) => ({ key: lock.key, until: lock.locked_until!, failures: lock.failures }));
      return {
        addresses: active.filter(({ key }) => key.startsWith(ip)).map(({ key, until, failures }) => ({ address: key.slice(ip.length), until, failures })),
        names: [
          ...active
            .filter(({ key }) => key.startsWith(name))
            .map(({ key, until, failures }) => ({ name: key.slice(name.length), until, failures, account: accounts.get(key.slice(name.length)) !== undefined })),
          ...active.flatMap(({ key, until, failures }) => {
            const pair = splitPairKey(key);
            return pair ? [{ name: pair.name, address: pair.ip, until, failures, account: accounts.get(pair.name) !== undefined }] : [];
          }),
        ],
      };
    }),

  'accounts.unlockAddress': (input, context) => {
    const address = clientAddress(input.address);
    const unlocked = withDatabase(context, (db) => new AccountStore(db).unlockAddress(address));
    context.logger.info({ ip: address, by: context.actor, unlocked }, 'ADDRESS_UNLOCKED');
    return { address, unlocked };
  },
} satisfies Handlers<typeof accountsContract>;

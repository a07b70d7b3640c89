// Submission accounts and the sender allow/deny lists through the admin API: before the first start (the wizard adds
// accounts during setup) and on a running relay, checked with real logins on the submission listener and real mail
// on mx. Every result goes through the contract's output schema.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { accountsHandlers } from '../../src-relay/admin/handlers/accounts.ts';
import { sendersHandlers } from '../../src-relay/admin/handlers/senders.ts';
import { accountsContract } from '../../src-relay/auth/contract.ts';
import type { ApiContext } from '../../src-relay/admin/handlers/types.ts';
import { apiContext } from '../helpers/api-context.ts';
import { apiError, callHandler } from '../helpers/api-call.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { message, send } from '../helpers/smtp.ts';
import { PASSWORD, officeMessage, startSubmissionRelay, submit, withAccounts } from '../helpers/submission.ts';
import { validateConfig } from '../../src-relay/config/load.ts';
import type { Config } from '../../src-relay/config/schema.ts';

const TEST_TIMEOUT_MS = 120_000;
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

type SmtpError = Error & { responseCode?: number; response?: string };
const refused = (code: number) => (error: SmtpError) => {
  assert.equal(error.responseCode, code, error.response ?? error.message);
  return true;
};

/** Before the first start the admin host's configuration is the file's (here: example.test only). */
const beforeStart = (() => {
  const result = validateConfig({ domains: ['example.test'] });
  assert.ok(result.ok);
  return (): Config => result.config;
})();

const accounts = <K extends keyof typeof accountsHandlers>(context: ApiContext, name: K, input: unknown) => callHandler(accountsHandlers, name, input, context);
const senders = <K extends keyof typeof sendersHandlers>(context: ApiContext, name: K, input: unknown) => callHandler(sendersHandlers, name, input, context);

test('an account added during setup, before the relay runs, sends as its own address once the relay starts', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = tempDir('moat-accounts-setup-');
  dirs.push(dataDir);
  const setup = apiContext(null, { dataDir, config: beforeStart });
  const { notes, ...added } = await accounts(setup, 'accounts.add', { name: 'Alice@Example.test', password: PASSWORD, senders: [] });
  assert.deepEqual(notes, [], 'an address at the relay\'s domain needs no note');
  assert.equal(added.name, 'alice@example.test', 'names are kept in lower case');
  assert.deepEqual(added.senders, ['alice@example.test'], 'a name that is an address may send as itself');
  assert.equal(added.lockedUntil, null);
  assert.equal(added.suspendedAt, null);
  assert.equal(added.lastLogin, null);
  assert.deepEqual((await accounts(setup, 'accounts.list', {})).accounts, [added]);

  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, {}, { dataDir });
  try {
    const user = { user: 'alice@example.test' };
    await submit(relay.submission, user, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test'));
    await internal.waitFor(1);
    await assert.rejects(submit(relay.submission, user, 'ceo@example.test', ['bob@example.test'], officeMessage('ceo@example.test', 'bob@example.test')), refused(550));
    const [listed] = (await accounts(apiContext(relay.relay), 'accounts.list', {})).accounts;
    assert.equal(listed!.lastLogin?.clientIp, '127.0.0.1');
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('bad names, passwords and sender rules are INVALID_INPUT at the field; a taken name is ACCOUNT_EXISTS, a missing one ACCOUNT_GONE', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = tempDir('moat-accounts-input-');
  dirs.push(dataDir);
  const context = apiContext(null, { dataDir, config: beforeStart });
  await assert.rejects(accounts(context, 'accounts.add', { name: 'bad name', password: PASSWORD, senders: ['a@example.test'] }), apiError('INVALID_INPUT', undefined, ['name']));
  await assert.rejects(accounts(context, 'accounts.add', { name: '192.0.2.1', password: PASSWORD, senders: ['a@example.test'] }), apiError('INVALID_INPUT', undefined, ['name']));
  await assert.rejects(accounts(context, 'accounts.add', { name: 'scanner', password: 'with a\u0007bell inside', senders: ['a@example.test'] }), apiError('INVALID_INPUT', undefined, ['password']));
  assert.equal(accountsContract['accounts.add'].input.safeParse({ name: 'scanner', password: 'short', senders: [] }).success, false, 'the schema wants 10 characters');
  await assert.rejects(
    accounts(context, 'accounts.add', { name: 'scanner', password: PASSWORD, senders: ['ok@example.test', 'not an address', '@bad_domain', '@sales.example.test'] }),
    apiError('INVALID_INPUT', undefined, ['senders.1', 'senders.2']),
  );
  await assert.rejects(accounts(context, 'accounts.add', { name: 'scanner', password: PASSWORD, senders: [] }), apiError('INVALID_INPUT', /say which addresses scanner may send as/, ['senders']));

  const scanner = await accounts(context, 'accounts.add', { name: 'scanner', password: PASSWORD, senders: ['Scanner@Example.test', '@SALES.example.test', 'scanner@example.test'] });
  assert.deepEqual(scanner.senders, ['scanner@example.test', '@sales.example.test'], 'stored as the CLI stores them, without repeats');
  assert.deepEqual(scanner.notes, [], 'the relay\'s domain and a subdomain of it');
  await assert.rejects(accounts(context, 'accounts.add', { name: 'SCANNER', password: PASSWORD, senders: ['scanner@example.test'] }), apiError('ACCOUNT_EXISTS'));
  // a domain that is not the relay's is allowed (an office may send for one it does not receive), with a note naming a likely typo
  const typo = await accounts(context, 'accounts.add', { name: 'dora', password: PASSWORD, senders: ['dora@exmaple.test', '@EXMAPLE.test', 'dora@partner.test'] });
  assert.deepEqual(typo.senders, ['dora@exmaple.test', '@exmaple.test', 'dora@partner.test']);
  assert.deepEqual(typo.notes, [
    "exmaple.test is not one of the relay's domains (did you mean example.test?): allowed, but check the spelling",
    "partner.test is not one of the relay's domains (example.test): allowed, but check the spelling",
  ]);
  const fixed = await accounts(context, 'accounts.setSenders', { name: 'dora', senders: ['dora@example.test', 'dora@partner.test'] });
  assert.deepEqual(fixed.notes, ["partner.test is not one of the relay's domains (example.test): allowed, but check the spelling"]);
  for (const [method, input] of [
    ['accounts.setPassword', { name: 'ghost', password: PASSWORD }],
    ['accounts.setSenders', { name: 'ghost', senders: ['ghost@example.test'] }],
    ['accounts.unlock', { name: 'ghost' }],
    ['accounts.remove', { name: 'ghost' }],
  ] as const) {
    await assert.rejects(accounts(context, method, input), apiError('ACCOUNT_GONE', /ghost/), method);
  }
});

test('on a running relay: a lockout shows with its end, unlock lifts it and a suspension, a new password and new senders apply at once, removal ends it', { timeout: TEST_TIMEOUT_MS }, async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { login: { maxFailuresPerAccount: 2, lockoutMinutes: 30 } } });
  const context = apiContext(relay.relay);
  const bob = (pass = PASSWORD) => ({ user: 'bob', pass });
  const mail = (from: string, pass?: string) => submit(relay.submission, bob(pass), from, ['carol@example.test'], officeMessage(from, 'carol@example.test'));
  try {
    await accounts(context, 'accounts.add', { name: 'bob', password: PASSWORD, senders: ['bob@example.test'] });
    for (let i = 0; i < 2; i++) await assert.rejects(mail('bob@example.test', 'wrong password!'), refused(535));
    const locked = (await accounts(context, 'accounts.list', {})).accounts[0]!;
    assert.ok(locked.lockedUntil !== null && locked.lockedUntil > Date.now() + 25 * 60_000, `locked until ${locked.lockedUntil}`);
    assert.deepEqual(locked.lockedFrom, ['127.0.0.1'], 'two wrong passwords from one address lock the name for that address only');
    await assert.rejects(mail('bob@example.test'), refused(454), 'locked: even the right password is turned away');

    withAccounts(relay.dataDir, (store) => store.suspend('bob', 'circuit breaker: too many messages', Date.now()));
    const suspended = (await accounts(context, 'accounts.list', {})).accounts[0]!;
    assert.equal(suspended.suspendedReason, 'circuit breaker: too many messages');

    const unlocked = await accounts(context, 'accounts.unlock', { name: 'bob' });
    assert.equal(unlocked.lockedUntil, null);
    assert.equal(unlocked.lockedFrom, null);
    assert.equal(unlocked.suspendedAt, null);
    assert.equal(unlocked.suspendedReason, null);
    await mail('bob@example.test');
    assert.equal(withAccounts(relay.dataDir, (store) => store.events('bob', 5).find((event) => event.outcome === 'unlocked')?.detail), 'unlocked by admin@127.0.0.1');

    await accounts(context, 'accounts.setPassword', { name: 'bob', password: 'a brand new passphrase' });
    await assert.rejects(mail('bob@example.test'), refused(535), 'the old password no longer works');
    await mail('bob@example.test', 'a brand new passphrase');

    await assert.rejects(mail('robert@example.test', 'a brand new passphrase'), refused(550));
    const changed = await accounts(context, 'accounts.setSenders', { name: 'bob', senders: ['robert@example.test'] });
    assert.deepEqual(changed.senders, ['robert@example.test']);
    assert.ok(changed.updatedAt >= changed.createdAt);
    await mail('robert@example.test', 'a brand new passphrase');
    await internal.waitFor(3);

    assert.deepEqual(await accounts(context, 'accounts.remove', { name: 'bob' }), {});
    assert.deepEqual((await accounts(context, 'accounts.list', {})).accounts, []);
    await assert.rejects(mail('robert@example.test', 'a brand new passphrase'), refused(535));
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('lockouts: a client address and the names guessed from it are listed with their end; unlockAddress lifts the address only', { timeout: TEST_TIMEOUT_MS }, async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { login: { maxFailuresPerAccount: 2, maxFailuresPerIp: 5, lockoutMinutes: 30 } } });
  const context = apiContext(relay.relay);
  const mail = (user: string, pass = PASSWORD) => submit(relay.submission, { user, pass }, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test'));
  try {
    await accounts(context, 'accounts.add', { name: 'alice', password: PASSWORD, senders: ['alice@example.test'] });
    assert.deepEqual(await accounts(context, 'accounts.lockouts', {}), { addresses: [], names: [] });
    // two guesses lock a name (real or not); the fifth failure from 127.0.0.1 locks the address
    for (const name of ['mallory', 'mallory', 'alice', 'alice', 'root']) await assert.rejects(mail(name, 'a wrong guess'), refused(535));

    const locked = await accounts(context, 'accounts.lockouts', {});
    assert.deepEqual(locked.addresses.map(({ address, failures }) => [address, failures]), [['127.0.0.1', 5]]);
    assert.ok(locked.addresses[0]!.until > Date.now() + 25 * 60_000, `locked until ${locked.addresses[0]!.until}`);
    assert.deepEqual(locked.names.map(({ name, account, failures }) => [name, account, failures]), [['alice', true, 2], ['mallory', false, 2]], 'root, guessed once, is not locked');
    assert.equal(locked.names.find((entry) => entry.name === 'alice')!.until, (await accounts(context, 'accounts.list', {})).accounts[0]!.lockedUntil);

    for (const address of ['not an address', '127.0.0.1; DROP TABLE auth_locks', '127.0.0.1/8', 'localhost']) {
      await assert.rejects(accounts(context, 'accounts.unlockAddress', { address }), apiError('INVALID_INPUT', undefined, ['address']), address);
    }
    assert.equal(accountsContract['accounts.unlockAddress'].input.safeParse({ address: '' }).success, false);

    // an IPv4-mapped IPv6 address is the IPv4 client it carries
    assert.deepEqual(await accounts(context, 'accounts.unlockAddress', { address: ' ::FFFF:127.0.0.1 ' }), { address: '127.0.0.1', unlocked: true });
    assert.deepEqual(await accounts(context, 'accounts.unlockAddress', { address: '127.0.0.1' }), { address: '127.0.0.1', unlocked: false }, 'nothing left to lift');
    const after = await accounts(context, 'accounts.lockouts', {});
    assert.deepEqual([after.addresses, after.names.map((entry) => entry.name)], [[], ['alice', 'mallory']], 'the names stay locked');

    await assert.rejects(mail('alice'), refused(454), 'alice\'s own lockout still holds');
    await accounts(context, 'accounts.unlock', { name: 'alice' });
    await mail('alice');
    await internal.waitFor(1);
    assert.deepEqual((await accounts(context, 'accounts.lockouts', {})).names.map((entry) => entry.name), ['mallory']);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('lockouts can be read and lifted before the first start too, on the data directory', async () => {
  const dataDir = tempDir('moat-lockouts-setup-');
  dirs.push(dataDir);
  const context = apiContext(null, { dataDir });
  withAccounts(dataDir, (store) => store.putLock('ip:2001:db8::7', 20, Date.now(), Date.now() + 60_000));
  assert.deepEqual((await accounts(context, 'accounts.lockouts', {})).addresses.map((entry) => entry.address), ['2001:db8::7']);
  assert.deepEqual(await accounts(context, 'accounts.unlockAddress', { address: '2001:DB8::7' }), { address: '2001:db8::7', unlocked: true });
  assert.deepEqual(await accounts(context, 'accounts.lockouts', {}), { addresses: [], names: [] });
  // IPv6 clients are locked by /64 now: lifted by the /64 as listed, or by any address in it
  withAccounts(dataDir, (store) => store.putLock('ip:2001:db8:1:2::/64', 20, Date.now(), Date.now() + 60_000));
  assert.deepEqual((await accounts(context, 'accounts.lockouts', {})).addresses.map((entry) => entry.address), ['2001:db8:1:2::/64']);
  assert.deepEqual(await accounts(context, 'accounts.unlockAddress', { address: '2001:db8:1:2::/64' }), { address: '2001:db8:1:2::/64', unlocked: true });
  withAccounts(dataDir, (store) => store.putLock('ip:2001:db8:1:2::/64', 20, Date.now(), Date.now() + 60_000));
  assert.deepEqual(await accounts(context, 'accounts.unlockAddress', { address: '2001:db8:1:2:aaaa::1' }), { address: '2001:db8:1:2:aaaa::1', unlocked: true });
  assert.deepEqual(await accounts(context, 'accounts.lockouts', {}), { addresses: [], names: [] });
});

test('sender lists: entries are normalised, moved between lists, removed; a denied sender is refused on the next message', { timeout: TEST_TIMEOUT_MS }, async () => {
  const internal = await Sink.start();
  const relay = await startRelay(internal.port, { filters: { enabled: true } });
  const context = apiContext(relay.relay);
  try {
    assert.deepEqual(await senders(context, 'senders.list', {}), { entries: [] });
    const allowed = await senders(context, 'senders.set', { list: 'allow', entry: 'Friend@Partner.TEST', note: 'our accountant' });
    assert.equal(allowed.entry, 'friend@partner.test');
    assert.equal(allowed.list, 'allow');
    assert.equal(allowed.addedBy, 'admin@127.0.0.1');
    assert.equal(allowed.note, 'our accountant');
    const denied = await senders(context, 'senders.set', { list: 'deny', entry: 'spammer.test' });
    assert.equal(denied.entry, '@spammer.test', 'a bare domain is a domain entry');
    assert.equal(denied.note, null);
    assert.deepEqual((await senders(context, 'senders.list', {})).entries.map((entry) => [entry.list, entry.entry]), [['allow', 'friend@partner.test'], ['deny', '@spammer.test']]);

    await assert.rejects(send(relay.port, 'boss@spammer.test', ['bob@example.test'], message('from a denied domain')), refused(550));
    const moved = await senders(context, 'senders.set', { list: 'deny', entry: 'friend@partner.test' });
    assert.equal(moved.list, 'deny');
    assert.equal((await senders(context, 'senders.list', {})).entries.length, 2, 'one entry is on one list only');

    assert.deepEqual(await senders(context, 'senders.remove', { entry: '@SPAMMER.test' }), {});
    await send(relay.port, 'boss@spammer.test', ['bob@example.test'], message('no longer denied'));
    await internal.waitFor(1);
    await assert.rejects(senders(context, 'senders.remove', { entry: '@spammer.test' }), apiError('SENDER_ENTRY_GONE', /@spammer\.test/));
    await assert.rejects(senders(context, 'senders.set', { list: 'allow', entry: 'not valid' }), apiError('INVALID_INPUT', undefined, ['entry']));
    // an allowance never covers our own domains (forgers pose as them): said at once, not left to be trusted
    for (const entry of ['boss@Example.TEST', 'example.test', '@EXAMPLE.test']) {
      await assert.rejects(senders(context, 'senders.set', { list: 'allow', entry }), apiError('INVALID_INPUT', /covers our own domain example\.test: mail that claims to be from it is checked every time/, ['entry']), entry);
    }
    assert.equal((await senders(context, 'senders.set', { list: 'deny', entry: 'boss@example.test' })).list, 'deny', 'blocking one is fine');
    assert.equal((await senders(context, 'senders.set', { list: 'allow', entry: '@sub.example.test' })).entry, '@sub.example.test', 'another domain under it is not ours');
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('sender lists work before the first start too, on the data directory', async () => {
  const dataDir = tempDir('moat-senders-setup-');
  dirs.push(dataDir);
  const context = apiContext(null, { dataDir, config: beforeStart });
  await senders(context, 'senders.set', { list: 'allow', entry: '@partner.test' });
  assert.deepEqual((await senders(context, 'senders.list', {})).entries.map((entry) => entry.entry), ['@partner.test']);
});

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dkimSigned } from '../../helpers/dkim-sign.ts';
import { SenderAuthFilter, publicKeyCacheStats, type AuthResolver } from '../../../src-relay/filters/sender-auth.ts';
import { MAX_CACHED_KEYS, publicKeyCache, type PublicKeyAnswer } from '../../../src-relay/filters/public-key-cache.ts';
import { fixtureResolver } from '../../helpers/relay.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const dir = tempDir('moat-key-cache-');
after(() => rmSync(dir, { recursive: true, force: true }));

const newKey = () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), record: `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}` };
};
const first = newKey();
const second = newKey();
/** The DNS the filter asks; the test changes the key record in place, as a domain rotating its key does. */
const TXT: Record<string, string[]> = { 'cached.test': ['v=spf1 ip4:192.0.2.10 -all'], 'sel._domainkey.cached.test': [first.record] };
const filter = new SenderAuthFilter({
  resolver: fixtureResolver({}, {}, TXT) as AuthResolver,
  hostname: 'relay.example.test',
  dmarcReject: 'reject',
  dmarcQuarantine: 'quarantine',
  scores: { spfFail: 2, spfSoftfail: 0.5, dkimFail: 1, dmarcFail: 2 },
});

let counter = 0;
async function signedBy(key: { pem: string }): Promise<string> {
  const raw = `From: <a@cached.test>\r\nTo: <b@example.test>\r\nSubject: key cache ${counter}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nHello.\r\n`;
  const signed = await dkimSigned(raw, { domain: 'cached.test', selector: 'sel', privateKey: key.pem });
  const path = join(dir, `m${counter++}`);
  writeFileSync(path, signed);
  return path;
}

/** The filter's DKIM word for one message, read from the file or from the copy the pipeline read once. */
async function dkimOf(path: string, readOnce = false): Promise<string> {
  const content = readOnce ? readFileSync(path) : undefined;
  const result = await filter.check(
    { queueId: 'Q', clientIp: '192.0.2.10', helo: 'client.test', sender: 'a@cached.test', recipients: ['b@example.test'], path, size: 0, content, headers: [], tls: false, authenticatedUser: null },
    AbortSignal.timeout(10_000),
  );
  return /dkim=(\S+)/.exec(result.reasons[0] ?? '')?.[1] ?? 'missing';
}

test("mailauth's verifier uses the key cache: a second message signed with the same key is verified without parsing it again", async () => {
  assert.equal(await dkimOf(await signedBy(first)), 'pass');
  const before = publicKeyCacheStats();
  assert.equal(await dkimOf(await signedBy(first), true), 'pass');
  const now = publicKeyCacheStats();
  assert.equal(now.wired, true, 'the verifiers were loaded after the cache was put in');
  assert.equal(now.hits, before.hits + 1, 'answered from the cache');
  assert.equal(now.misses, before.misses);
});

test('a rotated key record is parsed afresh: the new key verifies, a signature by the old key no longer does', async () => {
  assert.equal(await dkimOf(await signedBy(first)), 'pass');
  TXT['sel._domainkey.cached.test'] = [second.record];
  try {
    const before = publicKeyCacheStats();
    assert.equal(await dkimOf(await signedBy(second)), 'pass');
    assert.equal(publicKeyCacheStats().misses, before.misses + 1, 'the new record was parsed');
    assert.equal(await dkimOf(await signedBy(first)), 'fail', 'the old key is not kept for the name');
  } finally {
    TXT['sel._domainkey.cached.test'] = [first.record];
  }
});

test("a kept key is a KeyObject (crypto.verify would parse PEM text on every call) that still reads as mailauth's PEM text", async () => {
  const cache = publicKeyCache(async (_type, _name, _bits, resolver) => answer(String((await resolver!('k', 'TXT'))[0])));
  const lookup = async () => [['p=k']];
  const first = await cache.getPublicKey('DKIM', 'k', 1024, lookup);
  assert.ok(first.publicKey instanceof KeyObject);
  assert.equal(first.publicKey.asymmetricKeyType, 'rsa');
  assert.equal(String(first.publicKey), SOME_PEM, "mailauth's result shows the key as text");
  assert.equal((await cache.getPublicKey('DKIM', 'k', 1024, lookup)).publicKey, first.publicKey, 'the same object the next time');
});

test('messages checked in parallel all verify: 30 at once over one key', async () => {
  const paths = await Promise.all(Array.from({ length: 30 }, () => signedBy(first)));
  assert.deepEqual(await Promise.all(paths.map((path) => dkimOf(path))), Array(30).fill('pass'));
});

/** mailauth's answer for a record; every record here carries the same key, what these tests count is the parsing. */
const SOME_PEM = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const answer = (record: string): PublicKeyAnswer => ({ publicKey: SOME_PEM, rr: record, modulusLength: 2048 });

test('a record that fails to parse is not kept: it is parsed, and fails, every time', async () => {
  let parses = 0;
  const cache = publicKeyCache(async () => {
    parses++;
    throw Object.assign(new Error('Invalid base64 format for public key'), { code: 'EINVALIDVAL' });
  });
  const lookup = async () => [['v=DKIM1; p=!!!']];
  for (let i = 0; i < 3; i++) await assert.rejects(cache.getPublicKey('DKIM', 'sel._domainkey.bad.test', 1024, lookup), { code: 'EINVALIDVAL' });
  assert.equal(parses, 3);
  assert.deepEqual(cache.stats, { hits: 0, misses: 3 });
});

test('the cache keeps at most its limit of keys, dropping the least recently used; type and minimum length are part of the key', async () => {
  const parsed: string[] = [];
  const cache = publicKeyCache(async (type, name, bits, resolver) => {
    const record = String((await resolver!(name, 'TXT'))[0]);
    parsed.push(`${type} ${bits} ${record}`);
    return answer(record);
  }, 2);
  const lookup = async (name: string) => [[`p=${name}`]];
  await cache.getPublicKey('DKIM', 'a', 1024, lookup);
  await cache.getPublicKey('DKIM', 'b', 1024, lookup);
  await cache.getPublicKey('DKIM', 'a', 1024, lookup); // a is now the most recent
  await cache.getPublicKey('DKIM', 'c', 1024, lookup); // one past the limit: b goes
  await cache.getPublicKey('DKIM', 'a', 1024, lookup);
  await cache.getPublicKey('DKIM', 'b', 1024, lookup);
  await cache.getPublicKey('AS', 'b', 1024, lookup);
  await cache.getPublicKey('DKIM', 'b', 2048, lookup);
  assert.deepEqual(parsed, ['DKIM 1024 p=a', 'DKIM 1024 p=b', 'DKIM 1024 p=c', 'DKIM 1024 p=b', 'AS 1024 p=b', 'DKIM 2048 p=b']);
});

test(`by default the cache keeps ${MAX_CACHED_KEYS} keys: one key more and the least recently used is parsed again`, async () => {
  let parses = 0;
  const cache = publicKeyCache(async (_type, name, _bits, resolver) => {
    parses++;
    return answer(String((await resolver!(name, 'TXT'))[0]));
  });
  const lookup = async (name: string) => [[`p=${name}`]];
  for (let i = 0; i < MAX_CACHED_KEYS; i++) await cache.getPublicKey('DKIM', `d${i}`, 1024, lookup);
  await cache.getPublicKey('DKIM', 'd0', 1024, lookup);
  assert.equal(parses, MAX_CACHED_KEYS, `${MAX_CACHED_KEYS} keys are all kept`);
  await cache.getPublicKey('DKIM', 'one-more', 1024, lookup); // d1 is now the least recently used
  await cache.getPublicKey('DKIM', 'd0', 1024, lookup);
  assert.equal(parses, MAX_CACHED_KEYS + 1, 'd0 was used recently and is still kept');
  await cache.getPublicKey('DKIM', 'd1', 1024, lookup);
  assert.equal(parses, MAX_CACHED_KEYS + 2, 'd1 was dropped and is parsed again');
});

// The DNS cache sender authentication asks through (util/dns-cache.ts): answers kept for ANSWER_TTL_S, "no such
// name" for NEGATIVE_TTL_S, failures never; bounded in entries and characters; one look-up per question in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANSWER_TTL_S, DnsCache, MAX_CACHE_ENTRIES, NEGATIVE_TTL_S } from '../../../src-relay/util/dns-cache.ts';
import type { Resolver } from '../../../src-relay/util/resolver.ts';

/** A resolver that counts its questions; TXT answers by name, `missing` names say ENOTFOUND, `broken` ones ETIMEOUT. */
function countingResolver(txt: Record<string, string[][]>, options: { missing?: Set<string>; broken?: Set<string>; hold?: Promise<void> } = {}) {
  const asked: string[] = [];
  const fail = (name: string, code: string) => Object.assign(new Error(`${code} ${name}`), { code });
  const resolver: Resolver = {
    resolveMx: async (name) => {
      asked.push(`MX ${name}`);
      return [{ exchange: `mx.${name}`, priority: 10 }];
    },
    resolve4: async (name) => {
      asked.push(`A ${name}`);
      return ['192.0.2.1'];
    },
    resolve6: async (name) => {
      asked.push(`AAAA ${name}`);
      return [];
    },
    resolveTxt: async (name) => {
      asked.push(`TXT ${name}`);
      await options.hold;
      if (options.missing?.has(name)) throw fail(name, 'ENOTFOUND');
      if (options.broken?.has(name)) throw fail(name, 'ETIMEOUT');
      return structuredClone(txt[name] ?? []);
    },
  };
  return { resolver, asked };
}

const SPF = [['v=spf1 ip4:192.0.2.10 -all']];

test('a second look-up within the TTL is answered from the cache; after the TTL the resolver is asked again', async () => {
  let now = 1_000_000;
  const { resolver, asked } = countingResolver({ 'sender.test': SPF });
  const cache = new DnsCache({ resolver, clock: () => now });
  assert.deepEqual(await cache.resolveTxt!('sender.test'), SPF);
  now += ANSWER_TTL_S * 1000 - 1;
  assert.deepEqual(await cache.resolveTxt!('SENDER.test'), SPF, 'names compare case-insensitively');
  assert.deepEqual(asked, ['TXT sender.test']);
  now += 1;
  assert.deepEqual(await cache.resolveTxt!('sender.test'), SPF);
  assert.deepEqual(asked, ['TXT sender.test', 'TXT sender.test']);
});

test('the record type is part of the question: an A answer does not answer an MX or TXT look-up of the same name', async () => {
  const { resolver, asked } = countingResolver({ 'sender.test': SPF });
  const cache = new DnsCache({ resolver });
  await cache.resolve4('sender.test');
  await cache.resolveMx('sender.test');
  await cache.resolveTxt!('sender.test');
  await cache.resolve4('sender.test');
  assert.deepEqual(asked, ['A sender.test', 'MX sender.test', 'TXT sender.test']);
});

test('a caller changing its answer does not change what the cache serves next', async () => {
  const { resolver } = countingResolver({ 'sender.test': SPF });
  const cache = new DnsCache({ resolver });
  const first = await cache.resolveTxt!('sender.test');
  first[0]![0] = 'v=spf1 +all';
  const second = await cache.resolveTxt!('sender.test');
  second.push(['extra']);
  assert.deepEqual(await cache.resolveTxt!('sender.test'), SPF);
});

test('"no such name" is cached for NEGATIVE_TTL_S only (RFC 2308), then asked again', async () => {
  let now = 0;
  const { resolver, asked } = countingResolver({}, { missing: new Set(['gone.test']) });
  const cache = new DnsCache({ resolver, clock: () => now });
  await assert.rejects(cache.resolveTxt!('gone.test'), { code: 'ENOTFOUND' });
  now += NEGATIVE_TTL_S * 1000 - 1;
  await assert.rejects(cache.resolveTxt!('gone.test'), { code: 'ENOTFOUND' });
  assert.equal(asked.length, 1);
  now += 1;
  await assert.rejects(cache.resolveTxt!('gone.test'), { code: 'ENOTFOUND' });
  assert.equal(asked.length, 2);
  assert.ok(NEGATIVE_TTL_S < ANSWER_TTL_S);
});

test('a timeout or server failure is never cached: the next look-up asks again at once', async () => {
  const { resolver, asked } = countingResolver({}, { broken: new Set(['slow.test']) });
  const cache = new DnsCache({ resolver, clock: () => 0 });
  await assert.rejects(cache.resolveTxt!('slow.test'), { code: 'ETIMEOUT' });
  await assert.rejects(cache.resolveTxt!('slow.test'), { code: 'ETIMEOUT' });
  assert.equal(asked.length, 2);
  assert.equal(cache.size, 0);
});

test('parallel look-ups of one question while it is in flight ask the resolver once and all get the answer', async () => {
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  const { resolver, asked } = countingResolver({ 'sender.test': SPF }, { hold });
  const cache = new DnsCache({ resolver });
  const burst = Promise.all(Array.from({ length: 50 }, () => cache.resolveTxt!('sender.test')));
  release();
  const answers = await burst;
  assert.equal(asked.length, 1);
  for (const answer of answers) assert.deepEqual(answer, SPF);
});

test('at most maxEntries questions are kept: at the cap all stay; one more evicts the least recently used', async () => {
  assert.equal(MAX_CACHE_ENTRIES, 10_000);
  const { resolver, asked } = countingResolver({});
  const cache = new DnsCache({ resolver, maxEntries: 3 });
  for (const name of ['a.test', 'b.test', 'c.test']) await cache.resolveTxt!(name);
  assert.equal(cache.size, 3);
  await cache.resolveTxt!('a.test'); // a is now the most recently used
  assert.equal(asked.length, 3, 'all three still cached at the cap');
  await cache.resolveTxt!('d.test');
  assert.equal(cache.size, 3);
  await cache.resolveTxt!('a.test');
  await cache.resolveTxt!('c.test');
  assert.equal(asked.length, 4, 'a, c and d cached');
  await cache.resolveTxt!('b.test');
  assert.equal(asked.length, 5, 'b, the least recently used, was evicted');
});

test('the characters kept are bounded: big answers push out old ones, and one larger than the whole cache is served but not kept', async () => {
  const big = [['x'.repeat(600)]];
  const { resolver, asked } = countingResolver({ 'one.test': big, 'two.test': big, 'huge.test': [['y'.repeat(2000)]] });
  const cache = new DnsCache({ resolver, maxChars: 1250 });
  await cache.resolveTxt!('one.test');
  await cache.resolveTxt!('two.test');
  assert.equal(cache.size, 2, 'two answers of about 612 characters fit in 1250');
  assert.equal((await cache.resolveTxt!('huge.test'))[0]![0]!.length, 2000);
  await cache.resolveTxt!('huge.test');
  assert.equal(asked.filter((question) => question === 'TXT huge.test').length, 2, 'never kept');
  assert.equal(cache.size, 2);
  await cache.resolveMx('three.test');
  await cache.resolveTxt!('one.test');
  assert.equal(asked.filter((question) => question === 'TXT one.test').length, 2, 'evicted to make room');
});

test('a resolver without TXT or PTR look-ups gives a cache without them', () => {
  const cache = new DnsCache({ resolver: { resolveMx: async () => [], resolve4: async () => [], resolve6: async () => [] } });
  assert.equal(cache.resolveTxt, undefined);
  assert.equal(cache.resolvePtr, undefined);
});

// The pure parts of the connection policy: DNSBL query names, allow/deny networks, the sliding windows, the tarpit
// schedule, and the policy's verdicts with a fixture resolver and a clock the test moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClientNetworks,
  ConnectionPolicy,
  MAX_TRACKED_CLIENTS,
  SlidingWindow,
  dnsblQueryName,
  type ClientScreen,
  type ConnectionPolicySettings,
  type HarvestTally,
} from '../../../src-relay/smtp/connection-policy.ts';
import { expandIPv6, normalizeClientIp } from '../../../src-relay/util/networks.ts';
import { silentLogger } from '../../../src-relay/log/logger.ts';
import { ConfigSchema } from '../../../src-relay/config/schema.ts';

const SETTINGS: ConnectionPolicySettings = {
  ...ConfigSchema.parse({}).mx,
  clientNetworks: { allow: [], deny: [] },
};

function policy(settings: Partial<ConnectionPolicySettings>, answers: Record<string, string[]> = {}, clock = () => 1_000_000) {
  const asked: string[] = [];
  const resolver = {
    resolve4: async (name: string) => {
      asked.push(name);
      return answers[name] ?? [];
    },
  };
  return { policy: new ConnectionPolicy({ settings: { ...SETTINGS, ...settings }, resolver, logger: silentLogger, clock }), asked };
}

test('the DNSBL query name of an IPv4 client is its octets reversed in front of the zone (RFC 5782 2.1)', () => {
  assert.equal(dnsblQueryName('192.0.2.99', 'bl.example'), '99.2.0.192.bl.example');
  assert.equal(dnsblQueryName('::ffff:192.0.2.99', 'bl.example'), '99.2.0.192.bl.example', 'an IPv4-mapped address is the IPv4 client');
});

test('the DNSBL query name of an IPv6 client is its 32 nibbles reversed (RFC 5782 2.4)', () => {
  assert.equal(
    dnsblQueryName('2001:db8:1:2:3:4:567:89ab', 'ugly.example.com'),
    'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com',
  );
  assert.equal(dnsblQueryName('::1', 'bl.example'), `1${'.0'.repeat(31)}.bl.example`);
  assert.equal(dnsblQueryName('not-an-ip', 'bl.example'), null);
});

test('IPv6 addresses are expanded to eight groups, also with :: at either end and a dotted IPv4 tail', () => {
  assert.equal(expandIPv6('2001:db8::1'), '2001:0db8:0000:0000:0000:0000:0000:0001');
  assert.equal(expandIPv6('::'), '0000:0000:0000:0000:0000:0000:0000:0000');
  assert.equal(expandIPv6('fe80::'), 'fe80:0000:0000:0000:0000:0000:0000:0000');
  assert.equal(expandIPv6('64:ff9b::192.0.2.33'), '0064:ff9b:0000:0000:0000:0000:c000:0221');
  assert.equal(normalizeClientIp('::FFFF:10.1.2.3'), '10.1.2.3');
});

test('allow and deny networks: IPv4 and IPv6, the most specific network decides, deny wins a tie', () => {
  const networks = new ClientNetworks(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'], ['10.1.0.0/16', '2001:db8:bad::/48', '192.0.2.7/32']);
  assert.deepEqual(networks.classify('10.2.3.4'), { verdict: 'allow', network: '10.0.0.0/8' });
  assert.deepEqual(networks.classify('10.1.3.4'), { verdict: 'deny', network: '10.1.0.0/16' }, 'the /16 is more specific than the /8');
  assert.deepEqual(networks.classify('::ffff:10.1.3.4'), { verdict: 'deny', network: '10.1.0.0/16' }, 'IPv4-mapped IPv6 is IPv4');
  assert.deepEqual(networks.classify('2001:db8:1::5'), { verdict: 'allow', network: '2001:db8::/32' });
  assert.deepEqual(networks.classify('2001:db8:bad::5'), { verdict: 'deny', network: '2001:db8:bad::/48' });
  assert.deepEqual(networks.classify('192.0.2.7'), { verdict: 'deny', network: '192.0.2.7/32' }, 'same prefix on both lists: deny');
  assert.equal(networks.classify('198.51.100.1'), null);
  assert.equal(networks.classify('garbage'), null);
  assert.throws(() => new ClientNetworks(['10.0.0.0/33'], []), /not a network/);
});

test('a sliding window counts the events of the last window only, and keeps at most limit + 1 per key', () => {
  const window = new SlidingWindow(60_000, 3);
  assert.equal(window.hit('a', 0), 1);
  assert.equal(window.hit('a', 10_000), 2);
  assert.equal(window.hit('a', 20_000), 3);
  assert.equal(window.hit('a', 30_000), 4, 'the fourth in the minute is over the limit');
  assert.equal(window.hit('a', 31_000), 4, 'the count is capped at limit + 1: memory stays bounded');
  assert.equal(window.count('a', 89_999), 2, 'only the events of the last minute are counted');
  assert.equal(window.count('b', 0), 0);
});

test('a sliding window counts as a fresh count of the last minute would, also when the clock is set back', () => {
  const window = new SlidingWindow(60_000, 100_000);
  const times: number[] = [];
  // a fixed pseudo-random walk of event times with jumps back of up to two minutes, checked against counting afresh
  let seed = 14;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  let now = 1_000_000;
  for (let i = 0; i < 3000; i++) {
    now += random() < 0.05 ? -Math.floor(random() * 120_000) : Math.floor(random() * 200);
    times.push(now);
    assert.equal(window.hit('a', now), times.filter((at) => at > now - 60_000).length, `event ${i} at ${now}`);
  }
  assert.equal(window.count('a', now + 59_999), times.filter((at) => at > now - 1).length);
});

test(`a sliding window forgets the least recently seen client past ${MAX_TRACKED_CLIENTS} clients`, () => {
  const window = new SlidingWindow(60_000, 1);
  for (let i = 0; i <= MAX_TRACKED_CLIENTS; i++) window.hit(`client-${i}`, 1);
  assert.equal(window.size, MAX_TRACKED_CLIENTS);
  assert.equal(window.count('client-0', 1), 0, 'the first client seen was forgotten');
  assert.equal(window.count(`client-${MAX_TRACKED_CLIENTS}`, 1), 1);
});

test('the tarpit: no delay for the first afterErrors errors, then stepMs more per error, never more than maxMs', () => {
  const { policy: tarpit } = policy({ errorDelay: { afterErrors: 2, stepMs: 1000, maxMs: 5000 } });
  const screen = tarpit.connect('192.0.2.1');
  assert.deepEqual([0, 1, 2, 3, 4, 7, 8, 100].map((errors) => tarpit.errorDelayMs(screen, errors)), [0, 0, 0, 1000, 2000, 5000, 5000, 5000]);
  const { policy: trusting } = policy({ clientNetworks: { allow: ['192.0.2.0/24'], deny: [] } });
  assert.equal(trusting.errorDelayMs(trusting.connect('192.0.2.1'), 100), 0, 'an allowed client is never slowed down');
  assert.deepEqual(SETTINGS.errorDelay, { afterErrors: 2, stepMs: 1000, maxMs: 5000 }, 'the defaults');
});

test('DNSBL: listings add up by weight; under the threshold the client passes, at it the client is refused', async () => {
  const zones = [
    { zone: 'one.bl.example', weight: 1 },
    { zone: 'two.bl.example', weight: 1.5 },
  ];
  const listedByOne = { '1.2.0.192.one.bl.example': ['127.0.0.2'] };
  const listedByBoth = { ...listedByOne, '1.2.0.192.two.bl.example': ['127.0.0.10'] };
  const { policy: under } = policy({ dnsbl: { zones, threshold: 2, timeoutMs: 1000 } }, listedByOne);
  assert.deepEqual(await under.connect('192.0.2.1').listing, { ok: true });
  const { policy: over, asked } = policy({ dnsbl: { zones, threshold: 2, timeoutMs: 1000 } }, listedByBoth);
  const verdict = await over.connect('192.0.2.1').listing;
  assert.equal(verdict.ok, false);
  assert.match(!verdict.ok ? verdict.reason : '', /listed by one\.bl\.example, two\.bl\.example/);
  assert.deepEqual(asked.sort(), ['1.2.0.192.one.bl.example', '1.2.0.192.two.bl.example']);
  await over.connect('192.0.2.1').listing;
  assert.equal(asked.length, 2, 'the second connection of the client used the cached result');
});

test("DNSBL: 127.255.255.x answers are the lists' error codes, never a listing; 'answers' narrows what counts", async () => {
  const zone = { zone: 'bl.example', weight: 1 };
  const { policy: errorCode } = policy({ dnsbl: { zones: [zone], threshold: 1, timeoutMs: 1000 } }, { '1.2.0.192.bl.example': ['127.255.255.254'] });
  assert.deepEqual(await errorCode.connect('192.0.2.1').listing, { ok: true });
  const { policy: notLoopback } = policy({ dnsbl: { zones: [zone], threshold: 1, timeoutMs: 1000 } }, { '1.2.0.192.bl.example': ['192.0.2.53'] });
  assert.deepEqual(await notLoopback.connect('192.0.2.1').listing, { ok: true }, 'an answer outside 127.0.0.0/8 (a wildcard) is no listing');
  const narrow = { ...zone, answers: ['127.0.0.4'] };
  const { policy: other } = policy({ dnsbl: { zones: [narrow], threshold: 1, timeoutMs: 1000 } }, { '1.2.0.192.bl.example': ['127.0.0.2'] });
  assert.deepEqual(await other.connect('192.0.2.1').listing, { ok: true });
  const { policy: match } = policy({ dnsbl: { zones: [narrow], threshold: 1, timeoutMs: 1000 } }, { '1.2.0.192.bl.example': ['127.0.0.2', '127.0.0.4'] });
  assert.equal((await match.connect('192.0.2.1').listing).ok, false);
});

test('DNSBL: a zone that fails or does not answer within timeoutMs counts as not listing the client', async () => {
  const settings = { ...SETTINGS, dnsbl: { zones: [{ zone: 'slow.example', weight: 1 }, { zone: 'broken.example', weight: 1 }], threshold: 1, timeoutMs: 150 } };
  const resolver = {
    resolve4: (name: string) =>
      name.endsWith('slow.example') ? new Promise<string[]>(() => {}) : Promise.reject(Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' })),
  };
  const started = Date.now();
  const verdict = await new ConnectionPolicy({ settings, resolver, logger: silentLogger }).connect('192.0.2.1').listing;
  assert.deepEqual(verdict, { ok: true });
  assert.ok(Date.now() - started < 1000, 'the answer came at the timeout');
});

test('an allowed client is not looked up in any block list and has no rate limit', async () => {
  const { policy: allowing, asked } = policy(
    { clientNetworks: { allow: ['192.0.2.0/24'], deny: [] }, dnsbl: { zones: [{ zone: 'bl.example', weight: 1 }], threshold: 1, timeoutMs: 1000 }, rateLimit: { connectionsPerMinute: 1, messagesPerMinute: 1 } },
    { '1.2.0.192.bl.example': ['127.0.0.2'] },
  );
  for (let i = 0; i < 5; i++) {
    const screen = allowing.connect('192.0.2.1');
    assert.equal(screen.trusted, true);
    assert.deepEqual(screen.atConnect, { ok: true });
    assert.deepEqual(await screen.listing, { ok: true });
    assert.deepEqual(allowing.mail(screen), { ok: true });
  }
  assert.deepEqual(asked, []);
});

test('rate limits: connections and messages per client per minute, each client on its own, 0 turns a limit off', () => {
  let now = 0;
  const { policy: limited } = policy({ rateLimit: { connectionsPerMinute: 2, messagesPerMinute: 3 } }, {}, () => now);
  assert.equal(limited.connect('192.0.2.1').atConnect.ok, true);
  assert.equal(limited.connect('192.0.2.1').atConnect.ok, true);
  const third = limited.connect('192.0.2.1');
  assert.equal(third.atConnect.ok, false);
  assert.equal(!third.atConnect.ok && third.atConnect.refusal, 'connection-rate');
  assert.equal(limited.connect('192.0.2.2').atConnect.ok, true, 'another client has its own count');
  now += 60_001;
  const later = limited.connect('192.0.2.1');
  assert.equal(later.atConnect.ok, true, 'a minute later the client may connect again');
  assert.deepEqual([1, 2, 3, 4].map(() => limited.mail(later).ok), [true, true, true, false]);
  const { policy: unlimited } = policy({ rateLimit: { connectionsPerMinute: 0, messagesPerMinute: 0 } });
  for (let i = 0; i < 1000; i++) assert.equal(unlimited.mail(unlimited.connect('192.0.2.1')).ok, true);
});

/** One unknown recipient, checked the way the mx listener does: a place first, then the answer. */
async function unknownRecipient(policy: ConnectionPolicy, screen: ClientScreen, tally: HarvestTally) {
  const gate = await policy.recipient(screen, tally);
  return gate.ok ? gate.place.unknown() : gate;
}

test('harvest: past the session cap the session ends; past the per-client cap the client is blocked for blockMinutes', async () => {
  let now = 0;
  const { policy: harvest } = policy({ harvest: { maxUnknownPerSession: 2, maxUnknownPerIp: 4, windowMinutes: 10, blockMinutes: 15 } }, {}, () => now);
  const first = harvest.connect('192.0.2.1');
  const firstTally: HarvestTally = { unknown: 0, pending: 0 };
  assert.equal((await unknownRecipient(harvest, first, firstTally)).ok, true);
  assert.equal((await unknownRecipient(harvest, first, firstTally)).ok, true);
  const third = await unknownRecipient(harvest, first, firstTally);
  assert.equal(!third.ok && third.refusal, 'harvest');
  assert.match(!third.ok ? third.reason : '', /in one session/);
  assert.equal(harvest.isBlocked('192.0.2.1'), false, 'the session cap alone does not block the client');
  const second = harvest.connect('192.0.2.1');
  const secondTally: HarvestTally = { unknown: 0, pending: 0 };
  assert.equal(second.atConnect.ok, true);
  assert.equal((await unknownRecipient(harvest, second, secondTally)).ok, true, 'the fourth unknown from the client in the window');
  const fifth = await unknownRecipient(harvest, second, secondTally);
  assert.match(!fifth.ok ? fifth.reason : '', /blocked for 15 minutes/);
  assert.equal(harvest.isBlocked('192.0.2.1'), true);
  const blocked = harvest.connect('192.0.2.1');
  assert.equal(!blocked.atConnect.ok && blocked.atConnect.refusal, 'harvest');
  const atRcpt = await harvest.recipient(second, secondTally);
  assert.equal(!atRcpt.ok && atRcpt.refusal, 'harvest', 'a session open when the block began is refused at its next RCPT');
  assert.match(!atRcpt.ok ? atRcpt.reason : '', /is blocked for too many unknown recipients until/);
  now += 15 * 60_000 + 1;
  assert.equal(harvest.connect('192.0.2.1').atConnect.ok, true, 'the block ends after blockMinutes');
});

test('harvest places: checks in progress count as unknown; past the cap a check waits, and the block refuses those waiting', async () => {
  const { policy: harvest } = policy({ harvest: { maxUnknownPerSession: 0, maxUnknownPerIp: 2, windowMinutes: 10, blockMinutes: 15 } });
  const sessions = Array.from({ length: 6 }, () => ({ screen: harvest.connect('192.0.2.1'), tally: { unknown: 0, pending: 0 } }));
  const settled: number[] = [];
  const gates = sessions.map(({ screen, tally }, index) => harvest.recipient(screen, tally).then((gate) => (settled.push(index), gate)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(settled, [0, 1, 2], 'cap + 1 checks run at once (were all unknown, the last would block); the others wait');
  const running = await Promise.all(gates.slice(0, 3));
  const places = running.map((gate) => (gate.ok ? gate.place : assert.fail('refused')));
  places[0]!.release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(settled, [0, 1, 2, 3], 'a recipient that exists gives its place back to one waiting check');
  const fourth = await gates[3]!;
  assert.deepEqual([places[1]!.unknown(), places[2]!.unknown()], [{ ok: true }, { ok: true }], 'two unknown: 550 each');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(settled, [0, 1, 2, 3], 'unknown answers keep the places taken');
  const third = fourth.ok ? fourth.place.unknown() : assert.fail('refused');
  assert.equal(!third.ok && third.refusal, 'harvest', 'the third unknown blocks the client');
  const waiting = await Promise.all(gates.slice(4));
  assert.deepEqual(waiting.map((gate) => !gate.ok && gate.refusal), ['harvest', 'harvest'], 'the checks still waiting are refused, never looked at');
  assert.deepEqual(places[1]!.unknown(), { ok: true }, 'a place is settled once');
});

test("harvest places: a session's own checks in progress count against maxUnknownPerSession; one at a time always runs", async () => {
  const { policy: harvest } = policy({ harvest: { maxUnknownPerSession: 1, maxUnknownPerIp: 0, windowMinutes: 10, blockMinutes: 15 } });
  const screen = harvest.connect('192.0.2.1');
  const tally: HarvestTally = { unknown: 0, pending: 0 };
  let secondRuns = false;
  const first = await harvest.recipient(screen, tally);
  const second = harvest.recipient(screen, tally).then((gate) => ((secondRuns = true), gate));
  const third = harvest.recipient(screen, tally);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(secondRuns, true, 'cap + 1 checks of the session at once');
  assert.equal(first.ok && first.place.unknown().ok, true);
  const over = await second;
  assert.match(over.ok ? JSON.stringify(over.place.unknown()) : '', /in one session/);
  const last = await third;
  assert.equal(last.ok, true, 'past the session cap with nothing in progress, one check runs (as a sequential client would get)');
  if (last.ok) last.place.release();
  assert.deepEqual(tally, { unknown: 2, pending: 0 });
  const trusted = policy({ clientNetworks: { allow: ['192.0.2.0/24'], deny: [] }, harvest: { maxUnknownPerSession: 1, maxUnknownPerIp: 1, windowMinutes: 10, blockMinutes: 15 } }).policy;
  const partner = trusted.connect('192.0.2.9');
  const partnerTally: HarvestTally = { unknown: 0, pending: 0 };
  for (let i = 0; i < 5; i++) assert.deepEqual(await unknownRecipient(trusted, partner, partnerTally), { ok: true }, 'an allow-listed client is not counted');
});

test('an IPv6 client is counted by its /64: new addresses of one /64 share its connection rate, message rate and harvest count; another /64 has its own', async () => {
  const inSite = (i: number) => `2001:db8:1:2::${(i + 1).toString(16)}`;
  const { policy: limited } = policy({ rateLimit: { connectionsPerMinute: 60, messagesPerMinute: 120 }, harvest: { maxUnknownPerSession: 0, maxUnknownPerIp: 20, windowMinutes: 10, blockMinutes: 15 } });
  const admitted = Array.from({ length: 61 }, (_, i) => limited.connect(inSite(i)));
  assert.equal(admitted.filter((screen) => screen.atConnect.ok).length, 60, '60 connections a minute from one /64, whatever the addresses');
  const refused = admitted[60]!.atConnect;
  assert.match(!refused.ok ? refused.reason : '', /from 2001:db8:1:2::\/64$/);
  assert.equal(limited.connect('2001:db8:1:3::1').atConnect.ok, true, 'the next /64 is another site');
  assert.equal(limited.connect('::ffff:192.0.2.9').key, '192.0.2.9', 'an IPv4-mapped address is its IPv4 address');

  const messages = Array.from({ length: 121 }, (_, i) => limited.mail(admitted[i % 60]!));
  assert.equal(messages.filter((verdict) => verdict.ok).length, 120, '120 messages a minute from one /64');

  const tally: HarvestTally = { unknown: 0, pending: 0 };
  const verdicts = [];
  for (let i = 0; i < 21; i++) verdicts.push(await unknownRecipient(limited, admitted[i]!, tally));
  assert.equal(verdicts.filter((verdict) => verdict.ok).length, 20, '20 unknown recipients from one /64, then blocked');
  assert.equal(limited.isBlocked('2001:db8:1:2::ffff'), true, 'any address of the /64 is blocked');
  assert.equal(limited.isBlocked('2001:db8:1:3::1'), false);
});

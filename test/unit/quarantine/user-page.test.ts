// The user page's pure parts: the per-address rate limiter, the same-origin check of a button press, escaping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { escapeHtml, foreignRequest, RateLimiter, USER_PAGE_CSP, whyInWords } from '../../../src-relay/quarantine/user-page.ts';
import { clientKey } from '../../../src-relay/util/networks.ts';

test('the limiter allows exactly the limit per address in a window, refuses one more, and starts over when the window turns', () => {
  const limiter = new RateLimiter(3, 60_000, 100);
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('10.0.0.1', 1000)), [true, true, true, false]);
  assert.equal(limiter.take('10.0.0.2', 1000), true, 'another address has its own count');
  assert.equal(limiter.take('10.0.0.1', 60_999), false, 'still the same window');
  assert.equal(limiter.take('10.0.0.1', 61_000), true, 'a new window');
});

test('with MAX clients counted, a newcomer is still counted: the oldest count gives way, so filling the table locks nobody out', () => {
  const limiter = new RateLimiter(2, 60_000, 3);
  for (const [client, at] of [['10.0.0.1', 0], ['10.0.0.2', 10], ['10.0.0.3', 20]] as const) assert.equal(limiter.take(client, at), true);
  assert.equal(limiter.take('10.0.0.4', 30), true, 'a real user after an attacker filled the table');
  assert.equal(limiter.take('10.0.0.4', 31), true);
  assert.equal(limiter.take('10.0.0.4', 32), false, "the newcomer's own limit still holds");
  assert.equal(limiter.take('10.0.0.2', 40), true, '10.0.0.2 still counted (1 of 2)');
  assert.equal(limiter.take('10.0.0.2', 41), false, '… and then at its limit');
  assert.equal(limiter.take('10.0.0.1', 50), true, 'the oldest count (10.0.0.1) was the one dropped');
});

test('clients are counted as IPv4 addresses (IPv4-mapped IPv6 included) and IPv6 /64 networks', () => {
  assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('2001:db8:1:2::1'), clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'));
  assert.equal(clientKey('2001:DB8:1:2::1'), '2001:db8:1:2::/64');
  assert.notEqual(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'));
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('fe80::1:2:3:4'), 'fe80:0:0:0::/64');
  const limiter = new RateLimiter(2, 60_000, 100);
  assert.deepEqual(['2001:db8::1', '2001:db8::2', '2001:db8::3'].map((ip) => limiter.take(ip, 0)), [true, true, false], 'one /64, one count');
  assert.deepEqual(['::ffff:192.0.2.9', '192.0.2.9', '::ffff:192.0.2.9'].map((ip) => limiter.take(ip, 0)), [true, true, false], 'mapped and plain IPv4 share a count');
});

const req = (headers: Record<string, string>) => ({ headers: { host: '10.0.0.5:8090', ...headers } }) as unknown as IncomingMessage;

test('a button press passes with this origin, with Origin null only beside Sec-Fetch-Site same-origin, and without either header', () => {
  assert.equal(foreignRequest(req({ origin: 'http://10.0.0.5:8090', 'sec-fetch-site': 'same-origin' })), null);
  assert.equal(foreignRequest(req({ origin: 'null', 'sec-fetch-site': 'same-origin' })), null);
  assert.equal(foreignRequest(req({})), null);
  assert.equal(foreignRequest(req({ 'sec-fetch-site': 'none' })), null);
});

test('a button press from elsewhere is refused: another origin, another port, Origin null alone, cross-site or same-site fetches, an unreadable Origin', () => {
  const elsewhere: Record<string, string>[] = [
    { origin: 'https://evil.test' },
    { origin: 'http://10.0.0.5:8091' },
    { origin: 'null' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site', origin: 'http://10.0.0.5:8090' },
    { origin: 'not a url' },
  ];
  for (const headers of elsewhere) {
    assert.notEqual(foreignRequest(req(headers)), null, JSON.stringify(headers));
  }
});

test('text put into the page cannot start markup or leave an attribute', () => {
  assert.equal(escapeHtml(`<img src=x onerror="a('b')"> & more`), '&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt; &amp; more');
});

test('the policy lets nothing load: no script, no image, no connection, styles by hash only, no framing, forms to itself', () => {
  assert.match(USER_PAGE_CSP, /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'$/);
});

test('why a message was held reads in plain words for each cause', () => {
  const base = { action: 'quarantine' as const, score: 11, senderList: null, results: [] };
  const message = { reason: 'x', score: 11 };
  assert.equal(whyInWords({ ...base, cause: 'junk', reason: 'junk score 11' }, message), 'The filter thinks it is probably junk mail (spam), with a junk score of 11.');
  assert.match(whyInWords({ ...base, cause: 'virus', reason: 'Eicar-Signature' }, message), /virus or other harmful content \(Eicar-Signature\)/);
  assert.match(whyInWords({ ...base, cause: 'policy', reason: 'blocked attachment invoice.exe' }, message), /rule set by your administrator.*invoice\.exe/);
  assert.match(whyInWords({ ...base, cause: 'unavailable', reason: 'clamav unreachable' }, message), /could not be checked completely/);
  assert.equal(whyInWords(null, { reason: null, score: null }), 'The mail filter held it.');
});

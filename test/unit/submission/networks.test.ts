import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrustedNetworks, parseCidr } from '../../../src-relay/util/networks.ts';

test('networks are CIDRs or single addresses, IPv4 or IPv6', () => {
  assert.deepEqual(parseCidr('192.168.1.0/24'), { address: '192.168.1.0', prefix: 24, family: 'ipv4' });
  assert.deepEqual(parseCidr('10.1.2.3'), { address: '10.1.2.3', prefix: 32, family: 'ipv4' });
  assert.deepEqual(parseCidr('2001:db8::/32'), { address: '2001:db8::', prefix: 32, family: 'ipv6' });
  for (const bad of ['', '10.0.0.0/33', '::/129', '10.0.0.0/8/8', 'example.com/24', '10.0.0.0/x', '10.0.0/24']) assert.equal(parseCidr(bad), null, bad);
});

test('a client is trusted only inside a listed network', () => {
  const trusted = new TrustedNetworks(['192.168.1.0/24', '10.0.0.5', 'fd00:1::/64']);
  assert.ok(trusted.has('192.168.1.77'));
  assert.ok(trusted.has('10.0.0.5'));
  assert.ok(trusted.has('fd00:1::42'));
  assert.ok(!trusted.has('192.168.2.1'));
  assert.ok(!trusted.has('10.0.0.6'));
  assert.ok(!trusted.has('fd00:2::1'));
  assert.ok(!trusted.has('not an address'));
  assert.ok(!new TrustedNetworks([]).has('127.0.0.1'), 'nothing is trusted by default, not even loopback');
});

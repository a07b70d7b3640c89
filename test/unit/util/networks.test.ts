import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNonPublicAddress } from '../../../src-relay/util/networks.ts';

test('addresses outside the public internet are told apart from public ones, at the edges of each block', () => {
  const nonPublic = [
    '0.0.0.0', '0.255.255.255', '10.0.0.0', '10.255.255.255', '100.64.0.0', '100.127.255.255', '127.0.0.1', '127.255.255.255',
    '169.254.0.0', '169.254.169.254', '172.16.0.0', '172.31.255.255', '192.168.0.0', '192.168.255.255', '224.0.0.1',
    '239.255.255.255', '240.0.0.1', '255.255.255.255',
    '::', '::1', 'fc00::1', 'fdff:ffff::1', 'fe80::1', 'febf::1', 'fec0::1', 'ff02::1',
    // IPv4 carried in IPv6 is judged as that IPv4; local-use NAT64 is private
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.1.2.3', '::10.1.2.3', '64:ff9b::a00:1', '64:ff9b:1::808:808',
    'mx.example', '',
  ];
  const publicOnes = [
    '1.0.0.1', '9.255.255.255', '11.0.0.0', '100.63.255.255', '100.128.0.0', '126.255.255.255', '128.0.0.0', '169.253.255.255',
    '172.15.255.255', '172.32.0.0', '192.167.255.255', '192.169.0.0', '223.255.255.255', '8.8.8.8',
    '2001:db8::1', '2a00:1450:4001::1', 'fbff::1', '::ffff:8.8.8.8', '64:ff9b::808:808',
  ];
  assert.deepEqual(nonPublic.filter((ip) => !isNonPublicAddress(ip)), [], 'taken for public');
  assert.deepEqual(publicOnes.filter((ip) => isNonPublicAddress(ip)), [], 'taken for non-public');
});

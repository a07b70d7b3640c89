import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerSafe, receivedHeader } from '../../../src-relay/smtp/received.ts';

const base = { clientIp: '192.0.2.1', hostname: 'relay.example.com', queueId: 'ABC', tls: false, date: new Date('2026-11-28T10:00:00Z') };

test('a Received header names the client, us, the protocol, the queue id and the date', () => {
  const header = receivedHeader({ ...base, helo: 'mail.sender.test', recipient: 'bob@example.com' });
  assert.equal(
    header,
    'Received: from mail.sender.test ([192.0.2.1])\r\n\tby relay.example.com (Moat) with ESMTP id ABC\r\n\tfor <bob@example.com>;\r\n\tSat, 28 Nov 2026 10:00:00 +0000\r\n',
  );
});

test('without the client, the header starts at its by clause: no name, no address', () => {
  const header = receivedHeader({ ...base, helo: 'PC-ALICE', clientHostname: 'pc-alice.office.lan', hideClient: true, tls: true, authenticated: true, recipient: 'bob@example.com' });
  assert.equal(header, 'Received: by relay.example.com (Moat) with ESMTPSA id ABC\r\n\tfor <bob@example.com>;\r\n\tSat, 28 Nov 2026 10:00:00 +0000\r\n');
});

test('a hostile HELO cannot inject a header or break the clause', () => {
  const header = receivedHeader({ ...base, helo: 'evil\r\nBcc: x@y (oops) ;', tls: true });
  assert.equal(header.split('\r\n').length, 4, 'still three lines and the final CRLF');
  assert.match(header, /^Received: from evilBcc:x@yoops \(\[192\.0\.2\.1\]\)/);
  assert.match(header, /with ESMTPS id ABC;/);
});

test('header-safe values are printable ASCII, bounded, never empty', () => {
  assert.equal(headerSafe(''), 'unknown');
  assert.equal(headerSafe('x'.repeat(1000)).length, 255);
  assert.equal(headerSafe('ünï\tcode'), 'ncode');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { DkimKeyStore, defaultSelector, dnsRecord, normalizeSelector } from '../../../src-relay/dkim/keys.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

test('a generated key is RSA 2048, its TXT record is split into strings of at most 255 octets', async () => {
  const dir = tempDir();
  try {
    const store = new DkimKeyStore(dir);
    const key = await store.generate('Example.COM', 's1', 0);
    assert.equal(key.domain, 'example.com');
    const record = dnsRecord(key);
    assert.equal(record.name, 's1._domainkey.example.com');
    assert.match(record.value, /^v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA/, 'a 2048-bit key');
    const strings = [...record.zoneLine.matchAll(/"([^"]*)"/g)].map((match) => match[1]!);
    assert.ok(strings.length > 1);
    assert.ok(strings.every((chunk) => chunk.length <= 255));
    assert.equal(strings.join(''), record.value);
    assert.equal(store.get('example.com')?.selector, 's1');
    await assert.rejects(store.generate('example.com', 's2'), /already has a DKIM key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('selectors are DNS labels; the default one names the month', () => {
  assert.equal(normalizeSelector('Office-2026.A'), 'office-2026.a');
  for (const bad of ['', '-a', 'a b', 'a..b', 'a_b']) assert.equal(normalizeSelector(bad), null, bad);
  assert.equal(defaultSelector(new Date(Date.UTC(2026, 10, 28))), 'moat-202611');
});

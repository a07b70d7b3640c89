// UserLinks: the signed single-message links of the end users' quarantine page, with a real key file in a temp dir.
import { test } from 'node:test';
import { createHmac } from 'node:crypto';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_TOKEN_CHARS, USER_LINK_KEY_FILE, UserLinks } from '../../../src-relay/quarantine/user-links.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const NOW = Date.UTC(2026, 11, 4, 8, 0, 0);
const claims = { recipient: 'bob@example.test', messageId: '0MIGQ5Z8X000ABCDEF0123', expiresAt: NOW + 7 * 86_400_000 };
const links = () => UserLinks.withKey(Buffer.alloc(32, 7));

/** Flips one character of `text` at `index` to another of the base64url alphabet. */
function flip(text: string, index: number): string {
  const c = text[index]!;
  return text.slice(0, index) + (c === 'A' ? 'B' : 'A') + text.slice(index + 1);
}

test('a signed link verifies back to its recipient, message and expiry', () => {
  const token = links().sign(claims);
  assert.deepEqual(links().verify(token, NOW), { ok: true, claims });
});

test('the recipient is bound in lower case, so a link works however the address was written', () => {
  const token = links().sign({ ...claims, recipient: 'Bob@Example.TEST' });
  const check = links().verify(token, NOW);
  assert.ok(check.ok);
  assert.equal(check.claims.recipient, 'bob@example.test');
});

test('a link is refused as expired from its expiry on, and works a millisecond before', () => {
  const token = links().sign(claims);
  assert.equal(links().verify(token, claims.expiresAt - 1).ok, true);
  assert.deepEqual(links().verify(token, claims.expiresAt), { ok: false, why: 'expired' });
});

test('a link with a changed payload (another recipient or message) is refused as altered', () => {
  const token = links().sign(claims);
  const [, mac] = token.split('.') as [string, string];
  for (const other of [{ ...claims, recipient: 'carol@example.test' }, { ...claims, messageId: '0MIGQ5Z8X000ABCDEF9999' }, { ...claims, expiresAt: claims.expiresAt + 86_400_000 }]) {
    const payload = Buffer.from(JSON.stringify({ r: other.recipient, m: other.messageId, e: other.expiresAt })).toString('base64url');
    assert.deepEqual(links().verify(`${payload}.${mac}`, NOW), { ok: false, why: 'altered' });
  }
  assert.deepEqual(links().verify(flip(token, 3), NOW), { ok: false, why: 'altered' });
});

test('a link with a changed signature is refused as altered', () => {
  const token = links().sign(claims);
  assert.deepEqual(links().verify(flip(token, token.length - 5), NOW), { ok: false, why: 'altered' });
});

test('a link signed with another key (another box before a restore, or a renewed key file) is told apart as other-key', () => {
  const foreign = UserLinks.withKey(Buffer.alloc(32, 8)).sign(claims);
  assert.deepEqual(links().verify(foreign, NOW), { ok: false, why: 'other-key' });
  // its key's name is an HMAC under the key, not the key: nothing of the key's bytes is in the link
  const named = JSON.parse(Buffer.from(foreign.split('.')[0]!, 'base64url').toString('utf8')) as { k: string };
  assert.match(named.k, /^[A-Za-z0-9_-]{8}$/);
  assert.ok(!Buffer.alloc(32, 8).toString('base64url').includes(named.k));
});

/** A link as Moat made it before links named their key: the payload without k. */
function unnamedLink(key: Buffer): string {
  const payload = Buffer.from(JSON.stringify({ r: claims.recipient, m: claims.messageId, e: claims.expiresAt })).toString('base64url');
  return `${payload}.${createHmac('sha256', key).update(`moat-user-link-v1.${payload}`).digest('base64url')}`;
}

test('a link made before links named their key still works with its own key; with another key it cannot be told from a changed one', () => {
  assert.deepEqual(links().verify(unnamedLink(Buffer.alloc(32, 7)), NOW), { ok: true, claims });
  assert.deepEqual(links().verify(unnamedLink(Buffer.alloc(32, 8)), NOW), { ok: false, why: 'altered' });
});

test('malformed tokens are refused as malformed: empty, no dot, wrong alphabet, short signature, over MAX_TOKEN_CHARS', () => {
  const token = links().sign(claims);
  const [payload, mac] = token.split('.') as [string, string];
  for (const bad of ['', 'abc', payload, `${payload}.${mac}.x`, `${payload}.${mac.slice(1)}`, `${payload}+.${mac}`, `${payload}.${mac}=`, `<script>.${mac}`]) {
    assert.deepEqual(links().verify(bad, NOW), { ok: false, why: 'malformed' }, bad);
  }
  const long = `${'A'.repeat(MAX_TOKEN_CHARS)}.${mac}`;
  assert.deepEqual(links().verify(long, NOW), { ok: false, why: 'malformed' });
  assert.deepEqual(links().verify(undefined as unknown as string, NOW), { ok: false, why: 'malformed' });
});

test('a correctly signed payload that is not the claims shape is refused as malformed', () => {
  const key = Buffer.alloc(32, 7);
  // sign() only ever makes the right shape; a payload of another shape can carry a valid MAC only through the key
  const payload = Buffer.from(JSON.stringify({ r: 'bob@example.test', m: 5, e: 'soon' })).toString('base64url');
  const mac = createHmac('sha256', key).update(`moat-user-link-v1.${payload}`).digest('base64url');
  assert.deepEqual(UserLinks.withKey(key).verify(`${payload}.${mac}`, NOW), { ok: false, why: 'malformed' });
});

test('the key file is created once with mode 0600 and reused: links survive a reopen', async () => {
  const dir = tempDir();
  try {
    const first = await UserLinks.open(dir);
    const path = join(dir, USER_LINK_KEY_FILE);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const content = readFileSync(path, 'utf8');
    assert.match(content, /^[0-9a-f]{64}$/);
    const token = first.sign(claims);
    const second = await UserLinks.open(dir);
    assert.equal(readFileSync(path, 'utf8'), content);
    assert.equal(second.verify(token, NOW).ok, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two parallel opens of a fresh data directory agree on one key', async () => {
  const dir = tempDir();
  try {
    const opened = await Promise.all(Array.from({ length: 8 }, () => UserLinks.open(dir)));
    const token = opened[0]!.sign(claims);
    for (const links of opened) assert.equal(links.verify(token, NOW).ok, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged key file is refused loudly rather than replaced (old links would silently change meaning)', async () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, USER_LINK_KEY_FILE), 'not a key', { mode: 0o600 });
    await assert.rejects(UserLinks.open(dir), /does not hold a 32-byte hex key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

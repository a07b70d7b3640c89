import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dummyHash, hashPassword, passwordProblem, verifyPassword } from '../../../src-relay/auth/password.ts';

test('a password is kept as scrypt with its parameters and a per-user salt, never in clear', async () => {
  const one = await hashPassword('correct horse battery staple');
  const two = await hashPassword('correct horse battery staple');
  assert.match(one, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(one, two, 'the same password hashes differently for two users');
  assert.ok(!one.includes('horse'));
});

test('the right password verifies, a wrong one, a changed case or a malformed hash does not', async () => {
  const hash = await hashPassword('correct horse battery staple');
  assert.equal(await verifyPassword('correct horse battery staple', hash), true);
  assert.equal(await verifyPassword('Correct horse battery staple', hash), false);
  assert.equal(await verifyPassword('', hash), false);
  assert.equal(await verifyPassword('correct horse battery staple', 'plain:correct horse battery staple'), false);
  assert.equal(await verifyPassword('correct horse battery staple', hash.replace(/\$1\$/, '$x$')), false);
});

test('an over-long password never matches, and is refused when set', async () => {
  const long = 'x'.repeat(1025);
  assert.equal(await verifyPassword(long, await hashPassword(long.slice(0, 1024))), false);
  assert.match(passwordProblem(long)!, /at most 1024/);
});

test('new passwords need at least 10 characters and no control characters', () => {
  assert.match(passwordProblem('short')!, /at least 10/);
  assert.match(passwordProblem('long enough\u0000but')!, /control/);
  assert.equal(passwordProblem('long enough password'), null);
});

test('the dummy hash for unknown names is a real scrypt hash, made once', async () => {
  const first = await dummyHash();
  assert.equal(first, await dummyHash());
  assert.match(first, /^scrypt\$32768\$8\$1\$/);
});

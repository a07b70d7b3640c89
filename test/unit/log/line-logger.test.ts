import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLineLogger } from '../../../src-relay/log/logger.ts';

function logged(value: string): string {
  const lines: string[] = [];
  createLineLogger((line) => lines.push(line), () => 0).info({ to: value }, 'REFUSED');
  return lines[0]!.replace(/^\S+ info REFUSED /, '').trimEnd();
}

test('a value with a direction override, an invisible joiner or a control is quoted with them escaped, so the line reads as it is', () => {
  assert.equal(logged('x\u202Eevil@outside.test'), 'to="x\\u202eevil@outside.test"');
  assert.equal(logged('a\u2066b\u200Bc\u2028d\u0085e'), 'to="a\\u2066b\\u200bc\\u2028d\\u0085e"');
  assert.equal(logged('bell\u0007'), 'to="bell\\u0007"');
});

test('plain values stay bare, letters of any script included; spaces, quotes and = are quoted', () => {
  assert.equal(logged('jürgen@exämple.test'), 'to=jürgen@exämple.test');
  assert.equal(logged('a b'), 'to="a b"');
  assert.equal(logged('a=b'), 'to="a=b"');
});

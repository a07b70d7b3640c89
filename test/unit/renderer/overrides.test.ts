import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configKeys } from '../../../src-relay/config/docs.ts';
import { overriddenPaths } from '../../../src-relay/config/load.ts';
import { FLAGS, overridesFrom } from '../../../src-relay/cli.ts';
import { FLAG_FOR_KEY, inForceText, overrideNote, overridesOf } from '../../../src-renderer/lib/overrides.ts';

test('a key the command line does not set gets no note: the file\'s value is the one in force', () => {
  assert.equal(overrideNote('mx.maxRecipients', ['mx.listen', 'shutdownGraceSec']), null);
  assert.equal(overrideNote('mx.listen', []), null);
  assert.equal(overrideNote('mx.listenBacklog', ['mx.listen']), null, 'a key that only starts with the same letters is another key');
});

test('a key set by a flag names the flag, says the file\'s value waits, and gives the value in force', () => {
  assert.equal(overrideNote('mx.listen', ['mx.listen']), "Set on the command line (--mx-listen); the file's value applies only without it.");
  assert.equal(
    overrideNote('mx.listen', ['mx.listen'], '127.0.0.1:2525'),
    "Set on the command line (--mx-listen); the file's value applies only without it. In force now: 127.0.0.1:2525.",
  );
  assert.equal(overrideNote('domains', ['domains'], ['a.test', 'b.test']), "Set on the command line (--domain); the file's value applies only without it. In force now: a.test, b.test.");
  assert.equal(overrideNote('internal.port', ['internal.host', 'internal.port'], 2525), "Set on the command line (--internal); the file's value applies only without it. In force now: 2525.");
});

test('a key set on the command line that the table has no flag for still gets the note, without a flag name', () => {
  assert.equal(overrideNote('shutdownGraceSec', ['mx.listen', 'shutdownGraceSec'], 1), "Set on the command line; the file's value applies only without it. In force now: 1.");
});

test('a key holding an object is overridden when a path inside it is, and a key inside an overridden object too', () => {
  assert.deepEqual(overridesOf('filters.failMode', ['filters.failMode.clamav', 'mx.listen']), ['filters.failMode.clamav']);
  assert.deepEqual(overridesOf('outbound.smarthost.port', ['outbound.smarthost']), ['outbound.smarthost']);
  assert.equal(inForceText({ clamav: 'tempfail' }), '{"clamav":"tempfail"}');
});

test("the note's flag table matches the flags `moat serve` turns into settings, both ways", () => {
  const keys = new Set(configKeys().map((doc) => doc.key));
  for (const key of Object.keys(FLAG_FOR_KEY)) assert.ok(keys.has(key), `${key} is a key of the configuration`);
  const seen = new Set<string>();
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const value = spec.type === 'boolean' ? true : 'multiple' in spec ? ['example.test'] : '127.0.0.1:2525';
    const { overrides, problems } = overridesFrom({ [flag]: value } as Parameters<typeof overridesFrom>[0]);
    assert.deepEqual(problems, [], flag);
    for (const path of overriddenPaths(overrides as Record<string, unknown>)) {
      assert.equal(FLAG_FOR_KEY[path], `--${flag}`, `--${flag} sets ${path}`);
      seen.add(path);
    }
  }
  assert.deepEqual([...seen].sort(), Object.keys(FLAG_FOR_KEY).sort(), 'every key in the table is set by its flag');
});

test("the host reports an override's leaves as dotted key paths, a list being one leaf", () => {
  assert.deepEqual(overriddenPaths({ mx: { listen: '127.0.0.1:0' }, shutdownGraceSec: 1, domains: ['a.test'], internal: { host: 'h', port: 25 }, admin: {} }), [
    'mx.listen',
    'shutdownGraceSec',
    'domains',
    'internal.host',
    'internal.port',
  ]);
});

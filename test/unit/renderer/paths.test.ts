import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deletePath, fieldForIssue, getPath, issuesUnder, mapIssues, pathCovers, setPath } from '../../../src-renderer/lib/paths.ts';

test('paths read into objects and arrays', () => {
  const config = { mx: { tls: { cert: '/c.pem' } }, domains: ['a.example', 'b.example'] };
  assert.equal(getPath(config, 'mx.tls.cert'), '/c.pem');
  assert.equal(getPath(config, 'domains.1'), 'b.example');
  assert.equal(getPath(config, 'mx.nothing.here'), undefined);
});

test('setting and deleting copy, and empty parents go away', () => {
  const config = { mx: { listen: '0.0.0.0:25' } };
  const set = setPath(config, 'mx.tls.cert', '/c.pem');
  assert.deepEqual(set, { mx: { listen: '0.0.0.0:25', tls: { cert: '/c.pem' } } });
  assert.deepEqual(config, { mx: { listen: '0.0.0.0:25' } }, 'the original is untouched');
  assert.deepEqual(deletePath(set, 'mx.tls.cert'), { mx: { listen: '0.0.0.0:25' } });
  assert.equal(deletePath(config, 'queue.lifetimeHours'), config);
});

test('a prefix covers whole segments only', () => {
  assert.ok(pathCovers('mx.tls', 'mx.tls.cert'));
  assert.ok(pathCovers('mx.tls', 'mx.tls'));
  assert.ok(!pathCovers('mx.tls', 'mx.tlsFoo'));
  assert.ok(pathCovers('', 'anything'));
});

test('an issue goes to the field with the longest matching path', () => {
  const fields = { domains: 'domains', host: 'internal.host', port: 'internal.port', user: 'internal.auth.user' } as const;
  assert.equal(fieldForIssue('domains.2', fields), 'domains');
  assert.equal(fieldForIssue('internal.port', fields), 'port');
  assert.equal(fieldForIssue('config.internal.host', fields), 'host', 'API input paths name the config');
  assert.equal(fieldForIssue('internal', fields), 'host', 'a missing parent shows at its first field');
  assert.equal(fieldForIssue('queue.lifetimeHours', fields), null);
});

test('issues split into per-field messages and the rest', () => {
  const mapped = mapIssues(
    [
      { path: 'domains.0', message: 'bad domain' },
      { path: 'domains.1', message: 'bad too' },
      { path: 'mx.listen', message: 'expected HOST:PORT' },
    ],
    { domains: 'domains' },
  );
  assert.deepEqual(mapped.byField, { domains: ['bad domain', 'bad too'] });
  assert.deepEqual(mapped.other, [{ path: 'mx.listen', message: 'expected HOST:PORT' }]);
  assert.deepEqual(issuesUnder([{ path: 'mx.callout.timeoutSec', message: 'x' }, { path: 'mx.listen', message: 'y' }], ['mx.callout']).length, 1);
});

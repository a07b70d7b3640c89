import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configKeys } from '../../../src-relay/config/docs.ts';
import { validateConfig } from '../../../src-relay/config/load.ts';
import { applyDrafts, changedKeys, draftToValue, groupKeys, keyForIssue, keyModel, labelFor, parseKeyType, valueToDraft } from '../../../src-renderer/lib/settings.ts';

test('every type in the key table becomes an input kind', () => {
  assert.equal(parseKeyType('boolean').kind, 'boolean');
  assert.equal(parseKeyType('integer').kind, 'integer');
  assert.deepEqual(parseKeyType('"none" \\| "opportunistic" \\| "required"'), { kind: 'enum', options: ['none', 'opportunistic', 'required'], itemKind: 'string' });
  assert.deepEqual(parseKeyType('integer[]'), { kind: 'list', options: [], itemKind: 'integer' });
  assert.equal(parseKeyType('object[]').kind, 'json');
  assert.equal(parseKeyType('object').kind, 'json');
  assert.equal(parseKeyType('string', 'internal.auth.pass').kind, 'secret');
});

test('the real key table groups into known sections only', () => {
  const sections = groupKeys(configKeys());
  const ids = sections.map((section) => section.id);
  assert.deepEqual(ids, ['general', 'internal', 'mx', 'filters', 'outbound', 'submission', 'queue', 'quarantine', 'alerts', 'checklist', 'backup', 'admin']);
  const general = sections[0]!.keys.map((model) => model.key);
  assert.ok(general.includes('domains') && general.includes('hostname'));
});

test('labels read as words', () => {
  assert.equal(labelFor('mx.maxConnectionsPerIp'), 'Max connections per IP');
  assert.equal(labelFor('mx.idleTimeoutSec'), 'Idle timeout (s)');
  assert.equal(labelFor('mx.greetingDelayMs'), 'Greeting delay (ms)');
  assert.equal(labelFor('alerts.webhookUrl'), 'Webhook URL');
});

const doc = (key: string, type: string, fallback = '—') => keyModel({ key, type, default: fallback, description: '' });

test('drafts turn into values, and an empty box means the default', () => {
  assert.deepEqual(draftToValue(doc('queue.maxDeliveries', 'integer'), ' 20 '), { ok: true, value: 20 });
  assert.deepEqual(draftToValue(doc('queue.maxDeliveries', 'integer'), '2.5'), { ok: false, message: 'expected a whole number' });
  assert.deepEqual(draftToValue(doc('queue.maxDeliveries', 'integer'), ''), { ok: true, value: undefined });
  assert.deepEqual(draftToValue(doc('queue.retryIntervalsSec', 'integer[]'), '60\n120, 300'), { ok: true, value: [60, 120, 300] });
  assert.deepEqual(draftToValue(doc('domains', 'string[]'), 'a.example\nb.example'), { ok: true, value: ['a.example', 'b.example'] });
  assert.deepEqual(draftToValue(doc('internal.tls', '"none" \\| "required"'), 'sometimes'), { ok: false, message: 'expected one of none, required' });
  assert.deepEqual(draftToValue(doc('filters.rules', 'object'), '{"X": 1}'), { ok: true, value: { X: 1 } });
  assert.equal(draftToValue(doc('filters.rules', 'object'), '{'). ok, false);
  assert.deepEqual(draftToValue(doc('filters.enabled', 'boolean'), false), { ok: true, value: false });
});

test('a saved value shows in its box, an unsaved boolean shows its default', () => {
  assert.equal(valueToDraft(doc('queue.retryIntervalsSec', 'integer[]'), [60, 120]), '60\n120');
  assert.equal(valueToDraft(doc('queue.maxDeliveries', 'integer'), undefined), '');
  assert.equal(valueToDraft(doc('filters.enabled', 'boolean', 'true'), undefined), true);
  assert.equal(valueToDraft(doc('mx.dnsbl.zones', 'object[]'), [{ zone: 'zen.spamhaus.org' }]), '[\n  {\n    "zone": "zen.spamhaus.org"\n  }\n]');
});

test('edits change only the keys touched and the result is a valid config', () => {
  const models = groupKeys(configKeys()).flatMap((section) => section.keys);
  const saved = { domains: ['example.com'], internal: { host: 'exchange.lan' }, queue: { lifetimeHours: 48 } };
  const drafts = { 'queue.maxDeliveries': '20', 'queue.lifetimeHours': '', 'mx.callout.enabled': true, 'domains': 'example.com' };
  const { config, problems } = applyDrafts(saved, models, drafts);
  assert.deepEqual(problems, {});
  assert.deepEqual(config, { domains: ['example.com'], internal: { host: 'exchange.lan' }, queue: { maxDeliveries: 20 }, mx: { callout: { enabled: true } } });
  assert.ok(validateConfig(config).ok);
  assert.deepEqual(changedKeys(saved, models, drafts).sort(), ['mx.callout.enabled', 'queue.lifetimeHours', 'queue.maxDeliveries']);
});

test('a problem deep inside a key shows at that key', () => {
  const models = groupKeys(configKeys()).flatMap((section) => section.keys);
  assert.equal(keyForIssue('mx.dnsbl.zones.0.zone', models), 'mx.dnsbl.zones');
  assert.equal(keyForIssue('alerts.queueSize.clear', models), 'alerts.queueSize.clear');
  assert.equal(keyForIssue('(config)', models), null);
});

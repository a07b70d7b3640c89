import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFields, configKeys } from '../../../src-relay/config/docs.ts';
import { CONFIG_FIELDS, FIELD_GROUPS } from '../../../src-relay/config/fields.ts';
import { domainProblem } from '../../../src-relay/config/schema.ts';
import { validateConfig } from '../../../src-relay/config/load.ts';
import { contract } from '../../../src-relay/admin/contract.ts';

test('every schema key has a group, a section, a human label and a control, and the table names no key the schema lacks', () => {
  const keys = configKeys().map((doc) => doc.key);
  const missing = keys.filter((key) => !CONFIG_FIELDS[key]);
  assert.deepEqual(missing, [], 'keys without an entry in config/fields.ts');
  const stale = Object.keys(CONFIG_FIELDS).filter((key) => !keys.includes(key));
  assert.deepEqual(stale, [], 'entries in config/fields.ts for keys the schema does not have');
  const groups = new Set<string>(FIELD_GROUPS.map((group) => group.id));
  for (const field of configFields()) {
    assert.ok(groups.has(field.group), `${field.key}: a known group`);
    assert.ok(field.section.length > 0 && field.label.length > 0, `${field.key}: a section and a label`);
    assert.notEqual(field.label, field.key, `${field.key}: a human label, not the key`);
  }
});

test('every group of the settings page has keys, and labels are unique within a group', () => {
  const fields = configFields();
  for (const group of FIELD_GROUPS) {
    const inGroup = fields.filter((field) => field.group === group.id);
    assert.ok(inGroup.length > 0, `${group.title} has keys`);
    const labels = inGroup.map((field) => field.label);
    assert.deepEqual(labels.filter((label, index) => labels.indexOf(label) !== index), [], `${group.title}: no label twice`);
  }
});

test('the control fits the type: toggles are booleans, choices are enums with a word for each value, numbers are numbers', () => {
  for (const field of configFields()) {
    if (field.control === 'toggle') assert.equal(field.type, 'boolean', field.key);
    if (field.type === 'boolean') assert.equal(field.control, 'toggle', field.key);
    if (field.control === 'choice') {
      assert.ok(field.options.length > 1, `${field.key}: an enum`);
      assert.deepEqual(Object.keys(field.choices ?? {}).sort(), [...field.options].sort(), `${field.key}: a word for every value`);
    }
    if (field.control === 'number') assert.match(field.type, /^(integer|number)$/, field.key);
    if (field.control === 'number-list') assert.match(field.type, /^(integer|number)\[\]$/, field.key);
    if (field.control === 'list') assert.equal(field.type, 'string[]', field.key);
    if (field.control === 'weekdays') assert.equal(field.type, 'integer[]', field.key);
    if (field.unit) assert.ok(field.unit.factor > 0 && field.unit.word.length > 0, field.key);
    if (field.emptyRemoves) assert.ok(field.key.startsWith(`${field.emptyRemoves}.`), `${field.key}: removes its own parent`);
  }
});

test('sizes are shown in MB and durations in minutes or hours, the units a person uses', () => {
  const byKey = new Map(configFields().map((field) => [field.key, field]));
  assert.deepEqual(byKey.get('mx.maxMessageBytes')?.unit, { word: 'MB', factor: 1024 * 1024 });
  assert.equal(byKey.get('mx.maxMessageBytes')?.label, 'Largest message');
  assert.deepEqual(byKey.get('mx.idleTimeoutSec')?.unit, { word: 'minutes', factor: 60 });
  assert.deepEqual(byKey.get('queue.lifetimeHours')?.unit, { word: 'hours', factor: 1 });
  assert.deepEqual(byKey.get('queue.retryIntervalsSec')?.unit, { word: 'minutes', factor: 60 });
  for (const field of configFields()) {
    if (/Bytes$/.test(field.key) && field.key !== 'mx.maxCommandLineBytes') assert.match(field.unit?.word ?? '', /^(MB|KB)$/, field.key);
    if (/(Sec|Ms)$/.test(field.key) && field.control === 'number') assert.match(field.unit?.word ?? '', /^(seconds|minutes)$/, field.key);
  }
});

test('addresses the relay talks to offer a connection test', () => {
  const tests = Object.fromEntries(configFields().filter((field) => field.test).map((field) => [field.key, field.test]));
  assert.deepEqual(tests, {
    'internal.host': 'internal',
    'outbound.smarthost.host': 'smarthost',
    'filters.clamav.address': 'clamav',
    'filters.rspamd.address': 'rspamd',
    'filters.spamd.address': 'spamd',
  });
});

test("config.get's key table carries the field metadata the contract promises", () => {
  const keys = configFields();
  const output = contract['config.get'].output.shape.keys;
  assert.doesNotThrow(() => output.parse(keys));
});

const BAD_DOMAINS: readonly [string, RegExp][] = [
  ['exa mple.com', /space/],
  ['exa mple', /space/],
  ['localhost', /single name/],
  ['corp', /single name/],
  ['-bad-.com', /hyphen/],
  ['bad-.example.com', /hyphen/],
  ['mail_server.example.com', /underscore/],
  ['example..com', /empty part/],
  ['.example.com', /empty part/],
  ['bob@example.com', /address/],
  ['exa!mple.com', /characters/],
  ['192.0.2.1', /IP address/],
  ['2001:db8::1', /IP address/],
  ['[192.0.2.1]', /IP address/],
  // an outside review: a port was called an IP address
  ['example.com:25', /has a port after it: give only the domain, like example\.com/],
  ['example.com:x', /has a colon in it/],
  ['https://example.com', /is a web address: give only the domain, like example\.com/],
  ['http://example.com/', /web address/],
  ['', /empty/],
];
const GOOD_DOMAINS: readonly [string, string][] = [
  ['example.com', 'example.com'],
  ['Example.COM.', 'example.com'],
  ['mail.sub.example.co.uk', 'mail.sub.example.co.uk'],
  ['bücher.example', 'xn--bcher-kva.example'],
  ['a-b.example', 'a-b.example'],
  ['123.example', '123.example'],
];

test('impossible domains are refused with a reason a person can act on, by the schema the wizard, settings and file share', () => {
  for (const [domain, reason] of BAD_DOMAINS) {
    assert.match(domainProblem(domain) ?? 'accepted', reason, domain);
    const result = validateConfig({ domains: [domain] });
    assert.ok(!result.ok, `${domain} is refused in the config`);
    assert.equal(result.problems[0]!.path, 'domains.0');
    assert.match(result.problems[0]!.message, new RegExp(`^"${domain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" is not a valid domain name: it `));
    assert.match(result.problems[0]!.message, reason);
  }
});

test('real domains are accepted and normalised', () => {
  for (const [domain, normalised] of GOOD_DOMAINS) {
    assert.equal(domainProblem(domain), null, domain);
    const result = validateConfig({ domains: [domain], outbound: { tlsRequiredDomains: [domain] } });
    assert.ok(result.ok, domain);
    assert.deepEqual(result.config.domains, [normalised]);
  }
});

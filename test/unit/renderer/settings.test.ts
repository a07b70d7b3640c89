import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFields } from '../../../src-relay/config/docs.ts';
import { FIELD_GROUPS } from '../../../src-relay/config/fields.ts';
import { validateConfig } from '../../../src-relay/config/load.ts';
import { addEntries, applyDrafts, namedChanges, changedKeys, defaultText, draftToValue, groupFields, inShownUnit, keyForIssue, labelOf, placeIssues, shownValue, toShown, valueToDraft, weekdaysText, type FieldDoc } from '../../../src-renderer/lib/settings.ts';
import { FIELD_PATHS } from '../../../src-renderer/lib/wizard.ts';

const fields = configFields() as FieldDoc[];
const groups = FIELD_GROUPS.map((group) => ({ ...group }));
const field = (key: string) => fields.find((candidate) => candidate.key === key)!;

test('the page groups the fields by task, in the order of the table beside the schema', () => {
  const grouped = groupFields(fields, groups);
  assert.deepEqual(
    grouped.map((group) => group.title),
    ['Domains and recipients', 'Internal server', 'Filters and quarantine', 'Outgoing mail', 'Accounts', 'Alerts', 'Backups', 'Admin access'],
  );
  assert.equal(grouped.flatMap((group) => group.sections.flatMap((section) => section.fields)).length, fields.length, 'every key is on the page once');
  const domains = grouped[0]!.sections[0]!;
  assert.equal(domains.title, 'Domains');
  assert.equal(domains.fields[0]!.label, 'Accepted domains');
});

test('sizes show in MB and are saved in bytes; durations show in minutes and are saved in seconds', () => {
  const size = field('mx.maxMessageBytes');
  assert.equal(valueToDraft(size, 25 * 1024 * 1024), '25');
  assert.deepEqual(draftToValue(size, '10'), { ok: true, value: 10 * 1024 * 1024 });
  assert.deepEqual(draftToValue(size, '0.5'), { ok: true, value: 512 * 1024 });
  assert.equal(defaultText(size), '25 MB');
  const idle = field('mx.idleTimeoutSec');
  assert.equal(valueToDraft(idle, 90), '1.5');
  assert.deepEqual(draftToValue(idle, '2'), { ok: true, value: 120 });
  const retries = field('queue.retryIntervalsSec');
  assert.equal(valueToDraft(retries, [300, 600, 3600]), '5, 10, 60');
  assert.deepEqual(draftToValue(retries, '1, 2.5'), { ok: true, value: [60, 150] });
  assert.equal(defaultText(retries), '5, 10, 20, 40, 60 minutes');
  assert.equal(toShown(field('mx.greetingDelayMs'), 2500), '2.5');
});

test('a number the page cannot read names the unit it expects; an empty box means the default', () => {
  assert.deepEqual(draftToValue(field('mx.maxMessageBytes'), 'big'), { ok: false, message: 'expected a number (in MB)' });
  assert.deepEqual(draftToValue(field('mx.maxMessageBytes'), ' '), { ok: true, value: undefined });
  assert.deepEqual(draftToValue(field('queue.retryIntervalsSec'), '5, soon'), { ok: false, message: 'expected numbers (in minutes), separated by commas' });
  assert.deepEqual(draftToValue(field('internal.tls'), 'sometimes'), { ok: false, message: 'expected one of Never, When offered, Required' });
  assert.deepEqual(draftToValue(field('filters.rules'), '{"X": 1}'), { ok: true, value: { X: 1 } });
  assert.equal(draftToValue(field('filters.rules'), '{').ok, false);
});

test('digest days are named days ticked, kept as the schema counts them (0 Sunday), and none ticked is refused', () => {
  const days = field('quarantine.digest.weekdays');
  assert.equal(days.control, 'weekdays');
  assert.equal(defaultText(days), 'Monday to Friday');
  assert.deepEqual(valueToDraft(days, undefined), ['1', '2', '3', '4', '5'], 'unset shows the default days ticked');
  assert.deepEqual(valueToDraft(days, [5, 1, 1]), ['1', '5'], 'a hand-edited list shows each day once');
  assert.deepEqual(draftToValue(days, ['0', '6']), { ok: true, value: [0, 6] });
  assert.deepEqual(draftToValue(days, ['1', '2', '3', '4', '5']), { ok: true, value: undefined }, 'back to the default days: the key goes');
  assert.deepEqual(draftToValue(days, []), { ok: false, message: 'tick at least one day' });
  assert.deepEqual(draftToValue(days, ['7', 'x']), { ok: false, message: 'tick at least one day' }, 'only the seven days count');
  assert.equal(shownValue(days, [0, 6]), 'Saturday, Sunday');
  assert.equal(weekdaysText([0, 1, 2, 3, 4, 5, 6]), 'every day');
  assert.equal(weekdaysText([6, 0, 1]), 'Monday, Saturday, Sunday', 'a run is counted Monday first, not round the week');
  assert.equal(weekdaysText([2, 3, 4]), 'Tuesday to Thursday');
  assert.equal(weekdaysText([1, 3]), 'Monday, Wednesday');
  assert.equal(validateConfig(applyDrafts({}, fields, { [days.key]: ['0', '6'] }).config).ok, true, 'what the page saves the schema takes');
});

test('lists are entries added and removed one by one; toggles show their default until set', () => {
  assert.deepEqual(valueToDraft(field('domains'), ['a.example', 'b.example']), ['a.example', 'b.example']);
  assert.deepEqual(valueToDraft(field('domains'), undefined), []);
  assert.deepEqual(draftToValue(field('domains'), ['a.example', ' ', 'b.example']), { ok: true, value: ['a.example', 'b.example'] });
  assert.equal(valueToDraft(field('filters.enabled'), undefined), true);
  assert.equal(valueToDraft(field('mx.callout.enabled'), undefined), false);
  assert.equal(defaultText(field('internal.tls')), 'When offered');
});

test('entries typed into a list are added once each: one already there in other letter case, or typed twice, is not added again', () => {
  assert.deepEqual(addEntries(['example.com'], 'Example.COM, example.org\nEXAMPLE.org; b.example'), ['example.com', 'example.org', 'b.example']);
  assert.deepEqual(addEntries([], 'Mail.Example.com'), ['Mail.Example.com']);
  assert.deepEqual(addEntries(['a.example'], ' , ;\n'), ['a.example']);
});

test('a list with a default shows it while unset: adding one entry keeps the others, and the default list again removes the key', () => {
  const blocked = field('filters.attachments.blockedExtensions');
  const defaults = valueToDraft(blocked, undefined) as string[];
  assert.ok(defaults.length > 50 && defaults.includes('exe') && defaults.includes('js'), 'unset: the default entries');
  const withZip = applyDrafts({}, fields, { [blocked.key]: [...defaults, 'zip'] });
  assert.deepEqual(withZip.config, { filters: { attachments: { blockedExtensions: [...defaults, 'zip'] } } }, 'zip added to the defaults, not instead of them');
  assert.equal(validateConfig(withZip.config).ok, true);
  // taking zip out again: back to the default list, so the key goes (an explicit [] would block nothing)
  assert.deepEqual(applyDrafts(withZip.config, fields, { [blocked.key]: defaults }).config, {});
  assert.deepEqual(changedKeys({}, fields, { [blocked.key]: defaults }), [], 'the defaults shown are no change');
  assert.deepEqual(draftToValue(blocked, []), { ok: true, value: [] }, 'emptied on purpose: nothing blocked, saved as such');
  assert.deepEqual(valueToDraft(field('mx.clientNetworks.allow'), undefined), ['127.0.0.0/8', '::1']);
  // a list whose default is empty keeps an empty list as it was
  assert.deepEqual(draftToValue(field('recipients'), []), { ok: true, value: [] });
});

test('edits change only the keys touched, in stored units, and the result is a valid config', () => {
  const saved = { domains: ['example.com'], internal: { host: 'exchange.lan' }, queue: { lifetimeHours: 48 } };
  const drafts = { 'mx.maxMessageBytes': '10', 'queue.lifetimeHours': '', 'mx.callout.enabled': true, domains: ['example.com'] };
  const { config, problems } = applyDrafts(saved, fields, drafts);
  assert.deepEqual(problems, {});
  assert.deepEqual(config, { domains: ['example.com'], internal: { host: 'exchange.lan' }, mx: { maxMessageBytes: 10 * 1024 * 1024, callout: { enabled: true } } });
  assert.ok(validateConfig(config).ok);
  assert.deepEqual(changedKeys(saved, fields, drafts).sort(), ['mx.callout.enabled', 'mx.maxMessageBytes', 'queue.lifetimeHours']);
});

test('emptying the smarthost or a log-in name removes the whole optional part, not leaving half of it', () => {
  const saved = { domains: ['example.com'], internal: { host: 'exchange.lan', auth: { user: 'relay', pass: 'secret' } }, outbound: { smarthost: { host: 'smtp.isp.example', port: 587 } } };
  const { config } = applyDrafts(saved, fields, { 'outbound.smarthost.host': '', 'outbound.smarthost.port': '25', 'internal.auth.user': '' });
  assert.deepEqual(config, { domains: ['example.com'], internal: { host: 'exchange.lan' } });
  assert.ok(validateConfig(config).ok);
});

test('every problem lands at its field, so two bad fields show two messages at once', () => {
  const { byKey, unplaced } = placeIssues(
    [
      { path: 'mx.maxRecipients', message: 'too small' },
      { path: 'config.domains.1', message: 'not a domain' },
      { path: 'mx.dnsbl.zones.0.zone', message: 'bad zone' },
      { path: '(config)', message: 'whole' },
    ],
    fields,
  );
  assert.deepEqual(byKey, { 'mx.maxRecipients': ['too small'], domains: ['not a domain'], 'mx.dnsbl.zones': ['bad zone'] });
  assert.deepEqual(unplaced, [{ path: '(config)', message: 'whole' }]);
  assert.equal(keyForIssue('internal', fields), 'internal.host', 'a missing object goes to its first field');
});

test('the changes waiting for Apply are named by their labels, the first three and how many more', () => {
  assert.equal(namedChanges(['mx.maxMessageBytes'], fields), 'Largest message');
  assert.equal(namedChanges(['mx.maxMessageBytes', 'mx.maxRecipients'], fields), 'Largest message and Recipients per message');
  const five = ['mx.maxMessageBytes', 'mx.maxRecipients', 'mx.maxConnections', 'mx.maxConnectionsPerIp', 'mx.maxErrors'];
  assert.equal(namedChanges(five, fields), 'Largest message, Recipients per message, Connections in total and 2 more');
});

test('a bound the schema gives in bytes or seconds is told in the unit the box shows', () => {
  assert.equal(inShownUnit(field('mx.maxMessageBytes'), 'must be at least 1024'), 'must be at least 0.000977 MB (1024 bytes)', 'under one MB, also in bytes');
  assert.equal(inShownUnit(field('mx.maxMessageBytes'), 'must be at most 1073741824'), 'must be at most 1024 MB');
  assert.equal(inShownUnit(field('mx.idleTimeoutSec'), 'must be at most 3600'), 'must be at most 60 minutes');
  assert.equal(inShownUnit(field('mx.idleTimeoutSec'), 'must be at least 1'), 'must be at least 0.0167 minutes (1 second)');
  assert.equal(inShownUnit(field('mx.maxRecipients'), 'must be at least 1'), 'must be at least 1', 'a box in the stored unit keeps the message');
  assert.equal(inShownUnit(field('queue.retryIntervalsSec'), 'needs at least one entry'), 'needs at least one entry', 'a count of entries is no amount');
  const { byKey } = placeIssues([{ path: 'mx.maxMessageBytes', message: 'must be at most 1073741824' }], fields);
  assert.deepEqual(byKey, { 'mx.maxMessageBytes': ['must be at most 1024 MB'] });
});

// One source of labels: the renderer takes them from the key table (config.get), never from a map of its own.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|tsx)$/.test(name) ? [path] : [];
  });
}

test('the wizard and the settings page read their field labels from the one table: no label is written out again in the renderer', () => {
  // the account and sender panels have forms of their own (not config keys), so only the config forms are read
  const files = [...sources(join(root, 'src-renderer/screens/wizard')), join(root, 'src-renderer/screens/settings/ConfigEditor.tsx'), join(root, 'src-renderer/lib/settings.ts'), join(root, 'src-renderer/lib/wizard.ts')];
  const labels = new Set(fields.map((entry) => entry.label));
  const copies: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:label|legend)(?:=|: )(?:\{)?(['"`])((?:(?!\1).)+)\1/g)) {
      if (labels.has(match[2]!)) copies.push(`${relative(root, file)}: ${match[2]}`);
    }
  }
  assert.deepEqual(copies, []);
});

test("every wizard field that lands in the configuration has its label in the table", () => {
  for (const path of Object.values(FIELD_PATHS)) assert.notEqual(labelOf(fields, path), path, `${path} has a label`);
  assert.equal(labelOf(fields, FIELD_PATHS.internalHost), 'Internal server');
  assert.equal(labelOf(fields, FIELD_PATHS.domains), 'Accepted domains');
});

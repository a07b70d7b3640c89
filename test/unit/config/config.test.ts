import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BUILT_IN_RULES } from '../../../src-relay/monitor/alert-rules.ts';
import { alertRuleProblems, checkServeReady, loadConfig, MAX_PROBLEMS, saveConfig, scoreOrderProblems, splitHostPort, validateConfig } from '../../../src-relay/config/load.ts';
import { ALERT_RULE_IDS, MAX_DOMAINS, MAX_RECIPIENT_LIST } from '../../../src-relay/config/schema.ts';
import { configKeys } from '../../../src-relay/config/docs.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

test('an empty config gets every default', () => {
  const result = validateConfig({});
  assert.ok(result.ok);
  assert.equal(result.config.mx.listen, '0.0.0.0:25');
  assert.equal(result.config.mx.maxMessageBytes, 25 * 1024 * 1024);
  assert.deepEqual(result.config.queue.retryIntervalsSec, [300, 600, 1200, 2400, 3600]);
  assert.equal(result.config.queue.lifetimeHours, 120);
  assert.equal(result.config.queue.delayWarningHours, 4);
});

test('every problem is listed with its key path', () => {
  const result = validateConfig({ mx: { maxRecipients: 'many', listen: 'nowhere' }, queue: { lifetimeHours: -1 }, domains: ['not a domain!'] });
  assert.ok(!result.ok);
  const paths = result.problems.map((problem) => problem.path).sort();
  assert.deepEqual(paths, ['domains.0', 'mx.listen', 'mx.maxRecipients', 'queue.lifetimeHours']);
  assert.match(result.problems.find((problem) => problem.path === 'mx.listen')!.message, /HOST:PORT/);
});

test('junk scores must rise from tag to quarantine to refuse, a score left out counting at its default and 0 turning one off; one below the one before is refused at the key that was set', () => {
  const problems = (filters: Record<string, number | undefined>) => scoreOrderProblems({ filters }).map((problem) => `${problem.path}: ${problem.message}`);
  for (const ok of [{ tagScore: 5, quarantineScore: 10, rejectScore: 15 }, { tagScore: 5, quarantineScore: 5, rejectScore: 5 }, { tagScore: 0, quarantineScore: 0, rejectScore: 1 }, { tagScore: 20, quarantineScore: 0, rejectScore: 0 }]) {
    assert.deepEqual(problems(ok), [], JSON.stringify(ok));
  }
  // set alone past a default: the page says so at the key that was set (quarantine from 20 under the default refuse
  // score of 15 would keep nothing); a file that ran before still validates, and still starts
  assert.deepEqual(problems({ quarantineScore: 20 }), ['filters.quarantineScore: the refuse score (15, the default) is below the quarantine score (20): the scores must rise from tag to quarantine to refuse (0 turns one off)']);
  assert.deepEqual(problems({ rejectScore: 8 }), ['filters.rejectScore: the refuse score (8) is below the quarantine score (10, the default): the scores must rise from tag to quarantine to refuse (0 turns one off)']);
  assert.deepEqual(problems({ quarantineScore: 15 }), [], 'at the default refuse score: one step is not below');
  assert.deepEqual(problems({ quarantineScore: 20, rejectScore: 0 }), [], 'refusing turned off');
  for (const alone of [{ rejectScore: 8 }, { tagScore: 12 }, { quarantineScore: 20 }]) assert.equal(validateConfig({ filters: alone }).ok, true);
  assert.deepEqual(problems({ tagScore: 20, quarantineScore: 10, rejectScore: 1.5 }), [
    'filters.quarantineScore: the quarantine score (10) is below the tag score (20): the scores must rise from tag to quarantine to refuse (0 turns one off)',
    'filters.rejectScore: the refuse score (1.5) is below the quarantine score (10): the scores must rise from tag to quarantine to refuse (0 turns one off)',
  ]);
  // one step below: 14.9 under a quarantine score of 15; past a score turned off, the next one in use counts
  assert.equal(problems({ quarantineScore: 15, rejectScore: 14.9 }).length, 1);
  assert.match(problems({ tagScore: 16, quarantineScore: 0, rejectScore: 15 })[0] ?? '', /^filters\.rejectScore: the refuse score \(15\) is below the tag score \(16\)/);
});

test("problems are said in plain words, not zod's: a port that is not a number, one too big, an empty name, a part of a domain too long", () => {
  const result = validateConfig({ internal: { host: 'exchange.corp.test', port: 'abc' }, mx: { maxRecipients: 99999999, idleTimeoutSec: 1.5 }, hostname: '', domains: [`${'a'.repeat(64)}.example.com`, `${'a'.repeat(63)}.example.com`], queue: { retryIntervalsSec: [] } });
  assert.ok(!result.ok);
  assert.deepEqual(result.problems.map((problem) => `${problem.path}: ${problem.message}`).sort(), [
    `domains.0: "${'a'.repeat(64)}.example.com" is not a valid domain name: it has a part longer than 63 characters (the most a part of a domain may have)`,
    'hostname: cannot be empty',
    'hostname: expected a host name or IP address',
    'internal.port: expected a number',
    'mx.idleTimeoutSec: expected a whole number',
    'mx.maxRecipients: must be at most 10000',
    'queue.retryIntervalsSec: needs at least one entry',
  ]);
});

test('a port Moat connects to is 1 to 65535: 0 (which the mail library would turn into 587) and 65536 are refused, for the internal server, the smarthost and the MX port', () => {
  const problems = (port: number) => {
    const result = validateConfig({ internal: { host: '10.0.0.5', port }, outbound: { smarthost: { host: 'smtp.isp.example', port }, mxPort: port } });
    return result.ok ? [] : result.problems.map((problem) => `${problem.path}: ${problem.message}`).sort();
  };
  assert.deepEqual(problems(0), ['internal.port: must be at least 1', 'outbound.mxPort: must be at least 1', 'outbound.smarthost.port: must be at least 1']);
  assert.deepEqual(problems(1), []);
  assert.deepEqual(problems(65535), []);
  assert.deepEqual(problems(65536), ['internal.port: must be at most 65535', 'outbound.mxPort: must be at most 65535', 'outbound.smarthost.port: must be at most 65535']);
  // a listener's address still takes port 0: the OS picks a free port (tests)
  assert.ok(validateConfig({ mx: { listen: '127.0.0.1:0' } }).ok);
});

test('an address list names the entry that is wrong, so the admin knows which line to fix; 254 characters pass, 255 do not', () => {
  const result = validateConfig({ recipients: ['alice@example.com', 'bob at example.com', `${'x'.repeat(248)}@e.com`, `${'y'.repeat(249)}@e.com`], alerts: { emailTo: ['<a@b>'] } });
  assert.ok(!result.ok);
  assert.deepEqual(result.problems.map((problem) => `${problem.path}: ${problem.message}`), [
    'recipients.1: "bob at example.com" is not a plain address like user@example.com',
    `recipients.3: "${'y'.repeat(40)}…" is longer than 254 characters, the most an address may have`,
    'alerts.emailTo.0: "<a@b>" is not a plain address like user@example.com',
  ]);
});

test('domains are normalised: lower case, punycode, no trailing dot', () => {
  const result = validateConfig({ domains: ['Example.COM.', 'bücher.example'] });
  assert.ok(result.ok);
  assert.deepEqual(result.config.domains, ['example.com', 'xn--bcher-kva.example']);
});

test('serve needs a domain and the internal server', () => {
  const result = validateConfig({});
  assert.ok(result.ok);
  assert.deepEqual(checkServeReady(result.config).map((problem) => problem.path), ['domains', 'internal.host']);
});

test('a key Moat does not know is a problem at its path, at every level (a misspelt "recipients" would leave recipient checking off without a word); __proto__ and constructor too', () => {
  const result = validateConfig(JSON.parse('{"domains":["a.test"],"recipents":{"file":"x"},"mx":{"maxRecipent":5,"tls":{"enable":true}},"outbound":{"smarthost":{"host":"h.test","pasword":"x"}},"constructor":1,"__proto__":{"polluted":1}}'));
  assert.ok(!result.ok);
  assert.deepEqual(result.problems.map((problem) => problem.path).sort(), ['__proto__', 'constructor', 'mx.maxRecipent', 'mx.tls.enable', 'outbound.smarthost.pasword', 'recipents']);
  for (const problem of result.problems) assert.equal(problem.message, 'is not a setting Moat knows (misspelt, or in the wrong section?)');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const file = join(tempDir('moat-config-'), 'moat.json');
  writeFileSync(file, JSON.stringify({ domain: ['a.test'] }));
  const loaded = loadConfig(file);
  assert.ok(!loaded.ok, 'a hand-edited file with "domain" for "domains" does not start in setup mode as if empty');
  assert.deepEqual(loaded.problems.map((problem) => problem.path), ['domain']);
});

test('two listeners on one address are a problem at the second (the same host and port, or all interfaces and a port taken on one); port 0 and other ports are not', () => {
  const problems = (mx: Record<string, unknown>, more: Record<string, unknown>) => {
    const result = validateConfig({ domains: ['a.test'], internal: { host: '10.0.0.5' }, mx, ...more });
    assert.ok(result.ok);
    return checkServeReady(result.config).map((problem) => `${problem.path}: ${problem.message}`);
  };
  assert.deepEqual(problems({ listen: '127.0.0.1:8025' }, {}), ['admin.listen: takes the port of mx.listen (127.0.0.1:8025): two listeners cannot share one address']);
  assert.deepEqual(problems({ listen: '0.0.0.0:2525' }, { submission: { listen: '192.168.1.5:2525' } }), ['submission.listen: takes the port of mx.listen (0.0.0.0:2525): two listeners cannot share one address']);
  assert.deepEqual(problems({ listen: '0.0.0.0:25' }, { submission: { listen: '0.0.0.0:587', tlsListen: '[::]:587' } }), ['submission.tlsListen: takes the port of submission.listen (0.0.0.0:587): two listeners cannot share one address']);
  assert.deepEqual(problems({ listen: '127.0.0.1:0' }, { submission: { listen: '127.0.0.1:0' }, admin: { listen: '127.0.0.1:0' } }), []);
  assert.deepEqual(problems({ listen: '127.0.0.1:25' }, { submission: { listen: '127.0.0.2:25' } }), []);
});

test('a config file that is not JSON is one problem naming the file', () => {
  const dir = tempDir('moat-config-');
  const file = join(dir, 'moat.json');
  writeFileSync(file, '{ nope');
  const result = loadConfig(file);
  assert.ok(!result.ok);
  assert.equal(result.problems[0]!.path, '(file)');
  assert.match(result.problems[0]!.message, /not valid JSON/);
  // a file that cannot be read is not blamed on its JSON
  const folder = join(dir, 'folder.json');
  mkdirSync(folder);
  const unreadable = loadConfig(folder);
  assert.ok(!unreadable.ok);
  assert.equal(unreadable.problems[0]!.message, `${folder} cannot be read: it is a folder`);
});

test('flags override the file, object by object', () => {
  const dir = tempDir('moat-config-');
  const file = join(dir, 'moat.json');
  writeFileSync(file, JSON.stringify({ domains: ['a.test'], mx: { listen: '127.0.0.1:25', maxRecipients: 7 } }));
  const result = loadConfig(file, { mx: { listen: '127.0.0.1:2525' } });
  assert.ok(result.ok);
  assert.equal(result.config.mx.listen, '127.0.0.1:2525');
  assert.equal(result.config.mx.maxRecipients, 7);
  assert.deepEqual(result.config.domains, ['a.test']);
});

test('HOST:PORT splits, IPv6 in brackets too', () => {
  assert.deepEqual(splitHostPort('127.0.0.1:25'), { host: '127.0.0.1', port: 25 });
  assert.deepEqual(splitHostPort('[::1]:2525'), { host: '::1', port: 2525 });
  assert.throws(() => splitHostPort('nope'));
});

test('a host field with a port in it is refused with the advice to use the Port field; IPv6 addresses keep their colons', () => {
  const problemOf = (host: string) => validateConfig({ domains: ['example.com'], internal: { host } });
  for (const host of ['127.0.0.1:2525', 'exchange.corp.example:25']) {
    const result = problemOf(host);
    assert.ok(!result.ok && result.problems.some((problem) => problem.path === 'internal.host' && /put the port in the Port field/.test(problem.message)), `${host} is refused`);
  }
  for (const host of ['192.0.2.5', '::1', 'fd00::25', 'exchange.corp.example']) assert.ok(problemOf(host).ok, `${host} is accepted`);
});

test('saving a config leaves the whole file or the old one, never a temp file', async () => {
  const dir = tempDir('moat-config-');
  const file = join(dir, 'moat.json');
  await saveConfig(file, { domains: ['saved.test'] });
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { domains: ['saved.test'] });
  assert.deepEqual(readdirSync(dir), ['moat.json']);
});

test('the README documents every configuration key with its default', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  for (const doc of configKeys()) {
    assert.ok(readme.includes(`| \`${doc.key}\` |`), `README lacks ${doc.key}`);
    assert.ok(readme.includes(`| \`${doc.default}\` |`), `README lacks the default of ${doc.key}`);
  }
});

test('submission.trustedNetworks: private ranges of any size inside them, one site of public space (/24, /48), nothing wider, no IPv4 written as IPv6', () => {
  const verdict = (network: string) => {
    const result = validateConfig({ submission: { trustedNetworks: [network] } });
    return result.ok ? 'ok' : result.problems.map((problem) => `${problem.path}: ${problem.message}`).join(' ');
  };
  for (const network of ['10.0.0.0/8', '172.16.0.0/12', '192.168.1.0/24', '192.168.1.7', '127.0.0.0/8', '100.64.0.0/10', 'fd00::/8', 'fe80::/10', '198.51.100.0/24', '203.0.113.9', '2001:db8::/48', '2001:db8:1:2::/64']) {
    assert.equal(verdict(network), 'ok', network);
  }
  // one step past each: a /23 and a /47 of public space; ranges that reach out of a private one; everything
  for (const network of ['198.51.100.0/23', '2001:db8::/47', '172.0.0.0/8', '10.0.0.0/7', '192.168.0.0/15', '0.0.0.0/0', '0.0.0.0/1', '::/0', '2000::/3']) {
    assert.match(verdict(network), /submission\.trustedNetworks\.0: .*too wide.*at most a \/(24|48)/, network);
  }
  for (const network of ['::ffff:0:0/96', '::ffff:10.0.0.0/104', '::/64', '64:ff9b::/96', '64:ff9b:1::/48']) {
    assert.match(verdict(network), /IPv4 addresses written as IPv6/, network);
  }
  assert.match(verdict('10.0.0.0/33'), /expected a network like/);
});

test('the lists one Apply may hand the relay have a bound: exactly the limit is taken, one more is refused', () => {
  const domains = (n: number) => Array.from({ length: n }, (_, i) => `d${i}.example.test`);
  const mailboxes = (n: number) => Array.from({ length: n }, (_, i) => `u${i}@example.test`);
  assert.equal(validateConfig({ domains: domains(MAX_DOMAINS) }).ok, true);
  const domainsOver = validateConfig({ domains: domains(MAX_DOMAINS + 1) });
  assert.ok(!domainsOver.ok && domainsOver.problems.some((problem) => problem.path === 'domains'), 'one domain too many');
  assert.equal(validateConfig({ domains: ['example.test'], recipients: mailboxes(MAX_RECIPIENT_LIST) }).ok, true);
  const recipientsOver = validateConfig({ domains: ['example.test'], recipients: mailboxes(MAX_RECIPIENT_LIST + 1) });
  assert.ok(!recipientsOver.ok && recipientsOver.problems.some((problem) => problem.path === 'recipients'), 'one recipient too many');
  const alertsOver = validateConfig({ alerts: { disabled: Array.from({ length: 101 }, () => 'backup-age') } });
  assert.ok(!alertsOver.ok && alertsOver.problems.some((problem) => problem.path === 'alerts.disabled'));
});

test('the alert rule ids the configuration knows are the built-in rules, in their order', () => {
  assert.deepEqual(ALERT_RULE_IDS, BUILT_IN_RULES.map((rule) => rule.id));
});

test('alerts.disabled: an id that is no alert rule is refused in words where the admin saves, with the list; a file that ran with one still starts', () => {
  assert.deepEqual(alertRuleProblems({ alerts: { disabled: ['backup-age', 'disk-free'] } }), []);
  const misspelt = alertRuleProblems({ alerts: { disabled: ['disk-space', 'backup-age', 'disk space'] } });
  assert.deepEqual(misspelt.map((problem) => problem.path), ['alerts.disabled.0', 'alerts.disabled.2']);
  assert.match(misspelt[0]!.message, /^"disk-space" is not an alert rule; the rules are queue-size, .*disk-free.*, open-relay$/);
  assert.match(misspelt[1]!.message, /^"disk space" is not an alert rule/);
  // an upgrade must not stop a relay whose file carries one: the schema takes it (and it switches nothing off)
  assert.equal(validateConfig({ domains: ['example.test'], alerts: { disabled: ['disk-space'] } }).ok, true);
  // one that cannot be an id at all is refused by the schema, in the same words (not its pattern)
  const spaced = validateConfig({ domains: ['example.test'], alerts: { disabled: ['backup age'] } });
  assert.ok(!spaced.ok);
  assert.deepEqual(spaced.problems.map((problem) => problem.path), ['alerts.disabled.0']);
  assert.match(spaced.problems[0]!.message, /is not an alert's id: the ids are queue-size, .*backup-age/);
  assert.doesNotMatch(spaced.problems[0]!.message, /pattern/);
});

test('a list of thousands of bad entries is reported as the first 100 problems and a count of the rest, not thousands', () => {
  const result = validateConfig({ domains: Array.from({ length: 600 }, () => 'exa mple') });
  assert.ok(!result.ok);
  assert.equal(result.problems.length, MAX_PROBLEMS + 1);
  assert.deepEqual(result.problems.at(-1), { path: '(config)', message: `and ${600 - MAX_PROBLEMS} more problems like these` });
  const exactly = validateConfig({ domains: Array.from({ length: MAX_PROBLEMS }, () => 'exa mple') });
  assert.ok(!exactly.ok && exactly.problems.length === MAX_PROBLEMS && exactly.problems.every((problem) => problem.path.startsWith('domains.')), 'exactly the limit: all of them, no count');
});

test("the users' page address the digest links to takes no CR, LF, tab or space (the URL parser dropped them, the link then pointed elsewhere)", () => {
  const url = (value: string) => validateConfig({ quarantine: { userPage: { listen: '127.0.0.1:8026', url: value } } });
  assert.equal(url('http://quarantine.example.test:8026').ok, true);
  for (const bad of ['http://x\r\nBcc: evil@x.test', 'http://x\nBcc', 'http://x\ty', 'http://quarantine.example.test/ a']) {
    const result = url(bad);
    assert.ok(!result.ok && result.problems.some((problem) => problem.path === 'quarantine.userPage.url'), JSON.stringify(bad));
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_ADMIN_PASSWORD_CHARS } from '../../../src-relay/admin/auth-contract.ts';
import { validateConfig, checkServeReady } from '../../../src-relay/config/load.ts';
import { accountProblems, applyPlan, badTestPortWords, testPort, DEFAULT_JUNK_SCORES, buildConfig, detectionWords, doneSentence, hostNameWarning, hostPortProblem, internalTestWarning, splitHostPort, FIELD_PATHS, fieldsFromConfig, MIN_PASSWORD_CHARS, parseList, passwordProblems, reviewSummary, reviewWarnings, sameConfig, changesNothing, COMMAND_LINE_MARK, stepForPath, stepIssues, WIZARD_STEPS } from '../../../src-renderer/lib/wizard.ts';
import { configKeys } from '../../../src-relay/config/docs.ts';

test('the steps run in the order of the issue, ending with the review', () => {
  assert.deepEqual(
    WIZARD_STEPS.map((step) => step.id),
    ['domains', 'internal', 'recipients', 'filters', 'tls', 'outbound', 'submission', 'password', 'review'],
  );
});

test('every config problem path finds its step, and keys the wizard does not show find none', () => {
  assert.equal(stepForPath('domains.0'), 'domains');
  assert.equal(stepForPath('internal.host'), 'internal');
  assert.equal(stepForPath('mx.callout.whenUnreachable'), 'recipients');
  assert.equal(stepForPath('mx.tls.cert'), 'tls');
  assert.equal(stepForPath('filters.clamav.address'), 'filters');
  assert.equal(stepForPath('outbound.smarthost.port'), 'outbound');
  assert.equal(stepForPath('submission.listen'), 'submission');
  assert.equal(stepForPath('mx.listen'), 'domains');
  assert.equal(stepForPath('mx.maxRecipients'), null);
  const issues = [
    { path: 'internal.port', message: 'too big' },
    { path: 'mx.tls.key', message: 'missing' },
    { path: 'mx.idleTimeoutSec', message: 'bad' },
  ];
  assert.deepEqual(stepIssues('internal', issues), [issues[0]]);
  assert.deepEqual(stepIssues('tls', issues), [issues[1]]);
  assert.deepEqual(stepIssues('recipients', issues), []);
});

test('every field the wizard writes is a real configuration key', () => {
  const keys = new Set(configKeys().map((doc) => doc.key));
  for (const path of Object.values(FIELD_PATHS)) assert.ok(keys.has(path), path);
});

test('a fresh relay gets empty fields with the usual defaults', () => {
  const fields = fieldsFromConfig({});
  assert.equal(fields.domains, '');
  assert.equal(fields.internalPort, '25');
  assert.equal(fields.internalTls, 'opportunistic');
  assert.equal(fields.filtersEnabled, true);
  assert.equal(fields.tlsMode, 'generate');
  assert.equal(fields.outboundMode, 'mx');
  assert.equal(fields.submissionStarttls, false);
});

function filled() {
  return {
    ...fieldsFromConfig({}),
    domains: 'Example.com\nexample.org, EXAMPLE.COM; example.org',
    internalHost: 'exchange.lan',
    internalPort: '2525',
    recipients: 'alice@example.com',
    calloutEnabled: true,
    clamavAddress: '/run/clamav/clamd.ctl',
    tagScore: '6',
    outboundMode: 'smarthost' as const,
    smarthostHost: 'smtp.isp.example',
    smarthostPort: '587',
    smarthostTls: 'required' as const,
    smarthostAuth: true,
    smarthostUser: 'moat',
    smarthostPass: 'secret',
    submissionStarttls: true,
    trustedNetworks: '192.168.1.0/24',
  };
}

test('the built configuration is one the config schema accepts and can serve', () => {
  const config = buildConfig({}, filled());
  assert.deepEqual(config.domains, ['example.com', 'example.org'], 'lower case, as the relay reads them, and each once');
  assert.deepEqual(config.internal, { host: 'exchange.lan', port: 2525, tls: 'opportunistic', verifyCertificate: false });
  const result = validateConfig(config);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  assert.deepEqual(checkServeReady(result.config), []);
  assert.equal(result.config.outbound.smarthost?.auth?.user, 'moat');
  assert.equal(result.config.submission.listen, '0.0.0.0:587');
  assert.equal(result.config.mx.callout.enabled, true);
  assert.equal(result.config.filters.tagScore, 6);
});

test('keys the wizard does not show are kept, and emptied ones go back to their default', () => {
  const saved = { queue: { lifetimeHours: 48 }, internal: { host: 'old.lan', maxConnections: 3, auth: { user: 'u', pass: 'p' } }, outbound: { smarthost: { host: 'x' } }, mx: { tls: { cert: '/c', key: '/k' } } };
  const fields = { ...fieldsFromConfig(saved), internalHost: 'new.lan', internalAuth: false, outboundMode: 'mx' as const, tlsMode: 'generate' as const, hostname: '  ' };
  const config = buildConfig(saved, fields);
  assert.deepEqual(config.queue, { lifetimeHours: 48 });
  assert.deepEqual(config.internal, { host: 'new.lan', maxConnections: 3, port: 25, tls: 'opportunistic', verifyCertificate: false });
  assert.equal('hostname' in config, false);
  assert.equal(config.outbound, undefined, 'no smarthost: the outbound section went empty');
  assert.equal(config.mx, undefined);
});

test('fields read back from a built configuration build the same configuration', () => {
  const first = buildConfig({}, filled());
  const again = buildConfig(first, fieldsFromConfig(first));
  assert.deepEqual(again, first);
});

test('a number typed wrong reaches the server as text so the problem shows at its field', () => {
  const config = buildConfig({}, { ...filled(), internalPort: 'twenty-five' });
  const result = validateConfig(config);
  assert.ok(!result.ok);
  assert.deepEqual(result.problems.map((problem) => problem.path), ['internal.port']);
});

test('lists split on lines, commas and spaces', () => {
  assert.deepEqual(parseList(' a.example,b.example\n\n c.example ; d.example '), ['a.example', 'b.example', 'c.example', 'd.example']);
});

test('the password rule matches the contract', () => {
  assert.equal(MIN_PASSWORD_CHARS, MIN_ADMIN_PASSWORD_CHARS);
});

test('the admin password step may be left empty, but a started change must be complete', () => {
  assert.deepEqual(passwordProblems({ adminCurrent: '', adminNew: '', adminConfirm: '' }), {});
  assert.deepEqual(Object.keys(passwordProblems({ adminCurrent: '', adminNew: 'short', adminConfirm: 'other' })).sort(), ['adminConfirm', 'adminCurrent', 'adminNew']);
  assert.deepEqual(passwordProblems({ adminCurrent: 'old password', adminNew: 'a new long one', adminConfirm: 'a new long one' }), {});
});

test('a new account needs a free name, a long password and sender addresses or domains', () => {
  assert.deepEqual(accountProblems({ name: 'scanner', password: 'long enough pw', senders: 'scanner@example.com\n@example.org' }, ['bob']), {});
  const problems = accountProblems({ name: 'Bob', password: 'short', senders: 'not an address' }, ['bob']);
  assert.deepEqual(Object.keys(problems).sort(), ['name', 'password', 'senders']);
  // the bad line is named, not only the rule
  assert.equal(accountProblems({ name: 'scanner', password: 'long enough pw', senders: 'a@example.com\nfoo\n@example.org' }, []).senders, '"foo" is neither an address (user@example.com) nor @domain: one of them per line');
  // a line of words is quoted whole, not its first word
  assert.equal(accountProblems({ name: 'scanner', password: 'long enough pw', senders: 'not an address' }, []).senders, '"not an address" is neither an address (user@example.com) nor @domain: one of them per line');
  assert.match(accountProblems({ name: 'scanner', password: 'long enough pw', senders: 'x'.repeat(80) }, []).senders ?? '', /^"x{60}…" is neither/);
});

test('apply saves the configuration first, then adds accounts, then changes the password', () => {
  const fields = { ...filled(), accounts: [{ name: ' scanner ', password: 'long enough pw', senders: '' }], adminCurrent: 'old one here', adminNew: 'new one here', adminConfirm: 'new one here' };
  assert.deepEqual(applyPlan(fields), [{ kind: 'config' }, { kind: 'account', name: 'scanner' }, { kind: 'password' }]);
  assert.deepEqual(applyPlan(fieldsFromConfig({})), [{ kind: 'config' }]);
});

test('the review names every step but the review itself', () => {
  const sections = reviewSummary(filled());
  assert.deepEqual(sections.map((section) => section.step), WIZARD_STEPS.filter((step) => step.id !== 'review').map((step) => step.id));
  const outbound = sections.find((section) => section.step === 'outbound')!;
  assert.match(outbound.lines[0]![1], /smtp\.isp\.example port 587, STARTTLS required, logs in as moat/);
});

test("the review names the junk scores an empty box leaves in force, the schema's own defaults", () => {
  const line = (fields: ReturnType<typeof filled>) =>
    new Map(reviewSummary(fields).flatMap((section) => section.lines)).get('Junk scores (tag / quarantine / reject)');
  assert.equal(line({ ...filled(), filtersEnabled: true, tagScore: '', quarantineScore: '8', rejectScore: ' ' }), '5 (default) / 8 / 15 (default)');
  const defaults = validateConfig({}) as { ok: true; config: { filters: { tagScore: number; quarantineScore: number; rejectScore: number } } };
  assert.deepEqual(
    Object.values(DEFAULT_JUNK_SCORES),
    [defaults.config.filters.tagScore, defaults.config.filters.quarantineScore, defaults.config.filters.rejectScore].map(String),
  );
});

test('the review shows the addresses in force: a listener set on the command line wins over the wizard, and says so', () => {
  const fields = { ...filled(), mxListen: '0.0.0.0:25', submissionStarttls: true, submissionListen: '0.0.0.0:587', submissionTls: false };
  const inForce = {
    effective: { mx: { listen: '127.0.0.1:2525' }, submission: { listen: '127.0.0.1:2587' }, admin: { listen: '127.0.0.1:9025' } },
    overridden: ['mx.listen', 'submission.listen', 'admin.listen'],
  };
  const lines = new Map(reviewSummary(fields, inForce).flatMap((section) => section.lines));
  assert.equal(lines.get('Takes mail on'), `127.0.0.1:2525 ${COMMAND_LINE_MARK}`);
  assert.equal(lines.get('Listeners'), `127.0.0.1:2587 ${COMMAND_LINE_MARK} (STARTTLS)`);
  assert.equal(lines.get('Admin page on'), `127.0.0.1:9025 ${COMMAND_LINE_MARK}`);
  // without the command line, the wizard's own values are the ones shown
  const plain = new Map(reviewSummary(fields, { effective: inForce.effective, overridden: [] }).flatMap((section) => section.lines));
  assert.equal(plain.get('Takes mail on'), '0.0.0.0:25');
  assert.equal(plain.get('Listeners'), '0.0.0.0:587 (STARTTLS)');
  assert.equal(plain.get('Admin page on'), '127.0.0.1:9025');
});

test('a wizard run again does not call the internal server the relay already delivers to untested; a new one, or a failed test of it, it does', () => {
  const fields = { ...filled(), filtersEnabled: true, clamavAddress: '/run/clamav/clamd.ctl' };
  const base = { machineName: 'relay.example.com' };
  assert.match(reviewWarnings(fields, base).join('\n'), /The internal server \(exchange\.lan port 2525\) was not tested/, 'a first run: nothing is in force');
  assert.deepEqual(reviewWarnings(fields, { ...base, internalInForce: { host: 'exchange.lan', port: '2525' } }), []);
  assert.match(reviewWarnings(fields, { ...base, internalInForce: { host: 'exchange.lan', port: '25' } }).join('\n'), /was not tested/, 'another port is another server');
  assert.match(reviewWarnings(fields, { ...base, internalInForce: { host: 'old.lan', port: '2525' } }).join('\n'), /was not tested/);
  assert.match(reviewWarnings(fields, { ...base, internalInForce: { host: 'exchange.lan', port: '2525' }, internalTest: { host: 'exchange.lan', port: '2525', answered: false, ok: false } }).join('\n'), /did not answer the test/);
});

test('the review warns when no virus scanner is set, and not once ClamAV is', () => {
  assert.match(reviewWarnings({ ...filled(), filtersEnabled: true, clamavAddress: '' }).join('\n'), /No virus scanner.*apt-get install clamav-daemon/);
  const tested = { internalTest: { host: 'exchange.lan', port: '2525', answered: true, ok: true }, machineName: 'relay.example.com' };
  assert.deepEqual(reviewWarnings({ ...filled(), filtersEnabled: true, clamavAddress: '/run/clamav/clamd.ctl' }, tested), []);
  assert.match(reviewWarnings({ ...filled(), filtersEnabled: false }).join('\n'), /filters are off/);
});

test('a connection test uses the port typed, 25 when none is, and none at all for one Moat cannot connect to', () => {
  assert.deepEqual(['', ' 587 ', '2525', '65535'].map(testPort), [25, 587, 2525, 65535]);
  assert.deepEqual(['0', '65536', 'abc', '25.5', '-25'].map(testPort), [null, null, null, null, null]);
  assert.equal(badTestPortWords(' 0 '), 'Port "0" is not one Moat can connect to (1 to 65535): fix it, then test again.');
});

test('the review warns of recipients outside the accepted domains, and of submission settings no listener uses', () => {
  const tested = { internalTest: { host: 'exchange.lan', port: '2525', answered: true, ok: true }, machineName: 'relay.example.com' };
  const clean = { ...filled(), clamavAddress: '/run/clamav/clamd.ctl' };
  assert.deepEqual(reviewWarnings({ ...clean, recipients: 'alice@EXAMPLE.com bob@example.org.' }, tested), []);
  assert.deepEqual(reviewWarnings({ ...clean, recipients: 'alice@example.com bob@other.net' }, tested), [
    'bob@other.net is not at one of the accepted domains: Moat refuses mail for it whatever the recipient list says. Remove it, or add the domain under Accepted domains.',
  ]);
  const many = Array.from({ length: 7 }, (_, i) => `u${i}@other.net`).join(' ');
  assert.match(reviewWarnings({ ...clean, recipients: many }, tested).join('\n'), /^u0@other\.net, u1@other\.net, u2@other\.net, u3@other\.net, u4@other\.net and 2 more are not at one of the accepted domains: .*Remove them/);

  // an account's sender domain that is not accepted here: most often a typo, allowed all the same
  const account = (name: string, senders: string) => ({ name, password: 'x'.repeat(20), senders });
  assert.deepEqual(reviewWarnings({ ...clean, accounts: [account('scanner', 'scanner@example.com\n@Example.org.\n@mail.example.com')] }, tested), [], 'accepted domains and their subdomains');
  assert.deepEqual(reviewWarnings({ ...clean, accounts: [account('bob', 'bob@exmaple.com\n@exmaple.com'), account('ann@partner.test', '')] }, tested), [
    'The account bob may send as exmaple.com, not one of the accepted domains: check the spelling. An office may send for a domain it does not receive; then nothing needs to change.',
    'The account ann@partner.test may send as partner.test, not one of the accepted domains: check the spelling. An office may send for a domain it does not receive; then nothing needs to change.',
  ]);

  const off = { ...clean, submissionStarttls: false, submissionTls: false };
  assert.match(reviewWarnings(off, tested).join('\n'), /^Both submission listeners \(587 and 465\) are off: no office client can send through Moat/);
  assert.match(reviewWarnings({ ...off, trustedNetworks: '', accounts: [{ name: 'scanner', password: 'x'.repeat(20), senders: '' }] }, tested).join('\n'), /Both submission listeners/);
  assert.deepEqual(reviewWarnings({ ...off, trustedNetworks: '', accounts: [] }, tested), [], 'nothing set for submission: nothing to warn of');
});

test("a new setup sends each user a daily list of held mail; a relay set up before keeps its digest setting (off by default)", () => {
  const fresh = fieldsFromConfig({});
  assert.equal(fresh.digestEnabled, true);
  const built = validateConfig(buildConfig({}, filled()));
  assert.ok(built.ok, JSON.stringify(!built.ok && built.problems));
  assert.equal(built.config.quarantine.digest.enabled, true);
  assert.equal(built.config.quarantine.userPage.listen, undefined);

  const existing = { domains: ['example.com'], internal: { host: 'exchange.lan' } };
  const fields = fieldsFromConfig(existing);
  assert.equal(fields.digestEnabled, false);
  const config = buildConfig(existing, fields);
  assert.equal(config.quarantine, undefined, 'nothing is added for a relay that never had it');
  assert.equal(fieldsFromConfig({ ...existing, quarantine: { digest: { enabled: true } } }).digestEnabled, true);
});

test('the user page address lands in quarantine.userPage.listen; a public one is refused at the filters step', () => {
  const withPage = buildConfig({}, { ...filled(), userPageListen: ' 192.168.1.10:8026 ' });
  const result = validateConfig(withPage);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  assert.equal(result.config.quarantine.userPage.listen, '192.168.1.10:8026');
  assert.equal(fieldsFromConfig(withPage).userPageListen, '192.168.1.10:8026');
  const lines = new Map(reviewSummary({ ...filled(), userPageListen: '192.168.1.10:8026' }).flatMap((section) => section.lines));
  assert.equal(lines.get('Daily list of held mail to each user'), 'on, with links to the user page at 192.168.1.10:8026');
  assert.equal(new Map(reviewSummary(filled()).flatMap((section) => section.lines)).get('Daily list of held mail to each user'), 'on, without links (users ask you to release a message)');

  const publicPage = validateConfig(buildConfig({}, { ...filled(), userPageListen: '0.0.0.0:8026' }));
  assert.equal(publicPage.ok, false);
  const paths = !publicPage.ok ? publicPage.problems.map((problem) => problem.path) : [];
  assert.deepEqual(paths, ['quarantine.userPage.listen']);
  assert.equal(stepForPath(paths[0]!), 'filters');
  assert.equal(FIELD_PATHS.userPageListen, 'quarantine.userPage.listen');
});

test('a host typed with ":port" is split into its name and port; names, IPv6 literals in brackets and plain ports are told apart', () => {
  assert.deepEqual(splitHostPort('127.0.0.1:12599'), { host: '127.0.0.1', port: '12599' });
  assert.deepEqual(splitHostPort(' exchange.corp.local:25 '), { host: 'exchange.corp.local', port: '25' });
  assert.deepEqual(splitHostPort('[::1]:2525'), { host: '::1', port: '2525' });
  assert.equal(splitHostPort('127.0.0.1'), null);
  assert.equal(splitHostPort('exchange.corp.local'), null);
  assert.equal(splitHostPort('::1'), null, 'a bare IPv6 address is not a host with a port');
  assert.equal(splitHostPort('host:123456'), null, 'six digits are no port');
  assert.equal(hostPortProblem('127.0.0.1:12599'), 'Put the port in the Port field: 127.0.0.1 here, 12599 under Port.');
  assert.equal(hostPortProblem('10.0.0.5'), null);
});

test('the review says the internal server was not tested, did not answer, or answered with a problem; nothing when its last test of this host and port went well', () => {
  const fields = { internalHost: '127.0.0.1', internalPort: '12599' };
  assert.match(internalTestWarning(fields, null) ?? '', /^The internal server \(127\.0\.0\.1 port 12599\) was not tested/);
  assert.equal(internalTestWarning(fields, { host: '127.0.0.1', port: '12599', answered: false, ok: false }), 'The internal server did not answer the test: mail will wait in the queue until it does.');
  assert.match(internalTestWarning(fields, { host: '127.0.0.1', port: '12599', answered: true, ok: false }) ?? '', /answered the test, but something went wrong/);
  assert.equal(internalTestWarning(fields, { host: '127.0.0.1', port: '12599', answered: true, ok: true }), null);
  // a test of another port or host is no test of this one
  assert.match(internalTestWarning(fields, { host: '127.0.0.1', port: '25', answered: true, ok: true }) ?? '', /was not tested/);
  assert.match(internalTestWarning({ ...fields, internalHost: '10.0.0.5' }, { host: '127.0.0.1', port: '12599', answered: true, ok: true }) ?? '', /was not tested/);
  // an empty port is the default 25
  assert.equal(internalTestWarning({ internalHost: 'mail', internalPort: '' }, { host: 'mail', port: '25', answered: true, ok: true }), null);
  assert.equal(internalTestWarning({ internalHost: '', internalPort: '25' }, null), null, 'no server named: the step itself asks for one');
});

test('a name without a dot is warned about (the field, else the machine name), a full name is not', () => {
  assert.match(hostNameWarning('vm') ?? '', /Moat will call itself "vm"\. Other mail servers may distrust a name without a domain: give the box's full name .*e\.g\. mail\.example\.com\./);
  assert.equal(hostNameWarning('mail.example.com'), null);
  assert.equal(hostNameWarning(''), null);
  assert.equal(hostNameWarning(null), null);
  const base = { ...fieldsFromConfig({}), domains: 'example.com', filtersEnabled: false };
  assert.match(reviewWarnings({ ...base, hostname: '' }, { machineName: 'vm' }).join('\n'), /call itself "vm"/);
  assert.doesNotMatch(reviewWarnings({ ...base, hostname: 'mx.example.com' }, { machineName: 'vm' }).join('\n'), /call itself/);
});

test("the done sentence names the domains and where mail goes, the command line's values where it sets them", () => {
  const fields = { domains: 'example.com\nexample.org', internalHost: '10.0.0.5', internalPort: '' };
  assert.equal(doneSentence(fields), 'Moat is running: it accepts mail for example.com, example.org and delivers it to 10.0.0.5 port 25.');
  assert.equal(
    doneSentence(fields, { effective: { domains: ['flag.example'], internal: { host: 'mail.lan', port: 2525 } }, overridden: ['domains', 'internal.host', 'internal.port'] }),
    'Moat is running: it accepts mail for flag.example and delivers it to mail.lan port 2525.',
  );
});

test('a filter engine found or not is one plain sentence; error codes stay out of it', () => {
  assert.equal(detectionWords(true, 'PONG'), 'it answers: Moat can use it.');
  assert.equal(detectionWords(false, 'clamd at 127.0.0.1:3310 is unreachable: ECONNREFUSED'), 'nothing answers there: it is not installed, or not running.');
  assert.equal(detectionWords(false, 'clamd at /var/run/clamav/clamd.ctl is unreachable: ENOENT'), 'nothing answers there: it is not installed, or not running.');
  assert.match(detectionWords(false, 'rspamd at 127.0.0.1:11333 did not answer: connect ETIMEDOUT 127.0.0.1:11333'), /^no answer in time/);
  for (const raw of ['clamd at 127.0.0.1:3310 is unreachable: ECONNREFUSED', 'something odd', 'read ECONNRESET']) assert.doesNotMatch(detectionWords(false, raw), /E[A-Z]{4,}|127\.0/);
});

test("an empty host name reads as this machine's name, with the name the relay uses when it is known", () => {
  const fields = { ...fieldsFromConfig({}), domains: 'example.com' };
  const line = (machineName?: string | null) => reviewSummary(fields, { effective: {}, overridden: [], machineName })[0]!.lines.find(([label]) => label === 'Host name')![1];
  assert.equal(line('vm'), "this machine's name (vm)");
  assert.equal(line(null), "this machine's name");
  assert.equal(reviewSummary({ ...fields, hostname: 'mx.example.com' }, { effective: {}, overridden: [], machineName: 'vm' })[0]!.lines.find(([label]) => label === 'Host name')![1], 'mx.example.com');
});

test('the wizard run again tells a configuration that says the same (key order aside) from one that changed', () => {
  const saved = { domains: ['example.test'], internal: { host: '10.0.0.5', port: 25 }, filters: { enabled: true } };
  assert.equal(sameConfig(saved, { filters: { enabled: true }, internal: { port: 25, host: '10.0.0.5' }, domains: ['example.test'] }), true);
  assert.equal(sameConfig(saved, { ...saved, internal: { host: '10.0.0.5', port: 2525 } }), false);
  assert.equal(sameConfig(saved, { ...saved, domains: ['example.test', 'second.test'] }), false);
  assert.equal(sameConfig(saved, { ...saved, extra: undefined }), true, 'a key left undefined is not written');
  assert.equal(sameConfig({ list: [1, 2] }, { list: [2, 1] }), false, 'order inside a list counts');
  // a file that leaves defaults implicit: the wizard writes them out, and that is no change
  const file = { domains: ['example.test'], internal: { host: '127.0.0.1', port: 2599 } };
  assert.equal(changesNothing(file, fieldsFromConfig(file)), true);
  assert.equal(changesNothing(file, { ...fieldsFromConfig(file), domains: 'example.test\nsecond.test' }), false);
  assert.equal(changesNothing(file, { ...fieldsFromConfig(file), filtersEnabled: false }), false);
});

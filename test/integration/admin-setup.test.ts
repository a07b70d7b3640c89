// The setup wizard's helpers against real servers on loopback: the internal-server test (STARTTLS, AUTH, a recipient
// probe, a closed port, a server that never greets), filter detection at addresses the test controls, and input
// checks. Results go through the contract's output schemas. Real clamd/rspamd/spamd: test/daemons/admin-filters.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { generate } from 'selfsigned';
import { configContract } from '../../src-relay/config/contract.ts';
import { validateConfig } from '../../src-relay/config/load.ts';
import { createSetupHandlers, setupHandlers } from '../../src-relay/admin/handlers/setup.ts';
import { apiContext } from '../helpers/api-context.ts';
import { apiError, callHandler } from '../helpers/api-call.ts';
import { Sink, reservePort } from '../helpers/sink.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const TEST_TIMEOUT_MS = 60_000;
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function context() {
  const result = validateConfig({ hostname: 'relay.example.test' });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const dataDir = tempDir('moat-setup-');
  dirs.push(dataDir);
  return apiContext(null, { dataDir, config: () => result.config });
}

/** The internal Exchange as smtp-server plays it: STARTTLS with a self-signed certificate, AUTH offered, one mailbox. */
async function exchange(): Promise<{ port: number; ehloNames: string[]; stop: () => Promise<void> }> {
  const pems = await generate([{ name: 'commonName', value: 'exchange.example.test' }], { keyType: 'ec', algorithm: 'sha256' });
  const ehloNames: string[] = [];
  const server = new SMTPServer({
    logger: false,
    key: pems.private,
    cert: pems.cert,
    authOptional: true,
    disableReverseLookup: true,
    closeTimeout: 100,
    onAuth: (_auth, _session, callback) => callback(new Error('no')),
    onConnect: (_session, callback) => callback(),
    onMailFrom: (_address, session, callback) => {
      ehloNames.push(session.hostNameAppearsAs);
      callback();
    },
    onRcptTo: (address, _session, callback) =>
      address.address === 'bob@example.test' ? callback() : callback(Object.assign(new Error('5.1.1 User unknown'), { responseCode: 550 })),
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.server.address() as AddressInfo).port, ehloNames, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

const testInternal = (input: Record<string, unknown>, handlers = setupHandlers) => callHandler(handlers, 'setup.testInternal', input, context());

test('a server offering STARTTLS and AUTH: TLS is started, EHLO is said again, and the advice says to switch AUTH off', { timeout: TEST_TIMEOUT_MS }, async () => {
  const server = await exchange();
  try {
    const result = await testInternal({ host: '127.0.0.1', port: server.port, recipient: 'bob@example.test' });
    assert.equal(result.ok, true, JSON.stringify(result.steps));
    assert.deepEqual(
      result.steps.map((step) => step.step),
      ['connect', 'greeting', 'ehlo', 'starttls', 'ehlo', 'mail', 'rcpt', 'rcpt'],
    );
    assert.ok(result.steps.every((step) => step.ok));
    assert.equal(result.starttls, true);
    assert.match(result.banner ?? '', /ESMTP/);
    assert.deepEqual(result.authMechanisms, ['LOGIN', 'PLAIN']);
    assert.match(result.steps[3]!.detail, /^TLS started \(TLSv1\.[23]\); its certificate is not trusted here/);
    assert.match(result.steps[4]!.detail, /^after STARTTLS it offers .*AUTH LOGIN PLAIN/);
    assert.equal(result.recipientAccepted, true);
    assert.equal(result.acceptsAnyRecipient, false, 'an address that cannot exist was refused');
    assert.ok(result.advice.some((line) => /^It still offers AUTH LOGIN PLAIN: once Moat handles your clients' submission, switch SMTP AUTH off on it/.test(line)), result.advice.join('\n'));
    assert.ok(result.advice.some((line) => /without TLS: passwords can cross the network in clear/.test(line)));
    assert.ok(result.advice.some((line) => /certificate is not trusted here/.test(line)));
    assert.ok(result.advice.some((line) => /^It refuses unknown recipients: turn on "Ask the internal server whether each recipient exists"/.test(line)));
    assert.deepEqual(server.ehloNames, ['relay.example.test'], "our configured name in EHLO; MAIL FROM came after the second EHLO only");
  } finally {
    await server.stop();
  }
});

test('the same test pointed at a smarthost: AUTH offered means "enter your log-in", never "switch AUTH off", and the advice names the smarthost keys', { timeout: TEST_TIMEOUT_MS }, async () => {
  const server = await exchange();
  try {
    const result = await testInternal({ host: '127.0.0.1', port: server.port, role: 'smarthost' });
    assert.equal(result.ok, true, JSON.stringify(result.steps));
    assert.equal(result.recipientAccepted, null, 'no recipient probe at a smarthost');
    assert.ok(result.advice.some((line) => /^It offers AUTH LOGIN PLAIN: if your provider gives you a user name and password, enter them/.test(line)), result.advice.join('\n'));
    assert.ok(!result.advice.some((line) => /switch SMTP AUTH off/.test(line)), result.advice.join('\n'));
    assert.ok(result.advice.some((line) => /leave "Check the smarthost's certificate" off/.test(line)), result.advice.join('\n'));
    assert.ok(!result.advice.some((line) => /internal/.test(line)), 'no internal-server settings in a smarthost\'s advice');
    assert.ok(!result.advice.some((line) => /\b(?:internal|outbound|mx|filters|submission)\.\w/.test(line)), `no config keys in the advice: ${result.advice.join('\n')}`);
  } finally {
    await server.stop();
  }
});

test('a recipient the server refuses: the rcpt step fails with its reply, and the test is not ok', { timeout: TEST_TIMEOUT_MS }, async () => {
  const server = await exchange();
  try {
    const result = await testInternal({ host: '127.0.0.1', port: server.port, recipient: 'nobody@example.test' });
    assert.equal(result.ok, false);
    assert.equal(result.recipientAccepted, false);
    assert.equal(result.acceptsAnyRecipient, null, 'not asked when the real one was refused');
    const rcpt = result.steps.filter((step) => step.step === 'rcpt');
    assert.equal(rcpt.length, 1);
    assert.equal(rcpt[0]!.ok, false);
    assert.match(rcpt[0]!.detail, /^it refuses nobody@example\.test: 550 .*User unknown/);
    assert.ok(result.advice.some((line) => /^It refused nobody@example\.test: check the address/.test(line)));
  } finally {
    await server.stop();
  }
});

test('a server without STARTTLS or AUTH that takes any recipient: the advice says mail crosses in clear and a callout cannot tell', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  try {
    const result = await testInternal({ host: '127.0.0.1', port: sink.port, recipient: 'anyone@example.test' });
    assert.equal(result.ok, true, JSON.stringify(result.steps));
    assert.equal(result.starttls, false);
    assert.deepEqual(result.authMechanisms, []);
    assert.deepEqual(result.steps.map((step) => step.step), ['connect', 'greeting', 'ehlo', 'mail', 'rcpt', 'rcpt']);
    assert.equal(result.recipientAccepted, true);
    assert.equal(result.acceptsAnyRecipient, true);
    assert.ok(result.advice.some((line) => /^It does not offer STARTTLS: .*\("STARTTLS to the internal server": "When offered" works with that, "Required" would not\)/.test(line)), result.advice.join('\n'));
    assert.ok(result.advice.some((line) => /^It accepts any address at example\.test.*list them in Moat under "Only accept these recipients"/.test(line)), result.advice.join('\n'));
    assert.ok(!result.advice.some((line) => /\b(?:internal|outbound|mx|filters|submission)\.\w|\(recipients\)/.test(line)), `no config keys in the advice: ${result.advice.join('\n')}`);
    assert.ok(!result.advice.some((line) => /AUTH/.test(line)));
    assert.equal(sink.messages.length, 0, 'nothing is ever sent');
  } finally {
    await sink.stop();
  }
});

test('a closed port is a failed connect step with plain words, never an error', { timeout: TEST_TIMEOUT_MS }, async () => {
  const port = await reservePort();
  const result = await testInternal({ host: '127.0.0.1', port });
  assert.equal(result.ok, false);
  assert.deepEqual(result.steps, [{ step: 'connect', ok: false, detail: `nothing listens on 127.0.0.1:${port} (connection refused)` }]);
  assert.equal(result.banner, null);
  assert.ok(result.advice.some((line) => line.startsWith(`Moat cannot reach 127.0.0.1:${port}`)));
});

test('a server that accepts the connection but never greets fails the greeting step at its deadline', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sockets = new Set<Socket>();
  const silent = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const port = (silent.address() as AddressInfo).port;
    const result = await testInternal({ host: '127.0.0.1', port }, createSetupHandlers({ stepTimeoutMs: 300 }));
    assert.equal(result.ok, false);
    assert.deepEqual(result.steps.map((step) => [step.step, step.ok]), [['connect', true], ['greeting', false]]);
    assert.equal(result.steps[1]!.detail, 'no answer within 0.3 s');
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('the input is checked: a host with spaces fails the schema, a recipient that is not an address is INVALID_INPUT at "recipient"', async () => {
  assert.equal(configContract['setup.testInternal'].input.safeParse({ host: 'exchange local' }).success, false);
  assert.equal(configContract['setup.testInternal'].input.safeParse({ host: 'exchange.local' }).data?.port, 25);
  await assert.rejects(testInternal({ host: '127.0.0.1', port: 25, recipient: 'bob at example' }), apiError('INVALID_INPUT', undefined, ['recipient']));
});

test('filter detection at addresses the test controls: nothing listening, a missing socket, something else on the port, a silent port', { timeout: TEST_TIMEOUT_MS }, async () => {
  const closed = await reservePort();
  const web = createHttpServer((_request, response) => response.writeHead(404).end('not here'));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<Socket>();
  const silent = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const missingSocket = join(tempDir('moat-nosock-'), 'clamd.ctl');
  dirs.push(join(missingSocket, '..'));
  const candidates = [
    { engine: 'clamav' as const, address: `127.0.0.1:${closed}` },
    { engine: 'clamav' as const, address: missingSocket },
    { engine: 'rspamd' as const, address: `127.0.0.1:${(web.address() as AddressInfo).port}` },
    { engine: 'spamd' as const, address: `127.0.0.1:${(silent.address() as AddressInfo).port}` },
  ];
  try {
    const handlers = createSetupHandlers({ filterCandidates: candidates, detectTimeoutMs: 500 });
    const { engines } = await callHandler(handlers, 'setup.detectFilters', {}, context());
    assert.deepEqual(engines.map((engine) => [engine.engine, engine.address, engine.found, engine.ok]), candidates.map((candidate) => [candidate.engine, candidate.address, false, false]));
    assert.match(engines[0]!.detail, /ECONNREFUSED/);
    assert.match(engines[1]!.detail, /ENOENT/);
    assert.match(engines[2]!.detail, /HTTP 404/);
    assert.match(engines[3]!.detail, /no answer within 0\.5 s/);
  } finally {
    web.close();
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});

test('setup.testFilter refuses an address that is not one for the engine, and reports an engine that is not there', { timeout: TEST_TIMEOUT_MS }, async () => {
  for (const [engine, address] of [['rspamd', '/run/rspamd.sock'], ['spamd', 'localhost'], ['clamav', 'clamd.ctl'], ['spamd', '127.0.0.1:0']] as const) {
    await assert.rejects(callHandler(setupHandlers, 'setup.testFilter', { engine, address }, context()), apiError('INVALID_INPUT', undefined, ['address']), `${engine} ${address}`);
  }
  const port = await reservePort();
  const result = await callHandler(setupHandlers, 'setup.testFilter', { engine: 'spamd', address: `127.0.0.1:${port}` }, context());
  assert.equal(result.ok, false);
  assert.match(result.detail, new RegExp(`spamd at 127\\.0\\.0\\.1:${port} did not answer: .*ECONNREFUSED`));
});

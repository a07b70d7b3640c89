import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { generate } from 'selfsigned';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { addUser, officeMessage, queueIdOf, startSubmissionRelay, submit, until } from '../helpers/submission.ts';

interface Received {
  from: string;
  to: string[];
  secure: boolean;
  user: string | undefined;
  raw: string;
}

/** A remote mail server on loopback: STARTTLS with the given certificate (or none), AUTH when asked for. */
async function startMx(options: { tls?: { key: string; cert: string }; auth?: { user: string; pass: string }; holdDataMs?: number }) {
  const received: Received[] = [];
  let open = 0;
  let maxOpen = 0;
  const serverOptions: SMTPServerOptions = {
    disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 100,
    ...(options.tls ?? {}),
    onConnect: (_session, callback) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      callback();
    },
    onClose: () => {
      open--;
    },
    onAuth: (auth, _session, callback) => {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) return callback(null, { user: auth.username });
      callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const finish = () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            secure: session.secure,
            user: typeof session.user === 'string' ? session.user : undefined,
            raw: Buffer.concat(chunks).toString(),
          });
          callback();
        };
        if (options.holdDataMs) setTimeout(finish, options.holdDataMs);
        else finish();
      });
    },
  };
  const server = new SMTPServer(serverOptions);
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    get maxOpen() {
      return maxOpen;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A self-signed certificate for `name`; the relay trusts it only when it is in outbound.caFile. */
async function certificate(name: string) {
  const pems = await generate([{ name: 'commonName', value: name }], { keyType: 'ec', algorithm: 'sha256' });
  return { key: pems.private, cert: pems.cert };
}

const secureMx = () =>
  fixtureResolver(
    { 'secure.test': [{ exchange: 'mx.secure.test', priority: 10 }], 'partner.test': [{ exchange: 'mx.partner.test', priority: 10 }] },
    { 'mx.secure.test': ['127.0.0.1'], 'mx.partner.test': ['127.0.0.1'] },
  );

test('a TLS-required domain gets its mail over STARTTLS with a verified certificate for the MX host name', async () => {
  const dir = tempDir('moat-ca-');
  const tls = await certificate('mx.secure.test');
  writeFileSync(join(dir, 'ca.pem'), tls.cert);
  const mx = await startMx({ tls });
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(
    internal.port,
    { submission: { trustedNetworks: ['127.0.0.1'] }, outbound: { mxPort: mx.port, tlsRequiredDomains: ['secure.test'], caFile: join(dir, 'ca.pem') } },
    { resolver: secureMx() },
  );
  try {
    await submit(relay.submission, { plain: true }, 'alice@example.test', ['bank@secure.test'], officeMessage('alice@example.test', 'bank@secure.test', 'statement'));
    await until('the MX has the message', () => mx.received.length === 1);
    assert.equal(mx.received[0]!.secure, true);
    assert.deepEqual(mx.received[0]!.to, ['bank@secure.test']);
  } finally {
    await relay.stop();
    await mx.stop();
    await internal.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a TLS-required domain whose MX offers no STARTTLS is deferred, never sent in clear, and bounces 5.7.x when it expires', async () => {
  let offset = 0;
  const clock = () => Date.now() + offset;
  const mx = await startMx({});
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(
    internal.port,
    { outbound: { mxPort: mx.port, tlsRequiredDomains: ['secure.test'] }, queue: { retryIntervalsSec: [1], lifetimeHours: 1, delayWarningHours: 0 } },
    { resolver: secureMx(), clock },
  );
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    const info = await submit(relay.submission, { user: 'alice' }, 'alice@example.test', ['bank@secure.test'], officeMessage('alice@example.test', 'bank@secure.test', 'account numbers'));
    const id = queueIdOf(info.response);
    const store = relay.relay.queue.store;
    await until('two attempts were made', () => (store.recipients(id)[0]?.attempts ?? 0) >= 2);
    const recipient = store.recipients(id)[0]!;
    assert.equal(recipient.status, 'pending');
    assert.equal(recipient.last_status, '4.7.5');
    assert.match(recipient.last_reply!, /TLS is required but the server refused STARTTLS/);
    assert.equal(mx.received.length, 0, 'not a byte of the message went out in clear');
    offset = 2 * 3600_000;
    await internal.waitFor(1);
    const dsn = internal.messages[0]!.raw.toString();
    assert.deepEqual(internal.messages[0]!.to, ['alice@example.test']);
    assert.match(dsn, /Action: failed/);
    assert.match(dsn, /Status: 5\.7\.5/);
    assert.equal(mx.received.length, 0);
  } finally {
    await relay.stop();
    await mx.stop();
    await internal.stop();
  }
});

test('a TLS-required domain whose MX certificate cannot be verified is deferred; a domain without the policy still gets its mail', async () => {
  const tls = await certificate('mx.secure.test');
  const mx = await startMx({ tls });
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(
    internal.port,
    { submission: { trustedNetworks: ['127.0.0.1'] }, outbound: { mxPort: mx.port, tlsRequiredDomains: ['secure.test'] } },
    { resolver: secureMx() },
  );
  try {
    const held = queueIdOf((await submit(relay.submission, { plain: true }, 'alice@example.test', ['bank@secure.test'], officeMessage('alice@example.test', 'bank@secure.test'))).response);
    await submit(relay.submission, { plain: true }, 'alice@example.test', ['carol@partner.test'], officeMessage('alice@example.test', 'carol@partner.test', 'opportunistic'));
    await until('the partner got its mail', () => mx.received.length === 1);
    assert.deepEqual(mx.received[0]!.to, ['carol@partner.test']);
    assert.equal(mx.received[0]!.secure, true, 'opportunistic STARTTLS still encrypts, without checking the certificate');
    const store = relay.relay.queue.store;
    await until('the TLS-required message was attempted', () => (store.recipients(held)[0]?.attempts ?? 0) >= 1);
    assert.equal(store.recipients(held)[0]!.status, 'pending');
    assert.match(store.recipients(held)[0]!.last_reply!, /certificate|self.signed|TLS/i);
    assert.equal(mx.received.length, 1);
  } finally {
    await relay.stop();
    await mx.stop();
    await internal.stop();
  }
});

test('deliveries to one domain stay within outbound.maxConnectionsPerDomain', async () => {
  const mx = await startMx({ holdDataMs: 300 });
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(
    internal.port,
    { submission: { trustedNetworks: ['127.0.0.1'] }, outbound: { mxPort: mx.port, maxConnectionsPerDomain: 2 } },
    { resolver: secureMx() },
  );
  try {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => submit(relay.submission, { plain: true }, 'alice@example.test', [`user${i}@partner.test`], officeMessage('alice@example.test', `user${i}@partner.test`, `burst ${i}`))),
    );
    await until('all arrived', () => mx.received.length === 8, 30_000);
    assert.ok(mx.maxOpen <= 2, `at most 2 connections at once, saw ${mx.maxOpen}`);
    assert.equal(mx.maxOpen, 2, 'and the two are used');
  } finally {
    await relay.stop();
    await mx.stop();
    await internal.stop();
  }
});

test('through a smarthost with AUTH: mail for the internet goes there logged in; a wrong password defers instead of bouncing', async () => {
  const smarthost = await startMx({ auth: { user: 'moat', pass: 'smarthost secret' } });
  const internal = await Sink.start();
  const good = await startSubmissionRelay(internal.port, {
    submission: { trustedNetworks: ['127.0.0.1'] },
    outbound: { smarthost: { host: '127.0.0.1', port: smarthost.port, tls: 'none', auth: { user: 'moat', pass: 'smarthost secret' } } },
  });
  try {
    await submit(good.submission, { plain: true }, 'alice@example.test', ['carol@partner.test'], officeMessage('alice@example.test', 'carol@partner.test', 'via smarthost'));
    await until('the smarthost has it', () => smarthost.received.length === 1);
    assert.equal(smarthost.received[0]!.user, 'moat');
    assert.deepEqual(smarthost.received[0]!.to, ['carol@partner.test']);
  } finally {
    await good.stop();
  }
  const bad = await startSubmissionRelay(internal.port, {
    submission: { trustedNetworks: ['127.0.0.1'] },
    outbound: { smarthost: { host: '127.0.0.1', port: smarthost.port, tls: 'none', auth: { user: 'moat', pass: 'wrong' } } },
  });
  try {
    const id = queueIdOf((await submit(bad.submission, { plain: true }, 'alice@example.test', ['carol@partner.test'], officeMessage('alice@example.test', 'carol@partner.test'))).response);
    const store = bad.relay.queue.store;
    await until('the attempt failed', () => (store.recipients(id)[0]?.attempts ?? 0) >= 1);
    assert.equal(store.recipients(id)[0]!.status, 'pending');
    assert.match(store.recipients(id)[0]!.last_reply!, /refused our login/);
    assert.equal(bad.relay.routeStates().find((state) => state.route === 'smarthost')?.state, 'down');
  } finally {
    await bad.stop();
    await smarthost.stop();
    await internal.stop();
  }
});

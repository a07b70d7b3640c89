import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver } from '../helpers/relay.ts';
import { PASSWORD, SmtpProbe, addUser, officeMessage, queueIdOf, startSubmissionRelay, submit, until, withAccounts } from '../helpers/submission.ts';
import { hashPassword, verifyPassword } from '../../src-relay/auth/password.ts';

/** partner.test's MX is a sink on loopback, found through fixture DNS. */
const partnerMx = () => fixtureResolver({ 'partner.test': [{ exchange: 'mx.partner.test', priority: 10 }] }, { 'mx.partner.test': ['127.0.0.1'] });

test('an office client on 587 logs in after STARTTLS; mail for our domain reaches the internal server, the rest goes out by MX', async () => {
  const internal = await Sink.start();
  const remote = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { outbound: { mxPort: remote.port } }, { resolver: partnerMx() });
  try {
    await addUser(relay.dataDir, 'alice@example.test', ['alice@example.test']);
    const info = await submit(
      relay.submission,
      { user: 'alice@example.test', name: 'PC-ALICE' },
      'alice@example.test',
      ['bob@example.test', 'carol@partner.test'],
      officeMessage('Alice <alice@example.test>', 'bob@example.test, carol@partner.test', 'quarterly figures'),
    );
    assert.match(info.response, /^250 [0-9.]+ Ok: queued as /);
    await internal.waitFor(1);
    await remote.waitFor(1);
    assert.deepEqual(internal.messages[0]!.to, ['bob@example.test']);
    assert.deepEqual(remote.messages[0]!.to, ['carol@partner.test']);
    assert.equal(remote.messages[0]!.from, 'alice@example.test');
    const raw = remote.messages[0]!.raw.toString();
    assert.match(raw, /^Received: by \S+ \(Moat\) with ESMTPSA id /, 'the trace says: ESMTP, over TLS, authenticated (RFC 3848)');
    assert.doesNotMatch(raw, /pc-alice|127\.0\.0\.1/i, 'the office PC is not named in mail that leaves the office');
    assert.match(raw, /Subject: quarterly figures/);
    const id = queueIdOf(info.response);
    await until('the message is done', () => relay.relay.queue.store.message(id)?.status === 'done');
    const submitted = relay.relay.queue.store.history(id).find((row) => row.action === 'SUBMITTED');
    assert.match(submitted!.detail!, /authenticated as alice@example\.test on submission \(TLS\)/);
    assert.equal(relay.relay.queue.store.message(id)?.helo, 'pc-alice', 'the tracking still shows the PC');
  } finally {
    await relay.stop();
    await internal.stop();
    await remote.stop();
  }
});

test('with submission.receivedClient: show, the Received line names the office PC by the name it gave in EHLO, and its address', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { receivedClient: 'show' } });
  try {
    await addUser(relay.dataDir, 'alice@example.test', ['alice@example.test']);
    const info = await submit(relay.submission, { user: 'alice@example.test', name: 'PC-ALICE' }, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test'));
    assert.match(info.response, /^250 /);
    await internal.waitFor(1);
    assert.match(internal.messages[0]!.raw.toString(), /^Received: from pc-alice \(\[127\.0\.0\.1\]\)\r\n\tby \S+ \(Moat\) with ESMTPSA id /);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('on 465 the session is TLS from the first byte (RFC 8314) and AUTH LOGIN works', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port);
  try {
    await addUser(relay.dataDir, 'bob', ['@example.test']);
    const info = await submit(relay.submissions, { secure: true, user: 'bob', authMethod: 'LOGIN' }, 'bob@example.test', ['alice@example.test'], officeMessage('bob@example.test', 'alice@example.test', 'over 465'));
    assert.match(info.response, /^250 /);
    await internal.waitFor(1);
    assert.match(internal.messages[0]!.raw.toString(), /with ESMTPSA id /);
    const probe = await SmtpProbe.connect(relay.submissions, true);
    try {
      const ehlo = await probe.hello();
      assert.match(ehlo, /AUTH PLAIN LOGIN/);
      assert.doesNotMatch(ehlo, /STARTTLS/, 'no STARTTLS inside TLS');
    } finally {
      probe.close();
    }
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('AUTH is not offered before STARTTLS and is refused with 530 5.7.0; after STARTTLS PLAIN and LOGIN are offered', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port);
  const probe = await SmtpProbe.connect(relay.submission);
  try {
    await addUser(relay.dataDir, 'carol', ['carol@example.test']);
    const ehlo = await probe.hello();
    assert.match(ehlo, /STARTTLS/);
    assert.doesNotMatch(ehlo, /AUTH/);
    assert.match(await probe.authPlain('carol', PASSWORD), /^530 5\.7\.0 Must issue a STARTTLS command first/);
    assert.match(await probe.command('AUTH LOGIN'), /^530 5\.7\.0 /);
    assert.match(await probe.command('MAIL FROM:<carol@example.test>'), /^530 5\.7\.0 Authentication required/);
    const secured = await probe.startTls();
    assert.match(secured, /AUTH PLAIN LOGIN/);
    assert.match(await probe.authPlain('carol', PASSWORD), /^235 /);
    assert.match(await probe.command('MAIL FROM:<carol@example.test>'), /^250 /);
  } finally {
    probe.close();
    await relay.stop();
    await internal.stop();
  }
});

test('without a login, a client outside the trusted networks may not send, with or without TLS', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { trustedNetworks: ['10.0.0.0/8', 'fd00::/8'] } });
  try {
    await assert.rejects(
      submit(relay.submission, {}, 'someone@example.test', ['bob@example.test'], officeMessage('someone@example.test', 'bob@example.test')),
      (error: Error & { responseCode?: number; response?: string }) => error.responseCode === 530 && /5\.7\.0/.test(error.response ?? ''),
    );
    await assert.rejects(
      submit(relay.submission, { plain: true }, 'someone@example.test', ['carol@partner.test'], officeMessage('someone@example.test', 'carol@partner.test')),
      (error: Error & { responseCode?: number }) => error.responseCode === 530,
    );
    assert.equal(internal.messages.length, 0);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('a client on a trusted network sends without logging in, even without TLS (a scanner)', async () => {
  const internal = await Sink.start();
  const remote = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { trustedNetworks: ['127.0.0.0/8', '::1'] }, outbound: { mxPort: remote.port } }, { resolver: partnerMx() });
  try {
    const info = await submit(relay.submission, { plain: true }, 'scanner@example.test', ['bob@example.test', 'carol@partner.test'], officeMessage('Scanner <scanner@example.test>', 'bob@example.test', 'scan 42'));
    await internal.waitFor(1);
    await remote.waitFor(1);
    assert.match(internal.messages[0]!.raw.toString(), /with ESMTP id /);
    const id = queueIdOf(info.response);
    await until('history is written', () => relay.relay.queue.store.history(id).some((row) => row.action === 'SUBMITTED'));
    assert.match(relay.relay.queue.store.history(id).find((row) => row.action === 'SUBMITTED')!.detail!, /trusted network, no login/);
  } finally {
    await relay.stop();
    await internal.stop();
    await remote.stop();
  }
});

test('the mx listener never offers or takes AUTH, even with accounts and submission listeners running', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port);
  const probe = await SmtpProbe.connect(relay.port);
  try {
    await addUser(relay.dataDir, 'dave', ['dave@example.test']);
    assert.doesNotMatch(await probe.hello(), /AUTH/);
    const secured = await probe.startTls();
    assert.doesNotMatch(secured, /AUTH/);
    assert.match(await probe.authPlain('dave', PASSWORD), /^5\d\d /);
    assert.match(await probe.command('MAIL FROM:<dave@example.test>'), /^250 /);
    assert.match(await probe.command('RCPT TO:<carol@partner.test>'), /^554 5\.7\.1 /, 'still not an open relay');
  } finally {
    probe.close();
    await relay.stop();
    await internal.stop();
  }
});

test('routing tricks in recipients are refused on submission too, for any domain', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port);
  const probe = await SmtpProbe.connect(relay.submission);
  try {
    await addUser(relay.dataDir, 'erin', ['erin@example.test']);
    await probe.hello();
    await probe.startTls();
    assert.match(await probe.authPlain('erin', PASSWORD), /^235 /);
    assert.match(await probe.command('MAIL FROM:<erin@example.test>'), /^250 /);
    // the code once, then why (it used to be said twice: "554 5.7.1 Relay access denied: 554 5.7.1 percent-hack ...")
    assert.match(await probe.command('RCPT TO:<a%evil.test@partner.test>'), /^554 5\.7\.1 Relay access denied: percent-hack routing/);
    assert.match(await probe.command('RCPT TO:<a%evil.test@example.test>'), /^554 5\.7\.1 Relay access denied: percent-hack routing/);
    assert.match(await probe.command('RCPT TO:<user@[10.0.0.1]>'), /^554 5\.7\.1 Relay access denied: address literals are not accepted/);
    assert.match(await probe.command('RCPT TO:<ok@partner.test>'), /^250 /);
  } finally {
    probe.close();
    await relay.stop();
    await internal.stop();
  }
});

/** A relay, its internal server, and erin logged in on 587 (the session a thief holds). */
async function erinLoggedIn() {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port);
  const session = await SmtpProbe.connect(relay.submission);
  await addUser(relay.dataDir, 'erin', ['erin@example.test']);
  await session.hello();
  await session.startTls();
  assert.match(await session.authPlain('erin', PASSWORD), /^235 /);
  const changePassword = async (password: string) => {
    const hash = await hashPassword(password);
    withAccounts(relay.dataDir, (accounts) => assert.ok(accounts.setPassword('erin', hash, Date.now())));
  };
  const stop = async () => {
    session.close();
    await relay.stop();
    await internal.stop();
  };
  return { internal, relay, session, changePassword, stop };
}

test('a password changed by the admin ends the sessions logged in with the old one, at their next message', async () => {
  const { internal, relay, session: thief, changePassword, stop } = await erinLoggedIn();
  try {
    assert.match(await thief.command('MAIL FROM:<erin@example.test>'), /^250 /);
    assert.match(await thief.command('RCPT TO:<bob@example.test>'), /^250 /);
    assert.match(await thief.command('DATA'), /^354 /);
    assert.match(await thief.command(`${officeMessage('erin@example.test', 'bob@example.test', 'before the change')}.`), /^250 /);

    // `moat users passwd erin`: the open session may not start another message
    await changePassword('a brand new password');
    assert.match(await thief.command('MAIL FROM:<erin@example.test>'), /^530 5\.7\.0 /);
    assert.match(await thief.command('RSET'), /^250 /);
    assert.match(await thief.command('MAIL FROM:<erin@example.test>'), /^530 5\.7\.0 /);

    // the owner logs in again with the new password and sends
    await submit(relay.submission, { user: 'erin', pass: 'a brand new password' }, 'erin@example.test', ['bob@example.test'], officeMessage('erin@example.test', 'bob@example.test', 'after the change'));
    await internal.waitFor(2);
    assert.deepEqual(internal.messages.map((sunk) => /Subject: (.*)\r\n/.exec(sunk.raw.toString())![1]).sort(), ['after the change', 'before the change']);
  } finally {
    await stop();
  }
});

test('every session open with the old password is cut off, each at its next message, however many at once', async () => {
  const { relay, session: first, changePassword, stop } = await erinLoggedIn();
  const others = await Promise.all(
    Array.from({ length: 5 }, async () => {
      const session = await SmtpProbe.connect(relay.submission);
      await session.hello();
      await session.startTls();
      assert.match(await session.authPlain('erin', PASSWORD), /^235 /);
      return session;
    }),
  );
  try {
    await changePassword('a brand new password');
    const replies = await Promise.all([first, ...others].map((session) => session.command('MAIL FROM:<erin@example.test>')));
    assert.deepEqual(replies.map((reply) => reply.slice(0, 9)), Array(6).fill('530 5.7.0'));
  } finally {
    for (const session of others) session.close();
    await stop();
  }
});

test('a password changed while the old one is being checked ends that session too (the hash checked is the one kept)', async () => {
  const internal = await Sink.start();
  const newHash = await hashPassword('a brand new password');
  let changeDuringCheck = false;
  let dataDir = '';
  const relay = await startSubmissionRelay(internal.port, {}, {
    verifyPassword: async (password, hash) => {
      const ok = await verifyPassword(password, hash);
      // `moat users passwd erin` commits while this check runs
      if (changeDuringCheck) withAccounts(dataDir, (accounts) => assert.ok(accounts.setPassword('erin', newHash, Date.now())));
      return ok;
    },
  });
  dataDir = relay.dataDir;
  const thief = await SmtpProbe.connect(relay.submission);
  try {
    await addUser(relay.dataDir, 'erin', ['erin@example.test']);
    await thief.hello();
    await thief.startTls();
    changeDuringCheck = true;
    assert.match(await thief.authPlain('erin', PASSWORD), /^235 /, 'the old password was right when it was checked');
    changeDuringCheck = false;
    assert.match(await thief.command('MAIL FROM:<erin@example.test>'), /^530 5\.7\.0 /);
  } finally {
    thief.close();
    await relay.stop();
    await internal.stop();
  }
});

test('a session that began a message before the password changed cannot finish it', async () => {
  const { internal, relay, session: thief, changePassword, stop } = await erinLoggedIn();
  try {
    assert.match(await thief.command('MAIL FROM:<erin@example.test>'), /^250 /);
    assert.match(await thief.command('RCPT TO:<bob@example.test>'), /^250 /);
    await changePassword('a brand new password');
    assert.match(await thief.command('DATA'), /^354 /);
    assert.match(await thief.command(`${officeMessage('erin@example.test', 'bob@example.test', 'begun before')}.`), /^530 5\.7\.0 /);
    assert.equal(relay.relay.queue.store.summary().size, 0);
    assert.equal(internal.messages.length, 0);
  } finally {
    await stop();
  }
});

test('AUTH PLAIN naming another user as the authorization identity fails before any password check (RFC 4616)', async () => {
  const internal = await Sink.start();
  let checks = 0;
  const relay = await startSubmissionRelay(internal.port, {}, { verifyPassword: (password, hash) => (checks++, verifyPassword(password, hash)) });
  const plain = (authzid: string, authcid: string, password: string) => `AUTH PLAIN ${Buffer.from(`${authzid}\0${authcid}\0${password}`).toString('base64')}`;
  try {
    await addUser(relay.dataDir, 'erin', ['erin@example.test']);
    await addUser(relay.dataDir, 'bob', ['bob@example.test']);
    const probe = await SmtpProbe.connect(relay.submission);
    try {
      await probe.hello();
      await probe.startTls();
      assert.match(await probe.command(plain('bob', 'erin', PASSWORD)), /^535 5\.7\.8 Authentication refused: an account may act only as itself/);
      assert.equal(checks, 0, 'no password was checked');
      // the same name (any case) as authzid, or the name only in the authzid field (some clients): a login
      assert.match(await probe.command(plain('Erin', 'erin', PASSWORD)), /^235 /);
    } finally {
      probe.close();
    }
    const other = await SmtpProbe.connect(relay.submission);
    try {
      await other.hello();
      await other.startTls();
      assert.match(await other.command(plain('erin', '', PASSWORD)), /^235 /);
    } finally {
      other.close();
    }
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

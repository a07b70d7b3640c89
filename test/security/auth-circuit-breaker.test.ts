import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { SmtpProbe, PASSWORD, addUser, moat, officeMessage, startSubmissionRelay, submit, withAccounts } from '../helpers/submission.ts';

type SmtpError = Error & { responseCode?: number; response?: string; command?: string };

const send = (port: number, subject: string, to = ['bob@example.test']) =>
  submit(port, { user: 'alice' }, 'alice@example.test', to, officeMessage('alice@example.test', to.join(', '), subject));

test('an account that sends more messages in an hour than allowed is suspended (451 4.7.1), raises an alert event, and stays so until unlocked', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { accountLimits: { messagesPerHour: 3, recipientsPerHour: 1000 } } });
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    await addUser(relay.dataDir, 'bob', ['bob@example.test']);
    const suspended: unknown[] = [];
    relay.relay.events.on('account-suspended', (event) => suspended.push(event));
    for (let i = 1; i <= 3; i++) await send(relay.submission, `message ${i}`);
    await assert.rejects(send(relay.submission, 'message 4'), (error: SmtpError) => {
      assert.equal(error.responseCode, 451);
      assert.match(error.response!, /^451 4\.7\.1 Sending suspended/);
      assert.equal(error.command, 'MAIL FROM');
      return true;
    });
    assert.deepEqual(suspended, [{ user: 'alice', clientIp: '127.0.0.1', reason: 'more than 3 messages in an hour' }]);
    await internal.waitFor(3);
    assert.deepEqual(internal.messages.map((message) => /Subject: (.*)\r\n/.exec(message.raw.toString())![1]).sort(), ['message 1', 'message 2', 'message 3'], 'what was accepted before is delivered');
    // a new session, even with the right password, still cannot send
    await assert.rejects(send(relay.submission, 'message 5'), (error: SmtpError) => error.responseCode === 451);
    assert.equal(suspended.length, 1, 'one event per suspension');
    // other accounts are not affected
    await submit(relay.submission, { user: 'bob' }, 'bob@example.test', ['alice@example.test'], officeMessage('bob@example.test', 'alice@example.test', 'from bob'));
    const account = withAccounts(relay.dataDir, (accounts) => accounts.get('alice'))!;
    assert.ok(account.suspendedAt);
    const listed = await moat(['users', 'list', '--data-dir', relay.dataDir]);
    assert.match(listed.stdout, /alice\n\s+status: SUSPENDED since .* \(more than 3 messages in an hour\)/);
    const unlocked = await moat(['users', 'unlock', 'alice', '--data-dir', relay.dataDir]);
    assert.equal(unlocked.code, 0, unlocked.stderr);
    // unlocking starts the hourly count afresh: three more go
    for (let i = 6; i <= 8; i++) await send(relay.submission, `message ${i}`);
    await internal.waitFor(7);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('too many recipients in an hour trip the breaker at RCPT TO; the message in progress is not accepted', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { accountLimits: { messagesPerHour: 1000, recipientsPerHour: 5 } } });
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    await send(relay.submission, 'to three', ['a@example.test', 'b@example.test', 'c@example.test']);
    const probe = await SmtpProbe.connect(relay.submissions, true);
    try {
      await probe.hello();
      assert.match(await probe.authPlain('alice', PASSWORD), /^235 /);
      assert.match(await probe.command('MAIL FROM:<alice@example.test>'), /^250 /);
      assert.match(await probe.command('RCPT TO:<d@example.test>'), /^250 /);
      assert.match(await probe.command('RCPT TO:<e@example.test>'), /^250 /);
      assert.match(await probe.command('RCPT TO:<f@example.test>'), /^451 4\.7\.1 /);
      assert.match(await probe.command('RSET'), /^250 /);
      assert.match(await probe.command('MAIL FROM:<alice@example.test>'), /^451 4\.7\.1 /, 'suspended now');
    } finally {
      probe.close();
    }
    await internal.waitFor(1);
    assert.equal(relay.relay.queue.store.summary().size + internal.messages.length, 1, 'only the first message was accepted');
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

/** `count` sessions of alice over implicit TLS, each logged in; closed by the caller. */
async function sessions(port: number, count: number): Promise<SmtpProbe[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const probe = await SmtpProbe.connect(port, true);
      await probe.hello();
      assert.match(await probe.authPlain('alice', PASSWORD), /^235 /);
      return probe;
    }),
  );
}

async function finishMessage(probe: SmtpProbe, subject: string): Promise<string> {
  assert.match(await probe.command('DATA'), /^354 /);
  probe.write(`${officeMessage('alice@example.test', 'bob@example.test', subject)}.\r\n`);
  return probe.reply();
}

test('ten sessions of one account starting a message at once: only as many as the hourly limit are admitted, and the next one trips the breaker as in a row', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { accountLimits: { messagesPerHour: 3, recipientsPerHour: 1000 } } });
  const open: SmtpProbe[] = [];
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    open.push(...(await sessions(relay.submissions, 10)));
    const mail = await Promise.all(open.map((probe) => probe.command('MAIL FROM:<alice@example.test>')));
    const admitted = open.filter((_, i) => mail[i]!.startsWith('250'));
    assert.equal(admitted.length, 3, mail.join(' | '));
    assert.ok(mail.filter((reply) => !reply.startsWith('250')).every((reply) => /^451 4\.7\.1 /.test(reply)));
    // the fourth message tripped the breaker, as it would have in a row: the account is suspended, and the three in
    // progress go no further (sessions of a suspended account get 4xx)
    assert.ok(withAccounts(relay.dataDir, (accounts) => accounts.get('alice'))!.suspendedAt);
    for (const [i, probe] of admitted.entries()) {
      assert.match(await probe.command('RCPT TO:<bob@example.test>'), /^250 /);
      assert.match(await finishMessage(probe, `parallel ${i}`), /^451 4\.7\.1 /);
    }
    assert.equal(relay.relay.queue.store.summary().size + internal.messages.length, 0, 'nothing was accepted');
  } finally {
    for (const probe of open) probe.close();
    await relay.stop();
    await internal.stop();
  }
});

test('two messages in progress at once, one under the limit, are both accepted', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { accountLimits: { messagesPerHour: 3, recipientsPerHour: 1000 } } });
  const open: SmtpProbe[] = [];
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    open.push(...(await sessions(relay.submissions, 2)));
    assert.deepEqual((await Promise.all(open.map((probe) => probe.command('MAIL FROM:<alice@example.test>')))).map((reply) => reply.slice(0, 3)), ['250', '250']);
    for (const [i, probe] of open.entries()) {
      assert.match(await probe.command('RCPT TO:<bob@example.test>'), /^250 /);
      assert.match(await finishMessage(probe, `under ${i}`), /^250 /);
    }
    await internal.waitFor(2);
    assert.equal(withAccounts(relay.dataDir, (accounts) => accounts.get('alice'))!.suspendedAt, null);
  } finally {
    for (const probe of open) probe.close();
    await relay.stop();
    await internal.stop();
  }
});

test('recipients added at once in parallel sessions are limited together: the hourly recipient limit holds across sessions', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { accountLimits: { messagesPerHour: 1000, recipientsPerHour: 4 } } });
  const open: SmtpProbe[] = [];
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    open.push(...(await sessions(relay.submissions, 6)));
    for (const probe of open) assert.match(await probe.command('MAIL FROM:<alice@example.test>'), /^250 /);
    const rcpt = await Promise.all(open.map((probe, i) => probe.command(`RCPT TO:<r${i}@example.test>`)));
    assert.equal(rcpt.filter((reply) => reply.startsWith('250')).length, 4, rcpt.join(' | '));
    assert.ok(rcpt.filter((reply) => !reply.startsWith('250')).every((reply) => /^451 4\.7\.1 /.test(reply)));
  } finally {
    for (const probe of open) probe.close();
    await relay.stop();
    await internal.stop();
  }
});

test('a session that ends without sending gives its place back', async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, { submission: { accountLimits: { messagesPerHour: 1, recipientsPerHour: 1000 } } });
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    const [quitter] = await sessions(relay.submissions, 1);
    assert.match(await quitter!.command('MAIL FROM:<alice@example.test>'), /^250 /);
    assert.match(await quitter!.command('QUIT'), /^221 /);
    await quitter!.waitClosed();
    await send(relay.submission, 'after the quitter');
    await internal.waitFor(1);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

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

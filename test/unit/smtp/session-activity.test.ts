import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionActivity } from '../../../src-relay/smtp/stress.ts';

/**
 * A session greeted at 0 ms; `step` sends a command at `at` and answers it with `code` at the same time, the listener
 * having taken the recipient `took` (its canonical address) when one is given.
 */
function session(): { activity: SessionActivity; step: (command: string, code: number, at: number, took?: string) => number | undefined } {
  const activity = new SessionActivity(0);
  activity.answered(220, 0);
  return {
    activity,
    step(command, code, at, took) {
      activity.heard(Buffer.from(command, 'utf8'));
      if (took !== undefined) activity.tookRecipient(took);
      assert.equal(activity.idleSince(false), undefined, `${command}: never idle while the client waits for our reply`);
      activity.answered(code, at);
      return activity.idleSince(false);
    },
  };
}

test('stalling commands (NOOP, RSET, HELP, VRFY, EXPN, a second EHLO or HELO, any case) leave the idle clock running', () => {
  const { step } = session();
  assert.equal(step('EHLO client.sender.test', 250, 1_000), 1_000, 'the first hello is progress');
  let at = 1_000;
  for (const command of ['NOOP', 'noop', 'RSET', 'HELP', 'VRFY postmaster', 'EXPN staff', 'EHLO again.test', 'HELO again.test', 'NOOP\r\n']) {
    at += 4_000;
    assert.equal(step(command, 250, at), 1_000, `${JSON.stringify(command)} at ${at} ms is no progress`);
  }
  assert.equal(step('MAIL FROM:<alice@sender.test>', 250, 50_000), 50_000, 'MAIL is');
  assert.equal(step('NOOP', 250, 54_000), 50_000);
  assert.equal(step('RCPT TO:<bob@example.test>', 250, 58_000, 'bob@example.test'), 58_000, 'an accepted RCPT is');
});

test('a refused command is no progress; STARTTLS starts the hellos afresh', () => {
  const { activity, step } = session();
  assert.equal(step('EHLO client.sender.test', 250, 1_000), 1_000);
  assert.equal(step('RCPT TO:<bob@example.test>', 503, 2_000), 1_000, 'refused (no MAIL yet)');
  assert.equal(step('MAIL FROM:<alice@sender.test>', 250, 3_000), 3_000);
  assert.equal(step('RCPT TO:<nobody@example.test>', 550, 4_000), 3_000, 'refused recipient');
  assert.equal(step('FOO', 500, 5_000), 3_000, 'unknown command');
  assert.equal(step('STARTTLS', 220, 6_000), 6_000);
  assert.equal(step('EHLO client.sender.test', 250, 7_000), 7_000, 'the hello after STARTTLS is progress');
  assert.equal(step('EHLO client.sender.test', 250, 8_000), 7_000, 'the one after it is not');
  // an AUTH exchange: its continuation line is judged by the reply, as AUTH is
  assert.equal(step('AUTH LOGIN', 334, 9_000), 9_000);
  assert.equal(step('YWxpY2U=', 334, 10_000), 10_000);
  assert.equal(step('d3Jvbmc=', 535, 11_000), 10_000, 'a failed login is no progress');
  activity.heard(Buffer.from('DATA'));
  activity.answered(354, 12_000);
  assert.equal(activity.idleSince(true), undefined, 'in DATA the data rate applies, not the idle clock');
});

test('within a message, a recipient given again (also after RSET, in another case or spelling, with a source route or parameters) and a second MAIL stall; a message sent starts afresh', () => {
  const { activity, step } = session();
  assert.equal(step('EHLO client.sender.test', 250, 1_000), 1_000);
  assert.equal(step('MAIL FROM:<a@sender.test>', 250, 2_000), 2_000);
  assert.equal(step('RCPT TO:<postmaster@example.test>', 250, 3_000, 'postmaster@example.test'), 3_000);
  // the listener's canonical address is what counts: full-width letters in the domain are the same mailbox
  const again = ['RCPT TO:<postmaster@example.test>', 'RCPT TO:<POSTMASTER@example.test>', 'RCPT TO:<@a.test:postmaster@example.test>', 'RCPT TO:<postmaster@example.test> NOTIFY=NEVER', 'RCPT TO:<postmaster@\uff45xample.test>', 'RCPT TO:<postmaster@e\uff58ample.test>'];
  for (const [i, command] of [...again, 'RSET', 'MAIL FROM:<b@sender.test>', 'RCPT TO:<postmaster@example.test>'].entries()) {
    const took = command.startsWith('RCPT') ? (command.includes('POSTMASTER') ? 'POSTMASTER@example.test' : 'postmaster@example.test') : undefined;
    assert.equal(step(command, 250, 4_000 + i * 1_000, took), 3_000, `${command} is no progress`);
  }
  assert.equal(step('RCPT TO:<bob@example.test>', 250, 18_000), 3_000, 'a RCPT answered 250 that the listener did not take (a recipient it left out) is not either');
  assert.equal(step('RCPT TO:<bob@example.test>', 250, 20_000, 'bob@example.test'), 20_000, 'a new recipient is');
  assert.equal(step('DATA', 354, 21_000), 21_000);
  activity.heard(Buffer.from('.'));
  activity.answered(250, 22_000);
  assert.equal(activity.idleSince(false), 22_000, 'the message sent');
  assert.equal(step('MAIL FROM:<a@sender.test>', 250, 23_000), 23_000, 'the next message');
  assert.equal(step('RCPT TO:<postmaster@example.test>', 250, 24_000, 'postmaster@example.test'), 24_000, 'its recipients are new again');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseResultMail } from '../../../src-relay/quarantine/user-mail.ts';

const base = { to: 'a@example.test', hostname: 'relay.example.test', sender: 'alice@sender.test', subject: 'Invoice', receivedAt: Date.UTC(2026, 11, 1), now: Date.UTC(2026, 11, 7) };
/** The mail's text with its quoted-printable soft breaks joined. */
const text = async (outcome: Parameters<typeof releaseResultMail>[0]['outcome']) => (await releaseResultMail({ ...base, outcome })).replace(/=\r?\n/g, '');

test('the answer to a release request says what happened: approved, denied, deleted, or left to expire', async () => {
  assert.match(await text('approved'), /Subject: Released to you: Invoice[\s\S]*Your request was approved/);
  assert.match(await text('denied'), /Subject: Not released: Invoice[\s\S]*Your request was not approved\.[\s\S]*stays in quarantine\./);
  assert.match(await text('deleted'), /Your request was not approved\.[\s\S]*was deleted from the quarantine\./);
  const expired = await text('expired');
  assert.match(expired, /Subject: Not released: Invoice[\s\S]*Your request was not answered in time\.[\s\S]*removed from the quarantine when its time there ran out\./);
  assert.doesNotMatch(expired, /decided not to deliver/, 'nobody decided: it expired');
});

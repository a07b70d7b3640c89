import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeStateOf } from '../../../src-relay/queue/route-state.ts';
import type { DeliveryResult, RecipientOutcome } from '../../../src-relay/queue/delivery.ts';

// failures as queue/delivery.ts describes nodemailer's errors: the reply, its code, the command it answered
const failed = (address: string, command: string, response: string): RecipientOutcome => ({
  address,
  delivered: false,
  failure: { command, response, responseCode: Number(response.slice(0, 3)), message: response },
});
const tried = (outcomes: RecipientOutcome[], extra: Partial<DeliveryResult> = {}): DeliveryResult => ({ remoteMta: '127.0.0.1', unreachable: false, outcomes, ...extra });

test('a try that reached no server says the route is down', () => {
  const refused = { address: 'a@x.test', delivered: false, failure: { code: 'ESOCKET', originalCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED' } };
  assert.equal(routeStateOf(tried([refused], { unreachable: true })), 'down');
});

test('a server that puts the whole message off is refusing: back-pressure at MAIL FROM, a 4xx after the data, a 421 anywhere, a refused session', () => {
  assert.equal(routeStateOf(tried([failed('a@x.test', 'MAIL FROM', '452 4.3.1 Insufficient system resources')])), 'refusing');
  assert.equal(routeStateOf(tried([failed('a@x.test', 'DATA', '451 4.3.0 Queue file write error')])), 'refusing');
  assert.equal(routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '421 4.3.2 Service shutting down')])), 'refusing');
  assert.equal(routeStateOf(tried([failed('a@x.test', 'CONN', '421 4.3.2 Too busy')], { sessionRefused: true })), 'refusing');
  assert.equal(
    routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '452 4.3.1 Insufficient system storage'), failed('b@x.test', 'RCPT TO:<b@x.test>', '452 4.3.1 Insufficient system storage')])),
    'refusing',
    'every recipient refused for the server\'s own want of room',
  );
});

test('one mailbox that defers is that mailbox\'s trouble: the route stays up (full, greylisted, unknown status), and so does a refusal for good', () => {
  assert.equal(routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '452 4.2.2 Mailbox full')])), 'up');
  assert.equal(routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '451 4.7.1 Greylisted, try again later')])), 'up');
  assert.equal(routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '450 Requested mail action not taken')])), 'up');
  assert.equal(routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '451 4.3.0 mailbox busy')])), 'up', 'an undefined mail-system status, to one recipient');
  assert.equal(routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '451 4.4.1 mailbox server not answering')])), 'up');
  assert.equal(routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '452 Too many recipients')])), 'up', 'a bare 452 to a recipient says nothing of the server');
  assert.equal(routeStateOf(tried([failed('a@x.test', 'MAIL FROM', '550 5.7.1 Sender blocked')])), 'up', 'a verdict on the message, not a server in trouble');
  // one recipient refused for the server's room, the other for its mailbox: not every recipient says it is the server
  assert.equal(routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '452 4.3.1 Insufficient system storage'), failed('b@x.test', 'RCPT TO:<b@x.test>', '452 4.2.2 Mailbox full')])), 'up');
});

test('a try that delivered to anyone, or took the data without a reply, says the server takes mail', () => {
  const delivered: RecipientOutcome = { address: 'b@x.test', delivered: true, reply: '250 2.0.0 OK' };
  assert.equal(routeStateOf(tried([failed('a@x.test', 'RCPT TO:<a@x.test>', '452 4.3.1 Insufficient system storage'), delivered])), 'up');
  const noReply = { address: 'a@x.test', delivered: false, failure: { message: 'the connection ended (ECONNRESET)' } };
  assert.equal(routeStateOf(tried([noReply], { noReplyAfterData: true })), 'up');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Outbox } from '../../../src-relay/filters/thread-outbox.ts';

/** What arrives on `port` until `count` messages came (batches unpacked), with how many postings carried them. */
function receive(port: MessagePort, count: number): Promise<{ messages: unknown[]; postings: number }> {
  return new Promise((resolve) => {
    const messages: unknown[] = [];
    let postings = 0;
    port.on('message', (data: { t?: string; messages?: unknown[] }) => {
      postings++;
      messages.push(...(data.t === 'batch' ? data.messages! : [data]));
      if (messages.length >= count) {
        port.close();
        resolve({ messages, postings });
      }
    });
  });
}

test('the messages of one turn go in one posting, in order; a later turn gets its own', async () => {
  const { port1, port2 } = new MessageChannel();
  const outbox = new Outbox<{ n: number }>(port1);
  const arrived = receive(port2, 4);
  outbox.send({ n: 1 });
  outbox.send({ n: 2 });
  outbox.send({ n: 3 });
  await new Promise((resolve) => setImmediate(resolve));
  outbox.send({ n: 4 });
  const { messages, postings } = await arrived;
  assert.deepEqual(messages, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
  assert.equal(postings, 2);
  port1.close();
});

test('a message that cannot be cloned fails alone: the others of its turn arrive, its sender is told', async () => {
  const { port1, port2 } = new MessageChannel();
  const outbox = new Outbox<{ n: number; f?: () => void }>(port1);
  const arrived = receive(port2, 2);
  const failures: string[] = [];
  outbox.send({ n: 1 });
  outbox.send({ n: 2, f: () => {} }, (error) => failures.push(error.name));
  outbox.send({ n: 3 });
  const { messages } = await arrived;
  assert.deepEqual(messages, [{ n: 1 }, { n: 3 }]);
  assert.deepEqual(failures, ['DataCloneError']);
  port1.close();
});

test('what waits when its thread is gone is dropped', async () => {
  const { port1, port2 } = new MessageChannel();
  const outbox = new Outbox<{ n: number }>(port1);
  const arrived = receive(port2, 1);
  outbox.send({ n: 1 });
  outbox.clear();
  await new Promise((resolve) => setImmediate(resolve));
  outbox.send({ n: 2 });
  assert.deepEqual((await arrived).messages, [{ n: 2 }]);
  port1.close();
});

// `moat queue list` and `moat queue show` print what senders wrote (subject, HELO, a part header quoted in a
// filter's reason) on the admin's terminal: an escape sequence in it must not reach the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../helpers/relay.ts';
import { reservePort } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';
import { formatMessageDetail, formatQueueList } from '../../src-relay/queue/format.ts';

const CONTROLS = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

test('queue list and queue show print no control character a sender sent: an ESC or C1 control becomes "?"', async () => {
  // nothing listens on the internal port: the mail stays queued, for queue list to show it
  const relay = await startRelay(await reservePort(), { filters: { enabled: true } });
  try {
    const queued = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('hidden \x1b[8m secret \u009b2J'));
    const queuedId = /queued as ([0-9A-Z]{22})/.exec(queued.response)![1]!;
    // an unknown transfer encoding in a part: the walk's reason quotes it, and the message is kept in quarantine
    const part = 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n';
    const body = '--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x\x1b[8m\r\n\r\nhi\r\n--b--\r\n';
    const kept = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('part header', body, part));
    const keptId = /queued as ([0-9A-Z]{22})/.exec(kept.response)![1]!;

    const list = formatQueueList(relay.relay.queue, Date.now());
    // the subject is stored without its controls; the reason quotes the part header as sent
    assert.match(list, /"hidden \??\[8m secret \??2J"/);
    const shown = formatMessageDetail(relay.relay.queue, queuedId)!;
    assert.match(shown, /^subject: +hidden \??\[8m secret \??2J$/m);
    const quarantined = formatMessageDetail(relay.relay.queue, keptId)!;
    assert.match(quarantined, /^status: +quarantined$/m);
    assert.match(quarantined, /unknown transfer encoding "x\?\[8m"/);
    for (const text of [list, shown, quarantined]) assert.doesNotMatch(text, CONTROLS);
  } finally {
    await relay.stop();
  }
});

// Downloading a message file (.eml) over the admin listener: a one-time link asked for through the admin API (session +
// CSRF), used by the same session within a minute, answered as an attachment with the spool file's exact bytes, and
// written down in the message's history. A real admin host (`moat serve`'s) with a relay and an SMTP sink behind it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startHost, type AdminClient, type TestHost } from '../helpers/admin.ts';
import { Sink } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';
import { DOWNLOAD_TOKEN_MS, MAX_DOWNLOAD_TOKENS } from '../../src-relay/admin/downloads.ts';

const TEST_TIMEOUT_MS = 60_000;
let sink: Sink;
let world: TestHost;
/** The host's clock runs this far ahead of the real one (a link's minute passes without waiting for it). */
let skew = 0;

before(async () => {
  // the internal server defers everything: the messages stay queued, with their files
  sink = await Sink.start({ onRecipient: () => ({ code: 451, text: '4.3.0 try later' }) });
  world = await startHost(
    {
      hostname: 'relay.example.test',
      domains: ['example.test'],
      internal: { host: '127.0.0.1', port: sink.port, tls: 'none' },
      queue: { retryIntervalsSec: [3600] },
      filters: { enabled: false },
    },
    { clock: () => Date.now() + skew },
  );
  assert.equal(world.host.state, 'running');
});
after(async () => {
  await world.stop();
  await sink.stop();
});

async function queued(subject: string): Promise<string> {
  const port = Number(world.host.relay!.addresses.mx.split(':').pop());
  const info = await send(port, 'ann@sender.test', ['bob@example.test'], message(subject, 'Line one.\r\n\u00e9t\u00e9 in UTF-8, and a NUL-free binary-ish line: \x7f\r\n'));
  return /queued as (\S+)/.exec(info.response)![1]!;
}

function get(path: string, client?: AdminClient, headers: Record<string, string> = {}) {
  return fetch(`${world.base}/${path}`, { headers: { ...(client?.cookie ? { cookie: client.cookie } : {}), ...headers } });
}

test('an .eml download needs a session and a link made for it, returns the exact spool bytes, and is written down', { timeout: TEST_TIMEOUT_MS }, async () => {
  const admin = await world.admin();
  const id = await queued('download me');
  const spooled = readFileSync(world.host.relay!.queue.spool.path(id));

  const link = await admin.call('queue.download', { id });
  assert.match(link.url, /^api\/download\/[A-Za-z0-9_-]{43}$/, 'relative, like every URL of the UI');
  assert.ok(link.expiresAt > Date.now() + skew);

  const anonymous = await get(link.url);
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { code: string }).code, 'UNAUTHENTICATED');
  const other = await world.admin();
  const stranger = await get(link.url, other);
  assert.equal(stranger.status, 403, "another admin session cannot use this session's link");
  assert.equal(((await stranger.json()) as { code: string }).code, 'DOWNLOAD_LINK_INVALID');
  assert.equal((await get('api/download/not-a-token', admin)).status, 403);

  const answer = await get(link.url, admin);
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get('content-type'), 'message/rfc822');
  assert.equal(answer.headers.get('content-disposition'), `attachment; filename="${id}.eml"`);
  assert.equal(answer.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(answer.headers.get('cache-control'), 'no-store');
  assert.ok(Buffer.from(await answer.arrayBuffer()).equals(spooled), 'byte for byte the spool file');
  const history = world.host.relay!.queue.store.history(id).filter((row) => row.action === 'DOWNLOADED');
  assert.deepEqual(
    history.map((row) => row.detail),
    ['downloaded by admin@127.0.0.1'],
  );
  const trace = await admin.call('tracking.trace', { id });
  assert.ok(trace.history.some((event) => event.text === 'Downloaded by admin@127.0.0.1'), 'the trace says who took a copy');

  const again = await get(link.url, admin);
  assert.equal(again.status, 403, 'a link works once');
  assert.equal(world.host.relay!.queue.store.history(id).filter((row) => row.action === 'DOWNLOADED').length, 1);
});

test('asking for a link needs the CSRF header, names a message that still has its file, and a link lasts a minute', { timeout: TEST_TIMEOUT_MS }, async () => {
  const admin = await world.admin();
  const id = await queued('csrf');
  const forged = await admin.raw('queue.download', { id }, { 'x-moat-csrf': 'wrong' });
  assert.deepEqual([forged.status, forged.body.code], [403, 'CSRF']);
  const anonymous = await world.client().raw('queue.download', { id });
  assert.deepEqual([anonymous.status, anonymous.body.code], [401, 'UNAUTHENTICATED']);
  const unknown = await admin.raw('queue.download', { id: 'NOSUCHMESSAGE00000000' });
  assert.deepEqual([unknown.status, unknown.body.code], [404, 'MESSAGE_NOT_FOUND']);

  // just inside its minute it works; at the minute it does not
  const early = await admin.call('queue.download', { id });
  skew += DOWNLOAD_TOKEN_MS - 1000;
  assert.equal((await get(early.url, admin)).status, 200);
  const late = await admin.call('queue.download', { id });
  skew += DOWNLOAD_TOKEN_MS;
  const expired = await get(late.url, admin);
  assert.deepEqual([expired.status, ((await expired.json()) as { code: string }).code], [403, 'DOWNLOAD_LINK_INVALID']);

  await admin.call('queue.act', { action: 'delete', ids: [id] });
  const deleted = await admin.raw('queue.download', { id });
  assert.deepEqual([deleted.status, deleted.body.code], [404, 'MESSAGE_FILE_GONE']);
});

test('at most 100 links wait at once: a burst of 101 asked in parallel gets exactly 100, and expired ones make room', { timeout: TEST_TIMEOUT_MS }, async () => {
  skew += 2 * DOWNLOAD_TOKEN_MS; // the links of the tests before have expired
  const admin = await world.admin();
  const id = await queued('burst');
  const answers = await Promise.all(Array.from({ length: MAX_DOWNLOAD_TOKENS + 1 }, () => admin.raw('queue.download', { id })));
  const granted = answers.filter((answer) => answer.body.ok);
  const refused = answers.filter((answer) => !answer.body.ok);
  assert.equal(granted.length, MAX_DOWNLOAD_TOKENS);
  assert.deepEqual(refused.map((answer) => [answer.status, answer.body.code]), [[429, 'TOO_MANY_DOWNLOADS']]);
  // one used makes room for one more, and no more
  assert.equal((await get((granted[0]!.body.result as { url: string }).url, admin)).status, 200);
  assert.equal((await admin.raw('queue.download', { id })).body.ok, true);
  assert.equal((await admin.raw('queue.download', { id })).body.code, 'TOO_MANY_DOWNLOADS');
  skew += DOWNLOAD_TOKEN_MS;
  assert.equal((await admin.raw('queue.download', { id })).body.ok, true, 'expired links make room');
});

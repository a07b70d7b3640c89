import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AdminClient } from '../../../src-main/admin-client.ts';
import { MAX_API_BODY_BYTES, contentTypeOf, createAppProtocolHandler, resolveRendererPath, type ApiTarget } from '../../../src-main/protocol.ts';
import { CONTENT_SECURITY_POLICY } from '../../../src-main/security.ts';
import { json, startWireServer } from './wire-server.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const root = tempDir('moat-renderer-');
mkdirSync(join(root, 'assets'));
writeFileSync(join(root, 'index.html'), '<!doctype html><title>Moat</title>');
writeFileSync(join(root, 'assets', 'app-1234.js'), 'console.log(1)');
writeFileSync(join(root, '..', 'moat-outside-secret.txt'), 'secret');

function handler(apiTarget: () => ApiTarget | null = () => null) {
  return createAppProtocolHandler({ rendererRoot: root, readFile: (path) => readFile(path), apiTarget });
}

test('/ serves index.html and files below the renderer build', () => {
  assert.equal(resolveRendererPath(root, '/'), join(root, 'index.html'));
  assert.equal(resolveRendererPath(root, '/index.html'), join(root, 'index.html'));
  assert.equal(resolveRendererPath(root, '/assets/app-1234.js'), join(root, 'assets', 'app-1234.js'));
  assert.equal(resolveRendererPath(root, '/assets/a%20b.js'), join(root, 'assets', 'a b.js'));
});

test('paths that would leave the renderer build are refused', () => {
  for (const path of ['/../moat-outside-secret.txt', '/%2e%2e/moat-outside-secret.txt', '/assets/..%2f..%2fmoat-outside-secret.txt', '/..%5cmoat-outside-secret.txt', '/assets%5c..%5c..%5cx', '/index.html%00.js', '/%E0%A4%A', 'index.html', '//etc/passwd']) {
    const resolved = resolveRendererPath(root, path);
    assert.ok(resolved === null || resolved.startsWith(root + '/'), `${path} -> ${resolved}`);
    if (path !== '//etc/passwd') assert.equal(resolved, null, path);
  }
});

test('content types come from the extension; unknown ones are not sniffed', () => {
  assert.equal(contentTypeOf('/x/index.html'), 'text/html; charset=utf-8');
  assert.equal(contentTypeOf('/x/app.JS'), 'text/javascript; charset=utf-8');
  assert.equal(contentTypeOf('/x/data.bin'), 'application/octet-stream');
});

test('app://moat/ answers with the file, the CSP and nosniff', async () => {
  const response = await handler()(new Request('app://moat/assets/app-1234.js'));
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'console.log(1)');
  assert.equal(response.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(response.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
});

test('a traversal through the protocol gets 403, a missing file 404, another host 403', async () => {
  const serve = handler();
  const traversal = await serve(new Request('app://moat/assets/..%2f..%2fmoat-outside-secret.txt'));
  assert.equal(traversal.status, 403);
  assert.doesNotMatch(await traversal.text(), /secret$/);
  assert.equal((await serve(new Request('app://moat/nope.js'))).status, 404);
  assert.equal((await serve(new Request('app://other/index.html'))).status, 403);
  assert.equal((await serve(new Request('app://moat/index.html', { method: 'POST', body: 'x' }))).status, 403);
});

test('/api/ while no relay runs answers RELAY_NOT_READY in the API\'s error shape', async () => {
  const response = await handler()(new Request('app://moat/api/queue.summary', { method: 'POST', body: '{}' }));
  assert.equal(response.status, 503);
  assert.equal(((await response.json()) as { code: string }).code, 'RELAY_NOT_READY');
});

test('/api/ calls reach the hosted relay with the bearer token and without the page\'s cookies', async () => {
  const upstream = await startWireServer((_req, res) => json(res, 200, { ok: true, result: { size: 0, oldest: null, held: 0, queueHeld: false } }, { 'set-cookie': 'moat_session=abc; HttpOnly' }));
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 'secret-token' } });
    const response = await handler(() => client)(
      new Request('app://moat/api/queue.summary', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', cookie: 'stolen=1', authorization: 'Bearer page-token', origin: 'https://evil.example' } }),
    );
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true, result: { size: 0, oldest: null, held: 0, queueHeld: false } });
    assert.equal(response.headers.get('set-cookie'), null, 'no cookie reaches the page');
    assert.equal(response.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    const [seen] = upstream.seen;
    assert.equal(seen?.url, '/api/queue.summary');
    assert.equal(seen?.headers.authorization, 'Bearer secret-token');
    assert.equal(seen?.headers.cookie, undefined);
    assert.equal(seen?.headers.origin, undefined);
    assert.equal(seen?.headers['content-type'], 'application/json');
    assert.equal(seen?.body, '{}');
  } finally {
    await upstream.close();
  }
});

test('an error answer of the relay passes through with its status and code', async () => {
  const upstream = await startWireServer((_req, res) => json(res, 404, { ok: false, code: 'QUEUE_ITEM_GONE', message: 'gone' }));
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 't' } });
    const response = await handler(() => client)(new Request('app://moat/api/queue.delete', { method: 'POST', body: '{"id":"x"}' }));
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { code: string }).code, 'QUEUE_ITEM_GONE');
  } finally {
    await upstream.close();
  }
});

test('the live event stream is passed through as it comes', async () => {
  const upstream = await startWireServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.write('event: queue\ndata: {"size":1,"oldest":5,"held":0,"queueHeld":false}\n\n');
  });
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 't' } });
    const abort = new AbortController();
    const response = await handler(() => client)(new Request('app://moat/api/events', { signal: abort.signal }));
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /^event: queue\ndata: \{"size":1/);
    abort.abort();
    await reader.cancel().catch(() => {});
  } finally {
    await upstream.close();
  }
});

test('an attached relay\'s expired session is renewed once and the request sent again', async () => {
  let logins = 0;
  const upstream = await startWireServer((req, res) => {
    if (req.url === '/api/auth.login') {
      logins++;
      return json(res, 200, { ok: true, result: { csrf: `csrf-${logins}` } }, { 'set-cookie': `moat_session=s${logins}; HttpOnly; SameSite=Strict` });
    }
    if (req.headers.cookie !== 'moat_session=s2' || req.headers['x-moat-csrf'] !== 'csrf-2') return json(res, 401, { ok: false, code: 'UNAUTHENTICATED', message: 'log in first' });
    json(res, 200, { ok: true, result: { done: true } });
  });
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'password', password: 'correct horse battery' } });
    const response = await handler(() => client)(new Request('app://moat/api/queue.holdAll', { method: 'POST', body: '{}' }));
    assert.equal(response.status, 200);
    assert.equal(logins, 2);
    assert.deepEqual(upstream.seen.map((req) => req.url), ['/api/auth.login', '/api/queue.holdAll', '/api/auth.login', '/api/queue.holdAll']);
    assert.equal(upstream.seen[3]?.body, '{}', 'the body is sent again');
    assert.equal(JSON.parse(upstream.seen[0]!.body).password, 'correct horse battery');
  } finally {
    await upstream.close();
  }
});

test('an unreachable relay answers RELAY_UNREACHABLE, not a hang or a crash', async () => {
  const upstream = await startWireServer(() => {});
  const baseUrl = upstream.baseUrl;
  await upstream.close();
  const client = new AdminClient({ baseUrl, auth: { kind: 'bearer', token: 't' } });
  const response = await handler(() => client)(new Request('app://moat/api/queue.summary', { method: 'POST', body: '{}' }));
  assert.equal(response.status, 502);
  assert.equal(((await response.json()) as { code: string }).code, 'RELAY_UNREACHABLE');
});

test('API paths and methods outside the API are refused before reaching the relay', async () => {
  const upstream = await startWireServer((_req, res) => json(res, 200, { ok: true, result: {} }));
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 't' } });
    const serve = handler(() => client);
    assert.equal((await serve(new Request('app://moat/api/../metrics'))).status, 404);
    assert.equal((await serve(new Request('app://moat/api/queue.summary', { method: 'DELETE' }))).status, 403);
    assert.equal((await serve(new Request('app://moat/api/a%2f..%2fmetrics'))).status, 404);
    assert.equal(upstream.seen.length, 0);
  } finally {
    await upstream.close();
  }
});

test('a request body larger than the limit is refused', async () => {
  const upstream = await startWireServer((_req, res) => json(res, 200, { ok: true, result: {} }));
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 't' } });
    const response = await handler(() => client)(
      new Request('app://moat/api/backup.restore', { method: 'POST', body: 'x', headers: { 'content-length': String(MAX_API_BODY_BYTES + 1) } }),
    );
    assert.equal(response.status, 413);
    assert.equal(upstream.seen.length, 0);
  } finally {
    await upstream.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { validateConfig } from '../../../src-relay/config/load.ts';
import { listenSettingOf } from '../../../src-relay/config/listen-setting.ts';
import { heldPort } from '../../helpers/held-port.ts';

/** The error Node gives a second program binding a held port. */
async function bindError(port: number): Promise<Error> {
  const server = createServer();
  return new Promise((resolve) => server.once('error', resolve).listen(port, '127.0.0.1'));
}

test('a listen error is named by the setting whose address it is, only that one; any other error by none', async () => {
  const held = await heldPort();
  try {
    const error = await bindError(held.port);
    const config = (listen: Record<string, unknown>) => {
      const result = validateConfig({ domains: ['example.test'], internal: { host: '127.0.0.1' }, ...listen });
      if (!result.ok) throw new Error(JSON.stringify(result.problems));
      return result.config;
    };
    assert.deepEqual(listenSettingOf(config({ submission: { tlsListen: `127.0.0.1:${held.port}` } }), error), { key: 'submission.tlsListen', words: '"TLS listener address" (submission.tlsListen) in Settings → Configuration → Accounts' });
    // the same port on another address, and another port: not it
    assert.equal(listenSettingOf(config({ submission: { tlsListen: `127.0.0.2:${held.port}` } }), error), null);
    assert.equal(listenSettingOf(config({ mx: { listen: `127.0.0.1:${held.port === 65535 ? 1 : held.port + 1}` } }), error), null);
    assert.equal(listenSettingOf(config({ mx: { listen: `127.0.0.1:${held.port}` } }), new Error('database is locked')), null);
  } finally {
    await held.release();
  }
});

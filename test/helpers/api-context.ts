import { join } from 'node:path';
import type { ApiContext } from '../../src-relay/admin/handlers/types.ts';
import type { Relay } from '../../src-relay/engine.ts';
import { silentLogger } from '../../src-relay/log/logger.ts';
import { ApiError } from '../../src-relay/admin/errors.ts';
import { noDnsResolver } from './relay.ts';

/** A host capability the test did not pass: calling it fails the test, naming what to pass. */
function missing(name: string): never {
  throw new Error(`apiContext: pass overrides.${name} (the admin host's capability)`);
}

/** The context a handler gets from the admin server, over a real relay (or none: the relay is not running). */
export function apiContext(relay: Relay | null, overrides: Partial<ApiContext> & { dataDir?: string } = {}): ApiContext {
  const dataDir = overrides.dataDir ?? relay?.dataDir ?? '/nonexistent';
  return {
    relay: () => {
      if (!relay) throw new ApiError('RELAY_NOT_RUNNING');
      return relay;
    },
    config: () => {
      if (!relay) throw new Error('apiContext: pass overrides.config when there is no relay');
      return relay.config;
    },
    status: { current: () => missing('status') },
    auth: {
      get passwordSet(): boolean {
        return missing('auth');
      },
      claim: () => missing('auth'),
      login: () => missing('auth'),
      logout: () => missing('auth'),
      setFirstPassword: () => missing('auth'),
      changePassword: () => missing('auth'),
    },
    downloads: { mint: () => missing('downloads') },
    settings: { saved: () => missing('settings'), revision: () => missing('settings'), check: () => missing('settings'), apply: () => missing('settings'), overridden: () => missing('settings'), differences: () => missing('settings') },
    dataDir,
    configFile: join(dataDir, 'moat.json'),
    actor: 'admin@127.0.0.1',
    clientIp: '127.0.0.1',
    logger: silentLogger,
    clock: Date.now,
    resolver: noDnsResolver,
    call: { caller: { kind: 'bearer' }, clientIp: '127.0.0.1', setSession: () => {} },
    ...overrides,
  };
}

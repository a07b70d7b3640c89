import { configKeys } from '../../config/docs.ts';
import type { configContract } from '../../config/contract.ts';
import type { AdminHost } from '../host.ts';
import type { Handlers } from './types.ts';

type ConfigMethods = Pick<typeof configContract, 'config.get' | 'config.validate' | 'config.apply'>;

/** Reading, checking and applying the configuration file (the wizard and the settings page). */
export function configHandlers(host: AdminHost) {
  return {
    'config.get': () => ({
      saved: host.savedConfig(),
      effective: JSON.parse(JSON.stringify(host.config)) as Record<string, unknown>,
      configured: host.state !== 'setup',
      overridden: host.overriddenKeys(),
      keys: configKeys(),
    }),
    'config.validate': (input) => ({ problems: host.check(input.config, input.complete) }),
    'config.apply': async (input) => {
      const status = await host.apply(input.config);
      return { state: status.state, error: status.error };
    },
  } satisfies Handlers<ConfigMethods>;
}

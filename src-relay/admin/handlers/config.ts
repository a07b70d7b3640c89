import { configFields } from '../../config/docs.ts';
import { FIELD_GROUPS } from '../../config/fields.ts';
import type { configContract } from '../../config/contract.ts';
import type { Handlers } from './types.ts';

type ConfigMethods = Pick<typeof configContract, 'config.get' | 'config.validate' | 'config.apply'>;

/** Reading, checking and applying the configuration file (the wizard and the settings page). */
export const configHandlers = {
  'config.get': (_input, { settings, config, status }) => {
    const saved = settings.saved();
    return {
    saved,
    notInForce: settings.differences(saved),
    revision: settings.revision(),
    effective: JSON.parse(JSON.stringify(config())) as Record<string, unknown>,
    configured: status.current().state !== 'setup',
    overridden: settings.overridden(),
    keys: configFields(),
    groups: FIELD_GROUPS.map((group) => ({ ...group })),
    };
  },
  'config.validate': (input, { settings }) => ({ problems: settings.check(input.config, input.complete) }),
  'config.apply': async (input, { settings }) => {
    const { state, error, notes } = await settings.apply(input.config, input.revision);
    return { state, error, notes };
  },
} satisfies Handlers<ConfigMethods>;

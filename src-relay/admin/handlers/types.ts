import type { z } from 'zod';
import type { ContractShape } from '../../util/contract-kit.ts';
import type { Relay } from '../../engine.ts';
import type { Config } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';
import type { Resolver } from '../../util/resolver.ts';
import type { CallInfo } from '../api.ts';

/** What every admin API handler gets besides its (already validated) input. */
export interface ApiContext {
  /** The running engine; throws ApiError('RELAY_NOT_RUNNING') while the relay is being set up or has failed. */
  relay(): Relay;
  /** The configuration in force (or, before setup, the defaults plus what the command line gave). */
  config(): Config;
  dataDir: string;
  /** The config file that config.apply writes. */
  configFile: string;
  /** Who did it, for history rows and logs: "admin@127.0.0.1". */
  actor: string;
  clientIp: string;
  logger: Logger;
  clock: () => number;
  /** DNS for probes that need it (tests inject fixtures). */
  resolver: Resolver;
  /** The caller and its session cookie (log-in, log-out); only the auth handlers use these. */
  call: CallInfo;
}

/** One handler per method of a contract slice: validated input in, the output schema's input type out. */
export type Handlers<C extends ContractShape> = {
  [K in keyof C]: (input: z.output<C[K]['input']>, context: ApiContext) => Promise<z.input<C[K]['output']>> | z.input<C[K]['output']>;
};

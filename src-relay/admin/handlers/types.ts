import type { z } from 'zod';
import type { ContractShape } from '../../util/contract-kit.ts';
import type { relayStatusSchema } from '../auth-contract.ts';
import type { AdminSession } from '../admin-auth.ts';
import type { Relay } from '../../engine.ts';
import type { Config } from '../../config/schema.ts';
import type { ConfigProblem } from '../../config/load.ts';
import type { Logger } from '../../log/logger.ts';
import type { Resolver } from '../../util/resolver.ts';

type Json = Record<string, unknown>;

/** The engine as the admin host sees it: running or not and why, its addresses, the delivery routes. */
export type RelayStatus = z.input<typeof relayStatusSchema>;

/** Who is calling: a cookie session (CSRF-checked), the bearer of the engine's start token, or nobody. */
export type Caller = { kind: 'session'; session: AdminSession } | { kind: 'bearer' } | { kind: 'anonymous' };

export interface CallInfo {
  caller: Caller;
  clientIp: string;
  /** Sets (or, with null, clears) the session cookie on this answer. */
  setSession(session: AdminSession | null): void;
}

/** The engine's state as the host keeps it (relay.status, config.get). */
export interface StatusCapability {
  current(): RelayStatus;
}

/** The admin log-in: the first-run claim, log-in and log-out, the password (the auth.* methods). */
export interface AuthCapability {
  readonly passwordSet: boolean;
  claim(token: string, password: string, clientIp: string): Promise<AdminSession>;
  login(password: string, clientIp: string): Promise<AdminSession>;
  logout(session: AdminSession | null): void;
  /** Only while no password is set (the desktop shell, holding the bearer token). */
  setFirstPassword(password: string): Promise<void>;
  /** Ends every other session; `keep` is the caller's own. */
  changePassword(current: string, password: string, keep: AdminSession | null, clientIp: string): Promise<void>;
}

/** The configuration file, which the wizard and the settings page edit (the config.* methods). */
export interface ConfigCapability {
  /** The file as saved (without the command line's settings). */
  saved(): Json;
  /** Which version of the file that is (changes with every byte of it; "none" without a file). */
  revision(): string;
  /** Problems of a configuration as the file would hold it; with `complete`, also what serving needs. */
  check(input: Json, complete: boolean): ConfigProblem[];
  /** Saves it whole and restarts the engine with it; on a failed start the previous file and engine come back. */
  apply(input: Json, revision?: string): Promise<RelayStatus & { notes: string[] }>;
  /** The keys the command line sets ("mx.listen"): the file's values for them apply only without those flags. */
  overridden(): string[];
  /** The settings of `saved` (the file) that the relay does not run with, each with both values. */
  differences(saved: Json): Array<{ key: string; running: unknown; file: unknown; atRestart: boolean }>;
}

/** One-time links to download a message file (admin/downloads.ts), for the caller's own session. */
export interface DownloadCapability {
  /** A token for message `id`; null when too many links are outstanding. */
  mint(id: string): { token: string; expiresAt: number } | null;
}

/** What every admin API handler gets besides its (already validated) input. */
export interface ApiContext {
  /** The running engine; throws ApiError('RELAY_NOT_RUNNING') while the relay is being set up or has failed. */
  relay(): Relay;
  /** The configuration in force (or, before setup, the defaults plus what the command line gave). */
  config(): Config;
  /** The engine's state (also while it is not running). */
  status: StatusCapability;
  /** The admin log-in; only the auth handlers use it. */
  auth: AuthCapability;
  /** The configuration file: as saved, checked, applied. */
  settings: ConfigCapability;
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
  /** Download links for the caller (queue.download). */
  downloads: DownloadCapability;
  /** The caller and its session cookie (log-in, log-out); only the auth handlers use these. */
  call: CallInfo;
}

/** One handler per method of a contract slice: validated input in, the output schema's input type out. */
export type Handlers<C extends ContractShape> = {
  [K in keyof C]: (input: z.output<C[K]['input']>, context: ApiContext) => Promise<z.input<C[K]['output']>> | z.input<C[K]['output']>;
};

import { isAbsolute } from 'node:path';
import type { Logger } from '../src-relay/log/logger.ts';

/** Electron's `process.parentPort` in a utility process, as far as the engine needs it. */
export interface ParentPortLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (event: { data: unknown }) => void): unknown;
}

export interface AdminHostHandle {
  /** null when the admin listener could not bind. */
  readonly adminAddress: string | null;
  stop(): Promise<void>;
}

/** `startAdminHost` of src-relay/admin/host.ts. */
export type StartAdminHost = (options: { dataDir: string; adminListen?: string; adminToken?: string; logger?: Logger }) => Promise<AdminHostHandle>;

/** Exit codes of the engine process: the supervisor shows the fatal message it posted before them. */
export const ENGINE_EXIT = { STOPPED: 0, FAILED: 1, USAGE: 2 } as const;

/** Where main puts the admin token for the engine; read once and removed, so processes the engine runs do not inherit it. */
export const ADMIN_TOKEN_ENV = 'MOAT_ADMIN_TOKEN';
/** A hosted engine's admin listener: loopback, any free port (main reads the port back from `ready`). */
export const HOSTED_ADMIN_LISTEN = '127.0.0.1:0';

export interface EngineProcessOptions {
  port: ParentPortLike;
  startHost: StartAdminHost;
  argv: string[];
  env: Record<string, string | undefined>;
  exit: (code: number) => void;
  logger: Logger;
}

/** `--data-dir DIR` from the arguments main forks the engine with; null when missing or not absolute. */
export function dataDirFromArgs(argv: string[]): string | null {
  const index = argv.indexOf('--data-dir');
  const value = index >= 0 ? argv[index + 1] : undefined;
  return value && isAbsolute(value) && !value.includes('\0') ? value : null;
}

/**
 * The engine's utility process: starts the admin host, posts `{ type: 'ready', adminAddress }`, and on
 * `{ type: 'stop' }` stops it gracefully and exits 0. A failure is posted as `{ type: 'fatal', message }` first.
 */
export async function runEngineProcess(options: EngineProcessOptions): Promise<void> {
  const { port, exit, logger } = options;
  const fatal = (message: string, code: number) => {
    port.postMessage({ type: 'fatal', message });
    exit(code);
  };
  const dataDir = dataDirFromArgs(options.argv);
  if (!dataDir) return fatal('the engine was started without an absolute --data-dir', ENGINE_EXIT.USAGE);
  const adminToken = options.env[ADMIN_TOKEN_ENV];
  delete options.env[ADMIN_TOKEN_ENV];

  let host: AdminHostHandle | null = null;
  let stopRequested = false;
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      try {
        await host?.stop();
        exit(ENGINE_EXIT.STOPPED);
      } catch (error) {
        logger.error({ error: (error as Error).message }, 'ENGINE_STOP_FAILED');
        fatal(`the relay did not stop cleanly: ${(error as Error).message}`, ENGINE_EXIT.FAILED);
      }
    })();
  };
  port.on('message', (event) => {
    const data = event?.data as { type?: unknown } | undefined;
    if (data?.type !== 'stop') return;
    stopRequested = true;
    if (host) stop();
  });

  try {
    host = await options.startHost({ dataDir, adminListen: HOSTED_ADMIN_LISTEN, adminToken, logger });
  } catch (error) {
    logger.error({ error: (error as Error).message }, 'ENGINE_START_FAILED');
    return fatal((error as Error).message, ENGINE_EXIT.FAILED);
  }
  if (stopRequested) return stop();
  if (!host.adminAddress) {
    await host.stop().catch(() => {});
    return fatal(`the admin listener could not bind ${HOSTED_ADMIN_LISTEN}`, ENGINE_EXIT.FAILED);
  }
  port.postMessage({ type: 'ready', adminAddress: host.adminAddress });
}

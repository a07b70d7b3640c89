import { z } from 'zod';
import type { Logger } from '../src-relay/log/logger.ts';
import type { RelayStatus } from './bridge.ts';

/** The engine's utility process as the supervisor needs it (main adapts Electron's UtilityProcess to this). */
export interface EngineChild {
  postMessage(message: EngineCommand): void;
  /** Ends the process at once (SIGTERM, then Electron's own kill); the exit listener still runs. */
  kill(): void;
  onMessage(listener: (message: unknown) => void): void;
  onExit(listener: (code: number) => void): void;
}

export type EngineCommand = { type: 'stop' };

/** What the engine process posts to main (src-main/engine-process.ts). */
export const engineMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), adminAddress: z.string().min(1).max(300) }),
  z.object({ type: z.literal('fatal'), message: z.string().max(4000) }),
]);

export type EngineMessage = z.infer<typeof engineMessageSchema>;

export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface RestartPolicy {
  /** Wait before the first restart after a crash. */
  initialDelayMs: number;
  /** Each further fast crash multiplies the wait by this. */
  factor: number;
  /** The wait never grows past this. */
  maxDelayMs: number;
  /** A run this long after becoming ready was stable: the next crash starts the count again. */
  stableAfterMs: number;
  /** This many crashes in a row, each before the run was stable, and the supervisor gives up. */
  maxFastCrashes: number;
  /** An engine that has not said `ready` by then is killed and counted as a crash (recovering a big spool is slow). */
  readyTimeoutMs: number;
  /** On stop, the engine gets this long to finish open transactions (its own grace is 30 s by default) before a kill. */
  stopTimeoutMs: number;
  /** After a kill, give up waiting for the exit after this long, so that quitting never hangs. */
  killWaitMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1_000,
  factor: 2,
  maxDelayMs: 60_000,
  stableAfterMs: 5 * 60_000,
  maxFastCrashes: 5,
  readyTimeoutMs: 120_000,
  stopTimeoutMs: 45_000,
  killWaitMs: 5_000,
};

/** After the n-th fast crash in a row (n >= 1): restart after a growing, capped wait, or give up. */
export function restartDecision(fastCrashes: number, policy: RestartPolicy): { action: 'restart'; delayMs: number } | { action: 'give-up' } {
  if (fastCrashes >= policy.maxFastCrashes) return { action: 'give-up' };
  const delayMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** Math.max(0, fastCrashes - 1));
  return { action: 'restart', delayMs };
}

export interface SupervisorOptions {
  fork: () => EngineChild;
  clock?: () => number;
  timers?: Timers;
  logger: Logger;
  policy?: Partial<RestartPolicy>;
  onStatus?: (status: RelayStatus) => void;
}

/**
 * Keeps the engine's utility process running: starts it, restarts it with exponential backoff when it dies,
 * gives up after `maxFastCrashes` fast crashes in a row (showing the last error), and stops it gracefully.
 */
export class EngineSupervisor {
  private readonly fork: () => EngineChild;
  private readonly clock: () => number;
  private readonly timers: Timers;
  private readonly logger: Logger;
  private readonly policy: RestartPolicy;
  private readonly onStatus: (status: RelayStatus) => void;
  private child: EngineChild | null = null;
  private readyAt: number | null = null;
  private lastError: string | null = null;
  private fastCrashes = 0;
  private timer: unknown = null;
  private stopping: Promise<void> | null = null;
  private exited: (() => void) | null = null;
  private current: RelayStatus = { state: 'stopped', mode: 'host' };

  constructor(options: SupervisorOptions) {
    this.fork = options.fork;
    this.clock = options.clock ?? Date.now;
    this.timers = options.timers ?? realTimers;
    this.logger = options.logger;
    this.policy = { ...DEFAULT_RESTART_POLICY, ...options.policy };
    this.onStatus = options.onStatus ?? (() => {});
  }

  get status(): RelayStatus {
    return this.current;
  }

  /** Starts the engine; after the supervisor gave up, starts afresh (the crash count is reset). */
  start(): void {
    if (this.child || this.timer !== null || this.stopping) return;
    this.fastCrashes = 0;
    this.lastError = null;
    this.spawn();
  }

  /** Asks the engine to stop, kills it after `stopTimeoutMs`; resolves once it has exited (or could not be waited for). */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.clearTimer();
    const child = this.child;
    if (!child) {
      this.setStatus({ state: 'stopped', mode: 'host' });
      return Promise.resolve();
    }
    this.setStatus({ state: 'stopping', mode: 'host' });
    this.logger.info({}, 'ENGINE_STOPPING');
    this.stopping = new Promise<void>((resolve) => {
      this.exited = resolve;
      child.postMessage({ type: 'stop' });
      this.timer = this.timers.set(() => {
        this.logger.warn({ waitedMs: this.policy.stopTimeoutMs }, 'ENGINE_KILLED');
        child.kill();
        this.timer = this.timers.set(() => {
          this.logger.error({}, 'ENGINE_EXIT_NOT_SEEN');
          this.finishStop();
        }, this.policy.killWaitMs);
      }, this.policy.stopTimeoutMs);
    });
    return this.stopping;
  }

  private finishStop(): void {
    this.clearTimer();
    this.child = null;
    this.stopping = null;
    this.setStatus({ state: 'stopped', mode: 'host' });
    const resolve = this.exited;
    this.exited = null;
    resolve?.();
  }

  private spawn(): void {
    this.timer = null;
    this.readyAt = null;
    this.setStatus({ state: 'starting', mode: 'host' });
    let child: EngineChild;
    try {
      child = this.fork();
    } catch (error) {
      this.lastError = `the engine process could not be started: ${(error as Error).message}`;
      this.crashed(null);
      return;
    }
    this.child = child;
    this.logger.info({}, 'ENGINE_STARTING');
    child.onMessage((raw) => this.onMessage(child, raw));
    child.onExit((code) => this.onExit(child, code));
    this.timer = this.timers.set(() => {
      if (this.child !== child || this.readyAt !== null) return;
      this.lastError = `the engine did not become ready within ${Math.round(this.policy.readyTimeoutMs / 1000)} s`;
      this.logger.error({ waitedMs: this.policy.readyTimeoutMs }, 'ENGINE_NOT_READY');
      child.kill();
    }, this.policy.readyTimeoutMs);
  }

  private onMessage(child: EngineChild, raw: unknown): void {
    if (child !== this.child) return;
    const parsed = engineMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.logger.warn({}, 'ENGINE_MESSAGE_REFUSED');
      return;
    }
    const message = parsed.data;
    if (message.type === 'fatal') {
      this.lastError = message.message;
      this.logger.error({ error: message.message }, 'ENGINE_FATAL');
      return;
    }
    if (this.stopping) return;
    this.clearTimer();
    this.readyAt = this.clock();
    this.logger.info({ admin: message.adminAddress }, 'ENGINE_READY');
    this.setStatus({ state: 'running', mode: 'host', address: message.adminAddress });
  }

  private onExit(child: EngineChild, code: number): void {
    if (child !== this.child) return;
    if (this.stopping) {
      this.logger.info({ code }, 'ENGINE_STOPPED');
      this.finishStop();
      return;
    }
    this.clearTimer();
    this.child = null;
    this.lastError ??= `the engine exited with code ${code}`;
    this.logger.error({ code, error: this.lastError }, 'ENGINE_EXITED');
    this.crashed(this.readyAt);
  }

  private crashed(readyAt: number | null): void {
    const stable = readyAt !== null && this.clock() - readyAt >= this.policy.stableAfterMs;
    this.fastCrashes = stable ? 1 : this.fastCrashes + 1;
    const decision = restartDecision(this.fastCrashes, this.policy);
    if (decision.action === 'give-up') {
      const error = this.lastError ?? 'the engine stopped';
      this.logger.error({ crashes: this.fastCrashes, error }, 'ENGINE_GAVE_UP');
      this.setStatus({ state: 'failed', mode: 'host', error });
      return;
    }
    const retryAt = this.clock() + decision.delayMs;
    this.logger.warn({ attempt: this.fastCrashes, delayMs: decision.delayMs }, 'ENGINE_RESTART_SCHEDULED');
    this.setStatus({ state: 'restarting', mode: 'host', attempt: this.fastCrashes, retryAt, lastError: this.lastError });
    this.lastError = null;
    this.timer = this.timers.set(() => this.spawn(), decision.delayMs);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }

  private setStatus(status: RelayStatus): void {
    this.current = status;
    this.onStatus(status);
  }
}

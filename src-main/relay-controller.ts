import type { Logger } from '../src-relay/log/logger.ts';
import { AdminClient, baseUrlFromAddress, type AdminClientOptions } from './admin-client.ts';
import type { RelayPlan } from './attach.ts';
import type { RelayStatus } from './bridge.ts';
import type { NotificationPolicy, NotificationRequest } from './notifications.ts';
import type { ApiTarget } from './protocol.ts';
import { RelayWatch, type RelaySnapshot } from './relay-watch.ts';
import { EngineSupervisor, type EngineChild, type RestartPolicy, type Timers } from './supervisor.ts';

export interface RelayControllerOptions {
  logger: Logger;
  notifications: NotificationPolicy;
  /** Starts the engine's utility process on a data directory, handing it the admin token. */
  forkEngine(dataDir: string, adminToken: string): EngineChild;
  /** A fresh random admin token for each hosted engine. */
  newToken(): string;
  createClient?: (options: AdminClientOptions) => AdminClient;
  timers?: Timers;
  clock?: () => number;
  restartPolicy?: Partial<RestartPolicy>;
  onStatus(status: RelayStatus): void;
  onSnapshot(snapshot: RelaySnapshot): void;
  onNotify(request: NotificationRequest): void;
}

/**
 * The managed relay, whichever it is: a hosted engine (supervised utility process, called with a bearer token)
 * or an attached service (called with the stored password). It owns the admin client and the watch, and says
 * what state the relay is in.
 */
export class RelayController {
  private plan: RelayPlan | null = null;
  private supervisor: EngineSupervisor | null = null;
  private client: AdminClient | null = null;
  private watch: RelayWatch | null = null;
  private current: RelayStatus = { state: 'stopped', mode: 'host' };
  private readonly createClient: (options: AdminClientOptions) => AdminClient;

  constructor(private readonly options: RelayControllerOptions) {
    this.createClient = options.createClient ?? ((clientOptions) => new AdminClient(clientOptions));
  }

  get status(): RelayStatus {
    return this.current;
  }

  /** Where app://moat/api goes now, or null while the relay is not reachable. */
  get apiTarget(): ApiTarget | null {
    return this.current.state === 'running' || this.current.state === 'unreachable' ? this.client : null;
  }

  get snapshot(): RelaySnapshot | null {
    return this.watch?.snapshot ?? null;
  }

  /** Holds or releases the whole queue of the relay (the tray's pause and resume). */
  async holdQueue(hold: boolean): Promise<boolean> {
    if (!this.watch) return false;
    return (await this.watch.holdQueue(hold)).ok;
  }

  start(plan: RelayPlan): void {
    this.plan = plan;
    if (plan.kind === 'host') return this.host(plan.dataDir);
    if (plan.kind === 'needs-password') {
      return this.setStatus({ state: 'failed', mode: 'attach', error: `no password is stored for ${plan.baseUrl}: choose the relay again in Settings and give its admin password` });
    }
    this.client = this.createClient({ baseUrl: plan.baseUrl, auth: { kind: 'password', password: plan.password } });
    this.setStatus({ state: 'starting', mode: 'attach' });
    this.follow(this.client);
  }

  /** Stops following the relay, and stops a hosted engine gracefully. */
  async stop(): Promise<void> {
    this.unfollow();
    const supervisor = this.supervisor;
    this.supervisor = null;
    if (supervisor) await supervisor.stop();
    this.setStatus({ state: 'stopped', mode: this.plan?.kind === 'host' || !this.plan ? 'host' : 'attach' });
  }

  /** After a give-up (hosted) or a refused password (attached): the same plan again. */
  async retry(): Promise<RelayStatus> {
    const plan = this.plan;
    if (!plan) return this.current;
    if (plan.kind === 'host' && this.supervisor) {
      this.supervisor.start();
      return this.current;
    }
    await this.stop();
    this.start(plan);
    return this.current;
  }

  private host(dataDir: string): void {
    const token = this.options.newToken();
    this.supervisor = new EngineSupervisor({
      fork: () => this.options.forkEngine(dataDir, token),
      logger: this.options.logger,
      timers: this.options.timers,
      clock: this.options.clock,
      policy: this.options.restartPolicy,
      onStatus: (status) => {
        if (status.state === 'running') {
          this.client = this.createClient({ baseUrl: baseUrlFromAddress(status.address), auth: { kind: 'bearer', token } });
          this.follow(this.client);
        } else this.unfollow();
        this.setStatus(status);
      },
    });
    this.supervisor.start();
  }

  private follow(client: AdminClient): void {
    this.watch?.stop();
    this.watch = new RelayWatch({
      client,
      policy: this.options.notifications,
      logger: this.options.logger,
      timers: this.options.timers,
      clock: this.options.clock,
      onNotify: this.options.onNotify,
      onChange: (snapshot) => {
        if (this.plan?.kind === 'attach') this.setStatus(this.attachStatus(snapshot, client.baseUrl));
        this.options.onSnapshot(snapshot);
      },
    });
    this.watch.start();
  }

  private attachStatus(snapshot: RelaySnapshot, address: string): RelayStatus {
    if (snapshot.connected) return { state: 'running', mode: 'attach', address };
    if (!snapshot.error) return { state: 'starting', mode: 'attach' };
    if (!snapshot.error.retrying) return { state: 'failed', mode: 'attach', error: snapshot.error.message };
    return { state: 'unreachable', mode: 'attach', address, error: snapshot.error.message };
  }

  private unfollow(): void {
    this.watch?.stop();
    this.watch = null;
    this.client = null;
  }

  private setStatus(status: RelayStatus): void {
    const same = JSON.stringify(status) === JSON.stringify(this.current);
    this.current = status;
    if (!same) this.options.onStatus(status);
  }
}

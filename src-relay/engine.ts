import { mkdirSync } from 'node:fs';
import { promises as dns } from 'node:dns';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from './config/schema.ts';
import { splitHostPort } from './config/load.ts';
import { resolveLogger, type Logger } from './log/logger.ts';
import { openDatabase, type Db } from './store/db.ts';
import { QueueStore } from './store/queue-store.ts';
import { Spool } from './store/spool.ts';
import { Queue } from './queue/queue.ts';
import { Deliverer, type Resolver } from './queue/delivery.ts';
import { Scheduler, type RouteState } from './queue/scheduler.ts';
import { MxListener } from './smtp/mx-listener.ts';
import { loadOrCreateTls } from './smtp/tls.ts';
import { createRelayEvents, type RelayEvents } from './events.ts';

export interface RelayOptions {
  /** DNS for MX delivery; tests pass fixture records so no real DNS is asked. */
  resolver?: Resolver;
  logger?: Logger | boolean;
  clock?: () => number;
}

export interface Relay {
  readonly config: Config;
  readonly dataDir: string;
  readonly queue: Queue;
  readonly events: RelayEvents;
  /** Where the listeners ended up (port 0 resolved). */
  readonly addresses: { mx: string };
  routeStates(): RouteState[];
  /** Messages whose spool file was missing or torn at start (raised loudly; not delivered). */
  readonly damaged: string[];
  stop(): Promise<void>;
}

/** The paths a data directory holds. */
export function dataPaths(dataDir: string) {
  return { config: join(dataDir, 'moat.json'), spool: join(dataDir, 'spool'), db: join(dataDir, 'moat.db') };
}

/** Opens the store of a data dir without starting anything: what the CLI's queue commands work on. */
export function openStore(dataDir: string, config: Config, logger: Logger, clock: () => number = Date.now) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db: Db = openDatabase(dataDir);
  const store = new QueueStore(db);
  const spool = new Spool(dataPaths(dataDir).spool);
  const queue = new Queue({ store, spool, hostname: config.hostname ?? osHostname(), domains: new Set(config.domains), logger, clock });
  return { db, queue };
}

/** Composition root: the store, the queue, delivery and the inbound listener, started in that order. */
export async function createRelay(config: Config, dataDir: string, options: RelayOptions = {}): Promise<Relay> {
  const logger = resolveLogger(options.logger);
  const clock = options.clock ?? Date.now;
  const hostname = config.hostname ?? osHostname();
  const { db, queue } = openStore(dataDir, config, logger, clock);
  const events = createRelayEvents();
  try {
    const { removed, damaged } = await queue.recover();
    if (removed > 0) logger.info({ files: removed }, 'SPOOL_CLEANED');
    const deliverer = new Deliverer({ config, hostname, spool: queue.spool, resolver: options.resolver ?? dns, logger });
    const scheduler = new Scheduler({ queue, deliverer, config, logger, clock, events });
    const tls = await loadOrCreateTls(dataDir, hostname, config.mx.tls.cert, config.mx.tls.key);
    const mx = new MxListener({ config, hostname, queue, tls, logger, events, clock });
    const { host, port } = splitHostPort(config.mx.listen);
    const bound = await mx.listen(host, port);
    scheduler.start();
    const mxAddress = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
    logger.info({ mx: mxAddress, queued: queue.store.summary().size, damaged: damaged.length }, 'STARTED');
    let stopping: Promise<void> | null = null;
    return {
      config,
      dataDir,
      queue,
      events,
      damaged,
      addresses: { mx: mxAddress },
      routeStates: () => scheduler.routeStates(),
      stop() {
        stopping ??= (async () => {
          await mx.stop();
          await scheduler.stop(config.shutdownGraceSec * 1000);
          queue.flushHistory();
          db.close();
          logger.info({}, 'STOPPED');
        })();
        return stopping;
      },
    };
  } catch (error) {
    db.close();
    throw error;
  }
}

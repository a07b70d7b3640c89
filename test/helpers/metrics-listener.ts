import { hostname as osHostname } from 'node:os';
import type { Config } from '../../src-relay/config/schema.ts';
import type { Logger } from '../../src-relay/log/logger.ts';
import type { Monitor } from '../../src-relay/monitor/index.ts';
import { addMonitorRoutes } from '../../src-relay/monitor/http.ts';
import { loadOrCreateTls } from '../../src-relay/smtp/tls.ts';
import { AdminServer } from '../../src-relay/http/server.ts';
import { Router } from '../../src-relay/http/router.ts';
import { adminTlsPair } from '../../src-relay/http/tls.ts';
import { ApiError } from '../../src-relay/admin/errors.ts';

/**
 * For tests that start the engine alone (no admin host): its monitor's /metrics and /healthz on config.admin.listen,
 * as `moat serve` serves them. Started before the engine, like the host's, so the engine's monitor sees it bound.
 */
export async function startMetricsListener(options: { config: Config; dataDir: string; logger: Logger; monitor: () => Monitor | null }): Promise<AdminServer> {
  const { config, dataDir, logger } = options;
  const monitor = () => {
    const current = options.monitor();
    if (!current) throw new ApiError('RELAY_NOT_RUNNING');
    return current;
  };
  const router = addMonitorRoutes(new Router(), new Proxy({} as Monitor, { get: (_, key) => Reflect.get(monitor(), key, monitor()) }));
  const tls = await adminTlsPair(config, () => loadOrCreateTls(dataDir, config.hostname ?? osHostname(), config.mx.tls.cert, config.mx.tls.key));
  const server = new AdminServer({ listen: config.admin.listen, router, logger, tls });
  await server.start();
  return server;
}

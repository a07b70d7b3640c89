import { sendError, sendJson, sendText, type Router } from '../http/router.ts';
import type { Monitor } from './index.ts';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus.ts';

/** The monitor's slice of the admin listener: /metrics (Prometheus) and /healthz. Open to anyone who reaches the listener. */
export function addMonitorRoutes(router: Router, monitor: Monitor): Router {
  router.get('/metrics', async ({ res }) => {
    sendText(res, 200, PROMETHEUS_CONTENT_TYPE, await monitor.prometheus());
  });
  router.get('/healthz', ({ res }) => {
    const health = monitor.health();
    if (!health) return sendError(res, 'UNAVAILABLE', 'the database cannot be read; the reason is in the relay log');
    sendJson(res, health.status === 'ok' ? 200 : 503, health);
  });
  return router;
}

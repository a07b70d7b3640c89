import { rmSync } from 'node:fs';
import { tempDir } from './temp-dir.ts';
import { validateConfig, mergeConfig } from '../../src-relay/config/load.ts';
import { createRelay, type Relay } from '../../src-relay/engine.ts';
import type { Resolver } from '../../src-relay/util/resolver.ts';
import { fixtureResolver as dnsFixtures } from '../../src-relay/util/fixture-resolver.ts';
import type { Filter } from '../../src-relay/filters/types.ts';
import { resolveLogger, type Logger } from '../../src-relay/log/logger.ts';
import type { MonitorOptions } from '../../src-relay/monitor/index.ts';
import { startMetricsListener } from './metrics-listener.ts';


export interface TestRelay {
  relay: Relay;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** A relay on 127.0.0.1:0 with its own temp data dir, delivering example.test to `internalPort`. */
export async function startRelay(
  internalPort: number,
  overrides: Record<string, unknown> = {},
  options: { resolver?: Resolver; dataDir?: string; clock?: () => number; filters?: Filter[]; logger?: Logger; verifyPassword?: (password: string, hash: string) => Promise<boolean>; certificateCheckMs?: number; monitor?: MonitorOptions; userPageRetryBindMs?: number; previewDeadlineMs?: number } = {},
): Promise<TestRelay> {
  const dataDir = options.dataDir ?? tempDir();
  const base = {
    hostname: 'relay.example.test',
    domains: ['example.test'],
    mx: { listen: '127.0.0.1:0' },
    // never the default 8025: test relays run side by side
    admin: { listen: '127.0.0.1:0' },
    internal: { host: '127.0.0.1', port: internalPort, tls: 'none' },
    queue: { retryIntervalsSec: [1] },
    // the fixture DNS puts the remote MX hosts on loopback addresses
    outbound: { allowPrivateMxAddresses: true },
    // the core suites compare delivered bytes with the spool file; filter suites pass { filters: { enabled: true } }
    filters: { enabled: false },
    shutdownGraceSec: 2,
  };
  const result = validateConfig(mergeConfig(base, overrides));
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const logger = resolveLogger(options.logger ?? false);
  let started: Relay | null = null;
  const admin = await startMetricsListener({ config: result.config, dataDir, logger, monitor: () => started?.monitor ?? null });
  const relay = await createRelay(result.config, dataDir, {
    resolver: options.resolver ?? noDnsResolver,
    logger,
    clock: options.clock,
    filters: options.filters,
    verifyPassword: options.verifyPassword,
    certificateCheckMs: options.certificateCheckMs,
    userPageRetryBindMs: options.userPageRetryBindMs,
    previewDeadlineMs: options.previewDeadlineMs,
    monitor: options.monitor,
    adminListener: () => ({ address: admin.address, error: admin.error }),
  }).catch(async (error: Error) => {
    await admin.stop();
    throw error;
  });
  started = relay;
  const port = Number(relay.addresses.mx.split(':').pop());
  return {
    relay,
    port,
    dataDir,
    async stop() {
      await admin.stop();
      await relay.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A resolver that fails every look-up (SERVFAIL), as a broken DNS does: no test ever asks the real DNS. */
export const refusingResolver: Resolver = {
  resolveMx: async () => Promise.reject(Object.assign(new Error('no DNS in tests'), { code: 'ESERVFAIL' })),
  resolve4: async () => [],
  resolve6: async () => [],
  resolveTxt: async () => Promise.reject(Object.assign(new Error('no DNS in tests'), { code: 'ESERVFAIL' })),
};

/**
 * The test relays' DNS where a test gives none: no sender publishes anything (TXT: no such name, so no SPF, DKIM key
 * or DMARC policy), and MX look-ups fail as in a DNS outage (mail for the internet waits in the queue). A DMARC
 * policy that cannot be looked up defers a message (sender-auth.ts): a SERVFAIL for TXT would defer every one.
 */
export const noDnsResolver: Resolver = {
  ...refusingResolver,
  resolveTxt: async (name) => Promise.reject(Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' })),
};

/**
 * Fixture DNS: MX records and addresses, everything on loopback; `txt` maps a name to its TXT records (SPF, DKIM
 * keys, DMARC), each given whole and split into 255-octet character-strings as DNS carries them.
 */
export function fixtureResolver(
  mx: Record<string, { exchange: string; priority: number }[]>,
  hosts: Record<string, string[]>,
  txt: Record<string, string[]> = {},
): Resolver {
  return dnsFixtures({ mx, hosts, txt });
}

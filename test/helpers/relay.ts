import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, mergeConfig } from '../../src-relay/config/load.ts';
import { createRelay, type Relay } from '../../src-relay/engine.ts';
import type { Resolver } from '../../src-relay/queue/delivery.ts';

export function tempDir(prefix = 'moat-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

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
  options: { resolver?: Resolver; dataDir?: string; clock?: () => number } = {},
): Promise<TestRelay> {
  const dataDir = options.dataDir ?? tempDir();
  const base = {
    hostname: 'relay.example.test',
    domains: ['example.test'],
    mx: { listen: '127.0.0.1:0' },
    internal: { host: '127.0.0.1', port: internalPort, tls: 'none' },
    queue: { retryIntervalsSec: [1] },
    shutdownGraceSec: 2,
  };
  const result = validateConfig(mergeConfig(base, overrides));
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const relay = await createRelay(result.config, dataDir, { resolver: options.resolver ?? refusingResolver, logger: false, clock: options.clock });
  const port = Number(relay.addresses.mx.split(':').pop());
  return {
    relay,
    port,
    dataDir,
    async stop() {
      await relay.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A resolver that fails every look-up: no test ever asks the real DNS. */
export const refusingResolver: Resolver = {
  resolveMx: async () => Promise.reject(Object.assign(new Error('no DNS in tests'), { code: 'ESERVFAIL' })),
  resolve4: async () => [],
  resolve6: async () => [],
};

/** Fixture DNS: MX records and addresses, everything on loopback. */
export function fixtureResolver(mx: Record<string, { exchange: string; priority: number }[]>, hosts: Record<string, string[]>): Resolver {
  const missing = (name: string, code: string) => Object.assign(new Error(`${code} ${name}`), { code });
  return {
    resolveMx: async (domain) => {
      const records = mx[domain];
      if (!records) throw missing(domain, hosts[domain] ? 'ENODATA' : 'ENOTFOUND');
      return records;
    },
    resolve4: async (host) => (hosts[host] ?? []).filter((ip) => ip.includes('.')),
    resolve6: async (host) => (hosts[host] ?? []).filter((ip) => ip.includes(':')),
  };
}

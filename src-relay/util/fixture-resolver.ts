import { readFileSync } from 'node:fs';
import type { Resolver } from './resolver.ts';

/** DNS answers given in advance: MX records, host addresses and TXT records by name. Nothing else exists. */
export interface DnsFixtures {
  mx?: Record<string, { exchange: string; priority: number }[]>;
  hosts?: Record<string, string[]>;
  txt?: Record<string, string[]>;
}

/**
 * A Resolver that asks no DNS server: it answers from fixtures and says ENOTFOUND for every other name. Tests and
 * offline diagnostics use it (`MOAT_DNS_FIXTURES=FILE moat serve ...`); a relay in service uses the system resolver.
 */
export function fixtureResolver({ mx = {}, hosts = {}, txt = {} }: DnsFixtures): Resolver {
  const missing = (name: string, code: string) => Object.assign(new Error(`${code} ${name}`), { code });
  return {
    resolveMx: async (domain) => {
      const records = mx[domain];
      if (!records) throw missing(domain, hosts[domain] ? 'ENODATA' : 'ENOTFOUND');
      return records;
    },
    resolve4: async (host) => (hosts[host] ?? []).filter((ip) => ip.includes('.')),
    resolve6: async (host) => (hosts[host] ?? []).filter((ip) => ip.includes(':')),
    resolveTxt: async (name) => {
      const records = txt[name.toLowerCase()];
      if (!records) throw missing(name, 'ENOTFOUND');
      return records.map((record) => record.match(/[\s\S]{1,255}/g) ?? ['']);
    },
    resolvePtr: async (name) => Promise.reject(missing(name, 'ENOTFOUND')),
  };
}

/** The fixtures file named by MOAT_DNS_FIXTURES (JSON of DnsFixtures), or undefined for the system resolver. */
export function resolverFromEnvironment(env: NodeJS.ProcessEnv = process.env): Resolver | undefined {
  const file = env.MOAT_DNS_FIXTURES;
  if (!file) return undefined;
  return fixtureResolver(JSON.parse(readFileSync(file, 'utf8')) as DnsFixtures);
}

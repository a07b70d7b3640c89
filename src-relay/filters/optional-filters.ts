import type { Config } from '../config/schema.ts';
import type { Resolver } from '../util/resolver.ts';
import { DnsCache } from '../util/dns-cache.ts';
import { RspamdFilter } from './rspamd.ts';
import { SenderAuthFilter, type AuthResolver } from './sender-auth.ts';
import { SpamdFilter } from './spamd.ts';
import type { Filter } from './types.ts';

export interface OptionalFiltersOptions {
  /** The relay's DNS (node:dns in production, fixture records in tests); sender authentication needs TXT look-ups. */
  resolver: Resolver;
  hostname: string;
  /** For the DNS cache's expiry (ms since the epoch); tests pass their own. */
  clock?: () => number;
}

/**
 * Sender authentication, rspamd and spamd as `filters.senderAuth`, `filters.rspamd` and `filters.spamd` ask for them:
 * what `createContentPipeline` takes as its `filters` option. Sender authentication with a resolver that cannot
 * look up TXT records is a wiring mistake, so it throws at start rather than check nothing. Sender authentication asks
 * DNS through a cache of its own (util/dns-cache.ts): a burst from one sending domain asks each record once.
 */
export function createOptionalFilters(config: Config, options: OptionalFiltersOptions): Filter[] {
  const { senderAuth, rspamd, spamd } = config.filters;
  const filters: Filter[] = [];
  if (senderAuth.enabled) {
    if (!options.resolver.resolveTxt) throw new Error('sender authentication needs a resolver with resolveTxt');
    filters.push(
      new SenderAuthFilter({
        resolver: new DnsCache({ resolver: options.resolver, clock: options.clock }) as AuthResolver,
        hostname: options.hostname,
        dmarcReject: senderAuth.dmarcReject,
        dmarcQuarantine: senderAuth.dmarcQuarantine,
        scores: {
          spfFail: senderAuth.spfFailScore,
          spfSoftfail: senderAuth.spfSoftfailScore,
          dkimFail: senderAuth.dkimFailScore,
          dmarcFail: senderAuth.dmarcFailScore,
        },
      }),
    );
  }
  if (rspamd.address) filters.push(new RspamdFilter({ address: rspamd.address, maxBytes: rspamd.maxBytes, hostname: options.hostname }));
  if (spamd.address) filters.push(new SpamdFilter({ address: spamd.address, maxBytes: spamd.maxBytes, user: spamd.user }));
  return filters;
}

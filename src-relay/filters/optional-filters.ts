import type { Config } from '../config/schema.ts';
import type { Resolver } from '../util/resolver.ts';
import { RspamdFilter } from './rspamd.ts';
import { lookupByType, type AuthResolver } from './sender-auth.ts';
import { FilterThread, type FilterThreadOptions } from './filter-thread.ts';
import { SenderAuthWorker } from './sender-auth-worker.ts';
import { SpamdFilter } from './spamd.ts';
import type { Filter } from './types.ts';

export interface OptionalFiltersOptions {
  /** The relay's DNS (node:dns in production, fixture records in tests); sender authentication needs TXT look-ups. */
  resolver: Resolver;
  hostname: string;
}

/**
 * The filter thread (filter-thread.ts): the MIME walk, and sender authentication when `filters.senderAuth` is on.
 * Sender authentication with a resolver that cannot look up TXT records is a wiring mistake, so it throws at start
 * rather than check nothing. The thread keeps the DNS cache (util/dns-cache.ts): a burst from one sending domain
 * asks each record once, and only then of this thread's resolver. The thread starts when the first client is let in
 * (MxListener's warmFilters), or with the first request.
 */
export function createFilterThread(config: Config, options: OptionalFiltersOptions & Pick<FilterThreadOptions, 'onStopped' | 'onStarted'>): FilterThread {
  const { senderAuth } = config.filters;
  if (senderAuth.enabled && !options.resolver.resolveTxt) throw new Error('sender authentication needs a resolver with resolveTxt');
  return new FilterThread({
    onStopped: options.onStopped,
    onStarted: options.onStarted,
    lookup: lookupByType(options.resolver as AuthResolver),
    senderAuth: senderAuth.enabled
      ? {
          hostname: options.hostname,
          dmarcReject: senderAuth.dmarcReject,
          dmarcQuarantine: senderAuth.dmarcQuarantine,
          unchecked: config.filters.unchecked,
          scores: {
            spfFail: senderAuth.spfFailScore,
            spfSoftfail: senderAuth.spfSoftfailScore,
            dkimFail: senderAuth.dkimFailScore,
            dmarcFail: senderAuth.dmarcFailScore,
          },
        }
      : null,
  });
}

/**
 * Sender authentication (in the filter thread), rspamd and spamd as `filters.senderAuth`, `filters.rspamd` and
 * `filters.spamd` ask for them: what `createContentPipeline` takes as its `filters` option.
 */
export function createOptionalFilters(config: Config, options: { hostname: string; thread: FilterThread }): Filter[] {
  const { senderAuth, rspamd, spamd } = config.filters;
  const filters: Filter[] = [];
  if (senderAuth.enabled) filters.push(new SenderAuthWorker(options.thread));
  if (rspamd.address) filters.push(new RspamdFilter({ address: rspamd.address, maxBytes: rspamd.maxBytes, hostname: options.hostname }));
  if (spamd.address) filters.push(new SpamdFilter({ address: spamd.address, maxBytes: spamd.maxBytes, user: spamd.user }));
  return filters;
}

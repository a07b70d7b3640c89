import type { Config } from '../config/schema.ts';
import type { Db } from '../store/db.ts';
import { AccountStore } from '../auth/account-store.ts';
import { clamdVersion } from '../filters/clamav.ts';
import { rspamdPing } from '../filters/rspamd.ts';
import { spamdPing } from '../filters/spamd.ts';
import type { MonitorHooks } from './types.ts';

/**
 * The facts the other parts of the relay can already tell the monitor: clamd's VERSION (engine and signature date)
 * when a clamd address is configured, whether the configured junk engines answer their ping (rspamd's /ping,
 * spamd's PING; none configured: an empty list), and the accounts the circuit breaker suspended. Options given to
 * the engine (tests, the desktop app) win over these.
 */
export function defaultHooks(config: Config, db: Db): MonitorHooks {
  const hooks: MonitorHooks = {};
  const clamd = config.filters.clamav.address;
  if (clamd) {
    hooks.clamav = async () => {
      try {
        const version = await clamdVersion(clamd);
        return { version: version.raw, signatureDate: version.signatureDate };
      } catch {
        return null;
      }
    };
  }
  const { rspamd, spamd } = config.filters;
  const engines = [
    ...(rspamd.address ? [{ filter: 'rspamd', address: rspamd.address, ping: rspamdPing }] : []),
    ...(spamd.address ? [{ filter: 'spamd', address: spamd.address, ping: spamdPing }] : []),
  ];
  hooks.spamEngines = () =>
    Promise.all(
      engines.map(({ filter, address, ping }) =>
        ping(address).then(
          () => ({ name: `${filter} at ${address}`, filter, reachable: true }),
          (error: Error) => ({ name: `${filter} at ${address}`, filter, reachable: false, detail: error.message }),
        ),
      ),
    );
  let accounts: AccountStore | null = null;
  hooks.suspendedAccounts = () => {
    accounts ??= new AccountStore(db);
    return accounts
      .list()
      .filter((account) => account.suspendedAt !== null)
      .map((account) => account.name);
  };
  return hooks;
}

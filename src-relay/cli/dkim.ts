// `moat dkim ...`: the DKIM keys outgoing mail is signed with, one per sender domain, in DATA/dkim/.
import { DkimKeyError, DkimKeyStore, defaultSelector, dnsRecord, type DkimKey } from '../dkim/keys.ts';
import { normalizeDomain } from '../util/address.ts';
import { dkimDir } from '../submission/index.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, formatTime, type CommandIo } from './io.ts';

export const DKIM_USAGE = `  moat dkim   generate DOMAIN [--selector S] | show DOMAIN | list | remove DOMAIN   [--data-dir DIR]`;

export async function dkimCommand(dataDir: string, args: string[], flags: { selector?: string | undefined }, io: CommandIo, now: () => number = Date.now): Promise<number> {
  const [action, domainText, ...extra] = args;
  const usage = (text: string) => {
    io.err(`moat: ${text}\nusage:\n${DKIM_USAGE}\n`);
    return EXIT_USAGE;
  };
  if (extra.length > 0) return usage(`unexpected arguments: ${extra.join(' ')}`);
  if (flags.selector !== undefined && action !== 'generate') return usage('--selector goes with "dkim generate"');
  const keys = new DkimKeyStore(dkimDir(dataDir));
  if (action === 'list') {
    if (domainText !== undefined) return usage('dkim list takes no domain');
    const all = keys.list();
    if (all.length === 0) io.out('no DKIM keys (make one with "moat dkim generate DOMAIN")\n');
    for (const key of all) io.out(`${key.domain}  selector ${key.selector}  made ${formatTime(key.createdAt)}  record ${dnsRecord(key).name}\n`);
    return EXIT_OK;
  }
  if (!action || !['generate', 'show', 'remove'].includes(action)) return usage(`unknown dkim action ${JSON.stringify(action ?? '')}`);
  if (domainText === undefined) return usage(`dkim ${action} needs a domain`);
  const domain = normalizeDomain(domainText);
  if (!domain) return usage(`"${domainText}" is not a valid domain name`);
  switch (action) {
    case 'generate': {
      let key: DkimKey;
      try {
        key = await keys.generate(domain, flags.selector ?? defaultSelector(new Date(now())), now());
      } catch (error) {
        if (!(error instanceof DkimKeyError)) throw error;
        io.err(`moat: ${error.message}\n`);
        return EXIT_FAILED;
      }
      io.out(
        `DKIM key for ${key.domain} made (RSA 2048, selector ${key.selector}); mail whose From address is at ${key.domain} is signed from now on.\n` +
          `Publish this TXT record in the ${key.domain} zone (until it is there, receivers treat the mail as unsigned):\n\n`,
      );
      printRecord(io, key);
      return EXIT_OK;
    }
    case 'show': {
      const key = keys.get(domain);
      if (!key) {
        io.err(`moat: no DKIM key for ${domain}\n`);
        return EXIT_FAILED;
      }
      io.out(`DKIM key for ${key.domain}, selector ${key.selector}, made ${formatTime(key.createdAt)}:\n\n`);
      printRecord(io, key);
      return EXIT_OK;
    }
    default: {
      if (!keys.remove(domain)) {
        io.err(`moat: no DKIM key for ${domain}\n`);
        return EXIT_FAILED;
      }
      io.out(`DKIM key for ${domain} removed; its mail is no longer signed (leave the TXT record published until mail already sent has been read)\n`);
      return EXIT_OK;
    }
  }
}

function printRecord(io: CommandIo, key: DkimKey): void {
  const record = dnsRecord(key);
  io.out(`${record.zoneLine}\n\nOr, for a DNS provider's web form:\n  type:  TXT\n  name:  ${record.name}\n  value: ${record.value}\n`);
}

import type { Config } from '../config/schema.ts';
import type { Db } from '../store/db.ts';
import type { Logger } from '../log/logger.ts';
import { AttachmentFilter, type AttachmentOptions } from './attachments.ts';
import { BuiltinRulesFilter } from './builtin-rules.ts';
import { ClamavFilter } from './clamav.ts';
import { FilterPipeline, type PipelineOptions } from './pipeline.ts';
import { SenderLists } from './sender-lists.ts';
import { PersonalLists } from './personal-lists.ts';
import type { Filter, SealedPass } from './types.ts';
import { addressDomain, domainSet, inDomains } from '../util/address.ts';

export interface ContentPipelineOptions {
  db: Db;
  logger: Logger;
  /** More filters (sender authentication, rspamd, spamd; tests add their own), run beside the built-in ones. */
  filters?: readonly Filter[];
  clock?: () => number;
  /** The relay's host name (its digests and bounces come from postmaster@ it); config.hostname unless given. */
  hostname?: string;
  /** The MIME walk (the filter thread's in the relay); filters/mime.ts's parseMessageFile in this thread unless given. */
  parse?: PipelineOptions['parse'];
}

/** The content filters the configuration asks for, in one pipeline; null when filtering is off. */
export function createContentPipeline(config: Config, options: ContentPipelineOptions): FilterPipeline | null {
  const settings = config.filters;
  if (!settings.enabled) return null;
  const filters: Filter[] = [...scanFilters(config)];
  filters.push(...(options.filters ?? []));
  filters.push(new BuiltinRulesFilter({ domains: config.domains, hostname: options.hostname ?? config.hostname, scores: settings.rules, clock: options.clock }));
  return new FilterPipeline({
    filters,
    timeoutMs: settings.timeoutSec * 1000,
    unchecked: settings.unchecked,
    policy: policyOf(config),
    senderLists: new SenderLists(options.db),
    personalLists: new PersonalLists(options.db),
    ownDomains: domainSet(config.domains),
    logger: options.logger,
    parse: options.parse,
  });
}

/**
 * What the office's own mail (the submission listeners) is checked for: the virus scanner and the attachment rules,
 * as inbound. A stolen password must not carry what the mx listener refuses to the colleagues, or out. No junk
 * scoring, lists or sender authentication: the sender logged in. Null when filtering is off or neither is configured.
 */
export function createSubmissionScan(config: Config, options: Pick<ContentPipelineOptions, 'logger' | 'parse'>): FilterPipeline | null {
  const settings = config.filters;
  const sealedPass = sealedPassOf(config);
  const filters = settings.enabled ? scanFilters(config, { encryptedArchivesPass: sealedPass }) : [];
  if (filters.length === 0) return null;
  return new FilterPipeline({
    filters,
    timeoutMs: settings.timeoutSec * 1000,
    unchecked: settings.unchecked,
    sealedPass,
    policy: policyOf(config),
    logger: options.logger,
    parse: options.parse,
  });
}

/**
 * `submission.encryptedArchives: send` lets the office's sealed content (a password-protected zip, a rar, S/MIME) go
 * out unchecked, to outside recipients only: a stolen password must not carry it to the colleagues past the checks,
 * so a message with any recipient in our domains is not let through unchecked (the submission scan refuses it).
 */
function sealedPassOf(config: Config): SealedPass | undefined {
  if (config.submission.encryptedArchives !== 'send') return undefined;
  const own = domainSet(config.domains);
  return ({ recipients }) => recipients.every((address) => addressDomain(address) !== null && !inDomains(address, own));
}

/** The virus scanner and the attachment rules, as far as they are configured. */
function scanFilters(config: Config, pass: Pick<AttachmentOptions, 'encryptedArchivesPass'> = {}): Filter[] {
  const settings = config.filters;
  const filters: Filter[] = [];
  if (settings.clamav.address) {
    filters.push(
      new ClamavFilter({
        address: settings.clamav.address,
        infected: settings.clamav.infected,
        onProblem: settings.clamav.onProblem,
        streamMaxBytes: settings.clamav.streamMaxBytes,
        ...pass,
      }),
    );
  }
  if (settings.attachments.enabled) {
    filters.push(new AttachmentFilter({ action: settings.attachments.action, blockedExtensions: settings.attachments.blockedExtensions, scanArchives: settings.attachments.scanArchives, unchecked: settings.unchecked, ...pass }));
  }
  return filters;
}

function policyOf(config: Config): PipelineOptions['policy'] {
  const { tagScore, quarantineScore, rejectScore, failMode } = config.filters;
  return { tagScore, quarantineScore, rejectScore, failMode };
}

import type { Config } from '../config/schema.ts';
import type { Db } from '../store/db.ts';
import type { Logger } from '../log/logger.ts';
import { AttachmentFilter } from './attachments.ts';
import { BuiltinRulesFilter } from './builtin-rules.ts';
import { ClamavFilter } from './clamav.ts';
import { FilterPipeline, type PipelineOptions } from './pipeline.ts';
import { SenderLists } from './sender-lists.ts';
import { PersonalLists } from './personal-lists.ts';
import type { Filter } from './types.ts';

export interface ContentPipelineOptions {
  db: Db;
  logger: Logger;
  /** More filters (sender authentication, rspamd, spamd; tests add their own), run beside the built-in ones. */
  filters?: readonly Filter[];
  clock?: () => number;
  /** The MIME walk (the filter thread's in the relay); filters/mime.ts's parseMessageFile in this thread unless given. */
  parse?: PipelineOptions['parse'];
}

/** The content filters the configuration asks for, in one pipeline; null when filtering is off. */
export function createContentPipeline(config: Config, options: ContentPipelineOptions): FilterPipeline | null {
  const settings = config.filters;
  if (!settings.enabled) return null;
  const filters: Filter[] = [];
  if (settings.clamav.address) {
    filters.push(
      new ClamavFilter({
        address: settings.clamav.address,
        infected: settings.clamav.infected,
        onProblem: settings.clamav.onProblem,
        streamMaxBytes: settings.clamav.streamMaxBytes,
      }),
    );
  }
  if (settings.attachments.enabled) {
    filters.push(new AttachmentFilter({ action: settings.attachments.action, blockedExtensions: settings.attachments.blockedExtensions, scanArchives: settings.attachments.scanArchives, unchecked: settings.unchecked }));
  }
  filters.push(...(options.filters ?? []));
  filters.push(new BuiltinRulesFilter({ domains: config.domains, scores: settings.rules, clock: options.clock }));
  return new FilterPipeline({
    filters,
    timeoutMs: settings.timeoutSec * 1000,
    unchecked: settings.unchecked,
    policy: { tagScore: settings.tagScore, quarantineScore: settings.quarantineScore, rejectScore: settings.rejectScore, failMode: settings.failMode },
    senderLists: new SenderLists(options.db),
    personalLists: new PersonalLists(options.db),
    logger: options.logger,
    parse: options.parse,
  });
}

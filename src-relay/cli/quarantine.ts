// `moat quarantine ...` and `moat senders ...`: the quarantine and the sender allow/deny lists, on the data directory
// while `serve` runs (SQLite, WAL): a release is picked up by the running relay's scheduler within a second, a list
// change applies to the next message.
import type { Config } from '../config/schema.ts';
import type { ConfigProblem, ConfigResult } from '../config/load.ts';
import { missingStore, openServedStore, openStore } from '../engine.ts';
import { silentLogger } from '../log/logger.ts';
import { Quarantine } from '../quarantine/quarantine.ts';
import { ownDomainAllowProblem, SenderLists } from '../filters/sender-lists.ts';
import { MAX_PERSONAL_ENTRIES, PersonalLists } from '../filters/personal-lists.ts';
import { formatDecision } from '../filters/policy.ts';
import { terminalSafe } from '../util/terminal-text.ts';
import { typedQueueId, notAQueueId } from '../util/ids.ts';
import { splitAddress } from '../util/address.ts';
import { QuarantineDigest, isInternalRecipient, userPageBase, type DigestPlan } from '../quarantine/digest.ts';
import { hostname } from 'node:os';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, cliActor, formatTime, type CommandIo } from './io.ts';

export const QUARANTINE_USAGE = `  moat quarantine  list [--search TEXT] | show ID | release ID [--allow-sender] | delete ID   [--data-dir DIR]
                   | digest [--now] [--to ADDRESS]  (what the users' digest would list; --now sends it)
  moat senders     allow ADDRESS|@DOMAIN [--note TEXT] | deny ADDRESS|@DOMAIN [--note TEXT]
                   | remove ADDRESS|@DOMAIN | list                                         [--data-dir DIR]
  moat senders personal  list [RECIPIENT] [--search TEXT] | allow|block RECIPIENT ADDRESS|@DOMAIN
                   | remove RECIPIENT ADDRESS|@DOMAIN   (a user's own lists)           [--data-dir DIR]`;

export interface QuarantineCliContext {
  resolve: () => { dataDir: string; configFile: string; result: ConfigResult };
  refuseConfig: (configFile: string, problems: ConfigProblem[]) => number;
  flags: { domain?: string[] | undefined; search?: string | undefined; note?: string | undefined; 'allow-sender'?: boolean | undefined; now?: boolean | undefined; to?: string | undefined };
  /** Who is acting, as history and the release header record it. */
  actor?: string;
}

/** The config and data dir; `mail`: the command reads mail the relay kept, so a folder without moat.db is a mistake. */
function open(context: QuarantineCliContext, io: CommandIo, mail = false): { config: Config; dataDir: string } | number {
  const { dataDir, configFile, result } = context.resolve();
  if (!result.ok) return context.refuseConfig(configFile, result.problems);
  const missing = mail ? missingStore(dataDir) : null;
  if (missing) {
    io.err(`moat: ${missing}\n`);
    return EXIT_FAILED;
  }
  return { config: result.config, dataDir };
}

export async function quarantineCommand(args: string[], context: QuarantineCliContext, io: CommandIo): Promise<number> {
  const [action, typed, ...extra] = args;
  const usage = (problem: string) => {
    io.err(`moat: ${problem}\n${QUARANTINE_USAGE}\n`);
    return EXIT_USAGE;
  };
  if (extra.length) return usage(`unexpected arguments: ${extra.join(' ')}`);
  if (action === 'digest') {
    if (typed !== undefined) return usage(`quarantine digest takes no arguments, got ${JSON.stringify(typed)}`);
    return digestCommand(context, io, usage);
  }
  if (context.flags.now || context.flags.to !== undefined) return usage('--now and --to go with "quarantine digest"');
  if (!action || !['list', 'show', 'release', 'delete'].includes(action)) return usage(`unknown quarantine action ${JSON.stringify(action ?? '')}`);
  if (action === 'list' ? typed !== undefined : typed === undefined) return usage(action === 'list' ? 'quarantine list takes no id' : `quarantine ${action} needs a queue id`);
  const id = typed === undefined ? undefined : typedQueueId(typed);
  if (id === null) {
    io.err(`moat: ${notAQueueId(typed!, 'moat quarantine list')}\n`);
    return EXIT_USAGE;
  }
  if (context.flags['allow-sender'] && action !== 'release') return usage('--allow-sender goes with "quarantine release"');
  const opened = open(context, io, true);
  if (typeof opened === 'number') return opened;
  const { db, queue } = openServedStore(opened.dataDir, opened.config, silentLogger, Boolean(context.flags.domain));
  const quarantine = new Quarantine({ queue, senders: new SenderLists(db), hostname: opened.config.hostname ?? hostname(), ownDomains: opened.config.domains, logger: silentLogger });
  const actor = context.actor ?? cliActor();
  const missing = () => {
    io.err(`moat: no quarantined message ${id}\n`);
    return EXIT_FAILED;
  };
  try {
    switch (action) {
      case 'list': {
        const rows = quarantine.list({ search: context.flags.search });
        const total = quarantine.count(context.flags.search);
        const shown = rows.length < total ? `; the newest ${rows.length} below (narrow it with --search, or see all on the admin page)` : '';
        io.out(`${total} message(s) in quarantine${context.flags.search ? ` matching "${terminalSafe(context.flags.search)}"` : ''}${shown}\n`);
        for (const row of rows) {
          io.out(
            `${row.id}  ${formatTime(row.receivedAt)}  score ${String(row.score ?? '-').padStart(6)}  <${terminalSafe(row.sender)}> -> ${terminalSafe(row.recipients.join(', '))}` +
              `  "${terminalSafe(row.subject ?? '')}"\n      ${terminalSafe(row.reason ?? '')}\n`,
          );
        }
        return EXIT_OK;
      }
      case 'show': {
        const preview = await quarantine.preview(id!);
        if (!preview) return missing();
        const { message } = preview;
        const lines = [
          `id:          ${message.id} (in quarantine since ${formatTime(message.receivedAt)})`,
          `from:        ${message.clientIp ?? '-'}, sender <${terminalSafe(message.sender)}>`,
          `recipients:  ${terminalSafe(message.recipients.join(', '))}`,
          `size:        ${message.size} bytes`,
          ...formatDecision(preview.decision).map((line) => terminalSafe(line)),
          'headers:',
          ...preview.headers.map((header) => `  ${terminalSafe(header.name)}: ${terminalSafe(header.value).slice(0, 300)}`),
          'attachments:',
          ...(preview.attachments.length ? preview.attachments : []).map(
            (part) =>
              `  ${part.part}  ${terminalSafe(part.filename ?? '(no name)')}  ${part.contentType}, ${part.size} bytes${part.detectedType ? `, looks like ${part.detectedType}` : ''}` +
              (part.archive ? `\n      contains: ${part.archive.members.slice(0, 20).map((member) => terminalSafe(member.name) + (member.encrypted ? ' (encrypted)' : '')).join(', ')}${part.archive.problem ? ` (${part.archive.problem})` : ''}` : ''),
          ),
          '--- text (shown as plain text; HTML has its tags removed, nothing is loaded) ---',
          terminalSafe(preview.text, true),
        ];
        io.out(`${lines.join('\n')}\n`);
        return EXIT_OK;
      }
      case 'release': {
        const { released, allowed, notAllowed } = quarantine.release(id!, { by: actor, allowSender: Boolean(context.flags['allow-sender']) });
        if (!released) return missing();
        const left = notAllowed ? `; ${notAllowed} is in one of our own domains, which no allow list covers: not added` : '';
        io.out(`${id} released: it is delivered to its recipients now${allowed ? `; ${allowed} is on the allow list` : left}\n`);
        return EXIT_OK;
      }
      case 'delete': {
        if (!(await quarantine.delete(id!, actor))) return missing();
        io.out(`${id} deleted from quarantine\n`);
        return EXIT_OK;
      }
      default:
        return usage(`unknown quarantine action ${JSON.stringify(action)}`);
    }
  } finally {
    queue.flushHistory();
    db.close();
  }
}

/**
 * `moat quarantine digest [--now] [--to ADDRESS]`: without --now, who would get a digest and how many messages it
 * would list (nothing changes); with --now, the digests are queued like the scheduled ones (the running relay
 * delivers them) and their messages count as listed.
 */
async function digestCommand(context: QuarantineCliContext, io: CommandIo, usage: (problem: string) => number): Promise<number> {
  const to = context.flags.to?.trim();
  if (to !== undefined && (!to || splitAddress(to) === null)) return usage(`--to needs an address like alice@example.com, got ${JSON.stringify(context.flags.to)}`);
  const opened = open(context, io, true);
  if (typeof opened === 'number') return opened;
  const { db, queue, config } = openServedStore(opened.dataDir, opened.config, silentLogger, Boolean(context.flags.domain));
  try {
    if (to !== undefined && !isInternalRecipient(queue, to)) {
      return usage(`${terminalSafe(to)} is not an internal recipient: digests go only to addresses in ${config.domains.join(', ') || '(no domain: give --domain as serve has it)'}`);
    }
    const digest = new QuarantineDigest({ queue, config, dataDir: opened.dataDir, hostname: opened.config.hostname ?? hostname(), logger: silentLogger });
    const page = userPageBase(opened.config.quarantine.userPage);
    const linksNote = page ? `with links to ${page}` : 'without links (the user page is off: it tells them to ask you)';
    if (!context.flags.now) {
      const plans = digest.plan(to);
      if (plans.length === 0) {
        io.out(`nothing new to list${to ? ` for ${terminalSafe(to)}` : ''}: no digest would be sent
`);
        return EXIT_OK;
      }
      io.out(`would send ${plans.length} digest(s) ${linksNote}; run with --now to send:
`);
      for (const plan of plans) io.out(`  ${terminalSafe(plan.recipient)}  ${describe(plan)}
`);
      return EXIT_OK;
    }
    const sent = await digest.send(to);
    if (sent.length === 0) {
      io.out(`nothing new to list${to ? ` for ${terminalSafe(to)}` : ''}: no digest sent
`);
      return EXIT_OK;
    }
    io.out(`queued ${sent.length} digest(s) ${linksNote}:
`);
    for (const plan of sent) io.out(`  ${terminalSafe(plan.recipient)}  ${describe(plan)}  (queue id ${plan.queueId})
`);
    return EXIT_OK;
  } finally {
    queue.flushHistory();
    db.close();
  }
}

function describe(plan: DigestPlan): string {
  return `${plan.listed} message(s)${plan.held > plan.listed ? ` of ${plan.held} held (the rest in the next digest)` : ''}`;
}

export async function sendersCommand(args: string[], context: QuarantineCliContext, io: CommandIo): Promise<number> {
  if (args[0] === 'personal') return personalCommand(args.slice(1), context, io);
  const [action, raw, ...extra] = args;
  const usage = (problem: string) => {
    io.err(`moat: ${problem}\n${QUARANTINE_USAGE}\n`);
    return EXIT_USAGE;
  };
  if (extra.length) return usage(`unexpected arguments: ${extra.join(' ')}`);
  if (!action || !['allow', 'deny', 'remove', 'list'].includes(action)) return usage(`unknown senders action ${JSON.stringify(action ?? '')}`);
  if (action === 'list' && raw !== undefined) return usage('senders list takes no address');
  const entry = action === 'list' ? null : SenderLists.normalize(raw ?? '');
  if (action !== 'list' && !entry) return usage(raw ? `"${raw}" is neither an address (user@example.com) nor a domain (@example.com)` : `senders ${action} needs an address or @domain`);
  if (context.flags.note !== undefined && action !== 'allow' && action !== 'deny') return usage('--note goes with "senders allow" or "senders deny"');
  const opened = open(context, io);
  if (typeof opened === 'number') return opened;
  const own = action === 'allow' ? ownDomainAllowProblem(entry!, opened.config.domains) : null;
  if (own) {
    io.err(`moat: ${own}\n`);
    return EXIT_FAILED;
  }
  const { db } = openStore(opened.dataDir, opened.config, silentLogger);
  const lists = new SenderLists(db);
  try {
    switch (action) {
      case 'allow':
      case 'deny':
        lists.set(action, entry!, context.actor ?? cliActor(), context.flags.note?.slice(0, 500) ?? null, Date.now());
        io.out(`${entry} is on the ${action} list${action === 'allow' ? ' (junk scoring skipped; virus and attachment checks still apply)' : ' (its mail is refused with 550)'}\n`);
        return EXIT_OK;
      case 'remove':
        if (!lists.remove(entry!)) {
          io.err(`moat: ${entry} is on neither list\n`);
          return EXIT_FAILED;
        }
        io.out(`${entry} removed\n`);
        return EXIT_OK;
      default: {
        const rows = lists.all();
        io.out(`${rows.length} entr${rows.length === 1 ? 'y' : 'ies'}\n`);
        for (const row of rows) {
          io.out(`${row.list.padEnd(5)}  ${row.entry}  added ${formatTime(row.added_at)}${row.added_by ? ` by ${row.added_by}` : ''}${row.note ? `  (${terminalSafe(row.note)})` : ''}\n`);
        }
        return EXIT_OK;
      }
    }
  } finally {
    db.close();
  }
}

/** Rows `senders personal list` prints at most (narrow with RECIPIENT or --search). */
const MAX_PERSONAL_LISTED = 2000;

/**
 * `moat senders personal ...`: each user's own allow and block lists (the same ones the user page and the admin's
 * Settings edit). They speak for that recipient only and never let a virus or a blocked attachment through.
 */
async function personalCommand(args: string[], context: QuarantineCliContext, io: CommandIo): Promise<number> {
  const [action, rawRecipient, rawEntry, ...extra] = args;
  const usage = (problem: string) => {
    io.err(`moat: ${problem}\n${QUARANTINE_USAGE}\n`);
    return EXIT_USAGE;
  };
  if (extra.length) return usage(`unexpected arguments: ${extra.join(' ')}`);
  if (!action || !['list', 'allow', 'block', 'remove'].includes(action)) return usage(`unknown senders personal action ${JSON.stringify(action ?? '')}`);
  if (context.flags.note !== undefined) return usage('--note goes with "senders allow" or "senders deny"');
  if (context.flags.search !== undefined && action !== 'list') return usage('--search goes with "senders personal list"');
  const recipient = rawRecipient === undefined ? null : PersonalLists.normalize(rawRecipient);
  if (rawRecipient !== undefined && (!recipient || recipient.startsWith('@'))) return usage(`"${rawRecipient}" is not a user's address (user@example.com)`);
  let entry: string | null = null;
  if (action === 'list') {
    if (rawEntry !== undefined) return usage('senders personal list takes at most a recipient');
  } else {
    if (!recipient) return usage(`senders personal ${action} needs the user's address and an address or @domain`);
    entry = PersonalLists.normalize(rawEntry ?? '');
    if (!entry) return usage(rawEntry ? `"${rawEntry}" is neither an address (user@example.com) nor a domain (@example.com)` : `senders personal ${action} needs an address or @domain after the user's address`);
  }
  const opened = open(context, io);
  if (typeof opened === 'number') return opened;
  const domain = recipient?.slice(recipient.lastIndexOf('@') + 1);
  if (action !== 'list' && action !== 'remove' && domain && !opened.config.domains.includes(domain)) {
    io.err(`moat: ${recipient} is not an address of this relay's domains (${opened.config.domains.join(', ') || 'none set'})\n`);
    return EXIT_FAILED;
  }
  const own = action === 'allow' ? ownDomainAllowProblem(entry!, opened.config.domains) : null;
  if (own) {
    io.err(`moat: ${own}\n`);
    return EXIT_FAILED;
  }
  const { db } = openStore(opened.dataDir, opened.config, silentLogger);
  const lists = new PersonalLists(db);
  try {
    switch (action) {
      case 'allow':
      case 'block': {
        if (!lists.set(recipient!, action === 'allow' ? 'allow' : 'deny', entry!, context.actor ?? cliActor(), Date.now())) {
          io.err(`moat: ${recipient}'s own lists have ${MAX_PERSONAL_ENTRIES} entries, the most one user may keep: remove some first\n`);
          return EXIT_FAILED;
        }
        io.out(
          action === 'allow'
            ? `${entry} is on ${recipient}'s own allow list (junk checks are skipped only when every recipient of a message allows the sender; virus and attachment checks always apply)\n`
            : `${entry} is on ${recipient}'s own block list (its mail to ${recipient} is refused)\n`,
        );
        return EXIT_OK;
      }
      case 'remove':
        if (!lists.remove(recipient!, entry!)) {
          io.err(`moat: ${entry} is on neither of ${recipient}'s own lists\n`);
          return EXIT_FAILED;
        }
        io.out(`${entry} removed from ${recipient}'s own lists\n`);
        return EXIT_OK;
      default: {
        const rows = lists.search({ recipient, search: context.flags.search ?? null, limit: MAX_PERSONAL_LISTED + 1 });
        const shown = rows.slice(0, MAX_PERSONAL_LISTED);
        io.out(`${shown.length} entr${shown.length === 1 ? 'y' : 'ies'} on users' own lists${rows.length > shown.length ? ` (the first ${MAX_PERSONAL_LISTED}; give a recipient or --search)` : ''}\n`);
        for (const row of shown) {
          io.out(`${row.recipient}  ${row.list === 'allow' ? 'allow' : 'block'}  ${row.entry}  added ${formatTime(row.added_at)}${row.added_by ? ` by ${terminalSafe(row.added_by)}` : ''}\n`);
        }
        return EXIT_OK;
      }
    }
  } finally {
    db.close();
  }
}

// The recipients' own allow and block lists, as the admin sees and edits them: the same table and rules as the user
// page and `moat senders personal`. A change applies to the next message (the filters look entries up per message).
import type { personalSendersContract } from '../../filters/contract.ts';
import { MAX_PERSONAL_ENTRIES, PersonalLists, type PersonalListEntry } from '../../filters/personal-lists.ts';
import { ownDomainAllowProblem } from '../../filters/sender-lists.ts';
import { checkRecipient } from '../../util/address.ts';
import { ApiError } from '../errors.ts';
import { withDatabase } from './database.ts';
import type { ApiContext, Handlers } from './types.ts';

/** Rows one list call returns: a whole office's lists on one screen, bounded so one call cannot read the table whole. */
const MAX_LISTED = 2000;

function normalizedEntry(raw: string): string {
  const entry = PersonalLists.normalize(raw);
  if (!entry) throw new ApiError('INVALID_INPUT', undefined, [{ path: 'entry', message: `"${raw}" is neither an address (user@example.com) nor a domain (@example.com)` }]);
  return entry;
}

/** One of this relay's own mailboxes (a list anywhere else would never be looked at), lower-case. */
function ownRecipient(raw: string, context: ApiContext): string {
  const domains = context.config().domains;
  const check = checkRecipient(raw.trim(), { domains: new Set(domains) });
  if (!check.ok || /^postmaster$/i.test(raw.trim())) {
    const why = check.ok ? 'give the whole address' : check.refusal === 'relay' ? `it is not an address of this relay's domains (${domains.join(', ') || 'none set'})` : check.reason;
    throw new ApiError('INVALID_INPUT', undefined, [{ path: 'recipient', message: `"${raw}" is not one of your users' addresses: ${why}` }]);
  }
  return check.address.toLowerCase();
}

const view = (row: PersonalListEntry) => ({ recipient: row.recipient, entry: row.entry, list: row.list, addedAt: row.added_at, addedBy: row.added_by });

export const personalSendersHandlers = {
  'senders.personalList': (input, context) => {
    const recipient = input.recipient ? input.recipient.trim().toLowerCase() : null;
    const rows = withDatabase(context, (db) => new PersonalLists(db).search({ recipient, search: input.search ?? null, limit: MAX_LISTED + 1 }));
    return { entries: rows.slice(0, MAX_LISTED).map(view), truncated: rows.length > MAX_LISTED, maxPerRecipient: MAX_PERSONAL_ENTRIES };
  },

  'senders.personalSet': (input, context) => {
    const recipient = ownRecipient(input.recipient, context);
    const entry = normalizedEntry(input.entry);
    const own = input.list === 'allow' ? ownDomainAllowProblem(entry, context.config().domains) : null;
    if (own) throw new ApiError('INVALID_INPUT', undefined, [{ path: 'entry', message: own }]);
    const row = withDatabase(context, (db) => {
      const lists = new PersonalLists(db);
      if (!lists.set(recipient, input.list, entry, context.actor, context.clock())) return null;
      return lists.of(recipient).find((candidate) => candidate.entry === entry)!;
    });
    if (!row) {
      throw new ApiError('PERSONAL_LIST_FULL', `${recipient}'s own lists have ${MAX_PERSONAL_ENTRIES} entries, the most one user may keep: remove some before adding ${entry}`);
    }
    context.logger.info({ recipient, entry, list: input.list, by: context.actor }, input.list === 'allow' ? 'PERSONAL_ALLOWED' : 'PERSONAL_BLOCKED');
    return view(row);
  },

  'senders.personalRemove': (input, context) => {
    const recipient = input.recipient.trim().toLowerCase();
    const entry = normalizedEntry(input.entry);
    if (!withDatabase(context, (db) => new PersonalLists(db).remove(recipient, entry))) {
      throw new ApiError('PERSONAL_ENTRY_GONE', `${entry} is on neither of ${recipient}'s own lists`);
    }
    context.logger.info({ recipient, entry, by: context.actor }, 'PERSONAL_REMOVED');
    return {};
  },
} satisfies Handlers<typeof personalSendersContract>;

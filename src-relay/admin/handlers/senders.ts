// The sender allow and deny lists: the same table and entry rules as `moat senders` and the quarantine's "release
// and allow the sender". A change applies to the next message (the filters look entries up per message).
import type { sendersContract } from '../../filters/contract.ts';
import { ownDomainAllowProblem, SenderLists, type SenderListEntry } from '../../filters/sender-lists.ts';
import { ApiError } from '../errors.ts';
import { withDatabase } from './database.ts';
import type { Handlers } from './types.ts';

function normalized(raw: string): string {
  const entry = SenderLists.normalize(raw);
  if (!entry) throw new ApiError('INVALID_INPUT', undefined, [{ path: 'entry', message: `"${raw}" is neither an address (user@example.com) nor a domain (@example.com)` }]);
  return entry;
}

const view = (row: SenderListEntry) => ({ entry: row.entry, list: row.list, addedAt: row.added_at, addedBy: row.added_by, note: row.note });

export const sendersHandlers = {
  'senders.list': (_input, context) => withDatabase(context, (db) => ({ entries: new SenderLists(db).all().map(view) })),

  'senders.set': (input, context) => {
    const entry = normalized(input.entry);
    const own = input.list === 'allow' ? ownDomainAllowProblem(entry, context.config().domains) : null;
    if (own) throw new ApiError('INVALID_INPUT', undefined, [{ path: 'entry', message: own }]);
    const row = withDatabase(context, (db) => {
      const lists = new SenderLists(db);
      lists.set(input.list, entry, context.actor, input.note ?? null, context.clock());
      return lists.get(entry)!;
    });
    context.logger.info({ entry, list: input.list, by: context.actor }, input.list === 'allow' ? 'SENDER_ALLOWED' : 'SENDER_DENIED');
    return view(row);
  },

  'senders.remove': (input, context) => {
    const entry = normalized(input.entry);
    if (!withDatabase(context, (db) => new SenderLists(db).remove(entry))) throw new ApiError('SENDER_ENTRY_GONE', `${entry} is on neither list`);
    context.logger.info({ entry, by: context.actor }, 'SENDER_REMOVED');
    return {};
  },
} satisfies Handlers<typeof sendersContract>;

import { z } from 'zod';
import { method } from '../util/contract-kit.ts';

const empty = z.object({}).strict();
const entry = z.string().trim().min(2).max(254);

export const senderEntrySchema = z.object({ entry: z.string(), list: z.enum(['allow', 'deny']), addedAt: z.number(), addedBy: z.string().nullable(), note: z.string().nullable() });

export const sendersContract = {
  'senders.list': method({ summary: 'The sender allow and deny lists', input: empty, output: z.object({ entries: z.array(senderEntrySchema) }) }),
  'senders.set': method({
    summary: 'Put an address or @domain on the allow or the deny list',
    input: z.object({ list: z.enum(['allow', 'deny']), entry, note: z.string().max(200).nullable().optional() }).strict(),
    output: senderEntrySchema,
  }),
  'senders.remove': method({ summary: 'Take an entry off its list', input: z.object({ entry }).strict(), output: empty }),
} as const;

/** One entry of a recipient's own list ('deny' is what the screens call "block"). */
export const personalEntrySchema = z.object({
  recipient: z.string(),
  entry: z.string(),
  list: z.enum(['allow', 'deny']),
  addedAt: z.number(),
  addedBy: z.string().nullable(),
});

const recipient = z.string().trim().min(3).max(254);

/**
 * Each internal recipient's own allow and block lists (filters/personal-lists.ts), as the admin sees and edits them.
 * They speak for that recipient only, and never let a virus, a blocked attachment or unchecked mail through.
 */
export const personalSendersContract = {
  'senders.personalList': method({
    summary: "The recipients' own allow and block lists, optionally of one recipient, optionally searched",
    input: z.object({ recipient: recipient.optional(), search: z.string().trim().max(254).optional() }).strict(),
    output: z.object({
      entries: z.array(personalEntrySchema),
      /** More entries matched than were returned (narrow the search). */
      truncated: z.boolean(),
      /** The most entries one recipient may keep. */
      maxPerRecipient: z.number(),
    }),
  }),
  'senders.personalSet': method({
    summary: "Put an address or @domain on a recipient's own allow or block list",
    input: z.object({ recipient, list: z.enum(['allow', 'deny']), entry }).strict(),
    output: personalEntrySchema,
  }),
  'senders.personalRemove': method({ summary: "Take an entry off a recipient's own lists", input: z.object({ recipient, entry }).strict(), output: empty }),
} as const;

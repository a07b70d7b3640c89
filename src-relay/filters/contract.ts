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

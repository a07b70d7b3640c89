import { z } from 'zod';
import { method } from '../util/contract-kit.ts';

/** How far back the statistics page looks: a day, a week, or the 30 days the per-minute series are kept. */
export const statisticsRange = z.enum(['24h', '7d', '30d']);

const ranked = z.array(z.object({ name: z.string(), count: z.number() }));

export const statisticsContract = {
  'statistics.get': method({
    summary: 'Mail in and out, junk and virus counts, and the top senders, recipients and sender domains over 24 h, 7 days or 30 days',
    input: z.object({ range: statisticsRange }).strict(),
    output: z.object({
      from: z.number(),
      to: z.number(),
      /** Counts of the window: messages accepted, recipients delivered or bounced, refusals. */
      mail: z.object({
        /** accepted from the internet on the mx listener */
        inbound: z.number(),
        /** accepted from office clients on the submission listeners */
        submitted: z.number(),
        delivered: z.number(),
        deferred: z.number(),
        bounced: z.number(),
        quarantined: z.number(),
        /** delivered with a junk tag */
        tagged: z.number(),
        /** every refusal on the mx listener, whatever the reason */
        refused: z.number(),
        /** refused as a virus (or a dangerous attachment) */
        virus: z.number(),
        /** refused as junk */
        junk: z.number(),
      }),
      /** Refusals by reason, most first. */
      refusals: ranked,
      top: z.object({ senders: ranked, recipients: ranked, senderDomains: ranked }),
      /** How many accepted messages the top lists are over; `capped`: only the newest of a very busy window. */
      messages: z.number(),
      capped: z.boolean(),
    }),
  }),
  'dashboard.disk': method({
    summary: "Free and total space of the disk holding the data directory (queue, quarantine, database)",
    input: z.object({}).strict(),
    output: z.object({ free: z.number(), total: z.number(), path: z.string() }).nullable(),
  }),
} as const;

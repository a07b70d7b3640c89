import { z } from 'zod';
import { method } from '../util/contract-kit.ts';
import { attachmentSchema, decisionSchema, MAX_BULK_IDS, MAX_PAGE_ROWS } from '../queue/contract.ts';

const id = z.string().regex(/^[A-Za-z0-9]{6,40}$/, 'not a queue id');

export const quarantinedSchema = z.object({
  id: z.string(),
  receivedAt: z.number(),
  clientIp: z.string().nullable(),
  sender: z.string(),
  recipients: z.array(z.string()),
  subject: z.string().nullable(),
  /** Who it says it is from, as queue rows' senderName (queue/contract.ts). */
  senderName: z.string().nullable(),
  size: z.number(),
  action: z.string().nullable(),
  score: z.number().nullable(),
  reason: z.string().nullable(),
  /** Recipients who asked for it to be released to them (the user page in approval mode), waiting for the admin. */
  releaseRequests: z.array(z.string()),
});

export const quarantineContract = {
  'quarantine.list': method({
    summary: 'Quarantined messages, newest first, with reason and score',
    input: z.object({ search: z.string().trim().max(200).optional(), offset: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(MAX_PAGE_ROWS).default(50) }).strict(),
    /** `requests`: messages of the whole quarantine (whatever the search) a recipient asked to have released; they come first. */
    output: z.object({ total: z.number(), requests: z.number(), rows: z.array(quarantinedSchema) }),
  }),
  'quarantine.preview': method({
    summary: 'A safe preview: header fields and text only (nothing rendered, nothing fetched), attachments listed',
    input: z.object({ id }).strict(),
    output: z.object({
      message: quarantinedSchema,
      decision: decisionSchema.nullable(),
      /** As received, unfolded; control characters and bidi overrides replaced by U+FFFD. Show as text, never as HTML. */
      headers: z.array(z.object({ name: z.string(), value: z.string() })),
      /** The plain text (or the HTML's text, tags removed), at most 8 KiB, controls replaced as in headers. */
      text: z.string(),
      attachments: z.array(attachmentSchema),
      /** Recipients who already had their own copy released: the message waits for the others only. */
      releasedTo: z.array(z.string()),
    }),
  }),
  'quarantine.act': method({
    summary: 'Release (optionally allow-listing the sender) or delete one message or a selection',
    input: z.object({ action: z.enum(['release', 'release-allow', 'delete']), ids: z.array(id).min(1).max(MAX_BULK_IDS) }).strict(),
    output: z.object({
      done: z.array(z.string()),
      gone: z.array(z.string()),
      /** "Release and allow": the entries put on the allow list. */
      allowed: z.array(z.string()),
      /** "Release and allow": the senders left off the allow list, being in our own domains (their mail was released). */
      notAllowed: z.array(z.string()),
    }),
  }),
  'quarantine.decideRequest': method({
    summary: "Approve (release to that recipient only) or deny a recipient's release request; the recipient is told by mail",
    input: z.object({ id, recipient: z.string().trim().min(3).max(254), decision: z.enum(['approve', 'deny']) }).strict(),
    output: z.object({ outcome: z.enum(['approved', 'denied', 'gone']) }),
  }),
} as const;

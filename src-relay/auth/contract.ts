import { z } from 'zod';
import { method } from '../util/contract-kit.ts';

const empty = z.object({}).strict();
/** People often log in with their e-mail address (at most 254 octets); checked again by the CLI's name rules. */
const name = z.string().trim().min(1).max(254);
/** Sender rules: an address or `@domain`; checked again by the same parser as the CLI's. */
const senders = z.array(z.string().trim().min(1).max(254)).max(100);
const password = z.string().min(10, 'at least 10 characters').max(1024);

export const accountSchema = z.object({
  name: z.string(),
  senders: z.array(z.string()),
  createdAt: z.number(),
  updatedAt: z.number(),
  suspendedAt: z.number().nullable(),
  suspendedReason: z.string().nullable(),
  /** Locked out after failed log-ins until then (null: not locked). */
  lockedUntil: z.number().nullable(),
  /** The client addresses the lockout is for (the name guessed wrong from there); null: every address. */
  lockedFrom: z.array(z.string()).nullable(),
  /** The last successful log-in: when and from where (null: never). */
  lastLogin: z.object({ at: z.number(), clientIp: z.string().nullable() }).nullable(),
});

/** A client address as typed: checked to be an IP address by the handler (node:net isIP). */
const address = z.string().trim().min(1).max(64);

/** A failure counter that reached its limit: log-ins from there (or with that name) are refused until `until`. */
const lockoutSchema = z.object({ until: z.number(), failures: z.number() });

/** An account just given sender addresses, with a note for each domain among them that is not the relay's (a typo, most often). */
const accountWithNotes = accountSchema.extend({ notes: z.array(z.string()) });

export const accountsContract = {
  'accounts.list': method({ summary: 'Submission accounts with their sender addresses and lock state', input: empty, output: z.object({ accounts: z.array(accountSchema) }) }),
  'accounts.add': method({
    summary: 'Add a submission account (no senders given: a name that is an address may send as itself)',
    input: z.object({ name, password, senders }).strict(),
    output: accountWithNotes,
  }),
  'accounts.setPassword': method({ summary: 'Reset an account\'s password', input: z.object({ name, password }).strict(), output: accountSchema }),
  'accounts.setSenders': method({ summary: 'The addresses an account may send as', input: z.object({ name, senders }).strict(), output: accountWithNotes }),
  'accounts.unlock': method({ summary: 'Lift a suspension or a log-in lockout', input: z.object({ name }).strict(), output: accountSchema }),
  'accounts.remove': method({ summary: 'Remove an account', input: z.object({ name }).strict(), output: empty }),
  'accounts.lockouts': method({
    summary: 'Client addresses and user names locked out after failed log-ins, until when',
    input: empty,
    output: z.object({
      addresses: z.array(lockoutSchema.extend({ address: z.string() })),
      /** Names are locked whether or not an account has them (a lockout tells nothing about which exist); `account` says whether one does. */
      names: z.array(
        lockoutSchema.extend({
          name: z.string(),
          account: z.boolean(),
          /** Set when the name is locked only for log-ins from this client address (failures from there); absent: from every address it has not logged in from recently. */
          address: z.string().optional(),
        }),
      ),
    }),
  }),
  'accounts.unlockAddress': method({
    summary: 'Lift the lockout of a client address (every name may be tried from it again, except names locked for that address: unlock those by name)',
    input: z.object({ address }).strict(),
    /** unlocked: false when the address had no lockout or failures counted (expired, or lifted meanwhile). */
    output: z.object({ address: z.string(), unlocked: z.boolean() }),
  }),
} as const;

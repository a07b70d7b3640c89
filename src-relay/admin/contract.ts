import { z } from 'zod';
import type { InputOf, OutputOf } from '../util/contract-kit.ts';
import { authContract, relayStatusSchema } from './auth-contract.ts';
import { queueContract, queueSummarySchema } from '../queue/contract.ts';
import { quarantineContract } from '../quarantine/contract.ts';
import { monitorContract, alertEventSchema } from '../monitor/contract.ts';
import { statisticsContract } from '../monitor/statistics-contract.ts';
import { accountsContract } from '../auth/contract.ts';
import { personalSendersContract, sendersContract } from '../filters/contract.ts';
import { configContract } from '../config/contract.ts';

/**
 * The admin API, declared once: every method's name with its input and output schemas (the slices live next to
 * their code), and the live events. The HTTP server, the renderer's client and the desktop shell all read this.
 */
export const contract = {
  ...authContract,
  ...configContract,
  ...queueContract,
  ...quarantineContract,
  ...monitorContract,
  ...statisticsContract,
  ...accountsContract,
  ...sendersContract,
  ...personalSendersContract,
} as const;

export type Contract = typeof contract;
export type MethodName = keyof Contract;
export type Input<K extends MethodName> = InputOf<Contract[K]>;
export type Output<K extends MethodName> = OutputOf<Contract[K]>;

/** Server-Sent Events on GET /api/events: name -> payload. */
export const eventSchemas = {
  /** The engine's state changed (started, failed, set up, restarting after apply). */
  relay: relayStatusSchema,
  /** The queue changed (new mail, delivered, held...): its summary now. Coalesced to at most a few per second. */
  queue: queueSummarySchema,
  alert: alertEventSchema,
  received: z.object({ id: z.string(), sender: z.string(), recipients: z.number(), size: z.number() }),
  delivered: z.object({ id: z.string(), recipient: z.string(), route: z.string() }),
  deferred: z.object({ id: z.string(), recipient: z.string(), route: z.string(), reply: z.string() }),
  bounced: z.object({ id: z.string(), recipient: z.string(), route: z.string(), status: z.string() }),
  quarantined: z.object({ id: z.string(), sender: z.string(), score: z.number(), reason: z.string() }),
} as const;

export type EventName = keyof typeof eventSchemas;
export type EventPayload<K extends EventName> = z.output<(typeof eventSchemas)[K]>;

/** The wire format: one shape for success and failure (STYLE habit 5). */
export type ApiResult<T> = { ok: true; result: T } | { ok: false; code: string; message: string; issues?: { path: string; message: string }[] };

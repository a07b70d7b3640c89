import type { Contract } from './contract.ts';
import type { HandlerMap } from './api.ts';
import type { Handlers } from './handlers/types.ts';
import { authHandlers } from './handlers/auth.ts';
import { configHandlers } from './handlers/config.ts';
import { setupHandlers } from './handlers/setup.ts';
import { queueHandlers } from './handlers/queue.ts';
import { quarantineHandlers } from './handlers/quarantine.ts';
import { monitorHandlers } from './handlers/monitor.ts';
import { statisticsHandlers } from './handlers/statistics.ts';
import { accountsHandlers } from './handlers/accounts.ts';
import { sendersHandlers } from './handlers/senders.ts';
import { personalSendersHandlers } from './handlers/personal-senders.ts';

/**
 * The admin API's implementation: one handler for every method of the contract, checked by the compiler. Handlers are
 * plain functions of (input, context); what they need of the host arrives as capabilities on the context.
 */
export const handlers = {
  ...authHandlers,
  ...configHandlers,
  ...setupHandlers,
  ...queueHandlers,
  ...quarantineHandlers,
  ...monitorHandlers,
  ...statisticsHandlers,
  ...accountsHandlers,
  ...sendersHandlers,
  ...personalSendersHandlers,
} satisfies Handlers<Contract> as unknown as HandlerMap;

// The setup wizard's helpers (config.get/validate/apply live in config.ts): test the internal server, find and test
// the filter engines, keep a certificate. None needs a running relay.
import { hostname as osHostname } from 'node:os';
import type { configContract } from '../../config/contract.ts';
import { checkFilterEngine, detectFilterEngines, filterAddressProblem, FILTER_CANDIDATES, type FilterCandidate } from '../../filters/engine-check.ts';
import { checkSmtpServer } from '../../monitor/server-check.ts';
import { checkSender } from '../../util/address.ts';
import { CertificateProblem, saveCertificatePair } from '../../smtp/certificate.ts';
import { ApiError } from '../errors.ts';
import type { ApiContext, Handlers } from './types.ts';

type SetupContract = Pick<typeof configContract, 'setup.testInternal' | 'setup.detectFilters' | 'setup.testFilter' | 'setup.saveCertificate'>;

export interface SetupHandlerOptions {
  /** Where setup.detectFilters looks (default: the engines' usual local addresses); tests point it at their own. */
  filterCandidates?: readonly FilterCandidate[];
  detectTimeoutMs?: number;
  testTimeoutMs?: number;
  /** Deadline of each step of setup.testInternal. */
  stepTimeoutMs?: number;
}

/** Our name in EHLO and in test messages: the configured one, else the machine's. */
function ourName(context: ApiContext): string {
  return context.config().hostname ?? osHostname();
}

export function createSetupHandlers(options: SetupHandlerOptions = {}) {
  return {
    'setup.testInternal': async (input, context) => {
      let recipient: string | undefined;
      if (input.recipient) {
        const checked = checkSender(input.recipient);
        if (!checked.ok || checked.address === '') {
          throw new ApiError('INVALID_INPUT', undefined, [{ path: 'recipient', message: checked.ok ? 'expected an address like user@example.com' : checked.reason }]);
        }
        recipient = checked.address;
      }
      const check = await checkSmtpServer({ host: input.host, port: input.port, hostname: ourName(context), recipient, stepTimeoutMs: options.stepTimeoutMs, role: input.role });
      context.logger.info({ host: input.host, port: input.port, role: input.role, ok: check.ok, by: context.actor }, input.role === 'smarthost' ? 'SMARTHOST_TESTED' : 'INTERNAL_TESTED');
      return {
        ok: check.ok,
        steps: check.steps,
        banner: check.banner,
        starttls: check.starttls,
        authMechanisms: check.authMechanisms,
        recipientAccepted: check.recipientAccepted,
        acceptsAnyRecipient: check.acceptsAnyRecipient,
        advice: check.advice,
      };
    },

    'setup.detectFilters': async (_input, context) => ({
      engines: await detectFilterEngines(options.filterCandidates ?? FILTER_CANDIDATES, { timeoutMs: options.detectTimeoutMs, hostname: ourName(context) }),
    }),

    'setup.testFilter': async (input, context) => {
      const problem = filterAddressProblem(input.engine, input.address);
      if (problem) throw new ApiError('INVALID_INPUT', undefined, [{ path: 'address', message: problem }]);
      const { ok, detail } = await checkFilterEngine(input.engine, input.address, { timeoutMs: options.testTimeoutMs, hostname: ourName(context) });
      return { ok, detail };
    },

    'setup.saveCertificate': async (input, context) => {
      try {
        const saved = await saveCertificatePair(context.dataDir, input.cert, input.key, context.clock());
        context.logger.info({ subject: saved.subject, validTo: new Date(saved.validTo).toISOString(), by: context.actor }, 'CERTIFICATE_SAVED');
        return { cert: saved.cert, key: saved.key, subject: saved.subject, names: saved.names, validTo: saved.validTo };
      } catch (error) {
        if (error instanceof CertificateProblem) throw new ApiError('CERTIFICATE_INVALID', error.message);
        throw error;
      }
    },
  } satisfies Handlers<SetupContract>;
}

export const setupHandlers = createSetupHandlers();

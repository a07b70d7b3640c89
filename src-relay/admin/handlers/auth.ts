import { authContract } from '../auth-contract.ts';
import { ApiError } from '../errors.ts';
import type { AdminHost } from '../host.ts';
import type { Handlers } from './types.ts';

/** Log-in, the first-run claim and the engine's status: these need the host itself, not just the engine. */
export function authHandlers(host: AdminHost) {
  return {
    'auth.status': (_input, { call }) => {
      const { caller } = call;
      if (caller.kind === 'session') return { state: 'ready', csrf: caller.session.csrf };
      if (caller.kind === 'bearer') return { state: 'ready', csrf: null };
      return { state: host.auth.passwordSet ? 'login' : 'setup', csrf: null };
    },
    'auth.setup': async (input, { call }) => {
      const session = await host.auth.claim(input.token, input.password, call.clientIp);
      call.setSession(session);
      return { csrf: session.csrf };
    },
    'auth.login': async (input, { call }) => {
      const session = await host.auth.login(input.password, call.clientIp);
      call.setSession(session);
      return { csrf: session.csrf };
    },
    'auth.logout': (_input, { call }) => {
      if (call.caller.kind === 'session') host.auth.logout(call.caller.session);
      call.setSession(null);
      return {};
    },
    'auth.changePassword': async (input, { call }) => {
      const keep = call.caller.kind === 'session' ? call.caller.session : null;
      if (!host.auth.passwordSet) {
        if (call.caller.kind !== 'bearer') throw new ApiError('SETUP_REQUIRED');
        await host.auth.setFirstPassword(input.password);
      } else await host.auth.changePassword(input.current, input.password, keep, call.clientIp);
      return {};
    },
    'relay.status': () => host.status(),
  } satisfies Handlers<typeof authContract>;
}

import type { authContract } from '../auth-contract.ts';
import { ApiError } from '../errors.ts';
import type { Handlers } from './types.ts';

/** Log-in, the first-run claim and the engine's status: the host's capabilities, not the engine's. */
export const authHandlers = {
  'auth.status': (_input, { call, auth }) => {
    const { caller } = call;
    if (caller.kind === 'session') return { state: 'ready', csrf: caller.session.csrf };
    if (caller.kind === 'bearer') return { state: 'ready', csrf: null };
    return { state: auth.passwordSet ? 'login' : 'setup', csrf: null };
  },
  'auth.setup': async (input, { call, auth }) => {
    const session = await auth.claim(input.token, input.password, call.clientIp);
    call.setSession(session);
    return { csrf: session.csrf };
  },
  'auth.login': async (input, { call, auth }) => {
    const session = await auth.login(input.password, call.clientIp);
    call.setSession(session);
    return { csrf: session.csrf };
  },
  'auth.logout': (_input, { call, auth }) => {
    if (call.caller.kind === 'session') auth.logout(call.caller.session);
    call.setSession(null);
    return {};
  },
  'auth.changePassword': async (input, { call, auth }) => {
    const keep = call.caller.kind === 'session' ? call.caller.session : null;
    if (!auth.passwordSet) {
      if (call.caller.kind !== 'bearer') throw new ApiError('SETUP_REQUIRED');
      await auth.setFirstPassword(input.password);
    } else await auth.changePassword(input.current, input.password, keep, call.clientIp);
    return {};
  },
  'relay.status': (_input, { status }) => status.current(),
} satisfies Handlers<typeof authContract>;

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
  'auth.setup': async (input, { call, auth, logger }) => {
    const session = await auth.claim(input.token, input.password, call.clientIp);
    // who set the first password, and from where: a claim nobody expected is what the admin would look for
    logger.warn({ clientIp: call.clientIp }, 'ADMIN_CLAIMED');
    call.setSession(session);
    return { csrf: session.csrf };
  },
  'auth.login': async (input, { call, auth, logger }) => {
    const session = await auth.login(input.password, call.clientIp);
    logger.info({ clientIp: call.clientIp }, 'ADMIN_LOGGED_IN');
    call.setSession(session);
    return { csrf: session.csrf };
  },
  'auth.logout': (_input, { call, auth }) => {
    if (call.caller.kind === 'session') auth.logout(call.caller.session);
    call.setSession(null);
    return {};
  },
  'auth.changePassword': async (input, { call, auth, logger, actor }) => {
    const keep = call.caller.kind === 'session' ? call.caller.session : null;
    if (!auth.passwordSet) {
      if (call.caller.kind !== 'bearer') throw new ApiError('SETUP_REQUIRED');
      await auth.setFirstPassword(input.password);
      logger.warn({ by: 'desktop' }, 'ADMIN_CLAIMED');
    } else {
      await auth.changePassword(input.current, input.password, keep, call.clientIp);
      logger.warn({ by: actor }, 'ADMIN_PASSWORD_CHANGED');
    }
    return {};
  },
  'relay.status': (_input, { status }) => status.current(),
} satisfies Handlers<typeof authContract>;

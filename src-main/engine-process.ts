/**
 * Entry of the engine's Electron utility process (bundled to dist-main/engine-process.js): the relay runs here,
 * so a crash or a long SQLite call never freezes the window. Main supervises it (supervisor.ts).
 */
import { startAdminHost } from '../src-relay/admin/host.ts';
import { createStreamLogger } from '../src-relay/log/logger.ts';
import { ENGINE_EXIT, runEngineProcess, type ParentPortLike } from './engine-runner.ts';

const port = (process as { parentPort?: ParentPortLike }).parentPort;
if (!port) {
  process.stderr.write('moat: engine-process runs only as Moat desktop\'s utility process\n');
  process.exit(ENGINE_EXIT.USAGE);
}
const logger = createStreamLogger(process.stderr);
process.on('uncaughtException', (error) => {
  logger.error({ error: error.stack ?? error.message }, 'ENGINE_CRASHED');
  port.postMessage({ type: 'fatal', message: error.message });
  process.exit(ENGINE_EXIT.FAILED);
});
void runEngineProcess({ port, startHost: startAdminHost, argv: process.argv, env: process.env, logger, exit: (code) => process.exit(code) });

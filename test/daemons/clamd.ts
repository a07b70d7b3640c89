import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { clamdVersion } from '../../src-relay/filters/clamav.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { EICAR } from '../helpers/mail-parts.ts';

/** Where Debian's clamav-daemon puts clamd. */
const CLAMD_PATHS = ['/usr/sbin/clamd', '/usr/bin/clamd', '/usr/local/sbin/clamd'];
/** Loading a one-signature database takes well under a second; a loaded CI machine gets far more. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

export interface Clamd {
  socket: string;
  tcp: string;
  stop(): Promise<void>;
}

/** A free loopback port a moment ago, for clamd's TCPSocket (clamd cannot be told to pick one itself). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts a real clamd on a temp unix socket and loopback TCP port, with a signature database this test writes
 * itself (freshclam cannot download here): one body signature for the EICAR test file, matched in any file clamd
 * unpacks (MIME parts, base64, zip members).
 */
export async function startClamd(): Promise<Clamd> {
  const binary = CLAMD_PATHS.find((path) => existsSync(path));
  if (!binary) throw new Error('clamd is not installed: the daemon tests need Debian\'s clamav-daemon (apt-get install -y --no-install-recommends clamav-daemon)');
  const dir = tempDir('moat-clamd-');
  const db = join(dir, 'db');
  mkdirSync(db);
  writeFileSync(join(db, 'moat-test.ndb'), `Eicar-Test-Signature:0:*:${Buffer.from(EICAR).toString('hex')}\n`);
  const socket = join(dir, 'clamd.sock');
  const port = await freePort();
  const config = [
    'Foreground yes',
    `LocalSocket ${socket}`,
    `TCPSocket ${port}`,
    'TCPAddr 127.0.0.1',
    `DatabaseDirectory ${db}`,
    `TemporaryDirectory ${dir}`,
    `PidFile ${join(dir, 'clamd.pid')}`,
    // each clamd its own log: clamd locks its log file, so two test files sharing one (even /dev/null) cannot both start
    `LogFile ${join(dir, 'clamd.log')}`,
    'Bytecode no',
    'StreamMaxLength 40M',
    'AlertEncrypted yes',
    'MaxThreads 4',
  ];
  writeFileSync(join(dir, 'clamd.conf'), `${config.join('\n')}\n`);
  const child: ChildProcess = spawn(binary, ['-c', join(dir, 'clamd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`clamd exited at start (code ${child.exitCode}): ${stderr}`);
    if (existsSync(socket) && (await clamdVersion(socket, 2000).then(() => true, () => false))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`clamd did not answer within ${START_TIMEOUT_MS} ms: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    socket,
    tcp: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

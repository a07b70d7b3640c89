import { RawSmtp } from './smtp.ts';
import { CLI_ENV } from './cli.ts';
import nodemailer from 'nodemailer';
import { AccountStore } from '../../src-relay/auth/account-store.ts';
import { hashPassword } from '../../src-relay/auth/password.ts';
import { mergeConfig } from '../../src-relay/config/load.ts';
import { openDatabase } from '../../src-relay/store/db.ts';
import type { Resolver } from '../../src-relay/util/resolver.ts';
import { startRelay, type TestRelay } from './relay.ts';

export const PASSWORD = 'correct horse battery staple';

export interface SubmissionRelay extends TestRelay {
  /** Port 587's stand-in: STARTTLS. */
  submission: number;
  /** Port 465's stand-in: implicit TLS. */
  submissions: number;
}

const portOf = (address: string | undefined) => Number(address!.slice(address!.lastIndexOf(':') + 1));

/**
 * A relay with both submission listeners on 127.0.0.1:0, delivering example.test to `internalPort`. Failed logins
 * are answered at once unless a test sets `submission.login` delays itself.
 */
export async function startSubmissionRelay(
  internalPort: number,
  overrides: Record<string, unknown> = {},
  options: { resolver?: Resolver; dataDir?: string; clock?: () => number; verifyPassword?: (password: string, hash: string) => Promise<boolean> } = {},
): Promise<SubmissionRelay> {
  const base = { submission: { listen: '127.0.0.1:0', tlsListen: '127.0.0.1:0', login: { firstDelayMs: 0, maxDelayMs: 0 } } };
  const relay = await startRelay(internalPort, mergeConfig(base, overrides), options);
  return { ...relay, submission: portOf(relay.relay.addresses.submission), submissions: portOf(relay.relay.addresses.submissions) };
}

/** Adds an account the way `moat users add` does, through a second connection to the relay's database. */
export async function addUser(dataDir: string, name: string, senders: string[], password = PASSWORD): Promise<void> {
  const hash = await hashPassword(password);
  withAccounts(dataDir, (accounts) => {
    if (!accounts.add(name, hash, senders, Date.now())) throw new Error(`user ${name} exists`);
  });
}

export function withAccounts<T>(dataDir: string, use: (accounts: AccountStore) => T): T {
  const db = openDatabase(dataDir);
  try {
    return use(new AccountStore(db));
  } finally {
    db.close();
  }
}

export interface ClientOptions {
  /** Implicit TLS (465); otherwise STARTTLS is required (587). */
  secure?: boolean;
  user?: string;
  pass?: string;
  authMethod?: 'PLAIN' | 'LOGIN';
  /** Plaintext, no STARTTLS (a scanner on a trusted network). */
  plain?: boolean;
  /** The name the client gives in EHLO (nodemailer's default is the machine's host name). */
  name?: string;
}

/** The office's mail program: nodemailer, trusting the relay's self-signed certificate. */
export function officeClient(port: number, options: ClientOptions = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: options.secure ?? false,
    requireTLS: !options.secure && !options.plain,
    ignoreTLS: options.plain ?? false,
    auth: options.user ? { user: options.user, pass: options.pass ?? PASSWORD } : undefined,
    authMethod: options.authMethod,
    name: options.name,
    tls: { rejectUnauthorized: false },
    logger: false,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
}

/** Sends one raw message and closes the client; resolves with nodemailer's info or rejects with its error. */
export async function submit(port: number, options: ClientOptions, from: string, to: string[], raw: string) {
  const transport = officeClient(port, options);
  try {
    return await transport.sendMail({ envelope: { from, to }, raw });
  } finally {
    transport.close();
  }
}

/** A message as a mail program writes it. */
export function officeMessage(from: string, to: string, subject = 'from the office', extraHeaders = ''): string {
  return (
    `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n` +
    `Message-ID: <${subject.replace(/\W/g, '')}.${Date.now()}.${Math.random().toString(36).slice(2)}@office.test>\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n${extraHeaders}\r\nHello,\r\n\r\nthis is a message from the office.\r\n`
  );
}

/** Exact-reply tests of the submission listeners use the shared raw client (it does STARTTLS and TLS). */
export { RawSmtp as SmtpProbe };

/** Polls a condition the relay reaches on its own, with a generous deadline (loaded CI machines). */
export async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const queueIdOf = (response: string) => /queued as ([0-9A-Z]{22})/.exec(response)![1]!;

/** Runs `moat ARGS` as a child process with `input` piped to its standard input (a password, never an argument). */
export async function moat(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { spawn } = await import('node:child_process');
  const root = new URL('../../', import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src-relay/moat.ts', ...args], { cwd: root, env: CLI_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`moat ${args.join(' ')} did not finish within 60 s\n${stdout}\n${stderr}`));
    }, 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../store/db.ts';
import { hashPassword, verifyPassword, dummyHash } from '../auth/password.ts';
import { writeFileWhole } from '../util/write-whole.ts';
import { ApiError } from './errors.ts';

/** A session unused this long is forgotten (the admin logs in again). */
export const SESSION_IDLE_MS = 8 * 3600_000;
/** However busy, a session ends after this long. */
export const SESSION_MAX_AGE_MS = 7 * 24 * 3600_000;
/** Sessions kept at once; the least recently used goes first (a flood of log-ins cannot grow memory). */
export const MAX_SESSIONS = 100;
/** Failed log-ins from one address within the window before it must wait out the window. */
export const LOGIN_FAILURES_PER_IP = 5;
/** Failed log-ins from all addresses within the window before every log-in waits (a botnet spreading guesses). */
export const LOGIN_FAILURES_TOTAL = 50;
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** Addresses whose failures are remembered at once (the oldest is dropped first). */
const MAX_TRACKED_ADDRESSES = 10_000;

/** The state row holding the admin password hash (scrypt, auth/password.ts). */
export const ADMIN_PASSWORD_STATE = 'admin_password';
export const SETUP_TOKEN_FILE = 'setup-token';

export interface AdminSession {
  id: string;
  csrf: string;
  clientIp: string;
  createdAt: number;
  lastSeen: number;
}

export interface AdminAuthOptions {
  db: Db;
  dataDir: string;
  clock: () => number;
  /** A bearer token accepted instead of a session (the desktop shell that started this engine). */
  bearerToken?: string | null;
}

const token = (bytes: number) => randomBytes(bytes).toString('base64url');

function sameSecret(a: string, b: string): boolean {
  // hashing first makes the comparison constant-time whatever the lengths
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Who may use the admin API: before a password exists, whoever holds the one-time setup token (printed on the
 * console and written to DATA/setup-token, so only someone on the box can claim a fresh relay); after it, whoever
 * knows the password. Sessions live in memory: a restart logs everybody out, which is the safe way round.
 */
export class AdminAuth {
  private readonly sessions = new Map<string, AdminSession>();
  private readonly failures = new Map<string, number[]>();
  private totalFailures: number[] = [];
  private setupToken: string | null = null;
  private readonly getState;
  private readonly setState;

  constructor(private readonly options: AdminAuthOptions) {
    this.getState = options.db.prepare(`SELECT value FROM state WHERE key = ?`);
    this.setState = options.db.prepare(`INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`);
  }

  get passwordSet(): boolean {
    return this.passwordHash() !== null;
  }

  private passwordHash(): string | null {
    return (this.getState.get(ADMIN_PASSWORD_STATE) as { value: string } | undefined)?.value ?? null;
  }

  get tokenFile(): string {
    return join(this.options.dataDir, SETUP_TOKEN_FILE);
  }

  /** Makes a new setup token while no password is set (each start makes a new one); returns it, or null when claimed. */
  async prepareSetup(): Promise<string | null> {
    if (this.passwordSet) {
      rmSync(this.tokenFile, { force: true });
      return null;
    }
    this.setupToken = token(18);
    await writeFileWhole(this.tokenFile, `${this.setupToken}\n`, 0o600);
    return this.setupToken;
  }

  /** Claims the relay: the right token sets the first password and opens a session. */
  async claim(givenToken: string, password: string, clientIp: string): Promise<AdminSession> {
    if (this.passwordSet) throw new ApiError('ALREADY_SET_UP');
    this.checkRate(clientIp);
    if (!this.setupToken || !sameSecret(givenToken.trim(), this.setupToken)) {
      this.recordFailure(clientIp);
      throw new ApiError('BAD_SETUP_TOKEN');
    }
    this.setState.run(ADMIN_PASSWORD_STATE, await hashPassword(password));
    this.setupToken = null;
    rmSync(this.tokenFile, { force: true });
    return this.open(clientIp);
  }

  async login(password: string, clientIp: string): Promise<AdminSession> {
    this.checkRate(clientIp);
    const stored = this.passwordHash();
    // without a password the work is done all the same, so the answer does not tell that the relay is unclaimed
    const ok = await verifyPassword(password, stored ?? (await dummyHash()));
    if (!stored) throw new ApiError('SETUP_REQUIRED');
    if (!ok) {
      this.recordFailure(clientIp);
      throw new ApiError('WRONG_PASSWORD');
    }
    this.failures.delete(clientIp);
    return this.open(clientIp);
  }

  /** The first password, set by the desktop shell that started this engine (it holds the bearer token). */
  async setFirstPassword(password: string): Promise<void> {
    if (this.passwordSet) throw new ApiError('ALREADY_SET_UP');
    this.setState.run(ADMIN_PASSWORD_STATE, await hashPassword(password));
    this.setupToken = null;
    rmSync(this.tokenFile, { force: true });
  }

  /** Sets a new password; every other session ends. */
  async changePassword(current: string, password: string, keep: AdminSession | null): Promise<void> {
    const stored = this.passwordHash();
    if (!stored || !(await verifyPassword(current, stored))) throw new ApiError('WRONG_PASSWORD', 'the current password is wrong');
    this.setState.run(ADMIN_PASSWORD_STATE, await hashPassword(password));
    for (const id of [...this.sessions.keys()]) if (id !== keep?.id) this.sessions.delete(id);
  }

  /** The session a cookie names, if it is still alive (touching it). */
  session(id: string | undefined): AdminSession | null {
    if (!id) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    const now = this.options.clock();
    if (now - session.lastSeen > SESSION_IDLE_MS || now - session.createdAt > SESSION_MAX_AGE_MS) {
      this.sessions.delete(id);
      return null;
    }
    session.lastSeen = now;
    // re-inserting keeps the map in least-recently-used order
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  bearerMatches(given: string): boolean {
    return Boolean(this.options.bearerToken) && sameSecret(given, this.options.bearerToken!);
  }

  logout(session: AdminSession | null): void {
    if (session) this.sessions.delete(session.id);
  }

  private open(clientIp: string): AdminSession {
    const now = this.options.clock();
    const session: AdminSession = { id: token(32), csrf: token(24), clientIp, createdAt: now, lastSeen: now };
    this.sessions.set(session.id, session);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return session;
  }

  private recent(times: number[] | undefined): number[] {
    const since = this.options.clock() - LOGIN_WINDOW_MS;
    return (times ?? []).filter((at) => at > since);
  }

  private checkRate(clientIp: string): void {
    this.totalFailures = this.recent(this.totalFailures);
    if (this.recent(this.failures.get(clientIp)).length >= LOGIN_FAILURES_PER_IP || this.totalFailures.length >= LOGIN_FAILURES_TOTAL) {
      throw new ApiError('LOGIN_RATE_LIMITED');
    }
  }

  private recordFailure(clientIp: string): void {
    const now = this.options.clock();
    this.failures.set(clientIp, [...this.recent(this.failures.get(clientIp)), now]);
    this.totalFailures.push(now);
    while (this.failures.size > MAX_TRACKED_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
  }
}

import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../store/db.ts';
import { STATE_KEYS, StateStore } from '../store/state-store.ts';
import { hashPassword, verifyPassword, dummyHash } from '../auth/password.ts';
import { writeFileWhole } from '../util/write-whole.ts';
import { ApiError } from './errors.ts';
import { clientKey, normalizeClientIp } from '../util/networks.ts';

/** A session unused this long is forgotten (the admin logs in again). */
export const SESSION_IDLE_MS = 8 * 3600_000;
/** However busy, a session ends after this long. */
export const SESSION_MAX_AGE_MS = 7 * 24 * 3600_000;
/** Sessions kept at once; the least recently used goes first (a flood of log-ins cannot grow memory). */
export const MAX_SESSIONS = 100;
/** Failed log-ins from one address within the window before it must wait out the window. */
export const LOGIN_FAILURES_PER_IP = 5;
/**
 * Failed log-ins from all unfamiliar addresses within the window before log-ins from every unfamiliar address wait (a
 * botnet spreading guesses). Familiar addresses (below) neither count nor wait: nobody can lock the admin out of the
 * address they work from by guessing from elsewhere; each address still has its own LOGIN_FAILURES_PER_IP. The box's
 * own address is always familiar (its desktop app, an SSH tunnel).
 */
export const LOGIN_FAILURES_TOTAL = 50;
/** How the box itself connects to its own loopback listener. */
const BOX_ITSELF = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** An address the admin logged in from within this long is familiar (ms): a month covers holidays. */
export const FAMILIAR_ADDRESS_MS = 30 * 86400_000;
/** Familiar addresses remembered (the least recently used is dropped first); kept in the state table across restarts. */
const MAX_FAMILIAR_ADDRESSES = 50;
/** Addresses whose failures are remembered at once (the oldest is dropped first). */
const MAX_TRACKED_ADDRESSES = 10_000;
/** The state row holding the familiar addresses: JSON {address: last log-in ms}. */
const FAMILIAR_STATE = STATE_KEYS.adminLoginAddresses;

/** The state row holding the admin password hash (scrypt, auth/password.ts). */
export const ADMIN_PASSWORD_STATE = STATE_KEYS.adminPassword;
export const SETUP_TOKEN_FILE = 'setup-token';

export interface AdminSession {
  id: string;
  csrf: string;
  clientIp: string;
  createdAt: number;
  lastSeen: number;
  /**
   * The password hash in force when the session opened. The hash lives in the state table, where `moat admin
   * reset-password` (another process) writes too: a session whose hash is no longer the stored one has ended.
   */
  passwordHash: string;
}

export interface AdminAuthOptions {
  db: Db;
  dataDir: string;
  clock: () => number;
  /** A bearer token accepted instead of a session (the desktop shell that started this engine). */
  bearerToken?: string | null;
  /** The password check (scrypt); tests pass a spy that counts the checks. */
  verify?: (password: string, hash: string) => Promise<boolean>;
}

/** A failure counted before the password check; taken back when the password was right. */
interface Reservation {
  clientIp: string;
  at: number;
  total: boolean;
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
 *
 * Every guess (password or setup token) is counted as a failure synchronously, before any await, and taken back
 * when it was right: parallel log-ins are limited exactly as sequential ones. The first password is set by exactly
 * one caller: the setup token is spent before the hashing starts.
 */
export class AdminAuth {
  private readonly sessions = new Map<string, AdminSession>();
  private readonly failures = new Map<string, number[]>();
  private totalFailures: number[] = [];
  private setupToken: string | null = null;
  /** A first password is being hashed (claim or desktop shell): nobody else may set one meanwhile. */
  private settingUp = false;
  private readonly state: StateStore;
  private readonly verify: (password: string, hash: string) => Promise<boolean>;

  constructor(private readonly options: AdminAuthOptions) {
    this.state = new StateStore(options.db);
    this.verify = options.verify ?? verifyPassword;
  }

  get passwordSet(): boolean {
    return this.passwordHash() !== null;
  }

  private passwordHash(): string | null {
    return this.state.get(ADMIN_PASSWORD_STATE) ?? null;
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

  /** Claims the relay: the right token sets the first password and opens a session; of parallel claims one wins. */
  async claim(givenToken: string, password: string, clientIp: string): Promise<AdminSession> {
    if (this.passwordSet || this.settingUp) throw new ApiError('ALREADY_SET_UP');
    const reservation = this.reserve(clientIp);
    if (!this.setupToken || !sameSecret(givenToken.trim(), this.setupToken)) throw new ApiError('BAD_SETUP_TOKEN');
    this.release(reservation);
    const hash = await this.setFirst(password);
    this.rememberFamiliar(clientIp);
    return this.open(clientIp, hash);
  }

  async login(password: string, clientIp: string): Promise<AdminSession> {
    const reservation = this.reserve(clientIp);
    const stored = this.passwordHash();
    let ok: boolean;
    try {
      // without a password the work is done all the same, so the answer does not tell that the relay is unclaimed
      ok = await this.verify(password, stored ?? (await dummyHash()));
    } catch (error) {
      this.release(reservation);
      throw error;
    }
    if (!stored) {
      this.release(reservation);
      throw new ApiError('SETUP_REQUIRED');
    }
    if (!ok) throw new ApiError('WRONG_PASSWORD');
    this.release(reservation);
    // the right password from here: its earlier failures are forgiven (a guesser cannot get here); they are counted
    // under the reservation's key (the /64 of an unfamiliar IPv6 client)
    this.failures.delete(reservation.clientIp);
    this.rememberFamiliar(clientIp);
    // the hash that was checked, not a fresh read: a reset meanwhile must not open a session under the new password
    return this.open(clientIp, stored);
  }

  /** The first password, set by the desktop shell that started this engine (it holds the bearer token). */
  async setFirstPassword(password: string): Promise<void> {
    if (this.passwordSet || this.settingUp) throw new ApiError('ALREADY_SET_UP');
    await this.setFirst(password);
  }

  /** Sets a new password; every other session ends. The current password is a guess like a log-in's, counted alike. */
  async changePassword(current: string, password: string, keep: AdminSession | null, clientIp: string): Promise<void> {
    const reservation = this.reserve(clientIp);
    const stored = this.passwordHash();
    let ok: boolean;
    try {
      ok = stored !== null && (await this.verify(current, stored));
    } catch (error) {
      this.release(reservation);
      throw error;
    }
    if (!ok) throw new ApiError('WRONG_PASSWORD', 'the current password is wrong');
    this.release(reservation);
    const hash = await hashPassword(password);
    this.state.put(ADMIN_PASSWORD_STATE, hash);
    for (const id of [...this.sessions.keys()]) if (id !== keep?.id) this.sessions.delete(id);
    if (keep) keep.passwordHash = hash;
  }

  /** Called with no await before it: the token is spent and the flag set before the hashing gives others a turn. */
  private async setFirst(password: string): Promise<string> {
    const spent = this.setupToken;
    this.setupToken = null;
    this.settingUp = true;
    let hash: string;
    try {
      hash = await hashPassword(password);
      this.state.put(ADMIN_PASSWORD_STATE, hash);
    } catch (error) {
      this.setupToken = spent;
      throw error;
    } finally {
      this.settingUp = false;
    }
    rmSync(this.tokenFile, { force: true });
    return hash;
  }

  /**
   * The session a cookie names, if it is still alive (touching it). Each call reads the stored password hash (one
   * indexed SQLite read): when it is not the one the session opened under, the password was reset from the command
   * line (or changed) and every session ends.
   */
  session(id: string | undefined): AdminSession | null {
    if (!id) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    const current = this.passwordHash();
    if (session.passwordHash !== current) {
      for (const [other, open] of [...this.sessions]) if (open.passwordHash !== current) this.sessions.delete(other);
      return null;
    }
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

  /**
   * Whether a session is still open, without touching it (a live event stream does not keep a session from going
   * idle): not logged out, not idle past SESSION_IDLE_MS nor past its maximum age, its password hash still the stored one.
   */
  alive(session: AdminSession): boolean {
    const now = this.options.clock();
    return (
      this.sessions.get(session.id) === session &&
      now - session.lastSeen <= SESSION_IDLE_MS &&
      now - session.createdAt <= SESSION_MAX_AGE_MS &&
      session.passwordHash === this.passwordHash()
    );
  }

  bearerMatches(given: string): boolean {
    return Boolean(this.options.bearerToken) && sameSecret(given, this.options.bearerToken!);
  }

  logout(session: AdminSession | null): void {
    if (session) this.sessions.delete(session.id);
  }

  /** Opens a session under `passwordHash`: the hash the password was checked against (or just set). */
  private open(clientIp: string, passwordHash: string): AdminSession {
    const now = this.options.clock();
    const session: AdminSession = { id: token(32), csrf: token(24), clientIp, createdAt: now, lastSeen: now, passwordHash };
    this.sessions.set(session.id, session);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return session;
  }

  private recent(times: number[] | undefined): number[] {
    const since = this.options.clock() - LOGIN_WINDOW_MS;
    return (times ?? []).filter((at) => at > since);
  }

  /**
   * Refuses a guess from an address past its limit (or, unfamiliar, past the total), else counts it as a failure
   * now, before the check, so that parallel guesses see each other. Synchronous: callers call it before any await.
   */
  private reserve(address: string): Reservation {
    const now = this.options.clock();
    const familiar = this.isFamiliar(address, now);
    // an unfamiliar IPv6 client is counted by its /64 (new addresses there buy no new guesses); the admin's own
    // address by itself, so guesses from elsewhere on the office's /64 cannot lock the admin out of it
    const clientIp = familiar ? normalizeClientIp(address) : clientKey(address);
    this.totalFailures = this.recent(this.totalFailures);
    const mine = this.recent(this.failures.get(clientIp));
    if (mine.length >= LOGIN_FAILURES_PER_IP || (!familiar && this.totalFailures.length >= LOGIN_FAILURES_TOTAL)) {
      throw new ApiError('LOGIN_RATE_LIMITED');
    }
    this.failures.delete(clientIp);
    this.failures.set(clientIp, [...mine, now]);
    while (this.failures.size > MAX_TRACKED_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
    if (!familiar) this.totalFailures.push(now);
    return { clientIp, at: now, total: !familiar };
  }

  /** Takes back a reserved failure: the guess was right (or never judged). */
  private release(reservation: Reservation): void {
    const drop = (times: number[] | undefined) => {
      const index = times?.indexOf(reservation.at) ?? -1;
      if (index >= 0) times!.splice(index, 1);
    };
    drop(this.failures.get(reservation.clientIp));
    if (reservation.total) drop(this.totalFailures);
  }

  private familiarAddresses(): Record<string, number> {
    try {
      const parsed: unknown = JSON.parse(this.state.get(FAMILIAR_STATE) ?? '{}');
      return parsed && typeof parsed === 'object' ? (parsed as Record<string, number>) : {};
    } catch {
      // a damaged list makes every address unfamiliar: the ceiling applies to all, which is the safe way round
      return {};
    }
  }

  private isFamiliar(clientIp: string, now: number): boolean {
    // guesses from elsewhere (before the relay is claimed, nowhere is familiar) cannot lock the box itself out
    if (BOX_ITSELF.has(clientIp)) return true;
    const at = this.familiarAddresses()[clientIp];
    return typeof at === 'number' && now - at < FAMILIAR_ADDRESS_MS;
  }

  private rememberFamiliar(clientIp: string): void {
    const now = this.options.clock();
    const kept = Object.entries(this.familiarAddresses())
      .filter(([address, at]) => address !== clientIp && typeof at === 'number' && now - at < FAMILIAR_ADDRESS_MS)
      .sort((a, b) => b[1] - a[1])
      .slice(0, MAX_FAMILIAR_ADDRESSES - 1);
    this.state.put(FAMILIAR_STATE, JSON.stringify(Object.fromEntries([[clientIp, now], ...kept])));
  }
}

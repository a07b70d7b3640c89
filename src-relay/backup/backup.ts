import { closeSync, copyFileSync, createReadStream, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { readPassphrase } from '../config/passphrase-file.ts';
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import { checkpoint, integrityProblem, openCopy, openDatabase, schemaStrangers, schemaVersion, type Db } from '../store/db.ts';
import { QueueStore } from '../store/queue-store.ts';
import { STATE_KEYS, StateStore } from '../store/state-store.ts';
import { QUEUE_ID_PATTERN } from '../util/ids.ts';
import { syncFolder } from '../util/write-whole.ts';
import { ByteReader, SAFE_NAME, TarWriter, UnsafeEntryError, readTar } from './archive.ts';
import { BackupCryptoError, ENCRYPTED_MAGIC, GCM_TAG_BYTES, PRELUDE_READ_BYTES, startDecryption, startEncryption } from './crypto.ts';
import { MOAT_VERSION } from '../util/version.ts';

/** The first entry of every backup; its presence (with this format name) is what makes a tar file a Moat backup. */
export const MANIFEST_NAME = 'moat-backup.json';
/** The last entry: `sha256sum` lines for every other entry; restore checks each one. */
export const SUMS_NAME = 'moat-backup.sha256';
/** Folders of the data directory copied whole (keys, certificates; later DKIM keys and quarantine). */
export const BACKUP_FOLDERS = ['tls', 'dkim', 'keys', 'quarantine'] as const;
/** Output is written through a buffer of this size (tar headers are 512 bytes; the disk likes bigger writes). */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/** The online backup copies this many pages per step; when another connection's writes restart it, it copies the rest in one step. */
const BACKUP_PAGES_PER_STEP = 4096;
/** Staging folders older than this are leftovers of a crash and are removed even when their process id is in use again. */
const STALE_STAGING_MS = 86400_000;
const STAGING_PREFIX = '.backup-staging-';
const RESTORE_STAGING_PREFIX = '.restore-staging-';
// Leftovers of a killed backup or restore, named by the process that made them: staging folders in the data
// directory, and the half-written archive beside a scheduled backup
const BACKUP_STAGING = /^\.backup-staging-(\d+)-[0-9a-f]{8}$/;
const RESTORE_STAGING = /^\.restore-staging-(\d+)-[0-9a-f]{8}$/;
const SCHEDULED_TEMP = /^\.moat-backup-\d{8}T\d{6}Z\.moat\.(\d+)\.[0-9a-f]{6}\.tmp$/;
/** The manifest is a few hundred bytes; anything past this is not one (and is not read into memory). */
const MAX_MANIFEST_BYTES = 1024 * 1024;
/** Files at the top of a backup; everything else lives in one of the areas below (see backupNameProblem). */
const ROOT_FILES: ReadonlySet<string> = new Set([MANIFEST_NAME, SUMS_NAME, 'moat.db', 'moat.json', 'effective-config.json']);
/** A file in tls/, dkim/, keys/ or quarantine/: one plain name, not hidden (temp files start with a dot). */
const FOLDER_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** Where a certificate from outside the data directory travels in the archive, by the setting that named it. */
const EXTERNAL_NAMES = { 'mx.tls.cert': 'external/mx-tls-cert.pem', 'mx.tls.key': 'external/mx-tls-key.pem' } as const;
/** What a restore may move into the target: the root files and the areas, plus SQLite's companions of moat.db. */
const RESTORED_TOP_LEVEL: ReadonlySet<string> = new Set(['moat.db', 'moat.db-wal', 'moat.db-shm', 'moat.json', 'effective-config.json', 'spool', ...BACKUP_FOLDERS]);
// control characters in a manifest string would reach the terminal when restore reports it
const CONTROL_CHARS = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

export type BackupErrorCode = 'WRONG_PASSPHRASE' | 'NEEDS_PASSPHRASE' | 'PASSPHRASE_FILE' | 'DAMAGED' | 'NOT_A_BACKUP' | 'UNSAFE' | 'TARGET_NOT_EMPTY' | 'NO_DATA_DIR';

export class BackupError extends Error {
  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface Manifest {
  format: 'moat-backup';
  version: 1;
  createdAt: string;
  moat: string;
  hostname: string;
  dataDir: string;
  schema: number;
  messages: number;
  /** Certificate/key files that lived outside the data directory: where they were and which setting named them. */
  external: { name: string; original: string; setting: 'mx.tls.cert' | 'mx.tls.key' }[];
}

export interface BackupSummary {
  file: string;
  bytes: number;
  /** Messages queued for delivery in the snapshot. */
  messages: number;
  /** Messages in quarantine in the snapshot (their files are in it too). */
  quarantined: number;
  files: number;
  encrypted: boolean;
  createdAt: number;
}

export interface CreateBackupOptions {
  dataDir: string;
  /** The backup file to write (replaced whole, never half-written). */
  file: string;
  /** The configuration in use: kept as effective-config.json beside the data directory's moat.json. */
  config: Config;
  /** The config file that was read, when it is not DATA/moat.json. */
  configFile?: string;
  passphrase?: string;
  /** The relay's own connection (scheduled backups in serve); otherwise a connection is opened and closed here. */
  db?: Db;
  clock?: () => number;
  logger?: Logger;
}

/** A passphrase file: its text without the final line break; a missing, unreadable or empty one is refused in plain words. */
export function readPassphraseFile(path: string): string {
  const read = readPassphrase(path);
  if ('problem' in read) throw new BackupError('PASSPHRASE_FILE', `the passphrase file cannot be used: ${read.problem}`);
  return read.value;
}

/** Buffers small writes; encrypts when a cipher is given. */
class Output {
  private pending: Buffer[] = [];
  private size = 0;
  bytes = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly cipher: { update(data: Buffer): Buffer } | null,
  ) {}

  write = async (chunk: Buffer): Promise<void> => {
    const data = this.cipher ? this.cipher.update(chunk) : chunk;
    if (data.length === 0) return;
    this.pending.push(data);
    this.size += data.length;
    if (this.size >= WRITE_BUFFER_BYTES) await this.flush();
  };

  async flush(): Promise<void> {
    if (this.size === 0) return;
    const data = Buffer.concat(this.pending, this.size);
    this.pending = [];
    this.size = 0;
    await this.handle.write(data);
    this.bytes += data.length;
  }
}

function linkOrCopy(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    try {
      copyFileSync(from, to);
      return true;
    } catch (copyError) {
      if ((copyError as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw copyError;
    }
  }
}

/** Every regular file below `dir` that a restore accepts (backupNameProblem), relative names with '/', symlinks left out. */
function walkFiles(dir: string, prefix: string): { name: string; path: string }[] {
  const found: { name: string; path: string }[] = [];
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const name = `${prefix}/${entry.name}`;
    if (entry.isDirectory()) found.push(...walkFiles(path, name));
    else if (entry.isFile() && backupNameProblem(name) === null) found.push({ name, path });
  }
  return found;
}

/**
 * Why a name may not be in a backup, or null when it may: restore writes only these names, so none can leave the
 * target (no absolute path, "..", backslash or NUL) and none is something Moat never wrote. The fixed set: the root
 * files, spool/msg/QUEUEID, one plain file name in tls/, dkim/, keys/ or quarantine/, and the two external certificates.
 */
export function backupNameProblem(name: string): string | null {
  if (name.includes('\0')) return 'it holds a NUL character';
  if (name.includes('\\')) return 'it holds a backslash';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'it is an absolute path';
  const parts = name.split('/');
  if (parts.includes('..')) return 'it climbs out of the target with ".."';
  if (parts.some((part) => part === '' || part === '.')) return 'it has an empty or "." part';
  if (!SAFE_NAME.test(name)) return 'it holds characters other than letters, digits, ".", "_" and "-"';
  if (ROOT_FILES.has(name)) return null;
  const [area, ...rest] = parts;
  if (area === 'spool') return rest.length === 2 && rest[0] === 'msg' && QUEUE_ID_PATTERN.test(rest[1]!) ? null : 'a spool file must be spool/msg/ and a queue id';
  if (area === 'external') return (Object.values(EXTERNAL_NAMES) as string[]).includes(name) ? null : `external/ holds only ${Object.values(EXTERNAL_NAMES).join(' and ')}`;
  if ((BACKUP_FOLDERS as readonly string[]).includes(area!)) return rest.length === 1 && FOLDER_FILE.test(rest[0]!) ? null : `${area}/ holds only plain file names, no folders`;
  return 'it is not a name a Moat backup holds';
}

function processRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LeftoverOptions {
  dataDir: string;
  /** The scheduled backups' folder, where a killed backup leaves its half-written archive. */
  folder?: string;
  now: number;
  /** Whether the process that made a leftover still runs (a backup by the CLI may be under way while serve starts). */
  isRunning?: (pid: number) => boolean;
  logger?: Logger;
}

/**
 * Removes what a killed backup or restore left: its staging folders in the data directory and its temp archive in
 * the backup folder, once the process that made them is gone (or after a day). Only names of exactly that shape are
 * touched, only real folders/files (never a link), and nothing outside these two folders. Returns the paths removed.
 */
export function removeBackupLeftovers(options: LeftoverOptions): string[] {
  const isRunning = options.isRunning ?? processRunning;
  const removed: string[] = [];
  const sweep = (dir: string, pattern: RegExp, kind: 'folder' | 'file') => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return; // no such folder yet
    }
    for (const name of names) {
      const match = pattern.exec(name);
      if (!match) continue;
      const path = join(dir, name);
      try {
        const stat = lstatSync(path);
        if (kind === 'folder' ? !stat.isDirectory() : !stat.isFile()) continue;
        if (isRunning(Number(match[1])) && options.now - stat.mtimeMs <= STALE_STAGING_MS) continue;
        rmSync(path, { recursive: kind === 'folder', force: true });
        removed.push(path);
      } catch {
        // raced with another cleanup
      }
    }
  };
  sweep(options.dataDir, BACKUP_STAGING, 'folder');
  sweep(options.dataDir, RESTORE_STAGING, 'folder');
  if (options.folder) sweep(options.folder, SCHEDULED_TEMP, 'file');
  if (removed.length) options.logger?.info({ count: removed.length, removed: removed.join(', ') }, 'BACKUP_LEFTOVERS_REMOVED');
  return removed;
}

/**
 * A consistent snapshot while the relay serves: (1) hard-link every spool file into a staging folder (spool
 * files never change once written, so a link is a snapshot of it), (2) copy the database with SQLite's online
 * backup, (3) link the files of messages that arrived between (1) and (2); a message that finished in that
 * moment gets its final state from the live database, so the restored relay neither loses nor resends it.
 * Then everything is streamed into one archive (optionally encrypted), written to a temp name and renamed.
 */
export async function createBackup(options: CreateBackupOptions): Promise<BackupSummary> {
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? silentLogger;
  const dataDir = resolve(options.dataDir);
  if (!existsSync(join(dataDir, 'moat.db'))) throw new BackupError('NO_DATA_DIR', `no Moat data directory at ${dataDir} (moat.db is missing)`);
  const startedAt = clock();
  removeBackupLeftovers({ dataDir, now: startedAt, logger });
  const staging = join(dataDir, `${STAGING_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  const stagedSpool = join(staging, 'spool');
  mkdirSync(stagedSpool, { recursive: true, mode: 0o700 });
  const db = options.db ?? openDatabase(dataDir);
  const spoolDir = join(dataDir, 'spool', 'msg');
  try {
    const linked = new Set<string>();
    for (const name of existsSync(spoolDir) ? readdirSync(spoolDir) : []) {
      if (QUEUE_ID_PATTERN.test(name) && linkOrCopy(join(spoolDir, name), join(stagedSpool, name))) linked.add(name);
    }
    const snapshotPath = join(staging, 'moat.db');
    let lastRemaining = Infinity;
    await db.backup(snapshotPath, {
      progress: ({ totalPages, remainingPages }) => {
        // a write by another connection restarts the copy; then take the rest in one step so it cannot starve
        const restarted = remainingPages > lastRemaining;
        lastRemaining = remainingPages;
        return restarted ? totalPages : BACKUP_PAGES_PER_STEP;
      },
    });
    const snapshot = openCopy(snapshotPath);
    let messages = 0;
    let quarantined = 0;
    let schema = 0;
    try {
      schema = schemaVersion(snapshot);
      const copy = new QueueStore(snapshot);
      const finishedMeanwhile: string[] = [];
      for (const row of copy.keptFiles()) {
        if (!linked.has(row.id) && linkOrCopy(join(spoolDir, row.id), join(stagedSpool, row.id))) linked.add(row.id);
        if (!linked.has(row.id)) finishedMeanwhile.push(row.id);
      }
      if (finishedMeanwhile.length) takeLiveState(copy, db, finishedMeanwhile, logger);
      const kept = new Set(copy.keptFiles().map((row) => row.id));
      for (const id of linked) if (!kept.has(id)) rmSync(join(stagedSpool, id), { force: true });
      messages = copy.queuedCount();
      quarantined = copy.quarantineCount();
    } finally {
      snapshot.close();
    }
    const summary = await writeArchive({ ...options, dataDir, staging, schema, messages, quarantined, createdAt: startedAt });
    logger.info({ file: summary.file, bytes: summary.bytes, messages, quarantined, encrypted: summary.encrypted }, 'BACKUP_WRITTEN');
    return summary;
  } finally {
    if (!options.db) db.close();
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Messages queued in the snapshot whose file was gone by (3): they finished meanwhile; the snapshot takes their live state. */
function takeLiveState(snapshot: QueueStore, live: Db, ids: string[], logger: Logger): void {
  for (const id of snapshot.takeFinished(new QueueStore(live), ids)) logger.warn({ id }, 'BACKUP_SPOOL_MISSING');
}

async function writeArchive(options: CreateBackupOptions & { staging: string; schema: number; messages: number; quarantined: number; createdAt: number }): Promise<BackupSummary> {
  const { dataDir, staging, config } = options;
  const file = resolve(options.file);
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  let files = 0;
  try {
    const encryption = options.passphrase ? await startEncryption(options.passphrase) : null;
    if (encryption) await handle.write(encryption.prelude);
    const output = new Output(handle, encryption?.cipher ?? null);
    const tar = new TarWriter(output.write);
    const external: Manifest['external'] = [];
    const extra: { name: string; path: string }[] = [];
    for (const [setting, path] of [['mx.tls.cert', config.mx.tls.cert], ['mx.tls.key', config.mx.tls.key]] as const) {
      if (!path) continue;
      const name = `external/${setting === 'mx.tls.cert' ? 'mx-tls-cert.pem' : 'mx-tls-key.pem'}`;
      external.push({ name, original: resolve(path), setting });
      extra.push({ name, path });
    }
    const manifest: Manifest = {
      format: 'moat-backup',
      version: 1,
      createdAt: new Date(options.createdAt).toISOString(),
      moat: MOAT_VERSION,
      hostname: osHostname(),
      dataDir,
      schema: options.schema,
      messages: options.messages,
      external,
    };
    const addFile = async (name: string, path: string) => {
      const stat = statSync(path);
      await tar.add(name, stat.size, createReadStream(path), stat.mtimeMs);
      files++;
    };
    const addText = async (name: string, text: string) => {
      const data = Buffer.from(text);
      await tar.add(name, data.length, data, options.createdAt);
      files++;
    };
    await addText(MANIFEST_NAME, `${JSON.stringify(manifest, null, 2)}\n`);
    await addFile('moat.db', join(staging, 'moat.db'));
    const configFile = options.configFile && existsSync(options.configFile) ? options.configFile : join(dataDir, 'moat.json');
    if (existsSync(configFile)) await addFile('moat.json', configFile);
    await addText('effective-config.json', `${JSON.stringify(config, null, 2)}\n`);
    for (const folder of BACKUP_FOLDERS) for (const entry of walkFiles(join(dataDir, folder), folder)) await addFile(entry.name, entry.path);
    for (const entry of extra) await addFile(entry.name, entry.path);
    for (const id of readdirSync(join(staging, 'spool')).sort()) await addFile(`spool/msg/${id}`, join(staging, 'spool', id));
    const sums = [...tar.sums].map(([name, sum]) => `${sum}  ${name}`).join('\n');
    await addText(SUMS_NAME, `${sums}\n`);
    await tar.finish();
    if (encryption) {
      await output.write(Buffer.alloc(0));
      const final = encryption.cipher.final();
      await output.flush();
      await handle.write(Buffer.concat([final, encryption.cipher.getAuthTag()]));
    } else await output.flush();
    await handle.sync();
    await handle.close();
    await rename(temp, file);
    await syncFolder(dirname(file));
    return { file, bytes: statSync(file).size, messages: options.messages, quarantined: options.quarantined, files, encrypted: Boolean(encryption), createdAt: options.createdAt };
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
}

// ------------------------------------------------------------------------------------------------- restore

export interface RestoreOptions {
  file: string;
  dataDir: string;
  passphrase?: string;
  /**
   * Leave the restored queue due at once (a real disaster recovery: the old relay is gone). Without it the whole
   * queue is held, as `moat queue hold --all` does: a restore test on another box while the old relay still runs
   * would otherwise deliver every queued message a second time.
   */
  deliverQueue?: boolean;
  clock?: () => number;
}

export interface RestoreSummary {
  dataDir: string;
  manifest: Manifest;
  messages: number;
  /** Messages in quarantine, as they were (not due for delivery). */
  quarantined: number;
  /** Queued messages whose spool file was not in the backup (set aside as damaged at the first start). */
  missing: string[];
  files: number;
  notes: string[];
  /** Whether the restored relay's queue is held (the default whenever messages came back; see deliverQueue). */
  queueHeld: boolean;
}

/** Whether `file` starts like an encrypted backup (else it must be a plain tar backup). */
export async function isEncryptedBackup(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(ENCRYPTED_MAGIC.length);
    await handle.read(head, 0, head.length, 0);
    return head.equals(ENCRYPTED_MAGIC);
  } finally {
    await handle.close();
  }
}

/** The archive's plaintext as a stream of chunks, decrypting when needed; `finish()` verifies the GCM tag. */
async function openArchive(file: string, passphrase: string | undefined): Promise<{ stream: AsyncIterable<Buffer>; finish: () => void }> {
  const size = statSync(file).size;
  if (!(await isEncryptedBackup(file))) return { stream: createReadStream(file), finish: () => {} };
  if (!passphrase) throw new BackupError('NEEDS_PASSPHRASE', 'this backup is encrypted: give its passphrase with --passphrase-file FILE');
  const handle = await open(file, 'r');
  let head: Buffer;
  let tag: Buffer;
  try {
    head = Buffer.alloc(Math.min(PRELUDE_READ_BYTES, size));
    await handle.read(head, 0, head.length, 0);
    tag = Buffer.alloc(GCM_TAG_BYTES);
    if (size < ENCRYPTED_MAGIC.length + 4 + GCM_TAG_BYTES) throw new BackupError('DAMAGED', 'the backup is truncated');
    await handle.read(tag, 0, GCM_TAG_BYTES, size - GCM_TAG_BYTES);
  } finally {
    await handle.close();
  }
  let decryption;
  try {
    decryption = await startDecryption(head, tag, size, passphrase);
  } catch (error) {
    if (error instanceof BackupCryptoError) throw new BackupError(error.code, error.message);
    throw error;
  }
  const { decipher, start, end } = decryption;
  if (end < start) throw new BackupError('DAMAGED', 'the backup is truncated');
  async function* plaintext(): AsyncGenerator<Buffer> {
    if (end === start) return;
    for await (const chunk of createReadStream(file, { start, end: end - 1 })) {
      const out = decipher.update(chunk as Buffer);
      if (out.length) yield out;
    }
  }
  return {
    stream: plaintext(),
    finish: () => {
      try {
        decipher.final();
      } catch {
        throw new BackupError('DAMAGED', 'the backup is damaged or was altered (authentication failed)');
      }
    },
  };
}

/** The target must be a folder that is empty, or not exist yet (checked before anything is written). */
function checkTarget(dataDir: string): { exists: boolean } {
  let stat;
  try {
    stat = lstatSync(dataDir);
  } catch {
    return { exists: false };
  }
  if (!stat.isDirectory()) throw new BackupError('TARGET_NOT_EMPTY', `${dataDir} is not a directory`);
  const entries = readdirSync(dataDir);
  if (entries.length > 0) {
    throw new BackupError('TARGET_NOT_EMPTY', `${dataDir} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}): restore only into a new or empty directory`);
  }
  return { exists: true };
}

const unsafe = (message: string) => new BackupError('UNSAFE', `refusing this backup: ${message}`);

const isText = (value: unknown): value is string => typeof value === 'string' && !CONTROL_CHARS.test(value);

/** The manifest, every field checked: its names are the only ones restore moves files by, and its text is printed. */
function parseManifest(text: string, file: string): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BackupError('NOT_A_BACKUP', `${file} is not a Moat backup (its manifest is not JSON)`);
  }
  const m = parsed as Partial<Manifest> | null;
  if (!m || typeof m !== 'object' || m.format !== 'moat-backup') throw new BackupError('NOT_A_BACKUP', `${file} is not a Moat backup`);
  if (m.version !== 1) throw new BackupError('NOT_A_BACKUP', `this backup was made by a newer Moat (format ${JSON.stringify(m.version)})`);
  for (const key of ['createdAt', 'moat', 'hostname', 'dataDir'] as const) {
    if (!isText(m[key])) throw unsafe(`the manifest's ${key} is not plain text`);
  }
  if (Number.isNaN(Date.parse(m.createdAt!))) throw unsafe('the manifest\'s createdAt is not a date');
  for (const key of ['schema', 'messages'] as const) {
    if (!Number.isSafeInteger(m[key]) || m[key]! < 0) throw unsafe(`the manifest's ${key} is not a count`);
  }
  if (!Array.isArray(m.external)) throw unsafe('the manifest\'s external list is missing');
  const settings = new Set<string>();
  for (const entry of m.external as unknown[]) {
    const { name, original, setting } = (entry ?? {}) as Record<string, unknown>;
    if (setting !== 'mx.tls.cert' && setting !== 'mx.tls.key') throw unsafe(`the manifest names an external file for ${JSON.stringify(setting)}, which is no setting a backup keeps`);
    if (settings.has(setting)) throw unsafe(`the manifest names the external file for ${setting} twice`);
    settings.add(setting);
    if (name !== EXTERNAL_NAMES[setting]) throw unsafe(`the manifest names ${JSON.stringify(name)} for ${setting}; a backup keeps it only as ${EXTERNAL_NAMES[setting]}`);
    if (!isText(original)) throw unsafe(`the manifest's original path for ${setting} is not plain text`);
  }
  return m as Manifest;
}

interface ArchiveContents {
  manifest: Manifest;
  /** Each file's SHA-256 as the checksum list gives it (and as read). */
  sums: Map<string, string>;
  files: number;
}

/** Writes one entry's body somewhere and returns its SHA-256; without a store the body is only hashed. */
type EntryStore = (name: string, body: AsyncIterable<Buffer>) => Promise<string>;

/**
 * Reads a whole backup and checks it: every name (backupNameProblem, no duplicates, none that differ only in case
 * or after Unicode normalisation), every entry a plain file, the manifest, the checksum list, the GCM tag. `store`
 * receives each file's body; the first pass gives none, so nothing is written before all of this holds.
 */
async function readBackup(file: string, passphrase: string | undefined, store: EntryStore | null): Promise<ArchiveContents> {
  const { stream, finish } = await openArchive(file, passphrase);
  const reader = new ByteReader(stream);
  const sums = new Map<string, string>();
  const seen = new Set<string>();
  let manifest: Manifest | null = null;
  let listed: Map<string, string> | null = null;
  let files = 0;
  try {
    for await (const entry of readTar(reader)) {
      const problem = backupNameProblem(entry.name);
      if (problem) throw unsafe(`the archive holds ${JSON.stringify(entry.name)}: ${problem}`);
      const folded = entry.name.normalize('NFKC').toLowerCase();
      if (seen.has(folded)) throw unsafe(`the archive holds ${JSON.stringify(entry.name)} twice (or two names that differ only in case)`);
      seen.add(folded);
      if (!manifest) {
        if (entry.name !== MANIFEST_NAME || entry.size > MAX_MANIFEST_BYTES) throw new BackupError('NOT_A_BACKUP', `${file} is not a Moat backup`);
        manifest = parseManifest(Buffer.concat(await collect(entry.body, sums, entry.name)).toString('utf8'), file);
        continue;
      }
      if (entry.name === SUMS_NAME) {
        listed = parseSums(Buffer.concat(await collect(entry.body, null, entry.name)).toString('utf8'));
        continue;
      }
      if (listed) throw new BackupError('DAMAGED', `${entry.name} comes after the checksum list`);
      if (entry.name.startsWith('external/') && !manifest.external.some((external) => external.name === entry.name)) {
        throw unsafe(`the archive holds ${entry.name}, which its manifest does not name`);
      }
      sums.set(entry.name, store ? await store(entry.name, entry.body) : await hashOf(entry.body));
      files++;
    }
    await reader.drain();
  } catch (error) {
    // with encryption, a damaged file shows first as garbage tar headers; the tag tells which it is
    await reader.drain().catch(() => {});
    finish();
    if (error instanceof BackupError) throw error;
    if (error instanceof UnsafeEntryError) throw unsafe(error.message);
    if (!manifest) throw new BackupError('NOT_A_BACKUP', `${file} is not a Moat backup (${(error as Error).message})`);
    throw new BackupError('DAMAGED', `the backup cannot be read: ${(error as Error).message}`);
  }
  finish();
  if (!manifest) throw new BackupError('NOT_A_BACKUP', `${file} is not a Moat backup`);
  if (!listed) throw new BackupError('DAMAGED', 'the backup has no checksum list (truncated?)');
  for (const [name, sum] of listed) {
    if (sums.get(name) !== sum) throw new BackupError('DAMAGED', `${name} does not match its checksum`);
  }
  for (const name of sums.keys()) if (!listed.has(name)) throw new BackupError('DAMAGED', `${name} is not in the checksum list`);
  if (!sums.has('moat.db')) throw new BackupError('DAMAGED', 'the backup holds no database');
  for (const external of manifest.external) if (!sums.has(external.name)) throw new BackupError('DAMAGED', `the manifest names ${external.name}, which the archive does not hold`);
  return { manifest, sums, files };
}

async function hashOf(body: AsyncIterable<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Rebuilds a data directory from a backup. The whole archive is read and checked first (names against a fixed set,
 * manifest, every file's SHA-256, the GCM tag) before anything is written; then it is read again into a staging
 * folder inside the target, where SQLite's integrity check and each queued message's spool file are checked, and
 * moved into place. Nothing outside the target is ever moved, overwritten or deleted. Pending recipients are made
 * due at once; the queue is held unless `deliverQueue` is set, so a restore test does not deliver mail twice.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreSummary> {
  const clock = options.clock ?? Date.now;
  const dataDir = resolve(options.dataDir);
  if (!existsSync(options.file)) throw new BackupError('NOT_A_BACKUP', `${options.file} does not exist`);
  // a restore killed midway left its staging here: not what "not empty" is about
  removeBackupLeftovers({ dataDir, now: clock() });
  checkTarget(dataDir);
  const checked = await readBackup(options.file, options.passphrase, null);
  const { exists } = checkTarget(dataDir);
  if (!exists) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const staging = join(dataDir, `${RESTORE_STAGING_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(staging, { mode: 0o700 });
  try {
    const write: EntryStore = async (name, body) => {
      const target = join(staging, ...name.split('/'));
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      const out = await open(target, 'wx', 0o600);
      const hash = createHash('sha256');
      try {
        for await (const chunk of body) {
          hash.update(chunk);
          await out.write(chunk);
        }
        await out.sync();
      } finally {
        await out.close();
      }
      return hash.digest('hex');
    };
    const { manifest, sums, files } = await readBackup(options.file, options.passphrase, write);
    // the file must not have changed between the check and the copy
    if (JSON.stringify(manifest) !== JSON.stringify(checked.manifest) || sums.size !== checked.sums.size || [...sums].some(([name, sum]) => checked.sums.get(name) !== sum)) {
      throw new BackupError('DAMAGED', `${options.file} changed while it was being restored`);
    }
    const notes = finishRestore(staging, dataDir, manifest, options.file, clock);
    const { messages, quarantined, missing, queueHeld } = checkRestoredQueue(staging, clock, options.deliverQueue ? null : { file: resolve(options.file), manifest });
    const moving = readdirSync(staging);
    const stray = moving.find((name) => !RESTORED_TOP_LEVEL.has(name));
    if (stray !== undefined) throw unsafe(`restore made ${JSON.stringify(stray)}, which it never moves into a data directory`);
    for (const name of moving) {
      const destination = join(dataDir, name);
      if (existsSync(destination)) throw new BackupError('TARGET_NOT_EMPTY', `${destination} appeared while restoring; nothing there was replaced`);
      renameSync(join(staging, name), destination);
    }
    rmSync(staging, { recursive: true, force: true });
    await syncFolder(dataDir);
    return { dataDir, manifest, messages, quarantined, missing, files, notes, queueHeld };
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!exists) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

async function collect(body: AsyncIterable<Buffer>, sums: Map<string, string> | null, name: string): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  sums?.set(name, createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
  return chunks;
}

/** The checksum list: one `SUM  NAME` line per file; a name restore would refuse, or one listed twice, damages it. */
function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!match || backupNameProblem(match[2]!) !== null || sums.has(match[2]!)) throw new BackupError('DAMAGED', 'the checksum list is damaged');
    sums.set(match[2]!, match[1]!);
  }
  return sums;
}

/** Certificates from outside the old data directory go into DATA/tls and the config points there; a config is always left. */
function finishRestore(staging: string, dataDir: string, manifest: Manifest, file: string, clock: () => number): string[] {
  const notes: string[] = [];
  const configPath = join(staging, 'moat.json');
  const effective = join(staging, 'effective-config.json');
  if (!existsSync(configPath) && existsSync(effective)) {
    renameSync(effective, configPath);
    notes.push('the source had no moat.json (it ran on flags): the configuration it ran with was written to moat.json');
  }
  if (manifest.external.length) {
    const config = existsSync(configPath) ? readConfigObject(configPath) : {};
    mkdirSync(join(staging, 'tls'), { recursive: true, mode: 0o700 });
    for (const entry of manifest.external) {
      const local = join('tls', entry.setting === 'mx.tls.cert' ? 'restored-cert.pem' : 'restored-key.pem');
      renameSync(join(staging, ...entry.name.split('/')), join(staging, local));
      config.mx = { ...(config.mx ?? {}), tls: { ...(config.mx?.tls ?? {}), [entry.setting === 'mx.tls.cert' ? 'cert' : 'key']: join(dataDir, local) } };
      notes.push(`${entry.setting} was ${entry.original} on the old box; it is now ${join(dataDir, local)}`);
    }
    const data = `${JSON.stringify(config, null, 2)}\n`;
    writeFileDurably(configPath, data);
    rmSync(join(staging, 'external'), { recursive: true, force: true });
  }
  // before any migration runs over it: a trigger of someone else's would fire in it
  const strangers = schemaStrangers(join(staging, 'moat.db'));
  if (strangers.length) throw unsafe(`its database is not as Moat makes it: ${strangers.slice(0, 5).join('; ')}${strangers.length > 5 ? ` and ${strangers.length - 5} more` : ''}`);
  const db = openDatabase(staging);
  try {
    const problem = integrityProblem(db);
    if (problem !== null) throw new BackupError('DAMAGED', `the database in the backup fails SQLite's integrity check: ${problem}`);
    const now = clock();
    // where the old box's listeners were says nothing about this one
    const state = new StateStore(db);
    state.delete(STATE_KEYS.servedMx);
    state.delete(STATE_KEYS.servedSubmission);
    state.delete(STATE_KEYS.servedAdmin);
    state.delete(STATE_KEYS.selfTestHelo);
    state.delete(STATE_KEYS.servedCertificate);
    state.put(STATE_KEYS.lastBackup, JSON.stringify({ at: Date.parse(manifest.createdAt), file: resolve(file), restoredAt: now }));
  } finally {
    db.close();
  }
  return notes;
}

/** The restored moat.json as an object (to point it at the moved certificates); anything else damages the backup. */
function readConfigObject(path: string): Record<string, any> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new BackupError('DAMAGED', 'the moat.json in the backup is not JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BackupError('DAMAGED', 'the moat.json in the backup is not a JSON object');
  return parsed as Record<string, any>;
}

function writeFileDurably(path: string, data: string): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

/**
 * Pending recipients become due now; queued messages without their spool file are reported (start-up sets them
 * aside). With `hold` (the default) and mail in the queue, the whole queue is held, as `moat queue hold --all` does,
 * with a history row for the queue and for each message saying why: the old relay may still be delivering them.
 */
function checkRestoredQueue(staging: string, clock: () => number, hold: { file: string; manifest: Manifest } | null): { messages: number; quarantined: number; missing: string[]; queueHeld: boolean } {
  const db = openDatabase(staging);
  try {
    const store = new QueueStore(db);
    const kept = store.keptFiles();
    const queued = store.queuedCount();
    const missing: string[] = [];
    for (const row of kept) {
      const path = join(staging, 'spool', 'msg', row.id);
      if (!existsSync(path) || statSync(path).size !== row.spool_bytes) missing.push(row.id);
    }
    const now = clock();
    store.allPendingDue(now);
    const queueHeld = hold !== null && queued > 0;
    if (queueHeld) {
      const detail = `whole queue held by the restore of ${hold.file} (a backup of ${hold.manifest.hostname} taken ${hold.manifest.createdAt}): the old relay may still deliver these messages; resume once it is gone for good`;
      store.atomically(() => {
        store.setState(STATE_KEYS.queueHeld, '1');
        store.insertHistory([{ at: now, action: 'QUEUE_HELD', detail }, ...store.queued().map((row) => ({ at: now, queueId: row.id, action: 'QUEUE_HELD' as const, detail }))]);
      });
    }
    checkpoint(db);
    return { messages: queued, quarantined: store.quarantineCount(), missing, queueHeld };
  } finally {
    db.close();
  }
}

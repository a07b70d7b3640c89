// Restore treats a backup as hostile input: crafted manifests and crafted tar entries are refused before anything
// is written, and nothing outside the target is ever moved, overwritten or deleted. Leftovers of a killed backup or
// restore are removed by name and process, nothing else.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TarWriter, tarHeader } from '../../../src-relay/backup/archive.ts';
import { BackupError, MANIFEST_NAME, SUMS_NAME, backupNameProblem, removeBackupLeftovers, restoreBackup } from '../../../src-relay/backup/backup.ts';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function world(): string {
  const dir = tempDir('moat-restore-');
  dirs.push(dir);
  return dir;
}

const SPOOL_ID = '0123456789ABCDEF012345';

/** A real, empty Moat database, so a crafted archive is a good backup but for its one trick. */
const DATABASE = (() => {
  const dir = world();
  openDatabase(dir).close();
  return readFileSync(join(dir, 'moat.db'));
})();

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** One raw tar entry: the header written by hand, so names and types the writer refuses can be put in. */
function rawEntry(name: string, data: Buffer, type = '0', linkName = ''): Buffer {
  const header = tarHeader('placeholder', data.length, 0);
  header.fill(0, 0, 100);
  header.write(name, 0, 'latin1');
  header[156] = type.charCodeAt(0);
  header.write(linkName, 157, 'latin1');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

interface Crafted {
  manifest?: Record<string, unknown>;
  /** Files after the manifest, written with raw headers; listed in the checksum list unless `unlisted`. */
  entries?: { name: string; data: Buffer; type?: string; linkName?: string }[];
}

function goodManifest(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { format: 'moat-backup', version: 1, createdAt: '2026-11-28T10:00:00.000Z', moat: '1.0.0', hostname: 'old-box', dataDir: '/var/lib/moat', schema: 1, messages: 0, external: [], ...extra };
}

function craft(file: string, options: Crafted = {}): void {
  const manifest = Buffer.from(JSON.stringify(options.manifest ?? goodManifest()));
  const entries = options.entries ?? [{ name: 'moat.db', data: DATABASE }];
  const sums = [[MANIFEST_NAME, manifest] as const, ...entries.map((entry) => [entry.name, entry.data] as const)].map(([name, data]) => `${sha256(data)}  ${name}`);
  const parts = [rawEntry(MANIFEST_NAME, manifest), ...entries.map((entry) => rawEntry(entry.name, entry.data, entry.type, entry.linkName))];
  parts.push(rawEntry(SUMS_NAME, Buffer.from(`${sums.join('\n')}\n`)), Buffer.alloc(1024));
  writeFileSync(file, Buffer.concat(parts));
}

const PEM = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

test('names a backup holds: the root files, spool ids, one plain name per area and the two external certificates', () => {
  for (const name of ['moat.db', 'moat.json', 'effective-config.json', MANIFEST_NAME, SUMS_NAME, `spool/msg/${SPOOL_ID}`, 'tls/cert.pem', 'dkim/example.com.json', 'keys/admin.key', 'quarantine/x1', 'external/mx-tls-cert.pem', 'external/mx-tls-key.pem']) {
    assert.equal(backupNameProblem(name), null, name);
  }
  const refused: [string, RegExp][] = [
    ['../moat.db', /\.\./],
    ['tls/../../etc/passwd', /\.\./],
    ['/etc/passwd', /absolute/],
    ['C:/Windows/x', /absolute/],
    ['tls\\..\\..\\x', /backslash/],
    ['moat.db\0.txt', /NUL/],
    ['tls//cert.pem', /empty/],
    ['./moat.db', /"\."/],
    ['moat.db-journal', /not a name a Moat backup holds/],
    ['etc/passwd', /not a name a Moat backup holds/],
    ['spool/msg/not-an-id', /queue id/],
    [`spool/${SPOOL_ID}`, /queue id/],
    ['tls/sub/cert.pem', /no folders/],
    ['tls/.cert.pem.tmp', /plain file names/],
    ['external/other.pem', /external\//],
    ['tls/c\u0435rt.pem', /characters/],
  ];
  for (const [name, reason] of refused) assert.match(backupNameProblem(name) ?? 'accepted', reason, JSON.stringify(name));
});

test('a crafted archive without tricks restores, so each refusal below is the trick and nothing else', async () => {
  const base = world();
  const file = join(base, 'good.moat');
  craft(file, {
    manifest: goodManifest({ external: [{ name: 'external/mx-tls-cert.pem', original: '/etc/ssl/mx.pem', setting: 'mx.tls.cert' }] }),
    entries: [
      { name: 'moat.db', data: DATABASE },
      { name: 'moat.json', data: Buffer.from('{}\n') },
      { name: 'tls/cert.pem', data: PEM },
      { name: 'external/mx-tls-cert.pem', data: PEM },
    ],
  });
  const target = join(base, 'restored');
  const summary = await restoreBackup({ file, dataDir: target });
  assert.equal(summary.files, 4);
  assert.deepEqual(readFileSync(join(target, 'tls', 'restored-cert.pem')), PEM);
  assert.deepEqual(readdirSync(target).sort(), ['moat.db', 'moat.json', 'tls']);
});

/** The sentinel an attack aims at: beside the target, where a "../" name would land. */
function arena(): { base: string; file: string; target: string; sentinel: string; sentinelBytes: Buffer } {
  const base = world();
  const sentinel = join(base, 'sentinel.txt');
  const sentinelBytes = Buffer.from(`do not touch ${Math.random()}\n`);
  writeFileSync(sentinel, sentinelBytes);
  const target = join(base, 'target');
  mkdirSync(target);
  const file = join(base, 'crafted.moat');
  return { base, file, target, sentinel, sentinelBytes };
}

const TRICKS: [trick: string, crafted: (sentinel: string) => Crafted, reason: RegExp][] = [
  [
    'the manifest names "../sentinel.txt" as the external certificate',
    () => ({ manifest: goodManifest({ external: [{ name: '../sentinel.txt', original: '/x', setting: 'mx.tls.cert' }] }) }),
    /names "\.\.\/sentinel\.txt" for mx\.tls\.cert/,
  ],
  [
    'the manifest names an absolute path as the external certificate',
    (sentinel) => ({ manifest: goodManifest({ external: [{ name: sentinel, original: '/x', setting: 'mx.tls.cert' }] }) }),
    /a backup keeps it only as external\/mx-tls-cert\.pem/,
  ],
  [
    'the manifest names a file of the data directory as the external key',
    () => ({ manifest: goodManifest({ external: [{ name: 'moat.db', original: '/x', setting: 'mx.tls.key' }] }) }),
    /names "moat\.db" for mx\.tls\.key/,
  ],
  [
    'the manifest names an external file for a setting backups do not keep',
    () => ({ manifest: goodManifest({ external: [{ name: 'external/mx-tls-cert.pem', original: '/x', setting: 'admin.tls.key' }] }) }),
    /no setting a backup keeps/,
  ],
  [
    'the manifest names the same external certificate twice',
    () => ({
      manifest: goodManifest({ external: [{ name: 'external/mx-tls-cert.pem', original: '/a', setting: 'mx.tls.cert' }, { name: 'external/mx-tls-cert.pem', original: '/b', setting: 'mx.tls.cert' }] }),
      entries: [{ name: 'moat.db', data: DATABASE }, { name: 'external/mx-tls-cert.pem', data: PEM }],
    }),
    /twice/,
  ],
  [
    'the manifest carries terminal escape sequences in its host name',
    () => ({ manifest: goodManifest({ hostname: 'box\u001b]0;pwned\u0007' }) }),
    /hostname is not plain text/,
  ],
  [
    'the manifest has no external list',
    () => ({ manifest: goodManifest({ external: 'tls' }) }),
    /external list is missing/,
  ],
  ['an archive entry named "../sentinel.txt"', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: '../sentinel.txt', data: Buffer.from('owned') }] }), /unsafe name/],
  ['an archive entry with an absolute name', (sentinel) => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: sentinel, data: Buffer.from('owned') }] }), /unsafe name/],
  ['an archive entry with backslashes', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'tls\\..\\..\\sentinel.txt', data: Buffer.from('owned') }] }), /unsafe name/],
  ['an archive entry whose name hides more after a NUL', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'moat.json\0/../../sentinel.txt', data: Buffer.from('{}') }] }), /NUL/],
  ['an archive entry with a name outside the set', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'cron/evil.sh', data: Buffer.from('#!/bin/sh') }] }), /not a name a Moat backup holds/],
  ['a spool entry that is no queue id', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'spool/msg/evil', data: Buffer.from('x') }] }), /queue id/],
  ['the same name twice', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'moat.json', data: Buffer.from('{}') }, { name: 'moat.json', data: Buffer.from('{"a":1}') }] }), /twice/],
  ['two names that differ only in case', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'tls/cert.pem', data: PEM }, { name: 'tls/CERT.pem', data: PEM }] }), /twice \(or two names that differ only in case\)/],
  ['a symbolic link entry', (sentinel) => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'tls/cert.pem', data: Buffer.alloc(0), type: '2', linkName: sentinel }] }), /is a symbolic link, not a plain file/],
  ['a hard link entry', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'tls/cert.pem', data: Buffer.alloc(0), type: '1', linkName: '../sentinel.txt' }] }), /is a hard link, not a plain file/],
  ['a device entry', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'tls/cert.pem', data: Buffer.alloc(0), type: '3' }] }), /character device/],
  ['an external file the manifest does not name', () => ({ entries: [{ name: 'moat.db', data: DATABASE }, { name: 'external/mx-tls-key.pem', data: PEM }] }), /which its manifest does not name/],
];

for (const [trick, crafted, reason] of TRICKS) {
  test(`restore refuses a crafted backup before writing anything: ${trick}`, async () => {
    const { file, target, sentinel, sentinelBytes, base } = arena();
    craft(file, crafted(sentinel));
    const fresh = join(base, 'fresh');
    for (const dataDir of [target, fresh]) {
      await assert.rejects(restoreBackup({ file, dataDir }), (error: unknown) => {
        assert.ok(error instanceof BackupError, String(error));
        assert.equal(error.code, 'UNSAFE', error.message);
        assert.match(error.message, /^refusing this backup: /);
        assert.match(error.message, reason);
        return true;
      });
    }
    assert.deepEqual(readdirSync(target), [], 'the empty target stays empty');
    assert.equal(existsSync(fresh), false, 'a target that did not exist is not created');
    assert.deepEqual(readFileSync(sentinel), sentinelBytes, 'the file outside the target is untouched');
    assert.deepEqual(readdirSync(base).sort(), ['crafted.moat', 'sentinel.txt', 'target']);
  });
}

test('a checksum list naming a file twice or a name outside the set is a damaged backup', async () => {
  const { file, target, sentinel, sentinelBytes } = arena();
  const manifest = Buffer.from(JSON.stringify(goodManifest()));
  const list = `${sha256(manifest)}  ${MANIFEST_NAME}\n${sha256(DATABASE)}  moat.db\n${sha256(DATABASE)}  ../sentinel.txt\n`;
  writeFileSync(file, Buffer.concat([rawEntry(MANIFEST_NAME, manifest), rawEntry('moat.db', DATABASE), rawEntry(SUMS_NAME, Buffer.from(list)), Buffer.alloc(1024)]));
  await assert.rejects(restoreBackup({ file, dataDir: target }), (error: unknown) => error instanceof BackupError && error.code === 'DAMAGED' && /checksum list is damaged/.test(error.message));
  assert.deepEqual(readdirSync(target), []);
  assert.deepEqual(readFileSync(sentinel), sentinelBytes);
});

test('leftovers of a killed backup or restore are removed once their process is gone; anything else is left alone', () => {
  const dataDir = world();
  const folder = join(dataDir, 'backups');
  const outside = world();
  writeFileSync(join(outside, 'keep.txt'), 'outside');
  const dead = 4_000_001;
  const live = 4_000_002;
  const make = (path: string) => {
    mkdirSync(join(path, 'spool'), { recursive: true });
    writeFileSync(join(path, 'moat.db'), 'snapshot');
    writeFileSync(join(path, 'spool', SPOOL_ID), 'message');
  };
  make(join(dataDir, `.backup-staging-${dead}-0123abcd`));
  make(join(dataDir, `.restore-staging-${dead}-89abcdef`));
  make(join(dataDir, `.backup-staging-${live}-0123abcd`));
  mkdirSync(folder);
  writeFileSync(join(folder, `.moat-backup-20261128T100000Z.moat.${dead}.a1b2c3.tmp`), 'half an archive');
  writeFileSync(join(folder, `.moat-backup-20261128T100000Z.moat.${live}.a1b2c3.tmp`), 'being written');
  writeFileSync(join(folder, 'moat-backup-20261127T100000Z.moat'), 'a finished backup');
  // look-alikes: a file with a staging folder's name, a link with one pointing outside, other hidden names
  writeFileSync(join(dataDir, `.backup-staging-${dead}-feedbeef`), 'a file, not a staging folder');
  symlinkSync(outside, join(dataDir, `.backup-staging-${dead}-cafebabe`));
  mkdirSync(join(dataDir, '.backup-staging-notes'));
  writeFileSync(join(folder, `.other.moat.${dead}.a1b2c3.tmp`), 'not a scheduled backup');
  const removed = removeBackupLeftovers({ dataDir, folder, now: Date.now(), isRunning: (pid) => pid === live });
  assert.deepEqual(removed.sort(), [join(dataDir, `.backup-staging-${dead}-0123abcd`), join(dataDir, `.restore-staging-${dead}-89abcdef`), join(folder, `.moat-backup-20261128T100000Z.moat.${dead}.a1b2c3.tmp`)].sort());
  assert.deepEqual(readdirSync(dataDir).sort(), ['.backup-staging-4000001-cafebabe', '.backup-staging-4000001-feedbeef', '.backup-staging-4000002-0123abcd', '.backup-staging-notes', 'backups']);
  assert.deepEqual(readdirSync(folder).sort(), [`.moat-backup-20261128T100000Z.moat.${live}.a1b2c3.tmp`, `.other.moat.${dead}.a1b2c3.tmp`, 'moat-backup-20261127T100000Z.moat']);
  assert.equal(readFileSync(join(outside, 'keep.txt'), 'utf8'), 'outside', 'the link was not followed');
  // a day later even a live process id counts as reused: its folder is a leftover too
  const later = removeBackupLeftovers({ dataDir, folder, now: Date.now() + 2 * 86400_000, isRunning: () => true });
  assert.deepEqual(later.sort(), [join(dataDir, `.backup-staging-${live}-0123abcd`), join(folder, `.moat-backup-20261128T100000Z.moat.${live}.a1b2c3.tmp`)].sort());
});

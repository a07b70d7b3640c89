import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import yaml from 'js-yaml';
import { RELAY_COMMANDS } from '../../../src-main/launch.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const config = yaml.load(read('electron-builder.yml')) as Record<string, any>;
const pkg = JSON.parse(read('package.json')) as { main: string; scripts: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string> };

/** The values electron-builder puts into the deb scripts (FpmTarget's bash template options). */
const TEMPLATE_VALUES: Record<string, string> = { executable: 'moat', sanitizedProductName: 'Moat', productFilename: 'Moat' };

/** Renders a deb script as electron-builder does: `${name}` replaced, an unknown name an error (FpmTarget writeConfigFile). */
function renderTemplate(path: string): string {
  return read(path).replace(/\${([a-zA-Z]+)}/g, (_match, name: string) => {
    if (!(name in TEMPLATE_VALUES)) throw new Error(`${path}: electron-builder would refuse the macro \${${name}}`);
    return TEMPLATE_VALUES[name]!;
  });
}

function syntaxCheck(shell: string, text: string): void {
  const result = spawnSync(shell, ['-n'], { input: text, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
}

test('electron-builder.yml is valid against electron-builder\'s own schema', () => {
  const require = createRequire(import.meta.url);
  const schema = require('app-builder-lib/scheme.json') as object;
  const ajv = new Ajv({ strict: false, allowUnionTypes: true, allErrors: true });
  const validate = ajv.compile(schema);
  const valid = validate(config);
  assert.equal(valid, true, JSON.stringify(validate.errors, null, 2));
});

test('the schema check catches a misspelt option', () => {
  const require = createRequire(import.meta.url);
  const validate = new Ajv({ strict: false, allowUnionTypes: true }).compile(require('app-builder-lib/scheme.json') as object);
  assert.equal(validate({ ...config, asarUnpak: ['x'] }), false);
  assert.equal(validate({ ...config, linux: { ...config.linux, target: 'AppImage', categry: 'Network' } }), false);
});

test('Linux gets an AppImage and a deb, Windows an NSIS installer', () => {
  assert.deepEqual(config.linux.target, ['AppImage', 'deb']);
  assert.deepEqual(config.win.target.map((target: { target: string }) => target.target), ['nsis']);
  assert.equal(config.nsis.oneClick, false);
});

test('better-sqlite3 is rebuilt for Electron and kept outside the asar archive', () => {
  assert.equal(config.npmRebuild, true);
  assert.ok(config.asarUnpack.some((pattern: string) => pattern.includes('node_modules/better-sqlite3')));
  assert.ok(pkg.dependencies['better-sqlite3'], 'a production dependency, so electron-builder ships it');
});

test('the package holds the built main process and renderer, the same files main loads', () => {
  assert.deepEqual(config.files.filter((entry: string) => !entry.startsWith('!')).sort(), ['dist-main/**', 'dist-renderer/**', 'package.json']);
  assert.equal(pkg.main, 'dist-main/main.js');
  const build = read('packaging/build-main.ts');
  for (const entry of ["main: 'src-main/main.ts'", "'engine/engine-process': 'src-main/engine-process.ts'", "'engine/relay-cli': 'src-main/relay-cli.ts'", "'preload.cjs'",
    // beside the engine bundle, where filters/filter-thread.ts looks for its thread
    "'engine/filter-thread-entry': 'src-relay/filters/filter-thread-entry.ts'"]) {
    assert.ok(build.includes(entry), entry);
  }
  const main = read('src-main/main.ts');
  for (const path of ["join(here, 'preload.cjs')", "join(here, 'engine', 'engine-process.js')", "join(here, 'engine', 'relay-cli.js')", "join(here, 'icon.png')"]) {
    assert.ok(main.includes(path), path);
  }
  assert.equal(config.icon, 'dist-main/icon.png');
  assert.ok(config.files.includes('!dist-main/node_modules/**'), "npm start's Electron build of better-sqlite3 stays out of packages");
});

test('the fuses disable running as Node, NODE_OPTIONS and the inspector, and turn on cookie encryption and asar integrity', () => {
  assert.deepEqual(config.electronFuses, {
    runAsNode: false,
    enableCookieEncryption: true,
    enableNodeOptionsEnvironmentVariable: false,
    enableNodeCliInspectArguments: false,
    enableEmbeddedAsarIntegrityValidation: true,
    onlyLoadAppFromAsar: true,
    loadBrowserProcessSpecificV8Snapshot: false,
    grantFileProtocolExtraPrivileges: false,
  });
});

test('npm scripts build and package the desktop app', () => {
  assert.match(pkg.scripts.start!, /^node node_modules\/electron\/install\.js && npm run build && node --import tsx packaging\/dev-native\.ts && electron \.$/);
  assert.match(pkg.scripts.build!, /build:renderer/);
  assert.match(pkg.scripts.build!, /build:main/);
  assert.match(pkg.scripts.dist!, /electron-builder --linux/);
  assert.match(pkg.scripts['dist:win']!, /electron-builder --win/);
  assert.ok(pkg.devDependencies.electron?.startsWith('^45'));
});

test('the deb installs the systemd unit and the moat command', () => {
  const fpm: string[] = config.deb.fpm;
  assert.ok(fpm.includes('packaging/moat.service=/usr/lib/systemd/system/moat.service'));
  assert.ok(fpm.includes('packaging/moat-cli.sh=/usr/bin/moat'));
  assert.ok(fpm.includes('--before-remove=packaging/deb-before-remove.sh'));
  for (const file of ['packaging/moat.service', 'packaging/moat-cli.sh', config.deb.afterInstall, config.deb.afterRemove, 'packaging/deb-before-remove.sh']) {
    assert.ok(statSync(join(root, file)).isFile(), file);
  }
  assert.ok(statSync(join(root, 'packaging/moat-cli.sh')).mode & 0o111, 'fpm keeps the mode: /usr/bin/moat must be executable');
});

test('the systemd unit runs `moat serve` as its own user on /var/lib/moat and may bind the mail ports', () => {
  const unit = read('packaging/moat.service');
  const lines = new Set(unit.split('\n').map((line) => line.trim()));
  for (const line of [
    '[Service]',
    'User=moat',
    'Group=moat',
    'ExecStart=/usr/bin/moat serve --data-dir /var/lib/moat',
    // a reload is SIGHUP, which the relay takes as "read the certificate again" (test/reliability/reload-signal.test.ts)
    'ExecReload=/bin/kill -HUP $MAINPID',
    'StateDirectory=moat',
    'StateDirectoryMode=0700',
    'AmbientCapabilities=CAP_NET_BIND_SERVICE',
    'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ReadWritePaths=/var/lib/moat',
    'Restart=on-failure',
    'RestartPreventExitStatus=2',
    'KillSignal=SIGTERM',
    'WantedBy=multi-user.target',
  ]) {
    assert.ok(lines.has(line), line);
  }
  const stopSeconds = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
  assert.ok(stopSeconds > 600, 'longer than the largest shutdownGraceSec the config allows');
  assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m, 'V8 needs writable executable memory');
});

test('the deb scripts create the service user and data directory, and render and parse as electron-builder runs them', () => {
  const install = renderTemplate(config.deb.afterInstall);
  assert.match(install, /useradd --system --gid moat --home-dir \/var\/lib\/moat --no-create-home --shell \/usr\/sbin\/nologin/);
  assert.match(install, /groupadd --system moat/);
  assert.match(install, /install -d -m 0700 -o moat -g moat \/var\/lib\/moat/);
  assert.match(install, /chmod 4755 '\/opt\/Moat\/chrome-sandbox'/);
  assert.doesNotMatch(install, /systemctl (enable|start) /, 'the service waits for its configuration');
  const remove = renderTemplate(config.deb.afterRemove);
  assert.doesNotMatch(remove, /rm -rf? .*\/var\/lib\/moat|userdel/, 'queued mail is never deleted by the package');
  syntaxCheck('bash', install);
  syntaxCheck('bash', remove);
  syntaxCheck('bash', renderTemplate('packaging/deb-before-remove.sh'));
  syntaxCheck('sh', read('packaging/moat-cli.sh'));
});

/** The relay's V8 heap flags as bin/moat.mjs gives them to node; the wrapper gives Electron's main process the same. */
const HEAP_FLAGS = (/const HEAP_FLAGS = \[([^\]]*)\]/.exec(read('bin/moat.mjs'))?.[1] ?? '').split(',').map((flag) => flag.trim().replace(/'/g, '')).join(' ');

test('`moat COMMAND` runs the app headless with the command; `moat` alone opens the app', () => {
  const dir = tempDir('moat-wrapper-');
  const app = join(dir, 'app');
  writeFileSync(app, '#!/bin/sh\nprintf "%s\\n" "$@"\n');
  chmodSync(app, 0o755);
  const wrapper = join(dir, 'moat');
  writeFileSync(wrapper, read('packaging/moat-cli.sh').replace('APP=/opt/Moat/moat', `APP=${app}`));
  chmodSync(wrapper, 0o755);
  const run = (...args: string[]) => spawnSync(wrapper, args, { encoding: 'utf8' }).stdout.trim().split('\n');
  const headless = ['--no-sandbox', '--ozone-platform=headless', '--disable-gpu', '--disable-dev-shm-usage', `--js-flags=${HEAP_FLAGS}`];
  assert.deepEqual(run('queue', 'list'), [...headless, 'queue', 'list']);
  assert.deepEqual(run('serve', '--data-dir', '/var/lib/my dir'), [...headless, 'serve', '--data-dir', '/var/lib/my dir']);
  assert.deepEqual(run('--hidden'), ['--hidden']);
  assert.deepEqual(run(), ['']);
});

test('the wrapper knows the same relay commands as the app', () => {
  const wrapper = read('packaging/moat-cli.sh');
  const listed = /^\s*([a-z|-]+)\)\s*$/m.exec(wrapper)?.[1]?.split('|') ?? [];
  assert.deepEqual(listed.filter((word) => !word.startsWith('-')).sort(), [...RELAY_COMMANDS].sort());
});

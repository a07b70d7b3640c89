import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Issue 13 / docs/ARCHITECTURE.md: the engine's areas stand in one order, and a file imports only its own area and the
// areas below it (type imports count: a type pulls its module into the reader's head and, often, into the graph).
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const relay = join(root, 'src-relay');

/**
 * The areas of src-relay, bottom to top: a folder (`queue/`) or a top-level file (`engine.ts`); `cli.ts` belongs to
 * `cli/`. The same order as the table in docs/ARCHITECTURE.md (checked below).
 */
const LAYERS = [
  'util', 'log', 'events',
  'config', 'store',
  'filters', 'queue', 'smtp', 'auth', 'dkim', 'submission', 'quarantine', 'backup', 'monitor',
  'engine',
  'admin',
  'cli', 'moat',
] as const;

/** Issue 13 items that remove the known upward imports below. */
const HELPERS_DOWN = 'issue 13: small shared helpers live below everyone who uses them (util/)';
const EVENT_TYPES_DOWN = 'issue 13: the event bus\'s payload types at the bottom of the tree (events.ts or below)';
const CONTRACT_KIT_DOWN = 'issue 13: the contract kit (admin/define.ts `method`) below the areas whose slices use it';
const HTTP_DOWN = 'issue 13: the HTTP plumbing (router, admin server, its TLS) below the engine and monitor that use it';
const CONFIG_DEFAULTS = 'issue 13: config owns its defaults (the blocked extensions list moves into config/ or util/)';
const ONE_OWNER = 'issue 13: one owner per table; backup reports its state through a narrow capability, not monitor\'s store';

/**
 * Every import that points upward today, as `from -> to` (paths under src-relay/). Other issue-13 changes move the
 * code; each such move must delete its line here, because a line that no longer matches an import fails the test:
 * the list only shrinks. Nothing new may be added to it.
 */
const KNOWN_UPWARD: ReadonlyMap<string, string> = new Map([
  // util/ imports the resolver's type from the queue
  ['util/fixture-resolver.ts -> queue/delivery.ts', HELPERS_DOWN],
  // events.ts names payload types defined in the areas that emit them
  ['events.ts -> queue/scheduler.ts', EVENT_TYPES_DOWN],
  ['events.ts -> store/queue-store.ts', EVENT_TYPES_DOWN],
  ['events.ts -> monitor/types.ts', EVENT_TYPES_DOWN],
  ['events.ts -> filters/types.ts', EVENT_TYPES_DOWN],
  // config/ validates with helpers and defaults owned by areas above it
  ['config/schema.ts -> smtp/address.ts', HELPERS_DOWN],
  ['config/schema.ts -> submission/networks.ts', HELPERS_DOWN],
  ['config/schema.ts -> filters/attachments.ts', CONFIG_DEFAULTS],
  ['config/contract.ts -> admin/define.ts', CONTRACT_KIT_DOWN],
  // filters/
  ['filters/builtin-rules.ts -> smtp/address.ts', HELPERS_DOWN],
  ['filters/sender-lists.ts -> smtp/address.ts', HELPERS_DOWN],
  ['filters/optional-filters.ts -> queue/delivery.ts', HELPERS_DOWN],
  ['filters/sender-auth.ts -> queue/delivery.ts', HELPERS_DOWN],
  ['filters/contract.ts -> admin/define.ts', CONTRACT_KIT_DOWN],
  // queue/
  ['queue/queue.ts -> smtp/address.ts', HELPERS_DOWN],
  ['queue/contract.ts -> admin/define.ts', CONTRACT_KIT_DOWN],
  // smtp/
  ['smtp/connection-policy.ts -> submission/networks.ts', HELPERS_DOWN],
  // auth/
  ['auth/contract.ts -> admin/define.ts', CONTRACT_KIT_DOWN],
  // quarantine/
  ['quarantine/contract.ts -> admin/define.ts', CONTRACT_KIT_DOWN],
  // backup/ records its runs in monitor's state table and reads the version from monitor/
  ['backup/backup.ts -> monitor/version.ts', HELPERS_DOWN],
  ['backup/schedule.ts -> monitor/monitor-store.ts', ONE_OWNER],
  // monitor/
  ['monitor/contract.ts -> admin/define.ts', CONTRACT_KIT_DOWN],
  ['monitor/http.ts -> admin/router.ts', HTTP_DOWN],
]);

/** What src-relay may import besides itself: Node's modules and its runtime dependencies, never the shells above it. */
const FORBIDDEN_PACKAGES = /^(electron|react|react-dom)(\/|$)/;

/** The engine's doors for the Electron shell (docs/ARCHITECTURE.md, "Three programs over one contract"). */
const MAIN_MAY_IMPORT = new Set(['src-relay/admin/contract.ts', 'src-relay/admin/host.ts', 'src-relay/cli.ts', 'src-relay/log/logger.ts']);

function sources(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** `queue/queue.ts` -> `queue`; `engine.ts` -> `engine`; `cli.ts` -> `cli`. */
function areaOf(path: string): string {
  const [first, ...rest] = path.split('/');
  return rest.length > 0 ? first! : first!.replace(/\.ts$/, '');
}

interface Import {
  from: string;
  specifier: string;
  typeOnly: boolean;
}

/** Every static import and export-from (`import type` included, multi-line lists too) and every `import('...')`. */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const from = relative(relay, file); // of a file outside src-relay, only the specifiers are used
  const found: Import[] = [];
  for (const match of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[\w\s{},*$]*?\bfrom\s+)?['"]([^'"]+)['"]/gm)) {
    found.push({ from, specifier: match[2]!, typeOnly: match[1] !== undefined });
  }
  for (const match of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ from, specifier: match[1]!, typeOnly: false });
  return found;
}

interface Edge {
  from: string;
  to: string;
}

/** The file-level import graph inside src-relay, and what points outside it. */
function graph(): { edges: Edge[]; outside: string[]; files: string[] } {
  const edges: Edge[] = [];
  const outside: string[] = [];
  const files = sources(relay).map((file) => relative(relay, file));
  for (const file of sources(relay)) {
    for (const { from, specifier } of importsOf(file)) {
      if (!specifier.startsWith('.')) {
        if (FORBIDDEN_PACKAGES.test(specifier)) outside.push(`src-relay/${from}: package ${specifier}`);
        continue;
      }
      const target = relative(relay, resolve(dirname(file), specifier));
      if (target.startsWith('..')) outside.push(`src-relay/${from}: ${relative(root, resolve(dirname(file), specifier))}`);
      else edges.push({ from, to: target });
    }
  }
  return { edges, outside, files };
}

function rank(area: string): number {
  return (LAYERS as readonly string[]).indexOf(area);
}

/** The imports whose target's area stands above the importing file's area. */
function upward(edges: Edge[]): string[] {
  const seen = new Set<string>();
  for (const { from, to } of edges) {
    if (rank(areaOf(to)) > rank(areaOf(from))) seen.add(`${from} -> ${to}`);
  }
  return [...seen];
}

test('every area of src-relay has a place in the layer order', () => {
  const areas = new Set(graph().files.map(areaOf));
  const missing = [...areas].filter((area) => rank(area) < 0);
  assert.deepEqual(missing, [], 'add each new folder or top-level file to LAYERS and docs/ARCHITECTURE.md');
  assert.deepEqual(LAYERS.filter((area) => !areas.has(area)), [], 'a layer that no longer exists leaves LAYERS');
});

test('src-relay imports only itself, Node and its packages: never src-main, src-renderer, electron or react', () => {
  assert.deepEqual(graph().outside, []);
});

test('src-main reaches the engine only through the contract, the host, the command line and the logger', () => {
  const problems: string[] = [];
  for (const file of sources(join(root, 'src-main'))) {
    for (const { specifier } of importsOf(file)) {
      if (!specifier.startsWith('.')) continue;
      const target = relative(root, resolve(dirname(file), specifier));
      if (target.startsWith('src-relay/') && !MAIN_MAY_IMPORT.has(target)) problems.push(`${relative(root, file)}: ${target}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('no src-relay file imports an area above its own, beyond the known upward imports issue 13 removes', () => {
  const found = upward(graph().edges);
  const unexpected = found.filter((edge) => !KNOWN_UPWARD.has(edge))
    .map((edge) => {
      const [from, to] = edge.split(' -> ') as [string, string];
      return `src-relay/${from} imports src-relay/${to} (${areaOf(from)} may import only ${LAYERS.slice(0, rank(areaOf(from)) + 1).join(', ')})`;
    });
  assert.deepEqual(unexpected, [], 'move the shared code down (docs/ARCHITECTURE.md) instead of importing upward');
});

test('each known upward import still exists, so the list only shrinks', () => {
  const found = new Set(upward(graph().edges));
  const gone = [...KNOWN_UPWARD.keys()].filter((edge) => !found.has(edge));
  assert.deepEqual(gone, [], 'this upward import is gone: delete its line from KNOWN_UPWARD');
});

test('the check sees type-only imports, multi-line import lists and export-from', () => {
  const imports = sources(relay).flatMap(importsOf);
  const eventsToFilters = imports.find((entry) => entry.from === 'events.ts' && entry.specifier === './filters/types.ts');
  assert.equal(eventsToFilters?.typeOnly, true, 'events.ts imports filters/types.ts with `import type`');
  const listener = imports.filter((entry) => entry.from === 'submission/listener.ts').map((entry) => entry.specifier);
  assert.ok(listener.includes('../smtp/listener.ts'), 'a multi-line `import {\\n ...\\n} from` is seen');
  assert.ok(imports.some((entry) => entry.from === 'admin/contract.ts' && entry.specifier.startsWith('.')), 'admin/contract.ts re-exports or imports its slices');
  assert.ok(upward([{ from: 'store/db.ts', to: 'queue/queue.ts' }]).length === 1, 'store importing queue is upward');
  assert.ok(upward([{ from: 'queue/queue.ts', to: 'store/db.ts' }]).length === 0, 'queue importing store is downward');
  assert.ok(upward([{ from: 'cli.ts', to: 'cli/io.ts' }]).length === 0, 'cli.ts and cli/ are one area');
});

test('docs/ARCHITECTURE.md lists the same layers in the same order', () => {
  const doc = readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const block = /<!-- layers:start -->([\s\S]*?)<!-- layers:end -->/.exec(doc)?.[1];
  assert.ok(block, 'docs/ARCHITECTURE.md has its layer table between <!-- layers:start --> and <!-- layers:end -->');
  // the area is each row's second cell: | floor | `area/` | what it holds |
  const listed = [...block.matchAll(/^\|[^|]*\|\s*`([a-z-]+)(?:\/|\.ts)`\s*\|/gm)].map((match) => match[1]!);
  assert.deepEqual(listed, [...LAYERS]);
});

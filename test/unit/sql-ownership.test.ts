import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Issue 13 / docs/ARCHITECTURE.md "One owner per table": SQL lives only in store modules (store/*.ts, or an area's
// own *-store.ts), every table has exactly one of them as its owner, and the other areas call the owner's named
// operations instead of preparing statements or opening transactions themselves.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const relay = join(root, 'src-relay');

/** The schema: it creates every table and migrates them, but owns none (the owners are the store modules). */
const SCHEMA = 'store/db.ts';

/**
 * Handlers that still reach the queue store's database connection, each with the change that removes it. A line that
 * no longer matches fails the test, so the list only shrinks; nothing may be added to it.
 */
const KNOWN_REACH_THROUGH: ReadonlyMap<string, string> = new Map<string, string>();

function sources(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** A store module: a file of store/, or an area's own `*-store.ts`. */
function isStoreModule(path: string): boolean {
  return path.startsWith('store/') || basename(path).endsWith('-store.ts');
}

/** The code without its comments (block comments and whole-line `//` comments), so prose about SQL is not SQL. */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' '))
    .split('\n')
    .map((line) => (/^\s*\/\//.test(line) ? '' : line))
    .join('\n');
}

/** SQL statements written in the code: the upper-case keywords the tree writes its SQL in. */
const SQL_STATEMENT = /\b(?:SELECT\s[\s\S]{0,400}?\bFROM\b|INSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|CREATE\s+(?:TABLE|INDEX|TRIGGER)\b|ALTER\s+TABLE\b|DROP\s+(?:TABLE|INDEX|TRIGGER)\b)/;

/**
 * What in `text` is SQL or a call on a database connection: a statement, prepare/transaction/pragma, `exec` of SQL
 * (a string argument, or on a connection: not a regular expression's exec), the better-sqlite3 package. One entry per
 * line it is on.
 */
function sqlFindings(text: string): string[] {
  const found: string[] = [];
  code(text).split('\n').forEach((line, index) => {
    const reasons: string[] = [];
    if (/\.(?:prepare|transaction|pragma)\(/.test(line)) reasons.push('a statement or transaction on a connection');
    if (/\.exec\(\s*[`'"]/.test(line) || /\b(?:db|\w+Db|database|connection)\.exec\(/.test(line)) reasons.push('SQL run with exec');
    if (/['"]better-sqlite3['"]/.test(line)) reasons.push('the SQLite driver');
    if (reasons.length) found.push(`${index + 1}: ${reasons.join(', ')}: ${line.trim()}`);
  });
  const whole = code(text);
  for (const match of whole.matchAll(new RegExp(SQL_STATEMENT, 'g'))) {
    const line = whole.slice(0, match.index).split('\n').length;
    const entry = `${line}: SQL: ${match[0].split('\n')[0]!.trim()}`;
    if (!found.some((item) => item.startsWith(`${line}:`))) found.push(entry);
  }
  return found;
}

type Access = 'write' | 'read' | 'schema';

/** The string and template literals of the code that hold SQL (a statement, or a fragment with a subquery). */
function sqlLiterals(text: string): string[] {
  const literals = code(text).match(/`(?:\\[\s\S]|[^`\\])*`|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"/g) ?? [];
  return literals.filter((literal) => SQL_STATEMENT.test(literal));
}

/**
 * The tables the SQL of `text` names, and how: written (INSERT, UPDATE, DELETE), read (FROM, JOIN), or created and
 * altered. Only SQL literals are read, so "MAIL FROM per client IP" in a description names no table.
 */
function tablesIn(text: string): { table: string; access: Access }[] {
  const found: { table: string; access: Access }[] = [];
  const source = sqlLiterals(text).join('\n');
  const add = (pattern: RegExp, access: Access) => {
    for (const match of source.matchAll(pattern)) found.push({ table: match[1]!, access });
  };
  add(/\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\s+(\w+)/g, 'write');
  add(/\bUPDATE\s+(\w+)\s+SET\b/g, 'write');
  add(/\bDELETE\s+FROM\s+(\w+)/g, 'write');
  // FROM and JOIN of a table, not of a function (json_each(...)) or a subquery
  add(/\b(?:FROM|JOIN)\s+(\w+)\b(?!\s*\()/g, 'read');
  add(/\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)/g, 'schema');
  add(/\bALTER\s+TABLE\s+(\w+)/g, 'schema');
  add(/\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+\w+\s+ON\s+(\w+)/g, 'schema');
  return found.filter(({ table }) => /^[a-z_]+$/.test(table));
}

function files(): { path: string; text: string }[] {
  return sources(relay).map((file) => ({ path: relative(relay, file), text: readFileSync(file, 'utf8') }));
}

/** Each table's modules: who writes it, who reads it, where it is created. */
function tableUse(): Map<string, Record<Access, Set<string>>> {
  const use = new Map<string, Record<Access, Set<string>>>();
  for (const { path, text } of files()) {
    for (const { table, access } of tablesIn(text)) {
      let entry = use.get(table);
      if (!entry) use.set(table, (entry = { write: new Set(), read: new Set(), schema: new Set() }));
      entry[access].add(path);
    }
  }
  return use;
}

/** The tables the schema creates. */
function schemaTables(): string[] {
  const text = readFileSync(join(relay, SCHEMA), 'utf8');
  return [...new Set([...code(text).matchAll(/\bCREATE\s+TABLE\s+(\w+)/g)].map((match) => match[1]!))].sort();
}

/** Each table's owner as the code shows it: the one module (besides the schema) whose statements name it. */
function owners(): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const [table, access] of tableUse()) {
    const modules = new Set([...access.write, ...access.read].filter((path) => path !== SCHEMA));
    result.set(table, [...modules].sort());
  }
  return result;
}

/** The table of docs/ARCHITECTURE.md's "One owner per table": table → owner. */
function documentedOwners(): Map<string, string> {
  const doc = readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const block = /<!-- owners:start -->([\s\S]*?)<!-- owners:end -->/.exec(doc)?.[1];
  assert.ok(block, 'docs/ARCHITECTURE.md has its owner table between <!-- owners:start --> and <!-- owners:end -->');
  const result = new Map<string, string>();
  for (const match of block.matchAll(/^\|\s*([a-z_, ]+?)\s*\|\s*`([^`]+)`\s*\|/gm)) {
    for (const table of match[1]!.split(',').map((name) => name.trim())) result.set(table, match[2]!);
  }
  return result;
}

test('no SQL, prepared statement, transaction or pragma outside the store modules (store/*.ts, *-store.ts)', () => {
  const outside = files()
    .filter(({ path }) => !isStoreModule(path))
    .flatMap(({ path, text }) => sqlFindings(text).map((finding) => `src-relay/${path}:${finding}`));
  assert.deepEqual(outside, [], 'put the statement in the owning store module and call a named operation on it');
});

test('only the schema (store/db.ts) creates or alters a table', () => {
  const elsewhere = [...tableUse()].flatMap(([table, access]) => [...access.schema].filter((path) => path !== SCHEMA).map((path) => `${table}: ${path}`));
  assert.deepEqual(elsewhere, []);
});

test('each table the schema creates has exactly one owner module, which reads and writes it alone', () => {
  const found = owners();
  const problems = schemaTables().flatMap((table) => {
    const modules = found.get(table) ?? [];
    if (modules.length === 1 && isStoreModule(modules[0]!)) return [];
    return [`${table}: ${modules.length === 0 ? 'no owner' : modules.join(', ')}`];
  });
  assert.deepEqual(problems, [], 'each table has one store module; the others call its named operations');
  // SQLite's own catalogue, read by the schema module alone (schemaStrangers: is a backup's database Moat's?)
  const unknown = [...found.keys()].filter((table) => !schemaTables().includes(table) && !(table === 'sqlite_master' && found.get(table)!.length === 0));
  assert.deepEqual(unknown, [], 'every table a statement names is one the schema creates');
});

test('docs/ARCHITECTURE.md names the same owner for each table as the code', () => {
  const found = new Map(schemaTables().map((table) => [table, `src-relay/${owners().get(table)?.[0] ?? '(none)'}`]));
  const documented = new Map([...documentedOwners()].map(([table, owner]) => [table, `src-relay/${owner}`]));
  assert.deepEqual(Object.fromEntries([...documented].sort()), Object.fromEntries([...found].sort()));
});

test('no admin handler reaches through the queue to its database connection, beyond the known ones', () => {
  const reaching = files()
    .filter(({ path, text }) => path.startsWith('admin/handlers/') && /\bstore\.db\b/.test(code(text)))
    .map(({ path }) => path);
  assert.deepEqual(reaching.filter((path) => !KNOWN_REACH_THROUGH.has(path)), [], 'give Queue or Quarantine a named operation instead');
  assert.deepEqual([...KNOWN_REACH_THROUGH.keys()].filter((path) => !reaching.includes(path)), [], 'this one is gone: delete its line');
});

test('the check finds SQL, statements and transactions, and not regular expressions or prose', () => {
  assert.equal(sqlFindings('const row = db.prepare(`SELECT value FROM state WHERE key = ?`).get(key);').length, 1);
  assert.equal(sqlFindings('queue.store.db.transaction(() => ids.map(act))();').length, 1);
  assert.equal(sqlFindings('snapshot.pragma(\'journal_mode = DELETE\');').length, 1);
  assert.equal(sqlFindings('db.exec(MIGRATIONS[next]);').length, 1);
  assert.equal(sqlFindings('const sql = `UPDATE messages SET held = 1\n  WHERE id = ?`;').length, 1);
  assert.equal(sqlFindings('import Database from \'better-sqlite3\';').length, 1);
  assert.deepEqual(sqlFindings('const match = /^(\\d{3}) (.*)$/.exec(line);\nconst found = PATTERN.exec(text);'), []);
  assert.deepEqual(sqlFindings('// SELECT the rows FROM the queue\n/** UPDATE messages SET is the store\'s */\nconst WINDOWS_UPDATE_DAYS = 40;'), []);
  assert.deepEqual(tablesIn('`INSERT OR IGNORE INTO recipients (a) VALUES (?)`; `SELECT r.* FROM messages m JOIN recipients r ON 1`; `SELECT value FROM json_each(?)`'), [
    { table: 'recipients', access: 'write' },
    { table: 'messages', access: 'read' },
    { table: 'recipients', access: 'read' },
  ]);
  assert.ok(isStoreModule('store/state-store.ts') && isStoreModule('auth/account-store.ts') && !isStoreModule('quarantine/quarantine.ts'));
});

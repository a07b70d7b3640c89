import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// STYLE habit 3: the renderer reaches the engine only through the admin contract, and only for its types
// (a value import would also bundle zod and every schema into the page). The desktop bridge's interface
// (src-main/bridge.ts, which imports nothing) is the one other file it may import, and also for types only.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const renderer = join(root, 'src-renderer');
const CONTRACT_FILES = new Set(['src-relay/admin/contract.ts', 'src-main/bridge.ts']);
const PACKAGES = new Set(['react', 'react-dom/client', 'react/jsx-runtime', 'vite', '@vitejs/plugin-react', 'node:url']);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|tsx)$/.test(name) ? [path] : [];
  });
}

test('renderer files import only each other, React, and the contract\'s types', () => {
  const problems: string[] = [];
  for (const file of sources(renderer)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      const [, , typeOnly, specifier] = match as unknown as [string, string, string | undefined, string];
      const where = relative(root, file);
      if (!specifier.startsWith('.')) {
        if (!PACKAGES.has(specifier)) problems.push(`${where}: package ${specifier}`);
        continue;
      }
      const target = relative(root, resolve(dirname(file), specifier));
      if (target.startsWith('src-renderer/')) continue;
      if (!CONTRACT_FILES.has(target)) problems.push(`${where}: ${target}`);
      else if (!typeOnly) problems.push(`${where}: value import of ${target} (use import type)`);
    }
  }
  assert.deepEqual(problems, []);
});

test('no screen renders HTML from a string', () => {
  const offenders = sources(renderer).filter((file) => /dangerouslySetInnerHTML|\.innerHTML\s*=/.test(readFileSync(file, 'utf8')));
  assert.deepEqual(offenders.map((file) => relative(root, file)), []);
});

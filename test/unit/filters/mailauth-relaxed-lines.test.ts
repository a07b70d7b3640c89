// The relaxed body hash with Moat's change (filters/mailauth-relaxed-lines.ts) against mailauth's own, fed the whole
// body at once: the same digest and the same counts for every way of cutting bodies into chunks; and a long line
// spread over many chunks reaches mailauth's code once, not once per chunk.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { installRelaxedLines } from '../../../src-relay/filters/mailauth-relaxed-lines.ts';

const require = createRequire(import.meta.url);
type Update = (chunk: Buffer | null | undefined, final?: boolean) => void;
interface Hash {
  update: Update;
  digest(encoding: 'base64'): string;
  byteLength: number;
  bodyHashedBytes: number;
  canonicalizedLength: number;
}
const { RelaxedHash } = require('mailauth/lib/dkim/body/relaxed.js') as { RelaxedHash: { new (algorithm: string, maxBodyLength?: number | ''): Hash; prototype: { update: Update } } };

// the sender-auth filter may have put the change in already (it is put in once, at mailauth's first use)
const before = RelaxedHash.prototype.update;
const original = installRelaxedLines(RelaxedHash.prototype);
const changed = RelaxedHash.prototype.update;
after(() => (RelaxedHash.prototype.update = before));

/** Runs `work` with mailauth's update as it shipped (the one the change wraps). */
function unchanged<T>(work: () => T): T {
  RelaxedHash.prototype.update = original;
  try {
    return work();
  } finally {
    RelaxedHash.prototype.update = changed;
  }
}

let seed = 7;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

/** Bodies with what the canonicalization cares about: runs of spaces and tabs, spaces before line ends, bare LF and CR, empty lines at the end, long lines. */
function bodies(): Buffer[] {
  const pieces = ['a', 'b c', '  ', '\t', ' \r\n', '\r\n', '\n', '\r', 'x'.repeat(300), ' \t ', '\r\n\r\n'];
  const made: Buffer[] = [Buffer.from(''), Buffer.from('Hello.\r\n'), Buffer.from('no line end'), Buffer.from('x'.repeat(200_000)), Buffer.from(`${'y '.repeat(50_000)}\r\n\r\n\r\n`)];
  for (let i = 0; i < 40; i++) {
    made.push(Buffer.from(Array.from({ length: 1 + Math.floor(random() * 60) }, () => pieces[Math.floor(random() * pieces.length)]).join('')));
  }
  return made;
}

function cut(body: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < body.length; ) {
    const size = 1 + Math.floor(random() * (random() < 0.5 ? 8 : 70_000));
    chunks.push(body.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

// under l= mailauth's canonicalizedLength depends on how the body was cut, with or without the change (whole: 54,
// in 3-byte chunks: 12, for one body): compared without a limit only
const outcome = (hash: Hash, limit: number | '') => ({ digest: hash.digest('base64'), byteLength: hash.byteLength, hashed: hash.bodyHashedBytes, canonical: limit === '' ? hash.canonicalizedLength : null });

test('every body, cut every way, hashes as mailauth hashes it whole: the same digest and counts, with and without l=', () => {
  for (const body of bodies()) {
    for (const limit of ['', 0, 5, 1000] as const) {
      const whole = unchanged(() => {
        const hash = new RelaxedHash('sha256', limit);
        hash.update(body);
        return outcome(hash, limit);
      });
      for (let round = 0; round < 4; round++) {
        const hash = new RelaxedHash('sha256', limit);
        for (const chunk of cut(body)) hash.update(chunk);
        assert.deepEqual(outcome(hash, limit), whole, `a body of ${body.length} bytes, l=${limit}`);
      }
    }
  }
});

test("a 4 MB line in 64 KB chunks reaches mailauth's scan once, where it was rescanned at every chunk", () => {
  const line = Buffer.alloc(4 * 1024 * 1024, 'z');
  let calls = 0;
  let scanned = 0;
  const wrappedOriginal: Update = function (this: Hash, chunk, final) {
    calls++;
    scanned += chunk?.length ?? 0;
    return original.call(this, chunk, final);
  };
  // the change around a counting copy of mailauth's update
  RelaxedHash.prototype.update = wrappedOriginal;
  installRelaxedLines(RelaxedHash.prototype);
  try {
    const hash = new RelaxedHash('sha256', '');
    for (let at = 0; at < line.length; at += 64 * 1024) hash.update(line.subarray(at, at + 64 * 1024));
    hash.update(Buffer.from('\r\n'));
    hash.digest('base64');
  } finally {
    RelaxedHash.prototype.update = changed;
  }
  // the last chunk (with the line end) and the digest's final call; 4 MB scanned once, not 64 times over 2 MB on average
  assert.equal(calls, 2);
  assert.equal(scanned, line.length + 2);
});

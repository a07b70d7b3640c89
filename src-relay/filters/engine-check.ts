// Finding and testing the filter engines for the setup wizard, through the same filter classes the pipeline uses:
// clamd must find the EICAR test file, rspamd and spamd must score a small message. A test never throws for what an
// engine does (down, slow, something else on the port): the answer says it in plain words.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostPortSchema } from '../config/schema.ts';
import { ClamavFilter, clamdVersion } from './clamav.ts';
import { RspamdFilter } from './rspamd.ts';
import { SpamdFilter } from './spamd.ts';
import type { Filter, MessageContext } from './types.ts';

export type FilterEngine = 'clamav' | 'rspamd' | 'spamd';

export interface FilterCandidate {
  engine: FilterEngine;
  address: string;
}

/** Where Debian's packages (and their defaults elsewhere) put each engine. */
export const FILTER_CANDIDATES: readonly FilterCandidate[] = [
  { engine: 'clamav', address: '127.0.0.1:3310' },
  { engine: 'clamav', address: '/run/clamav/clamd.ctl' },
  { engine: 'rspamd', address: '127.0.0.1:11333' },
  { engine: 'spamd', address: '127.0.0.1:783' },
];

/** Looking for an engine: they are local, so one that has not answered by then is not there (or is stuck). */
export const DETECT_TIMEOUT_MS = 5_000;
/** Testing one the admin named: a junk engine's first scan after a start can take a while. */
export const TEST_TIMEOUT_MS = 30_000;
/** The test scans are tiny; a limit well above them keeps the filters' own size checks out of the way. */
const TEST_MAX_BYTES = 1024 * 1024;

/**
 * The EICAR anti-virus test file (68 bytes, eicar.org): every scanner reports it, it does nothing. Built from two
 * halves so that a scanner looking at Moat's own source files does not report this one.
 */
const EICAR = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'].join('');

export interface EngineCheck {
  /** The engine answered at that address (it may still have failed its test). */
  answered: boolean;
  /** It answered and passed: clamd found the EICAR file, a junk engine gave a score. */
  ok: boolean;
  detail: string;
}

/** Why an address cannot be one for this engine, or null: clamd takes a socket path or HOST:PORT, the others HOST:PORT. */
export function filterAddressProblem(engine: FilterEngine, address: string): string | null {
  if (engine === 'clamav' && address.includes('/')) return address.startsWith('/') ? null : 'a unix socket path must be absolute, e.g. /run/clamav/clamd.ctl';
  const parsed = hostPortSchema.safeParse(address);
  if (!parsed.success) return engine === 'clamav' ? 'expected HOST:PORT (e.g. 127.0.0.1:3310) or a socket path' : 'expected HOST:PORT, e.g. 127.0.0.1:11333';
  if (Number(address.slice(address.lastIndexOf(':') + 1)) === 0) return 'port 0 is not an address to connect to';
  return null;
}

/** Tests one engine at one address; `hostname` goes into the test message (and rspamd's MTA-Name). */
export async function checkFilterEngine(engine: FilterEngine, address: string, options: { timeoutMs?: number; hostname?: string } = {}): Promise<EngineCheck> {
  const timeoutMs = options.timeoutMs ?? TEST_TIMEOUT_MS;
  const hostname = options.hostname ?? 'localhost';
  const dir = await mkdtemp(join(tmpdir(), 'moat-filter-test-'));
  try {
    const body = engine === 'clamav' ? EICAR : testMessage(hostname);
    const path = join(dir, 'message');
    await writeFile(path, body);
    const message: MessageContext = {
      queueId: 'setup-test',
      clientIp: '127.0.0.1',
      helo: hostname,
      sender: `postmaster@${hostname}`,
      recipients: [`postmaster@${hostname}`],
      path,
      size: Buffer.byteLength(body),
      headers: [],
      tls: false,
      authenticatedUser: null,
    };
    const filter: Filter =
      engine === 'clamav'
        ? new ClamavFilter({ address, infected: 'reject', onProblem: 'tempfail', streamMaxBytes: TEST_MAX_BYTES })
        : engine === 'rspamd'
          ? new RspamdFilter({ address, maxBytes: TEST_MAX_BYTES, hostname })
          : new SpamdFilter({ address, maxBytes: TEST_MAX_BYTES });
    const signal = AbortSignal.timeout(timeoutMs);
    let result;
    try {
      result = await filter.check(message, signal);
    } catch (error) {
      const why = signal.aborted ? `no answer within ${timeoutMs / 1000} s` : (error as Error).message;
      return { answered: false, ok: false, detail: `${ENGINE_NAMES[engine]} at ${address}: ${why}` };
    }
    const first = result.reasons[0] ?? '';
    if (result.unavailable) {
      const why = signal.aborted ? `${ENGINE_NAMES[engine]} at ${address}: no answer within ${timeoutMs / 1000} s` : first;
      return { answered: false, ok: false, detail: why || `${ENGINE_NAMES[engine]} at ${address} did not answer` };
    }
    if (engine === 'clamav') return describeClamd(address, result.verdict, first, Math.min(timeoutMs, DETECT_TIMEOUT_MS));
    if (result.verdict === 'tempfail') return { answered: true, ok: false, detail: `${ENGINE_NAMES[engine]} at ${address} answered, but gave no score: ${first}` };
    return { answered: true, ok: true, detail: `${ENGINE_NAMES[engine]} at ${address} scored a test message: ${first.replace(/^[a-z]+: /, '')}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Tries every candidate at once, each within `timeoutMs`. */
export function detectFilterEngines(candidates: readonly FilterCandidate[] = FILTER_CANDIDATES, options: { timeoutMs?: number; hostname?: string } = {}) {
  const timeoutMs = options.timeoutMs ?? DETECT_TIMEOUT_MS;
  return Promise.all(
    candidates.map(async (candidate) => {
      const check = await checkFilterEngine(candidate.engine, candidate.address, { ...options, timeoutMs });
      return { engine: candidate.engine, address: candidate.address, found: check.answered, ok: check.ok, detail: check.detail };
    }),
  );
}

const ENGINE_NAMES: Record<FilterEngine, string> = { clamav: 'clamd', rspamd: 'rspamd', spamd: 'spamd' };

async function describeClamd(address: string, verdict: string, reason: string, versionTimeoutMs: number): Promise<EngineCheck> {
  const version = await clamdVersion(address, versionTimeoutMs).then(
    (answer) => `${answer.engine}${answer.signatureDate ? `, signatures of ${answer.signatureDate.toISOString().slice(0, 10)}` : ''}`,
    () => null,
  );
  const who = `clamd at ${address}${version ? ` (${version})` : ''}`;
  const found = /^virus found: (.+)$/.exec(reason);
  if (verdict === 'reject' && found) return { answered: true, ok: true, detail: `${who} found the EICAR test file (${found[1]})` };
  if (verdict === 'accept') return { answered: true, ok: false, detail: `${who} answers, but did not find the EICAR test file: are its signatures loaded (freshclam)?` };
  return { answered: true, ok: false, detail: `${who} answers, but could not scan: ${reason}` };
}

function testMessage(hostname: string): string {
  return [
    `From: Moat setup <postmaster@${hostname}>`,
    `To: postmaster@${hostname}`,
    'Subject: Moat filter test',
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <filter-test.${Date.now()}@${hostname}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'This message only checks that the junk filter answers. It is never delivered.',
    '',
  ].join('\r\n');
}

// The content filters' second thread (filter-thread.ts starts it): the MIME walk, and a SenderAuthFilter whose DNS
// look-ups are cached here and asked of the relay's thread on a miss. Early SPF checks live here, by key, until their
// transaction is checked or dropped.
import { parentPort, workerData } from 'node:worker_threads';
import { parseMessageFile } from './mime.ts';
import { DNS_LOOKUP_TIMEOUT_MS, SenderAuthFilter, publicKeyCacheStats, type AuthResolver, type RunningSpf } from './sender-auth.ts';
import type { FromThreadOne, SenderAuthSettings, ThreadMessage, ToThread } from './filter-thread.ts';
import { DnsCache } from '../util/dns-cache.ts';
import { Outbox } from './thread-outbox.ts';
import type { Resolver } from '../util/resolver.ts';

// What this thread parses comes from the network (headers, DNS records): no parsed key may reach Object.prototype
// through "__proto__" (mailauth's tag parser follows dotted tag names, a.b=…). Without the accessor it is a plain
// key, as with node's --disable-proto=delete, which a Worker cannot be given. Before mailauth loads (at first use).
delete (Object.prototype as { __proto__?: unknown }).__proto__;
if ('__proto__' in Object.prototype) throw new Error('the filter thread could not remove Object.prototype.__proto__');

// The thread's stdout is the relay's log: mailauth's verifier prints a debug line there for each signature whose l=
// is not the body's length (dkim-verifier.js), which a sender could use to write lines into the log. The thread
// reports through its answers only.
console.log = console.info = console.debug = () => {};

/** Early SPF checks kept at most: the listener drops each transaction's, this only bounds a mistake. */
const MAX_EARLY_SPF = 10_000;

const port = parentPort!;
const outbox = new Outbox<FromThreadOne>(port);
/** Sent with the rest of this turn's messages; an answer that cannot be cloned becomes an error answer. */
const post = (message: FromThreadOne) =>
  outbox.send(message, message.t === 'done' ? (error) => outbox.send({ t: 'done', id: message.id, error: failure(new Error(`the answer could not be passed on: ${error.message}`)) }) : undefined);

let nextAsk = 0;
const asked = new Map<number, { resolve: (answer: string[][] | string[]) => void; reject: (error: Error) => void }>();
const settings = workerData as SenderAuthSettings | null;
/**
 * A question the SMTP thread has not answered in twice the look-up timeout is given up (nobody waits for it by then).
 * It fails, not just forgotten: the cache below hands a pending question to every later look-up of the name, and one
 * that never settled left the domain's mail at spf=temperror until a restart.
 */
const GIVE_UP_AFTER_MS = 2 * (settings?.lookupTimeoutMs ?? DNS_LOOKUP_TIMEOUT_MS);
const ask = (type: string) => (name: string) =>
  new Promise<string[][] | string[]>((resolve, reject) => {
    const rid = nextAsk++;
    asked.set(rid, { resolve, reject });
    setTimeout(() => {
      if (!asked.delete(rid)) return;
      reject(Object.assign(new Error(`no answer for ${type} ${name} from the relay's thread in ${GIVE_UP_AFTER_MS} ms`), { code: 'ETIMEOUT' }));
    }, GIVE_UP_AFTER_MS).unref();
    post({ t: 'dns', rid, name, type });
  });
// cached here: a burst from one sending domain asks the SMTP thread once per record
const resolver = new DnsCache({ resolver: { resolveTxt: ask('TXT'), resolve4: ask('A'), resolve6: ask('AAAA'), resolveMx: ask('MX'), resolvePtr: ask('PTR') } as unknown as Resolver }) as AuthResolver;

const senderAuth = settings ? new SenderAuthFilter({ ...settings, resolver }) : null;
const running = new Map<number, AbortController>();
const early = new Map<number, RunningSpf>();

/** Structured cloning turns a Buffer into a plain Uint8Array. */
const asBuffer = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes);

type Answer = Extract<FromThreadOne, { t: 'done' }>;
const failure = (error: Error & { code?: string }): Answer['error'] => ({ message: error?.message ?? String(error), name: error?.name ?? 'Error', code: error?.code });

/** Runs one request under its own abort; true when the work succeeded. Whatever happens, one answer is posted. */
function run(id: number, work: (signal: AbortSignal) => Promise<Answer['value']>, controller = new AbortController()): Promise<boolean> {
  running.set(id, controller);
  return work(controller.signal)
    .then(
      (value) => (post({ t: 'done', id, value }), true),
      (error: Error) => (post({ t: 'done', id, error: failure(error) }), false),
    )
    .finally(() => running.delete(id));
}

/** The early SPF check a message's check is handed, out of the map: the check ends it (the listener sends no drop for it). */
function takeEarly(key: number | undefined): RunningSpf | undefined {
  if (key === undefined) return undefined;
  const spf = early.get(key);
  early.delete(key);
  return spf;
}

function check(id: number, input: ThreadMessage, spf: RunningSpf | undefined, controller?: AbortController): Promise<boolean> {
  return run(
    id,
    async (signal) => {
      if (!senderAuth) throw new Error('sender authentication is off');
      const began = performance.now();
      try {
        // its time here, for the trace: a check that went with the walk is mostly done before the pipeline waits
        const result = await senderAuth.check({ ...input, content: asBuffer(input.content), headers: [], earlySpf: spf }, signal);
        return { ...result, ms: performance.now() - began };
      } finally {
        spf?.abort();
      }
    },
    controller,
  );
}

port.on('message', receive);

function receive(message: ToThread): void {
  switch (message.t) {
    case 'batch':
      for (const one of message.messages) receive(one);
      return;
    case 'dns': {
      const waiting = asked.get(message.rid);
      asked.delete(message.rid);
      if (message.error) waiting?.reject(Object.assign(new Error(message.error.message), { code: message.error.code }));
      else waiting?.resolve(message.answer ?? []);
      return;
    }
    case 'parse': {
      const walked = run(message.id, (signal) => parseMessageFile(message.path, signal, { content: asBuffer(message.content), size: message.size }));
      if (!message.check) return;
      const { id, message: input } = message.check;
      const spf = takeEarly(input.spfKey);
      // known from now on, so that an abort (nobody will wait for it) that comes during the walk stops it
      const controller = new AbortController();
      running.set(id, controller);
      // after the walk, not beside it: the walk's answer is what the SMTP thread waits for first. After a failed walk
      // nobody waits for it (the SMTP thread asks again if it still wants it).
      void walked.then((ok) => {
        if (ok && !controller.signal.aborted) return check(id, input, spf, controller);
        running.delete(id);
        spf?.abort();
        // answered all the same, so that nothing could ever wait for it
        post({ t: 'done', id, error: { message: 'not run: nobody waits for it', name: 'AbortError' } });
      });
      return;
    }
    case 'check':
      void check(message.id, message.message, takeEarly(message.message.spfKey));
      return;
    case 'stats':
      return post({ t: 'done', id: message.id, value: { ...publicKeyCacheStats(), running: running.size } });
    case 'warm':
      // started for a client that just connected: mailauth loads while that client is still in its conversation
      senderAuth?.preload();
      return;
    case 'abort':
      running.get(message.id)?.abort(new DOMException('stopped at its deadline', 'AbortError'));
      return;
    case 'spf': {
      if (!senderAuth) return;
      if (early.size >= MAX_EARLY_SPF) {
        const [oldestKey, oldest] = early.entries().next().value!;
        oldest.abort();
        early.delete(oldestKey);
      }
      early.set(message.key, senderAuth.startSpf(message.transaction));
      return;
    }
    case 'spf-abort':
      early.get(message.key)?.abort();
      early.delete(message.key);
  }
}

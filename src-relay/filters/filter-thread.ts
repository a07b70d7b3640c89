// The content filters' second thread (filter-thread-entry.ts runs in it): the MIME walk and sender authentication
// (mailauth's header parsing, body hashing and RSA verification) cost the SMTP thread more than the rest of a
// message's work, while the box's second core waits. This is the relay's handle on it. The thread keeps the DNS
// cache and asks a miss of this thread, which holds the relay's resolver. Deadlines and fail modes stay the
// pipeline's. A thread that stopped is replaced at once and what it held is asked again there, once: a request held
// by two threads that stopped fails (as a throw in this thread would). So a thread that stopped for a reason of its
// own fails nothing; one that a message makes crash, twice, fails what it held both times (no worse than before: it
// failed all it held, at every crash). What is past its deadline when its thread stops or is found stuck fails.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { ParsedMessage } from './mime.ts';
import type { publicKeyCacheStats, SenderAuthOptions } from './sender-auth.ts';
import { Outbox, type Batch } from './thread-outbox.ts';
import type { FilterResult, MessageContext } from './types.ts';

/**
 * How long a request may go unanswered after its deadline before the thread counts as stuck (ms), if the thread has
 * not been heard from in that time either: a thread that says nothing at all is in a loop it will not leave, and is
 * replaced. One that is merely busy is given up to STUCK_LIMIT times as long.
 */
export const STUCK_AFTER_MS = 5_000;
const STUCK_LIMIT = 12;

/** Sender authentication's options that are data (the resolver stays in this thread); null when it is off. */
export type SenderAuthSettings = Omit<SenderAuthOptions, 'resolver' | 'random'>;
/** The parts of a message sender authentication reads; the copy of a small message travels with it (at most 64 KB). */
export type ThreadMessage = Pick<MessageContext, 'queueId' | 'clientIp' | 'helo' | 'sender' | 'recipients' | 'path' | 'size' | 'content' | 'tls' | 'authenticatedUser'> & {
  /** The early SPF check of this transaction, started in the thread. */
  spfKey?: number;
};
/** The thread's parsed-key cache (`publicKeyCacheStats` there), and how many requests it is working on. */
export type ThreadStats = ReturnType<typeof publicKeyCacheStats> & { running: number };
/** Sender authentication's check, sent to the thread with the MIME walk: it starts there the moment the walk ends. */
export interface StartedCheck {
  /** Its answer, with `signal` as the filter's deadline (as `checkSender`'s). */
  wait(signal: AbortSignal): Promise<FilterResult>;
  /** Nobody will wait for it (the sender lists refused the message): the thread stops it. No-op once waited for. */
  cancel(): void;
}
export type Request =
  | { t: 'parse'; path: string; size: number; content: Buffer | null | undefined; check?: { id: number; message: ThreadMessage } }
  | { t: 'check'; message: ThreadMessage }
  | { t: 'stats' };
export type ToThread = ToThreadOne | Batch<ToThreadOne>;
type ToThreadOne =
  | (Request & { id: number })
  | { t: 'abort'; id: number }
  | { t: 'spf'; key: number; transaction: { clientIp: string; helo: string | null; sender: string } }
  | { t: 'spf-abort'; key: number }
  | { t: 'dns'; rid: number; answer?: string[][] | string[]; error?: { message: string; code?: string } };
export type FromThread = FromThreadOne | Batch<FromThreadOne>;
export type FromThreadOne =
  | { t: 'done'; id: number; value?: ParsedMessage | FilterResult | ThreadStats; error?: { message: string; name: string; code?: string } }
  | { t: 'dns'; rid: number; name: string; type: string };

export interface FilterThreadOptions {
  /** Sender authentication's settings; null when it is off (the thread then only walks MIME). */
  senderAuth: SenderAuthSettings | null;
  /** The relay's DNS, as mailauth asks it (`lookupByType` over the relay's resolver); the thread caches the answers. */
  lookup: (name: string, type: string) => Promise<string[][] | string[]>;
  /** STUCK_AFTER_MS unless given (tests). */
  stuckAfterMs?: number;
  /** The thread's module; THREAD_URL unless given (tests give one that never answers). */
  entry?: URL;
  /** Told when a thread stopped or was found stuck, and why (the relay logs it). */
  onStopped?: (why: string) => void;
}

// the thread's module sits beside this one: .ts from the sources, .mjs or .js beside the bundle that holds this code
const THREAD_URL = new URL(`./filter-thread-entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** A Worker on the thread's module; from the sources (tests, `relay:dev`) through tsx, which Node 20 does not pass on to a worker. */
function startWorker(entry: URL, workerData: SenderAuthSettings | null): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => (register(), import(${JSON.stringify(entry.href)})))`;
  return new Worker(boot, { eval: true, workerData });
}

/** A request waiting for its answer. */
interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** What a new thread is sent when the one that held it stopped (a check sent with its walk: as a check of its own). */
  request?: ToThreadOne;
  /** Its deadline: a request past it is not asked again. */
  signal?: AbortSignal;
  /** Threads that stopped while they held it. */
  lost: number;
}

/** How many threads may stop holding a request before it fails: the first that stops has it asked again of a new one. */
const MAX_THREADS_LOST = 1;

export class FilterThread {
  private worker: Worker | null = null;
  /** What goes to the current thread at the end of this turn. */
  private outbox: Outbox<ToThreadOne> | null = null;
  private next = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly stuckAfterMs: number;
  /** When the current thread last said anything (ms, performance.now). */
  private heard = 0;
  private stopped = false;

  constructor(private readonly options: FilterThreadOptions) {
    this.stuckAfterMs = options.stuckAfterMs ?? STUCK_AFTER_MS;
  }

  /**
   * The MIME walk of filters/mime.ts (parseMessageFile), in the thread. With `check`, the thread goes on to check the
   * sender as soon as the walk is done (one message between the threads instead of two, and no wait in between):
   * `senderCheck` of the answer waits for that check. When the walk fails, its check's answer is not waited for.
   */
  parse(path: string, signal?: AbortSignal, read: { content?: Buffer | null; size?: number } = {}, check?: ThreadMessage): Promise<ParsedMessage & { senderCheck?: StartedCheck }> {
    const walk: Request = { t: 'parse', path, size: read.size ?? 0, content: read.content };
    if (!check) return this.request(walk, signal) as Promise<ParsedMessage>;
    const checkId = this.next++;
    const checked = this.expect(checkId, { t: 'check', id: checkId, message: check }) as Promise<FilterResult>;
    checked.catch(() => {}); // cancelled, or the walk failed: nobody waits for it
    const parsed = this.request({ ...walk, check: { id: checkId, message: check } }, signal);
    let waited = false;
    const senderCheck: StartedCheck = {
      wait: (deadline) => {
        waited = true;
        return this.wait(checkId, checked, deadline);
      },
      cancel: () => {
        if (waited || !this.pending.delete(checkId)) return;
        if (this.worker) this.send(this.worker, { t: 'abort', id: checkId });
      },
    };
    return parsed.then(
      (value) => ({ ...(value as ParsedMessage), senderCheck }),
      (error: unknown) => {
        // the thread does not run the check of a walk that failed
        this.pending.delete(checkId);
        throw error;
      },
    );
  }

  /** Sender authentication's check of one message, in the thread. */
  checkSender(message: ThreadMessage, signal: AbortSignal): Promise<FilterResult> {
    return this.request({ t: 'check', message }, signal) as Promise<FilterResult>;
  }

  /** Starts a transaction's SPF check in the thread; `key` names it to `checkSender`; `drop` ends it unused. */
  startSpf(transaction: { clientIp: string; helo: string | null; sender: string }): { key: number; drop: () => void } {
    const key = this.next++;
    // after stop: the check, if one still comes, fails anyway
    if (this.stopped) return { key, drop: () => {} };
    const worker = this.thread();
    this.send(worker, { t: 'spf', key, transaction });
    // a thread started since has never heard of it
    return { key, drop: () => this.send(worker, { t: 'spf-abort', key }) };
  }

  /** The thread's parsed-key cache and the requests under way there, for tests. */
  stats(): Promise<ThreadStats> {
    return this.request({ t: 'stats' }) as Promise<ThreadStats>;
  }

  /** Stops the thread (the relay stops); what it still held fails. */
  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    this.worker = null;
    this.outbox?.clear();
    this.failAll(new Error('the filter thread was stopped with the relay'));
    await worker?.terminate();
  }

  private request(request: Request, signal?: AbortSignal): Promise<unknown> {
    if (this.stopped) return Promise.reject(new Error('the filter thread was stopped with the relay'));
    if (signal?.aborted) return Promise.reject(new DOMException('stopped at its deadline', 'AbortError'));
    const id = this.next++;
    const message: ToThreadOne = { ...request, id };
    const answer = this.expect(id, message);
    let worker: Worker;
    try {
      worker = this.thread();
    } catch (error) {
      this.pending.delete(id);
      return Promise.reject(error as Error);
    }
    this.send(worker, message, this.unsendable(id));
    return this.wait(id, answer, signal);
  }

  /** The answer to request `id`, once a thread gives it (or fails); `request` is what a new thread would be sent. */
  private expect(id: number, request?: ToThreadOne): Promise<unknown> {
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, request, lost: 0 }));
  }

  /** A request that cannot be posted (it cannot be cloned) fails as an answer would. */
  private unsendable(id: number): (error: Error) => void {
    return (error) => this.settle({ t: 'done', id, error: { message: error.message, name: error.name } });
  }

  /**
   * The answer, with a deadline: at `signal` the thread working on it is told to stop the work, and a thread that
   * then says nothing for stuckAfterMs (or stays busy STUCK_LIMIT times as long) is replaced.
   */
  private wait<T>(id: number, answer: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!signal) return answer;
    const pending = this.pending.get(id);
    if (pending) pending.signal = signal;
    const watch = (worker: Worker, since: number, rounds: number) =>
      setTimeout(() => {
        if (!this.pending.has(id) || this.worker !== worker) return;
        const quiet = performance.now() - this.heard >= this.stuckAfterMs;
        if (quiet || rounds >= STUCK_LIMIT) void this.replace(worker, `no answer ${Math.round(performance.now() - since)} ms after a deadline`);
        else watch(worker, since, rounds + 1);
      }, this.stuckAfterMs).unref();
    const onAbort = () => {
      const worker = this.worker;
      if (!this.pending.has(id) || !worker) return;
      this.send(worker, { t: 'abort', id });
      watch(worker, performance.now(), 1);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const settled = () => signal.removeEventListener('abort', onAbort);
    return answer.finally(settled);
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker(this.options.entry ?? THREAD_URL, this.options.senderAuth);
    // the relay's own shutdown stops it; it never keeps a process alive by itself
    worker.unref();
    worker.on('message', (message: FromThread) => {
      // a replaced thread's last words count for nothing: what it held has failed, or its successor has it now
      if (this.worker !== worker) return;
      this.heard = performance.now();
      if (message.t !== 'batch') return this.onMessage(worker, message);
      for (const one of message.messages) this.onMessage(worker, one);
    });
    worker.on('error', (error) => void this.replace(worker, error.message));
    worker.on('exit', (code) => void this.replace(worker, `exit code ${code}`));
    this.worker = worker;
    this.outbox = new Outbox(worker);
    this.heard = performance.now();
    return worker;
  }

  /**
   * The thread is gone or stuck. What it held fails if it is past its deadline or a thread stopped holding it
   * before; the rest is asked again of a new thread, started now.
   */
  private async replace(worker: Worker, why: string): Promise<void> {
    if (this.worker !== worker) return;
    this.worker = null;
    this.outbox?.clear();
    const error = new Error(`the filter thread stopped: ${why}`);
    const failing = new Set<number>();
    for (const [id, pending] of this.pending) {
      if (this.stopped || !pending.request || pending.signal?.aborted || pending.lost >= MAX_THREADS_LOST) failing.add(id);
    }
    // a walk that fails takes along the check sent with it: nobody would wait for that check
    for (const id of failing) {
      const request = this.pending.get(id)?.request;
      if (request?.t === 'parse' && request.check) failing.add(request.check.id);
    }
    const again: number[] = [];
    for (const [id, pending] of [...this.pending]) {
      if (!failing.has(id)) {
        pending.lost++;
        again.push(id);
        continue;
      }
      this.pending.delete(id);
      pending.reject(error);
    }
    if (again.length > 0) this.askAgain(again);
    this.options.onStopped?.(why);
    await worker.terminate();
  }

  /** Sends the requests `ids` to a new thread: a walk with its check while both are wanted, else each on its own. */
  private askAgain(ids: number[]): void {
    let next: Worker;
    try {
      next = this.thread();
    } catch (error) {
      for (const id of ids) this.settle({ t: 'done', id, error: { message: (error as Error).message, name: 'Error' } });
      return;
    }
    const withWalk = new Set<number>();
    for (const id of ids) {
      const request = this.pending.get(id)!.request!;
      if (request.t === 'parse' && request.check && this.pending.has(request.check.id)) withWalk.add(request.check.id);
    }
    for (const id of ids) {
      if (withWalk.has(id)) continue;
      const request = this.pending.get(id)!.request!;
      const message = request.t === 'parse' && request.check && !withWalk.has(request.check.id) ? { ...request, check: undefined } : request;
      this.send(next, message, this.unsendable(id));
    }
  }

  /** Sends to `worker` with the rest of this turn's messages; nothing when it is no longer the current thread. */
  private send(worker: Worker, message: ToThreadOne, onFailure?: (error: Error) => void): void {
    if (this.worker === worker) this.outbox?.send(message, onFailure);
  }

  private onMessage(worker: Worker, message: FromThreadOne): void {
    if (message.t === 'dns') {
      const { rid } = message;
      const unsent = (error: Error) => this.send(worker, { t: 'dns', rid, error: { message: `the answer could not be passed on: ${error.message}` } });
      this.options.lookup(message.name, message.type).then(
        (value) => this.send(worker, { t: 'dns', rid, answer: value }, unsent),
        (error: unknown) => this.send(worker, { t: 'dns', rid, error: { message: error instanceof Error ? error.message : String(error), code: (error as { code?: string } | null)?.code } }, unsent),
      );
      return;
    }
    this.settle(message);
  }

  /** A request's answer: its promise settles. */
  private settle(message: Extract<FromThreadOne, { t: 'done' }>): void {
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (message.error) waiting.reject(Object.assign(new Error(message.error.message), { name: message.error.name, code: message.error.code }));
    else waiting.resolve(message.value);
  }

  private failAll(error: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const { reject } of waiting) reject(error);
  }
}

// The content filters' second thread (filter-thread-entry.ts runs in it): the MIME walk and sender authentication
// (mailauth's header parsing, body hashing and RSA verification) cost the SMTP thread more than the rest of a
// message's work, while the box's second core waits. This is the relay's handle on it. The thread keeps the DNS
// cache and asks a miss of this thread, which holds the relay's resolver. Deadlines and fail modes stay the
// pipeline's. A thread that stopped is replaced, and what it held is asked again together, of a thread of its own,
// while new messages go on to the new one; what that thread held when it stopped too, in halves, each round of a new
// thread. A message that stops a thread where it is alone fails (as a throw in this thread would), and only it. So a
// thread that stopped for a reason of its own fails nothing, and a message that crashes the thread fails alone. What
// is past its deadline when its thread stops or is found stuck fails.
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
/** How long a client whose early SPF check was under way when a thread stopped gets none (ms). */
const NO_EARLY_SPF_MS = 60 * 60_000;
/** Client addresses kept without early SPF at most: past it the oldest go (a flood of them must not grow memory). */
const MAX_NO_EARLY_SPF = 10_000;
/**
 * An early SPF check dropped by its transaction may still get a DNS answer for this long (ms: DNS_BUDGET_MS, the
 * check's budget): until then it counts as under way when a thread stops.
 */
const DROPPED_SPF_GRACE_MS = 12_000;
/** Early SPF checks remembered at most (under way, or dropped within the grace). */
const MAX_EARLY_SPF_KEPT = 10_000;
/**
 * Thread stops in the last minute past which what a stopped thread holds fails (451: the senders try again later)
 * instead of being asked again: one crashing message costs a search of a few rounds, each a thread start, and a
 * stream of them must not take the CPU nor keep the messages beside them waiting past their deadlines.
 */
export const MAX_STOPS_PER_MINUTE = 20;

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
  /** Load what the checks need now (FilterThread.warm), not at the first check. */
  | { t: 'warm' }
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
  /** The thread's module; THREAD_URL unless given (tests give one that never answers, and one that crashes). */
  entry?: URL;
  /** Told when a thread stopped or was found stuck, and why (the relay logs it). */
  onStopped?: (why: string) => void;
  /** Told when the thread new requests go to starts: the first time, or after one stopped (the relay logs it). */
  onStarted?: () => void;
  /** MAX_STOPS_PER_MINUTE unless given (tests). */
  maxStopsPerMinute?: number;
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

/** A thread and what goes to it at the end of this turn. */
interface Lane {
  worker: Worker;
  outbox: Outbox<ToThreadOne>;
  /** When it last said anything (ms, performance.now). */
  heard: number;
  /** An isolation thread (one round of what stopped threads held, then it goes): how many messages its round has. */
  round: number | null;
}

/** A request waiting for its answer. */
interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** What a thread is sent for it (a check sent with its walk: as a check of its own when asked again alone). */
  request?: ToThreadOne;
  /** Its deadline: a request past it is not asked again. */
  signal?: AbortSignal;
  /** The thread that has it; null while it waits to be asked again. */
  lane: Lane | null;
}

export class FilterThread {
  /** The thread every new request goes to. */
  private main: Lane | null = null;
  /** The thread asking again, in a round, what stopped threads held; a new one for each round, none between. */
  private isolation: Lane | null = null;
  /**
   * Rounds waiting for the isolation thread, in order: each the requests to ask again together (a walk with its check
   * counts as one). What the main thread held is one round; what a round's thread held when it stopped too, two.
   */
  private readonly rounds: number[][] = [];
  /** The requests of the round under way (checks sent with their walks included). */
  private inIsolation: number[] = [];
  /** Client addresses whose SPF is checked with their message, not at MAIL FROM, until when (ms, performance.now). */
  private readonly noEarlySpf = new Map<string, number>();
  /** Early SPF checks in the main thread, under way or dropped within DROPPED_SPF_GRACE_MS: their client by key. */
  private readonly earlySpf = new Map<number, { ip: string; droppedAt?: number }>();
  /** When threads stopped in the last minute (ms, performance.now). */
  private readonly stops: number[] = [];
  private next = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly stuckAfterMs: number;
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
        const pending = this.pending.get(checkId);
        if (waited || !pending) return;
        this.forget(checkId);
        if (pending.lane) this.send(pending.lane, { t: 'abort', id: checkId });
      },
    };
    return parsed.then(
      (value) => ({ ...(value as ParsedMessage), senderCheck }),
      (error: unknown) => {
        // the thread does not run the check of a walk that failed
        this.forget(checkId);
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
    // after stop: the check, if one still comes, fails anyway; for a client whose early check was under way when a
    // thread stopped, the message's check does SPF itself, where a crash is that message's
    const none = { key, drop: () => {} };
    if (this.stopped || (this.noEarlySpf.get(transaction.clientIp) ?? 0) > performance.now()) return none;
    let lane: Lane;
    try {
      lane = this.mainLane();
    } catch {
      return none; // the message's check starts the thread, or fails for it
    }
    this.forgetDroppedSpf();
    const early: { ip: string; droppedAt?: number } = { ip: transaction.clientIp };
    this.earlySpf.set(key, early);
    this.send(lane, { t: 'spf', key, transaction });
    // a thread started since has never heard of it
    return {
      key,
      drop: () => {
        early.droppedAt ??= performance.now();
        this.send(lane, { t: 'spf-abort', key });
      },
    };
  }

  /** Early SPF checks dropped longer ago than the grace (they are in start order: those at the front), and the oldest past the bound. */
  private forgetDroppedSpf(): void {
    const now = performance.now();
    for (const [key, early] of this.earlySpf) {
      const old = early.droppedAt !== undefined && now - early.droppedAt > DROPPED_SPF_GRACE_MS;
      if (!old && this.earlySpf.size < MAX_EARLY_SPF_KEPT) return;
      this.earlySpf.delete(key);
    }
  }

  /**
   * Starts the thread before its first request (a client connected): its start and mailauth's load, some 150 ms on
   * a small box, then overlap that client's greeting delay and commands instead of delaying its first message.
   */
  warm(): void {
    if (this.stopped || this.main) return;
    this.send(this.mainLane(), { t: 'warm' });
  }

  /** The thread's parsed-key cache and the requests under way there, for tests. */
  stats(): Promise<ThreadStats> {
    return this.request({ t: 'stats' }) as Promise<ThreadStats>;
  }

  /** Stops the threads (the relay stops); what they held fails. */
  async stop(): Promise<void> {
    this.stopped = true;
    const lanes = [this.main, this.isolation].filter((lane): lane is Lane => lane !== null);
    this.main = this.isolation = null;
    for (const lane of lanes) lane.outbox.clear();
    this.rounds.length = 0;
    this.failAll(new Error('the filter thread was stopped with the relay'));
    await Promise.all(lanes.map((lane) => lane.worker.terminate()));
  }

  private request(request: Request, signal?: AbortSignal): Promise<unknown> {
    if (this.stopped) return Promise.reject(new Error('the filter thread was stopped with the relay'));
    if (signal?.aborted) return Promise.reject(new DOMException('stopped at its deadline', 'AbortError'));
    const id = this.next++;
    const message: ToThreadOne = { ...request, id };
    const answer = this.expect(id, message);
    let lane: Lane;
    try {
      lane = this.mainLane();
    } catch (error) {
      this.pending.delete(id);
      return Promise.reject(error as Error);
    }
    // a check sent with its walk is the same thread's
    this.hand(lane, message.t === 'parse' && message.check ? [id, message.check.id] : [id]);
    // the early SPF check it takes over is the message's now (the thread ends it with the check)
    const spfKey = message.t === 'check' ? message.message.spfKey : message.t === 'parse' ? message.check?.message.spfKey : undefined;
    if (spfKey !== undefined) this.earlySpf.delete(spfKey);
    this.send(lane, message, this.unsendable(id));
    return this.wait(id, answer, signal);
  }

  /** The answer to request `id`, once a thread gives it (or fails); `request` is what a thread is sent for it. */
  private expect(id: number, request?: ToThreadOne): Promise<unknown> {
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, request, lane: null }));
  }

  /** The requests `ids` are now `lane`'s. */
  private hand(lane: Lane, ids: number[]): void {
    for (const id of ids) {
      const pending = this.pending.get(id);
      if (pending) pending.lane = lane;
    }
  }

  /** A request that cannot be posted (it cannot be cloned) fails as an answer would. */
  private unsendable(id: number): (error: Error) => void {
    return (error) => this.settle({ t: 'done', id, error: { message: error.message, name: error.name } });
  }

  /**
   * The answer, with a deadline: at `signal` the thread working on it is told to stop the work, and a thread that
   * then says nothing for stuckAfterMs (or stays busy STUCK_LIMIT times as long) is replaced. One waiting to be asked
   * again fails at once.
   */
  private wait<T>(id: number, answer: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!signal) return answer;
    const pending = this.pending.get(id);
    if (pending) pending.signal = signal;
    const watch = (lane: Lane, since: number, rounds: number) =>
      setTimeout(() => {
        if (this.pending.get(id)?.lane !== lane || !this.current(lane)) return;
        const quiet = performance.now() - lane.heard >= this.stuckAfterMs;
        if (quiet || rounds >= STUCK_LIMIT) void this.replace(lane, `no answer ${Math.round(performance.now() - since)} ms after a deadline`);
        else watch(lane, since, rounds + 1);
      }, this.stuckAfterMs).unref();
    const onAbort = () => {
      const lane = this.pending.get(id)?.lane;
      if (lane === undefined) return;
      if (lane === null) return this.settle({ t: 'done', id, error: { message: 'stopped at its deadline', name: 'AbortError' } });
      this.send(lane, { t: 'abort', id });
      watch(lane, performance.now(), 1);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const settled = () => signal.removeEventListener('abort', onAbort);
    return answer.finally(settled);
  }

  private current(lane: Lane): boolean {
    return lane === this.main || lane === this.isolation;
  }

  private mainLane(): Lane {
    if (!this.main) {
      this.main = this.startLane(null);
      this.options.onStarted?.();
    }
    return this.main;
  }

  private startLane(round: number | null): Lane {
    const worker = startWorker(this.options.entry ?? THREAD_URL, this.options.senderAuth);
    const lane: Lane = { worker, outbox: new Outbox(worker), heard: performance.now(), round };
    // the relay's own shutdown stops it; it never keeps a process alive by itself
    worker.unref();
    worker.on('message', (message: FromThread) => {
      // a replaced thread's last words count for nothing: what it held has failed, or waits to be asked again
      if (!this.current(lane)) return;
      lane.heard = performance.now();
      if (message.t !== 'batch') return this.onMessage(lane, message);
      for (const one of message.messages) this.onMessage(lane, one);
    });
    worker.on('error', (error) => void this.replace(lane, error.message));
    worker.on('exit', (code) => void this.replace(lane, `exit code ${code}`));
    return lane;
  }

  /**
   * A thread is gone or stuck. What it held fails if it is past its deadline, or if it was a round of one, asked
   * again alone of a thread of its own: that message has now stopped every thread it was in. The rest is asked again:
   * what the main thread held, together, as one round of a new isolation thread (new requests go on to a new main
   * thread); what a round's thread held, in two rounds of half each.
   */
  private async replace(lane: Lane, why: string): Promise<void> {
    if (!this.current(lane)) return;
    if (lane === this.main) this.main = null;
    else this.isolation = null;
    lane.outbox.clear();
    const now = performance.now();
    this.stops.push(now);
    while (this.stops[0]! <= now - 60_000) this.stops.shift();
    const storm = this.stops.length > (this.options.maxStopsPerMinute ?? MAX_STOPS_PER_MINUTE);
    const held = [...this.pending].filter(([, pending]) => pending.lane === lane);
    const failing = new Map<number, Error>();
    for (const [id, pending] of held) {
      if (this.stopped || !pending.request || pending.signal?.aborted) failing.set(id, new Error(`the filter thread stopped: ${why}`));
      else if (lane.round === 1) failing.set(id, new Error(`every filter thread this message was in stopped, the last with it alone: ${why}`));
      else if (storm) failing.set(id, new Error(`the filter thread stopped ${this.stops.length} times in a minute, so what it held is not asked again: ${why}`));
    }
    // a walk that fails takes along the check sent with it: nobody would wait for that check
    for (const [id, error] of failing) {
      const request = this.pending.get(id)?.request;
      if (request?.t === 'parse' && request.check && this.pending.get(request.check.id)?.lane === lane) failing.set(request.check.id, error);
    }
    // a check held with its walk is asked again with it
    const withWalk = new Set(held.flatMap(([id, pending]) => (!failing.has(id) && pending.request?.t === 'parse' && pending.request.check ? [pending.request.check.id] : [])));
    const again: number[] = [];
    for (const [id, pending] of held) {
      const error = failing.get(id);
      if (error) {
        this.pending.delete(id);
        pending.reject(error);
        continue;
      }
      pending.lane = null;
      if (!withWalk.has(id)) again.push(id);
    }
    if (lane.round === null) {
      if (again.length > 0) this.rounds.push(again);
      // an early SPF check under way may have been what stopped it: those clients' SPF goes with their messages
      for (const { ip, droppedAt } of this.earlySpf.values()) {
        if (droppedAt !== undefined && now - droppedAt > DROPPED_SPF_GRACE_MS) continue;
        // to the end: the newest last, so that the bound below drops the oldest
        this.noEarlySpf.delete(ip);
        this.noEarlySpf.set(ip, now + NO_EARLY_SPF_MS);
      }
      this.earlySpf.clear();
      for (const [ip, until] of this.noEarlySpf) if (until <= now || this.noEarlySpf.size > MAX_NO_EARLY_SPF) this.noEarlySpf.delete(ip);
    } else {
      // halves: a message that stops every thread it is in is alone after a few rounds, and the rest are answered
      const half = Math.ceil(again.length / 2);
      this.rounds.unshift(...[again.slice(0, half), again.slice(half)].filter((round) => round.length > 0));
      this.inIsolation = [];
    }
    this.options.onStopped?.(why);
    this.askAgain();
    await lane.worker.terminate();
  }

  /**
   * Starts the next round, once the one before it is answered, on a new isolation thread: nothing a message before
   * left in a thread (a look-up answered late) can then stop it. A walk goes with its check while both are wanted.
   * With no round left, the isolation thread goes.
   */
  private askAgain(): void {
    if (this.stopped || this.inIsolation.some((id) => this.pending.has(id))) return;
    this.inIsolation = [];
    const done = this.isolation;
    this.isolation = null;
    void done?.worker.terminate();
    while (this.rounds.length > 0) {
      const heads = this.rounds.shift()!.filter((id) => this.pending.get(id)?.lane === null);
      if (heads.length === 0) continue;
      const messages = heads.map((id) => {
        const request = this.pending.get(id)!.request!;
        if (request.t !== 'parse' || !request.check) return { id, ids: [id], request };
        if (this.pending.has(request.check.id)) return { id, ids: [id, request.check.id], request };
        return { id, ids: [id], request: { ...request, check: undefined } };
      });
      const ids = messages.flatMap((message) => message.ids);
      let lane: Lane;
      try {
        lane = this.isolation = this.startLane(heads.length);
      } catch (error) {
        for (const id of ids) this.settle({ t: 'done', id, error: { message: (error as Error).message, name: 'Error' } });
        continue;
      }
      this.hand(lane, ids);
      this.inIsolation = ids;
      for (const { id, request } of messages) this.send(lane, request, this.unsendable(id));
      return;
    }
  }

  /** Sends to `lane` with the rest of this turn's messages; nothing when that thread has been replaced. */
  private send(lane: Lane, message: ToThreadOne, onFailure?: (error: Error) => void): void {
    if (this.current(lane)) lane.outbox.send(message, onFailure);
  }

  private onMessage(lane: Lane, message: FromThreadOne): void {
    if (message.t === 'dns') {
      const { rid } = message;
      const unsent = (error: Error) => this.send(lane, { t: 'dns', rid, error: { message: `the answer could not be passed on: ${error.message}` } });
      this.options.lookup(message.name, message.type).then(
        (value) => this.send(lane, { t: 'dns', rid, answer: value }, unsent),
        (error: unknown) => this.send(lane, { t: 'dns', rid, error: { message: error instanceof Error ? error.message : String(error), code: (error as { code?: string } | null)?.code } }, unsent),
      );
      return;
    }
    this.settle(message);
  }

  /** A request's answer: its promise settles. */
  private settle(message: Extract<FromThreadOne, { t: 'done' }>): void {
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.forget(message.id);
    if (message.error) waiting.reject(Object.assign(new Error(message.error.message), { name: message.error.name, code: message.error.code }));
    else waiting.resolve(message.value);
  }

  /** Request `id` is answered or no longer wanted: once its round's all are, the next round starts. */
  private forget(id: number): void {
    this.pending.delete(id);
    if (this.inIsolation.includes(id)) this.askAgain();
  }

  private failAll(error: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const { reject } of waiting) reject(error);
  }
}

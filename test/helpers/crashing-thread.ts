// The filter thread (filter-thread-entry.ts) with one fault put in: a request whose message holds CRASH_MARKER, or a
// DNS answer that does, makes it throw where nothing catches it, as a bug that some input (a message, a sender's TXT
// record) sets off would (test/unit/filters/filter-thread.test.ts).
import { parentPort } from 'node:worker_threads';
import '../../src-relay/filters/filter-thread-entry.ts';
import { CRASH_MARKER } from './crash-marker.ts';

type Request = { t: string; content?: Uint8Array | null; message?: { content?: Uint8Array | null }; check?: { message?: { content?: Uint8Array | null } }; answer?: unknown; messages?: Request[] };
const crashes = (request: Request): boolean =>
  [request.content, request.message?.content, request.check?.message?.content].some((bytes) => bytes && Buffer.from(bytes).includes(CRASH_MARKER)) ||
  (request.t === 'dns' && JSON.stringify(request.answer ?? '').includes(CRASH_MARKER)) ||
  (request.messages ?? []).some(crashes);

// after the thread's own listener: it has the request, as a thread that crashes while working on it has
parentPort!.on('message', (request: Request) => {
  if (crashes(request)) throw new Error('the filter thread crashed');
});

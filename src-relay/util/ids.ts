import { randomBytes } from 'node:crypto';

let lastMs = 0;
let sequence = 0;
/** Random bytes are drawn in blocks: one call per 1,000 ids instead of one each. */
let random = randomBytes(5000);
let randomOffset = 0;

/** A queue id: sortable by arrival (time, then a per-ms sequence) and unguessable (random tail). Upper-case base32-ish. */
export function newQueueId(now: number = Date.now()): string {
  if (now === lastMs) sequence++;
  else {
    lastMs = now;
    sequence = 0;
  }
  const time = now.toString(36).toUpperCase().padStart(9, '0');
  const seq = sequence.toString(36).toUpperCase().padStart(3, '0');
  if (randomOffset === random.length) {
    random = randomBytes(5000);
    randomOffset = 0;
  }
  const tail = random.toString('hex', randomOffset, (randomOffset += 5)).toUpperCase();
  return `${time}${seq}${tail}`;
}

/** Queue ids are exactly what newQueueId makes; anything else from a user or a file name is refused. */
export const QUEUE_ID_PATTERN = /^[0-9A-Z]{12}[0-9A-F]{10}$/;

/** A queue id as a person types it (any case, spaces around): the id, or null when it cannot be one. */
export function typedQueueId(text: string): string | null {
  const id = text.trim().toUpperCase();
  return QUEUE_ID_PATTERN.test(id) ? id : null;
}

/** Why a typed text is refused as a queue id, in words that say what one looks like. */
export function notAQueueId(text: string, listedBy = 'moat queue list'): string {
  return `not a queue id: ${JSON.stringify(text)} (a queue id is 22 letters and digits, as "${listedBy}" shows them)`;
}

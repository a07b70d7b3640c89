/** Text that makes the test filter thread (crashing-thread.ts) crash on the message holding it. */
export const CRASH_MARKER = 'this message crashes the filter thread';

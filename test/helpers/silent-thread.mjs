// A filter thread that never answers (test/unit/filters/filter-thread.test.ts): what a thread stuck in a loop looks like.
import { parentPort } from 'node:worker_threads';
parentPort.on('message', () => {});

import type { EngineChild, EngineCommand, Timers } from '../../../src-main/supervisor.ts';

/** A clock and timers the test moves by hand: restarts and backoff are checked without waiting. */
export class ManualClock {
  now = 1_000_000;
  private nextId = 1;
  private pending = new Map<number, { at: number; callback: () => void }>();

  readonly timers: Timers = {
    set: (callback, ms) => {
      const id = this.nextId++;
      this.pending.set(id, { at: this.now + ms, callback });
      return id;
    },
    clear: (handle) => {
      this.pending.delete(handle as number);
    },
  };

  readonly clock = () => this.now;

  /** The delays of the timers still pending, from now. */
  pendingDelays(): number[] {
    return [...this.pending.values()].map((timer) => timer.at - this.now).sort((a, b) => a - b);
  }

  /** Moves time forward, running each timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.pending.entries()].filter(([, timer]) => timer.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].callback();
    }
    this.now = end;
  }
}

/** The engine's utility process as the supervisor sees it; the test says when it is ready or dies. */
export class FakeEngine implements EngineChild {
  readonly commands: EngineCommand[] = [];
  killed = 0;
  private messageListener: (message: unknown) => void = () => {};
  private exitListener: (code: number) => void = () => {};

  postMessage(message: EngineCommand): void {
    this.commands.push(message);
  }
  kill(): void {
    this.killed++;
  }
  onMessage(listener: (message: unknown) => void): void {
    this.messageListener = listener;
  }
  onExit(listener: (code: number) => void): void {
    this.exitListener = listener;
  }
  ready(address = '127.0.0.1:40001'): void {
    this.messageListener({ type: 'ready', adminAddress: address });
  }
  send(message: unknown): void {
    this.messageListener(message);
  }
  exit(code: number): void {
    this.exitListener(code);
  }
}

/** A logger that keeps the action words, to assert what was logged. */
export function recordingLogger() {
  const lines: string[] = [];
  const push = (_fields: unknown, message: string) => void lines.push(message);
  return { lines, logger: { info: push, warn: push, error: push } };
}

// Messages between the SMTP thread and the filter thread go out together at the end of a turn of the event loop. A
// message that finds the other thread idle costs about 40 µs of CPU on this project's 2-core VM, most of it waking
// that thread; under the bench's load a turn of the SMTP thread has about three to send.

/** Several messages in one; the receiver takes them in order. */
export interface Batch<T> {
  t: 'batch';
  messages: T[];
}

export class Outbox<T> {
  private messages: T[] = [];
  private failures: (((error: Error) => void) | undefined)[] = [];

  constructor(private readonly port: { postMessage(message: T | Batch<T>): void }) {}

  /** Sends `message` with the others of this turn; `onFailure` when it cannot be sent (it cannot be cloned). */
  send(message: T, onFailure?: (error: Error) => void): void {
    if (this.messages.length === 0) setImmediate(() => this.flush());
    this.messages.push(message);
    this.failures.push(onFailure);
  }

  /** Drops what waits (its thread is gone). */
  clear(): void {
    this.messages = [];
    this.failures = [];
  }

  private flush(): void {
    const { messages, failures } = this;
    this.clear();
    if (messages.length === 0) return;
    try {
      this.port.postMessage(messages.length === 1 ? messages[0]! : { t: 'batch', messages });
    } catch {
      // one that cannot be cloned must not take the others along
      messages.forEach((message, index) => {
        try {
          this.port.postMessage(message);
        } catch (error) {
          failures[index]?.(error instanceof Error ? error : new Error(String(error)));
        }
      });
    }
  }
}

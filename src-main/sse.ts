/** One Server-Sent Event as the admin API sends it: `event: NAME` and `data: JSON`. */
export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

/** An event's data larger than this is a broken stream, not an event (the engine's events are a few hundred bytes). */
export const MAX_SSE_EVENT_CHARS = 1024 * 1024;

/**
 * Parses a text/event-stream incrementally (WHATWG HTML, "Interpreting an event stream"): lines ending in CR, LF
 * or CRLF, a blank line dispatches, `:` starts a comment, several `data:` lines join with LF.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private dataChars = 0;
  private id: string | null = null;
  private pendingCr = false;

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  push(chunk: string): void {
    let text = chunk;
    // a CR at the end of the last chunk may be the first half of a CRLF
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const char = this.buffer[i];
      if (char !== '\n' && char !== '\r') continue;
      this.line(this.buffer.slice(start, i));
      if (char === '\r') {
        if (i + 1 === this.buffer.length) this.pendingCr = true;
        else if (this.buffer[i + 1] === '\n') i++;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > MAX_SSE_EVENT_CHARS) throw new Error(`an event-stream line is longer than ${MAX_SSE_EVENT_CHARS} characters`);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') {
      this.dataChars += value.length + 1;
      if (this.dataChars > MAX_SSE_EVENT_CHARS) throw new Error(`an event is larger than ${MAX_SSE_EVENT_CHARS} characters`);
      this.data.push(value);
    } else if (field === 'id' && !value.includes('\0')) this.id = value;
  }

  private dispatch(): void {
    if (this.data.length > 0) this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
    this.event = '';
    this.data = [];
    this.dataChars = 0;
  }
}

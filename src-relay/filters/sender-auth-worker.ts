// Sender authentication as the pipeline and the mx listener see it, run in the filter thread (filter-thread.ts): the
// thread holds a SenderAuthFilter with the same options, and its early SPF checks by key.
import type { FilterThread, ThreadMessage } from './filter-thread.ts';
import type { EarlySpf } from './sender-auth.ts';
import type { Filter, FilterResult, MessageContext } from './types.ts';

/** An early SPF check running in the thread, known here by its key. */
interface ThreadSpf extends EarlySpf {
  key: number;
  /** Handed to a check, which ends it in the thread: dropping it then needs no message. */
  taken: boolean;
}

export class SenderAuthWorker implements Filter {
  readonly name = 'sender-auth';
  // as SenderAuthFilter: a DMARC reject protects the From domain, an allow-listed sender does not skip it
  readonly role = 'policy' as const;
  readonly stage = 0;

  constructor(private readonly thread: FilterThread) {}

  check(message: MessageContext, signal: AbortSignal): Promise<FilterResult> {
    // sent with the MIME walk (`threadMessage`), it may have its answer already
    if (message.senderCheck) return message.senderCheck.wait(signal);
    return this.thread.checkSender(this.threadMessage(message), signal);
  }

  /** What the thread's check reads of a message; the early SPF check goes with it and is the check's from now on. */
  threadMessage(message: Omit<MessageContext, 'headers'>): ThreadMessage {
    const { queueId, clientIp, helo, sender, recipients, path, size, content, tls, authenticatedUser } = message;
    const early = message.earlySpf as ThreadSpf | undefined;
    if (early) early.taken = true;
    return { queueId, clientIp, helo, sender, recipients, path, size, content, tls, authenticatedUser, spfKey: early?.key };
  }

  startSpf(transaction: { clientIp: string; helo: string | null; sender: string }): EarlySpf {
    const { key, drop } = this.thread.startSpf(transaction);
    let dropped = false;
    const spf: ThreadSpf = {
      ...transaction,
      key,
      taken: false,
      abort: () => {
        if (!dropped && !spf.taken) drop();
        dropped = true;
      },
    };
    return spf;
  }
}

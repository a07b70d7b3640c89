import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import type { NotifiedAlertEvent } from '../events.ts';

/** A webhook that has not answered within this long has failed this attempt. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Waits before each attempt: at once, then twice more (a receiver restarting should not lose the alert). */
export const WEBHOOK_ATTEMPT_DELAYS_MS: readonly number[] = [0, 5_000, 30_000];

/** Text for a header: no CR/LF (header injection), printable ASCII only, one line. */
function headerText(text: string, max = 200): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function wrap(text: string, width = 76): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split(/\r?\n/)) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines;
}

/** One line for chat tools and subjects: "RAISED critical: The internal mail server is unreachable". */
export function alertSummary(event: NotifiedAlertEvent): string {
  const { alert } = event;
  return event.action === 'raised' ? `RAISED ${alert.severity}: ${alert.title}` : `CLEARED: ${alert.title}`;
}

/** The alert as an e-mail (RFC 5322, marked auto-generated per RFC 3834), ready to be queued. */
export function alertEmail(options: { event: NotifiedAlertEvent; hostname: string; to: readonly string[]; now: number }): string {
  const { event, hostname, to, now } = options;
  const { alert } = event;
  const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const body =
    event.action === 'raised'
      ? [
          `Moat on ${hostname} raised an alert (${alert.severity}) at ${when(alert.raisedAt)}:`,
          '',
          ...wrap(alert.title),
          '',
          ...wrap(alert.message),
          '',
          ...wrap(`What to do: ${alert.hint}`),
          '',
          `You will get another message when it clears (rule: ${alert.rule}).`,
        ]
      : [
          `Moat on ${hostname} cleared an alert at ${when(alert.clearedAt ?? now)}:`,
          '',
          ...wrap(alert.title),
          '',
          ...wrap(alert.clearMessage ?? ''),
          '',
          `It was raised at ${when(alert.raisedAt)}: ${alert.message}`.slice(0, 2000),
        ];
  // only ASCII in the body: the internal server need not support 8BITMIME
  const text = body.map((line) => line.replace(/[^\x20-\x7e]/g, '?')).join('\r\n');
  const headers = [
    `From: Moat on ${headerText(hostname, 100)} <MAILER-DAEMON@${headerText(hostname, 100)}>`,
    `To: ${to.join(', ')}`,
    `Subject: [Moat ${headerText(hostname, 60)}] ${headerText(alertSummary(event))}`,
    `Date: ${new Date(now).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <alert.${alert.id}.${event.action}.${randomBytes(6).toString('hex')}@${headerText(hostname, 100)}>`,
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
  ];
  return `${headers.join('\r\n')}\r\n\r\n${text}\r\n`;
}

/** What a webhook receives: the alert, the relay's name, and `text` so chat tools' incoming webhooks show a line too. */
export function webhookPayload(event: NotifiedAlertEvent, hostname: string) {
  return {
    source: 'moat',
    hostname,
    action: event.action,
    text: `[Moat ${hostname}] ${alertSummary(event)} - ${event.action === 'raised' ? event.alert.message : (event.alert.clearMessage ?? '')}`,
    alert: event.alert,
  };
}

/** POSTs JSON with retries; resolves true once a 2xx came back, false when every attempt failed (each one logged). */
export async function postWebhook(
  url: string,
  payload: unknown,
  options: { logger: Logger; delaysMs?: readonly number[]; timeoutMs?: number; signal?: AbortSignal },
): Promise<boolean> {
  const delays = options.delaysMs ?? WEBHOOK_ATTEMPT_DELAYS_MS;
  // webhook URLs often carry a secret token in their path: only the origin is logged
  const where = new URL(url).origin;
  for (let attempt = 0; attempt < delays.length; attempt++) {
    if (delays[attempt]! > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delays[attempt]);
        timer.unref();
        options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
    if (options.signal?.aborted) return false;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'moat-alerts' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(options.timeoutMs ?? WEBHOOK_TIMEOUT_MS),
        redirect: 'error',
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return true;
      options.logger.warn({ url: where, status: response.status, attempt: attempt + 1 }, 'WEBHOOK_FAILED');
    } catch (error) {
      options.logger.warn({ url: where, error: (error as Error).message, attempt: attempt + 1 }, 'WEBHOOK_FAILED');
    }
  }
  return false;
}

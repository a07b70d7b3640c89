import type { Queue } from './queue.ts';
import { formatDecision, parseDecision } from '../filters/policy.ts';
import type { MessageRow } from '../store/queue-store.ts';
import { decodeHeaderText, senderName } from '../util/header-text.ts';
import { terminalSafe } from '../util/terminal-text.ts';

/** "3 h 12 min", "45 s": ages as an admin reads them. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** `"Jürgen Weiß" <j@example.org>`, `"Moat" <>`, or just `<address>` when the message names nobody. */
function senderLabel(row: Pick<MessageRow, 'sender' | 'from_name' | 'client_ip' | 'kind'>): string {
  const name = senderName({ fromName: row.from_name, sender: row.sender, clientIp: row.client_ip, kind: row.kind });
  return name ? `"${name}" <${row.sender}>` : `<${row.sender}>`;
}

const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** `moat queue list`: one line a message, oldest first, with why it is still here. */
export function formatQueueList(queue: Queue, now: number): string {
  const rows = queue.store.list();
  const summary = queue.store.summary();
  const lines = [
    `${summary.size} message(s) queued${summary.oldest ? `, oldest ${formatAge(now - summary.oldest)}` : ''}` +
      `${summary.held ? `, ${summary.held} held` : ''}${queue.isQueueHeld() ? ' — WHOLE QUEUE HELD' : ''}`,
  ];
  for (const row of rows) {
    // the admin page's words (Queue screen: Waiting, Retrying, Held)
    const state = row.held ? 'held' : row.last_reply ? 'retrying' : 'waiting';
    lines.push(
      `${row.id}  ${formatAge(now - row.received_at).padStart(10)}  ${String(row.size).padStart(9)} B  ${state.padEnd(8)}  ` +
        `${senderLabel(row)} -> ${row.recipients}  "${decodeHeaderText(row.subject) ?? ''}"${row.last_reply ? `  [${row.last_reply}]` : ''}`,
    );
  }
  return lines.map((line) => terminalSafe(line)).join('\n') + '\n';
}

/** `moat queue show ID`: the message, each recipient's state, and its whole history. */
export function formatMessageDetail(queue: Queue, id: string): string | null {
  const message = queue.store.message(id);
  if (!message) return null;
  const lines = [
    `id:          ${message.id}${message.kind === 'dsn' ? ' (delivery status notification)' : ''}`,
    `status:      ${message.status}${message.held ? ' (held)' : ''}`,
    `received:    ${time(message.received_at)} from ${message.client_ip ?? 'local'}${message.helo ? ` (HELO ${message.helo})` : ''}`,
    `sender:      ${senderLabel(message)}`,
    `size:        ${message.size} bytes`,
    `message-id:  ${message.header_message_id ?? '-'}`,
    `subject:     ${decodeHeaderText(message.subject) ?? '-'}`,
    ...formatDecision(parseDecision(message.decision)),
    'recipients:',
  ];
  for (const recipient of queue.store.recipients(id)) {
    const next = recipient.status === 'pending' ? `, next attempt ${time(recipient.next_attempt_at)}` : '';
    lines.push(`  <${recipient.address}> ${recipient.status} via ${recipient.route}, ${recipient.attempts} attempt(s)${next}`);
    if (recipient.last_reply) lines.push(`      last reply: ${recipient.last_reply}`);
  }
  lines.push('history:');
  lines.push(`  ${time(message.received_at)}  ${'RECEIVED'.padEnd(12)} from ${message.client_ip ?? 'Moat itself'}, ${message.size} bytes`);
  for (const entry of queue.store.history(id)) {
    lines.push(`  ${time(entry.at)}  ${entry.action.padEnd(12)} ${entry.recipient ? `<${entry.recipient}> ` : ''}${entry.detail ?? ''}`.trimEnd());
  }
  // what senders, remote servers and the filters' reasons wrote reaches a terminal: no escape sequences
  return lines.map((line) => terminalSafe(line)).join('\n') + '\n';
}

// The quarantine digest: each internal recipient with newly quarantined mail gets one message listing it (sender,
// subject, when, why; never a body), with a signed link per message to the user page when that page is on.
import { randomBytes } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Queue } from '../queue/queue.ts';
import type { MessageRow } from '../store/queue-store.ts';
import { STATE_KEYS } from '../store/state-store.ts';
import { parseDecision } from '../filters/policy.ts';
import { heldBecauseText } from '../queue/history-text.ts';
import { decodeHeaderText, displayText, nameWithAddress, senderName } from '../util/header-text.ts';
import { splitAddress } from '../util/address.ts';
import { UserLinks } from './user-links.ts';

/** Messages listed in one digest: a list a person reads through in a minute; the rest wait for the next digest. */
export const MAX_DIGEST_MESSAGES = 100;
/**
 * Digests written by one run: a flood to thousands of made-up addresses (no recipient check) must not put thousands
 * of messages into the queue at once; recipients past it get theirs on the next run, none of their mail marked listed.
 */
export const MAX_DIGESTS_PER_RUN = 1000;
/** How often the engine asks whether the day's digest is due (its time is given to the minute). */
export const DIGEST_CHECK_MS = 60_000;

const DAY_MS = 24 * 3600 * 1000;
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

type UserPage = Config['quarantine']['userPage'];

/** One held message as a digest lists it. */
export interface DigestEntry {
  id: string;
  receivedAt: number;
  /** "Jürgen Weiß <juergen@sender.test>", or the address alone; "(no sender)" for a null sender. */
  from: string;
  subject: string | null;
  /** Why it was held, in words (queue/history-text.ts heldBecauseText). */
  why: string;
  /** The user page's link for this recipient and message; null when the page is off. */
  link: string | null;
}

/** Where the digest's links start (`userPage.url`, else http://LISTEN), no trailing slash; null while the page is off (no listen). */
export function userPageBase(page: Pick<UserPage, 'listen' | 'url'>): string | null {
  if (!page.listen) return null;
  return (page.url ?? `http://${page.listen}`).replace(/\/+$/, '');
}

/** A message's link on the user page: the page owns the route shape, `/q/<token>`. */
export function userPageLink(base: string, token: string): string {
  return `${base}/q/${token}`;
}

/** "today at 09:05", "yesterday at 17:40", "Monday 3 June at 08:00" (local time; the year when it is not this one's). */
export function dateInWords(at: number, now: number): string {
  const date = new Date(at);
  const clock = `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
  const midnight = new Date(now);
  midnight.setHours(0, 0, 0, 0);
  if (at >= midnight.getTime() && localDay(at) === localDay(now)) return `today at ${clock}`;
  const dayBefore = new Date(midnight.getFullYear(), midnight.getMonth(), midnight.getDate() - 1).getTime();
  if (at >= dayBefore && at < midnight.getTime()) return `yesterday at ${clock}`;
  const year = date.getFullYear() === new Date(now).getFullYear() ? '' : ` ${date.getFullYear()}`;
  return `${WEEKDAYS[date.getDay()]} ${date.getDate()} ${MONTHS[date.getMonth()]}${year} at ${clock}`;
}

/** The relay's time zone as the reader knows it ("CET", "UTC", "GMT+2"). */
function zoneName(at: number): string {
  return new Intl.DateTimeFormat('en-GB', { timeZoneName: 'short' }).formatToParts(at).find((part) => part.type === 'timeZoneName')?.value ?? 'local time';
}

/** 'YYYY-MM-DD' of `at` in local time. */
export function localDay(at: number): string {
  const date = new Date(at);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
}

/** A quarantined message row as a digest entry: decoded, in words, no body; `link` from the caller. */
export function digestEntry(row: MessageRow, link: string | null): DigestEntry {
  const name = senderName({ fromName: row.from_name, sender: row.sender, clientIp: row.client_ip, kind: row.kind });
  const address = row.sender ? displayText(row.sender) : '';
  // "Name <from address>" as stored (fromDisplayName, whose names hold no "<"): the From line names another address
  // than the envelope's; the one a mail program shows leads, as on the admin page and the users' page, and the
  // envelope's follows. Read before any decoding: a name encoded twice would decode into a "<" of its own.
  const stored = row.kind === 'dsn' ? null : row.from_name;
  const parts = stored && address && (stored.match(/</g) ?? []).length === 1 ? /^(.*) <([^<>]*)>$/.exec(stored) : null;
  return {
    id: row.id,
    receivedAt: row.received_at,
    from: parts ? `${nameWithAddress(parts[1]!.trim().replace(/^"(.*)"$/, '$1') || null, parts[2]!)}, sent by ${address}` : address ? nameWithAddress(name, address) : (name ?? '(no sender)'),
    subject: decodeHeaderText(row.subject),
    why: heldBecauseText(parseDecision(row.decision)),
    link,
  };
}

export interface DigestMailOptions {
  hostname: string;
  to: string;
  entries: readonly DigestEntry[];
  /** How many more are held for this recipient and not listed (past MAX_DIGEST_MESSAGES). */
  more: number;
  now: number;
  /** When the links stop working (epoch ms); null when there are no links. */
  linksExpireAt: number | null;
  releaseMode: UserPage['releaseMode'];
  retentionDays: number;
}

/** "3 messages held for you by the mail filter". */
export function digestSubject(count: number): string {
  return `${count} message${count === 1 ? '' : 's'} held for you by the mail filter`;
}

/** The digest's words around its list: what it is and how to act (three lines), then what comes after the list. */
function digestFrame(options: DigestMailOptions): { intro: string[]; closing: string[] } {
  const { entries, more, now, linksExpireAt, releaseMode, retentionDays, to } = options;
  const total = entries.length + more;
  // a message that may be dangerous (an attachment of a blocked type) can only be asked for, in either mode
  const action = releaseMode === 'approval' ? 'look at it safely or ask for it' : 'look at it safely and have it delivered (or, for one that may be dangerous, ask for it)';
  const intro = [
    `The mail filter held ${total} message${total === 1 ? '' : 's'} addressed to you (${displayText(to)}) that ${total === 1 ? 'is' : 'are'} not in your mailbox.`,
    linksExpireAt !== null
      ? `Each has a link to ${action}; the links work until ${dateInWords(linksExpireAt, now)} and only for you.`
      : 'If you expect one of them, ask your mail administrator to release it (tell them the sender and the subject).',
    `Held mail is deleted after ${retentionDays} days.`,
  ];
  const closing = [
    ...(more > 0 ? [`${more} more held message${more === 1 ? ' is' : 's are'} not listed here; ${more === 1 ? 'it comes' : 'they come'} in the next list.`] : []),
    // the relay's clock, which may not be the reader's (a DMZ box often runs on UTC)
    `Times are the mail relay's (${zoneName(now)}).`,
    'Do not forward this message: its links let whoever has them act on your held mail.',
  ];
  return { intro, closing };
}

/** The digest's plain text: the list, a link per message when the page is on, else how to get one released. */
export function digestText(options: DigestMailOptions): string {
  const { intro, closing } = digestFrame(options);
  const lines = [...intro, ''];
  options.entries.forEach((entry, index) => {
    lines.push(`${index + 1}. From: ${entry.from}`);
    lines.push(`   Subject: ${entry.subject ?? '(no subject)'}`);
    lines.push(`   Arrived: ${dateInWords(entry.receivedAt, options.now)}`);
    lines.push(`   Why: ${entry.why}`);
    if (entry.link) lines.push(`   Open: ${entry.link}`);
    lines.push('');
  });
  lines.push(closing.join('\n\n'));
  return lines.join('\n');
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/** The same list as simple HTML: no styles from elsewhere, no images, no scripts; links never send a referrer. */
export function digestHtml(options: DigestMailOptions): string {
  const { intro, closing } = digestFrame(options);
  const items = options.entries
    .map(
      (entry) =>
        `<li><b>${escapeHtml(entry.subject ?? '(no subject)')}</b><br>From: ${escapeHtml(entry.from)}<br>Arrived: ${escapeHtml(dateInWords(entry.receivedAt, options.now))}<br>` +
        `Why: ${escapeHtml(entry.why)}${entry.link ? `<br><a href="${escapeHtml(entry.link)}" rel="noreferrer noopener">Open this message</a>` : ''}</li>`,
    )
    .join('\n');
  const paragraphs = (lines: string[]) => lines.map((line) => `<p>${escapeHtml(line)}</p>`).join('\n');
  return (
    `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>${escapeHtml(digestSubject(options.entries.length + options.more))}</title></head><body>\n` +
    `${paragraphs(intro)}\n<ol>\n${items}\n</ol>\n${paragraphs(closing)}\n</body></html>\n`
  );
}

/** The whole digest e-mail (RFC 5322, MIME, 7-bit clean, auto-generated per RFC 3834), ready to be queued. */
export async function digestEmail(options: DigestMailOptions): Promise<string> {
  const hostname = displayText(options.hostname).replace(/[^\w.-]/g, '');
  const composer = new MailComposer({
    from: { name: `Mail filter on ${hostname}`, address: `postmaster@${hostname}` },
    to: options.to,
    subject: digestSubject(options.entries.length + options.more),
    date: new Date(options.now),
    messageId: `<digest.${options.now.toString(36)}.${randomBytes(6).toString('hex')}@${hostname}>`,
    text: digestText(options),
    html: digestHtml(options),
    headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' },
  });
  const raw = await composer.compile().build();
  return raw.toString('utf8');
}

/** Who would get a digest, and how many messages it would list (of how many held and not yet listed). */
export interface DigestPlan {
  recipient: string;
  held: number;
  listed: number;
}

export interface DigestSent extends DigestPlan {
  queueId: string;
}

export interface QuarantineDigestOptions {
  queue: Queue;
  config: Config;
  dataDir: string;
  hostname: string;
  logger: Logger;
  clock?: () => number;
}

/**
 * Writes and queues the digests, and remembers per recipient copy what was listed (recipients.digest_at). A digest is
 * queued (durable) before its messages are marked: a crash in between lists them again next time, never not at all.
 */
export class QuarantineDigest {
  private readonly options: QuarantineDigestOptions;
  private readonly clock: () => number;
  private links: Promise<UserLinks> | null = null;
  private running: Promise<DigestSent[]> | null = null;

  constructor(options: QuarantineDigestOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
  }

  /** What a run would send now (nothing is changed); `to` narrows it to one recipient. */
  plan(to?: string): DigestPlan[] {
    return this.options.queue.store
      .digestRecipients({ address: to, limit: MAX_DIGESTS_PER_RUN })
      .map((row) => ({ recipient: row.address, held: row.count, listed: Math.min(row.count, MAX_DIGEST_MESSAGES) }));
  }

  /** Sends the digests due now (`to`: only that recipient's); concurrent calls share one run. */
  send(to?: string): Promise<DigestSent[]> {
    const run = (this.running ?? Promise.resolve([])).catch(() => []).then(() => this.run(to));
    const tracked = run.finally(() => {
      if (this.running === tracked) this.running = null;
    });
    this.running = tracked;
    return tracked;
  }

  /** The scheduled digest is due: it is on, today is one of its weekdays, its time has come, and it has not run today. */
  isDue(now = this.clock()): boolean {
    const { enabled, time, weekdays } = this.options.config.quarantine.digest;
    if (!enabled) return false;
    const date = new Date(now);
    if (!weekdays.includes(date.getDay())) return false;
    const [hours, minutes] = time.split(':').map(Number) as [number, number];
    if (date.getHours() * 60 + date.getMinutes() < hours * 60 + minutes) return false;
    return this.options.queue.store.getState(STATE_KEYS.digestLastDay) !== localDay(now);
  }

  /**
   * What the engine's timer calls (at start and every DIGEST_CHECK_MS): runs the day's digest when due. A relay that
   * was down at the digest's time sends it when it starts later that day; the day is recorded only once every digest
   * is queued, so a failed run is tried again at the next check.
   */
  async tick(): Promise<DigestSent[] | null> {
    const now = this.clock();
    if (!this.isDue(now)) return null;
    try {
      const sent = await this.send();
      this.options.queue.store.setState(STATE_KEYS.digestLastDay, localDay(now));
      return sent;
    } catch (error) {
      this.options.logger.error({ error: (error as Error).message }, 'DIGEST_FAILED');
      return null;
    }
  }

  /** Waits for a run in progress (the engine stops after it, so the database stays open for it). */
  async idle(): Promise<void> {
    await this.running?.catch(() => {});
  }

  private userLinks(): Promise<UserLinks> {
    this.links ??= UserLinks.open(this.options.dataDir).catch((error: Error) => {
      this.links = null;
      throw error;
    });
    return this.links;
  }

  private async run(to?: string): Promise<DigestSent[]> {
    const { queue, config, hostname, logger } = this.options;
    const page = config.quarantine.userPage;
    const base = userPageBase(page);
    const links = base ? await this.userLinks() : null;
    const sent: DigestSent[] = [];
    for (const plan of this.plan(to)) {
      const now = this.clock();
      const expiresAt = now + page.linkDays * DAY_MS;
      const rows = queue.store.digestMessages(plan.recipient, MAX_DIGEST_MESSAGES);
      if (rows.length === 0) continue;
      const entries = rows.map((row) =>
        digestEntry(row, base && links ? userPageLink(base, links.sign({ recipient: plan.recipient, messageId: row.id, expiresAt })) : null),
      );
      const raw = await digestEmail({
        hostname,
        to: plan.recipient,
        entries,
        more: Math.max(0, plan.held - entries.length),
        now,
        linksExpireAt: base ? expiresAt : null,
        releaseMode: page.releaseMode,
        retentionDays: config.quarantine.retentionDays,
      });
      // a null envelope sender, as for alerts: a digest refused by the internal server bounces to no one
      const queueId = await queue.enqueueGenerated(raw, '', [plan.recipient], 'mail');
      queue.store.markDigested(
        rows.map((row) => ({ id: row.id, address: plan.recipient })),
        now,
      );
      logger.info({ id: queueId, rcpt: plan.recipient, listed: entries.length, held: plan.held }, 'DIGEST_QUEUED');
      sent.push({ ...plan, listed: entries.length, queueId });
    }
    return sent;
  }
}

/** Whether `address` is one of our own recipients (the route Queue.routeFor gives it), so it may be sent a digest. */
export function isInternalRecipient(queue: Queue, address: string): boolean {
  return splitAddress(address) !== null && queue.routeFor(address) === 'internal';
}

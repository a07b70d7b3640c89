import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Decision } from '../filters/policy.ts';
import { AdminServer, STRICT_HEADERS } from '../http/server.ts';
import { clientKey } from '../util/networks.ts';
import { Router, sendText, type RequestContext } from '../http/router.ts';
import { MAX_TOKEN_CHARS, type LinkClaims, type UserLinks } from './user-links.ts';
import type { Quarantine, QuarantinedMessage, RecipientActionResult } from './quarantine.ts';
import { PreviewUnreadable, type MessagePreview } from './previews.ts';
import { safePreview, safeText } from './safe-preview.ts';
import { mailboxAddresses } from '../filters/from-addresses.ts';
import { domainSet, inDomains, normalizeDomain, splitAddress } from '../util/address.ts';
import { displayText, fromDisplayName, nameWithAddress } from '../util/header-text.ts';
import { SenderLists } from '../filters/sender-lists.ts';

/** Requests one client address may make a minute: plenty for a person clicking through a digest, little for a guesser. */
export const USER_PAGE_REQUESTS_PER_MINUTE = 30;
const RATE_WINDOW_MS = 60_000;
/**
 * Clients whose counts are kept at once. When full, the count made longest ago gives way: refusing newcomers instead
 * would let anyone with 10,000 addresses lock every user out, and the limit only slows work (a token cannot be guessed).
 */
export const MAX_RATE_CLIENTS = 10_000;
/** A button's form sends nothing of its own; a body is read up to this many bytes, a larger one is refused. */
export const MAX_FORM_BYTES = 1024;
/** Longest path served: `/q/` + a token + `/` + an action; a longer one is refused unread. */
const MAX_PATH_CHARS = MAX_TOKEN_CHARS + 32;
/** Preview text shown on the page (the preview itself is cut at 8 KiB). */
const PAGE_TEXT_CHARS = 8 * 1024;

/** The page's only style sheet, inline; the policy allows exactly this one by its hash. */
const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1f24;background:#fff}
h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f5f7;border:1px solid #d0d4da;padding:.75rem;max-height:24rem;overflow:auto}
.why{background:#fff5e0;border-left:4px solid #b76e00;padding:.5rem .75rem}.done{background:#e6f4ea;border-left:4px solid #1e7b34;padding:.5rem .75rem}
.refused{background:#fdecea;border-left:4px solid #b3261e;padding:.5rem .75rem}.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}
form{margin:0}button{font:inherit;padding:.5rem 1rem;border-radius:4px;border:1px solid #3b4a5a;background:#fff;cursor:pointer}
button.primary{background:#1f5fae;border-color:#1f5fae;color:#fff}button:focus-visible{outline:3px solid #1b1f24;outline-offset:2px}
.note{color:#4a5461;font-size:.9rem}.entries{padding-left:1.2rem}.entries li{margin:.25rem 0}form.inline{display:inline;margin-left:.5rem}
form.inline button{padding:.1rem .6rem;font-size:.9rem}`;

/**
 * Stricter than the admin page's: nothing may load at all (no scripts, images, fonts, frames), the one inline style
 * sheet by hash, forms only to this page. No request to a third party can carry a token away.
 */
export const USER_PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;
export const USER_PAGE_HEADERS: Readonly<Record<string, string>> = { 'content-security-policy': USER_PAGE_CSP, ...STRICT_HEADERS };

/** The buttons' actions, as the last part of their form's path. */
const ACTIONS = ['release', 'request', 'allow', 'block', 'remove'] as const;
type PageAction = (typeof ACTIONS)[number];

/** Why a message is held, where only the admin may let it through: the user page offers "ask for release" instead. */
const ADMIN_ONLY_CAUSES: ReadonlySet<Decision['cause']> = new Set(['virus', 'policy', 'unavailable']);

/**
 * Counts requests per client (clientKey: an IPv4 address or an IPv6 /64) in fixed one-minute windows; counted
 * synchronously, before any other work.
 */
export class RateLimiter {
  /** In the order their windows started: the first is the oldest. */
  private readonly counts = new Map<string, { windowStart: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxClients: number,
  ) {}

  /** True when `client` may make one more request now (and counts it). */
  take(client: string, now: number): boolean {
    const key = clientKey(client);
    let entry = this.counts.get(key);
    if (entry && now - entry.windowStart >= this.windowMs) {
      this.counts.delete(key);
      entry = undefined;
    }
    if (!entry) {
      if (this.counts.size >= this.maxClients) this.counts.delete(this.counts.keys().next().value!);
      entry = { windowStart: now, count: 0 };
      this.counts.set(key, entry);
    }
    entry.count++;
    return entry.count <= this.limit;
  }
}

export interface UserPageOptions {
  config: Config['quarantine']['userPage'];
  /** The office's own domains: a sender in them cannot be always allowed (filters/pipeline.ts ownDomains). */
  ownDomains?: readonly string[];
  quarantine: Quarantine;
  links: UserLinks;
  logger: Logger;
  clock?: () => number;
  /** Called when it binds after its address could not be bound (AdminServer `onBoundAfterFailure`). */
  onBoundAfterFailure?: () => void;
  /** How often an address that could not be bound is tried again (AdminServer `retryBindMs`). */
  retryBindMs?: number;
  /** Requests per client address a minute (default USER_PAGE_REQUESTS_PER_MINUTE). */
  requestsPerMinute?: number;
}

/**
 * The end users' quarantine page: a signed link (`/q/<token>`, quarantine/user-links.ts) shows one held message to
 * one recipient, with buttons to release it to them (or ask the admin to), and to allow or block its sender for them.
 * Server-rendered HTML, no script, nothing loaded from anywhere. It lives and dies with the engine.
 */
export class UserPage {
  private readonly server: AdminServer;
  private readonly limiter: RateLimiter;
  private readonly clock: () => number;
  private readonly ownDomains: ReadonlySet<string>;

  constructor(private readonly options: UserPageOptions) {
    this.clock = options.clock ?? Date.now;
    this.ownDomains = domainSet(options.ownDomains ?? []);
    this.limiter = new RateLimiter(options.requestsPerMinute ?? USER_PAGE_REQUESTS_PER_MINUTE, RATE_WINDOW_MS, MAX_RATE_CLIENTS);
    this.server = new AdminServer({ listen: options.config.listen!, router: this.router(), logger: options.logger, headers: USER_PAGE_HEADERS, label: 'USER_PAGE', onBoundAfterFailure: options.onBoundAfterFailure, retryBindMs: options.retryBindMs });
  }

  /** Where it listens (port 0 resolved), null while it could not bind. */
  get address(): string | null {
    return this.server.address;
  }

  get error(): string | null {
    return this.server.error;
  }

  start(): Promise<void> {
    return this.server.start();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  private router(): Router {
    const router = new Router();
    router.use((context) => this.gate(context));
    router.get('/q/:token', (context) => this.show(context));
    router.get('/q/:token/:action', ({ res, params }) => {
      // a button's address opened as a page: show the message instead of acting
      res.writeHead(303, { location: messageHref(params.token!) });
      res.end();
    });
    router.add('POST', '/q/:token/:action', (context) => this.act(context));
    router.fallback(({ res }) => {
      page(res, 404, 'Page not found', `<p class="refused">There is nothing here. Open the link from your quarantine e-mail.</p>`);
      return true;
    });
    return router;
  }

  /** Before anything else: the rate limit (counted first), the method, the path's length. */
  private gate({ req, res }: RequestContext): boolean {
    const client = req.socket.remoteAddress ?? 'unknown';
    if (!this.limiter.take(client, this.clock())) {
      this.options.logger.info({ clientIp: client }, 'USER_PAGE_RATE_LIMITED');
      res.setHeader('retry-after', String(RATE_WINDOW_MS / 1000));
      page(res, 429, 'Too many requests', `<p class="refused">Too many requests from your computer. Please wait a minute and try again.</p>`);
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') {
      res.setHeader('allow', 'GET, HEAD, POST');
      page(res, 405, 'Not allowed', `<p class="refused">This page only shows messages and takes button presses.</p>`);
      return true;
    }
    if ((req.url ?? '').length > MAX_PATH_CHARS) {
      this.options.logger.info({ clientIp: client, chars: req.url?.length }, 'USER_PAGE_REFUSED');
      page(res, 414, 'This link does not work', INVALID_LINK);
      return true;
    }
    return false;
  }

  /** The token's claims, or null after answering with why the link does not work. */
  private claims(context: RequestContext): LinkClaims | null {
    const token = context.params.token ?? '';
    const clientIp = context.req.socket.remoteAddress ?? 'unknown';
    const check = token.length > MAX_TOKEN_CHARS ? ({ ok: false, why: 'malformed' } as const) : this.options.links.verify(token, this.clock());
    if (check.ok) return check.claims;
    this.options.logger.info({ clientIp, why: check.why }, 'USER_PAGE_REFUSED');
    if (check.why === 'expired') {
      page(
        context.res,
        410,
        'This link has expired',
        `<p class="refused">This link has expired: links work for ${this.options.config.linkDays} days. Use the link in a newer quarantine e-mail, or ask your mail administrator.</p>`,
      );
    } else if (check.why === 'other-key') page(context.res, 403, 'This link no longer works', OLD_KEY_LINK);
    else page(context.res, check.why === 'altered' ? 403 : 400, 'This link does not work', check.why === 'altered' ? UNVERIFIED_LINK : INVALID_LINK);
    return null;
  }

  private async show(context: RequestContext): Promise<void> {
    const claims = this.claims(context);
    if (!claims) return;
    const { quarantine } = this.options;
    const waiting = quarantine.waitingFor(claims.messageId, claims.recipient);
    // a preview that cannot be read in time still leaves the message's page and its buttons
    let unreadable = false;
    const preview: Pick<MessagePreview, 'headers' | 'text' | 'attachments'> | null = waiting
      ? await quarantine.preview(claims.messageId).catch((error: Error) => {
          if (!(error instanceof PreviewUnreadable)) return null;
          unreadable = true;
          return { headers: [], text: '', attachments: [] };
        })
      : null;
    if (!waiting || !preview) return gonePage(context.res, quarantine.fateOf(claims.messageId, claims.recipient));
    const safe = safePreview(preview);
    const message = waiting.message;
    const recipient = waiting.recipient.address;
    const adminOnly = ADMIN_ONLY_CAUSES.has(waiting.decision?.cause ?? null);
    const approval = this.options.config.releaseMode === 'approval' || adminOnly;
    const requested = message.releaseRequests.some((entry) => entry.toLowerCase() === recipient.toLowerCase());
    const lists = quarantine.personalListsOf(claims.messageId, claims.recipient) ?? [];
    // what the recipient's own lists already say of this sender: no button to do it again
    const senderEntry = message.sender ? SenderLists.normalize(message.sender) : null;
    const listed = lists.find((item) => item.entry === senderEntry)?.list ?? null;
    const date = safe.headers.find((header) => header.name.toLowerCase() === 'date')?.value;
    const from = safe.headers.find((header) => header.name.toLowerCase() === 'from')?.value;
    // read as mail programs read it: encoded words are display text, never an address
    const rawFrom = preview.headers.find((header) => header.name.toLowerCase() === 'from')?.value ?? '';
    const token = encodeURIComponent(context.params.token!);
    const button = (action: PageAction, label: string, primary = false) =>
      `<form method="post" action="${token}/${action}"><button type="submit"${primary ? ' class="primary"' : ''}>${escapeHtml(label)}</button></form>`;
    const release = requested
      ? `<p class="note">You have asked for this message to be released; your mail administrator has not decided yet. You will get an e-mail when they do.</p>`
      : approval
        ? button('request', 'Ask for release', true)
        : button('release', 'Release to me', true);
    // no "Always allow" for our own domains (forgers pose as them) or a sender allowed already: its words go too
    const canAllow = !inDomains(message.sender, this.ownDomains) && listed !== 'allow';
    const body = `
<p>This message for <strong>${escapeHtml(recipient)}</strong> was held back by the mail filter and has not reached your mailbox.</p>
<dl>
<dt>From</dt><dd>${escapeHtml(fromLine(rawFrom) ?? from ?? (message.sender || 'an automatic sender (no address)'))}</dd>
${from && message.sender && !fromIsSender(rawFrom, message.sender) ? `<dt>Sent by</dt><dd>${escapeHtml(message.sender)}</dd>` : ''}
<dt>Subject</dt><dd>${escapeHtml(safeText(message.subject ?? '(no subject)'))}</dd>
<dt>Date</dt><dd>${escapeHtml(date ?? new Date(message.receivedAt).toUTCString())}</dd>
</dl>
<p class="why"><strong>Why it was held:</strong> ${escapeHtml(whyInWords(waiting.decision, message))}</p>
<div class="actions">
${release}
${canAllow ? button('allow', 'Always allow this sender') : ''}
${listed === 'deny' ? '' : button('block', 'Block this sender')}
</div>
${listed ? `<p class="note">You have ${listed === 'deny' ? 'blocked' : 'always allowed'} this sender (your lists are below).</p>` : ''}
${
  requested
    ? ''
    : `<p class="note">${
        adminOnly
          ? 'Because this message may be dangerous, only your mail administrator can release it: ask for release and they will decide.'
          : approval
            ? 'Your mail administrator decides on each request; you will get an e-mail with the answer.'
            : `"Release to me" delivers it to your mailbox only.${canAllow ? ' "Always allow" stops mail from this sender being held as junk for you (viruses and dangerous attachments are still stopped).' : ''}${listed === 'deny' ? '' : ' "Block" keeps mail from this sender away from you.'}`
      }</p>`
}
${
  inDomains(message.sender, this.ownDomains)
    ? `<p class="note">This message says it is from your own organisation (<strong>${escapeHtml(message.sender)}</strong>). Such mail is checked every time, because forgers pose as it: it cannot be always allowed. "Block" applies to that address.</p>`
    : message.sender
      ? `<p class="note">"Always allow" and "Block" apply to the sending address <strong>${escapeHtml(message.sender)}</strong>.</p>`
      : ''
}
<h2>What the message says</h2>
<p class="note">Shown as plain text only: nothing in it is opened, loaded or run. Be careful with links or requests for passwords or payments.</p>
${unreadable ? '<p class="note"><strong>The text and the list of attachments could not be read just now</strong> (the mail system is very busy, or the message is built to be slow to read): reload this page in a minute, or ask your mail administrator.</p>' : `<pre>${escapeHtml(safe.text.slice(0, PAGE_TEXT_CHARS)) || '(no text)'}</pre>`}
${preview.text.length >= PAGE_TEXT_CHARS ? '<p class="note">Only the beginning of the text is shown.</p>' : ''}
${
  safe.attachments.length
    ? `<h2>Attachments</h2><ul>${safe.attachments.map((attachment) => `<li>${escapeHtml(attachment.filename ?? attachment.contentType)} (${formatSize(attachment.size)})</li>`).join('')}</ul><p class="note">Attachments cannot be opened here.</p>`
    : ''
}`;
    page(context.res, 200, 'A message held for you', body + personalListsSection(lists, token));
  }

  private async act(context: RequestContext): Promise<void> {
    const { req, res, params } = context;
    const clientIp = req.socket.remoteAddress ?? 'unknown';
    const refusal = foreignRequest(req);
    if (refusal) {
      this.options.logger.info({ clientIp, why: refusal }, 'USER_PAGE_REFUSED');
      return page(res, 403, 'Not allowed', `<p class="refused">This button press did not come from this page, so nothing was done. Open the link from your e-mail and try again.</p>`);
    }
    const form = await readSmallBody(req);
    if (!form) {
      this.options.logger.info({ clientIp, why: 'body too large' }, 'USER_PAGE_REFUSED');
      res.setHeader('connection', 'close');
      return page(res, 413, 'Not allowed', `<p class="refused">That request was too large, so nothing was done.</p>`);
    }
    const action = params.action as PageAction;
    if (!ACTIONS.includes(action)) return page(res, 404, 'Page not found', `<p class="refused">There is no such button. Nothing was done.</p>`);
    const claims = this.claims(context);
    if (!claims) return;
    const { quarantine } = this.options;
    const waiting = quarantine.waitingFor(claims.messageId, claims.recipient);
    if (!waiting) return gonePage(res);
    const how = 'user page';
    const adminOnly = ADMIN_ONLY_CAUSES.has(waiting.decision?.cause ?? null);
    if (action === 'remove') {
      const entry = form.get('entry') ?? '';
      const removed = quarantine.removePersonal(claims.messageId, claims.recipient, entry, how);
      this.options.logger.info({ id: claims.messageId, rcpt: waiting.recipient.address, action, result: removed, clientIp }, 'USER_PAGE_ACTION');
      if (removed === 'gone') return gonePage(res);
      const text = removed === 'removed' ? `Done: ${entry} is no longer on your lists.` : `${entry} was not on your lists; nothing changed.`;
      return page(res, 200, removed === 'removed' ? 'Sender removed' : 'Nothing to remove', `<p class="done" role="status">${escapeHtml(text)}</p><p><a href="${messageHref(params.token!)}">Back to the message</a></p>`);
    }
    if (action === 'allow' && inDomains(waiting.message.sender, this.ownDomains)) {
      return page(res, 409, 'Cannot always allow this sender', `<p class="refused" role="status">Nothing was added: mail that says it is from your own organisation is checked every time, because forgers pose as it. If you know this message is genuine, release it instead.</p><p><a href="${messageHref(params.token!)}">Back to the message</a></p>`);
    }
    let result: RecipientActionResult;
    if (action === 'release' && this.options.config.releaseMode === 'direct' && !adminOnly) {
      result = await quarantine.releaseTo(claims.messageId, claims.recipient, { by: waiting.recipient.address, how });
    } else if (action === 'release' || action === 'request') {
      result = quarantine.requestRelease(claims.messageId, claims.recipient, how);
    } else {
      result = quarantine.setPersonal(claims.messageId, claims.recipient, action === 'allow' ? 'allow' : 'deny', how);
    }
    this.options.logger.info({ id: claims.messageId, rcpt: waiting.recipient.address, action, result, clientIp }, 'USER_PAGE_ACTION');
    if (result === 'gone') return gonePage(res);
    const sender = waiting.message.sender;
    const words: Record<Exclude<RecipientActionResult, 'gone'>, { status: number; title: string; text: string }> = {
      released: { status: 200, title: 'Released to you', text: `Done: the message is on its way to your mailbox (${waiting.recipient.address}). It may take a minute to arrive.` },
      requested: { status: 200, title: 'Release requested', text: 'Done: your request was sent to your mail administrator. You will get an e-mail when they decide.' },
      'already-requested': { status: 200, title: 'Release requested', text: 'You have asked for this message already; your mail administrator has not decided yet.' },
      allowed: { status: 200, title: 'Sender allowed', text: `Done: mail from ${sender} will no longer be held as junk for you. Viruses and dangerous attachments are still stopped. This message itself is still held; go back to release it.` },
      blocked: { status: 200, title: 'Sender blocked', text: `Done: mail from ${sender} will no longer reach you.` },
      denied: { status: 200, title: 'Not released', text: 'Your mail administrator decided not to release this message.' },
      'list-full': { status: 409, title: 'Your list is full', text: 'Your list of allowed and blocked senders is full, so nothing was added. Ask your mail administrator to tidy it up.' },
      'no-sender': { status: 409, title: 'No sender to add', text: 'This message was sent by an automatic system without a sender address, so there is nothing to allow or block.' },
    };
    const answer = words[result];
    const ok = answer.status === 200;
    page(res, answer.status, answer.title, `<p class="${ok ? 'done' : 'refused'}" role="status">${escapeHtml(answer.text)}</p>${result === 'released' ? '' : `<p><a href="${messageHref(params.token!)}">Back to the message</a></p>`}`);
  }
}

/**
 * The message's page from an action's address (/q/TOKEN/ACTION), relative so that a page behind a proxy's path prefix
 * keeps working: the buttons' forms post to TOKEN/ACTION relative to /q/TOKEN.
 */
function messageHref(token: string): string {
  return `../${encodeURIComponent(token)}`;
}

/** The recipient's own allow and block lists, each entry with a button that takes it off. */
function personalListsSection(entries: readonly { list: 'allow' | 'deny'; entry: string }[], token: string): string {
  if (entries.length === 0) return '';
  const group = (list: 'allow' | 'deny', heading: string) => {
    const items = entries.filter((item) => item.list === list);
    if (items.length === 0) return '';
    const rows = items
      .map(
        (item) =>
          `<li>${escapeHtml(item.entry)} <form method="post" action="${token}/remove" class="inline"><input type="hidden" name="entry" value="${escapeHtml(item.entry)}"><button type="submit" aria-label="Remove ${escapeHtml(item.entry)}">Remove</button></form></li>`,
      )
      .join('');
    return `<h3>${heading}</h3><ul class="entries">${rows}</ul>`;
  };
  return `<h2>Your sender lists</h2><p class="note">These apply to mail for you only.</p>${group('allow', 'Always allowed')}${group('deny', 'Blocked')}`;
}

const INVALID_LINK = `<p class="refused">This link does not work: it is incomplete or has been changed. Copy the whole link from your quarantine e-mail, or ask your mail administrator.</p>`;
// a link signed by the key of another (or an earlier) installation: after a restore onto another box, or a new key
const OLD_KEY_LINK = `<p class="refused">This link is from an older quarantine e-mail and no longer works: the mail system was moved or renewed after that e-mail was sent. Use the links in your newest quarantine e-mail. If the message you are looking for is not in it, ask your mail administrator.</p>`;
// the signature does not match and the link does not say whose key made it: either reason may be the one
const UNVERIFIED_LINK = `<p class="refused">This link does not work. It may have been changed or cut short: copy the whole link from your quarantine e-mail. Or it is from an older quarantine e-mail, sent before the mail system was moved or renewed: then use the links in your newest quarantine e-mail. If neither helps, ask your mail administrator.</p>`;

/** What became of a message the link names, in words: released to them is good news, not a red refusal. */
function gonePage(res: ServerResponse, fate: 'released' | 'deleted' | 'expired' | null = null): void {
  if (fate === 'released') {
    page(res, 410, 'Released', `<p class="done" role="status">This message was released from quarantine and delivered to your mailbox (it may take a minute to arrive). There is nothing more to do here.</p>`);
    return;
  }
  const why = {
    deleted: 'your mail administrator deleted it.',
    expired: 'it was removed after its time in quarantine ran out.',
  };
  page(
    res,
    410,
    'No longer in quarantine',
    `<p class="refused">This message is no longer waiting in quarantine for you: ${fate ? why[fate] : 'it may have been released already, deleted by your mail administrator, or removed after its time in quarantine ran out.'}</p>`,
  );
}

/**
 * A button press must come from this page: a browser says where a form was sent from (Sec-Fetch-Site, Origin). A
 * page with Referrer-Policy no-referrer sends `Origin: null`, trusted only with Sec-Fetch-Site same-origin.
 */
export function foreignRequest(req: IncomingMessage): string | null {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `sec-fetch-site ${String(site)}`;
  const origin = req.headers.origin;
  if (origin === undefined) return null;
  if (origin === 'null') return site === 'same-origin' ? null : 'origin null';
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return 'origin unreadable';
  }
  return host.toLowerCase() === (req.headers.host ?? '').toLowerCase() ? null : 'foreign origin';
}

/** Reads a form's body; null when it is larger than MAX_FORM_BYTES (declared or sent). */
async function readSmallBody(req: IncomingMessage): Promise<URLSearchParams | null> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_FORM_BYTES) return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return null;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Why the filter held the message, for someone who is not a mail expert. */
export function whyInWords(decision: Decision | null, message: Pick<QuarantinedMessage, 'reason' | 'score'>): string {
  const detail = decision?.reason ?? message.reason ?? '';
  switch (decision?.cause) {
    case 'virus':
      return `It contains a virus or other harmful content (${detail}).`;
    case 'junk':
      return `The filter thinks it is probably junk mail (spam)${message.score !== null ? `, with a junk score of ${message.score}` : ''}.`;
    case 'policy':
      return `It breaks a mail rule set by your administrator, for example an attachment of a kind that is not allowed (${detail}).`;
    case 'sender':
      return 'The sender is on a list of blocked senders.';
    case 'unavailable':
      return 'It could not be checked completely, so it was held to be safe.';
    default:
      return detail ? `The mail filter held it (${detail}).` : 'The mail filter held it.';
  }
}

function page(res: ServerResponse, status: number, title: string, body: string): void {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>
`;
  sendText(res, status, 'text/html; charset=utf-8', html);
}

/** Text into HTML: the five characters that could start markup or end an attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function formatSize(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : bytes < 1024 * 1024 ? `${Math.round(bytes / 1024)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * The From line with its address(es) always whole, as mail programs read them (util/header-text.ts nameWithAddress).
 * Null when the field has no address that reads cleanly (the caller shows its text, and "Sent by").
 */
function fromLine(rawFrom: string): string | null {
  const { addresses, malformed } = mailboxAddresses(rawFrom);
  if (malformed || addresses.length === 0) return null;
  if (addresses.length > 1) return displayText(addresses.join(', '));
  return nameWithAddress(fromDisplayName(rawFrom), displayText(addresses[0]!));
}

/** The raw From field names the envelope sender as its one mailbox, as mail programs read it (a display name is not an address). */
function fromIsSender(rawFrom: string, sender: string): boolean {
  const { addresses, malformed } = mailboxAddresses(rawFrom);
  return !malformed && addresses.length === 1 && comparable(addresses[0]!) === comparable(sender);
}

/** An address in lower case with its domain as the relay normalizes domains (punycode): one domain however written. */
function comparable(address: string): string {
  const parts = splitAddress(address.toLowerCase());
  return parts ? `${parts.local}@${normalizeDomain(parts.domain) ?? parts.domain}` : address.toLowerCase();
}

import type { Decision } from '../filters/policy.ts';
import type { HistoryRow, MessageRow, RecipientRow } from '../store/queue-store.ts';
import type { Route } from '../events.ts';
import { formatAge } from './format.ts';

/** One event of a message's life as the admin reads it: what the history row says, in plain words. */
export interface HistoryEvent {
  at: number;
  action: string;
  recipient: string | null;
  text: string;
  /** The row's own words, as kept (the reply, the reason). */
  detail: string | null;
  /** What the next hop answered (or the connection error) on a deferral, bounce or expiry, as it came: the screens explain it. */
  reply: string | null;
}

/** What a history row is read with: the recipient's route (DELIVERED says where to) and the filters' decision. */
export interface HistoryTextContext {
  route?: Route | null;
  decision?: Pick<Decision, 'cause'> | null;
}

const VERDICT_WORDS: Record<Decision['action'], string> = {
  accept: 'passed',
  tag: 'passed with a junk tag',
  quarantine: 'kept in quarantine',
  tempfail: 'refused for now',
  reject: 'refused',
};

/**
 * One filter's own say, in the history and the admin page's decision table. A scoring filter (built-in rules, rspamd,
 * spamd) only adds points, which the decision weighs: its "accept" beside a quarantine read as "every filter accepted it".
 */
export function filterVerdictText(result: { verdict: string; score: number }): string {
  if (result.verdict === 'accept') return result.score === 0 ? 'no objection' : 'points only';
  return FILTER_VERDICT_WORDS[result.verdict] ?? result.verdict;
}

const FILTER_VERDICT_WORDS: Partial<Record<string, string>> = {
  tag: 'tag as junk',
  quarantine: 'quarantine',
  tempfail: 'refuse for now (4xx)',
  reject: 'refuse (5xx)',
};

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** The next hop's reply a deferral, a bounce by a server or an expiry carries ("connect ECONNREFUSED …"); null for other rows. */
export function replyOf(entry: Pick<HistoryRow, 'action' | 'detail'>): string | null {
  const detail = entry.detail ?? '';
  if (!detail) return null;
  switch (entry.action) {
    case 'DEFERRED':
      return /^(.*) \(retry in \d+ s\)$/s.exec(detail)?.[1] ?? detail;
    case 'EXPIRED':
      return /^(.*) \(gave up: in the queue longer than [\d.]+ h\)$/s.exec(detail)?.[1] ?? null;
    case 'BOUNCED':
      return detail.startsWith('returned to the sender by ') ? null : detail;
    default:
      return null;
  }
}

/** The words of one history row ("Deferred: 451 4.3.0 busy — next try in 5 min"). Pure: rows in, text out. */
export function historyText(entry: Pick<HistoryRow, 'action' | 'detail' | 'recipient'>, context: HistoryTextContext = {}): string {
  const detail = entry.detail ?? '';
  switch (entry.action) {
    case 'DELIVERED': {
      const host = /^to (.+)$/.exec(detail)?.[1];
      if (!host) return detail ? `Delivered: ${detail}` : 'Delivered';
      return context.route === 'internal' ? `Delivered to the internal server (${host})` : `Delivered to ${host}`;
    }
    case 'DEFERRED': {
      const match = /^(.*) \(retry in (\d+) s\)$/s.exec(detail);
      if (!match) return `Deferred: ${detail}`;
      return `Deferred: ${match[1]} — next try in ${formatAge(Number(match[2]) * 1000)}`;
    }
    case 'BOUNCED':
      // "returned to the sender by ..." is the admin's bounce; any other detail is a server's reply, kept as it came
      return `Bounced: ${detail.startsWith('returned to the sender by ') ? withActorWords(detail) : detail || 'returned to the sender'}`;
    case 'EXPIRED': {
      const delivery = /^(.*) \(gave up: in the queue longer than ([\d.]+) h\)$/s.exec(detail);
      if (delivery) return `Gave up after ${delivery[2]} h in the queue; last reply: ${delivery[1]}`;
      const quarantine = /^quarantine kept (\d+) days/.exec(detail);
      if (quarantine) return `Removed from quarantine after ${quarantine[1]} days`;
      return `Expired: ${detail}`;
    }
    case 'NO_REPLY': {
      // "the internal server; 2 of 3": who, and how many such attempts (since the last release) against the bound
      const match = /^(.*); (\d+) of (\d+)$/s.exec(detail);
      const server = match?.[1] ?? (detail || 'the server');
      const count = match ? ` (${match[2]} of ${match[3]} before Moat holds the message)` : '';
      return `No reply after the message data: ${server} ended the connection before answering, so it may have delivered the message; the next try may deliver it twice${count}`;
    }
    case 'DSN_NOT_SENT': {
      // "no bounce notice to ADDRESS: why" (queue/dsn-policy.ts); rows from before said only why (SPF failed)
      const notice = /^no (bounce|delay) notice to (.*?): (.*)$/s.exec(detail);
      if (notice) return `The sender was not told (no ${notice[1]} notice to ${notice[2]}): ${notice[3]}; a notice could go to someone who never sent the message`;
      return `No bounce notice sent: ${detail || 'the sender address was forged'}, so it would have gone to someone who never sent the message`;
    }
    case 'DELAY_WARNED': {
      const count = /\((\d+) recipients?\)/.exec(detail)?.[1];
      return `The sender was told the message is delayed${count ? ` (${count} recipient${count === '1' ? '' : 's'} still waiting)` : ''}`;
    }
    case 'QUARANTINED': {
      const match = /^(.*); score (-?[\d.]+)$/s.exec(detail);
      if (!match) return `Kept in quarantine: ${detail}`;
      const cause = context.decision?.cause;
      // with the decision at hand its reason is shown beside (the FILTERED event); without, say it here
      return cause ? `Kept in quarantine: score ${match[2]} (${cause})` : `Kept in quarantine: score ${match[2]} — ${match[1]}`;
    }
    case 'REFUSED':
      return `Refused: ${detail}`;
    case 'REJECTED':
      return `Refused after the content check: ${withoutRepeatedScore(detail)}`;
    case 'TEMPFAILED':
      return `Refused for now after the content check (the sender may try again): ${withoutRepeatedScore(detail)}`;
    case 'NORMALIZED':
      return `Repaired on arrival: ${detail}`;
    case 'SUBMITTED':
      return `Submitted by an office client, ${detail}`;
    case 'SIGNED': {
      const domains = /^DKIM signature for (.+)$/.exec(detail)?.[1];
      return domains ? `Signed with DKIM for ${domains}` : `Signed with DKIM: ${detail}`;
    }
    case 'DAMAGED':
      return `Set aside, not delivered: ${detail}`;
    case 'HELD':
    case 'RELEASED':
    case 'RETRY':
    case 'DELETED':
    case 'QUEUE_HELD':
    case 'QUEUE_RELEASED':
    case 'QUEUE_RETRY':
    case 'DOWNLOADED':
      // these rows are written in words already ("held by admin@10.0.0.5"); only who did it needs saying plainly
      return detail ? capitalize(withActorWords(detail)) : capitalize(entry.action.toLowerCase().replace('_', ' '));
    // the end users' quarantine page: written in words, starting with the recipient's address (left as written)
    case 'RELEASE_REQUESTED':
    case 'SENDER_ALLOWED':
    case 'SENDER_BLOCKED':
    case 'SENDER_UNLISTED':
      return detail || capitalize(entry.action.toLowerCase().replace('_', ' '));
    case 'RELEASE_DENIED':
      return detail ? capitalize(withActorWords(detail)) : 'Release denied';
    default:
      return detail ? `${entry.action}: ${detail}` : entry.action;
  }
}

/**
 * Who did an admin action, as a person reads it. Actors are written as the admin API and the CLI name them:
 * "admin@10.0.0.5" (a browser session from that address) stays as it is; "desktop" is the desktop app's own
 * connection; "cli:alice" is the command line run by the OS account alice ("cli" when the account had no name).
 */
export function actorText(actor: string): string {
  if (actor === 'desktop') return 'the desktop app';
  const cli = /^cli(?::(.+))?$/s.exec(actor);
  if (cli) return cli[1] ? `OS user ${cli[1]} on the command line` : 'the command line';
  return actor;
}

/** "held by cli:alice" -> "held by OS user alice on the command line": the first "by ACTOR" in words. */
function withActorWords(detail: string): string {
  return detail.replace(/\bby ([^\s;]+)/, (_match, actor: string) => `by ${actorText(actor)}`);
}

/** "550 5.7.1 junk score 20 (reject at 15); score 20" says the score twice: once is enough. */
function withoutRepeatedScore(detail: string): string {
  const match = /^(.*); score (-?[\d.]+)$/s.exec(detail);
  return match && match[1]!.includes(`score ${match[2]}`) ? match[1]! : detail;
}

/** The decision in one line: what the filters made of the message. */
export function decisionText(decision: Pick<Decision, 'action' | 'score' | 'cause' | 'reason'>): string {
  const cause = decision.cause && decision.action !== 'accept' ? ` (${decision.cause})` : '';
  return `Filters: ${VERDICT_WORDS[decision.action]}${cause}, score ${decision.score} — ${decision.reason}`;
}

/** Each filter's answer, one line each: the detail under the decision. */
export function decisionDetail(decision: Pick<Decision, 'results'>): string | null {
  if (decision.results.length === 0) return null;
  return decision.results
    .map((result) => {
      const score = result.score ? ` ${result.score > 0 ? '+' : ''}${result.score}` : '';
      const failed = result.failed ? ` (failed: ${result.failed})` : '';
      return `${result.filter}: ${filterVerdictText(result)}${score}${failed}${result.reasons.length ? ` — ${result.reasons.join('; ')}` : ''}`;
    })
    .join('\n');
}

/**
 * Everything that happened to a message, oldest first: its receipt and the filters' decision (kept on the message
 * row), then every history row (as the store gives them: by time) in words.
 */
export function messageHistory(
  message: Pick<MessageRow, 'received_at' | 'client_ip' | 'helo' | 'size' | 'kind'>,
  recipients: readonly Pick<RecipientRow, 'address' | 'route'>[],
  history: readonly Pick<HistoryRow, 'at' | 'action' | 'detail' | 'recipient'>[],
  decision: Decision | null,
): HistoryEvent[] {
  const routes = new Map(recipients.map((recipient) => [recipient.address, recipient.route]));
  const received =
    message.kind === 'dsn' && message.client_ip === null
      ? `Written by Moat: a delivery status notification, ${message.size} bytes`
      : `Received from ${message.client_ip ?? 'Moat itself'}${message.helo ? ` (HELO ${message.helo})` : ''}, ${message.size} bytes`;
  const at = arrivedAt(message, history);
  const events: HistoryEvent[] = [{ at, action: 'RECEIVED', recipient: null, text: received, detail: null, reply: null }];
  if (decision) events.push({ at, action: 'FILTERED', recipient: null, text: decisionText(decision), detail: decisionDetail(decision), reply: null });
  for (const entry of history) {
    const route = entry.recipient ? routes.get(entry.recipient) ?? null : null;
    const text = historyText(entry, { route, decision });
    // the row as written, beside the words, only where the words do not already say it ("Retry requested by …")
    const said = entry.detail && (text.toLowerCase().includes(entry.detail.toLowerCase()) || (entry.action === 'DELIVERED' && text.includes(`(${entry.detail.replace(/^to /, '')})`)));
    const detail = entry.detail && !said ? entry.detail : null;
    events.push({ at: entry.at, action: entry.action, recipient: entry.recipient, text, detail, reply: replyOf(entry) });
  }
  return events;
}

/**
 * When the message arrived. A release from quarantine before schema 11 restarted the queue lifetime by moving
 * received_at to the release (now lifetime_from does that); its history still starts at the arrival.
 */
export function arrivedAt(message: Pick<MessageRow, 'received_at'>, history: readonly Pick<HistoryRow, 'at'>[]): number {
  return history.length > 0 ? Math.min(message.received_at, history[0]!.at) : message.received_at;
}

/**
 * Why the filters held a message, in words for the person it was meant for (the quarantine digest): the kind of
 * problem first, then the deciding reason as the admin's screens show it, without the filter's name.
 */
export function heldBecauseText(decision: Pick<Decision, 'cause' | 'reason' | 'score'> | null): string {
  if (!decision) return 'the mail filter held it for a closer look';
  const detail = decision.reason.replace(/^[\w.-]+: /, '');
  switch (decision.cause) {
    case 'junk':
      return `it looks like junk mail (junk score ${decision.score})`;
    case 'virus':
      return `it may carry a virus (${detail})`;
    case 'policy':
      return `it breaks a rule of your mail filter (${detail})`;
    case 'sender':
      return 'its sender is on the block list';
    case 'unavailable':
      return 'the mail filter could not finish checking it';
    default:
      return `the mail filter held it (${detail})`;
  }
}

import { EventEmitter } from 'node:events';

// The payload types live here, with the bus at the bottom of the tree: the areas that emit them import them from
// here, so the bus never imports upward (docs/ARCHITECTURE.md).

/** Where a recipient is delivered: the internal server, or the outside world by MX. */
export type Route = 'internal' | 'outbound';

/** Whether a route (the internal server, or `mx:DOMAIN`) took mail on its last attempt (queue/scheduler.ts keeps it). */
export interface RouteState {
  route: string;
  /** `refusing`: it answers but put off the whole message for now (back-pressure, 421): it takes no mail (queue/route-state.ts). */
  state: 'up' | 'refusing' | 'down';
  since: number;
  /** The last delivery attempt on the route, which its state is as of: nobody looks again before the next one. */
  checkedAt: number;
  lastError: string | null;
  /**
   * Up, yet every recipient of its last messages (queue/scheduler.ts REFUSED_MESSAGES_SHOWN or more in a row, none delivered since) was
   * refused for good: a hop that does not take mail for our domains, or mail for addresses it does not know.
   */
  refusedRecipients?: { messages: number; since: number; lastError: string };
}

/**
 * A filter's verdict, and the content filters' action on a message (filters/types.ts: the filter contract; the
 * policy turns all verdicts into one action).
 */
export type Verdict = 'accept' | 'tag' | 'quarantine' | 'reject' | 'tempfail';

export type Severity = 'warning' | 'critical';

/** One alert as it is kept and shown: raised once, cleared once; while open, its words follow what is wrong now. */
export interface Alert {
  id: number;
  rule: string;
  severity: Severity;
  title: string;
  /** Plain words: what is wrong, with the numbers. */
  message: string;
  /** What the admin can do about it. */
  hint: string;
  raisedAt: number;
  clearedAt: number | null;
  /** Why it was cleared (e.g. "the queue is down to 3 messages"). */
  clearMessage: string | null;
}

/**
 * `updated`: an open alert's condition changed kind while it stayed bad (the internal server went from refusing mail
 * to unreachable): new message and hint, same alert. Only the screens follow it; no mail, webhook or notification.
 */
export type AlertEvent = NotifiedAlertEvent | { action: 'updated'; alert: Alert };
/** The events that mail, webhooks and the desktop notify. */
export interface NotifiedAlertEvent {
  action: 'raised' | 'cleared';
  alert: Alert;
}

/** Why a transaction or command was refused, as a metric label: a small fixed set. */
export type RefusalReason =
  | 'relay' | 'unknown-recipient' | 'bad-address' | 'size' | 'connection-limit' | 'too-many-errors' | 'local-error'
  // message content at the end of DATA: NUL bytes, control characters in the header section
  | 'malformed'
  // submission listeners: no AUTH from outside the trusted networks, a sender the account does not own, a suspended account
  | 'auth-required' | 'sender-not-owned' | 'account-suspended'
  // content filters at the end of DATA: a virus, junk over the reject score, a policy (attachments), a denied sender, a filter that could not answer,
  // a policy that asks to try again (a DMARC policy that cannot be looked up)
  | 'virus' | 'junk' | 'policy' | 'sender-denied' | 'filter-tempfail' | 'policy-deferred'
  // connection policy (mx): deny-listed network, DNS block list, rate limits, directory harvest, early talker, callout without an answer
  | 'client-denied' | 'dnsbl' | 'rate-limit' | 'harvest' | 'pregreet' | 'unverified-recipient'
  // floods: message data slower than the minimum rate (smtp/data-rate.ts)
  | 'slow-data'
  // more Received fields than MAX_RECEIVED_FIELDS (smtp/header-scrub.ts)
  | 'mail-loop';

/** What the engine tells its subscribers (metrics, alerts, the admin UI, the tray): one typed map, one emitter. */
export interface RelayEventMap {
  route: [state: RouteState];
  /** A message was committed to the queue; `listener`: inbound mail (mx) or the office's (submission, 587/465). */
  received: [event: { id: string; listener: 'mx' | 'submission'; clientIp: string; sender: string; recipients: number; size: number }];
  refused: [event: { reason: RefusalReason; clientIp: string }];
  delivered: [event: { id: string; recipient: string; route: Route }];
  deferred: [event: { id: string; recipient: string; route: Route; reply: string }];
  bounced: [event: { id: string; recipient: string; route: Route; status: string; expired: boolean }];
  /** A failed SMTP AUTH on a submission listener; `lockout` says when this failure locked the name or the client address. */
  'auth-failed': [event: { user: string; clientIp: string; lockout: 'account' | 'ip' | null }];
  /** An account crossed its hourly limit (circuit breaker): it sends nothing until `moat users unlock NAME`. */
  'account-suspended': [event: { user: string; clientIp: string; reason: string }];
  /** The content filters decided on a message (every action, also reject and tempfail): filter hits for the metrics. */
  filtered: [event: { id: string; clientIp: string; action: Verdict; score: number; filters: { name: string; verdict: Verdict; failed: boolean }[] }];
  /** A message was kept in quarantine (committed, not delivered until the admin releases it). */
  quarantined: [event: { id: string; clientIp: string; sender: string; recipients: number; score: number; reason: string }];
  /** An alert rule raised or cleared an alert (each once: see monitor/alerts.ts). */
  alert: [event: AlertEvent];
}

export type RelayEvents = EventEmitter<RelayEventMap>;

export function createRelayEvents(): RelayEvents {
  return new EventEmitter<RelayEventMap>();
}

import { EventEmitter } from 'node:events';
import type { RouteState } from './queue/scheduler.ts';
import type { Route } from './store/queue-store.ts';
import type { AlertEvent } from './monitor/types.ts';
import type { Verdict } from './filters/types.ts';

/** Why a transaction or command was refused, as a metric label: a small fixed set. */
export type RefusalReason =
  | 'relay' | 'unknown-recipient' | 'bad-address' | 'size' | 'connection-limit' | 'too-many-errors' | 'local-error'
  // message content at the end of DATA: NUL bytes, control characters in the header section
  | 'malformed'
  // submission listeners: no AUTH from outside the trusted networks, a sender the account does not own, a suspended account
  | 'auth-required' | 'sender-not-owned' | 'account-suspended'
  // content filters at the end of DATA: a virus, junk over the reject score, a policy (attachments), a denied sender, a filter that could not answer
  | 'virus' | 'junk' | 'policy' | 'sender-denied' | 'filter-tempfail'
  // connection policy (mx): deny-listed network, DNS block list, rate limits, directory harvest, early talker, callout without an answer
  | 'client-denied' | 'dnsbl' | 'rate-limit' | 'harvest' | 'pregreet' | 'unverified-recipient'
  // floods: message data slower than the minimum rate (smtp/data-rate.ts)
  | 'slow-data';

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

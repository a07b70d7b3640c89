import { EventEmitter } from 'node:events';
import type { RouteState } from './queue/scheduler.ts';
import type { Route } from './store/queue-store.ts';

/** Why a transaction or command was refused, as a metric label: a small fixed set. */
export type RefusalReason = 'relay' | 'unknown-recipient' | 'bad-address' | 'size' | 'connection-limit' | 'too-many-errors' | 'local-error';

/** What the engine tells its subscribers (metrics, alerts, the admin UI, the tray): one typed map, one emitter. */
export interface RelayEventMap {
  route: [state: RouteState];
  received: [event: { id: string; clientIp: string; sender: string; recipients: number; size: number }];
  refused: [event: { reason: RefusalReason; clientIp: string }];
  delivered: [event: { id: string; recipient: string; route: Route }];
  deferred: [event: { id: string; recipient: string; route: Route; reply: string }];
  bounced: [event: { id: string; recipient: string; route: Route; status: string; expired: boolean }];
}

export type RelayEvents = EventEmitter<RelayEventMap>;

export function createRelayEvents(): RelayEvents {
  return new EventEmitter<RelayEventMap>();
}

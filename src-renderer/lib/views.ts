import type { Input, Output } from '../../src-relay/admin/contract.ts';
import type { Tone } from './words.ts';

/** The queue by destination, the statistics page and the dashboard's disk use: words and figures, no DOM. */

type Destination = Output<'queue.destinations'>['destinations'][number];
export type StatisticsRange = Input<'statistics.get'>['range'];

/** A destination as the admin names it: the internal server, or the domain mail goes out to. */
export function destinationName(destination: Pick<Destination, 'route' | 'domain'>): string {
  return destination.route === 'internal' ? 'Internal server' : (destination.domain ?? 'Internet');
}

export const DESTINATION_STATE: Record<Destination['state'], { label: string; tone: Tone }> = {
  waiting: { label: 'Waiting', tone: 'info' },
  deferred: { label: 'Retrying', tone: 'warning' },
  held: { label: 'Held', tone: 'neutral' },
  paused: { label: 'Paused', tone: 'neutral' },
  refusing: { label: 'Server refusing mail', tone: 'critical' },
  down: { label: 'Server unreachable', tone: 'critical' },
};

export const STATISTICS_RANGES: readonly { value: StatisticsRange; label: string }[] = [
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
  { value: '30d', label: 'Last 30 days' },
];

/** Refusal reasons (the `reason` label of moat_messages_rejected_total) in plain words; unknown ones as they are. */
const REFUSAL_WORDS: Record<string, string> = {
  relay: 'Not for our domains (relaying refused)',
  'unknown-recipient': 'Unknown recipient',
  'unverified-recipient': 'Recipient could not be checked',
  'bad-address': 'Malformed address',
  size: 'Too large',
  'connection-limit': 'Too many connections',
  'too-many-errors': 'Too many errors in one session',
  'local-error': 'Problem on this relay',
  malformed: 'Malformed message',
  'auth-required': 'Office client not logged in',
  'sender-not-owned': 'Office client used a sender it may not use',
  'account-suspended': 'Account suspended',
  virus: 'Virus',
  junk: 'Junk',
  policy: 'Policy (dangerous attachment, rule)',
  'sender-denied': 'Sender on the deny list',
  'filter-tempfail': 'Filter unavailable (sender asked to retry)',
  'policy-deferred': 'Sender could not be checked now (asked to retry)',
  'client-denied': 'Client address blocked',
  dnsbl: 'On a block list',
  'rate-limit': 'Sending too fast',
  harvest: 'Guessing addresses',
  pregreet: 'Spoke before the greeting',
  'slow-data': 'Sending too slowly',
  'mail-loop': 'Mail loop (too many hops)',
};

export function refusalWords(reason: string): string {
  return Object.hasOwn(REFUSAL_WORDS, reason) ? REFUSAL_WORDS[reason]! : reason;
}

/** Below this share of free space the disk is a warning, below the second critical (the alert rule's defaults). */
export const DISK_WARNING_FREE = 0.2;
export const DISK_CRITICAL_FREE = 0.1;

/** The disk holding the data directory: how full, in words and as a share; null when it could not be read. */
export function diskUse(space: { free: number; total: number } | null): { usedShare: number; tone: Tone } | null {
  if (!space || space.total <= 0) return null;
  const free = Math.min(Math.max(space.free, 0), space.total);
  const share = free / space.total;
  return { usedShare: 1 - share, tone: share < DISK_CRITICAL_FREE ? 'critical' : share < DISK_WARNING_FREE ? 'warning' : 'ok' };
}

/** A bar's width for a top list: the share of the list's largest count, in percent (a whole number, at least 1). */
export function barPercent(count: number, largest: number): number {
  if (largest <= 0 || count <= 0) return 0;
  return Math.max(1, Math.round((count / largest) * 100));
}

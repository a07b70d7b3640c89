import type { EventPayload, Output } from '../../src-relay/admin/contract.ts';

/**
 * Open alerts as the page keeps them between reloads: the list from the server, updated by `alert` events,
 * sorted and grouped the way the dashboard and the header show them (the browser has no tray).
 */

export type Alert = Output<'alerts.list'>['open'][number];
export type AlertEvent = EventPayload<'alert'>;

/** Critical before warning, then newest first. */
export function sortAlerts(alerts: readonly Alert[]): Alert[] {
  const rank = (alert: Alert) => (alert.severity === 'critical' ? 0 : 1);
  return [...alerts].sort((a, b) => rank(a) - rank(b) || b.raisedAt - a.raisedAt || a.id - b.id);
}

/** The open list after one event: a raised or updated alert is added (or replaces the one with its id); a cleared one leaves. */
export function applyAlertEvent(open: readonly Alert[], event: AlertEvent): Alert[] {
  const rest = open.filter((alert) => alert.id !== event.alert.id);
  return sortAlerts(event.action === 'cleared' ? rest : [...rest, event.alert]);
}

export interface AlertGroup {
  severity: Alert['severity'];
  title: string;
  alerts: Alert[];
}

/** Critical and warning groups (empty ones left out), each sorted. */
export function groupAlerts(alerts: readonly Alert[]): AlertGroup[] {
  const sorted = sortAlerts(alerts);
  const groups: AlertGroup[] = [
    { severity: 'critical', title: 'Critical', alerts: sorted.filter((alert) => alert.severity === 'critical') },
    { severity: 'warning', title: 'Warnings', alerts: sorted.filter((alert) => alert.severity === 'warning') },
  ];
  return groups.filter((group) => group.alerts.length > 0);
}

export interface Notice {
  key: string;
  tone: 'critical' | 'warning' | 'ok';
  title: string;
  text: string;
}

/**
 * The short notice shown in the page corner when an alert is raised or cleared while the admin looks elsewhere. One
 * key for both: the clearing replaces the raising, which would otherwise stay red above "Cleared:".
 */
export function noticeFor(event: AlertEvent): Notice {
  const { alert } = event;
  const key = `alert-${alert.id}`;
  if (event.action === 'cleared') return { key, tone: 'ok', title: `Cleared: ${alert.title}`, text: alert.clearMessage ?? 'back to normal' };
  return { key, tone: alert.severity, title: alert.title, text: alert.message };
}

/** Notices kept on screen at once; older ones drop off. */
export const MAX_NOTICES = 4;

export function pushNotice(notices: readonly Notice[], notice: Notice): Notice[] {
  return [...notices.filter((existing) => existing.key !== notice.key), notice].slice(-MAX_NOTICES);
}

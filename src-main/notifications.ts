import { ROUTES, type NotificationChoices, type Severity } from './bridge.ts';
import type { DesktopAlert, DesktopAlertEvent } from './alerts.ts';

/** A notification to show; main turns it into Electron's Notification and opens `route` on click. */
export interface NotificationRequest {
  /** The alert it is about (open alerts are notified once per key). */
  key: string;
  kind: 'raised' | 'cleared';
  title: string;
  body: string;
  route: string;
  urgency: 'normal' | 'critical';
}

/** Which screen a rule's alert is about (src-relay/monitor/alert-rules.ts ids); anything else opens the dashboard. */
export const ALERT_ROUTES: Record<string, string> = {
  'queue-size': ROUTES.queue,
  'queue-age': ROUTES.queue,
  'internal-down': ROUTES.queueInternal,
  'delivery-failures': ROUTES.queueRetrying,
  // the Disk card is on the dashboard; the checklist has no disk item
  'disk-free': ROUTES.dashboard,
  // the checklist with the matching automatic check highlighted (src-relay/monitor/probes.ts ids)
  'tls-expiry': `${ROUTES.checklist}?probe=tls-certificate`,
  'backup-age': ROUTES.backups,
  'clamav-signatures': `${ROUTES.checklist}?probe=clamav`,
  'open-relay': `${ROUTES.checklist}?probe=open-relay`,
  'account-suspended': ROUTES.accounts,
  'release-requests': ROUTES.quarantine,
};

export function routeForRule(rule: string): string {
  return Object.hasOwn(ALERT_ROUTES, rule) ? ALERT_ROUTES[rule]! : ROUTES.dashboard;
}

export const DEFAULT_NOTIFICATION_CHOICES: NotificationChoices = { enabled: true, notifyOnClear: true, minSeverity: 'warning', mutedRules: [] };

const SEVERITY_RANK: Record<Severity, number> = { warning: 1, critical: 2 };

/** A notification body stays short: the OS cuts long ones anyway, and the screen it opens has the rest. */
const MAX_BODY_CHARS = 240;

function shorten(text: string): string {
  return text.length <= MAX_BODY_CHARS ? text : `${text.slice(0, MAX_BODY_CHARS - 1)}…`;
}

function wanted(alert: DesktopAlert, choices: NotificationChoices): boolean {
  return choices.enabled && SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[choices.minSeverity] && !choices.mutedRules.includes(alert.rule);
}

/**
 * Decides which alerts become desktop notifications: each open alert once (not again while it stays open, nor
 * after a reconnect lists it again), and a "cleared" notice when an alert that was notified clears.
 */
export class NotificationPolicy {
  /** Keys of open alerts already notified (or deliberately not: muted when raised). */
  private readonly notified = new Set<string>();

  constructor(private readonly choices: () => NotificationChoices) {}

  /** One SSE alert event. */
  onEvent(event: DesktopAlertEvent): NotificationRequest | null {
    const { alert } = event;
    // the open alert's words changed, not whether it is open: the screens show it, the desktop was told already
    if (event.action === 'updated') return null;
    if (event.action === 'raised') {
      if (this.notified.has(alert.key)) return null;
      this.notified.add(alert.key);
      return wanted(alert, this.choices()) ? raisedNotice(alert) : null;
    }
    if (!this.notified.delete(alert.key)) return null;
    const choices = this.choices();
    return choices.notifyOnClear && wanted(alert, choices) ? clearedNotice(alert, event.clearMessage) : null;
  }

  /**
   * The full list of open alerts (at connect and after a reconnect): new ones are notified once, and those that
   * cleared while the connection was down get their cleared notice.
   */
  onList(open: DesktopAlert[], gone: DesktopAlert[]): NotificationRequest[] {
    const requests: NotificationRequest[] = [];
    for (const alert of gone) {
      const request = this.onEvent({ action: 'cleared', alert, clearMessage: null });
      if (request) requests.push(request);
    }
    const openKeys = new Set(open.map((alert) => alert.key));
    for (const key of [...this.notified]) if (!openKeys.has(key)) this.notified.delete(key);
    for (const alert of open) {
      const request = this.onEvent({ action: 'raised', alert, clearMessage: null });
      if (request) requests.push(request);
    }
    return requests;
  }
}

function raisedNotice(alert: DesktopAlert): NotificationRequest {
  const body = [alert.message, alert.hint].filter(Boolean).join(' ');
  return {
    key: alert.key,
    kind: 'raised',
    title: alert.severity === 'critical' ? `Moat: ${alert.title}` : `Moat warning: ${alert.title}`,
    body: shorten(body || 'Open Moat for details.'),
    route: routeForRule(alert.rule),
    urgency: alert.severity === 'critical' ? 'critical' : 'normal',
  };
}

function clearedNotice(alert: DesktopAlert, clearMessage: string | null): NotificationRequest {
  return {
    key: alert.key,
    kind: 'cleared',
    title: `Moat: cleared: ${alert.title}`,
    body: shorten(clearMessage ?? 'The condition is back to normal.'),
    route: routeForRule(alert.rule),
    urgency: 'normal',
  };
}

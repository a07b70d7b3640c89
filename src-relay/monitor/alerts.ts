import type { Logger } from '../log/logger.ts';
import type { RelayEvents, Alert, AlertEvent } from '../events.ts';
import type { AlertRule, RuleContext, RuleVerdict } from './alert-rules.ts';
import type { MonitorStore } from './monitor-store.ts';

/** Cleared alerts are kept this long as history. */
export const ALERT_HISTORY_DAYS = 365;
/** A rule that has not answered within this long counts as "cannot tell" this round. */
const RULE_TIMEOUT_MS = 20_000;

export interface AlertManagerOptions {
  store: MonitorStore;
  events: RelayEvents;
  rules: readonly AlertRule[];
  /** Rule ids switched off in the configuration. */
  disabled?: readonly string[];
  context: () => RuleContext;
  clock: () => number;
  logger: Logger;
}

/**
 * Runs the rules and turns their verdicts into alerts: raised once when a rule turns bad (and stays bad for its
 * hold time), cleared once when it turns good. In the hysteresis band or when a rule cannot tell, nothing changes.
 * Open alerts are rows in SQLite, so a restart neither raises them again nor forgets them.
 */
export class AlertManager {
  private readonly store: MonitorStore;
  private readonly events: RelayEvents;
  private readonly rules = new Map<string, AlertRule>();
  private readonly disabled: Set<string>;
  private readonly context: () => RuleContext;
  private readonly clock: () => number;
  private readonly logger: Logger;
  private readonly openByRule = new Map<string, Alert>();
  private readonly badSince = new Map<string, number>();
  private running: Promise<AlertEvent[]> | null = null;

  constructor(options: AlertManagerOptions) {
    this.store = options.store;
    this.events = options.events;
    this.disabled = new Set(options.disabled ?? []);
    this.context = options.context;
    this.clock = options.clock;
    this.logger = options.logger;
    for (const rule of options.rules) this.rules.set(rule.id, rule);
    for (const alert of this.store.openAlerts()) this.openByRule.set(alert.rule, alert);
  }

  /** Plugs in a rule (ClamAV, the circuit breaker, ...); replaces one with the same id. */
  addRule(rule: AlertRule): void {
    this.rules.set(rule.id, rule);
  }

  ruleIds(): string[] {
    return [...this.rules.keys()];
  }

  rule(id: string): AlertRule | undefined {
    return this.rules.get(id);
  }

  open(): Alert[] {
    return [...this.openByRule.values()].sort((a, b) => a.raisedAt - b.raisedAt);
  }

  /** Raised and cleared alerts, newest first. */
  history(since = 0, limit = 200): Alert[] {
    return this.store.alertHistory(since, limit);
  }

  /** Checks every rule once; concurrent calls share one run. Returns what was raised and cleared. */
  evaluate(): Promise<AlertEvent[]> {
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(): Promise<AlertEvent[]> {
    const context = this.context();
    const changes: AlertEvent[] = [];
    for (const rule of this.rules.values()) {
      const open = this.openByRule.get(rule.id);
      if (this.disabled.has(rule.id)) {
        if (open) changes.push(this.clear(open, 'The rule was switched off in the configuration.'));
        continue;
      }
      const verdict = await this.check(rule, context);
      const now = this.clock();
      if (verdict.state === 'bad') {
        // a hint is the advice for one kind of trouble (its message carries the numbers, which change at every check)
        if (open) {
          if (verdict.hint !== open.hint || (rule.messageIsState && verdict.message !== open.message)) changes.push(this.update(open, verdict));
          continue;
        }
        const since = this.badSince.get(rule.id) ?? now;
        this.badSince.set(rule.id, since);
        if (now - since < (rule.raiseAfterMs ?? 0)) continue;
        this.badSince.delete(rule.id);
        changes.push(this.raise(rule, verdict, now));
      } else if (verdict.state === 'good') {
        this.badSince.delete(rule.id);
        if (open) changes.push(this.clear(open, verdict.message));
      } else if (verdict.state === 'between') {
        if (!open) this.badSince.delete(rule.id);
      }
    }
    return changes;
  }

  private async check(rule: AlertRule, context: RuleContext): Promise<RuleVerdict> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        Promise.resolve(rule.check(context)),
        new Promise<RuleVerdict>((resolve) => {
          timer = setTimeout(() => resolve({ state: 'unknown', why: 'the check took too long' }), RULE_TIMEOUT_MS);
          timer.unref();
        }),
      ]);
    } catch (error) {
      this.logger.warn({ rule: rule.id, error: (error as Error).message }, 'ALERT_RULE_FAILED');
      return { state: 'unknown', why: (error as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  private raise(rule: AlertRule, verdict: { message: string; hint: string }, now: number): AlertEvent {
    const alert = this.store.insertAlert({ rule: rule.id, severity: rule.severity, title: rule.title, message: verdict.message, hint: verdict.hint, raisedAt: now });
    this.openByRule.set(rule.id, alert);
    const log = rule.severity === 'critical' ? this.logger.error : this.logger.warn;
    log.call(this.logger, { rule: rule.id, severity: rule.severity, message: verdict.message }, 'ALERT_RAISED');
    const event: AlertEvent = { action: 'raised', alert };
    this.events.emit('alert', event);
    return event;
  }

  private update(open: Alert, verdict: { message: string; hint: string }): AlertEvent {
    this.store.updateAlert(open.id, verdict.message, verdict.hint);
    const alert: Alert = { ...open, message: verdict.message, hint: verdict.hint };
    this.openByRule.set(open.rule, alert);
    this.logger.info({ rule: open.rule, message: verdict.message }, 'ALERT_UPDATED');
    const event: AlertEvent = { action: 'updated', alert };
    this.events.emit('alert', event);
    return event;
  }

  private clear(open: Alert, message: string): AlertEvent {
    const now = this.clock();
    this.store.clearAlert(open.id, now, message);
    this.openByRule.delete(open.rule);
    const alert: Alert = { ...open, clearedAt: now, clearMessage: message };
    this.logger.info({ rule: open.rule, message }, 'ALERT_CLEARED');
    const event: AlertEvent = { action: 'cleared', alert };
    this.events.emit('alert', event);
    return event;
  }

  prune(): void {
    this.store.pruneAlerts(this.clock() - ALERT_HISTORY_DAYS * 86400_000);
  }
}

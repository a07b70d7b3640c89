import type { EventPayload } from '../../../src-relay/admin/contract.ts';

type Alert = EventPayload<'alert'>['alert'];

/** An alert as the engine sends it (src-relay/monitor/contract.ts alertSchema). */
export function engineAlert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 7,
    rule: 'queue-age',
    severity: 'warning',
    title: 'Mail is waiting too long',
    message: 'The oldest message has waited 2 h.',
    hint: 'Check the internal server.',
    raisedAt: 1_700_000_000_000,
    clearedAt: null,
    clearMessage: null,
    ...overrides,
  };
}

export function alertEvent(action: EventPayload<'alert'>['action'], overrides: Partial<Alert> = {}): EventPayload<'alert'> {
  return { action, alert: engineAlert(overrides) };
}

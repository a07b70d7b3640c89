/** Types shared by the checklist, its probes and the alert rules (alerts themselves are events: events.ts). */

export type ProbeStatus = 'ok' | 'warning' | 'failing' | 'unknown';

/** What one automatic probe of the patch-status checklist found. */
export interface ProbeOutcome {
  status: ProbeStatus;
  detail: string;
  hint?: string;
}

/** A listener's state: where it is bound (null until it is), or why it could not bind (it tries again meanwhile). */
export interface ListenerState {
  address: string | null;
  error: string | null;
}

export interface ProbeResult extends ProbeOutcome {
  probe: string;
  title: string;
  checkedAt: number;
}

/** Facts that other parts of the relay supply once they exist (filters: ClamAV; submission: accounts; admin: password). */
export interface MonitorHooks {
  /** clamd's VERSION answer, parsed; null when clamd cannot be reached. */
  clamav?: () => Promise<{ version: string; signatureDate: Date | null } | null>;
  /** Spam engines in use and whether each answers (`filter`: its filter name, for its fail mode; `detail`: why not). */
  spamEngines?: () => Promise<{ name: string; filter?: string; reachable: boolean; detail?: string }[]>;
  /** Submission accounts that the circuit breaker has suspended. */
  suspendedAccounts?: () => string[] | Promise<string[]>;
  /** Whether an admin password has been set for the admin listener. */
  adminPasswordSet?: () => boolean | Promise<boolean>;
  /** The newest Moat release known to an update source (none by default: Moat asks no update server). */
  latestMoatVersion?: () => Promise<string | null>;
}

import type { Output } from '../../src-relay/admin/contract.ts';
import { RELAY_STATE, type Tone } from './words.ts';

type RelayStatus = Output<'relay.status'>;
type QueueSummary = Output<'queue.summary'>;

/** Something wrong right now, shown at once; an alert about the same thing follows only once its threshold is passed. */
export interface LiveWarning {
  id: string;
  title: string;
  /** The error as the system gave it (explained by lib/plain-errors.ts), or null. */
  raw: string | null;
  /** When it started, epoch ms, or null. */
  since: number | null;
  /** Said as it is (not explained as a system error), or absent. */
  detail?: string;
  /** Where it is put right. */
  link?: { href: string; label: string };
}

const ROUTE_TITLES: Record<string, string> = {
  internal: 'Mail for your users cannot be delivered to the internal server',
  smarthost: 'Mail to the internet cannot be delivered to the smarthost',
};
/** After the title of a route that answers but takes nothing: the server itself, not the network, is where to look. */
const REFUSING = ': it answers, but refuses every message';
/** A hop that answers and refuses every recipient for good (5 messages in a row or more): mail for them is bounced, not kept. */
const REFUSED_RECIPIENTS_TITLES: Record<string, string> = {
  internal: 'The internal server refuses every recipient: their mail is bounced to the senders, not delivered',
  smarthost: 'The smarthost refuses every recipient: their mail is bounced to the senders, not sent',
};
const REFUSED_RECIPIENTS_ADVICE: Record<string, string> = {
  internal:
    'If these are your users\' real addresses, the internal server does not take mail for your domains: in Exchange, check Accepted domains and that the receive connector lets Moat\'s address send. If they are addresses that do not exist, let Moat refuse them before it accepts the mail: Settings → Domains and recipients (a list of recipients, or "Ask the internal server whether each recipient exists").',
  smarthost: 'Check that the smarthost lets Moat send (its address or log-in) for your domains; its answer is under Details.',
};
/** What an internal server refusing all mail usually means (the internal-down alert says it too, once raised). */
const INTERNAL_REFUSING_ADVICE =
  'A mail server that refuses everything is usually protecting itself: Exchange does so (back-pressure) when the disk of its queue database or its memory runs short. Free space on it or read its event log. Nothing is lost: the waiting mail goes at its next try, or at once with "Try it again now" under Routes.';

/**
 * What the dashboard warns about without waiting for an alert: the relay not running, a delivery route down,
 * a configuration file the next start would refuse, delivery paused. The dashboard says "All is well" only when this is empty and no alert is open.
 */
export function liveWarnings(status: RelayStatus | null | undefined, summary: QueueSummary | null | undefined): LiveWarning[] {
  const warnings: LiveWarning[] = [];
  if (status && status.state === 'failed') warnings.push({ id: 'relay', title: 'The relay is not running: no mail is received or delivered', raw: status.error, since: null });
  if (status && status.state === 'setup') warnings.push({ id: 'relay', title: 'The relay is not set up yet: no mail is received', raw: null, since: null });
  for (const route of status?.routes ?? []) {
    if (route.state === 'up' && route.refusedRecipients) {
      const refused = route.refusedRecipients;
      warnings.push({
        id: `route-${route.route}-recipients`,
        title: REFUSED_RECIPIENTS_TITLES[route.route] ?? `The route "${route.route}" refuses every recipient`,
        raw: refused.lastError,
        since: refused.since,
        detail: REFUSED_RECIPIENTS_ADVICE[route.route],
      });
    }
    if (route.state === 'up') continue;
    const title = ROUTE_TITLES[route.route] ?? `Mail on the route "${route.route}" cannot be delivered`;
    const refusing = route.state === 'refusing';
    warnings.push({
      id: `route-${route.route}`,
      title: refusing ? `${title}${REFUSING}` : title,
      raw: route.lastError,
      since: route.since,
      ...(refusing && route.route === 'internal' ? { detail: INTERNAL_REFUSING_ADVICE } : {}),
    });
  }
  if (status?.configProblem) {
    warnings.push({
      id: 'config-file',
      title: 'moat.json cannot be used: the relay runs on with the settings it started with, but the next restart would stop it',
      raw: null,
      since: null,
      detail: status.configProblem,
      link: { href: '#/settings', label: 'Open Settings to see it, then put the file right (or restore it from a backup)' },
    });
  }
  if (summary?.queueHeld) warnings.push({ id: 'paused', title: 'Delivery is paused: mail waits in the queue until you resume it', raw: null, since: null });
  return warnings;
}

/**
 * The relay's state for the top bar, on every screen: "Running" alone only when mail also flows on. A route that is
 * down or paused delivery makes it amber, its title says what is wrong (the dashboard says more).
 */
export function relayBadge(status: RelayStatus, summary: QueueSummary | null | undefined): { label: string; tone: Tone; title: string | null } {
  const state = RELAY_STATE[status.state];
  if (status.state !== 'running') return { ...state, title: status.error ?? null };
  const warnings = liveWarnings(status, summary);
  if (warnings.length === 0) return { ...state, title: null };
  const down = warnings.some((warning) => warning.id.startsWith('route-'));
  const paused = warnings.some((warning) => warning.id === 'paused');
  return { label: `${state.label} · ${down ? 'mail not delivered' : paused ? 'delivery paused' : 'moat.json needs fixing'}`, tone: 'warning', title: warnings.map((warning) => warning.title).join('; ') };
}

/** The top bar's state while the admin service does not answer: whatever was shown last may be out of date. */
export const NOT_ANSWERING: { label: string; tone: Tone; title: string } = {
  label: 'Not answering',
  tone: 'critical',
  title: 'The admin service did not answer (is the relay running?): the screens show what it said before and may be out of date',
};

/** A submission account as the dashboard reads it (accounts.list): a lockout after failed log-ins, until when and from where. */
export interface AccountLock {
  name: string;
  lockedUntil: number | null;
  /** The client addresses it is locked for; null: every address. */
  lockedFrom: string[] | null;
}

/**
 * Accounts whose log-ins are refused now after failed ones: their user's right password gets "try again later" too,
 * and nothing else on the dashboard would say so (no alert is raised for a lockout: guessing from outside is daily).
 */
export function lockedAccountWarnings(accounts: readonly AccountLock[] | null | undefined, now: number): LiveWarning[] {
  const locked = (accounts ?? []).filter((account) => account.lockedUntil !== null && account.lockedUntil > now);
  if (locked.length === 0) return [];
  const one = (account: AccountLock) =>
    `${account.name} ${account.lockedFrom ? `from ${account.lockedFrom.join(', ')}` : 'from every address it has not logged in from lately'}, until ${new Date(account.lockedUntil!).toLocaleTimeString()}`;
  return [
    {
      id: 'logins-locked',
      title: locked.length === 1 ? `The account ${locked[0]!.name} cannot log in to send mail` : `${locked.length} accounts cannot log in to send mail`,
      raw: null,
      since: null,
      detail: `Locked after failed log-ins: ${locked.map(one).join('; ')}. The right password is refused too until then. Someone guessing, or a mail program with an old password.`,
      link: { href: '#/settings/accounts', label: 'Unlock under Settings → Submission accounts' },
    },
  ];
}

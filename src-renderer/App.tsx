import { useCallback, useEffect, useRef, useState } from 'react';
import type { Output } from '../src-relay/admin/contract.ts';
import { api, events } from './api/client.ts';
import { asFailure, navigate, useCall, useEvent, useHashRoute, useLiveReload, useStreamState, type CallState } from './api/hooks.ts';
import type { ApiFailure } from './api/client.ts';
import { ErrorMessage, Loading } from './components/ui.tsx';
import { applyAlertEvent, noticeFor, pushNotice, type Alert, type Notice } from './lib/alerts.ts';
import { formatHash, type Screen } from './lib/route.ts';
import { NOT_ANSWERING, relayBadge } from './lib/health.ts';
import { formatCount } from './lib/format.ts';
import { ClaimScreen, LoginScreen } from './screens/Auth.tsx';
import { Dashboard } from './screens/Dashboard.tsx';
import { QueueScreen } from './screens/Queue.tsx';
import { QuarantineScreen } from './screens/Quarantine.tsx';
import { ChecklistScreen } from './screens/Checklist.tsx';
import { TrackingScreen } from './screens/Tracking.tsx';
import { StatisticsScreen } from './screens/Statistics.tsx';
import { DestinationsView } from './components/Destinations.tsx';
import { SettingsScreen } from './screens/Settings.tsx';
import { Wizard } from './screens/wizard/Wizard.tsx';
import { desktopBridge } from './api/bridge.ts';
import { guardUnsavedEdits } from './lib/unsaved-edits.ts';

type AuthView = { kind: 'checking' } | { kind: 'error'; error: ApiFailure } | { kind: 'setup' } | { kind: 'login'; expired: boolean } | { kind: 'ready' };

/** The gate: claim (first run), log in, or the app. */
export function App() {
  const [auth, setAuth] = useState<AuthView>({ kind: 'checking' });

  const check = useCallback(async () => {
    setAuth({ kind: 'checking' });
    try {
      const status = await api.call('auth.status', {});
      setAuth(status.state === 'ready' ? { kind: 'ready' } : status.state === 'setup' ? { kind: 'setup' } : { kind: 'login', expired: false });
    } catch (error) {
      setAuth({ kind: 'error', error: asFailure(error) });
    }
  }, []);

  useEffect(() => {
    void check();
    return api.onUnauthenticated(() => setAuth({ kind: 'login', expired: true }));
  }, [check]);
  useEffect(() => (desktopBridge() ? undefined : guardUnsavedEdits(window)), []);

  switch (auth.kind) {
    case 'checking':
      return (
        <main className="auth-screen" id="main">
          <Loading label="Connecting to the relay…" />
        </main>
      );
    case 'error':
      return (
        <main className="auth-screen" id="main">
          <div className="auth-card">
            <h1>Moat</h1>
            <ErrorMessage error={auth.error} onRetry={() => void check()} />
          </div>
        </main>
      );
    case 'setup':
      return (
        <ClaimScreen
          onDone={() => {
            navigate('#/setup');
            setAuth({ kind: 'ready' });
          }}
        />
      );
    case 'login':
      return <LoginScreen expired={auth.expired} onDone={() => setAuth({ kind: 'ready' })} />;
    case 'ready':
      return <Shell onLoggedOut={() => setAuth({ kind: 'login', expired: false })} />;
  }
}

/** How long the live stream may be down (after it was open) before the top bar says the relay does not answer. */
const STREAM_LOST_MS = 10_000;

const NAV: readonly { screen: Screen; label: string }[] = [
  { screen: 'dashboard', label: 'Dashboard' },
  { screen: 'queue', label: 'Queue' },
  { screen: 'quarantine', label: 'Quarantine' },
  { screen: 'checklist', label: 'Checklist' },
  { screen: 'tracking', label: 'Message tracking' },
  { screen: 'statistics', label: 'Statistics' },
  { screen: 'settings', label: 'Settings' },
];

export type RelayStatus = Output<'relay.status'>;
export type QueueSummary = Output<'queue.summary'>;

/** The logged-in app: header, navigation, the screen of the route, and live notices. */
function Shell({ onLoggedOut }: { onLoggedOut: () => void }) {
  const route = useHashRoute();
  const stream = useStreamState();
  const relay = useCall('relay.status', {});
  // The queue and the alerts exist only while the engine runs (else they answer RELAY_NOT_RUNNING).
  const engineUp = relay.data?.state === 'running';
  const summary = useCall('queue.summary', engineUp ? {} : null);
  const alerts = useCall('alerts.list', engineUp ? {} : null);
  // what waits for the admin elsewhere, counted beside its menu entry: quarantined mail, checklist items not ok
  const quarantined = useCall('quarantine.list', engineUp ? { limit: 1 } : null);
  const checklist = useCall('checklist.get', engineUp ? {} : null);
  useLiveReload(['quarantined', 'queue'], () => void quarantined.reload(), 2000);
  const { reload: reloadChecklist } = checklist;
  useEffect(() => {
    const timer = setInterval(() => void reloadChecklist(), CHECKLIST_REFRESH_MS);
    return () => clearInterval(timer);
  }, [reloadChecklist]);
  const [notices, setNotices] = useState<Notice[]>([]);
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    events.start();
    return () => events.stop();
  }, []);

  // The desktop shell opens a screen when a notification or the tray is clicked: only known hash routes.
  useEffect(() => desktopBridge()?.onNavigate((hash) => {
    if (hash.startsWith('#/')) navigate(hash);
  }), []);

  useEvent('relay', (status) => relay.replaceData(status));
  useEvent('queue', (next) => summary.replaceData(next));
  useEvent('alert', (event) => {
    alerts.setData((data) => (data ? { ...data, open: applyAlertEvent(data.open, event) } : data));
    setNotices((list) => pushNotice(list, noticeFor(event)));
  });

  // A relay without configuration has one thing to do: the wizard.
  const relayState = relay.data?.state;
  useEffect(() => {
    if (relayState === 'setup' && route.screen !== 'setup') navigate('#/setup');
  }, [relayState, route.screen]);

  // Back to the live data after the relay restarted (apply, or it came back up).
  const reloadRelay = relay.reload;
  const reloadSummary = summary.reload;
  const reloadAlerts = alerts.reload;
  useEffect(() => {
    if (relayState === 'running') {
      void reloadSummary();
      void reloadAlerts();
    }
  }, [relayState, reloadSummary, reloadAlerts]);
  // The stream gives up when its answer is not a stream: a 401 once the session ended (a password reset, an expiry).
  // A call says which, and an ended session goes to the log-in screen at once, not stale data beside "Offline".
  // A stream that drops and tries again may mean the relay stopped: a call says so (the top bar then stops saying
  // "Running" on the last answer).
  const wasConnected = useRef(false);
  const previousStream = useRef(stream);
  useEffect(() => {
    const dropped = previousStream.current === 'open' && stream === 'connecting';
    previousStream.current = stream;
    if (stream === 'open' || stream === 'connecting') {
      wasConnected.current = true;
      if (dropped) void reloadRelay();
    } else if (wasConnected.current) {
      wasConnected.current = false;
      void reloadRelay();
    }
  }, [stream, reloadRelay]);
  // A stream lost and not back within STREAM_LOST_MS: a hung relay answers no call either (the calls just wait), so
  // the stream's own silence says it (client.ts closes a stream that hears nothing, not even the heartbeat).
  const [streamLost, setStreamLost] = useState(false);
  useEffect(() => {
    if (stream === 'open') return setStreamLost(false);
    if (!wasConnected.current) return;
    const timer = setTimeout(() => setStreamLost(true), STREAM_LOST_MS);
    return () => clearTimeout(timer);
  }, [stream]);
  // Events missed while the stream was down: ask again once it is back.
  useEffect(() => {
    if (stream === 'open') {
      void reloadRelay();
      void reloadSummary();
      void reloadAlerts();
    }
  }, [stream, reloadRelay, reloadSummary, reloadAlerts]);

  useEffect(() => {
    const title = route.screen === 'setup' ? 'Setup wizard' : (NAV.find((item) => item.screen === route.screen)?.label ?? 'Moat');
    document.title = `${title} · Moat`;
  }, [route.screen]);

  // Each new screen takes the focus (its content comes first), for keyboard and screen reader users.
  const screenKey = `${route.screen}/${route.sub ?? ''}`;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    // from its top: focusing main alone scrolls it up under the sticky top bar, its heading hidden
    main.current?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [screenKey]);

  const logout = async () => {
    try {
      await api.call('auth.logout', {});
    } catch {
      // Logged out either way: the session is forgotten on this side too.
    }
    api.setCsrf(null);
    onLoggedOut();
  };

  const status = relay.data;
  const openAlerts = alerts.data?.open ?? [];
  // the last answer stays on screen when the service stops answering: the badge must not go on saying "Running"
  const unanswered = relay.error?.code === 'NETWORK' || streamLost;
  const state = unanswered ? NOT_ANSWERING : status ? relayBadge(status, summary.data) : null;

  return (
    <div className="app">
      <a className="skip-link" href="#main" onClick={(event) => { event.preventDefault(); main.current?.focus(); }}>
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Moat</span>
        {status ? <span className="host">{status.hostname}</span> : null}
        {state ? (
          <span className={`relay-state tone-${state.tone}`} title={state.title ?? undefined}>
            Relay: {state.label}
          </span>
        ) : null}
        <span className={`live live-${stream}`} title="Live updates from the relay">
          <span className="dot" aria-hidden="true" />
          {stream === 'open' ? 'Live' : stream === 'connecting' ? 'Connecting…' : 'Offline'}
        </span>
        <span className="spacer" />
        <button type="button" className="link-button" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      <div className="body">
        <div className="sidebar">
          <nav aria-label="Main">
            <ul>
              {NAV.map((item) => (
                <li key={item.screen}>
                  {relayState === 'setup' ? (
                    // a relay not set up has only the wizard: a link here would only lead back to it
                    <span className="nav-unavailable" aria-disabled="true">
                      <span>{item.label}</span>
                    </span>
                  ) : (
                    <a href={formatHash({ screen: item.screen })} aria-current={route.screen === item.screen ? 'page' : undefined}>
                      <span>{item.label}</span>
                      <NavCount screen={item.screen} summary={summary.data} alerts={openAlerts} quarantined={quarantined.data?.total ?? 0} requests={quarantined.data?.requests ?? 0} checklist={checklist.data?.probes ?? []} />
                    </a>
                  )}
                </li>
              ))}
            </ul>
            {relayState === 'setup' ? <p className="nav-note">These open once the setup is applied.</p> : null}
          </nav>
          <Notices notices={notices} onDismiss={(key) => setNotices((list) => list.filter((notice) => notice.key !== key))} />
          <a className="wizard-link" href="#/setup" aria-current={route.screen === 'setup' ? 'page' : undefined}>
            Setup wizard
          </a>
        </div>
        <main id="main" ref={main} tabIndex={-1}>
          {status && status.state === 'failed' && route.screen !== 'setup' ? (
            <div className="banner tone-critical" role="alert">
              <strong>The relay is not running.</strong> {status.error ?? 'It stopped with an error.'} <a href="#/settings">Check the settings</a> or <a href="#/setup">run the setup wizard</a>.
            </div>
          ) : null}
          {summary.data?.queueHeld && route.screen !== 'queue' ? (
            <div className="banner tone-warning" role="status">
              Delivery is paused: nothing leaves the queue. <a href="#/queue">Open the queue</a> to resume it.
            </div>
          ) : null}
          <ScreenView screen={route.screen} sub={route.sub} params={route.params} relay={relay} unanswered={unanswered} summary={summary} openAlerts={openAlerts} reloadAlerts={alerts.reload} onChecklist={(data) => checklist.replaceData(data)} onBackedUp={() => void reloadChecklist()} />
        </main>
      </div>
    </div>
  );
}

/** How often (ms) the checklist's results are asked again for the menu's count (its probes run every few hours). */
const CHECKLIST_REFRESH_MS = 60_000;

function NavCount({ screen, summary, alerts, quarantined, requests, checklist }: { screen: Screen; summary: QueueSummary | undefined; alerts: readonly Alert[]; quarantined: number; requests: number; checklist: readonly { status: string }[] }) {
  if (screen === 'queue' && summary && summary.size > 0) return <span className="count" aria-label={`${summary.size} queued`}>{formatCount(summary.size)}</span>;
  // a recipient's release request waits for the admin: it stands out beside the count, which it does not replace
  if (screen === 'quarantine' && requests > 0) {
    return (
      <span className="counts" aria-label={`${quarantined} in quarantine, ${requests} asked to be released`}>
        <span className="count" aria-hidden="true">
          {formatCount(quarantined)}
        </span>
        <span className="count tone-warning" aria-hidden="true">
          {formatCount(requests)} asked
        </span>
      </span>
    );
  }
  if (screen === 'quarantine' && quarantined > 0) return <span className="count" aria-label={`${quarantined} in quarantine`}>{formatCount(quarantined)}</span>;
  if (screen === 'checklist') {
    const failing = checklist.filter((probe) => probe.status === 'failing').length;
    const warning = checklist.filter((probe) => probe.status === 'warning').length;
    if (failing + warning === 0) return null;
    const words = [failing ? `${failing} failing` : '', warning ? `${warning} with a warning` : ''].filter(Boolean).join(', ');
    return (
      <span className={`count ${failing ? 'tone-critical' : 'tone-warning'}`} aria-label={`checklist: ${words}`} title={`Checklist: ${words}`}>
        {failing + warning}
      </span>
    );
  }
  if (screen === 'dashboard' && alerts.length > 0) {
    const critical = alerts.some((alert) => alert.severity === 'critical');
    return (
      <span className={`count ${critical ? 'tone-critical' : 'tone-warning'}`} aria-label={`${alerts.length} open alert${alerts.length === 1 ? '' : 's'}`}>
        {alerts.length}
      </span>
    );
  }
  return null;
}

function ScreenView(props: {
  screen: Screen;
  sub: string | null;
  params: Record<string, string>;
  relay: CallState<RelayStatus>;
  /** The relay's admin service does not answer (a failed call, or the live stream lost): what is shown is from before. */
  unanswered: boolean;
  summary: CallState<QueueSummary>;
  openAlerts: Alert[];
  reloadAlerts: () => Promise<void>;
  /** The checklist as a run left it: the menu's count follows at once. */
  onChecklist: (checklist: Output<'checklist.get'>) => void;
  /** A backup was made: the checklist's backup item, counted in the menu, is ok now. */
  onBackedUp: () => void;
}) {
  switch (props.screen) {
    case 'dashboard':
      return <Dashboard relay={props.relay} unanswered={props.unanswered} summary={props.summary} openAlerts={props.openAlerts} />;
    case 'queue':
      return props.params.view === 'destinations' ? <DestinationsView /> : <QueueScreen summary={props.summary} openId={props.params.id ?? null} params={props.params} />;
    case 'quarantine':
      return <QuarantineScreen openId={props.params.id ?? null} />;
    case 'checklist':
      return <ChecklistScreen highlight={props.params.probe ?? null} onChecklist={props.onChecklist} />;
    case 'tracking':
      return <TrackingScreen traceId={props.params.id ?? null} />;
    case 'statistics':
      return <StatisticsScreen />;
    case 'settings':
      return <SettingsScreen sub={props.sub} relay={props.relay.data} onBackedUp={props.onBackedUp} />;
    case 'setup':
      return <Wizard relay={props.relay.data} onApplied={() => void props.relay.reload()} />;
  }
}

/** Alerts raised or cleared while the admin works: short notices under the navigation (never over the page's buttons). */
function Notices({ notices, onDismiss }: { notices: readonly Notice[]; onDismiss: (key: string) => void }) {
  return (
    <section className="notices" aria-label="Notifications" aria-live="polite">
      {notices.map((notice) => (
        <div key={notice.key} className={`notice-card tone-${notice.tone}`}>
          <div>
            <strong>{notice.title}</strong>
            <p>{notice.text}</p>
            <a href="#/dashboard" onClick={() => onDismiss(notice.key)}>
              See alerts
            </a>
          </div>
          <button type="button" className="icon-button" aria-label={`Dismiss: ${notice.title}`} onClick={() => onDismiss(notice.key)}>
            ×
          </button>
        </div>
      ))}
    </section>
  );
}

import { useCallback, useEffect, useState } from 'react';
import type { AttachTestResult, BridgeResult, CloseAction, DesktopPreferences, DesktopRelayStatus, MoatBridge, NotificationChoices, Severity } from '../../api/bridge.ts';
import { CheckboxField, Loading, RadioGroup, SelectField, StatusLine, TextField } from '../../components/ui.tsx';

/** The alert rules (src-relay/monitor/alert-rules.ts ids) in the words the dashboard uses for them. */
const ALERT_RULES: readonly { rule: string; label: string }[] = [
  { rule: 'queue-size', label: 'Many messages waiting in the queue' },
  { rule: 'queue-age', label: 'Messages waiting in the queue for long' },
  { rule: 'internal-down', label: 'The internal mail server does not answer or refuses all mail' },
  { rule: 'delivery-failures', label: 'Deliveries failing' },
  { rule: 'disk-free', label: 'Disk space running low' },
  { rule: 'tls-expiry', label: 'The TLS certificate expires soon' },
  { rule: 'backup-age', label: 'No recent backup' },
  { rule: 'clamav-signatures', label: 'Virus signatures out of date' },
  { rule: 'open-relay', label: 'The relay may be open to anyone' },
  { rule: 'account-suspended', label: 'A submission account was suspended' },
  { rule: 'release-requests', label: 'A user asked for quarantined mail to be released' },
];

const SEVERITIES: readonly { value: Severity; label: string }[] = [
  { value: 'warning', label: 'Warnings and critical alerts' },
  { value: 'critical', label: 'Critical alerts only' },
];

type Mode = 'host' | 'attach';

function statusWords(status: DesktopRelayStatus | null): string {
  if (!status) return 'Unknown.';
  switch (status.state) {
    case 'starting':
      return 'Starting…';
    case 'running':
      return status.mode === 'host' ? `Running here (${status.address}).` : `Connected to ${status.address}.`;
    case 'restarting':
      return `Restarting (attempt ${status.attempt}).${status.lastError ? ` Last error: ${status.lastError}` : ''}`;
    case 'unreachable':
      return `Cannot reach ${status.address}: ${status.error}`;
    case 'failed':
      return `Not running: ${status.error}`;
    case 'stopping':
      return 'Stopping…';
    case 'stopped':
      return 'Stopped.';
  }
}

/** The desktop shell's own choices; every change goes through the bridge, which main validates again. */
export function DesktopPanel({ bridge }: { bridge: MoatBridge }) {
  const [prefs, setPrefs] = useState<DesktopPreferences | null>(null);
  const [status, setStatus] = useState<DesktopRelayStatus | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [mode, setMode] = useState<Mode>('host');
  const [url, setUrl] = useState('');
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  // the attach form saves only what was tested: the fields of the last successful test, and its result
  const [test, setTest] = useState<{ fields: string; result: AttachTestResult } | null>(null);
  const fields = JSON.stringify([url.trim(), user.trim(), password]);
  const testedOk = test !== null && test.fields === fields && test.result.reachable;

  const take = useCallback((result: BridgeResult<DesktopPreferences>, done: string): boolean => {
    if (!result.ok) {
      setProblem(result.message);
      return false;
    }
    setProblem(null);
    setPrefs(result.result);
    setMessage(done);
    return true;
  }, []);

  useEffect(() => {
    let live = true;
    void bridge.getPreferences().then((result) => {
      if (!live) return;
      if (!result.ok) return setProblem(result.message);
      setPrefs(result.result);
      const relay = result.result.managedRelay;
      setMode(relay.mode);
      if (relay.mode === 'attach') {
        setUrl(relay.url);
        setUser(relay.user ?? '');
      }
    });
    void bridge.getRelayStatus().then((result) => live && result.ok && setStatus(result.result));
    const off = bridge.onRelayStatus((next) => setStatus(next));
    return () => {
      live = false;
      off();
    };
  }, [bridge]);

  if (!prefs) return problem ? <p className="field-error" role="alert">{problem}</p> : <Loading label="Reading the desktop preferences…" />;

  const choices = prefs.notifications;
  const saveChoices = async (next: NotificationChoices) => {
    setBusy(true);
    take(await bridge.setNotificationChoices(next), 'Notification choices saved.');
    setBusy(false);
  };
  const toggleRule = (rule: string, notify: boolean) =>
    void saveChoices({ ...choices, mutedRules: notify ? choices.mutedRules.filter((item) => item !== rule) : [...choices.mutedRules, rule] });

  const attachInput = () => ({ url: url.trim(), ...(user.trim() ? { user: user.trim() } : {}), ...(password ? { password } : {}) });
  const testConnection = async () => {
    setBusy(true);
    const result = await bridge.testAttach(attachInput());
    if (result.ok) {
      setProblem(null);
      setTest({ fields, result: result.result });
    } else {
      setTest(null);
      setProblem(result.message);
    }
    setBusy(false);
  };

  const saveRelay = async () => {
    setBusy(true);
    const choice = mode === 'host' ? { mode } : { mode, ...attachInput() };
    if (take(await bridge.chooseManagedRelay(choice), mode === 'host' ? 'The relay now runs in this app.' : 'Saved: the app now manages the relay at that address.')) {
      setPassword('');
      setTest(null);
      const now = await bridge.getRelayStatus();
      if (now.ok) setStatus(now.result);
    }
    setBusy(false);
  };

  return (
    <div className="desktop-panel">
      {prefs.recovered.length ? (
        <p className="banner tone-warning" role="status">
          Some desktop preferences could not be read and were reset: {prefs.recovered.join(', ')}.
        </p>
      ) : null}
      {message || problem ? <StatusLine>{problem ?? message}</StatusLine> : null}

      <section aria-labelledby="desktop-relay">
        <h2 id="desktop-relay">Which relay this app manages</h2>
        <p>Now: {statusWords(status)}</p>
        <RadioGroup<Mode>
          legend="Relay"
          value={mode}
          onChange={setMode}
          options={[
            { value: 'host', label: 'Run the relay in this app', hint: 'The relay stops when the app quits.' },
            { value: 'attach', label: 'Attach to a Moat service', hint: 'A relay already running as a service, e.g. on the DMZ server.' },
          ]}
        />
        {mode === 'attach' ? (
          <>
            <TextField label="Service address" value={url} onChange={setUrl} placeholder="https://relay.example.org:8443" hint="The address of the service's admin page." required />
            <TextField label="User name" value={user} onChange={setUser} hint="Leave empty for the admin account." />
            <TextField
              label="Service password"
              type="password"
              value={password}
              onChange={setPassword}
              autoComplete="new-password"
              hint={prefs.attachPasswordSaved ? 'A password is saved (encrypted by the desktop app). Leave empty to keep it.' : 'Kept encrypted by the desktop app, never shown again.'}
            />
          </>
        ) : null}
        {mode === 'attach' ? (
          <>
            <button type="button" className="button" disabled={busy || !url.trim()} onClick={() => void testConnection()}>
              Test connection
            </button>
            <button type="button" className="button primary" disabled={busy || !testedOk} onClick={() => void saveRelay()}>
              Connect and save
            </button>
            {test && test.fields === fields ? (
              <p className={test.result.reachable ? 'test-result tone-ok' : 'test-result tone-critical'} aria-live="polite">
                {test.result.reachable
                  ? `The service answers: ${test.result.hostname}, Moat ${test.result.version}, relay ${test.result.state}. You can save.`
                  : `No connection: ${test.result.message}. Check the address and the password, then test again.`}
              </p>
            ) : (
              <p className="hint">Test the connection first; only a tested address and password can be saved.</p>
            )}
          </>
        ) : prefs.managedRelay.mode !== 'host' ? (
          <button type="button" className="button primary" disabled={busy} onClick={() => void saveRelay()}>
            Run here and save
          </button>
        ) : null}
        {status && (status.state === 'failed' || status.state === 'unreachable') ? (
          <button type="button" className="button" disabled={busy} onClick={() => void bridge.retryRelay().then((result) => result.ok && setStatus(result.result))}>
            Try again
          </button>
        ) : null}
      </section>

      <section aria-labelledby="desktop-notifications">
        <h2 id="desktop-notifications">Desktop notifications</h2>
        <CheckboxField label="Show desktop notifications" checked={choices.enabled} disabled={busy} onChange={(enabled) => void saveChoices({ ...choices, enabled })} />
        <SelectField<Severity> label="Notify about" value={choices.minSeverity} options={SEVERITIES} disabled={busy || !choices.enabled} onChange={(minSeverity) => void saveChoices({ ...choices, minSeverity })} />
        <CheckboxField label="Also tell me when an alert clears" checked={choices.notifyOnClear} disabled={busy || !choices.enabled} onChange={(notifyOnClear) => void saveChoices({ ...choices, notifyOnClear })} />
        <fieldset className="rule-choices">
          <legend>Alerts that raise a notification</legend>
          {ALERT_RULES.map((item) => (
            <CheckboxField key={item.rule} label={item.label} checked={!choices.mutedRules.includes(item.rule)} disabled={busy || !choices.enabled} onChange={(notify) => toggleRule(item.rule, notify)} />
          ))}
        </fieldset>
        <button
          type="button"
          className="button"
          disabled={busy}
          onClick={() => void bridge.showSampleNotification().then((result) => (result.ok ? (setProblem(null), setMessage('A sample notification was sent: look at the corner of your screen.')) : setProblem(result.message)))}
        >
          Show a sample notification
        </button>
      </section>

      <section aria-labelledby="desktop-login">
        <h2 id="desktop-login">Starting and closing</h2>
        <CheckboxField
          label="Start Moat when I log in"
          checked={prefs.startAtLogin}
          disabled={busy}
          onChange={(enabled) => {
            setBusy(true);
            void bridge.setStartAtLogin(enabled).then((result) => {
              take(result, enabled ? 'Moat will start when you log in.' : 'Moat will not start when you log in.');
              setBusy(false);
            });
          }}
        />
        <RadioGroup<CloseAction>
          legend="When I close the window"
          value={prefs.closeAction}
          onChange={(action) => {
            setBusy(true);
            void bridge.setCloseAction(action).then((result) => {
              take(result, action === 'tray' ? 'Closing the window now keeps Moat in the tray.' : 'Closing the window now quits Moat.');
              setBusy(false);
            });
          }}
          options={[
            { value: 'tray', label: 'Keep Moat running in the tray', hint: 'A relay run in this app keeps working; Quit in the tray menu stops it.' },
            { value: 'quit', label: 'Quit Moat', hint: 'A relay run in this app stops too (mail already taken in stays queued for the next start).' },
          ]}
        />
      </section>
    </div>
  );
}

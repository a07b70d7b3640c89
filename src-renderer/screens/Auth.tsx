import { useState, type FormEvent } from 'react';
import { api } from '../api/client.ts';
import { useAction } from '../api/hooks.ts';
import { ErrorMessage, TextField } from '../components/ui.tsx';
import { MIN_PASSWORD_CHARS } from '../lib/wizard.ts';
import { mapIssues } from '../lib/paths.ts';

/** First run: claim the relay with the one-time setup token and choose the admin password. */
export function ClaimScreen({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [problems, setProblems] = useState<{ token?: string; password?: string; confirm?: string }>({});
  const action = useAction();
  const issues = mapIssues(action.error?.issues ?? [], { token: 'token', password: 'password' });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const next: typeof problems = {};
    if (!token.trim()) next.token = 'paste the setup token';
    if (password.length < MIN_PASSWORD_CHARS) next.password = `at least ${MIN_PASSWORD_CHARS} characters`;
    if (confirm !== password) next.confirm = 'the two passwords differ';
    setProblems(next);
    if (Object.keys(next).length) return;
    const result = await action.run(() => api.call('auth.setup', { token: token.trim(), password }));
    if (result) onDone();
  };

  return (
    <main className="auth-screen" id="main">
      <form className="auth-card" onSubmit={submit} noValidate aria-labelledby="claim-title">
        <h1 id="claim-title">Set up Moat</h1>
        <p>
          This relay has no admin yet. To prove it is you, paste the setup token: Moat printed it on its console when it started, and wrote it to the file <code>setup-token</code> in
          its data folder.
        </p>
        <TextField label="Setup token" value={token} onChange={setToken} errors={problems.token ?? issues.byField.token} autoComplete="one-time-code" autoFocus monospace />
        <TextField label="New admin password" type="password" value={password} onChange={setPassword} errors={problems.password ?? issues.byField.password} autoComplete="new-password" hint={`At least ${MIN_PASSWORD_CHARS} characters.`} />
        <TextField label="Repeat the password" type="password" value={confirm} onChange={setConfirm} errors={problems.confirm} autoComplete="new-password" />
        {action.error && !issues.byField.token && !issues.byField.password ? <ErrorMessage error={action.error} /> : null}
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? 'Setting up…' : 'Claim this relay'}
        </button>
      </form>
    </main>
  );
}

/** The log-in screen (the server limits failed attempts per address and says so). */
export function LoginScreen({ onDone, expired }: { onDone: () => void; expired?: boolean }) {
  const [password, setPassword] = useState('');
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!password) return;
    const result = await action.run(() => api.call('auth.login', { password }));
    if (result) onDone();
    else setPassword('');
  };
  return (
    <main className="auth-screen" id="main">
      <form className="auth-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Log in to Moat</h1>
        {expired ? <p className="notice">Your session ended. Log in again to go on.</p> : null}
        <TextField label="Password" type="password" value={password} onChange={setPassword} autoComplete="current-password" autoFocus required />
        <ErrorMessage error={action.error} />
        <button type="submit" className="primary" disabled={action.busy || !password}>
          {action.busy ? 'Logging in…' : 'Log in'}
        </button>
        <p className="hint">
          Forgot the password? On the relay's box, <code>sudo -u moat moat admin reset-password --data-dir /var/lib/moat</code> sets a new one (the
          installed service's user and data directory; give your own if you run Moat otherwise).
        </p>
      </form>
    </main>
  );
}

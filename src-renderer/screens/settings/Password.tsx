import { useState, type FormEvent } from 'react';
import { call } from '../../api/client.ts';
import { useAction } from '../../api/hooks.ts';
import { ErrorMessage, StatusLine, TextField } from '../../components/ui.tsx';
import { mapIssues } from '../../lib/paths.ts';
import { passwordProblems } from '../../lib/wizard.ts';

/** Change the admin password; other sessions are logged out by the server. */
export function PasswordPanel() {
  const [fields, setFields] = useState({ adminCurrent: '', adminNew: '', adminConfirm: '' });
  const [problems, setProblems] = useState<ReturnType<typeof passwordProblems>>({});
  const [report, setReport] = useState('');
  const action = useAction();
  const issues = mapIssues(action.error?.issues ?? [], { adminCurrent: 'current', adminNew: 'password' });
  const set = (key: keyof typeof fields) => (value: string) => setFields((current) => ({ ...current, [key]: value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setReport('');
    const found = passwordProblems(fields);
    if (!fields.adminCurrent && !fields.adminNew) found.adminNew = 'type the new password';
    setProblems(found);
    if (Object.keys(found).length) return;
    const result = await action.run(() => call('auth.changePassword', { current: fields.adminCurrent, password: fields.adminNew }));
    if (result) {
      setFields({ adminCurrent: '', adminNew: '', adminConfirm: '' });
      setReport('The admin password was changed. Other sessions were logged out.');
    }
  };

  return (
    <form className="panel inline-form narrow" onSubmit={submit} aria-labelledby="password-title">
      <h2 id="password-title">Change the admin password</h2>
      <TextField label="Current password" type="password" value={fields.adminCurrent} onChange={set('adminCurrent')} errors={problems.adminCurrent ?? issues.byField.adminCurrent} autoComplete="current-password" />
      <TextField label="New password" type="password" value={fields.adminNew} onChange={set('adminNew')} errors={problems.adminNew ?? issues.byField.adminNew} autoComplete="new-password" hint="At least 10 characters." />
      <TextField label="Repeat the new password" type="password" value={fields.adminConfirm} onChange={set('adminConfirm')} errors={problems.adminConfirm} autoComplete="new-password" />
      <ErrorMessage error={action.error} showIssues={false} />
      {report ? <StatusLine>{report}</StatusLine> : null}
      <button type="submit" className="primary" disabled={action.busy}>
        Change password
      </button>
    </form>
  );
}

import { useEffect, useState, type FormEvent } from 'react';
import type { Output } from '../../../src-relay/admin/contract.ts';
import { call } from '../../api/client.ts';
import { useAction, useCall, useNow } from '../../api/hooks.ts';
import { Badge, ConfirmDialog, Empty, ErrorMessage, Loading, StatusLine, TextField, Time } from '../../components/ui.tsx';
import { mapIssues } from '../../lib/paths.ts';
import { accountProblems, MIN_PASSWORD_CHARS, parseList } from '../../lib/wizard.ts';

type Account = Output<'accounts.list'>['accounts'][number];
type Lockouts = Output<'accounts.lockouts'>;

/** How often (ms) the accounts and lockouts are asked again while the page is open. */
const REFRESH_MS = 15_000;

/** Submission accounts: office clients log in with these on 587/465 to send through Moat. */
export function AccountsPanel({ relay }: { relay: Output<'relay.status'> | undefined }) {
  const list = useCall('accounts.list', {});
  const lockouts = useCall('accounts.lockouts', {});
  // an account is of use only while a submission listener takes log-ins (the App's live status: restarts included)
  const listenersOff = relay?.state === 'running' && !relay.addresses.submission && !relay.addresses.submissions;
  const [editing, setEditing] = useState<{ name: string; what: 'password' | 'senders' } | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const [report, setReport] = useState<{ text: string; notes: readonly string[] }>({ text: '', notes: [] });
  const tell = (text: string, notes: readonly string[] = []) => setReport({ text, notes });
  const action = useAction();
  const now = useNow(30_000);
  // lockouts come from log-ins on the submission listeners, not from this page: looked at again every REFRESH_MS
  const { reload: reloadList } = list;
  const { reload: reloadLockouts } = lockouts;
  useEffect(() => {
    const timer = setInterval(() => {
      void reloadList();
      void reloadLockouts();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reloadList, reloadLockouts]);

  const unlock = async (name: string) => {
    const result = await action.run(() => call('accounts.unlock', { name }));
    if (result) {
      tell(`${name} is unlocked.`);
      void list.reload();
      void lockouts.reload();
    }
  };
  const unlockAddress = async (address: string) => {
    const result = await action.run(() => call('accounts.unlockAddress', { address }));
    if (result) {
      tell(result.unlocked ? `Client address ${result.address} is unlocked.` : `Client address ${result.address} was no longer locked.`);
      void lockouts.reload();
    }
  };
  const remove = async (name: string) => {
    const result = await action.run(() => call('accounts.remove', { name }));
    if (result) {
      tell(`${name} was removed.`);
      void list.reload();
    }
  };

  const accounts = list.data?.accounts ?? [];
  return (
    <section aria-labelledby="accounts-title">
      <h2 id="accounts-title">Submission accounts</h2>
      <p className="intro">Office clients (Unix, Mac, POP3 users, scanners) log in with these to send mail through Moat. Each account may send only as its own addresses.</p>
      {listenersOff ? (
        <p className="panel tone-warning" role="note">
          The submission listeners are off, so no office client can log in with these accounts yet. Set a listener address (port 587, or 465 for
          implicit TLS) under <a href="#/settings">Configuration</a>, section Accounts, and apply.
        </p>
      ) : null}
      {report.text ? <StatusLine>{report.text}</StatusLine> : null}
      {report.notes.length ? (
        <ul className="panel tone-warning account-notes" role="note" aria-label="Check these sender addresses">
          {report.notes.map((note) => (
            <li key={note}>
              <Badge tone="warning">Check</Badge> {note}
            </li>
          ))}
        </ul>
      ) : null}
      <ErrorMessage error={action.error} />
      {list.error && !list.data ? <ErrorMessage error={list.error} onRetry={() => void list.reload()} /> : null}
      {!list.data && list.loading ? <Loading label="Loading the accounts…" /> : null}
      {list.data ? (
        accounts.length === 0 ? (
          <Empty>No accounts yet. Add one below.</Empty>
        ) : (
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">May send as</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {accounts.map((account) => (
                <AccountRow
                  key={account.name}
                  account={account}
                  now={now}
                  busy={action.busy}
                  onEdit={(what) => setEditing({ name: account.name, what })}
                  onUnlock={() => void unlock(account.name)}
                  onRemove={() => setRemoving(account.name)}
                />
              ))}
            </tbody>
          </table>
        )
      ) : null}
      {lockouts.data ? <LockedAddresses lockouts={lockouts.data} now={now} busy={action.busy} onUnlock={(address) => void unlockAddress(address)} /> : null}
      {editing ? (
        <EditAccount
          key={`${editing.name}-${editing.what}`}
          account={accounts.find((account) => account.name === editing.name)}
          what={editing.what}
          onClose={() => setEditing(null)}
          onDone={(message, notes) => {
            setEditing(null);
            tell(message, notes);
            void list.reload();
          }}
        />
      ) : null}
      <AddAccount
        taken={accounts.map((account) => account.name)}
        onAdded={(name, notes) => {
          tell(`${name} was added.`, notes);
          void list.reload();
        }}
      />
      <ConfirmDialog
        open={removing !== null}
        title={`Remove the account ${removing ?? ''}?`}
        confirmLabel="Remove"
        danger
        onCancel={() => setRemoving(null)}
        onConfirm={() => {
          const name = removing;
          setRemoving(null);
          if (name) void remove(name);
        }}
      >
        <p>Clients using it can no longer send through Moat.</p>
      </ConfirmDialog>
    </section>
  );
}

function AccountRow({ account, now, busy, onEdit, onUnlock, onRemove }: { account: Account; now: number; busy: boolean; onEdit: (what: 'password' | 'senders') => void; onUnlock: () => void; onRemove: () => void }) {
  const locked = account.lockedUntil !== null && account.lockedUntil > now;
  const suspended = account.suspendedAt !== null;
  return (
    <tr>
      <th scope="row">{account.name}</th>
      <td>{account.senders.length ? account.senders.join(', ') : <span className="muted">no addresses</span>}</td>
      <td>
        {suspended ? (
          <>
            <Badge tone="critical">Suspended</Badge> <span className="small">{account.suspendedReason ?? ''}</span>
          </>
        ) : locked ? (
          <>
            <Badge tone="warning">Locked</Badge>{' '}
            <span className="small">
              {account.lockedFrom ? `from ${account.lockedFrom.join(', ')} only, ` : 'from every address, '}until <Time ms={account.lockedUntil} />
            </span>
          </>
        ) : (
          <Badge tone="ok">Active</Badge>
        )}
      </td>
      <td>
        <Time ms={account.createdAt} />
      </td>
      <td className="row-actions">
        <button type="button" onClick={() => onEdit('password')} disabled={busy}>
          Reset password
        </button>
        <button type="button" onClick={() => onEdit('senders')} disabled={busy}>
          Sender addresses
        </button>
        {suspended || locked ? (
          <button type="button" onClick={onUnlock} disabled={busy}>
            Unlock
          </button>
        ) : null}
        <button type="button" className="danger-outline" onClick={onRemove} disabled={busy}>
          Remove
        </button>
      </td>
    </tr>
  );
}

/** Client addresses locked out after failed log-ins (every name is refused from there), and names guessed that have no account. */
function LockedAddresses({ lockouts, now, busy, onUnlock }: { lockouts: Lockouts; now: number; busy: boolean; onUnlock: (address: string) => void }) {
  const addresses = lockouts.addresses.filter((lockout) => lockout.until > now);
  // a name can be locked for one address and account-wide at once: list it once
  const guessed = [...new Set(lockouts.names.filter((lockout) => !lockout.account && lockout.until > now).map((lockout) => lockout.name))];
  if (addresses.length === 0 && guessed.length === 0) return null;
  return (
    <section aria-labelledby="lockouts-title">
      <h3 id="lockouts-title">Locked-out client addresses</h3>
      {addresses.length ? (
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Client address</th>
              <th scope="col">Failed log-ins</th>
              <th scope="col">Locked until</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {addresses.map((lockout) => (
              <tr key={lockout.address}>
                <th scope="row">{lockout.address}</th>
                <td>{lockout.failures}</td>
                <td>
                  <Time ms={lockout.until} />
                </td>
                <td className="row-actions">
                  <button type="button" onClick={() => onUnlock(lockout.address)} disabled={busy}>
                    Unlock
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">No client address is locked out.</p>
      )}
      {guessed.length ? <p className="small">Names without an account, locked after guesses: {guessed.join(', ')}. They expire on their own.</p> : null}
    </section>
  );
}

function EditAccount({ account, what, onClose, onDone }: { account: Account | undefined; what: 'password' | 'senders'; onClose: () => void; onDone: (message: string, notes?: readonly string[]) => void }) {
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [senders, setSenders] = useState(account?.senders.join('\n') ?? '');
  const [problem, setProblem] = useState<{ password?: string; confirm?: string; senders?: string }>({});
  const action = useAction();
  if (!account) return null;
  const issues = mapIssues(action.error?.issues ?? [], { password: 'password', senders: 'senders' });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (what === 'password') {
      const next: typeof problem = {};
      if (password.length < MIN_PASSWORD_CHARS) next.password = `at least ${MIN_PASSWORD_CHARS} characters`;
      if (confirm !== password) next.confirm = 'the two passwords differ';
      setProblem(next);
      if (Object.keys(next).length) return;
      const result = await action.run(() => call('accounts.setPassword', { name: account.name, password }));
      if (result) onDone(`The password of ${account.name} was reset.`);
    } else {
      const list = parseList(senders);
      const found = accountProblems({ name: '-', password: 'x'.repeat(MIN_PASSWORD_CHARS), senders }, []).senders;
      setProblem(found ? { senders: found } : {});
      if (found) return;
      const result = await action.run(() => call('accounts.setSenders', { name: account.name, senders: list }));
      if (result) onDone(`${account.name} may now send as ${list.length ? list.join(', ') : 'no address'}.`, result.notes);
    }
  };

  return (
    <form className="panel inline-form" onSubmit={submit} aria-label={what === 'password' ? `Reset the password of ${account.name}` : `Sender addresses of ${account.name}`}>
      <h3>{what === 'password' ? `New password for ${account.name}` : `Addresses ${account.name} may send as`}</h3>
      {what === 'password' ? (
        <>
          <TextField label="New password" type="password" value={password} onChange={setPassword} errors={problem.password ?? issues.byField.password} autoComplete="new-password" autoFocus />
          <TextField label="Repeat the password" type="password" value={confirm} onChange={setConfirm} errors={problem.confirm} autoComplete="new-password" />
        </>
      ) : (
        <TextField label="Sender addresses" value={senders} onChange={setSenders} errors={problem.senders ?? issues.byField.senders} multiline hint="One address (user@example.com) or a whole domain (@example.com) per line." autoFocus />
      )}
      <ErrorMessage error={action.error} showIssues={false} />
      <div className="form-buttons">
        <button type="submit" className="primary" disabled={action.busy}>
          Save
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function AddAccount({ taken, onAdded }: { taken: string[]; onAdded: (name: string, notes: readonly string[]) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [senders, setSenders] = useState('');
  const [problems, setProblems] = useState<ReturnType<typeof accountProblems>>({});
  const action = useAction();
  const issues = mapIssues(action.error?.issues ?? [], { name: 'name', password: 'password', senders: 'senders' });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const found = accountProblems({ name, password, senders }, taken);
    setProblems(found);
    if (Object.keys(found).length) return;
    const result = await action.run(() => call('accounts.add', { name: name.trim(), password, senders: parseList(senders) }));
    if (result) {
      onAdded(result.name, result.notes);
      setName('');
      setPassword('');
      setSenders('');
    }
  };

  return (
    <form className="panel inline-form" onSubmit={submit} aria-labelledby="add-account-title">
      <h3 id="add-account-title">Add an account</h3>
      <TextField label="Account name" value={name} onChange={setName} errors={problems.name ?? issues.byField.name} hint="The user name the mail client logs in with." />
      <TextField label="Password" type="password" value={password} onChange={setPassword} errors={problems.password ?? issues.byField.password} autoComplete="new-password" hint={`At least ${MIN_PASSWORD_CHARS} characters.`} />
      <TextField label="Sender addresses" value={senders} onChange={setSenders} errors={problems.senders ?? issues.byField.senders} multiline rows={3} hint="One address or @domain a line." />
      <ErrorMessage error={action.error} showIssues={false} />
      <button type="submit" className="primary" disabled={action.busy}>
        Add account
      </button>
    </form>
  );
}

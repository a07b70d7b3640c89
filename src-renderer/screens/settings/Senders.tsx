import { useState, type FormEvent } from 'react';
import type { Output } from '../../../src-relay/admin/contract.ts';
import { call } from '../../api/client.ts';
import { useAction, useCall } from '../../api/hooks.ts';
import { Empty, ErrorMessage, Loading, RadioGroup, StatusLine, TextField, Time } from '../../components/ui.tsx';
import { mapIssues } from '../../lib/paths.ts';

type Entry = Output<'senders.list'>['entries'][number];

/** The sender allow and deny lists (addresses or @domains) the filters consult. */
export function SendersPanel() {
  const list = useCall('senders.list', {});
  const [report, setReport] = useState('');
  const action = useAction();

  const remove = async (entry: string) => {
    const result = await action.run(() => call('senders.remove', { entry }));
    if (result) {
      setReport(`${entry} was taken off its list.`);
      void list.reload();
    }
  };

  const entries = list.data?.entries ?? [];
  return (
    <section aria-labelledby="senders-title">
      <h2 id="senders-title">Sender lists</h2>
      <p className="intro">For all your users: mail from an allowed sender skips the junk scoring (viruses are still caught); mail from a denied sender is refused.</p>
      {report ? <StatusLine>{report}</StatusLine> : null}
      <ErrorMessage error={action.error} />
      {list.error && !list.data ? <ErrorMessage error={list.error} onRetry={() => void list.reload()} /> : null}
      {!list.data && list.loading ? <Loading label="Loading the lists…" /> : null}
      {list.data ? (
        <div className="two-columns">
          {(['allow', 'deny'] as const).map((which) => (
            <SenderList key={which} title={which === 'allow' ? 'Allowed senders' : 'Denied senders'} entries={entries.filter((entry) => entry.list === which)} busy={action.busy} onRemove={(entry) => void remove(entry)} />
          ))}
        </div>
      ) : null}
      <AddSender
        onAdded={(entry, which) => {
          // one entry is on one list: adding it to the other moves it there, and that is said
          const before = entries.find((candidate) => candidate.entry === entry);
          const moved = before && before.list !== which ? ` It was on the ${before.list} list${before.note ? ` (note: "${before.note}")` : ''} and was taken off it.` : '';
          setReport(`${entry} is on the ${which} list.${moved}`);
          void list.reload();
        }}
      />
    </section>
  );
}

function SenderList({ title, entries, busy, onRemove }: { title: string; entries: Entry[]; busy: boolean; onRemove: (entry: string) => void }) {
  return (
    <div className="panel">
      <h3>{title}</h3>
      {entries.length === 0 ? (
        <Empty>None.</Empty>
      ) : (
        <table className="data-table compact">
          <thead>
            <tr>
              <th scope="col">Sender</th>
              <th scope="col">Note</th>
              <th scope="col">Added</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr key={entry.entry}>
                <th scope="row">{entry.entry}</th>
                <td>{entry.note ?? ''}</td>
                <td>
                  <Time ms={entry.addedAt} />
                  {entry.addedBy ? <span className="muted small"> by {entry.addedBy}</span> : null}
                </td>
                <td>
                  <button type="button" onClick={() => onRemove(entry.entry)} disabled={busy} aria-label={`Remove ${entry.entry}`}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function AddSender({ onAdded }: { onAdded: (entry: string, list: 'allow' | 'deny') => void }) {
  const [which, setWhich] = useState<'allow' | 'deny'>('allow');
  const [entry, setEntry] = useState('');
  const [note, setNote] = useState('');
  const [problem, setProblem] = useState('');
  const action = useAction();
  const issues = mapIssues(action.error?.issues ?? [], { entry: 'entry', note: 'note' });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const value = entry.trim();
    if (!/^([^\s@]+)?@[^\s@]+$/.test(value)) {
      setProblem('an address (user@example.com) or a domain (@example.com)');
      return;
    }
    setProblem('');
    const result = await action.run(() => call('senders.set', { list: which, entry: value, note: note.trim() || null }));
    if (result) {
      onAdded(result.entry, which);
      setEntry('');
      setNote('');
    }
  };
  return (
    <form className="panel inline-form" onSubmit={submit} aria-labelledby="add-sender-title">
      <h3 id="add-sender-title">Add a sender</h3>
      <RadioGroup
        legend="List"
        value={which}
        onChange={setWhich}
        options={[
          { value: 'allow', label: 'Allow' },
          { value: 'deny', label: 'Deny' },
        ]}
      />
      <TextField label="Sender address or @domain" value={entry} onChange={setEntry} errors={problem || issues.byField.entry} />
      <TextField label="Note" value={note} onChange={setNote} errors={issues.byField.note} placeholder="why (optional)" />
      <ErrorMessage error={action.error} showIssues={false} />
      <button type="submit" className="primary" disabled={action.busy}>
        Add to list
      </button>
    </form>
  );
}

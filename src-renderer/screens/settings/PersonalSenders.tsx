import { useState, type FormEvent } from 'react';
import { call } from '../../api/client.ts';
import { useAction, useCall } from '../../api/hooks.ts';
import { Empty, ErrorMessage, Loading, RadioGroup, StatusLine, TextField, Time } from '../../components/ui.tsx';
import { mapIssues } from '../../lib/paths.ts';
import { groupByRecipient, listWord, personalFormProblems, type PersonalEntryView } from '../../lib/personal-lists.ts';

/**
 * Each user's own allow and block lists (set by the user from the quarantine page, or here by the admin). They speak
 * for that user only; an allowance skips junk checks only when every recipient of a message allows the sender.
 */
export function PersonalSendersPanel() {
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const list = useCall('senders.personalList', query ? { search: query } : {});
  const [report, setReport] = useState('');
  const action = useAction();

  const remove = async (entry: PersonalEntryView) => {
    const result = await action.run(() => call('senders.personalRemove', { recipient: entry.recipient, entry: entry.entry }));
    if (result) {
      setReport(`${entry.entry} was taken off ${entry.recipient}'s own list.`);
      void list.reload();
    }
  };

  const groups = groupByRecipient(list.data?.entries ?? []);
  return (
    <section aria-labelledby="personal-senders-title" className="personal-senders">
      <h2 id="personal-senders-title">Users' own sender lists</h2>
      <p className="intro">
        These are your users' own lists: each one speaks for that user only. A user's block refuses that sender's mail to that user. A user's
        allowance skips the junk checks only when every recipient of a message allows the sender. Neither ever lets a virus or a blocked
        attachment through.
      </p>
      {report ? <StatusLine>{report}</StatusLine> : null}
      <ErrorMessage error={action.error} />
      <form
        className="inline-form"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          setQuery(search.trim());
        }}
      >
        <TextField label="Find a user or sender" type="search" value={search} onChange={setSearch} placeholder="bob@ or partner.example" />
        <button type="submit">Find</button>
      </form>
      {list.error && !list.data ? <ErrorMessage error={list.error} onRetry={() => void list.reload()} /> : null}
      {!list.data && list.loading ? <Loading label="Loading the users' lists…" /> : null}
      {list.data && groups.length === 0 ? <Empty>{query ? `No user's own list mentions "${query}".` : 'No user has an own list yet.'}</Empty> : null}
      {list.data?.truncated ? <p className="muted">Only the first {list.data.entries.length} entries are shown: search to narrow them down.</p> : null}
      {groups.length ? (
        <table className="data-table compact" aria-label="Users' own sender lists">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">List</th>
              <th scope="col">Sender</th>
              <th scope="col">Added</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {groups.flatMap((group) =>
              [...group.allow, ...group.block].map((entry) => (
                <tr key={`${entry.recipient} ${entry.entry}`}>
                  <th scope="row">{entry.recipient}</th>
                  <td>{entry.list === 'allow' ? 'Allowed' : 'Blocked'}</td>
                  <td>{entry.entry}</td>
                  <td>
                    <Time ms={entry.addedAt} />
                    {entry.addedBy ? <span className="muted small"> by {entry.addedBy}</span> : null}
                  </td>
                  <td>
                    <button type="button" onClick={() => void remove(entry)} disabled={action.busy} aria-label={`Remove ${entry.entry} from ${entry.recipient}'s list`}>
                      Remove
                    </button>
                  </td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      ) : null}
      <AddPersonal
        max={list.data?.maxPerRecipient ?? null}
        onAdded={(recipient, entry, which) => {
          setReport(`${entry} is ${listWord(which)} on ${recipient}'s own list.`);
          void list.reload();
        }}
      />
    </section>
  );
}

function AddPersonal({ max, onAdded }: { max: number | null; onAdded: (recipient: string, entry: string, list: 'allow' | 'deny') => void }) {
  const [which, setWhich] = useState<'allow' | 'deny'>('deny');
  const [recipient, setRecipient] = useState('');
  const [entry, setEntry] = useState('');
  const [problems, setProblems] = useState<{ recipient?: string; entry?: string }>({});
  const action = useAction();
  const issues = mapIssues(action.error?.issues ?? [], { recipient: 'recipient', entry: 'entry' });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const found = personalFormProblems(recipient, entry);
    setProblems(found);
    if (found.recipient || found.entry) return;
    const result = await action.run(() => call('senders.personalSet', { recipient: recipient.trim(), list: which, entry: entry.trim() }));
    if (result) {
      onAdded(result.recipient, result.entry, which);
      setEntry('');
    }
  };
  return (
    <form className="panel inline-form" onSubmit={submit} aria-labelledby="add-personal-title">
      <h3 id="add-personal-title">Add to a user's own list</h3>
      <TextField label="User's address" value={recipient} onChange={setRecipient} errors={problems.recipient || issues.byField.recipient} placeholder="bob@example.com" />
      <RadioGroup
        legend="For this user"
        value={which}
        onChange={setWhich}
        options={[
          { value: 'deny', label: 'Block this sender' },
          { value: 'allow', label: 'Allow this sender' },
        ]}
      />
      <TextField label="Sender to block or allow" value={entry} onChange={setEntry} errors={problems.entry || issues.byField.entry} placeholder="user@example.com or @example.com" />
      <p className="muted small">Each user may keep up to {max ?? 500} entries. An allowance never lets a virus or a blocked attachment through.</p>
      <ErrorMessage error={action.error} showIssues={false} />
      <button type="submit" className="primary" disabled={action.busy}>
        Add to the user's list
      </button>
    </form>
  );
}

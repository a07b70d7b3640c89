import { useEffect, useState } from 'react';
import type { Input, Output } from '../../src-relay/admin/contract.ts';
import { ApiFailure, call } from '../api/client.ts';
import { navigate, useAction, useCall, useDebouncedValue, useLiveReload, useNow } from '../api/hooks.ts';
import { DecisionTrace, DetailPane } from '../components/MessageDetail.tsx';
import { Pager } from '../components/Pager.tsx';
import { ActionResult, ActionToolbar, ConfirmActionDialog, PaneActions, type PendingConfirm, type ToolbarAction } from '../components/ActionToolbar.tsx';
import { MessageRow, useSelectableRows, type SelectableRowsProps } from '../components/MessageRows.tsx';
import { ConfirmDialog, Empty, ErrorMessage, Facts, Loading, PageHeader, TextField, Time } from '../components/ui.tsx';
import { formatScore, formatSize } from '../lib/format.ts';
import { formatHash } from '../lib/route.ts';
import { actInSlices, bulkLabel, nameMessages, rememberRows, ticksAfter, type MessageLabel } from '../lib/selection.ts';
import { clampOffset, withFilter, type PageState } from '../lib/table.ts';
import { actionReport, allowReport, notAnIdNotice } from '../lib/words.ts';
import { senderLabel } from '../lib/sender.ts';

type QuarantineAction = Input<'quarantine.act'>['action'];
type Row = Output<'quarantine.list'>['rows'][number];

const ACTIONS: readonly (ToolbarAction<QuarantineAction> & { done: string; confirm?: (count: number) => string })[] = [
  { action: 'release', verb: 'Release', paneLabel: 'Release this message', done: 'Released', confirm: (count) => releaseWarning(count) },
  {
    action: 'release-allow',
    verb: 'Release',
    paneLabel: 'Release and allow this sender',
    bulkLabel: (count) => `${bulkLabel('Release', count)} and allow their senders`,
    confirmTail: (count) => (count === 1 ? ' and allow its sender' : ' and allow their senders'),
    done: 'Released',
    confirm: (count) =>
      `${releaseWarning(count)} ${count === 1 ? 'Its sender goes' : 'Their senders go'} on the allow list: from now on their mail skips the junk checks for everyone (viruses and blocked attachments are still stopped). A sender in your own domains is released but not allowed: such mail is checked every time.`,
  },
  { action: 'delete', verb: 'Delete', paneLabel: 'Delete this message', done: 'Deleted', danger: true, confirm: (count) => `${count === 1 ? 'It' : 'They'} cannot be released any more. The sender is not told; a user who asked for a release gets an e-mail saying it was not released.` },
];

/** What a release does, said before it is done: the filters' doubts are set aside, the message is delivered as it is. */
function releaseWarning(count: number): string {
  const it = count === 1 ? 'it' : 'them';
  return `${count === 1 ? 'It goes' : 'They go'} to the queue and on to the recipients as ${count === 1 ? 'it is' : 'they are'}: whatever the filters found in ${it} (a program, a virus, a forged sender) reaches the mailbox.`;
}

interface QuarantineTable extends PageState {
  search: string;
}

/** Quarantined messages: the list with reason and score, a safe text-only preview, release or delete. */
export function QuarantineScreen({ openId }: { openId: string | null }) {
  const [table, setTable] = useState<QuarantineTable>({ search: '', offset: 0, limit: 50 });
  const [searchText, setSearchText] = useState('');
  const search = useDebouncedValue(searchText, 300);
  const [selection, setSelection] = useState<ReadonlySet<string>>(new Set());
  const [confirm, setConfirm] = useState<PendingConfirm<QuarantineAction> | null>(null);
  const [report, setReport] = useState('');
  const [approving, setApproving] = useState<{ id: string; recipient: string; onlyRecipient: boolean } | null>(null);
  // sender and subject of the rows seen, for confirmations that name ticked messages on other pages
  const [known, setKnown] = useState<ReadonlyMap<string, MessageLabel>>(new Map());
  const action = useAction();
  const now = useNow(30_000);

  useEffect(() => setTable((state) => (state.search === search ? state : withFilter(state, { search }))), [search]);
  const input: Input<'quarantine.list'> = { offset: table.offset, limit: table.limit, ...(table.search.trim() ? { search: table.search.trim() } : {}) };
  const list = useCall('quarantine.list', input);
  const preview = useCall('quarantine.preview', openId ? { id: openId } : null);
  // a release or delete (in another window too) changes the queue: its event refreshes the list and the open preview
  useLiveReload(['quarantined', 'queue'], () => {
    void list.reload();
    if (openId) void preview.reload();
  }, 2000);

  const total = list.data?.total;
  useEffect(() => {
    if (total !== undefined) setTable((state) => clampOffset(state, total));
  }, [total]);

  const listRows = list.data?.rows;
  useEffect(() => {
    if (listRows) setKnown((current) => rememberRows(current, listRows, selection));
  }, [listRows, selection]);

  const open = (id: string | null) => navigate(formatHash({ screen: 'quarantine', params: { id: id ?? undefined } }));
  // the pane's buttons act on the message it shows, once it shows it
  // released or deleted meanwhile (another window): no stale preview with buttons beside the error that says so
  const gone = preview.error instanceof ApiFailure && preview.error.code === 'QUARANTINE_ITEM_GONE';
  const shown = !gone && preview.data && preview.data.message.id === openId ? preview.data.message : null;

  const perform = async (act: QuarantineAction, ids: string[], source: 'bulk' | 'pane') => {
    const verb = ACTIONS.find((item) => item.action === act)!.done;
    const allowedEntries: string[] = [];
    const notAllowed: string[] = [];
    const result = await action.run(() =>
      actInSlices(ids, async (slice) => {
        const answer = await call('quarantine.act', { action: act, ids: slice });
        allowedEntries.push(...answer.allowed);
        notAllowed.push(...answer.notAllowed);
        return answer;
      }),
    );
    if (!result) return;
    const released = act !== 'delete' && result.done.length > 0;
    const allowReported = act === 'release-allow' ? allowReport([...new Set(allowedEntries)], [...new Set(notAllowed)]) : '';
    const allowed = allowReported ? ` ${allowReported}` : '';
    setReport(`${actionReport(verb, result.done.length, result.gone.length, 'quarantine')}${allowed}${released ? ` ${result.done.length === 1 ? 'It is' : 'They are'} in the queue, due at once: the Queue shows ${result.done.length === 1 ? 'it' : 'them'} while the internal server does not take ${result.done.length === 1 ? 'it' : 'them'}, Message tracking when ${result.done.length === 1 ? 'it is' : 'they are'} delivered.` : ''}`);
    setSelection((current) => ticksAfter(current, source, [...result.done, ...result.gone]));
    if (openId && (result.done.includes(openId) || result.gone.includes(openId))) open(null);
    void list.reload();
  };

  const start = (act: QuarantineAction, ids: string[], source: 'bulk' | 'pane') => {
    if (ids.length === 0) return;
    if (ACTIONS.find((item) => item.action === act)?.confirm) setConfirm({ action: act, ids, source, names: nameMessages(ids, shown ? new Map([...known, [shown.id, { id: shown.id, sender: shown.sender, subject: shown.subject }]]) : known) });
    else void perform(act, ids, source);
  };

  /** Approval mode: the admin's answer to a recipient's request from the user page. */
  const decide = async (id: string, recipient: string, decision: 'approve' | 'deny', onlyRecipient: boolean) => {
    const result = await action.run(() => call('quarantine.decideRequest', { id, recipient, decision }));
    if (!result) return;
    setReport(requestReport(result.outcome, recipient));
    if (result.outcome === 'approved' && onlyRecipient && openId === id) open(null);
    else if (openId === id) void preview.reload();
    void list.reload();
  };

  const rows = list.data?.rows ?? [];

  return (
    <div className={`split ${openId ? 'with-pane' : ''}`}>
      <div className="split-main">
        <PageHeader title="Quarantine" />
        <p className="intro">Messages the filters found doubtful wait here. Released ones go to the queue and are delivered as they are; deleted ones are gone for good.</p>
        <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
          <TextField label="Search" type="search" value={searchText} onChange={setSearchText} placeholder="Sender, recipient, subject or reason" />
        </form>
        {/* an empty list has nothing to tick: no bulk buttons */}
        {rows.length > 0 || selection.size > 0 ? (
          <ActionToolbar
            label="Ticked messages"
            actions={ACTIONS}
            count={selection.size}
            busy={action.busy}
            onAction={(act) => start(act, [...selection], 'bulk')}
            onClearSelection={() => setSelection(new Set())}
          />
        ) : null}
        <ActionResult report={report || null} undo={null} busy={action.busy} error={action.error} />

        {list.error && !list.data ? <ErrorMessage error={list.error} onRetry={() => void list.reload()} /> : null}
        {!list.data && list.loading ? <Loading label="Loading the quarantine…" /> : null}
        {list.data ? (
          rows.length === 0 ? (
            <Empty>{table.search ? 'No quarantined message matches.' : 'The quarantine is empty.'}</Empty>
          ) : (
            <QuarantineTable rows={rows} selection={selection} setSelection={setSelection} openId={openId} onOpen={open} now={now} />
          )
        ) : null}
        {list.data && list.data.total > 0 ? <Pager total={list.data.total} state={table} what="quarantined messages" onChange={(page) => setTable((state) => ({ ...state, ...page }))} /> : null}
      </div>

      {openId ? (
        <DetailPane label="Message preview" title="Preview" closeLabel="Close preview" openId={openId} onClose={() => open(null)} ticked={selection.size}>
          {gone ? (
            <p className="notice" role="status">
              This message is no longer in the quarantine: it was released or deleted (perhaps in another window), or it expired.
            </p>
          ) : preview.error instanceof ApiFailure && preview.error.code === 'INVALID_INPUT' ? (
            <p className="notice" role="status">
              {notAnIdNotice(openId!)}
            </p>
          ) : preview.error ? (
            <ErrorMessage error={preview.error} onRetry={() => void preview.reload()} />
          ) : null}
          {!preview.data && preview.loading ? <Loading label="Loading the preview…" /> : null}
          {preview.data && shown ? (
            <>
              {/* an approval is a release: said before it is done, as the pane's Release says it */}
              <ReleaseRequests
                message={shown}
                busy={action.busy}
                onDecide={(recipient, decision) =>
                  decision === 'approve' ? setApproving({ id: shown.id, recipient, onlyRecipient: shown.recipients.length === 1 }) : void decide(shown.id, recipient, decision, shown.recipients.length === 1)
                }
              />
              <PaneActions actions={ACTIONS} busy={action.busy} onAction={(act) => start(act, [shown.id], 'pane')} />
              <Preview data={preview.data} />
            </>
          ) : null}
        </DetailPane>
      ) : null}

      <ConfirmDialog
        open={approving !== null}
        title={`Approve the release to ${approving?.recipient ?? ''}?`}
        confirmLabel="Approve release"
        danger
        onCancel={() => setApproving(null)}
        onConfirm={() => {
          const pending = approving!;
          setApproving(null);
          void decide(pending.id, pending.recipient, 'approve', pending.onlyRecipient);
        }}
      >
        <p>The message goes to {approving?.recipient}&apos;s mailbox as it is: whatever the filters found in it (a program, a virus, a forged sender) reaches the mailbox.</p>
      </ConfirmDialog>
      <ConfirmActionDialog
        pending={confirm}
        actions={ACTIONS}
        consequence={(act, count) => ACTIONS.find((item) => item.action === act)?.confirm?.(count) ?? ''}
        onCancel={() => setConfirm(null)}
        onConfirm={(pending) => {
          setConfirm(null);
          void perform(pending.action, pending.ids, pending.source);
        }}
      />
    </div>
  );
}

function QuarantineTable(props: SelectableRowsProps & { rows: readonly Row[] }) {
  const { rows } = props;
  const { body, selectAll, onRowKey, stopProps } = useSelectableRows(rows.map((row) => row.id), props);
  return (
    <div className="table-wrap message-list">
      {/* a grid: one tab stop, the arrows move between rows, ticked rows are its selection */}
      <table className="data-table messages" role="grid" aria-multiselectable="true">
        <caption className="visually-hidden">Quarantined messages, newest first. Enter opens the preview, Space ticks a message, arrow keys move between rows.</caption>
        <thead>
          <tr>
            <th scope="col" className="check">
              {selectAll}
            </th>
            <th scope="col" className="col-time">
              Received
            </th>
            <th scope="col">
              Sender<span className="compact-only"> · Recipients · Subject</span>
            </th>
            <th scope="col" className="wide wide-only">
              Recipients
            </th>
            <th scope="col" className="wide-only">
              Subject
            </th>
            <th scope="col" className="col-reason">
              Reason
            </th>
            <th scope="col" className="num col-score wide-only">
              Score
            </th>
            <th scope="col" className="num wide col-size wide-only">
              Size
            </th>
          </tr>
        </thead>
        <tbody ref={body}>
          {rows.map((row, index) => (
            <MessageRow key={row.id} row={row} index={index} table={props} onRowKey={onRowKey} stopProps={stopProps} recipientsClassName="addr wide">
              <td className="reason-cell" title={row.reason ?? undefined}>
                {row.reason ?? '—'}
                {row.releaseRequests.length > 0 ? <span className="release-request-note">Release asked for by {row.releaseRequests.join(', ')}</span> : null}
                <span className="compact-only cell-note">
                  {row.score === null ? '' : `Score ${formatScore(row.score)} · `}
                  {formatSize(row.size)}
                </span>
              </td>
              <td className="num wide-only">{formatScore(row.score)}</td>
              <td className="num wide wide-only">{formatSize(row.size)}</td>
            </MessageRow>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Header fields and text only, as React text: nothing from the message is rendered as HTML or fetched. */
function Preview({ data }: { data: Output<'quarantine.preview'> }) {
  const { message } = data;
  return (
    <article className="message-detail" aria-label={`Quarantined message ${message.id}`}>
      <h3 className="subject">{message.subject ?? '(no subject)'}</h3>
      <Facts
        items={[
          ['Received', <Time key="at" ms={message.receivedAt} seconds />],
          ['From', senderLabel(message)],
          ['To', message.recipients.join(', ')],
          // who already has their own copy: the message waits for the others only
          ...(data.releasedTo.length ? [['Released to', `${data.releasedTo.join(', ')} (their own copy)`] as const] : []),
          ['Client', message.clientIp ?? '—'],
          ['Reason', message.reason ?? '—'],
          ['Score', formatScore(message.score)],
          ['Size', formatSize(message.size)],
        ]}
      />
      {data.decision ? <DecisionTrace decision={data.decision} heading="h4" /> : null}
      <h4>Header fields</h4>
      <div className="headers-box">
        <table className="compact headers">
          <tbody>
            {data.headers.map((header, index) => (
              <tr key={`${header.name}-${index}`}>
                <th scope="row">{header.name}</th>
                <td>{header.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h4>Text</h4>
      {data.text ? <pre className="preview-text">{data.text}</pre> : <p className="muted">No text part.</p>}
      <h4>Attachments</h4>
      {data.attachments.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ul className="attachments">
          {data.attachments.map((attachment) => (
            <li key={attachment.part}>
              {attachment.filename ?? '(no name)'} <span className="muted">
                {attachment.contentType}
                {attachment.detectedType && attachment.detectedType !== attachment.contentType ? `, looks like ${attachment.detectedType}` : ''} · {formatSize(attachment.size)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </article>
  );
}

/** What an answer to a release request did, in words for the status line. */
function requestReport(outcome: Output<'quarantine.decideRequest'>['outcome'], recipient: string): string {
  if (outcome === 'approved') return `Approved: the message is being delivered to ${recipient}, who gets an e-mail saying so.`;
  if (outcome === 'denied') return `Denied: the message stays in quarantine; ${recipient} gets an e-mail saying so.`;
  return 'Nothing to decide any more: the request was answered already or the message has left the quarantine.';
}

/** Recipients who asked on the user page for the message to be released to them (approval mode): approve or deny each. */
function ReleaseRequests(props: { message: Row; busy: boolean; onDecide: (recipient: string, decision: 'approve' | 'deny') => void }) {
  const { message } = props;
  if (message.releaseRequests.length === 0) return null;
  return (
    <section className="release-requests" aria-label="Release requests">
      <h3>Release requests</h3>
      <ul>
        {message.releaseRequests.map((recipient) => (
          <li key={recipient}>
            <p>
              <strong>{recipient}</strong> asked for this message to be released to them. Approving delivers it to {recipient} only; either way they get an e-mail with your answer.
            </p>
            <div className="request-buttons">
              <button type="button" className="primary" disabled={props.busy} onClick={() => props.onDecide(recipient, 'approve')}>
                Approve release to {recipient}
              </button>
              <button type="button" disabled={props.busy} onClick={() => props.onDecide(recipient, 'deny')}>
                Deny release to {recipient}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}

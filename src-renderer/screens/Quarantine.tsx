import { useEffect, useState } from 'react';
import type { Input, Output } from '../../src-relay/admin/contract.ts';
import { call } from '../api/client.ts';
import { navigate, useAction, useCall, useDebouncedValue, useLiveReload, useNow } from '../api/hooks.ts';
import { DecisionTrace } from '../components/MessageDetail.tsx';
import { Pager } from '../components/Pager.tsx';
import { ActionToolbar } from '../components/ActionToolbar.tsx';
import { MessageRow, useSelectableRows, type SelectableRowsProps } from '../components/MessageRows.tsx';
import { ConfirmDialog, Empty, ErrorMessage, Facts, Loading, PageHeader, TextField, Time } from '../components/ui.tsx';
import { formatCount, formatScore, formatSize } from '../lib/format.ts';
import { formatHash } from '../lib/route.ts';
import { actInSlices, actionTarget, withoutIds } from '../lib/selection.ts';
import { clampOffset, withFilter, type PageState } from '../lib/table.ts';
import { actionReport } from '../lib/words.ts';
import { senderLabel } from '../lib/sender.ts';

type QuarantineAction = Input<'quarantine.act'>['action'];
type Row = Output<'quarantine.list'>['rows'][number];

const ACTIONS: readonly { action: QuarantineAction; label: string; done: string; danger?: boolean }[] = [
  { action: 'release', label: 'Release', done: 'Released' },
  { action: 'release-allow', label: 'Release and allow sender', done: 'Released (senders now allowed)' },
  { action: 'delete', label: 'Delete', done: 'Deleted', danger: true },
];

interface QuarantineTable extends PageState {
  search: string;
}

/** Quarantined messages: the list with reason and score, a safe text-only preview, release or delete. */
export function QuarantineScreen({ openId }: { openId: string | null }) {
  const [table, setTable] = useState<QuarantineTable>({ search: '', offset: 0, limit: 50 });
  const [searchText, setSearchText] = useState('');
  const search = useDebouncedValue(searchText, 300);
  const [selection, setSelection] = useState<ReadonlySet<string>>(new Set());
  const [confirm, setConfirm] = useState<string[] | null>(null);
  const [report, setReport] = useState('');
  const action = useAction();
  const now = useNow(30_000);

  useEffect(() => setTable((state) => (state.search === search ? state : withFilter(state, { search }))), [search]);
  const input: Input<'quarantine.list'> = { offset: table.offset, limit: table.limit, ...(table.search.trim() ? { search: table.search.trim() } : {}) };
  const list = useCall('quarantine.list', input);
  const preview = useCall('quarantine.preview', openId ? { id: openId } : null);
  useLiveReload(['quarantined'], () => void list.reload(), 2000);

  const total = list.data?.total;
  useEffect(() => {
    if (total !== undefined) setTable((state) => clampOffset(state, total));
  }, [total]);

  const open = (id: string | null) => navigate(formatHash({ screen: 'quarantine', params: { id: id ?? undefined } }));
  const target = actionTarget(selection, openId);

  const perform = async (act: QuarantineAction, ids: string[]) => {
    const verb = ACTIONS.find((item) => item.action === act)!.done;
    const result = await action.run(() => actInSlices(ids, (slice) => call('quarantine.act', { action: act, ids: slice })));
    if (!result) return;
    setReport(actionReport(verb, result.done.length, result.gone.length, 'quarantine'));
    setSelection((current) => withoutIds(current, [...result.done, ...result.gone]));
    if (openId && (result.done.includes(openId) || result.gone.includes(openId))) open(null);
    void list.reload();
  };

  const start = (act: QuarantineAction) => {
    if (target.ids.length === 0) return;
    if (act === 'delete') setConfirm(target.ids);
    else void perform(act, target.ids);
  };

  const rows = list.data?.rows ?? [];

  return (
    <div className={`split ${openId ? 'with-pane' : ''}`}>
      <div className="split-main">
        <PageHeader title="Quarantine" />
        <p className="intro">Messages the filters found doubtful wait here. Released ones are delivered as they are; deleted ones are gone for good.</p>
        <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
          <TextField label="Search" type="search" value={searchText} onChange={setSearchText} placeholder="Sender, recipient, subject or reason" />
        </form>
        <ActionToolbar
          label="Quarantine actions"
          actions={ACTIONS}
          target={target}
          busy={action.busy}
          onAction={start}
          selectionSize={selection.size}
          onClearSelection={() => setSelection(new Set())}
          report={report || null}
          error={action.error}
        />

        {list.error && !list.data ? <ErrorMessage error={list.error} onRetry={() => void list.reload()} /> : null}
        {!list.data && list.loading ? <Loading label="Loading the quarantine…" /> : null}
        {list.data ? (
          rows.length === 0 ? (
            <Empty>{table.search ? 'No quarantined message matches.' : 'The quarantine is empty.'}</Empty>
          ) : (
            <QuarantineTable rows={rows} selection={selection} setSelection={setSelection} openId={openId} onOpen={open} now={now} />
          )
        ) : null}
        {list.data ? <Pager total={list.data.total} state={table} what="quarantined messages" onChange={(page) => setTable((state) => ({ ...state, ...page }))} /> : null}
      </div>

      {openId ? (
        <aside className="pane" aria-label="Message preview">
          <div className="pane-header">
            <h2 className="pane-title">Preview</h2>
            <button type="button" className="icon-button" aria-label="Close preview" onClick={() => open(null)}>
              ×
            </button>
          </div>
          {preview.error ? <ErrorMessage error={preview.error} onRetry={() => void preview.reload()} /> : null}
          {!preview.data && preview.loading ? <Loading label="Loading the preview…" /> : null}
          {preview.data && preview.data.message.id === openId ? <Preview data={preview.data} /> : null}
        </aside>
      ) : null}

      <ConfirmDialog
        open={confirm !== null}
        title={confirm ? `Delete ${confirm.length === 1 ? 'this message' : `${formatCount(confirm.length)} messages`}?` : ''}
        confirmLabel="Delete"
        danger
        onCancel={() => setConfirm(null)}
        onConfirm={() => {
          const ids = confirm;
          setConfirm(null);
          if (ids) void perform('delete', ids);
        }}
      >
        <p>Deleted messages cannot be released any more. Nobody is told.</p>
      </ConfirmDialog>
    </div>
  );
}

function QuarantineTable(props: SelectableRowsProps & { rows: readonly Row[] }) {
  const { rows } = props;
  const { body, selectAll, onRowKey } = useSelectableRows(rows.map((row) => row.id), props);
  return (
    <div className="table-wrap">
      <table className="data-table">
        <caption className="visually-hidden">Quarantined messages, newest first. Enter opens the preview, Space ticks a message.</caption>
        <thead>
          <tr>
            <th scope="col" className="check">
              {selectAll}
            </th>
            <th scope="col">Received</th>
            <th scope="col">Sender</th>
            <th scope="col" className="wide">
              Recipients
            </th>
            <th scope="col">Subject</th>
            <th scope="col">Reason</th>
            <th scope="col" className="num">
              Score
            </th>
            <th scope="col" className="num wide">
              Size
            </th>
          </tr>
        </thead>
        <tbody ref={body}>
          {rows.map((row, index) => (
            <MessageRow key={row.id} row={row} index={index} table={props} onRowKey={onRowKey} recipientsClassName="addr wide">
              <td className="subject-cell">{row.subject ?? <span className="muted">(no subject)</span>}</td>
              <td className="reason-cell">{row.reason ?? '—'}</td>
              <td className="num">{formatScore(row.score)}</td>
              <td className="num wide">{formatSize(row.size)}</td>
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
          ['Received', <Time key="at" ms={message.receivedAt} />],
          ['From', senderLabel(message)],
          ['To', message.recipients.join(', ')],
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

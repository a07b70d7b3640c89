import { useEffect, useState } from 'react';
import type { Input, Output } from '../../src-relay/admin/contract.ts';
import { call } from '../api/client.ts';
import { navigate, useAction, useCall, useDebouncedValue, useEvent, useLiveReload, useNow, type CallState } from '../api/hooks.ts';
import { MessageDetail } from '../components/MessageDetail.tsx';
import { Pager } from '../components/Pager.tsx';
import { ActionToolbar } from '../components/ActionToolbar.tsx';
import { QueueViewTabs } from '../components/QueueViewTabs.tsx';
import { MessageRow, useSelectableRows, type SelectableRowsProps } from '../components/MessageRows.tsx';
import { Badge, ConfirmDialog, Empty, ErrorMessage, Loading, PageHeader, SelectField, TextField, Time } from '../components/ui.tsx';
import { formatCount, formatSize } from '../lib/format.ts';
import { formatHash } from '../lib/route.ts';
import { actInSlices, actionTarget, withoutIds } from '../lib/selection.ts';
import { ariaSort, clampOffset, initialQueueTable, toggleSort, toQueueListInput, withFilter, type QueueRouteFilter, type QueueSort, type QueueStatusFilter, type QueueTableState } from '../lib/table.ts';
import { actionReport, QUEUE_STATUS, ROUTE_LABEL } from '../lib/words.ts';

type QueueSummary = Output<'queue.summary'>;
type QueueAction = Input<'queue.act'>['action'];
type Row = Output<'queue.list'>['rows'][number];

const ACTIONS: readonly { action: QueueAction; label: string; done: string; danger?: boolean }[] = [
  { action: 'retry', label: 'Retry', done: 'Scheduled for delivery now:' },
  { action: 'hold', label: 'Hold', done: 'Held' },
  { action: 'release', label: 'Release', done: 'Released' },
  { action: 'delete', label: 'Delete', done: 'Deleted', danger: true },
  { action: 'bounce', label: 'Bounce', done: 'Bounced', danger: true },
];

/** Live events that change what the queue table shows. */
const QUEUE_EVENTS = ['queue', 'received', 'delivered', 'deferred', 'bounced'] as const;

export function QueueScreen({ summary, openId }: { summary: CallState<QueueSummary>; openId: string | null }) {
  const [table, setTable] = useState<QueueTableState>(initialQueueTable);
  const [searchText, setSearchText] = useState('');
  const search = useDebouncedValue(searchText, 300);
  const [selection, setSelection] = useState<ReadonlySet<string>>(new Set());
  const [confirm, setConfirm] = useState<{ action: QueueAction; ids: string[] } | null>(null);
  const [report, setReport] = useState('');
  const action = useAction();
  const now = useNow(30_000);

  useEffect(() => setTable((state) => (state.search === search ? state : withFilter(state, { search }))), [search]);

  const list = useCall('queue.list', toQueueListInput(table));
  const detail = useCall('queue.show', openId ? { id: openId } : null);
  useLiveReload(QUEUE_EVENTS, () => void list.reload(), 2000);
  const reloadDetail = () => {
    if (openId) void detail.reload();
  };
  useEvent('delivered', (event) => event.id === openId && reloadDetail());
  useEvent('deferred', (event) => event.id === openId && reloadDetail());
  useEvent('bounced', (event) => event.id === openId && reloadDetail());

  const total = list.data?.total;
  useEffect(() => {
    if (total !== undefined) setTable((state) => clampOffset(state, total));
  }, [total]);

  const open = (id: string | null) => navigate(formatHash({ screen: 'queue', params: { id: id ?? undefined } }));
  const target = actionTarget(selection, openId);

  const perform = async (act: QueueAction, ids: string[]) => {
    const verb = ACTIONS.find((item) => item.action === act)!.done;
    const result = await action.run(() => actInSlices(ids, (slice) => call('queue.act', { action: act, ids: slice })));
    if (!result) return;
    setReport(actionReport(verb, result.done.length, result.gone.length));
    const leaving = act === 'delete' || act === 'bounce' ? [...result.done, ...result.gone] : result.gone;
    setSelection((current) => withoutIds(current, leaving));
    if (openId && leaving.includes(openId)) open(null);
    else reloadDetail();
    void list.reload();
    void summary.reload();
  };

  const start = (act: QueueAction) => {
    if (target.ids.length === 0) return;
    if (act === 'delete' || act === 'bounce') setConfirm({ action: act, ids: target.ids });
    else void perform(act, target.ids);
  };

  const wholeQueue = async (kind: 'retryAll' | 'holdAll' | 'releaseAll') => {
    if (kind === 'retryAll') {
      const result = await action.run(() => call('queue.retryAll', {}));
      if (result) setReport(`${formatCount(result.count)} ${result.count === 1 ? 'recipient is' : 'recipients are'} due for delivery now.`);
    } else {
      const result = await action.run(() => call(kind === 'holdAll' ? 'queue.holdAll' : 'queue.releaseAll', {}));
      if (result) {
        summary.setData(() => result);
        setReport(kind === 'holdAll' ? 'Delivery is paused: nothing leaves the queue until you resume it.' : 'Delivery resumed.');
      }
    }
    void list.reload();
  };

  const rows = list.data?.rows ?? [];
  const filtered = Boolean(table.search || table.status || table.route);
  const paused = summary.data?.queueHeld === true;

  return (
    <div className={`split ${openId ? 'with-pane' : ''}`}>
      <div className="split-main">
        <PageHeader title="Queue">
          <button type="button" onClick={() => void wholeQueue('retryAll')} disabled={action.busy}>
            Retry all now
          </button>
          {paused ? (
            <button type="button" className="primary" onClick={() => void wholeQueue('releaseAll')} disabled={action.busy}>
              Resume delivery
            </button>
          ) : (
            <button type="button" onClick={() => void wholeQueue('holdAll')} disabled={action.busy}>
              Pause delivery
            </button>
          )}
        </PageHeader>
        <QueueViewTabs view="messages" />
        {paused ? (
          <div className="banner tone-warning" role="status">
            Delivery is paused: messages are taken in and kept, but nothing is sent until you resume.
          </div>
        ) : null}

        <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
          <TextField label="Search" type="search" value={searchText} onChange={setSearchText} placeholder="Sender, recipient, subject or id" />
          <SelectField<QueueStatusFilter>
            label="Status"
            value={table.status}
            onChange={(status) => setTable((state) => withFilter(state, { status }))}
            options={[
              { value: '', label: 'All' },
              { value: 'waiting', label: 'Waiting' },
              { value: 'deferred', label: 'Retrying' },
              { value: 'held', label: 'Held' },
            ]}
          />
          <SelectField<QueueRouteFilter>
            label="Route"
            value={table.route}
            onChange={(route) => setTable((state) => withFilter(state, { route }))}
            options={[
              { value: '', label: 'All' },
              { value: 'internal', label: 'Internal server' },
              { value: 'outbound', label: 'Internet' },
            ]}
          />
        </form>

        <ActionToolbar
          label="Message actions"
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
        {!list.data && list.loading ? <Loading label="Loading the queue…" /> : null}
        {list.data ? (
          rows.length === 0 ? (
            <Empty>{filtered ? 'No queued message matches these filters.' : 'The queue is empty: everything has been delivered.'}</Empty>
          ) : (
            <QueueTable rows={rows} table={table} onSort={(sort) => setTable((state) => toggleSort(state, sort))} selection={selection} setSelection={setSelection} openId={openId} onOpen={open} now={now} />
          )
        ) : null}
        {list.data ? <Pager total={list.data.total} state={table} what="queued messages" onChange={(page) => setTable((state) => ({ ...state, ...page }))} /> : null}
      </div>

      {openId ? (
        <aside className="pane" aria-label="Message details">
          <div className="pane-header">
            <h2 className="pane-title">Message details</h2>
            <button type="button" className="icon-button" aria-label="Close details" onClick={() => open(null)}>
              ×
            </button>
          </div>
          {detail.error ? <ErrorMessage error={detail.error} onRetry={() => void detail.reload()} /> : null}
          {!detail.data && detail.loading ? <Loading label="Loading the message…" /> : null}
          {detail.data && detail.data.id === openId ? <MessageDetail message={detail.data} headingLevel={3} /> : null}
          {detail.data && detail.data.id === openId ? (
            <p>
              <a href={formatHash({ screen: 'tracking', params: { id: openId } })}>Open in message tracking</a>
            </p>
          ) : null}
        </aside>
      ) : null}

      <ConfirmDialog
        open={confirm !== null}
        title={confirm ? `${confirm.action === 'delete' ? 'Delete' : 'Bounce'} ${confirm.ids.length === 1 ? 'this message' : `${formatCount(confirm.ids.length)} messages`}?` : ''}
        confirmLabel={confirm?.action === 'delete' ? 'Delete' : 'Bounce'}
        danger
        onCancel={() => setConfirm(null)}
        onConfirm={() => {
          const pending = confirm;
          setConfirm(null);
          if (pending) void perform(pending.action, pending.ids);
        }}
      >
        <p>
          {confirm?.action === 'delete'
            ? 'The message is removed from the queue for good. Nobody is told.'
            : 'The sender gets a bounce report (DSN) saying the message was not delivered, and the message leaves the queue.'}
        </p>
      </ConfirmDialog>
    </div>
  );
}

/** Columns marked `wide` give way to the detail pane at 1280 px (the pane shows them anyway). */
const COLUMNS: readonly { label: string; sort?: QueueSort; className?: string }[] = [
  { label: 'Received', sort: 'receivedAt', className: 'nowrap' },
  { label: 'Sender', sort: 'sender' },
  { label: 'Recipients', sort: 'recipient' },
  { label: 'Subject' },
  { label: 'Status' },
  { label: 'Route', className: 'wide' },
  { label: 'Attempts', sort: 'attempts', className: 'num wide' },
  { label: 'Next try', sort: 'nextAttemptAt', className: 'nowrap wide' },
  { label: 'Size', sort: 'size', className: 'num wide' },
];

function QueueTable(props: SelectableRowsProps & { rows: readonly Row[]; table: QueueTableState; onSort: (sort: QueueSort) => void }) {
  const { rows, table } = props;
  const { body, selectAll, onRowKey } = useSelectableRows(rows.map((row) => row.id), props);

  return (
    <div className="table-wrap">
      <table className="data-table">
        <caption className="visually-hidden">Queued messages. Enter opens a message, Space ticks it, arrow keys move between rows.</caption>
        <thead>
          <tr>
            <th scope="col" className="check">
              {selectAll}
            </th>
            {COLUMNS.map((column) => (
              <th key={column.label} scope="col" className={column.className} aria-sort={column.sort ? ariaSort(table, column.sort) : undefined}>
                {column.sort ? (
                  <button type="button" className="sort-button" onClick={() => props.onSort(column.sort!)}>
                    {column.label}
                    <span aria-hidden="true" className="sort-mark">
                      {table.sort === column.sort ? (table.direction === 'asc' ? '▲' : '▼') : ''}
                    </span>
                  </button>
                ) : (
                  column.label
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody ref={body}>
          {rows.map((row, index) => {
            const status = QUEUE_STATUS[row.status];
            return (
              <MessageRow key={row.id} row={row} index={index} table={props} onRowKey={onRowKey}>
                <td className="subject-cell">{row.subject ?? <span className="muted">(no subject)</span>}</td>
                <td>
                  <Badge tone={status.tone}>{status.label}</Badge>
                  {row.lastReply ? <span className="reply-line" title={row.lastReply}>{row.lastReply}</span> : null}
                </td>
                <td className="wide">{ROUTE_LABEL[row.route]}</td>
                <td className="num wide">{row.attempts}</td>
                <td className="nowrap wide">{row.status === 'held' ? <span className="muted">held</span> : <Time ms={row.nextAttemptAt} relative now={props.now} />}</td>
                <td className="num wide">{formatSize(row.size)}</td>
              </MessageRow>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

import { useEffect, useState } from 'react';
import type { Input, Output } from '../../src-relay/admin/contract.ts';
import { ApiFailure, call } from '../api/client.ts';
import { navigate, useAction, useCall, useDebouncedValue, useEvent, useLiveReload, useNow, type CallState } from '../api/hooks.ts';
import { DetailPane, MessageDetail } from '../components/MessageDetail.tsx';
import { Pager } from '../components/Pager.tsx';
import { ActionResult, ActionToolbar, ConfirmActionDialog, PaneActions, type PendingConfirm, type ToolbarAction } from '../components/ActionToolbar.tsx';
import { QueueViewTabs } from '../components/QueueViewTabs.tsx';
import { MessageRow, useSelectableRows, type SelectableRowsProps } from '../components/MessageRows.tsx';
import { Badge, Empty, ErrorMessage, Loading, PageHeader, SelectField, TextField, Time } from '../components/ui.tsx';
import { formatCount, formatSize } from '../lib/format.ts';
import { formatHash } from '../lib/route.ts';
import { actInSlices, nameMessages, rememberRows, ticksAfter, type MessageLabel } from '../lib/selection.ts';
import { ariaSort, clampOffset, initialQueueTable, queueFilterFromParams, toggleSort, toQueueListInput, withFilter, type QueueRouteFilter, type QueueSort, type QueueStatusFilter, type QueueTableState } from '../lib/table.ts';
import { actionReport, notAnIdNotice, QUEUE_STATUS, retryAllReport, retryAllSettled, ROUTE_LABEL, type RetryAllOutcome } from '../lib/words.ts';
import { PlainError } from '../components/PlainError.tsx';

type QueueSummary = Output<'queue.summary'>;
type QueueAction = Input<'queue.act'>['action'];
type Row = Output<'queue.list'>['rows'][number];

const ACTIONS: readonly (ToolbarAction<QueueAction> & { done: string; confirm?: (count: number) => string; undo?: QueueAction; already?: string })[] = [
  { action: 'retry', verb: 'Retry', paneLabel: 'Retry this message now', done: 'Scheduled for delivery now:' },
  { action: 'hold', verb: 'Hold', paneLabel: 'Hold this message', done: 'Held', undo: 'release', already: 'held already' },
  { action: 'release', verb: 'Release', paneLabel: 'Release this message', done: 'Released', already: 'not held: nothing to release' },
  { action: 'delete', verb: 'Delete', paneLabel: 'Delete this message', done: 'Deleted', danger: true, confirm: (count) => `${count === 1 ? 'It is' : 'They are'} removed from the queue for good. Nobody is told.` },
  {
    action: 'bounce',
    verb: 'Bounce',
    paneLabel: 'Bounce this message',
    done: 'Bounced',
    danger: true,
    confirm: (count) =>
      count === 1
        ? 'The message leaves the queue, and a bounce report (DSN) saying it was not delivered is sent to its sender (junk often has a sender that takes no mail: Message tracking shows whether the report arrived).'
        : 'The messages leave the queue, and a bounce report (DSN) saying each was not delivered is sent to its sender (junk often has a sender that takes no mail: Message tracking shows whether the report arrived).',
  },
];

/** Live events that change what the queue table shows. */
const QUEUE_EVENTS = ['queue', 'received', 'delivered', 'deferred', 'bounced'] as const;

export function QueueScreen({ summary, openId, params = {} }: { summary: CallState<QueueSummary>; openId: string | null; params?: Record<string, string> }) {
  const [table, setTable] = useState<QueueTableState>(() => withFilter(initialQueueTable, queueFilterFromParams(params)));
  // a link (a desktop notification) that names filters sets them; the admin can change them afterwards
  const linkedStatus = params.status;
  const linkedRoute = params.route;
  useEffect(() => {
    const linked = queueFilterFromParams({ ...(linkedStatus ? { status: linkedStatus } : {}), ...(linkedRoute ? { route: linkedRoute } : {}) });
    if (linked.status || linked.route) setTable((state) => withFilter(state, linked));
  }, [linkedStatus, linkedRoute]);
  const [searchText, setSearchText] = useState('');
  const search = useDebouncedValue(searchText, 300);
  const [selection, setSelection] = useState<ReadonlySet<string>>(new Set());
  const [confirm, setConfirm] = useState<PendingConfirm<QueueAction> | null>(null);
  const [report, setReport] = useState<{ text: string; undo: (() => void) | null } | null>(null);
  const [retryAll, setRetryAll] = useState<RetryAllOutcome | null>(null);
  const countOutcome = (key: 'delivered' | 'deferred' | 'bounced', reply?: string) =>
    setRetryAll((current) => (current && !retryAllSettled(current) ? { ...current, [key]: current[key] + 1, lastReply: reply ?? current.lastReply } : current));
  // sender and subject of the rows seen, for confirmations that name ticked messages on other pages
  const [known, setKnown] = useState<ReadonlyMap<string, MessageLabel>>(new Map());
  const action = useAction();
  const now = useNow(30_000);

  useEffect(() => setTable((state) => (state.search === search ? state : withFilter(state, { search }))), [search]);

  const list = useCall('queue.list', toQueueListInput(table));
  const detail = useCall('queue.show', openId ? { id: openId } : null);
  useLiveReload(QUEUE_EVENTS, () => void list.reload(), 2000);
  const reloadDetail = () => {
    if (openId) void detail.reload();
  };
  // held, released or deleted in another window: the queue's event refreshes the open pane as it does the list
  useLiveReload(['queue'], reloadDetail, 2000);
  useEvent('delivered', (event) => {
    countOutcome('delivered');
    if (event.id === openId) reloadDetail();
  });
  useEvent('deferred', (event) => {
    countOutcome('deferred', event.reply);
    if (event.id === openId) reloadDetail();
  });
  useEvent('bounced', (event) => {
    countOutcome('bounced');
    if (event.id === openId) reloadDetail();
  });

  const total = list.data?.total;
  useEffect(() => {
    if (total !== undefined) setTable((state) => clampOffset(state, total));
  }, [total]);

  const listRows = list.data?.rows;
  useEffect(() => {
    if (listRows) setKnown((current) => rememberRows(current, listRows, selection));
  }, [listRows, selection]);

  const open = (id: string | null) => navigate(formatHash({ screen: 'queue', params: { id: id ?? undefined } }));
  // the pane's buttons act on the message it shows, once it shows it
  const shown = detail.data && detail.data.id === openId ? detail.data : null;

  const perform = async (act: QueueAction, ids: string[], source: 'bulk' | 'pane') => {
    const item = ACTIONS.find((candidate) => candidate.action === act)!;
    const result = await action.run(() => actInSlices(ids, (slice) => call('queue.act', { action: act, ids: slice })));
    if (!result) return;
    setRetryAll(null);
    const undoAction = item.undo;
    const undoIds = result.done;
    setReport({
      text: actionReport(item.done, result.done.length, result.gone.length, 'queue', item.already ? { count: result.unchanged.length, already: item.already } : undefined),
      undo: undoAction && undoIds.length ? () => void perform(undoAction, undoIds, 'pane') : null,
    });
    const leaving = act === 'delete' || act === 'bounce' ? [...result.done, ...result.gone] : result.gone;
    setSelection((current) => ticksAfter(current, source, leaving));
    if (openId && leaving.includes(openId)) open(null);
    else reloadDetail();
    void list.reload();
    void summary.reload();
  };

  const start = (act: QueueAction, ids: string[], source: 'bulk' | 'pane') => {
    if (ids.length === 0) return;
    if (ACTIONS.find((item) => item.action === act)?.confirm) setConfirm({ action: act, ids, source, names: nameMessages(ids, shown ? new Map([...known, [shown.id, { id: shown.id, sender: shown.sender, subject: shown.subject }]]) : known) });
    else void perform(act, ids, source);
  };

  /** What the pane offers for the message it shows: nothing once it left the queue; Hold or Release, not both. */
  const paneActions = shown && shown.status === 'queued' ? ACTIONS.filter((item) => (shown.held ? item.action !== 'hold' && item.action !== 'retry' : item.action !== 'release')) : [];

  const wholeQueue = async (kind: 'retryAll' | 'holdAll' | 'resume') => {
    setRetryAll(null);
    if (kind === 'retryAll') {
      const result = await action.run(() => call('queue.retryAll', {}));
      // the tries' outcomes come as events: the line counts them (a server still down says so here, not only in the rows)
      if (result) {
        setReport(null);
        setRetryAll({ due: result.count, paused: summary.data?.queueHeld === true, delivered: 0, deferred: 0, bounced: 0, lastReply: null });
      }
    } else {
      const result = await action.run(() => call(kind === 'holdAll' ? 'queue.holdAll' : 'queue.resume', {}));
      if (result) {
        summary.replaceData(result);
        setReport({ text: kind === 'holdAll' ? 'Delivery paused.' : resumedReport(result.held), undo: null });
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
            <button type="button" className="primary" onClick={() => void wholeQueue('resume')} disabled={action.busy}>
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
        <ActionResult report={retryAll ? retryAllReport(retryAll) : (report?.text ?? null)} undo={retryAll ? null : (report?.undo ?? null)} busy={action.busy} error={action.error} />

        {list.error && !list.data ? <ErrorMessage error={list.error} onRetry={() => void list.reload()} /> : null}
        {!list.data && list.loading ? <Loading label="Loading the queue…" /> : null}
        {list.data ? (
          rows.length === 0 ? (
            <Empty>{filtered ? 'No queued message matches these filters.' : 'The queue is empty.'}</Empty>
          ) : (
            <QueueTable rows={rows} table={table} paused={paused} onSort={(sort) => setTable((state) => toggleSort(state, sort))} selection={selection} setSelection={setSelection} openId={openId} onOpen={open} now={now} />
          )
        ) : null}
        {list.data && list.data.total > 0 ? <Pager total={list.data.total} state={table} what="queued messages" onChange={(page) => setTable((state) => ({ ...state, ...page }))} /> : null}
      </div>

      {openId ? (
        <DetailPane label="Message details" title="Message details" closeLabel="Close details" openId={openId} onClose={() => open(null)} ticked={selection.size}>
          {detail.error instanceof ApiFailure && detail.error.code === 'INVALID_INPUT' ? (
            <p className="notice" role="status">
              {notAnIdNotice(openId)}
            </p>
          ) : detail.error ? (
            <ErrorMessage error={detail.error} onRetry={() => void detail.reload()} />
          ) : null}
          {!detail.data && detail.loading ? <Loading label="Loading the message…" /> : null}
          {shown ? (
            <>
              <PaneActions actions={paneActions} busy={action.busy} onAction={(act) => start(act, [shown.id], 'pane')} />
              <MessageDetail message={shown} headingLevel={3} paused={paused} />
              <p>
                <a href={formatHash({ screen: 'tracking', params: { id: shown.id } })}>Open in message tracking</a>
              </p>
            </>
          ) : null}
        </DetailPane>
      ) : null}

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

/**
 * Columns marked `wide` give way to the detail pane at 1280 px (the pane shows them anyway). The table's layout is
 * fixed: the `col-*` columns have set widths, sender, recipients and subject share the rest, so it never scrolls
 * sideways however long an address or subject is. Columns marked `wide-only` are left out of a narrow table
 * (styles.css, the `message-list` container): recipients and subject show under the sender, route, attempts and the
 * next try under the status; the size is in the detail pane.
 */
const COLUMNS: readonly { label: string; sort?: QueueSort; className?: string }[] = [
  { label: 'Received', sort: 'receivedAt', className: 'nowrap col-time' },
  { label: 'Sender', sort: 'sender' },
  { label: 'Recipients', sort: 'recipient', className: 'wide-only' },
  { label: 'Subject', className: 'wide-only' },
  { label: 'Status', className: 'col-status' },
  { label: 'Route', className: 'wide col-route wide-only' },
  { label: 'Attempts', sort: 'attempts', className: 'num wide col-attempts wide-only' },
  { label: 'Next try', sort: 'nextAttemptAt', className: 'nowrap wide col-next wide-only' },
  { label: 'Size', sort: 'size', className: 'num wide col-size wide-only' },
];

function QueueTable(props: SelectableRowsProps & { rows: readonly Row[]; table: QueueTableState; paused: boolean; onSort: (sort: QueueSort) => void }) {
  const { rows, table } = props;
  const { body, selectAll, onRowKey, stopProps } = useSelectableRows(rows.map((row) => row.id), props);
  const sortButton = (label: string, sort: QueueSort) => (
    <button type="button" className="sort-button" onClick={() => props.onSort(sort)}>
      {label}
      <span aria-hidden="true" className="sort-mark">
        {table.sort === sort ? (table.direction === 'asc' ? '▲' : '▼') : ''}
      </span>
    </button>
  );

  return (
    <div className="table-wrap message-list">
      {/* a grid: one tab stop, the arrows move between rows, ticked rows are its selection */}
      <table className="data-table messages" role="grid" aria-multiselectable="true">
        <caption className="visually-hidden">Queued messages. Enter opens a message, Space ticks it, arrow keys move between rows.</caption>
        <thead>
          <tr>
            <th scope="col" className="check">
              {selectAll}
            </th>
            {COLUMNS.map((column) => (
              <th key={column.label} scope="col" className={column.className} aria-sort={column.sort ? ariaSort(table, column.sort) : undefined}>
                {column.sort ? sortButton(column.label, column.sort) : column.label}
                {/* a narrow table's sender column holds recipients and subject too: so does its header, with their sort */}
                {column.sort === 'sender' ? (
                  <span className="compact-only">
                    {' · '}
                    {sortButton('Recipients', 'recipient')}
                    {' · Subject'}
                  </span>
                ) : null}
              </th>
            ))}
          </tr>
        </thead>
        <tbody ref={body}>
          {rows.map((row, index) => {
            const status = QUEUE_STATUS[row.status];
            return (
              <MessageRow key={row.id} row={row} index={index} table={props} onRowKey={onRowKey} stopProps={stopProps}>
                <td>
                  <Badge tone={status.tone}>{status.label}</Badge>
                  {row.lastReply ? <PlainError raw={row.lastReply} compact className="reply-line" /> : null}
                  <span className="compact-only cell-note">
                    {ROUTE_LABEL[row.route]} · {row.attempts} {row.attempts === 1 ? 'attempt' : 'attempts'}
                  </span>
                  {row.status === 'held' ? null : (
                    <span className="compact-only cell-note">
                      {props.paused ? 'Paused' : <>Next try <Time ms={row.nextAttemptAt} relative now={props.now} /></>}
                    </span>
                  )}
                </td>
                <td className="wide wide-only">{ROUTE_LABEL[row.route]}</td>
                <td className="num wide wide-only">{row.attempts}</td>
                {/* while delivery is paused no try comes, whatever time the schedule says */}
                <td className="nowrap wide wide-only">{row.status === 'held' ? <span className="muted">held</span> : props.paused ? <span className="muted">paused</span> : <Time ms={row.nextAttemptAt} relative now={props.now} />}</td>
                <td className="num wide wide-only">{formatSize(row.size)}</td>
              </MessageRow>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** Resume lifts the pause only: a message held on its own (until someone checked it) is not sent with the rest. */
function resumedReport(stillHeld: number): string {
  if (stillHeld === 0) return 'Delivery resumed.';
  return stillHeld === 1
    ? 'Delivery resumed. One message held on its own stays held: release it from its row when it may go.'
    : `Delivery resumed. ${formatCount(stillHeld)} messages held on their own stay held: release them from their rows when they may go.`;
}

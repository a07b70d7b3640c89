import { useEffect, useRef, type KeyboardEvent, type ReactNode } from 'react';
import { formatDuration } from '../lib/format.ts';
import { pageSelectionState, setAll, toggleId } from '../lib/selection.ts';
import { moveIndex } from '../lib/table.ts';
import { summarizeList } from '../lib/words.ts';
import { senderKey, senderLabel } from '../lib/sender.ts';

type Selection = ReadonlySet<string>;

/** What a table of messages that can be ticked and opened gets from its screen (queue, quarantine). */
export interface SelectableRowsProps {
  selection: Selection;
  setSelection: (update: (current: Selection) => Selection) => void;
  openId: string | null;
  onOpen: (id: string) => void;
  now: number;
}

/**
 * The page's "select all" box (indeterminate when some are ticked) and the rows' keys: Enter opens, Space ticks,
 * the arrows, Home and End move between rows; Tab goes row to row (each row is one tab stop).
 */
export function useSelectableRows(ids: readonly string[], props: SelectableRowsProps) {
  const body = useRef<HTMLTableSectionElement>(null);
  const header = useRef<HTMLInputElement>(null);
  const pageState = pageSelectionState(props.selection, ids);
  useEffect(() => {
    if (header.current) header.current.indeterminate = pageState === 'some';
  }, [pageState]);
  const onRowKey = (event: KeyboardEvent<HTMLTableRowElement>, index: number, id: string) => {
    if (event.target !== event.currentTarget) return;
    if (event.key === 'Enter') {
      event.preventDefault();
      props.onOpen(id);
    } else if (event.key === ' ') {
      event.preventDefault();
      props.setSelection((current) => toggleId(current, id));
    } else if (['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(event.key)) {
      event.preventDefault();
      body.current?.querySelectorAll<HTMLTableRowElement>('tr')[moveIndex(index, event.key, ids.length)]?.focus();
    }
  };
  const selectAll = (
    <input ref={header} type="checkbox" aria-label="Select all on this page" checked={pageState === 'all'} onChange={(event) => props.setSelection((current) => setAll(current, ids, event.target.checked))} />
  );
  return { body, selectAll, onRowKey };
}

/** One message row: its tick box, age, sender, recipients and subject, then the screen's own cells. */
export function MessageRow(props: {
  row: { id: string; sender: string; senderName?: string | null; recipients: readonly string[]; subject: string | null; receivedAt: number };
  index: number;
  table: SelectableRowsProps;
  onRowKey: ReturnType<typeof useSelectableRows>['onRowKey'];
  recipientsClassName?: string;
  children: ReactNode;
}) {
  const { row, table } = props;
  const ticked = table.selection.has(row.id);
  const open = table.openId === row.id;
  const who = `${senderKey(row)} to ${summarizeList(row.recipients)}`;
  return (
    <tr
      tabIndex={0}
      data-row-id={row.id}
      aria-label={`Message from ${who}`}
      aria-current={open ? 'true' : undefined}
      className={`${ticked ? 'ticked' : ''} ${open ? 'open' : ''}`}
      onClick={() => table.onOpen(row.id)}
      onKeyDown={(event) => props.onRowKey(event, props.index, row.id)}
    >
      <td className="check" onClick={(event) => event.stopPropagation()}>
        {/* one tab stop a row: the row itself (Space ticks it); the box is for the mouse and screen readers */}
        <input type="checkbox" tabIndex={-1} aria-label={`Select the message from ${who}`} checked={ticked} onChange={() => table.setSelection((current) => toggleId(current, row.id))} />
      </td>
      <td className="nowrap" title={new Date(row.receivedAt).toLocaleString()}>
        {formatDuration(table.now - row.receivedAt)} ago
      </td>
      <MessageCell sender={senderLabel(row)} recipients={row.recipients} subject={row.subject} noSubject="(no subject)" />
      {/* a cut cell shows the whole of it on hover: all the recipients, not "and 2 more" cut away */}
      <td className={`${props.recipientsClassName ?? 'addr'} wide-only`} title={row.recipients.join(', ')}>
        {summarizeList(row.recipients, 1)}
      </td>
      <td className="subject-cell wide-only" title={row.subject ?? undefined}>
        {row.subject ?? <span className="muted">(no subject)</span>}
      </td>
      {props.children}
    </tr>
  );
}

/**
 * The sender's cell of a message table. In a table too narrow for a column each (styles.css, the `message-list`
 * container), the recipients and the subject show under the sender, where their own columns are left out.
 */
export function MessageCell(props: { sender: string; recipients: readonly string[]; subject: string | null; noSubject: string }) {
  return (
    <td className="addr message-cell" title={props.sender}>
      <span className="message-sender">{props.sender}</span>
      <span className="compact-only message-to" title={props.recipients.join(', ')}>
        to {summarizeList(props.recipients, 1)}
      </span>
      <span className="compact-only message-subject" title={props.subject ?? undefined}>
        {props.subject ?? <span className="muted">{props.noSubject}</span>}
      </span>
    </td>
  );
}

import { useEffect, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { formatDuration } from '../lib/format.ts';
import { pageSelectionState, setAll, toggleId } from '../lib/selection.ts';
import { MOVE_KEYS, moveIndex, rovingStop } from '../lib/table.ts';
import { summarizeList } from '../lib/words.ts';
import { senderKey, senderLabel } from '../lib/sender.ts';
import { AddressText } from './ui.tsx';

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
 * A list that is one tab stop (roving tabindex, as a grid or listbox is): the stop is one row's `data-roving` element
 * (tabIndex 0, the others -1), the one focused last, so Tab leaves the list and Shift+Tab comes back to that row. The
 * arrows, Home and End move the focus between rows. `keys`: one per row, in order; `open`: the row whose pane is open.
 */
export function useRovingRows(keys: readonly string[], open: string | null) {
  const body = useRef<HTMLTableSectionElement>(null);
  const [last, setLast] = useState<string | null>(null);
  const stop = rovingStop(keys, last, open);
  /** The focus to the row a key names; false for another key. */
  const move = (index: number, key: string): boolean => {
    if (!MOVE_KEYS.includes(key)) return false;
    body.current?.querySelectorAll<HTMLElement>('[data-roving]')[moveIndex(index, key, keys.length)]?.focus();
    return true;
  };
  /** What the row's focusable element takes: its tabIndex, and that it becomes the stop when focused (click, arrow, pane closed). */
  const stopProps = (key: string) => ({ tabIndex: key === stop ? 0 : -1, 'data-roving': '', onFocus: () => setLast(key) });
  return { body, move, stopProps };
}

/**
 * The page's "select all" box (indeterminate when some are ticked) and the rows' keys: Enter opens, Space ticks,
 * the arrows, Home and End move between rows; the list is one tab stop (useRovingRows).
 */
export function useSelectableRows(ids: readonly string[], props: SelectableRowsProps) {
  const header = useRef<HTMLInputElement>(null);
  const roving = useRovingRows(ids, props.openId);
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
    } else if (roving.move(index, event.key)) {
      event.preventDefault();
    }
  };
  const selectAll = (
    <input ref={header} type="checkbox" aria-label="Select all on this page" checked={pageState === 'all'} onChange={(event) => props.setSelection((current) => setAll(current, ids, event.target.checked))} />
  );
  return { body: roving.body, selectAll, onRowKey, stopProps: roving.stopProps };
}

/** One message row: its tick box, age, sender, recipients and subject, then the screen's own cells. */
export function MessageRow(props: {
  row: { id: string; sender: string; senderName?: string | null; recipients: readonly string[]; subject: string | null; receivedAt: number };
  index: number;
  table: SelectableRowsProps;
  onRowKey: ReturnType<typeof useSelectableRows>['onRowKey'];
  stopProps: ReturnType<typeof useSelectableRows>['stopProps'];
  recipientsClassName?: string;
  children: ReactNode;
}) {
  const { row, table } = props;
  const ticked = table.selection.has(row.id);
  const open = table.openId === row.id;
  const who = `${senderKey(row)} to ${summarizeList(row.recipients)}`;
  return (
    <tr
      {...props.stopProps(row.id)}
      data-row-id={row.id}
      aria-label={`Message from ${who}`}
      aria-selected={ticked}
      aria-current={open ? 'true' : undefined}
      className={`${ticked ? 'ticked' : ''} ${open ? 'open' : ''}`}
      onClick={() => table.onOpen(row.id)}
      onKeyDown={(event) => props.onRowKey(event, props.index, row.id)}
    >
      <td className="check" onClick={(event) => event.stopPropagation()}>
        {/* the row is the focus (Space ticks it); the box is for the mouse and screen readers */}
        <input type="checkbox" tabIndex={-1} aria-label={`Select the message from ${who}`} checked={ticked} onChange={() => table.setSelection((current) => toggleId(current, row.id))} />
      </td>
      <td className="nowrap" title={new Date(row.receivedAt).toLocaleString()}>
        {formatDuration(table.now - row.receivedAt)} ago
      </td>
      <MessageCell sender={senderLabel(row)} recipients={row.recipients} subject={row.subject} noSubject="(no subject)" />
      {/* a cut cell shows the whole of it on hover: all the recipients, not "and 2 more" cut away */}
      <td className={`${props.recipientsClassName ?? 'addr'} wide-only`} title={row.recipients.join(', ')}>
        <span className="cell-text"><AddressText text={summarizeList(row.recipients, 1)} /></span>
      </td>
      <td className="subject-cell wide-only" title={row.subject ?? undefined}>
        <span className="cell-text">{row.subject ?? <span className="muted">(no subject)</span>}</span>
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
      <span className="message-sender"><AddressText text={props.sender} /></span>
      <span className="compact-only message-to" title={props.recipients.join(', ')}>
        to <AddressText text={summarizeList(props.recipients, 1)} />
      </span>
      <span className="compact-only message-subject" title={props.subject ?? undefined}>
        {props.subject ?? <span className="muted">{props.noSubject}</span>}
      </span>
    </td>
  );
}

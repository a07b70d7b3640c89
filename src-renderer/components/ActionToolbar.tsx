import { useEffect, useRef } from 'react';
import type { ApiFailure } from '../api/client.ts';
import { formatCount } from '../lib/format.ts';
import { bulkLabel, confirmLabel, confirmTitle, type NamedMessages } from '../lib/selection.ts';
import { ConfirmDialog, ErrorMessage } from './ui.tsx';

export interface ToolbarAction<A extends string> {
  action: A;
  /** The verb: "Delete" (the bulk button says "Delete 3 selected"). */
  verb: string;
  /** The pane's button for its one message: "Delete this message". */
  paneLabel: string;
  /** The bulk button's label when the verb alone would not do ("Release 3 selected and allow senders"). */
  bulkLabel?: (count: number) => string;
  /** What the confirm dialog's title and button add to the verb and the count (" and allow its sender"). */
  confirmTail?: (count: number) => string;
  danger?: boolean;
}

/**
 * The bulk buttons: they act on the ticked rows and nothing else, say how many ("Delete 3 selected") and are
 * disabled with none ticked. The open message has its own buttons in the detail pane (PaneActions).
 */
export function ActionToolbar<A extends string>(props: {
  label: string;
  actions: readonly ToolbarAction<A>[];
  count: number;
  busy: boolean;
  onAction: (action: A) => void;
  onClearSelection: () => void;
}) {
  const { count } = props;
  return (
    <div className="toolbar bulk-toolbar" role="toolbar" aria-label={props.label}>
      <span className="target">{count > 0 ? `${formatCount(count)} ticked:` : 'Tick messages to act on several at once.'}</span>
      {props.actions.map((item) => (
        <button key={item.action} type="button" className={item.danger ? 'danger-outline' : undefined} disabled={count === 0 || props.busy} onClick={() => props.onAction(item.action)}>
          {item.bulkLabel ? item.bulkLabel(count) : bulkLabel(item.verb, count)}
        </button>
      ))}
      {count > 0 ? (
        <button type="button" className="link-button" onClick={props.onClearSelection}>
          Clear selection
        </button>
      ) : null}
    </div>
  );
}

/** The detail pane's buttons: each acts on the message the pane shows, and says so ("Hold this message"). */
export function PaneActions<A extends string>(props: { actions: readonly ToolbarAction<A>[]; busy: boolean; onAction: (action: A) => void }) {
  if (props.actions.length === 0) return null;
  return (
    <div className="pane-actions" role="group" aria-label="Actions for this message">
      {props.actions.map((item) => (
        <button key={item.action} type="button" className={item.danger ? 'danger-outline' : undefined} disabled={props.busy} onClick={() => props.onAction(item.action)}>
          {item.paneLabel}
        </button>
      ))}
    </div>
  );
}

/** What the last action did, with "Undo" where undoing is cheap (a hold), and the error when it failed. */
export function ActionResult(props: { report: string | null; undo: (() => void) | null; busy: boolean; error: ApiFailure | null }) {
  const line = useRef<HTMLParagraphElement>(null);
  // the button acted with may be gone (its pane closed, its row left the list): the keyboard goes on from the result,
  // not from the top of the page
  useEffect(() => {
    if (!props.report) return;
    const frame = requestAnimationFrame(() => {
      if (document.activeElement === document.body || document.activeElement === null) line.current?.focus();
    });
    return () => cancelAnimationFrame(frame);
  }, [props.report]);
  return (
    <>
      {props.report ? (
        <p ref={line} tabIndex={-1} className="status-line action-result" role="status" aria-live="polite">
          <span>{props.report}</span>
          {props.undo ? (
            <button type="button" className="link-button" onClick={props.undo} disabled={props.busy}>
              Undo
            </button>
          ) : null}
        </p>
      ) : null}
      <ErrorMessage error={props.error} />
    </>
  );
}

/** A pending confirmation: which action, on which messages, asked from the pane or the bulk toolbar. */
export interface PendingConfirm<A extends string> {
  action: A;
  ids: string[];
  source: 'bulk' | 'pane';
  names: NamedMessages;
}

/**
 * "Delete 3 messages?" naming each message it will touch (sender and subject of the first few, "and K more"),
 * with a confirm button that repeats the verb and the count ("Delete 3 messages").
 */
export function ConfirmActionDialog<A extends string>(props: {
  pending: PendingConfirm<A> | null;
  actions: readonly ToolbarAction<A>[];
  consequence: (action: A, count: number) => string;
  onCancel: () => void;
  onConfirm: (pending: PendingConfirm<A>) => void;
}) {
  const { pending } = props;
  const item = pending ? props.actions.find((candidate) => candidate.action === pending.action) : undefined;
  return (
    <ConfirmDialog
      open={pending !== null}
      title={pending && item ? confirmTitle(item.verb, pending.names.count, pending.source === 'pane' ? 'this' : 'count', item.confirmTail?.(pending.names.count)) : ''}
      confirmLabel={pending && item ? `${confirmLabel(item.verb, pending.names.count)}${item.confirmTail?.(pending.names.count) ?? ''}` : ''}
      danger={item?.danger}
      onCancel={props.onCancel}
      onConfirm={() => {
        if (pending) props.onConfirm(pending);
      }}
    >
      {pending ? (
        <>
          <ul className="confirm-list" aria-label="Messages this acts on">
            {pending.names.named.map((named) => (
              <li key={named.id}>
                <span className="confirm-sender">{named.sender}</span>
                <span className="confirm-subject">{named.subject}</span>
              </li>
            ))}
          </ul>
          {pending.names.more > 0 ? <p className="confirm-more">and {formatCount(pending.names.more)} more</p> : null}
          <p>{props.consequence(pending.action, pending.names.count)}</p>
        </>
      ) : null}
    </ConfirmDialog>
  );
}

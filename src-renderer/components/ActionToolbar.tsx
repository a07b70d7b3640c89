import type { ApiFailure } from '../api/client.ts';
import { formatCount } from '../lib/format.ts';
import type { actionTarget } from '../lib/selection.ts';
import { ErrorMessage, StatusLine } from './ui.tsx';

export interface ToolbarAction<A extends string> {
  action: A;
  label: string;
  danger?: boolean;
}

/** The buttons that act on the ticked messages, or on the open one when none is ticked (queue and quarantine). */
export function ActionToolbar<A extends string>(props: {
  label: string;
  actions: readonly ToolbarAction<A>[];
  target: ReturnType<typeof actionTarget>;
  busy: boolean;
  onAction: (action: A) => void;
  selectionSize: number;
  onClearSelection: () => void;
  report: string | null;
  error: ApiFailure | null;
}) {
  const { target } = props;
  return (
    <>
      <div className="toolbar" role="toolbar" aria-label={props.label}>
        <span className="target">
          {target.kind === 'selection' ? `${formatCount(target.ids.length)} selected` : target.kind === 'open' ? 'The open message' : 'Tick messages or open one to act on it'}
        </span>
        {props.actions.map((item) => (
          <button key={item.action} type="button" className={item.danger ? 'danger-outline' : undefined} disabled={target.ids.length === 0 || props.busy} onClick={() => props.onAction(item.action)}>
            {item.label}
          </button>
        ))}
        {props.selectionSize > 0 ? (
          <button type="button" className="link-button" onClick={props.onClearSelection}>
            Clear selection
          </button>
        ) : null}
      </div>
      {props.report ? <StatusLine>{props.report}</StatusLine> : null}
      <ErrorMessage error={props.error} />
    </>
  );
}

import { useEffect, useId, useRef, type ReactNode } from 'react';
import type { ApiFailure } from '../api/client.ts';
import { formatDateTime, formatDateTimeSeconds, formatRelative } from '../lib/format.ts';
import { addressPieces, type Tone } from '../lib/words.ts';

/** Small building blocks shared by the screens: states (loading, empty, error), form fields, badges, times. */

/** Text with addresses in it, allowed to wrap at their "@" and dots before it wraps mid-word. */
export function AddressText({ text }: { text: string }) {
  return <>{addressPieces(text).flatMap((piece, index) => (index ? [<wbr key={index} />, piece] : [piece]))}</>;
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="state loading" role="status">
      <span className="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="state empty">{children}</p>;
}

/** A failure's message; its per-field issues are listed too unless the form shows them at the fields. */
export function ErrorMessage({ error, onRetry, title, showIssues = true }: { error: ApiFailure | null; onRetry?: () => void; title?: string; showIssues?: boolean }) {
  if (!error) return null;
  return (
    <div className="error-box" role="alert">
      <p>
        {title ? <strong>{title}: </strong> : null}
        {error.message}
      </p>
      {error.issues.length > 0 && showIssues ? (
        <ul>
          {error.issues.map((issue) => (
            <li key={`${issue.path}:${issue.message}`}>
              {issue.path ? <code>{issue.path}</code> : null} {issue.message}
            </li>
          ))}
        </ul>
      ) : null}
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** A polite status line for results of actions ("Retried 3 messages."). */
export function StatusLine({ children }: { children: ReactNode }) {
  return (
    <p className="status-line" role="status" aria-live="polite">
      {children}
    </p>
  );
}

export function Badge({ tone, children }: { tone: Tone; children: ReactNode }) {
  return <span className={`badge tone-${tone}`}>{children}</span>;
}

/** A time in the admin's zone; the full time with seconds on hover (`seconds`: shown with them). */
export function Time({ ms, relative, now, seconds }: { ms: number | null | undefined; relative?: boolean; now?: number; seconds?: boolean }) {
  if (ms === null || ms === undefined) return <span className="muted">—</span>;
  const iso = new Date(ms).toISOString();
  return (
    <time dateTime={iso} title={formatDateTimeSeconds(ms)}>
      {relative ? formatRelative(ms, now ?? Date.now()) : seconds ? formatDateTimeSeconds(ms) : formatDateTime(ms)}
    </time>
  );
}

interface FieldShell {
  label: string;
  hint?: ReactNode;
  errors?: readonly string[] | string | undefined;
  className?: string;
}

function errorList(errors: FieldShell['errors']): string[] {
  if (!errors) return [];
  return typeof errors === 'string' ? [errors] : [...errors];
}

/** A field's hint and its problems, under the ids its control's aria-describedby names. */
export function FieldMessages({ hintId, errorId, hint, errors }: { hintId: string; errorId: string; hint?: ReactNode; errors: string[] }) {
  return (
    <>
      {hint ? (
        <span className="hint" id={hintId}>
          {hint}
        </span>
      ) : null}
      {errors.length ? (
        <span className="field-error" id={errorId}>
          {errors.join('; ')}
        </span>
      ) : null}
    </>
  );
}

function describedBy(hint: ReactNode, errors: string[], hintId: string, errorId: string): string | undefined {
  const ids = [hint ? hintId : '', errors.length ? errorId : ''].filter(Boolean).join(' ');
  return ids || undefined;
}

export function TextField(
  props: FieldShell & {
    value: string;
    onChange: (value: string) => void;
    type?: 'text' | 'password' | 'number' | 'email' | 'search' | 'datetime-local';
    placeholder?: string;
    autoComplete?: string;
    multiline?: boolean;
    rows?: number;
    required?: boolean;
    disabled?: boolean;
    inputMode?: 'numeric' | 'decimal' | 'text' | 'email';
    spellCheck?: boolean;
    autoFocus?: boolean;
    monospace?: boolean;
  },
) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const errors = errorList(props.errors);
  const common = {
    id,
    value: props.value,
    placeholder: props.placeholder,
    required: props.required,
    disabled: props.disabled,
    autoFocus: props.autoFocus,
    spellCheck: props.spellCheck ?? false,
    'aria-invalid': errors.length ? true : undefined,
    'aria-describedby': describedBy(props.hint, errors, hintId, errorId),
    className: props.monospace ? 'mono' : undefined,
  } as const;
  return (
    <div className={`field ${props.className ?? ''}`}>
      <label htmlFor={id}>{props.label}</label>
      {props.multiline ? (
        <textarea {...common} rows={props.rows ?? 4} onChange={(event) => props.onChange(event.target.value)} />
      ) : (
        <input {...common} type={props.type ?? 'text'} autoComplete={props.autoComplete ?? 'off'} inputMode={props.inputMode} onChange={(event) => props.onChange(event.target.value)} />
      )}
      <FieldMessages hintId={hintId} errorId={errorId} hint={props.hint} errors={errors} />
    </div>
  );
}

export function CheckboxField(props: FieldShell & { checked: boolean; onChange: (checked: boolean) => void; disabled?: boolean }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const errors = errorList(props.errors);
  return (
    <div className={`field checkbox ${props.className ?? ''}`}>
      <input
        id={id}
        type="checkbox"
        checked={props.checked}
        disabled={props.disabled}
        aria-invalid={errors.length ? true : undefined}
        aria-describedby={describedBy(props.hint, errors, hintId, errorId)}
        onChange={(event) => props.onChange(event.target.checked)}
      />
      <label htmlFor={id}>{props.label}</label>
      <FieldMessages hintId={hintId} errorId={errorId} hint={props.hint} errors={errors} />
    </div>
  );
}

export function SelectField<V extends string>(props: FieldShell & { value: V; onChange: (value: V) => void; options: readonly { value: V; label: string }[]; disabled?: boolean }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const errors = errorList(props.errors);
  return (
    <div className={`field ${props.className ?? ''}`}>
      <label htmlFor={id}>{props.label}</label>
      <select
        id={id}
        value={props.value}
        disabled={props.disabled}
        aria-invalid={errors.length ? true : undefined}
        aria-describedby={describedBy(props.hint, errors, hintId, errorId)}
        onChange={(event) => props.onChange(event.target.value as V)}
      >
        {props.options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      <FieldMessages hintId={hintId} errorId={errorId} hint={props.hint} errors={errors} />
    </div>
  );
}

/** Radio buttons in a fieldset: the legend names the group. */
export function RadioGroup<V extends string>(props: { legend: string; name?: string; value: V; onChange: (value: V) => void; options: readonly { value: V; label: string; hint?: ReactNode }[]; errors?: FieldShell['errors'] }) {
  const generated = useId();
  const name = props.name ?? generated;
  const errors = errorList(props.errors);
  return (
    <fieldset className="radio-group">
      <legend>{props.legend}</legend>
      {props.options.map((option) => {
        const id = `${name}-${option.value}`;
        return (
          <div className="radio" key={option.value}>
            <input id={id} type="radio" name={name} value={option.value} checked={props.value === option.value} onChange={() => props.onChange(option.value)} aria-describedby={option.hint ? `${id}-hint` : undefined} />
            <div>
              <label htmlFor={id}>{option.label}</label>
              {option.hint ? (
                <span className="hint" id={`${id}-hint`}>
                  {option.hint}
                </span>
              ) : null}
            </div>
          </div>
        );
      })}
      {errors.length ? <p className="field-error">{errors.join('; ')}</p> : null}
    </fieldset>
  );
}

/**
 * A modal question (native <dialog>: focus stays inside, Escape cancels, the page behind is inert).
 * The confirm button is named after the action ("Delete"), so the question reads the same to every user.
 */
export function ConfirmDialog(props: { open: boolean; title: string; children?: ReactNode; confirmLabel: string; danger?: boolean; onConfirm: () => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog ref={ref} className="dialog" aria-labelledby={titleId} onCancel={(event) => { event.preventDefault(); props.onCancel(); }}>
      {props.open ? (
        <form method="dialog" onSubmit={(event) => { event.preventDefault(); props.onConfirm(); }}>
          <h2 id={titleId}>{props.title}</h2>
          {props.children}
          <div className="dialog-buttons">
            <button type="button" onClick={props.onCancel} autoFocus>
              Cancel
            </button>
            <button type="submit" className={props.danger ? 'danger' : 'primary'}>
              {props.confirmLabel}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="page-header">
      <h1>{title}</h1>
      {children ? <div className="page-actions">{children}</div> : null}
    </header>
  );
}

/** Label/value pairs (envelope facts, review lines). */
export function Facts({ items }: { items: readonly (readonly [string, ReactNode])[] }) {
  return (
    <dl className="facts">
      {items.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

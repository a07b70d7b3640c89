import { explainError } from '../lib/plain-errors.ts';

/**
 * An error as a sentence and a next step (lib/plain-errors.ts), with the raw text under "Details". Text the table
 * does not know is shown as it came, with no details repeating it. `compact` (a table cell): the sentence on one
 * line, the raw text as its tooltip; the detail pane shows the whole.
 */
/** The sentence for an error the table knows (a history row already shows the raw text); nothing for one it does not. */
export function KnownErrorSentence({ raw }: { raw: string }) {
  const plain = explainError(raw);
  return plain.rule === null ? null : <span className="plain-sentence-inline">{plain.sentence}</span>;
}

export function PlainError({ raw, compact = false, className }: { raw: string; compact?: boolean; className?: string }) {
  const plain = explainError(raw);
  if (compact) {
    return (
      <span className={`plain-error compact${className ? ` ${className}` : ''}`} title={plain.raw}>
        {plain.sentence}
      </span>
    );
  }
  if (plain.rule === null) return <p className="plain-error unknown">{plain.raw}</p>;
  return (
    <div className="plain-error">
      <p className="plain-sentence">{plain.sentence}</p>
      {plain.next ? (
        <p className="hint-text">
          <span className="hint-label">What to do:</span> {plain.next}
        </p>
      ) : null}
      <details>
        <summary>Details</summary>
        <code className="plain-raw">{plain.raw}</code>
      </details>
    </div>
  );
}

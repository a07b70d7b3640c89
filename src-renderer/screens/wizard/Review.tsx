import { useEffect, useRef } from 'react';
import type { ApiFailure } from '../../api/client.ts';
import { Badge, ErrorMessage, Facts, Loading } from '../../components/ui.tsx';
import type { ConfigObject, Issue } from '../../lib/paths.ts';
import { doneSentence, reviewSummary, reviewWarnings, stepForPath, WIZARD_STEPS, type ApplyTask, type InForce, type InternalTest, type StepId, type WizardFields } from '../../lib/wizard.ts';

export interface TaskResult {
  task: ApplyTask;
  label: string;
  state: 'waiting' | 'running' | 'done' | 'warning' | 'failed' | 'skipped';
  message: string | null;
  issues?: Issue[];
  /** The relay's state after the configuration task. */
  relayState?: string;
}

const STATE_WORDS: Record<TaskResult['state'], { label: string; tone: 'ok' | 'warning' | 'critical' | 'neutral' | 'info' }> = {
  waiting: { label: 'Waiting', tone: 'neutral' },
  running: { label: 'Working…', tone: 'info' },
  done: { label: 'Done', tone: 'ok' },
  warning: { label: 'Look', tone: 'warning' },
  failed: { label: 'Failed', tone: 'critical' },
  skipped: { label: 'Skipped', tone: 'neutral' },
};

/** Passwords are not shown back on screen, not even in the review. */
function maskSecrets(key: string, value: unknown): unknown {
  return key === 'pass' && typeof value === 'string' ? '••••••' : value;
}

/** Every choice in plain words with an "Edit" per step, the whole-config check, and the apply progress. */
export function ReviewStep({
  fields,
  inForce,
  config,
  issues,
  error,
  results,
  applying,
  internalTest,
  internalInForce,
  unchanged,
  machineName,
  onEdit,
}: {
  fields: WizardFields;
  inForce: InForce;
  config: ConfigObject;
  issues: Issue[] | null;
  error: ApiFailure | null;
  results: TaskResult[] | null;
  applying: boolean;
  internalTest: InternalTest | null;
  /** The internal server the running relay delivers to; null on a first run. */
  internalInForce: { host: string; port: string } | null;
  /** The wizard was run again and its configuration is the saved one. */
  unchanged: boolean;
  machineName: string | null;
  onEdit: (id: StepId) => void;
}) {
  const title = (id: StepId | null) => WIZARD_STEPS.find((step) => step.id === id)?.title ?? 'Other settings';
  const warnings = reviewWarnings(fields, { internalTest, internalInForce, machineName });
  const configTask = results?.[0];
  /** Apply has run and the configuration is in force: the page is a report now, not a question. */
  const done = !applying && configTask !== undefined && configTask.state !== 'failed' && configTask.state !== 'waiting' && configTask.state !== 'running';
  const running = done && configTask.relayState === 'running';
  /** Apply ran and the relay could not start with this configuration (a port in use, say): valid is not ready. */
  const startFailed = !applying && configTask?.state === 'failed';
  // Apply sits at the foot of a long page: the outcome comes into view at the top, with the focus
  const doneTitle = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (!done) return;
    doneTitle.current?.scrollIntoView({ block: 'start' });
    doneTitle.current?.focus({ preventScroll: true });
  }, [done]);
  return (
    <>
      {done ? (
        <section aria-labelledby="done-title" className={`panel wizard-done ${running ? 'ok' : 'warning'}`} role="status">
          <h3 id="done-title" ref={doneTitle} tabIndex={-1}>
            {running ? 'Done' : 'Saved'}
          </h3>
          <p>
            <Badge tone={running ? 'ok' : 'warning'}>{running ? 'Running' : 'Look'}</Badge> {running ? doneSentence(fields, inForce) : `The configuration is saved, but the relay is ${configTask.relayState ?? 'not running'}: the dashboard says why.`}
          </p>
          <p>
            <a className="button primary" href="#/dashboard">
              Open the dashboard
            </a>
          </p>
        </section>
      ) : null}
      {results ? (
        <section aria-labelledby="apply-title" className="panel">
          <h3 id="apply-title">Applying</h3>
          <ol className="apply-tasks" aria-live="polite">
            {results.map((result, index) => (
              <li key={index}>
                <Badge tone={STATE_WORDS[result.state].tone}>{STATE_WORDS[result.state].label}</Badge> {result.label}
                {result.message ? <span className={result.state === 'failed' ? 'error-text' : 'muted'}>: {result.message}</span> : null}
                {result.issues?.length ? (
                  <ul>
                    {result.issues.map((issue) => (
                      <li key={`${issue.path}:${issue.message}`}>
                        <code>{issue.path}</code> {issue.message}
                      </li>
                    ))}
                  </ul>
                ) : null}
              </li>
            ))}
          </ol>
          {!applying && results[0]?.state === 'done' ? <p>The relay runs with the new configuration.</p> : null}
          {!applying && results.some((result) => result.state === 'failed') && results[0]?.state !== 'failed' ? <p>Whatever failed here can be done again under Settings.</p> : null}
          {!applying && results[0]?.state === 'failed' ? <p>Nothing was changed: what the relay does now is said above. Fix the problem and press Apply again.</p> : null}
        </section>
      ) : null}

      {done ? null : (
      <section aria-labelledby="check-title">
        <h3 id="check-title">Check</h3>
        <ErrorMessage error={error} />
        {issues === null && !error ? <Loading label="Checking the whole configuration…" /> : null}
        {issues && issues.length === 0 && startFailed ? (
          <p role="status">
            <Badge tone="critical">Could not start</Badge> The configuration passes every check, but the relay could not start with it: see Apply above.
          </p>
        ) : null}
        {issues && issues.length === 0 && !startFailed ? (
          <p role="status">
            <Badge tone={warnings.length ? 'warning' : 'ok'}>{warnings.length ? 'Ready, with warnings' : 'Ready'}</Badge> The configuration is complete and valid. Nothing is changed until you press Apply.
            {warnings.length ? ' Read the warnings below first.' : null}
          </p>
        ) : null}
        {issues && issues.length === 0 && !startFailed && unchanged ? (
          <p className="notice" role="note" aria-label="Nothing changed">
            Nothing has changed from the configuration in force. Apply saves it as it is and restarts the relay with it: connections open at that moment are closed, and their senders try again.
          </p>
        ) : null}
        {issues && issues.length > 0 ? (
          <div className="error-box" role="alert">
            <p>Fix these before applying:</p>
            <ul>
              {issues.map((issue) => {
                const step = stepForPath(issue.path);
                return (
                  <li key={`${issue.path}:${issue.message}`}>
                    <strong>{title(step)}</strong> <code>{issue.path}</code>: {issue.message}{' '}
                    {step ? (
                      <button type="button" className="link-button" onClick={() => onEdit(step)}>
                        Fix in {title(step)}
                      </button>
                    ) : null}
                  </li>
                );
              })}
            </ul>
          </div>
        ) : null}
      </section>
      )}

      {warnings.length ? (
        <section aria-labelledby="warnings-title" className="notice review-warnings">
          <h3 id="warnings-title">{done ? 'Worth a look' : 'Before you apply'}</h3>
          <ul>
            {warnings.map((warning) => (
              <li key={warning}>
                <Badge tone="warning">Warning</Badge> {warning}
              </li>
            ))}
          </ul>
        </section>
      ) : null}

      {reviewSummary(fields, inForce).map((section) => (
        <section key={section.step} className="review-section" aria-labelledby={`review-${section.step}`}>
          <div className="panel-header">
            <h3 id={`review-${section.step}`}>{section.title}</h3>
            <button type="button" className="link-button" onClick={() => onEdit(section.step)} disabled={applying} aria-label={`Edit ${section.title}`}>
              Edit
            </button>
          </div>
          <Facts items={section.lines} />
        </section>
      ))}

      <details className="config-json">
        <summary>Show the configuration file</summary>
        <pre>{JSON.stringify(config, maskSecrets, 2)}</pre>
      </details>
    </>
  );
}

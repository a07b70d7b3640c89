import { useMemo, useState } from 'react';
import type { Output } from '../../../src-relay/admin/contract.ts';
import { ApiFailure, call } from '../../api/client.ts';
import { useAction, useCall } from '../../api/hooks.ts';
import { CheckboxField, ErrorMessage, Loading, SelectField, StatusLine, TextField } from '../../components/ui.tsx';
import { getPath, normalizeIssuePath, type Issue } from '../../lib/paths.ts';
import { applyDrafts, changedKeys, groupKeys, keyForIssue, valueToDraft, type KeyModel } from '../../lib/settings.ts';
import { overrideNote } from '../../lib/overrides.ts';
import { PlainError } from '../../components/PlainError.tsx';

type ConfigView = Output<'config.get'>;

/**
 * Every configuration key, grouped by section, as inputs of its type (from the key table config.get sends).
 * Edits stay here until "Apply", which saves the whole file and restarts the relay (rolled back if it cannot start).
 */
export function ConfigEditor() {
  const view = useCall('config.get', {});
  if (view.error && !view.data) return <ErrorMessage error={view.error} onRetry={() => void view.reload()} />;
  if (!view.data) return <Loading label="Loading the configuration…" />;
  return <Editor view={view.data} reload={view.reload} />;
}

function Editor({ view, reload }: { view: ConfigView; reload: () => Promise<void> }) {
  const sections = useMemo(() => groupKeys(view.keys), [view.keys]);
  const models = useMemo(() => sections.flatMap((section) => section.keys), [sections]);
  const [sectionId, setSectionId] = useState(sections[0]?.id ?? 'general');
  const [drafts, setDrafts] = useState<Record<string, string | boolean>>({});
  const [serverIssues, setServerIssues] = useState<Issue[]>([]);
  const [report, setReport] = useState('');
  const [relayError, setRelayError] = useState<string | null>(null);
  const action = useAction();

  const { config, problems: localProblems } = applyDrafts(view.saved, models, drafts);
  const changed = changedKeys(view.saved, models, drafts);

  const byKey: Record<string, string[]> = {};
  const unplaced: Issue[] = [];
  for (const [key, message] of Object.entries(localProblems)) (byKey[key] ??= []).push(message);
  for (const issue of serverIssues) {
    const key = keyForIssue(normalizeIssuePath(issue.path), models);
    if (key) (byKey[key] ??= []).push(issue.message);
    else unplaced.push(issue);
  }
  const sectionOfKey = (key: string) => models.find((model) => model.key === key)?.section;
  const problemSections = new Set(Object.keys(byKey).map(sectionOfKey).filter(Boolean));

  const check = async () => {
    setReport('');
    if (Object.keys(localProblems).length) return;
    const result = await action.run(() => call('config.validate', { config, complete: true }));
    if (!result) return;
    setServerIssues(result.problems);
    setReport(result.problems.length ? `${result.problems.length} ${result.problems.length === 1 ? 'problem' : 'problems'} to fix.` : 'The configuration is valid.');
  };

  const apply = async () => {
    setReport('');
    setRelayError(null);
    if (Object.keys(localProblems).length) return;
    const checked = await action.run(() => call('config.validate', { config, complete: true }));
    if (!checked) return;
    setServerIssues(checked.problems);
    if (checked.problems.length) {
      setReport('Not applied: fix the problems marked below first.');
      return;
    }
    const result = await action.run(async () => {
      try {
        return await call('config.apply', { config });
      } catch (error) {
        // CONFIG_INVALID names its problems: they go to their fields like a check's.
        if (error instanceof ApiFailure && error.issues.length) setServerIssues(error.issues);
        throw error;
      }
    });
    if (!result) return;
    // the saved values first, then the drafts go: the fields never show the old value in between
    await reload();
    setDrafts({});
    setReport(result.error ? 'Applied, but the relay reports a problem:' : `Applied. The relay is ${result.state}.`);
    setRelayError(result.error);
  };

  const section = sections.find((candidate) => candidate.id === sectionId) ?? sections[0];
  const failure = action.error;

  return (
    <div className="config-editor">
      <div className="config-bar">
        <span>{changed.length ? `${changed.length} unsaved ${changed.length === 1 ? 'change' : 'changes'}` : 'No unsaved changes'}</span>
        <button type="button" onClick={() => void check()} disabled={action.busy}>
          Check
        </button>
        <button type="button" className="primary" onClick={() => void apply()} disabled={action.busy || changed.length === 0}>
          Apply
        </button>
        <button
          type="button"
          onClick={() => {
            setDrafts({});
            setServerIssues([]);
            setReport('');
          }}
          disabled={action.busy || Object.keys(drafts).length === 0}
        >
          Discard changes
        </button>
      </div>
      {report ? <StatusLine>{report}</StatusLine> : null}
      {relayError ? <PlainError raw={relayError} /> : null}
      <ErrorMessage error={failure} showIssues={false} />
      {unplaced.length ? (
        <div className="error-box" role="alert">
          <ul>
            {unplaced.map((issue) => (
              <li key={`${issue.path}:${issue.message}`}>
                <code>{issue.path}</code> {issue.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <div className="config-layout">
        <nav className="section-nav" aria-label="Configuration sections">
          <ul>
            {sections.map((item) => (
              <li key={item.id}>
                <button type="button" aria-current={item.id === section?.id ? 'true' : undefined} onClick={() => setSectionId(item.id)}>
                  {item.title}
                  {problemSections.has(item.id) ? <span className="problem-dot" aria-label="has problems"> !</span> : null}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        {section ? (
          <section className="config-section" aria-labelledby="config-section-title">
            <h2 id="config-section-title">{section.title}</h2>
            {section.keys.map((model) => (
              <KeyInput
                key={model.key}
                model={model}
                value={drafts[model.key] ?? valueToDraft(model, getPath(view.saved, model.key))}
                errors={byKey[model.key]}
                note={overrideNote(model.key, view.overridden, model.kind === 'secret' ? undefined : getPath(view.effective, model.key))}
                onChange={(value) => {
                  setDrafts((current) => ({ ...current, [model.key]: value }));
                  // a server problem is about the value that was checked, not the one being typed
                  setServerIssues((issues) => issues.filter((issue) => keyForIssue(normalizeIssuePath(issue.path), models) !== model.key));
                }}
              />
            ))}
          </section>
        ) : null}
      </div>
    </div>
  );
}

/** `note`: the key is set on the command line; then neither the file's value nor the default is the one in force. */
function KeyInput({ model, value, errors, note, onChange }: { model: KeyModel; value: string | boolean; errors: string[] | undefined; note: string | null; onChange: (value: string | boolean) => void }) {
  const hasDefault = model.default !== '—' && !note;
  const hint = (
    <>
      {note ? <span className="override-note">{note}</span> : null}
      {model.description} <code className="key-name">{model.key}</code>
      {model.kind !== 'boolean' && hasDefault ? <span className="muted"> (default {model.default})</span> : null}
    </>
  );
  switch (model.kind) {
    case 'boolean':
      return <CheckboxField label={model.label} checked={value === true} onChange={onChange} hint={hint} errors={errors} />;
    case 'enum':
      return (
        <SelectField
          label={model.label}
          value={String(value)}
          onChange={onChange}
          hint={hint}
          errors={errors}
          options={[{ value: '', label: `Default (${model.default.replace(/"/g, '')})` }, ...model.options.map((option) => ({ value: option, label: option }))]}
        />
      );
    case 'list':
    case 'json':
      return <TextField label={model.label} value={String(value)} onChange={onChange} hint={hint} errors={errors} multiline rows={model.kind === 'json' ? 5 : 3} monospace placeholder={model.kind === 'list' ? 'one a line' : undefined} />;
    case 'secret':
      return <TextField label={model.label} type="password" value={String(value)} onChange={onChange} hint={hint} errors={errors} autoComplete="new-password" />;
    case 'integer':
    case 'number':
      return <TextField label={model.label} value={String(value)} onChange={onChange} hint={hint} errors={errors} inputMode={model.kind === 'integer' ? 'numeric' : 'decimal'} placeholder={hasDefault ? model.default : undefined} />;
    default:
      return <TextField label={model.label} value={String(value)} onChange={onChange} hint={hint} errors={errors} placeholder={hasDefault ? model.default.replace(/^"|"$/g, '') : undefined} />;
  }
}

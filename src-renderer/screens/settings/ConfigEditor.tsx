import { useEffect, useId, useMemo, useRef, useState, type ReactNode } from 'react';
import type { Output } from '../../../src-relay/admin/contract.ts';
import { ApiFailure, call } from '../../api/client.ts';
import { asFailure, useAction, useCall } from '../../api/hooks.ts';
import { Badge, CheckboxField, ErrorMessage, FieldMessages, Loading, SelectField, StatusLine, TextField } from '../../components/ui.tsx';
import { getPath, type ConfigObject, type Issue } from '../../lib/paths.ts';
import { addEntries, applyDrafts, changedKeys, namedChanges, defaultEntries, defaultText, groupFields, placeIssues, sameEntries, shownValue, valueToDraft, WEEK, type Draft, type FieldDoc } from '../../lib/settings.ts';
import { overrideNote } from '../../lib/overrides.ts';
import { HostPortFix, TestReport } from '../wizard/steps.tsx';
import { badTestPortWords, internalTestWarning, splitHostPort, testPort, type InternalTest } from '../../lib/wizard.ts';
import { PlainError } from '../../components/PlainError.tsx';
import { useKeptState } from '../../lib/kept-state.ts';
import { setUnsavedEdits } from '../../lib/unsaved-edits.ts';

type ConfigView = Output<'config.get'>;
type FileDifference = ConfigView['notInForce'][number];

/** The internal server's address: a change to it is applied with a warning unless its last test here went well. */
const INTERNAL_ADDRESS_KEYS = ['internal.host', 'internal.port'];

/** How long typing pauses before the whole configuration is checked again (every field's problem shows at once). */
const CHECK_AFTER_TYPING_MS = 300;

/**
 * The configuration as forms grouped by task (the groups, labels, units and controls come with config.get from the
 * table beside the config schema). Every edit is checked at once, whole; "Apply" saves the file and restarts the
 * relay (rolled back if it cannot start).
 */
export function ConfigEditor() {
  const view = useCall('config.get', {});
  if (view.error && !view.data) return <ErrorMessage error={view.error} onRetry={() => void view.reload()} />;
  if (!view.data) return <Loading label="Loading the configuration…" />;
  return <Editor view={view.data} reload={view.reload} />;
}

function Editor({ view, reload }: { view: ConfigView; reload: () => Promise<void> }) {
  const groups = useMemo(() => groupFields(view.keys, view.groups), [view.keys, view.groups]);
  // edits not applied yet survive a look at another screen, until Apply or Discard (or a reload of the page)
  const [groupId, setGroupId] = useKeptState('settings.group', '', () => groups[0]?.id ?? 'domains');
  const [drafts, setDrafts, staleDrafts] = useKeptState<Record<string, Draft>>('settings.drafts', JSON.stringify(view.saved), () => ({}));
  // edits kept from before the saved configuration changed (another window, the wizard, moat.json): said, not reapplied
  const [setAside, setSetAside] = useState(() => Object.keys(staleDrafts ?? {}).map((key) => view.keys.find((field) => field.key === key)?.label ?? key));
  const [serverIssues, setServerIssues] = useState<Issue[] | null>(null);
  const [checkFailure, setCheckFailure] = useState<ApiFailure | null>(null);
  const [report, setReport] = useState('');
  const [relayError, setRelayError] = useState<string | null>(null);
  // the settings the last Apply could not start with (a port another program holds): marked at their fields, but
  // not problems of the values, so Apply stays open for a try once the port is free
  const [applyFailed, setApplyFailed] = useState<Record<string, string[]>>({});
  const [notes, setNotes] = useState<string[]>([]);
  // the last "Test connection" of the internal server on this page (the wizard's review warns the same way)
  const [internalTest, setInternalTest] = useState<InternalTest | null>(null);
  const action = useAction();

  const { config, problems: localProblems } = applyDrafts(view.saved, view.keys, drafts);
  const changed = changedKeys(view.saved, view.keys, drafts);
  useEffect(() => setUnsavedEdits(changed.length), [changed.length]);
  const configKey = JSON.stringify(config);
  const localCount = Object.keys(localProblems).length;
  // moat.json changed outside this page and not applied: Apply puts these in force; the others wait for a restart
  const fromFile = view.notInForce.filter((difference) => !difference.atRestart);
  const atRestart = view.notInForce.filter((difference) => difference.atRestart);
  const internalMoved = [...changed, ...fromFile.map((difference) => difference.key)].some((key) => INTERNAL_ADDRESS_KEYS.includes(key));
  const internalWarning = internalMoved ? internalTestWarning({ internalHost: String(getPath(config, 'internal.host') ?? ''), internalPort: String(getPath(config, 'internal.port') ?? '') }, internalTest) : null;

  // The whole configuration is checked as it is edited, so every problem shows at its field at once.
  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      call('config.validate', { config: JSON.parse(configKey) as ConfigObject, complete: true })
        .then((result) => {
          if (!live) return;
          setServerIssues(result.problems);
          setCheckFailure(null);
        })
        .catch((error: unknown) => live && setCheckFailure(asFailure(error)));
    }, CHECK_AFTER_TYPING_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [configKey]);

  const placed = placeIssues(serverIssues ?? [], view.keys);
  const byKey: Record<string, string[]> = { ...placed.byKey };
  for (const [key, message] of Object.entries(localProblems)) byKey[key] = [message];
  const problemCount = Object.keys(byKey).length + placed.unplaced.length;
  const groupOfKey = (key: string) => view.keys.find((field) => field.key === key)?.group;
  const problemGroups = new Set<string | undefined>([...Object.keys(byKey), ...Object.keys(applyFailed)].map(groupOfKey));
  const applyFailedCount = Object.keys(applyFailed).length;

  const apply = async () => {
    setReport('');
    setRelayError(null);
    setNotes([]);
    setApplyFailed({});
    if (localCount) return;
    const checked = await action.run(() => call('config.validate', { config, complete: true }));
    if (!checked) return;
    setServerIssues(checked.problems);
    if (checked.problems.length) {
      setReport('Not applied: fix the problems marked below first.');
      return;
    }
    const result = await action.run(async () => {
      try {
        return await call('config.apply', { config, revision: view.revision });
      } catch (error) {
        // CONFIG_INVALID names its problems: they go to their fields like a check's.
        if (error instanceof ApiFailure && error.issues.length) {
          if (error.code === 'APPLY_FAILED') setApplyFailed(placeIssues(error.issues, view.keys).byKey);
          else setServerIssues(error.issues);
        }
        throw error;
      }
    });
    if (!result) return;
    const what = appliedWords(changed, fromFile, view.keys);
    const warned = internalWarning ? [internalWarning] : [];
    // the saved values first, then the drafts go: the fields never show the old value in between
    await reload();
    setDrafts({});
    setReport(result.error ? `${what}, but the relay reports a problem:` : result.notes.length + warned.length ? `${what}. The relay is ${result.state}, but:` : `${what}. The relay is ${result.state}.`);
    setNotes([...warned, ...result.notes]);
    setRelayError(result.error);
  };

  // Apply is pressed from the bar, often far down a long section: what came of it is brought into view
  const outcome = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (report || action.error) outcome.current?.scrollIntoView?.({ block: 'center' });
  }, [report, action.error]);

  const group = groups.find((candidate) => candidate.id === groupId) ?? groups[0];
  const draftOf = (field: FieldDoc) => drafts[field.key] ?? valueToDraft(field, getPath(view.saved, field.key));
  const setDraft = (key: string, value: Draft) => {
    setDrafts((current) => ({ ...current, [key]: value }));
    setApplyFailed(({ [key]: _edited, ...rest }) => rest);
    // "Applied …" above new edits reads as if they were applied too
    setReport('');
    setNotes([]);
  };

  return (
    <div className="config-editor">
      <div className="config-bar">
        <span>
          {changed.length
            ? `${changed.length} unsaved ${changed.length === 1 ? 'change' : 'changes'}: ${namedChanges(changed, view.keys)}`
            : fromFile.length
              ? `No edits here, but moat.json differs from the settings in force: ${namedChanges(fromFile.map((difference) => difference.key), view.keys)}`
              : 'No unsaved changes'}
        </span>
        <span className={problemCount || applyFailedCount ? 'error-text' : 'muted'} aria-live="polite">
          {serverIssues === null && !localCount
            ? 'Checking…'
            : problemCount
              ? `${problemCount} ${problemCount === 1 ? 'problem' : 'problems'} to fix`
              : applyFailedCount
                ? `The last Apply failed: ${namedChanges(Object.keys(applyFailed), view.keys)} could not be used`
                : 'Everything checks out'}
        </span>
        <button type="button" className="primary" onClick={() => void apply()} disabled={action.busy || (changed.length === 0 && fromFile.length === 0) || problemCount > 0}>
          Apply
        </button>
        <button
          type="button"
          onClick={() => {
            setDrafts({});
            setReport('');
          }}
          disabled={action.busy || Object.keys(drafts).length === 0}
        >
          Discard changes
        </button>
      </div>
      {view.notInForce.length ? <NotInForce fromFile={fromFile} atRestart={atRestart} keys={view.keys} /> : null}
      {internalWarning && !report ? (
        <p className="notice apply-warning" role="status" data-testid="apply-warning">
          <Badge tone="warning">Before you apply</Badge> {internalWarning} You can still apply if you know the server is right.
        </p>
      ) : null}
      {setAside.length ? (
        <div className="notice" role="status" data-testid="drafts-set-aside">
          <p>
            Your edits of {setAside.length === 1 ? 'one setting' : `${setAside.length} settings`} ({setAside.join(', ')}) were not applied and are set aside: the saved
            configuration changed meanwhile (applied in another window, by the setup wizard, or in moat.json). The fields show what is saved now; make the edits again
            if they are still wanted.
          </p>
          <button type="button" onClick={() => setSetAside([])}>
            Dismiss
          </button>
        </div>
      ) : null}
      <div ref={outcome}>
        {report ? <StatusLine>{report}</StatusLine> : null}
        {relayError ? <PlainError raw={relayError} /> : null}
        {notes.length ? (
          <ul className="apply-notes">
            {notes.map((note) => (
              <li key={note}>{note}</li>
            ))}
          </ul>
        ) : null}
        {action.error?.code === 'CONFIG_CHANGED' ? (
          <div className="error-box" role="alert" data-testid="config-changed">
            <p>Not applied: the settings were changed elsewhere after this page loaded them (another window, the setup wizard, or moat.json by hand). Applied now, your page would undo that change.</p>
            <button
              type="button"
              onClick={() =>
                void reload().then(() => {
                  action.clear();
                  setReport('The settings as they are now are loaded, with your edits on top. Check them, then Apply.');
                })
              }
            >
              Load the current settings, keep my edits
            </button>
          </div>
        ) : (
          <ErrorMessage error={action.error ?? checkFailure} showIssues={false} />
        )}
      </div>
      {placed.unplaced.length ? (
        <div className="error-box" role="alert">
          <ul>
            {placed.unplaced.map((issue) => (
              <li key={`${issue.path}:${issue.message}`}>
                {issue.message} <code className="key-name">{issue.path}</code>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <div className="config-layout">
        <nav className="section-nav" aria-label="Configuration sections">
          <ul>
            {groups.map((item) => (
              <li key={item.id}>
                <button type="button" aria-current={item.id === group?.id ? 'true' : undefined} onClick={() => setGroupId(item.id)}>
                  {item.title}
                  {problemGroups.has(item.id) ? <span className="problem-dot" aria-label="has problems"> !</span> : null}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        {group ? (
          <section className="config-section" aria-labelledby="config-section-title">
            <h2 id="config-section-title">{group.title}</h2>
            <p className="muted">{group.intro}</p>
            {group.sections.map((section) => (
              <fieldset key={section.title} className="config-group">
                <legend>{section.title}</legend>
                {section.fields.map((field) => {
                  const tested = section.fields.find((candidate) => candidate.test && testAnchor(candidate) === field.key);
                  return (
                    <div key={field.key} className="config-field">
                      <FieldControl
                        field={field}
                        value={draftOf(field)}
                        errors={byKey[field.key] ?? applyFailed[field.key]}
                        note={overrideNote(field.key, view.overridden, field.control === 'secret' ? undefined : getPath(view.effective, field.key))}
                        onChange={(value) => setDraft(field.key, value)}
                      />
                      {tested ? (
                        <ConnectionTest
                          field={tested}
                          value={String(draftOf(tested))}
                          port={tested.test === 'internal' || tested.test === 'smarthost' ? String(draftOf(field)) : ''}
                          hostMarked={Boolean(byKey[tested.key]?.length)}
                          onMovePort={(host, port) => setDrafts((current) => ({ ...current, [tested.key]: host, [field.key]: port }))}
                          onTested={tested.test === 'internal' ? setInternalTest : undefined}
                        />
                      ) : null}
                    </div>
                  );
                })}
              </fieldset>
            ))}
          </section>
        ) : null}
      </div>
    </div>
  );
}

/** What an Apply did, in words: the edits made here, and the values of moat.json it put in force. */
function appliedWords(changed: readonly string[], fromFile: readonly FileDifference[], keys: readonly FieldDoc[]): string {
  const edits = changed.length ? `${changed.length} ${changed.length === 1 ? 'change' : 'changes'} (${namedChanges(changed, keys)})` : '';
  const rest = fromFile.filter((difference) => !changed.includes(difference.key)).map((difference) => difference.key);
  const file = rest.length ? `the ${rest.length === 1 ? 'value' : 'values'} moat.json holds for ${namedChanges(rest, keys)}` : '';
  return `Applied ${[edits, file].filter(Boolean).join(' and ')}`;
}

/** One setting of moat.json that the relay does not run with, as a sentence: what runs, what the file says. */
function differenceWords(difference: FileDifference, keys: readonly FieldDoc[]): ReactNode {
  const field = keys.find((candidate) => candidate.key === difference.key);
  const label = field?.label ?? difference.key;
  const [running, file] = field ? [shownValue(field, difference.running), shownValue(field, difference.file)] : [JSON.stringify(difference.running), JSON.stringify(difference.file)];
  if (running === null || file === null) return <><strong>{label}</strong>: moat.json holds another value than the one in use.</>;
  return (
    <>
      <strong>{label}</strong>: {difference.atRestart ? 'in use now' : 'the relay runs with'} <code>{running}</code>; moat.json says <code>{file}</code>.
    </>
  );
}

/**
 * moat.json holds settings the relay does not run with (edited by hand, or restored, and not applied): each is said
 * with both values, since the fields show the file's. Apply puts them in force; the admin listener's need a restart.
 */
function NotInForce({ fromFile, atRestart, keys }: { fromFile: readonly FileDifference[]; atRestart: readonly FileDifference[]; keys: readonly FieldDoc[] }) {
  return (
    <div className="notice not-in-force" role="status" data-testid="file-not-in-force">
      {fromFile.length ? (
        <>
          <p>
            <Badge tone="warning">Not in force</Badge> moat.json was changed outside this page and not applied: the fields below show the file, but the relay still runs
            with the settings it was started or last applied with.
          </p>
          <ul>
            {fromFile.map((difference) => (
              <li key={difference.key}>{differenceWords(difference, keys)}</li>
            ))}
          </ul>
          <p>Apply puts the file's {fromFile.length === 1 ? 'value' : 'values'} in force (checked first, like any Apply); or change {fromFile.length === 1 ? 'it' : 'them'} here before you apply.</p>
        </>
      ) : null}
      {atRestart.length ? (
        <>
          <p>
            <Badge tone="info">Restart needed</Badge> The admin page reads {atRestart.length === 1 ? 'this setting' : 'these settings'} only when moat serve starts: Apply does
            not change {atRestart.length === 1 ? 'it' : 'them'}. Restart the service (or the desktop app) to use moat.json's {atRestart.length === 1 ? 'value' : 'values'}.
          </p>
          <ul>
            {atRestart.map((difference) => (
              <li key={difference.key}>{differenceWords(difference, keys)}</li>
            ))}
          </ul>
        </>
      ) : null}
    </div>
  );
}

interface ControlProps {
  field: FieldDoc;
  value: Draft;
  errors: string[] | undefined;
  /** The key is set on the command line: then neither the file's value nor the default is the one in force. */
  note: string | null;
  onChange: (value: Draft) => void;
}

/** Where a field's "Test connection" goes: after the port for a server (the test uses both), else after the address. */
function testAnchor(field: FieldDoc): string {
  return field.test === 'internal' || field.test === 'smarthost' ? field.key.replace(/\.host$/, '.port') : field.key;
}

/** A description ends its sentence before the default; the stored unit is left out where the box shows another. */
function describe(field: FieldDoc): string {
  let text = field.description;
  if (field.unit && field.unit.factor !== 1) text = text.replace(/,? in (bytes|seconds|milliseconds)\b/, '');
  // the boxes name the days; the numbers the file keeps are said on the key line
  if (field.control === 'weekdays') text = text.replace(/ \(0 Sunday … 6 Saturday\)/, '');
  return /[.!?]$/.test(text) || text === '' ? text : `${text}.`;
}

/** The hint: the command-line note, the description, the default, and the config key on its own "details" line. */
function Hint({ field, note }: { field: FieldDoc; note: string | null }) {
  const fallback = note ? null : defaultText(field);
  return (
    <>
      {note ? <span className="override-note">{note}</span> : null}
      {describe(field)}
      {field.control !== 'toggle' && fallback ? <span className="muted"> Default: {fallback}.</span> : null}
      {field.unit?.word === 'MB' ? <span className="muted"> 1 MB is 1,048,576 bytes here, as Exchange and Outlook count.</span> : null}
      <span className="key-line">
        Config key <code className="key-name">{field.key}</code>
        {field.control === 'weekdays' ? ' (0 Sunday … 6 Saturday)' : null}
      </span>
    </>
  );
}

function FieldControl(props: ControlProps) {
  const { field, value, errors, note, onChange } = props;
  const hint = <Hint field={field} note={note} />;
  switch (field.control) {
    case 'toggle':
      return <CheckboxField label={field.label} checked={value === true} onChange={onChange} hint={hint} errors={errors} />;
    case 'choice': {
      const fallback = defaultText(field);
      return (
        <SelectField
          label={field.label}
          value={String(value)}
          onChange={onChange}
          hint={hint}
          errors={errors}
          options={[{ value: '', label: fallback ? `Default (${fallback})` : 'Not set' }, ...field.options.map((option) => ({ value: option, label: field.choices?.[option] ?? option }))]}
        />
      );
    }
    case 'list':
      return <ListField label={field.label} entries={Array.isArray(value) ? value : []} defaults={defaultEntries(field)} onChange={onChange} hint={hint} errors={errors} />;
    case 'weekdays':
      return <WeekdaysField label={field.label} ticked={Array.isArray(value) ? value : []} onChange={onChange} hint={hint} errors={errors} />;
    case 'number':
    case 'number-list':
      return <UnitField field={field} value={String(value)} onChange={onChange} hint={hint} errors={errors} note={note} />;
    case 'json':
      return <TextField label={field.label} value={String(value)} onChange={onChange} hint={hint} errors={errors} multiline rows={4} monospace />;
    case 'secret':
      return <TextField label={field.label} type="password" value={String(value)} onChange={onChange} hint={hint} errors={errors} autoComplete="new-password" />;
    default:
      return <TextField label={field.label} value={String(value)} onChange={onChange} hint={hint} errors={errors} placeholder={note ? undefined : (defaultText(field) ?? undefined)} />;
  }
}

/** A box per day, Monday first; the draft is the ticked days as kept (0 Sunday … 6 Saturday), in that order. */
function WeekdaysField({ label, ticked, onChange, hint, errors }: { label: string; ticked: readonly string[]; onChange: (value: readonly string[]) => void; hint: ReactNode; errors: string[] | undefined }) {
  const id = useId();
  const toggle = (day: string, on: boolean) => {
    const next = new Set(ticked);
    if (on) next.add(day);
    else next.delete(day);
    onChange([...next].sort((a, b) => Number(a) - Number(b)));
  };
  return (
    <fieldset className="field weekdays-field" aria-describedby={`${id}-hint${errors?.length ? ` ${id}-error` : ''}`} aria-invalid={errors?.length ? true : undefined}>
      <legend>{label}</legend>
      <span className="weekdays">
        {WEEK.map(({ day, name }) => (
          <label key={day}>
            <input type="checkbox" checked={ticked.includes(String(day))} onChange={(event) => toggle(String(day), event.target.checked)} />
            {name}
          </label>
        ))}
      </span>
      <FieldMessages hintId={`${id}-hint`} errorId={`${id}-error`} hint={hint} errors={errors ?? []} />
    </fieldset>
  );
}

/** A number in the unit a person uses (MB, minutes), the unit written after the box. */
function UnitField({ field, value, onChange, hint, errors, note }: { field: FieldDoc; value: string; onChange: (value: string) => void; hint: ReactNode; errors: string[] | undefined; note: string | null }) {
  const id = useId();
  const fallback = note ? undefined : defaultText(field)?.replace(` ${field.unit?.word ?? ''}`, '');
  return (
    <div className="field unit-field">
      <label htmlFor={id}>{field.label}</label>
      <span className="unit-input">
        <input
          id={id}
          type="text"
          inputMode="decimal"
          autoComplete="off"
          spellCheck={false}
          value={value}
          placeholder={fallback}
          aria-invalid={errors?.length ? true : undefined}
          aria-describedby={`${id}-unit ${id}-hint${errors?.length ? ` ${id}-error` : ''}`}
          onChange={(event) => onChange(event.target.value)}
        />
        <span className="unit" id={`${id}-unit`}>
          {field.unit ? field.unit.word : ''}
        </span>
      </span>
      <FieldMessages hintId={`${id}-hint`} errorId={`${id}-error`} hint={hint} errors={errors ?? []} />
    </div>
  );
}

/**
 * Entries shown one by one with "Remove", and a box to add more (several at once, separated by spaces or commas). A
 * list with a default says whether it is the default, and offers it back when it is not.
 */
function ListField({ label, entries, defaults, onChange, hint, errors }: { label: string; entries: readonly string[]; defaults: readonly string[]; onChange: (value: readonly string[]) => void; hint: ReactNode; errors: string[] | undefined }) {
  const id = useId();
  const [adding, setAdding] = useState('');
  const add = () => {
    const next = addEntries(entries, adding);
    if (next.length > entries.length) onChange(next);
    setAdding('');
  };
  return (
    <div className="field list-field" role="group" aria-labelledby={`${id}-label`}>
      <span className="label" id={`${id}-label`}>
        {label}
      </span>
      {entries.length ? (
        <ul className="list-entries" aria-label={label}>
          {entries.map((entry) => (
            <li key={entry}>
              <span>{entry}</span>
              <button type="button" className="link-button" aria-label={`Remove ${entry}`} onClick={() => onChange(entries.filter((item) => item !== entry))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <span className="muted small">{defaults.length ? 'None: the default list is not used.' : 'None.'}</span>
      )}
      {defaults.length ? (
        <span className="list-default small">
          {sameEntries(entries, defaults) ? (
            <span className="muted">The default list.</span>
          ) : (
            <button type="button" className="link-button" onClick={() => onChange(defaults)}>
              Reset to the default list ({defaults.length} entries)
            </button>
          )}
        </span>
      ) : null}
      <span className="list-add">
        <input
          id={`${id}-add`}
          type="text"
          value={adding}
          autoComplete="off"
          spellCheck={false}
          aria-label={`Add to ${label}`}
          aria-invalid={errors?.length ? true : undefined}
          aria-describedby={`${id}-hint${errors?.length ? ` ${id}-error` : ''}`}
          onChange={(event) => setAdding(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === 'Enter') {
              event.preventDefault();
              add();
            }
          }}
          onBlur={add}
        />
        <button type="button" onClick={add} disabled={!adding.trim()}>
          Add
        </button>
      </span>
      <FieldMessages hintId={`${id}-hint`} errorId={`${id}-error`} hint={hint} errors={errors ?? []} />
    </div>
  );
}

type SmtpTest = Output<'setup.testInternal'>;
type EngineTest = Output<'setup.testFilter'>;

/**
 * "Test connection" beside an address: the setup wizard's own checks, with its plain advice. A host holding a port
 * ("10.0.0.5:2525") is not tested (DNS would be asked for that name): the wizard's button moves the port instead.
 */
function ConnectionTest({
  field,
  value,
  port: portText,
  hostMarked,
  onMovePort,
  onTested,
}: {
  field: FieldDoc;
  value: string;
  port: string;
  /** The host field already shows a problem: the fix offers only its button, not the words again. */
  hostMarked: boolean;
  onMovePort: (host: string, port: string) => void;
  /** Told each test's outcome (the internal server's: Apply warns about a change that failed its test or had none). */
  onTested?: (test: InternalTest) => void;
}) {
  const test = useAction();
  const [smtp, setSmtp] = useState<SmtpTest | null>(null);
  const [engine, setEngine] = useState<EngineTest | null>(null);
  const kind = field.test!;
  const [badPort, setBadPort] = useState<string | null>(null);
  const smtpKind = kind === 'internal' || kind === 'smarthost';
  const portInHost = smtpKind && splitHostPort(value) !== null;
  const run = async () => {
    setSmtp(null);
    setEngine(null);
    setBadPort(null);
    if (smtpKind) {
      if (portInHost) return;
      // the port typed, never another one in its place
      const port = testPort(portText);
      if (port === null) return setBadPort(badTestPortWords(portText));
      const host = value.trim();
      const answer = await test.run(() => call('setup.testInternal', { host, port, role: kind }));
      if (answer) setSmtp(answer);
      onTested?.({ host, port: String(port), ok: answer?.ok ?? false, answered: answer?.steps.some((step) => step.step === 'greeting' && step.ok) ?? false });
    } else {
      const answer = await test.run(() => call('setup.testFilter', { engine: kind, address: value.trim() }));
      if (answer) setEngine(answer);
    }
  };
  return (
    <div className="test-box">
      {portInHost ? <HostPortFix host={value} shownAtField={hostMarked} onFix={onMovePort} /> : null}
      <button type="button" onClick={() => void run()} disabled={test.busy || !value.trim() || portInHost} aria-label={`Test connection to ${field.label}`}>
        {test.busy ? 'Testing…' : 'Test connection'}
      </button>
      {badPort ? (
        <p className="error-box" role="alert">
          {badPort}
        </p>
      ) : null}
      <ErrorMessage error={test.error} />
      {smtp ? <TestReport result={smtp} who={kind === 'smarthost' ? 'The smarthost answers' : 'The internal server answers'} /> : null}
      {engine ? (
        <p role="status">
          <Badge tone={engine.ok ? 'ok' : 'critical'}>{engine.ok ? 'Works' : 'Failed'}</Badge> {engine.detail}
        </p>
      ) : null}
    </div>
  );
}

import { useEffect, useRef, useState } from 'react';
import type { Output } from '../../../src-relay/admin/contract.ts';
import { ApiFailure, call } from '../../api/client.ts';
import { asFailure, useCall } from '../../api/hooks.ts';
import { ErrorMessage, Loading, PageHeader } from '../../components/ui.tsx';
import { getPath, mapIssues, type ConfigObject, type Issue } from '../../lib/paths.ts';
import { overrideNote } from '../../lib/overrides.ts';
import { labelOf, type FieldDoc } from '../../lib/settings.ts';
import { applyPlan, applyTaskLabel, buildConfig, doneSentence, FIELD_PATHS, fieldsFromConfig, hostPortProblem, parseList, passwordProblems, changesNothing, stepIssues, WIZARD_STEPS, type ApplyTask, type ConfigField, type InForce, type InternalTest, type StepId, type WizardFields } from '../../lib/wizard.ts';
import { DomainsStep, FiltersStep, InternalStep, OutboundStep, PasswordStep, RecipientsStep, SubmissionStep, TlsStep, useEngineSearch, type EngineSearch, type StepProps } from './steps.tsx';
import { ReviewStep, type TaskResult } from './Review.tsx';
import { forgetKept, useKeptState } from '../../lib/kept-state.ts';

type RelayStatus = Output<'relay.status'>;

/** The setup wizard: loads the saved configuration, walks the steps, applies everything at the end. */
export function Wizard({ relay, onApplied }: { relay: RelayStatus | undefined; onApplied: () => void }) {
  const view = useCall('config.get', {});
  if (view.error && !view.data) {
    return (
      <div>
        <PageHeader title="Setup wizard" />
        <ErrorMessage error={view.error} onRetry={() => void view.reload()} />
      </div>
    );
  }
  if (!view.data) return <Loading label="Loading the configuration…" />;
  return <WizardSteps saved={view.data.saved} revision={view.data.revision} overridden={view.data.overridden} effective={view.data.effective} keys={view.data.keys} bound={relay?.addresses} machineName={getPath(view.data.saved, 'hostname') === undefined ? (relay?.hostname ?? null) : null} firstRun={relay?.state === 'setup' || !view.data.configured} onApplied={onApplied} />;
}

/** Codes that mean "the relay is (re)starting": account changes right after apply wait for it. */
const NOT_READY = new Set(['RELAY_NOT_RUNNING', 'UNAVAILABLE', 'NETWORK']);
const READY_WAIT_MS = 1000;
const READY_TRIES = 15;

async function whenReady<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof ApiFailure) || !NOT_READY.has(error.code) || attempt >= READY_TRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, READY_WAIT_MS));
    }
  }
}

function WizardSteps({ saved, revision, overridden, effective, keys, bound, machineName, firstRun, onApplied }: { saved: ConfigObject; revision: string; overridden: readonly string[]; effective: ConfigObject; keys: readonly FieldDoc[]; bound: RelayStatus['addresses'] | undefined; machineName: string | null; firstRun: boolean; onApplied: () => void }) {
  // what was typed survives a look at another screen (a sidebar click used to start the wizard over, empty)
  const basis = JSON.stringify(saved);
  const [fields, setFields, staleFields] = useKeptState<WizardFields>('wizard.fields', basis, () => fieldsFromConfig(saved));
  const [setAside, setSetAside] = useState(staleFields !== undefined);
  const [index, setIndex] = useKeptState('wizard.step', basis, () => 0);
  const [furthest, setFurthest] = useKeptState('wizard.furthest', basis, () => 0);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [localProblems, setLocalProblems] = useState<Partial<Record<keyof WizardFields, string>>>({});
  const [checking, setChecking] = useState(false);
  const [failure, setFailure] = useState<ApiFailure | null>(null);
  const [results, setResults] = useState<TaskResult[] | null>(null);
  const [applying, setApplying] = useState(false);
  const [internalTest, setInternalTest] = useKeptState<InternalTest | null>('wizard.internalTest', basis, () => null);
  /** Set synchronously while Next checks a step: a second click before React re-renders must not check (and move) twice. */
  const moving = useRef(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const existingAccounts = useCall('accounts.list', {});
  const engineSearch = useEngineSearch();

  const step = WIZARD_STEPS[index]!;
  const config = buildConfig(saved, fields);
  const configKey = JSON.stringify(config);

  // The review checks the whole configuration as the relay would start with it.
  const [review, setReview] = useState<{ issues: Issue[] | null; error: ApiFailure | null }>({ issues: null, error: null });
  useEffect(() => {
    if (step.id !== 'review') return;
    let live = true;
    setReview({ issues: null, error: null });
    call('config.validate', { config: JSON.parse(configKey) as ConfigObject, complete: true })
      .then((result) => live && setReview({ issues: result.problems, error: null }))
      .catch((error: unknown) => live && setReview({ issues: null, error: asFailure(error) }));
    return () => {
      live = false;
    };
  }, [step.id, configKey]);

  // A new step starts at its heading (not on the first one: its first field has the focus).
  const shown = useRef(false);
  useEffect(() => {
    if (shown.current) heading.current?.focus();
    shown.current = true;
  }, [index]);

  // a field changed since its problem was found no longer shows it (the next check says again what still is wrong)
  const [edited, setEdited] = useState<ReadonlySet<keyof WizardFields>>(new Set());
  useEffect(() => setEdited(new Set()), [issues, localProblems]);
  const set = <K extends keyof WizardFields>(key: K, value: WizardFields[K]) => {
    setFields((current) => ({ ...current, [key]: value }));
    setEdited((current) => (current.has(key) ? current : new Set([...current, key])));
  };

  const goTo = (target: number) => {
    setIssues([]);
    setLocalProblems({});
    setFailure(null);
    setIndex(target);
    setFurthest((current) => Math.max(current, target));
  };

  const next = async () => {
    if (moving.current) return;
    setFailure(null);
    if (step.id === 'password') {
      const problems = passwordProblems(fields);
      setLocalProblems(problems);
      if (Object.keys(problems).length) return;
      goTo(index + 1);
      return;
    }
    if (step.id === 'domains' && parseList(fields.domains).length === 0) {
      setLocalProblems({ domains: 'add at least one domain this relay takes mail for' });
      return;
    }
    if (step.id === 'internal' && !fields.internalHost.trim()) {
      setLocalProblems({ internalHost: 'name the internal mail server' });
      return;
    }
    if (step.id === 'tls' && fields.tlsMode === 'files' && (!fields.certPath.trim() || !fields.keyPath.trim())) {
      setLocalProblems({
        ...(fields.certPath.trim() ? {} : { certPath: 'paste the certificate above and press "Save certificate", or name its file here' }),
        ...(fields.keyPath.trim() ? {} : { keyPath: 'name the private key file that goes with the certificate' }),
      });
      return;
    }
    const portInHost = step.id === 'internal' ? hostPortProblem(fields.internalHost) : step.id === 'outbound' && fields.outboundMode === 'smarthost' ? hostPortProblem(fields.smarthostHost) : null;
    if (portInHost) {
      setLocalProblems(step.id === 'internal' ? { internalHost: portInHost } : { smarthostHost: portInHost });
      return;
    }
    setLocalProblems({});
    setChecking(true);
    moving.current = true;
    try {
      const result = await call('config.validate', { config, complete: false });
      const mine = stepIssues(step.id, result.problems);
      setIssues(mine);
      if (mine.length === 0) goTo(index + 1);
    } catch (error) {
      setFailure(asFailure(error));
    } finally {
      moving.current = false;
      setChecking(false);
    }
  };

  const apply = async () => {
    const plan = applyPlan(fields);
    const state: TaskResult[] = plan.map((task) => ({ task, label: applyTaskLabel(task), state: 'waiting', message: null }));
    const update = (i: number, patch: Partial<TaskResult>) => {
      state[i] = { ...state[i]!, ...patch };
      setResults([...state]);
    };
    setApplying(true);
    setResults([...state]);
    for (const [i, task] of plan.entries()) {
      update(i, { state: 'running' });
      try {
        const { message, relayState } = await runTask(task, config, fields, revision);
        update(i, { state: message?.startsWith('!') ? 'warning' : 'done', message: message?.replace(/^!/, '') ?? null, ...(relayState ? { relayState } : {}) });
        // The shell shows (and routes by) the relay's state: it changed with the new configuration.
        if (task.kind === 'config') {
          forgetKept('wizard.fields', 'wizard.step', 'wizard.furthest', 'wizard.internalTest');
          onApplied();
        }
      } catch (error) {
        const failure = asFailure(error);
        // a setting an engine could not start with is named in the message already (Settings marks its field)
        update(i, { state: 'failed', message: failure.message, issues: failure.code === 'APPLY_FAILED' ? [] : failure.issues });
        if (task.kind === 'config') {
          for (let rest = i + 1; rest < plan.length; rest += 1) update(rest, { state: 'skipped', message: 'not done: the configuration was not applied' });
          break;
        }
      }
    }
    setApplying(false);
    void existingAccounts.reload();
  };

  const mapped = mapIssues(issues, FIELD_PATHS);
  const errors = (key: keyof WizardFields): string[] | undefined => {
    if (edited.has(key)) return undefined;
    const local = localProblems[key];
    const remote = (mapped.byField as Record<string, string[] | undefined>)[key];
    return local ? [local] : remote;
  };
  const note = (key: ConfigField): string | null => {
    const path = FIELD_PATHS[key];
    return overrideNote(path, overridden, /(^|\.)pass$/.test(path) ? undefined : getPath(effective, path));
  };
  const label = (key: ConfigField): string => labelOf(keys, FIELD_PATHS[key]);
  const props: StepProps = { fields, set, errors, note, label, onInternalTest: setInternalTest };
  const applied = results !== null && results.every((result) => result.state !== 'waiting' && result.state !== 'running') && results[0]?.state !== 'failed';

  return (
    <div className="wizard">
      <PageHeader title={firstRun ? 'Set up Moat' : 'Setup wizard'} />
      {!firstRun ? <p className="intro">Starts from the configuration in force. Nothing changes until you press Apply on the last step.</p> : null}
      {setAside ? (
        <div className="notice" role="status" data-testid="wizard-set-aside">
          <p>
            What you typed in the wizard earlier was not applied and is set aside: the saved configuration changed meanwhile (applied in another window, in Settings,
            or in moat.json). The wizard starts again from what is saved now.
          </p>
          <button type="button" onClick={() => setSetAside(false)}>
            Dismiss
          </button>
        </div>
      ) : null}
      <div className="wizard-layout">
        <nav aria-label="Wizard steps" className="wizard-nav">
          <ol>
            {WIZARD_STEPS.map((item, i) => (
              <li key={item.id} className={i < index ? 'done' : undefined}>
                <button type="button" aria-current={i === index ? 'step' : undefined} disabled={i > furthest || applying} onClick={() => goTo(i)}>
                  <span className="step-number" aria-hidden="true">
                    {i + 1}
                  </span>
                  {item.title}
                </button>
              </li>
            ))}
          </ol>
        </nav>
        <section className="wizard-step">
          <h2 id="wizard-step-title" ref={heading} tabIndex={-1}>
            Step {index + 1} of {WIZARD_STEPS.length}: {step.title}
          </h2>
          {mapped.other.length ? (
            <div className="error-box" role="alert">
              <ul>
                {mapped.other.map((issue) => (
                  <li key={`${issue.path}:${issue.message}`}>
                    <code>{issue.path}</code> {issue.message}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          <StepBody id={step.id} props={props} inForce={{ effective, overridden, machineName, bound: { 'mx.listen': bound?.mx ?? null, 'submission.listen': bound?.submission ?? null, 'submission.tlsListen': bound?.submissions ?? null, 'admin.listen': bound?.admin ?? null } }} existing={existingAccounts.data?.accounts ?? []} engineSearch={engineSearch} config={config} unchanged={!firstRun && changesNothing(saved, fields)} review={review} results={results} applying={applying} internalTest={internalTest} machineName={machineName} firstRun={firstRun} onEdit={(id) => goTo(WIZARD_STEPS.findIndex((candidate) => candidate.id === id))} />
          <ErrorMessage error={failure} />
          <div className="wizard-buttons">
            <button type="button" onClick={() => goTo(index - 1)} disabled={index === 0 || applying || checking}>
              Back
            </button>
            {step.id === 'review' ? (
              applied ? null : (
                <button type="button" className="primary" onClick={() => void apply()} disabled={applying || review.issues === null || review.issues.length > 0}>
                  {applying ? 'Applying…' : 'Apply'}
                </button>
              )
            ) : (
              <button type="button" className="primary" onClick={() => void next()} disabled={checking}>
                {checking ? 'Checking…' : 'Next'}
              </button>
            )}
          </div>
        </section>
      </div>
    </div>
  );
}

/** A configuration's internal server as the review compares it: the wizard's own reading of its fields. */
function internalOf(config: ConfigObject): { host: string; port: string } {
  const fields = fieldsFromConfig(config);
  return { host: fields.internalHost.trim(), port: fields.internalPort.trim() || '25' };
}

/** One apply task; a message starting with "!" is a warning (done, but the admin should look). */
async function runTask(task: ApplyTask, config: ConfigObject, fields: WizardFields, revision: string): Promise<{ message: string | null; relayState?: string }> {
  switch (task.kind) {
    case 'config': {
      const result = await call('config.apply', { config, revision });
      if (result.error) return { message: `!saved, but the relay reports: ${result.error}`, relayState: result.state };
      return { message: result.notes.length ? `!the relay is ${result.state}, but: ${result.notes.join(' ')}` : `the relay is ${result.state}`, relayState: result.state };
    }
    case 'account': {
      const draft = fields.accounts.find((account) => account.name.trim() === task.name);
      if (!draft) return { message: null };
      await whenReady(() => call('accounts.add', { name: task.name, password: draft.password, senders: parseList(draft.senders) }));
      return { message: null };
    }
    case 'password':
      await whenReady(() => call('auth.changePassword', { current: fields.adminCurrent, password: fields.adminNew }));
      return { message: null };
  }
}

function StepBody({
  id,
  props,
  inForce,
  existing,
  engineSearch,
  config,
  unchanged,
  review,
  results,
  applying,
  internalTest,
  machineName,
  firstRun,
  onEdit,
}: {
  id: StepId;
  props: StepProps;
  inForce: InForce;
  existing: Output<'accounts.list'>['accounts'];
  engineSearch: EngineSearch;
  config: ConfigObject;
  unchanged: boolean;
  review: { issues: Issue[] | null; error: ApiFailure | null };
  results: TaskResult[] | null;
  applying: boolean;
  internalTest: InternalTest | null;
  machineName: string | null;
  firstRun: boolean;
  onEdit: (id: StepId) => void;
}) {
  switch (id) {
    case 'domains':
      return <DomainsStep {...props} />;
    case 'internal':
      return <InternalStep {...props} />;
    case 'recipients':
      return <RecipientsStep {...props} />;
    case 'filters':
      return <FiltersStep {...props} search={engineSearch} />;
    case 'tls':
      return <TlsStep {...props} />;
    case 'outbound':
      return <OutboundStep {...props} />;
    case 'submission':
      return <SubmissionStep {...props} existing={existing} />;
    case 'password':
      return <PasswordStep {...props} justClaimed={firstRun} />;
    case 'review':
      return <ReviewStep fields={props.fields} inForce={inForce} config={config} issues={review.issues} error={review.error} results={results} applying={applying} internalTest={internalTest} internalInForce={firstRun ? null : internalOf(inForce.effective)} unchanged={unchanged} machineName={machineName} onEdit={onEdit} />;
  }
}

import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import type { Output } from '../../../src-relay/admin/contract.ts';
import { call, type ApiFailure } from '../../api/client.ts';
import { useAction } from '../../api/hooks.ts';
import { Badge, CheckboxField, Empty, ErrorMessage, Facts, RadioGroup, SelectField, TextField, Time } from '../../components/ui.tsx';
import { mapIssues } from '../../lib/paths.ts';
import { accountProblems, DEFAULT_JUNK_SCORES, badTestPortWords, detectionWords, domainList, hostPortProblem, testPort, MIN_PASSWORD_CHARS, parseList, splitHostPort, type AccountDraft, type ConfigField, type InternalTest, type TlsMode, type WizardFields } from '../../lib/wizard.ts';
import { PlainError } from '../../components/PlainError.tsx';
import { recipientWords } from '../../lib/words.ts';

export interface StepProps {
  fields: WizardFields;
  set: <K extends keyof WizardFields>(key: K, value: WizardFields[K]) => void;
  errors: (key: keyof WizardFields) => string[] | undefined;
  /** The note for a field whose key the command line sets (its value here is the file's, not the one in force), or null. */
  note: (key: ConfigField) => string | null;
  /** A field's label from the key table beside the config schema (the settings page shows the same). */
  label: (key: ConfigField) => string;
  /** Told the outcome of each "Test connection" of the internal server (the review warns about a failed or missing one). */
  onInternalTest?: (test: InternalTest) => void;
}

/** A host field's problems: the server's, else a port typed into it (with a button that moves it to the Port field). */
export function HostPortFix({ host, onFix, shownAtField }: { host: string; onFix: (host: string, port: string) => void; shownAtField: boolean }) {
  const split = splitHostPort(host);
  if (!split) return null;
  return (
    <p className="notice host-port-fix" role={shownAtField ? undefined : 'alert'}>
      {shownAtField ? null : `${hostPortProblem(host)} `}
      <button type="button" onClick={() => onFix(split.host, split.port)}>
        Move {split.port} to the Port field
      </button>
    </p>
  );
}

/** A field's hint with the command-line note first, when there is one. */
function withNote(note: string | null, hint: ReactNode): ReactNode {
  return note ? (
    <>
      <span className="override-note">{note}</span>
      {hint}
    </>
  ) : (
    hint
  );
}

const TLS_OPTIONS: readonly { value: TlsMode; label: string }[] = [
  { value: 'opportunistic', label: 'When offered (opportunistic)' },
  { value: 'required', label: 'Required' },
  { value: 'none', label: 'Never' },
];

export function DomainsStep({ fields, set, errors, note, label }: StepProps) {
  const mxListenNote = note('mxListen');
  return (
    <>
      <p>The domains whose mail this relay takes in and hands to your internal server. Mail for any other domain is refused, so Moat is never an open relay.</p>
      <TextField label={label('domains')} value={fields.domains} onChange={(value) => set('domains', value)} errors={errors('domains')} multiline rows={4} hint={withNote(note('domains'), 'One per line, e.g. example.com')} autoFocus />
      <TextField label={label('hostname')} value={fields.hostname} onChange={(value) => set('hostname', value)} errors={errors('hostname')} hint="Used in the greeting and in Received headers; should match the MX record and reverse DNS. Empty: this machine's name." placeholder="mx.example.com" />
      <TextField
        label={label('mxListen')}
        value={fields.mxListen}
        onChange={(value) => set('mxListen', value)}
        errors={errors('mxListen')}
        // set on the command line, "Empty: port 25" beside the address in force read as a second answer: it is the file's
        hint={withNote(mxListenNote, `Where the Internet delivers mail to this relay, as HOST:PORT. ${mxListenNote ? 'Left empty here, the file says' : 'Empty:'} port 25 on every interface.`)}
        placeholder={mxListenNote ? undefined : '0.0.0.0:25'}
      />
    </>
  );
}

type TestResult = Output<'setup.testInternal'>;

export function InternalStep({ fields, set, errors, label, onInternalTest }: StepProps) {
  const test = useAction();
  const [result, setResult] = useState<TestResult | null>(null);
  const firstDomain = domainList(fields.domains)[0];
  const portInHost = splitHostPort(fields.internalHost) !== null;
  // what the test refused to try (a bad host or port) is said at the field, as Next says it
  const testIssues = mapIssues(test.error?.issues ?? [], { internalHost: 'host', internalPort: 'port', testRecipient: 'recipient' });
  const atField = (key: 'internalHost' | 'internalPort' | 'testRecipient', own: string[] | undefined) => [...(own ?? []), ...(testIssues.byField[key] ?? [])];
  const testError = test.error && test.error.issues.length > 0 && testIssues.other.length === 0 ? { ...test.error, message: 'The test could not run: fix what is marked above, then test again.' } : test.error;
  const runTest = async () => {
    setResult(null);
    // "IP:port" in the host field: the advice above the button says what to do; asking DNS for it would only confuse
    if (portInHost) return;
    const host = fields.internalHost.trim();
    const portText = fields.internalPort.trim() || '25';
    const port = Number(portText);
    const recipient = fields.testRecipient.trim() || (firstDomain ? `postmaster@${firstDomain}` : undefined);
    const answer = await test.run(() => call('setup.testInternal', { host, port: Number.isInteger(port) ? port : 25, ...(recipient ? { recipient } : {}) }));
    if (answer) {
      setResult(answer);
      onInternalTest?.({ host, port: portText, ok: answer.ok, answered: answer.steps.some((step) => step.step === 'greeting' && step.ok) });
    } else {
      onInternalTest?.({ host, port: portText, ok: false, answered: false });
    }
  };
  return (
    <>
      <p>The mail server inside your network (for example Exchange) that receives the mail for your domains.</p>
      <div className="field-row">
        <TextField label={label('internalHost')} value={fields.internalHost} onChange={(value) => set('internalHost', value)} errors={atField('internalHost', errors('internalHost'))} placeholder="exchange.corp.local or 10.0.0.5" autoFocus className="grow" />
        <TextField label={label('internalPort')} value={fields.internalPort} onChange={(value) => set('internalPort', value)} errors={atField('internalPort', errors('internalPort'))} inputMode="numeric" className="short" />
      </div>
      <HostPortFix
        host={fields.internalHost}
        shownAtField={Boolean(errors('internalHost')?.length)}
        onFix={(host, port) => {
          set('internalHost', host);
          set('internalPort', port);
        }}
      />
      <SelectField label={label('internalTls')} value={fields.internalTls} onChange={(value) => set('internalTls', value)} errors={errors('internalTls')} options={TLS_OPTIONS} />
      <CheckboxField label={label('internalVerify')} checked={fields.internalVerify} onChange={(value) => set('internalVerify', value)} errors={errors('internalVerify')} hint="Leave off for a self-signed Exchange certificate." />
      <CheckboxField label="Log in to the internal server (SMTP AUTH)" checked={fields.internalAuth} onChange={(value) => set('internalAuth', value)} hint="Usually not needed: allow the relay's address on the receive connector instead." />
      {fields.internalAuth ? (
        <div className="field-row">
          <TextField label={label('internalUser')} value={fields.internalUser} onChange={(value) => set('internalUser', value)} errors={errors('internalUser')} className="grow" />
          <TextField label={label('internalPass')} type="password" value={fields.internalPass} onChange={(value) => set('internalPass', value)} errors={errors('internalPass')} autoComplete="new-password" className="grow" />
        </div>
      ) : null}
      <div className="test-box">
        <TextField label="Recipient to probe" value={fields.testRecipient} onChange={(value) => set('testRecipient', value)} errors={atField('testRecipient', undefined)} hint={`An existing mailbox; the test asks whether it is accepted without sending anything.${firstDomain ? ` Empty: postmaster@${firstDomain}.` : ''}`} />
        <button type="button" onClick={() => void runTest()} disabled={test.busy || !fields.internalHost.trim() || portInHost}>
          {test.busy ? 'Testing…' : 'Test connection'}
        </button>
        <ErrorMessage error={testError} showIssues={testIssues.other.length > 0} />
        {result ? <TestReport result={result} /> : null}
      </div>
    </>
  );
}

const STEP_NAMES: Record<TestResult['steps'][number]['step'], string> = {
  connect: 'Connect',
  greeting: 'Greeting',
  ehlo: 'EHLO',
  starttls: 'STARTTLS',
  mail: 'MAIL FROM',
  rcpt: 'Recipient probe',
};

/** What an SMTP connection test found, step by step, with its plain advice (the wizard and the settings page). */
export function TestReport({ result, who = 'The internal server answers' }: { result: TestResult; who?: string }) {
  // what the server offers is known only from its EHLO reply: before that, not "no" but unknown
  const heard = result.steps.some((step) => step.step === 'ehlo' && step.ok);
  return (
    <div className="test-report" role="status">
      <p>
        <Badge tone={result.ok ? 'ok' : 'critical'}>{result.ok ? who : 'The test failed'}</Badge>
      </p>
      <ol className="test-steps">
        {result.steps.map((step) => (
          <li key={step.step} className={step.ok ? 'ok' : 'failed'}>
            <span className="step-mark" aria-hidden="true">
              {step.ok ? '✓' : '✗'}
            </span>
            <strong>{STEP_NAMES[step.step]}</strong>
            <span className="visually-hidden">{step.ok ? ' worked' : ' failed'}</span>
            {step.ok ? `: ${step.detail}` : <PlainError raw={step.detail} />}
          </li>
        ))}
      </ol>
      <Facts
        items={[
          ['Greeting', result.banner ?? '—'],
          ['STARTTLS offered', !heard ? '—' : result.starttls ? 'yes' : 'no'],
          ['AUTH offered', !heard ? '—' : result.authMechanisms.length ? result.authMechanisms.join(', ') : 'no'],
          ['Recipient accepted', recipientWords(result)],
        ]}
      />
      {result.advice.length ? (
        <ul className="advice">
          {result.advice.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function RecipientsStep({ fields, set, errors, label }: StepProps) {
  return (
    <>
      <p>Refusing mail for addresses that do not exist at the door keeps spam out and avoids bounces to forged senders (backscatter).</p>
      <CheckboxField
        label={label('calloutEnabled')}
        checked={fields.calloutEnabled}
        onChange={(value) => set('calloutEnabled', value)}
        errors={errors('calloutEnabled')}
        hint="Moat asks with a recipient probe (nothing is sent) and remembers the answer. Needs recipient filtering on the internal server (Exchange: Recipient Filtering on the receive connector)."
      />
      {fields.calloutEnabled ? (
        <RadioGroup
          legend={label('calloutUnreachable')}
          value={fields.calloutUnreachable}
          onChange={(value) => set('calloutUnreachable', value)}
          errors={errors('calloutUnreachable')}
          options={[
            { value: 'tempfail', label: 'Ask the sender to try again later (4xx)' },
            { value: 'accept', label: 'Accept every address of our domains' },
          ]}
        />
      ) : null}
      <TextField label={label('recipients')} value={fields.recipients} onChange={(value) => set('recipients', value)} errors={errors('recipients')} multiline rows={5} hint="Optional. One address per line. Empty: any address of the accepted domains (postmaster is always accepted)." />
    </>
  );
}

type Engine = Output<'setup.detectFilters'>['engines'][number]['engine'];
const ENGINES: readonly { engine: Engine; label: string; field: 'clamavAddress' | 'rspamdAddress' | 'spamdAddress'; hint: string }[] = [
  { engine: 'clamav', label: 'ClamAV (clamd)', field: 'clamavAddress', hint: 'Virus scanning: a unix socket such as /run/clamav/clamd.ctl, or HOST:PORT.' },
  { engine: 'rspamd', label: 'rspamd', field: 'rspamdAddress', hint: "Junk scoring: rspamd's normal worker, e.g. 127.0.0.1:11333." },
  { engine: 'spamd', label: 'SpamAssassin (spamd)', field: 'spamdAddress', hint: 'Junk scoring: spamd, e.g. 127.0.0.1:783.' },
];

export interface EngineSearch {
  found: Output<'setup.detectFilters'>['engines'] | null;
  busy: boolean;
  error: ApiFailure | null;
  run: () => Promise<void>;
}

/**
 * The look for filter engines on this box, started as the wizard opens: its findings are in by the filters step
 * (arriving while that step showed, they pushed Next down under the admin's pointer). The button looks again.
 */
export function useEngineSearch(): EngineSearch {
  const detect = useAction();
  const [found, setFound] = useState<EngineSearch['found']>(null);
  const run = useCallback(async () => {
    const result = await detect.run(() => call('setup.detectFilters', {}));
    if (result) setFound(result.engines);
  }, [detect.run]);
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    void run();
  }, [run]);
  return { found, busy: detect.busy, error: detect.error, run };
}

export function FiltersStep({ fields, set, errors, label, search }: StepProps & { search: EngineSearch }) {
  const { found } = search;
  return (
    <>
      <p>Moat checks inbound mail with its own rules, and with ClamAV and rspamd or SpamAssassin when they run on this box or nearby.</p>
      <CheckboxField label={label('filtersEnabled')} checked={fields.filtersEnabled} onChange={(value) => set('filtersEnabled', value)} errors={errors('filtersEnabled')} />
      {fields.filtersEnabled ? (
        <>
          <div className="panel">
            <div className="panel-header">
              <h3>Filter engines on this box</h3>
              <button type="button" onClick={() => void search.run()} disabled={search.busy}>
                {search.busy ? 'Looking…' : 'Look for filters'}
              </button>
            </div>
            <ErrorMessage error={search.error} />
            {found === null && search.busy ? <p className="muted">Looking at the usual addresses…</p> : null}
            {found ? (
              found.length === 0 ? (
                <Empty>Nothing answered.</Empty>
              ) : (
                <ul className="engines">
                  {found.map((engine) => {
                    const info = ENGINES.find((item) => item.engine === engine.engine)!;
                    return (
                      <li key={`${engine.engine}-${engine.address}`}>
                        <Badge tone={engine.found ? 'ok' : 'neutral'}>{engine.found ? 'Found' : 'Not found'}</Badge> <strong>{info.label}</strong> at <code>{engine.address}</code>: <span className="muted">{detectionWords(engine.found, engine.detail)}</span>{' '}
                        {engine.found && fields[info.field] !== engine.address ? (
                          <button type="button" onClick={() => set(info.field, engine.address)} aria-label={`Use ${info.label} at ${engine.address}`}>
                            Use
                          </button>
                        ) : null}
                        {engine.detail ? (
                          <details className="engine-details">
                            <summary>Details</summary>
                            <code className="plain-raw">{engine.detail}</code>
                          </details>
                        ) : null}
                      </li>
                    );
                  })}
                </ul>
              )
            ) : null}
            {found && !found.some((engine) => engine.engine === 'clamav' && engine.found) && !fields.clamavAddress.trim() ? <NoVirusScanner /> : null}
          </div>
          {ENGINES.map((engine) => (
            <EngineField key={engine.engine} engine={engine.engine} name={engine.label} label={label(engine.field)} hint={engine.hint} value={fields[engine.field]} onChange={(value) => set(engine.field, value)} errors={errors(engine.field)} />
          ))}
          <h3>Junk scores</h3>
          <p className="muted small">From these scores a message is delivered tagged (for the Junk folder), kept in quarantine, or refused. Empty: the defaults ({Object.values(DEFAULT_JUNK_SCORES).join(', ')}).</p>
          <div className="field-row">
            <TextField label={label('tagScore')} value={fields.tagScore} onChange={(value) => set('tagScore', value)} errors={errors('tagScore')} inputMode="decimal" placeholder={DEFAULT_JUNK_SCORES.tagScore} className="short" />
            <TextField label={label('quarantineScore')} value={fields.quarantineScore} onChange={(value) => set('quarantineScore', value)} errors={errors('quarantineScore')} inputMode="decimal" placeholder={DEFAULT_JUNK_SCORES.quarantineScore} className="short" />
            <TextField label={label('rejectScore')} value={fields.rejectScore} onChange={(value) => set('rejectScore', value)} errors={errors('rejectScore')} inputMode="decimal" placeholder={DEFAULT_JUNK_SCORES.rejectScore} className="short" />
          </div>
          <DigestFields fields={fields} set={set} errors={errors} />
        </>
      ) : (
        <p className="notice">With the filters off, every message for your domains is delivered unchecked.</p>
      )}
    </>
  );
}

/** The users' daily list of their held mail, and the address of the page its links open (or why none is needed). */
function DigestFields({ fields, set, errors }: Pick<StepProps, 'fields' | 'set' | 'errors'>) {
  return (
    <>
      <h3>Held mail</h3>
      <CheckboxField
        label="Send each user a daily list of their held mail"
        checked={fields.digestEnabled}
        onChange={(value) => set('digestEnabled', value)}
        errors={errors('digestEnabled')}
        hint="Once a day (08:00 on weekdays; Settings can change it), each person with newly held mail gets one message listing it: sender, subject, when and why. Never the mail itself."
      />
      {fields.digestEnabled ? (
        <TextField
          label="Address of the users' page"
          value={fields.userPageListen}
          onChange={(value) => set('userPageListen', value)}
          errors={errors('userPageListen')}
          hint="The list links to a small page where a user looks at a held message safely and releases it. It listens on this address of this box, as IP:PORT on your internal network (e.g. 192.168.1.10:8026), never one the Internet reaches. Empty: the list has no links, and users ask you to release a message."
          placeholder="empty: no links"
        />
      ) : null}
    </>
  );
}

/** No clamd answered: how to get one, in the commands a Debian or Ubuntu admin types. */
function NoVirusScanner() {
  return (
    <div className="notice" role="note" aria-label="No virus scanner">
      <p>
        <strong>No virus scanner found.</strong> Without one, viruses reach your users unchecked (attachments that run programs are still blocked). Install ClamAV on this box:
      </p>
      <ol>
        <li>
          <code>sudo apt-get install clamav-daemon clamav-freshclam</code>
        </li>
        <li>
          <code>sudo systemctl enable --now clamav-freshclam clamav-daemon</code> (the first signature download takes a few minutes; clamd starts once it is there)
        </li>
        <li>Press “Look for filters” again, then “Use”.</li>
      </ol>
    </div>
  );
}

function EngineField({ engine, name, label, hint, value, onChange, errors }: { engine: Engine; name: string; label: string; hint: string; value: string; onChange: (value: string) => void; errors: string[] | undefined }) {
  const test = useAction();
  const [result, setResult] = useState<Output<'setup.testFilter'> | null>(null);
  const runTest = async () => {
    setResult(null);
    const answer = await test.run(() => call('setup.testFilter', { engine, address: value.trim() }));
    if (answer) setResult(answer);
  };
  return (
    <div className="engine-field">
      <TextField label={label} value={value} onChange={onChange} errors={errors} hint={`${hint} Empty: off.`} />
      <button type="button" onClick={() => void runTest()} disabled={test.busy || !value.trim()} aria-label={`Test ${name}`}>
        {test.busy ? 'Testing…' : 'Test'}
      </button>
      <ErrorMessage error={test.error} />
      {result ? (
        <p role="status">
          <Badge tone={result.ok ? 'ok' : 'critical'}>{result.ok ? 'Works' : 'Failed'}</Badge> {result.ok ? result.detail : <PlainError raw={result.detail} />}
        </p>
      ) : null}
    </div>
  );
}

export function TlsStep({ fields, set, errors, label }: StepProps) {
  const save = useAction();
  const [cert, setCert] = useState('');
  const [key, setKey] = useState('');
  const [saved, setSaved] = useState<Output<'setup.saveCertificate'> | null>(null);
  const issues = mapIssues(save.error?.issues ?? [], { cert: 'cert', key: 'key' });
  const savePem = async () => {
    const result = await save.run(() => call('setup.saveCertificate', { cert, key }));
    if (result) {
      setSaved(result);
      set('certPath', result.cert);
      set('keyPath', result.key);
      setCert('');
      setKey('');
    }
  };
  return (
    <>
      <p>Senders use STARTTLS on port 25 to encrypt mail to you; office clients use it on 587 and 465.</p>
      <RadioGroup
        legend="Certificate"
        value={fields.tlsMode}
        onChange={(value) => set('tlsMode', value)}
        options={[
          { value: 'generate', label: 'Make a self-signed certificate when the relay starts', hint: 'Fine for mail between servers (they rarely check); office clients will warn.' },
          { value: 'files', label: 'Use my certificate', hint: 'Paste it below, or name PEM files on this box.' },
        ]}
      />
      {fields.tlsMode === 'files' ? (
        <>
          <div className="panel">
            <h3>Paste the certificate</h3>
            <TextField label="Certificate (PEM)" value={cert} onChange={setCert} errors={issues.byField.cert} multiline rows={5} monospace placeholder="-----BEGIN CERTIFICATE-----" hint="The server certificate first, then the intermediate ones." />
            <TextField label="Private key (PEM)" value={key} onChange={setKey} errors={issues.byField.key} multiline rows={5} monospace placeholder="-----BEGIN PRIVATE KEY-----" />
            <button type="button" onClick={() => void savePem()} disabled={save.busy || !cert.trim() || !key.trim()}>
              {save.busy ? 'Saving…' : 'Save certificate'}
            </button>
            <ErrorMessage error={save.error} showIssues={false} />
            {saved ? (
              <div role="status" className="test-report">
                <p>
                  <Badge tone="ok">Saved</Badge> {saved.subject}
                </p>
                <Facts
                  items={[
                    ['Names', saved.names.join(', ') || '—'],
                    ['Valid until', <Time key="to" ms={saved.validTo} />],
                  ]}
                />
              </div>
            ) : null}
          </div>
          <TextField label={label('certPath')} value={fields.certPath} onChange={(value) => set('certPath', value)} errors={errors('certPath')} placeholder="/etc/ssl/moat/cert.pem" />
          <TextField label={label('keyPath')} value={fields.keyPath} onChange={(value) => set('keyPath', value)} errors={errors('keyPath')} placeholder="/etc/ssl/moat/key.pem" />
        </>
      ) : null}
    </>
  );
}

export function OutboundStep({ fields, set, errors, label }: StepProps) {
  return (
    <>
      <p>How mail for other domains (sent by your office clients through Moat) leaves.</p>
      <RadioGroup
        legend="Send outgoing mail"
        value={fields.outboundMode}
        onChange={(value) => set('outboundMode', value)}
        options={[
          { value: 'mx', label: 'Directly to the recipients’ mail servers (MX lookup)', hint: 'Needs outbound port 25 and a clean reverse DNS for this box.' },
          { value: 'smarthost', label: 'Through a smarthost', hint: "Your provider's relay, when port 25 is blocked or its reputation is better." },
        ]}
      />
      {fields.outboundMode === 'smarthost' ? (
        <>
          <div className="field-row">
            <TextField label={label('smarthostHost')} value={fields.smarthostHost} onChange={(value) => set('smarthostHost', value)} errors={errors('smarthostHost')} placeholder="smtp.provider.example" className="grow" />
            <TextField label={label('smarthostPort')} value={fields.smarthostPort} onChange={(value) => set('smarthostPort', value)} errors={errors('smarthostPort')} inputMode="numeric" className="short" />
          </div>
          <HostPortFix
            host={fields.smarthostHost}
            shownAtField={Boolean(errors('smarthostHost')?.length)}
            onFix={(host, port) => {
              set('smarthostHost', host);
              set('smarthostPort', port);
            }}
          />
          <SelectField label={label('smarthostTls')} value={fields.smarthostTls} onChange={(value) => set('smarthostTls', value)} errors={errors('smarthostTls')} options={TLS_OPTIONS} />
          <CheckboxField label={label('smarthostVerify')} checked={fields.smarthostVerify} onChange={(value) => set('smarthostVerify', value)} errors={errors('smarthostVerify')} />
          {splitHostPort(fields.smarthostHost) ? null : <SmarthostTest host={fields.smarthostHost} port={fields.smarthostPort} />}
          <CheckboxField label="Log in to the smarthost (SMTP AUTH)" checked={fields.smarthostAuth} onChange={(value) => set('smarthostAuth', value)} />
          {fields.smarthostAuth ? (
            <div className="field-row">
              <TextField label={label('smarthostUser')} value={fields.smarthostUser} onChange={(value) => set('smarthostUser', value)} errors={errors('smarthostUser')} className="grow" />
              <TextField label={label('smarthostPass')} type="password" value={fields.smarthostPass} onChange={(value) => set('smarthostPass', value)} errors={errors('smarthostPass')} autoComplete="new-password" className="grow" />
            </div>
          ) : null}
        </>
      ) : null}
    </>
  );
}

/** The internal server's SMTP conversation test, pointed at the smarthost (no recipient probe: it is not ours). */
function SmarthostTest({ host, port }: { host: string; port: string }) {
  const test = useAction();
  const [result, setResult] = useState<TestResult | null>(null);
  const [badPort, setBadPort] = useState<string | null>(null);
  const run = async () => {
    setResult(null);
    const number = testPort(port);
    setBadPort(number === null ? badTestPortWords(port) : null);
    if (number === null) return;
    const answer = await test.run(() => call('setup.testInternal', { host: host.trim(), port: number, role: 'smarthost' }));
    if (answer) setResult(answer);
  };
  return (
    <div className="test-box">
      <button type="button" onClick={() => void run()} disabled={test.busy || !host.trim()}>
        {test.busy ? 'Testing…' : 'Test connection'}
      </button>
      {badPort ? (
        <p className="error-box" role="alert">
          {badPort}
        </p>
      ) : null}
      <ErrorMessage error={test.error} />
      {result ? <TestReport result={result} who="The smarthost answers" /> : null}
    </div>
  );
}

type Account = Output<'accounts.list'>['accounts'][number];

export function SubmissionStep({ fields, set, errors, label, existing }: StepProps & { existing: readonly Account[] }) {
  const [draft, setDraft] = useState<AccountDraft>({ name: '', password: '', senders: '' });
  const [problems, setProblems] = useState<Partial<Record<keyof AccountDraft, string>>>({});
  const taken = [...existing.map((account) => account.name), ...fields.accounts.map((account) => account.name.trim())];
  const add = () => {
    const found = accountProblems(draft, taken);
    setProblems(found);
    if (Object.keys(found).length) return;
    set('accounts', [...fields.accounts, { ...draft, name: draft.name.trim() }]);
    setDraft({ name: '', password: '', senders: '' });
  };
  return (
    <>
      <p>Office clients that send through SMTP (Mac and Linux mail programs, scanners and copiers) log in to Moat to send mail, so the internal server's own SMTP AUTH can be switched off.</p>
      <CheckboxField label="Listen for clients with STARTTLS (usually port 587)" checked={fields.submissionStarttls} onChange={(value) => set('submissionStarttls', value)} />
      {fields.submissionStarttls ? <TextField label={label('submissionListen')} value={fields.submissionListen} onChange={(value) => set('submissionListen', value)} errors={errors('submissionListen')} hint="HOST:PORT" /> : null}
      <CheckboxField label="Listen for clients with implicit TLS (usually port 465)" checked={fields.submissionTls} onChange={(value) => set('submissionTls', value)} />
      {fields.submissionTls ? <TextField label={label('submissionTlsListen')} value={fields.submissionTlsListen} onChange={(value) => set('submissionTlsListen', value)} errors={errors('submissionTlsListen')} hint="HOST:PORT" /> : null}
      <TextField label={label('trustedNetworks')} value={fields.trustedNetworks} onChange={(value) => set('trustedNetworks', value)} errors={errors('trustedNetworks')} multiline rows={3} hint="One network per line, e.g. 192.168.10.0/24. Keep this short: everything there can send as anyone." />

      <h3>Accounts</h3>
      {existing.length ? (
        <p>
          Already there: {existing.map((account) => account.name).join(', ')}. Manage them later under Settings.
        </p>
      ) : null}
      {fields.accounts.length ? (
        <ul className="account-drafts" aria-label="Accounts to add">
          {fields.accounts.map((account) => (
            <li key={account.name}>
              <strong>{account.name}</strong> <span className="muted">{parseList(account.senders).join(', ') || 'no sender addresses'}</span>{' '}
              <button type="button" aria-label={`Remove ${account.name} from the list`} onClick={() => set('accounts', fields.accounts.filter((item) => item !== account))}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No new accounts. They are added when you apply.</p>
      )}
      <fieldset className="panel">
        <legend>New account</legend>
        <TextField label="Account name" value={draft.name} onChange={(name) => setDraft((current) => ({ ...current, name }))} errors={problems.name} />
        <TextField label="Account password" type="password" value={draft.password} onChange={(password) => setDraft((current) => ({ ...current, password }))} errors={problems.password} autoComplete="new-password" hint={`At least ${MIN_PASSWORD_CHARS} characters.`} />
        <TextField label="May send as" value={draft.senders} onChange={(senders) => setDraft((current) => ({ ...current, senders }))} errors={problems.senders} multiline rows={2} hint="One address or @domain per line." />
        <button type="button" onClick={add}>
          Add account
        </button>
      </fieldset>
    </>
  );
}

export function PasswordStep({ fields, set, errors, justClaimed = false }: StepProps & { justClaimed?: boolean }) {
  // Right after the claim the password is minutes old: one line, and the boxes only when asked for.
  const [changing, setChanging] = useState(!justClaimed || fields.adminCurrent !== '' || fields.adminNew !== '' || fields.adminConfirm !== '');
  if (!changing) {
    return (
      <p className="password-set">
        <Badge tone="ok">Set</Badge> Set when you claimed the relay: nothing to do here.{' '}
        <button type="button" className="link-button" onClick={() => setChanging(true)}>
          Change the admin password
        </button>
      </p>
    );
  }
  return (
    <>
      <p>{justClaimed ? 'Set when you claimed the relay — change it here if you want.' : 'The admin password was set when this relay was claimed.'} Leave these empty to keep it, or fill them in to change it when you apply.</p>
      <TextField label="Current admin password" type="password" value={fields.adminCurrent} onChange={(value) => set('adminCurrent', value)} errors={errors('adminCurrent')} autoComplete="current-password" />
      <TextField label="New admin password" type="password" value={fields.adminNew} onChange={(value) => set('adminNew', value)} errors={errors('adminNew')} autoComplete="new-password" hint={`At least ${MIN_PASSWORD_CHARS} characters.`} />
      <TextField label="Repeat the new password" type="password" value={fields.adminConfirm} onChange={(value) => set('adminConfirm', value)} errors={errors('adminConfirm')} autoComplete="new-password" />
    </>
  );
}

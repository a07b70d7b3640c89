import { getPath, issuesUnder, pathCovers, putPath, type ConfigObject, type Issue } from './paths.ts';
import { explainError } from './plain-errors.ts';
import { addEntries } from './settings.ts';

/**
 * The setup wizard as data: its steps, which config paths each step edits (so a problem found by
 * config.validate is shown on the right step, at the right field), the form fields, and the two directions
 * between fields and the configuration object. Nothing here talks to the server.
 */

export type StepId = 'domains' | 'internal' | 'recipients' | 'filters' | 'tls' | 'outbound' | 'submission' | 'password' | 'review';

export interface WizardStep {
  id: StepId;
  title: string;
  /** Config paths this step edits: problems under them are its to show. */
  prefixes: readonly string[];
}

export const WIZARD_STEPS: readonly WizardStep[] = [
  { id: 'domains', title: 'Accepted domains', prefixes: ['domains', 'hostname', 'mx.listen'] },
  { id: 'internal', title: 'Internal server', prefixes: ['internal'] },
  { id: 'recipients', title: 'Recipient verification', prefixes: ['recipients', 'mx.callout'] },
  { id: 'filters', title: 'Filters', prefixes: ['filters', 'quarantine.digest.enabled', 'quarantine.userPage.listen'] },
  { id: 'tls', title: 'TLS certificate', prefixes: ['mx.tls'] },
  { id: 'outbound', title: 'Outbound', prefixes: ['outbound'] },
  { id: 'submission', title: 'Submission accounts', prefixes: ['submission'] },
  { id: 'password', title: 'Admin password', prefixes: [] },
  { id: 'review', title: 'Review and apply', prefixes: [] },
];

export function stepIndex(id: StepId): number {
  return WIZARD_STEPS.findIndex((step) => step.id === id);
}

/** The step that edits a config path; null for keys the wizard does not show (they appear on the review). */
export function stepForPath(path: string): StepId | null {
  let best: { id: StepId; length: number } | null = null;
  for (const step of WIZARD_STEPS) {
    for (const prefix of step.prefixes) {
      if (pathCovers(prefix, path) && (!best || prefix.length > best.length)) best = { id: step.id, length: prefix.length };
    }
  }
  return best?.id ?? null;
}

/** A step's own problems out of a validation of the whole configuration. */
export function stepIssues(step: StepId, issues: readonly Issue[]): Issue[] {
  const found = WIZARD_STEPS.find((candidate) => candidate.id === step);
  return found ? issuesUnder(issues, found.prefixes).filter((issue) => stepForPath(issue.path.replace(/^config\./, '')) === step) : [];
}

export type TlsMode = 'none' | 'opportunistic' | 'required';

export interface AccountDraft {
  name: string;
  password: string;
  /** One address or @domain per line. */
  senders: string;
}

/** Every wizard input as the admin typed it (numbers stay text until built, so a typo reaches the server's check). */
export interface WizardFields {
  hostname: string;
  domains: string;
  /** The inbound listener; empty keeps the default (0.0.0.0:25) or what the command line set. */
  mxListen: string;

  internalHost: string;
  internalPort: string;
  internalTls: TlsMode;
  internalVerify: boolean;
  internalAuth: boolean;
  internalUser: string;
  internalPass: string;
  /** Used only by "Test connection" (the recipient probe). */
  testRecipient: string;

  recipients: string;
  calloutEnabled: boolean;
  calloutUnreachable: 'tempfail' | 'accept';

  filtersEnabled: boolean;
  clamavAddress: string;
  rspamdAddress: string;
  spamdAddress: string;
  tagScore: string;
  quarantineScore: string;
  rejectScore: string;
  /** The users' daily list of held mail (quarantine digest): on for a new setup, as saved for one set up before. */
  digestEnabled: boolean;
  /** Where the users' quarantine page listens (the list's links); empty: the list has no links. */
  userPageListen: string;

  tlsMode: 'generate' | 'files';
  certPath: string;
  keyPath: string;

  outboundMode: 'mx' | 'smarthost';
  smarthostHost: string;
  smarthostPort: string;
  smarthostTls: TlsMode;
  smarthostVerify: boolean;
  smarthostAuth: boolean;
  smarthostUser: string;
  smarthostPass: string;

  submissionStarttls: boolean;
  submissionListen: string;
  submissionTls: boolean;
  submissionTlsListen: string;
  trustedNetworks: string;
  accounts: AccountDraft[];

  adminCurrent: string;
  adminNew: string;
  adminConfirm: string;
}

export type FieldKey = Exclude<keyof WizardFields, 'accounts'>;

/** Where each field lands in the configuration (for problems shown at the field). */
export const FIELD_PATHS = {
  hostname: 'hostname',
  domains: 'domains',
  mxListen: 'mx.listen',
  internalHost: 'internal.host',
  internalPort: 'internal.port',
  internalTls: 'internal.tls',
  internalVerify: 'internal.verifyCertificate',
  internalUser: 'internal.auth.user',
  internalPass: 'internal.auth.pass',
  recipients: 'recipients',
  calloutEnabled: 'mx.callout.enabled',
  calloutUnreachable: 'mx.callout.whenUnreachable',
  filtersEnabled: 'filters.enabled',
  clamavAddress: 'filters.clamav.address',
  rspamdAddress: 'filters.rspamd.address',
  spamdAddress: 'filters.spamd.address',
  tagScore: 'filters.tagScore',
  quarantineScore: 'filters.quarantineScore',
  rejectScore: 'filters.rejectScore',
  digestEnabled: 'quarantine.digest.enabled',
  userPageListen: 'quarantine.userPage.listen',
  certPath: 'mx.tls.cert',
  keyPath: 'mx.tls.key',
  smarthostHost: 'outbound.smarthost.host',
  smarthostPort: 'outbound.smarthost.port',
  smarthostTls: 'outbound.smarthost.tls',
  smarthostVerify: 'outbound.smarthost.verifyCertificate',
  smarthostUser: 'outbound.smarthost.auth.user',
  smarthostPass: 'outbound.smarthost.auth.pass',
  submissionListen: 'submission.listen',
  submissionTlsListen: 'submission.tlsListen',
  trustedNetworks: 'submission.trustedNetworks',
} as const satisfies Partial<Record<FieldKey, string>>;

export type ConfigField = keyof typeof FIELD_PATHS;

/** The junk scores an empty box leaves in force (the schema's defaults for filters.tagScore, quarantineScore, rejectScore). */
export const DEFAULT_JUNK_SCORES = { tagScore: '5', quarantineScore: '10', rejectScore: '15' } as const;
/** The listeners office clients use (RFC 8314: 465 implicit TLS, 587 STARTTLS). */
export const DEFAULT_SUBMISSION_LISTEN = '0.0.0.0:587';
export const DEFAULT_SUBMISSION_TLS_LISTEN = '0.0.0.0:465';

/** Lines, commas, semicolons or spaces separate list entries; blanks are dropped. */
export function parseList(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((entry) => entry.trim())
    .filter(Boolean);
}

export function formatList(value: unknown): string {
  return Array.isArray(value) ? value.map(String).join('\n') : '';
}

/** "" -> undefined (the default applies); a number -> the number; anything else stays text so the server names the field. */
export function numberOrText(text: string): number | string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : trimmed;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

function tlsMode(value: unknown): TlsMode {
  return value === 'none' || value === 'required' ? value : 'opportunistic';
}

function record(value: unknown): ConfigObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as ConfigObject) : {};
}

/** The wizard's fields for a configuration as saved (a fresh relay's is {}). */
export function fieldsFromConfig(saved: ConfigObject): WizardFields {
  const get = (path: string) => getPath(saved, path);
  const smarthost = get('outbound.smarthost');
  const submissionListen = text(get('submission.listen'));
  const submissionTlsListen = text(get('submission.tlsListen'));
  return {
    hostname: text(get('hostname')),
    domains: formatList(get('domains')),
    mxListen: text(get('mx.listen')),
    internalHost: text(get('internal.host')),
    internalPort: text(get('internal.port')) || '25',
    internalTls: tlsMode(get('internal.tls')),
    internalVerify: get('internal.verifyCertificate') === true,
    internalAuth: get('internal.auth') !== undefined,
    internalUser: text(get('internal.auth.user')),
    internalPass: text(get('internal.auth.pass')),
    testRecipient: '',
    recipients: formatList(get('recipients')),
    calloutEnabled: get('mx.callout.enabled') === true,
    calloutUnreachable: get('mx.callout.whenUnreachable') === 'accept' ? 'accept' : 'tempfail',
    filtersEnabled: get('filters.enabled') !== false,
    clamavAddress: text(get('filters.clamav.address')),
    rspamdAddress: text(get('filters.rspamd.address')),
    spamdAddress: text(get('filters.spamd.address')),
    tagScore: text(get('filters.tagScore')),
    quarantineScore: text(get('filters.quarantineScore')),
    rejectScore: text(get('filters.rejectScore')),
    // the config's default is off (an existing relay does not start sending lists by itself); a new setup (no
    // domains saved yet) offers it on
    digestEnabled: typeof get('quarantine.digest.enabled') === 'boolean' ? get('quarantine.digest.enabled') === true : get('domains') === undefined,
    userPageListen: text(get('quarantine.userPage.listen')),
    tlsMode: get('mx.tls.cert') !== undefined || get('mx.tls.key') !== undefined ? 'files' : 'generate',
    certPath: text(get('mx.tls.cert')),
    keyPath: text(get('mx.tls.key')),
    outboundMode: smarthost !== undefined ? 'smarthost' : 'mx',
    smarthostHost: text(get('outbound.smarthost.host')),
    smarthostPort: text(get('outbound.smarthost.port')) || '25',
    smarthostTls: tlsMode(get('outbound.smarthost.tls')),
    smarthostVerify: get('outbound.smarthost.verifyCertificate') === true,
    smarthostAuth: get('outbound.smarthost.auth') !== undefined,
    smarthostUser: text(get('outbound.smarthost.auth.user')),
    smarthostPass: text(get('outbound.smarthost.auth.pass')),
    submissionStarttls: submissionListen !== '',
    submissionListen: submissionListen || DEFAULT_SUBMISSION_LISTEN,
    submissionTls: submissionTlsListen !== '',
    submissionTlsListen: submissionTlsListen || DEFAULT_SUBMISSION_TLS_LISTEN,
    trustedNetworks: formatList(get('submission.trustedNetworks')),
    accounts: [],
    adminCurrent: '',
    adminNew: '',
    adminConfirm: '',
  };
}

function hop(base: unknown, host: string, port: string, tls: TlsMode, verify: boolean, auth: boolean, user: string, pass: string): ConfigObject {
  const next: ConfigObject = { ...record(base), host: host.trim(), tls, verifyCertificate: verify };
  const portValue = numberOrText(port);
  if (portValue === undefined) delete next.port;
  else next.port = portValue;
  if (auth) next.auth = { user, pass };
  else delete next.auth;
  return next;
}

/** The accepted domains typed, one per line or comma-separated, in lower case (as the relay reads them), each once. */
export function domainList(text: string): string[] {
  return addEntries([], text.toLowerCase());
}

/**
 * The configuration the wizard would apply: the saved one with the wizard's keys replaced. Keys the wizard
 * does not show (limits, alerts, ...) are kept as they are; an emptied optional field is removed so its
 * default applies again.
 */
export function buildConfig(saved: ConfigObject, fields: WizardFields): ConfigObject {
  let config: ConfigObject = { ...saved };
  const put = (path: string, value: unknown) => {
    config = putPath(config, path, value);
  };
  const optionalText = (value: string) => (value.trim() === '' ? undefined : value.trim());

  put('hostname', optionalText(fields.hostname));
  put('domains', domainList(fields.domains));
  put('mx.listen', optionalText(fields.mxListen));

  const internalTouched = fields.internalHost.trim() !== '' || getPath(saved, 'internal') !== undefined;
  put('internal', internalTouched ? hop(getPath(saved, 'internal'), fields.internalHost, fields.internalPort, fields.internalTls, fields.internalVerify, fields.internalAuth, fields.internalUser, fields.internalPass) : undefined);

  put('recipients', parseList(fields.recipients));
  if (fields.calloutEnabled || getPath(saved, 'mx.callout.enabled') !== undefined) put('mx.callout.enabled', fields.calloutEnabled);
  if (fields.calloutEnabled) put('mx.callout.whenUnreachable', fields.calloutUnreachable);

  put('filters.enabled', fields.filtersEnabled);
  put('filters.clamav.address', optionalText(fields.clamavAddress));
  put('filters.rspamd.address', optionalText(fields.rspamdAddress));
  put('filters.spamd.address', optionalText(fields.spamdAddress));
  put('filters.tagScore', numberOrText(fields.tagScore));
  put('filters.quarantineScore', numberOrText(fields.quarantineScore));
  put('filters.rejectScore', numberOrText(fields.rejectScore));
  if (fields.digestEnabled || getPath(saved, 'quarantine.digest.enabled') !== undefined) put('quarantine.digest.enabled', fields.digestEnabled);
  put('quarantine.userPage.listen', optionalText(fields.userPageListen));

  if (fields.tlsMode === 'files') {
    put('mx.tls.cert', fields.certPath.trim());
    put('mx.tls.key', fields.keyPath.trim());
  } else {
    put('mx.tls.cert', undefined);
    put('mx.tls.key', undefined);
  }

  put(
    'outbound.smarthost',
    fields.outboundMode === 'smarthost'
      ? hop(getPath(saved, 'outbound.smarthost'), fields.smarthostHost, fields.smarthostPort, fields.smarthostTls, fields.smarthostVerify, fields.smarthostAuth, fields.smarthostUser, fields.smarthostPass)
      : undefined,
  );

  put('submission.listen', fields.submissionStarttls ? fields.submissionListen.trim() : undefined);
  put('submission.tlsListen', fields.submissionTls ? fields.submissionTlsListen.trim() : undefined);
  put('submission.trustedNetworks', parseList(fields.trustedNetworks));
  return config;
}

/** Shortest admin and account password (the contract's MIN_ADMIN_PASSWORD_CHARS; a unit test keeps them equal). */
export const MIN_PASSWORD_CHARS = 10;

/** The admin password step is optional: empty is fine; once started, every box must be right. */
export function passwordProblems(fields: Pick<WizardFields, 'adminCurrent' | 'adminNew' | 'adminConfirm'>): Partial<Record<'adminCurrent' | 'adminNew' | 'adminConfirm', string>> {
  const problems: Partial<Record<'adminCurrent' | 'adminNew' | 'adminConfirm', string>> = {};
  if (!fields.adminCurrent && !fields.adminNew && !fields.adminConfirm) return problems;
  if (!fields.adminCurrent) problems.adminCurrent = 'type the current password';
  if (fields.adminNew.length < MIN_PASSWORD_CHARS) problems.adminNew = `at least ${MIN_PASSWORD_CHARS} characters`;
  if (fields.adminConfirm !== fields.adminNew) problems.adminConfirm = 'the two new passwords differ';
  return problems;
}

export function wantsPasswordChange(fields: Pick<WizardFields, 'adminCurrent' | 'adminNew' | 'adminConfirm'>): boolean {
  return fields.adminNew !== '' || fields.adminCurrent !== '';
}

/** A new submission account, checked before it is put on the list (the server checks again). */
export function accountProblems(draft: AccountDraft, takenNames: readonly string[]): Partial<Record<keyof AccountDraft, string>> {
  const problems: Partial<Record<keyof AccountDraft, string>> = {};
  const name = draft.name.trim();
  if (!name) problems.name = 'give the account a name';
  else if (name.length > 64) problems.name = 'at most 64 characters';
  else if (takenNames.some((taken) => taken.toLowerCase() === name.toLowerCase())) problems.name = 'there is an account with that name already';
  if (draft.password.length < MIN_PASSWORD_CHARS) problems.password = `at least ${MIN_PASSWORD_CHARS} characters`;
  const senders = parseList(draft.senders);
  const isSender = (entry: string) => /^([^\s@]+)?@[^\s@]+$/.test(entry);
  // the line itself, cut short: in a list of dozens "one per line" alone leaves the admin searching ("not an
  // address" is one line, where the list's split would quote "not")
  const badLine = draft.senders.split(/\r?\n/).map((line) => line.trim()).find((line) => parseList(line).some((entry) => !isSender(entry)));
  if (senders.length > 100) problems.senders = 'at most 100 addresses';
  else if (badLine !== undefined) problems.senders = `"${badLine.length > 60 ? `${badLine.slice(0, 60)}…` : badLine}" is neither an address (user@example.com) nor @domain: one of them per line`;
  return problems;
}

export type ApplyTask = { kind: 'config' } | { kind: 'account'; name: string } | { kind: 'password' };

/** What "Apply" does, in order: the configuration first (it must start), then the accounts, then the password. */
export function applyPlan(fields: WizardFields): ApplyTask[] {
  const tasks: ApplyTask[] = [{ kind: 'config' }];
  for (const account of fields.accounts) tasks.push({ kind: 'account', name: account.name.trim() });
  if (wantsPasswordChange(fields)) tasks.push({ kind: 'password' });
  return tasks;
}

export function applyTaskLabel(task: ApplyTask): string {
  switch (task.kind) {
    case 'config':
      return 'Save the configuration and restart the relay with it';
    case 'account':
      return `Add the submission account ${task.name}`;
    case 'password':
      return 'Change the admin password';
  }
}

export interface ReviewSection {
  step: StepId;
  title: string;
  lines: [label: string, value: string][];
}

const TLS_WORDS: Record<TlsMode, string> = { none: 'never', opportunistic: 'when offered', required: 'required' };

/** What the relay runs with besides the file (config.get): a key set on the command line wins over the wizard's value. */
export interface InForce {
  effective: ConfigObject;
  overridden: readonly string[];
  /** Addresses the relay is listening on now, by key ("admin.listen"): shown for a configured port 0 (the system picks). */
  bound?: Readonly<Record<string, string | null>>;
  /** The name the relay uses now (relay.status): what an empty host name field means. */
  machineName?: string | null;
}

/** Added to a value the command line sets, in the review. */
export const COMMAND_LINE_MARK = '(set on the command line)';

/** The users' daily list as the review says it: off, on with links to the user page, or on without links. */
function digestLine(fields: Pick<WizardFields, 'digestEnabled' | 'userPageListen'>): string {
  if (!fields.digestEnabled) return 'off';
  const listen = fields.userPageListen.trim();
  return listen ? `on, with links to the user page at ${listen}` : 'on, without links (users ask you to release a message)';
}

/** The review page: every choice in plain words, one section per step; addresses as they will be in force. */
export function reviewSummary(fields: WizardFields, inForce: InForce = { effective: {}, overridden: [] }): ReviewSection[] {
  const list = (text: string, empty: string) => {
    const items = parseList(text);
    return items.length ? items.join(', ') : empty;
  };
  /** A listener configured on port 0 is shown where it listens now, when it does. */
  const listening = (path: string, value: string) => (value.endsWith(':0') && inForce.bound?.[path] ? (inForce.bound[path] as string) : value);
  const overridden = (path: string) => inForce.overridden.some((key) => pathCovers(key, path) || pathCovers(path, key));
  /** The command line's value with its mark when it sets `path`, else what the wizard would save. */
  const forced = (path: string, wizard: string): string => {
    if (!overridden(path)) return wizard;
    const value = getPath(inForce.effective, path);
    const text = Array.isArray(value) ? value.map(String).join(', ') : value === undefined ? '(not set)' : listening(path, String(value));
    return `${text} ${COMMAND_LINE_MARK}`;
  };
  const hopLine = (host: string, port: string, tls: TlsMode, verify: boolean, auth: boolean, user: string) =>
    `${host.trim() || '(not set)'} port ${port.trim() || '25'}, STARTTLS ${TLS_WORDS[tls]}${verify ? ', certificate checked' : ''}${auth ? `, logs in as ${user}` : ''}`;
  const starttls = overridden('submission.listen') ? forced('submission.listen', '') : fields.submissionStarttls ? fields.submissionListen : '';
  const implicit = overridden('submission.tlsListen') ? forced('submission.tlsListen', '') : fields.submissionTls ? fields.submissionTlsListen : '';
  const listeners = [starttls ? `${starttls} (STARTTLS)` : '', implicit ? `${implicit} (TLS)` : ''].filter(Boolean);
  const adminListen = getPath(inForce.effective, 'admin.listen');
  return [
    {
      step: 'domains',
      title: 'Accepted domains',
      lines: [
        ['Domains', forced('domains', domainList(fields.domains).join(', ') || '(none yet)')],
        ['Host name', fields.hostname.trim() || (inForce.machineName ? `this machine's name (${inForce.machineName})` : "this machine's name")],
        ['Takes mail on', forced('mx.listen', fields.mxListen.trim() || 'the default address (port 25 on every interface)')],
      ],
    },
    {
      step: 'internal',
      title: 'Internal server',
      lines: [
        [
          'Delivers to',
          overridden('internal.host')
            ? `${String(getPath(inForce.effective, 'internal.host'))} port ${String(getPath(inForce.effective, 'internal.port') ?? 25)} ${COMMAND_LINE_MARK}`
            : hopLine(fields.internalHost, fields.internalPort, fields.internalTls, fields.internalVerify, fields.internalAuth, fields.internalUser),
        ],
      ],
    },
    {
      step: 'recipients',
      title: 'Recipient verification',
      lines: [
        ['Recipient list', list(fields.recipients, 'any address of the accepted domains')],
        ['Ask the internal server', fields.calloutEnabled ? `yes; when it cannot be asked: ${fields.calloutUnreachable === 'accept' ? 'accept' : 'ask the sender to retry'}` : 'no'],
      ],
    },
    {
      step: 'filters',
      title: 'Filters',
      lines: fields.filtersEnabled
        ? [
            ['ClamAV', fields.clamavAddress.trim() || 'off'],
            ['rspamd', fields.rspamdAddress.trim() || 'off'],
            ['SpamAssassin', fields.spamdAddress.trim() || 'off'],
            ['Junk scores (tag / quarantine / reject)', (['tagScore', 'quarantineScore', 'rejectScore'] as const).map((key) => fields[key].trim() || `${DEFAULT_JUNK_SCORES[key]} (default)`).join(' / ')],
            ['Daily list of held mail to each user', digestLine(fields)],
          ]
        : [['Content filters', 'off: mail is delivered unchecked']],
    },
    {
      step: 'tls',
      title: 'TLS certificate',
      lines: [['Certificate', fields.tlsMode === 'generate' ? 'a self-signed one made on start' : `${fields.certPath || '(no file)'} with key ${fields.keyPath || '(no file)'}`]],
    },
    {
      step: 'outbound',
      title: 'Outbound',
      lines: [['Sends mail for other domains', fields.outboundMode === 'mx' ? 'straight to their MX hosts' : `through ${hopLine(fields.smarthostHost, fields.smarthostPort, fields.smarthostTls, fields.smarthostVerify, fields.smarthostAuth, fields.smarthostUser)}`]],
    },
    {
      step: 'submission',
      title: 'Submission',
      lines: [
        ['Listeners', listeners.length ? listeners.join(', ') : 'off'],
        ['Trusted networks (no log-in)', list(fields.trustedNetworks, 'none')],
        ['New accounts', fields.accounts.length ? fields.accounts.map((account) => account.name.trim()).join(', ') : 'none'],
      ],
    },
    {
      step: 'password',
      title: 'Admin access',
      lines: [
        ['Admin password', wantsPasswordChange(fields) ? 'changed on apply' : 'kept'],
        ['Admin page on', forced('admin.listen', typeof adminListen === 'string' ? listening('admin.listen', adminListen) : 'the default address (127.0.0.1:8025)')],
      ],
    },
  ];
}

/** What the admin should know before applying: choices that leave the relay weaker than it could be. */
export function reviewWarnings(fields: WizardFields, context: { internalTest?: InternalTest | null; machineName?: string | null; internalInForce?: { host: string; port: string } | null } = {}): string[] {
  const warnings: string[] = [];
  const internal = internalTestWarning(fields, context.internalTest ?? null, context.internalInForce ?? null);
  if (internal) warnings.push(internal);
  const name = hostNameWarning(fields.hostname.trim() || context.machineName);
  if (name) warnings.push(name);
  if (fields.filtersEnabled && !fields.clamavAddress.trim()) {
    warnings.push('No virus scanner: mail is not scanned for viruses. Install ClamAV (sudo apt-get install clamav-daemon clamav-freshclam), then set its address under Filters.');
  }
  if (!fields.filtersEnabled) warnings.push('The content filters are off: every message for your domains is delivered unchecked.');
  warnings.push(...outsideRecipients(fields));
  warnings.push(...outsideSenders(fields));
  const submissionUsed = fields.trustedNetworks.trim() !== '' || fields.accounts.some((account) => account.name.trim() !== '');
  if (submissionUsed && !fields.submissionStarttls && !fields.submissionTls) {
    warnings.push('Both submission listeners (587 and 465) are off: no office client can send through Moat, so the trusted networks and accounts under Submission are not used. Turn one on under Submission.');
  }
  return warnings;
}

/** Recipients of the recipient list outside the accepted domains: Moat refuses mail for them whatever the list says. */
function outsideRecipients(fields: Pick<WizardFields, 'domains' | 'recipients'>): string[] {
  const domains = new Set(domainList(fields.domains).map((domain) => domain.replace(/\.$/, '')));
  if (domains.size === 0) return [];
  const outside = parseList(fields.recipients).filter((address) => address.includes('@') && !domains.has(address.slice(address.lastIndexOf('@') + 1).toLowerCase().replace(/\.$/, '')));
  if (outside.length === 0) return [];
  const named = outside.slice(0, 5).join(', ') + (outside.length > 5 ? ` and ${outside.length - 5} more` : '');
  return [`${named} ${outside.length === 1 ? 'is' : 'are'} not at one of the accepted domains: Moat refuses mail for ${outside.length === 1 ? 'it' : 'them'} whatever the recipient list says. Remove ${outside.length === 1 ? 'it' : 'them'}, or add the domain under Accepted domains.`];
}

/** Accounts that may send as a domain not accepted here: allowed (an office may send for a domain it does not receive), most often a typo. */
function outsideSenders(fields: Pick<WizardFields, 'domains' | 'accounts'>): string[] {
  const domains = domainList(fields.domains).map((domain) => domain.replace(/\.$/, ''));
  if (domains.length === 0) return [];
  return fields.accounts.flatMap((account) => {
    // no addresses given: a name that is an address may send as itself (auth/names.ts)
    const given = parseList(account.senders);
    const senders = (given.length ? given : [account.name.trim()]).filter((sender) => sender.includes('@'));
    const outside = [...new Set(senders.map((sender) => sender.slice(sender.lastIndexOf('@') + 1).toLowerCase().replace(/\.$/, '')))].filter(
      (domain) => domain && !domains.some((own) => domain === own || domain.endsWith(`.${own}`)),
    );
    return outside.length ? [`The account ${account.name.trim()} may send as ${outside.join(', ')}, not one of the accepted domains: check the spelling. An office may send for a domain it does not receive; then nothing needs to change.`] : [];
  });
}

/** "127.0.0.1:12599", "mail.corp.local:25" or "[::1]:25" typed as a host: the name and the port it holds, else null. */
export function splitHostPort(text: string): { host: string; port: string } | null {
  const match = /^\s*(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})\s*$/.exec(text);
  if (!match) return null;
  return { host: (match[1] ?? match[2])!, port: match[3]! };
}

/** The port a connection test uses for what the Port field holds: empty is 25; null when it is no port (0, 70000, "abc"). */
export function testPort(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === '') return 25;
  const port = Number(trimmed);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null;
}

/** What a connection test says instead of testing another port than the one typed. */
export function badTestPortWords(text: string): string {
  return `Port "${text.trim()}" is not one Moat can connect to (1 to 65535): fix it, then test again.`;
}

/** The problem shown at a host field holding a port, or null. */
export function hostPortProblem(text: string): string | null {
  const split = splitHostPort(text);
  return split ? `Put the port in the Port field: ${split.host} here, ${split.port} under Port.` : null;
}

/** The last "Test connection" of the internal server: for which host and port, whether it answered, whether all went well. */
export interface InternalTest {
  host: string;
  port: string;
  /** It greeted Moat (connect and greeting worked). */
  answered: boolean;
  ok: boolean;
}

/**
 * What the review says about the internal server's test: null when the last test of this host and port went well, or
 * when none was made of the server in force (`inForce`, on a wizard run again).
 */
export function internalTestWarning(fields: Pick<WizardFields, 'internalHost' | 'internalPort'>, last: InternalTest | null, inForce: { host: string; port: string } | null = null): string | null {
  const host = fields.internalHost.trim();
  const port = fields.internalPort.trim() || '25';
  if (!host) return null;
  if (!last || last.host !== host || last.port !== port) {
    // the server the relay already delivers to (the dashboard watches it) needs no test to be known
    if (inForce?.host === host && inForce.port === port) return null;
    return `The internal server (${host} port ${port}) was not tested: press "Test connection" under Internal server to see that Moat can hand it mail.`;
  }
  if (!last.answered) return 'The internal server did not answer the test: mail will wait in the queue until it does.';
  if (!last.ok) return 'The internal server answered the test, but something went wrong: see "Test connection" under Internal server. Mail may wait in the queue.';
  return null;
}

/** The review's warning when the name Moat greets other servers with has no dot (an empty field: the machine's short name). */
export function hostNameWarning(name: string | null | undefined): string | null {
  const trimmed = (name ?? '').trim();
  if (!trimmed || trimmed.includes('.')) return null;
  return `Moat will call itself "${trimmed}". Other mail servers may distrust a name without a domain: give the box's full name under Accepted domains (Host name), e.g. mail.example.com.`;
}

/** What the relay does now, in one sentence, once Apply has started it (the top of the review's done state). */
export function doneSentence(fields: Pick<WizardFields, 'domains' | 'internalHost' | 'internalPort'>, inForce: InForce = { effective: {}, overridden: [] }): string {
  const overridden = (path: string) => inForce.overridden.some((key) => pathCovers(key, path) || pathCovers(path, key));
  const domainValue = overridden('domains') ? getPath(inForce.effective, 'domains') : domainList(fields.domains);
  const domains = Array.isArray(domainValue) ? domainValue.map(String) : [];
  const host = overridden('internal.host') ? String(getPath(inForce.effective, 'internal.host') ?? '') : fields.internalHost.trim();
  const port = overridden('internal.port') ? String(getPath(inForce.effective, 'internal.port') ?? 25) : fields.internalPort.trim() || '25';
  const forWhom = domains.length ? `it accepts mail for ${domains.join(', ')}` : 'it accepts mail for your domains';
  return `Moat is running: ${forWhom} and delivers it to ${host || 'the internal server'} port ${port}.`;
}

/** A filter engine the wizard looked for, in one plain sentence (its raw answer goes under "Details"). */
export function detectionWords(found: boolean, detail: string): string {
  if (found) return 'it answers: Moat can use it.';
  const plain = explainError(detail);
  if (plain.rule === 'ECONNREFUSED' || plain.rule === 'ENOENT') return 'nothing answers there: it is not installed, or not running.';
  if (plain.rule === 'ETIMEDOUT') return 'no answer in time: it may be starting, or a firewall drops the connection.';
  return plain.rule ? plain.sentence : 'it did not answer as expected.';
}

/**
 * Whether the wizard would write what it writes for the saved configuration untouched: run again, nothing changed.
 * (Not the saved file itself: the wizard writes some defaults out, which a file may leave implicit.)
 */
export function changesNothing(saved: ConfigObject, fields: WizardFields): boolean {
  return sameConfig(buildConfig(saved, fields), buildConfig(saved, fieldsFromConfig(saved)));
}

/** Whether two configurations say the same, key order aside. */
export function sameConfig(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object).filter((key) => object[key] !== undefined).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

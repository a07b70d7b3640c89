/**
 * How each configuration key is shown to a person: the task it belongs to, a human label, the unit a person thinks
 * in (MB, minutes, hours) and the kind of control. It lives beside the schema (which keeps each key's type, bounds,
 * default and description) and reaches the admin UI through config.get's key table, so the settings page and the
 * wizard read one table; a unit test fails when a schema key has no entry here, or an entry names no schema key.
 */

export const FIELD_GROUPS = [
  { id: 'domains', title: 'Domains and recipients', intro: 'Which mail this relay takes in from the Internet, and from whom.' },
  { id: 'internal', title: 'Internal server', intro: 'The mail server inside your network that receives the mail for your domains.' },
  { id: 'filters', title: 'Filters and quarantine', intro: 'What inbound mail is checked for, and what happens to junk, viruses and dangerous attachments.' },
  { id: 'outbound', title: 'Outgoing mail', intro: 'How mail for other domains leaves, and how long undeliverable mail is retried.' },
  { id: 'accounts', title: 'Accounts', intro: 'Office clients (scanners, Mac and Unix mail programs) that log in to send mail through the relay.' },
  { id: 'alerts', title: 'Alerts', intro: 'When the relay warns you, and where the warnings go.' },
  { id: 'backups', title: 'Backups', intro: 'Scheduled backups of the whole relay: the configuration, the keys, the accounts and lists, the queue and the quarantine.' },
  { id: 'admin', title: 'Admin access', intro: 'How this admin page is reached.' },
] as const;

export type FieldGroup = (typeof FIELD_GROUPS)[number]['id'];

/** toggle: on/off; number: one value in `unit`; list: entries added and removed; weekdays: days ticked (kept as 0 Sunday … 6 Saturday); choice: one of `choices`; address: HOST:PORT or a socket path, with a test. */
export type FieldControl = 'toggle' | 'number' | 'text' | 'secret' | 'list' | 'number-list' | 'weekdays' | 'choice' | 'address' | 'path' | 'json';

/** The unit shown: the stored value is `factor` times the shown one (bytes shown in MB: factor 1048576). */
export interface FieldUnit {
  word: string;
  factor: number;
}

/** Which "Test connection" a field offers (the setup checks: an SMTP conversation, or a filter engine's own test). */
export type FieldTest = 'internal' | 'smarthost' | 'clamav' | 'rspamd' | 'spamd';

export interface FieldMeta {
  group: FieldGroup;
  /** A heading inside the group. */
  section: string;
  label: string;
  control: FieldControl;
  unit?: FieldUnit;
  /** For choices: each allowed value in words. */
  choices?: Readonly<Record<string, string>>;
  test?: FieldTest;
  /** Emptying this field removes this whole optional object (no smarthost, no log-in). */
  emptyRemoves?: string;
}

const MB: FieldUnit = { word: 'MB', factor: 1024 * 1024 };
const KB: FieldUnit = { word: 'KB', factor: 1024 };
const SECONDS: FieldUnit = { word: 'seconds', factor: 1 };
const MINUTES_OF_SECONDS: FieldUnit = { word: 'minutes', factor: 60 };
const SECONDS_OF_MS: FieldUnit = { word: 'seconds', factor: 1000 };
const MINUTES: FieldUnit = { word: 'minutes', factor: 1 };
const HOURS: FieldUnit = { word: 'hours', factor: 1 };
const DAYS: FieldUnit = { word: 'days', factor: 1 };
const PERCENT: FieldUnit = { word: '%', factor: 1 };
const unit = (word: string): FieldUnit => ({ word, factor: 1 });

const TLS_CHOICES = { opportunistic: 'When offered', required: 'Required', none: 'Never' };

type Entry = Omit<FieldMeta, 'group' | 'section'>;

/** Entries of one group and section, in the order the page shows them. */
function section(group: FieldGroup, name: string, entries: Record<string, Entry>): Record<string, FieldMeta> {
  return Object.fromEntries(Object.entries(entries).map(([key, entry]) => [key, { group, section: name, ...entry }]));
}

export const CONFIG_FIELDS: Readonly<Record<string, FieldMeta>> = {
  ...section('domains', 'Domains', {
    domains: { label: 'Accepted domains', control: 'list' },
    recipients: { label: 'Only accept these recipients', control: 'list' },
    hostname: { label: 'Host name of this relay', control: 'text' },
  }),
  ...section('domains', 'Recipient verification', {
    'mx.callout.enabled': { label: 'Ask the internal server whether each recipient exists', control: 'toggle' },
    'mx.callout.whenUnreachable': { label: 'While the internal server cannot be asked', control: 'choice', choices: { tempfail: 'Ask the sender to try again later', accept: 'Accept every address of our domains' } },
    'mx.callout.positiveTtlSec': { label: 'Remember "exists" for', control: 'number', unit: MINUTES_OF_SECONDS },
    'mx.callout.negativeTtlSec': { label: 'Remember "no such recipient" for', control: 'number', unit: MINUTES_OF_SECONDS },
    'mx.callout.maxEntries': { label: 'Answers remembered', control: 'number', unit: unit('answers') },
    'mx.callout.timeoutSec': { label: 'Probe deadline', control: 'number', unit: SECONDS },
  }),
  ...section('domains', 'Inbound listener (port 25)', {
    'mx.listen': { label: 'Inbound listener address', control: 'text' },
    'mx.tls.cert': { label: 'Certificate file', control: 'path' },
    'mx.tls.key': { label: 'Key file', control: 'path' },
    'mx.maxMessageBytes': { label: 'Largest message', control: 'number', unit: MB },
    'mx.maxRecipients': { label: 'Recipients per message', control: 'number', unit: unit('recipients') },
    'mx.maxConnections': { label: 'Connections in total', control: 'number', unit: unit('connections') },
    'mx.maxConnectionsPerIp': { label: 'Connections per client address', control: 'number', unit: unit('connections') },
    'mx.idleTimeoutSec': { label: 'Close idle connections after', control: 'number', unit: MINUTES_OF_SECONDS },
    'mx.sessionDeadlineSec': { label: 'Close any connection after', control: 'number', unit: MINUTES_OF_SECONDS },
    'mx.maxCommandLineBytes': { label: 'Longest command line', control: 'number', unit: unit('bytes') },
    'mx.maxHeaderBytes': { label: 'Largest header section', control: 'number', unit: KB },
    'mx.maxErrors': { label: 'Refused commands before hanging up', control: 'number', unit: unit('commands') },
  }),
  ...section('internal', 'Where mail for your domains goes', {
    'internal.host': { label: 'Internal server', control: 'address', test: 'internal', emptyRemoves: 'internal' },
    'internal.port': { label: 'Port', control: 'number' },
    'internal.tls': { label: 'STARTTLS to the internal server', control: 'choice', choices: TLS_CHOICES },
    'internal.verifyCertificate': { label: "Check the internal server's certificate", control: 'toggle' },
    'internal.auth.user': { label: 'User name', control: 'text', emptyRemoves: 'internal.auth' },
    'internal.auth.pass': { label: 'Password', control: 'secret' },
    'internal.maxConnections': { label: 'Connections at once', control: 'number', unit: unit('connections') },
  }),
  ...section('filters', 'Content filters', {
    'filters.enabled': { label: 'Check inbound mail with the content filters', control: 'toggle' },
    'filters.timeoutSec': { label: 'Deadline of each filter', control: 'number', unit: SECONDS },
    'filters.tagScore': { label: 'Tag from', control: 'number', unit: unit('points') },
    'filters.quarantineScore': { label: 'Quarantine from', control: 'number', unit: unit('points') },
    'filters.rejectScore': { label: 'Refuse from', control: 'number', unit: unit('points') },
    'filters.unchecked': { label: 'A message that could not be checked whole', control: 'choice', choices: { quarantine: 'Keep it in quarantine', reject: 'Refuse it' } },
    'filters.failMode': { label: 'When a filter fails (per filter)', control: 'json' },
    'filters.rules': { label: 'Scores of built-in rules', control: 'json' },
  }),
  ...section('filters', 'Virus scanner (ClamAV)', {
    'filters.clamav.address': { label: 'ClamAV (clamd) address', control: 'address', test: 'clamav' },
    'filters.clamav.infected': { label: 'A message with a virus', control: 'choice', choices: { reject: 'Refuse it', quarantine: 'Keep it in quarantine' } },
    'filters.clamav.onProblem': { label: 'A message ClamAV could not clear', control: 'choice', choices: { quarantine: 'Keep it in quarantine', tempfail: 'Ask the sender to try again later' } },
    'filters.clamav.streamMaxBytes': { label: 'Largest message scanned', control: 'number', unit: MB },
  }),
  ...section('filters', 'Junk engines', {
    'filters.rspamd.address': { label: 'rspamd address', control: 'address', test: 'rspamd' },
    'filters.rspamd.maxBytes': { label: 'Largest message sent to rspamd', control: 'number', unit: MB },
    'filters.spamd.address': { label: 'SpamAssassin (spamd) address', control: 'address', test: 'spamd' },
    'filters.spamd.maxBytes': { label: 'Largest message sent to SpamAssassin', control: 'number', unit: MB },
    'filters.spamd.user': { label: 'SpamAssassin preferences of user', control: 'text' },
  }),
  ...section('filters', 'Attachments', {
    'filters.attachments.enabled': { label: 'Block dangerous attachments', control: 'toggle' },
    'filters.attachments.action': { label: 'A message with a blocked attachment', control: 'choice', choices: { reject: 'Refuse it', quarantine: 'Keep it in quarantine' } },
    'filters.attachments.blockedExtensions': { label: 'Blocked file name extensions', control: 'list' },
    'filters.attachments.scanArchives': { label: 'Look inside zip attachments', control: 'toggle' },
  }),
  ...section('filters', 'Sender authentication (SPF, DKIM, DMARC)', {
    'filters.senderAuth.enabled': { label: 'Check SPF, DKIM and DMARC', control: 'toggle' },
    'filters.senderAuth.dmarcReject': { label: 'DMARC fails, the domain asks to reject', control: 'choice', choices: { reject: 'Refuse it', quarantine: 'Keep it in quarantine', tag: 'Deliver it tagged' } },
    'filters.senderAuth.dmarcQuarantine': { label: 'DMARC fails, the domain asks to quarantine', control: 'choice', choices: { quarantine: 'Keep it in quarantine', tag: 'Deliver it tagged' } },
    'filters.senderAuth.spfFailScore': { label: 'Junk score of an SPF fail', control: 'number', unit: unit('points') },
    'filters.senderAuth.spfSoftfailScore': { label: 'Junk score of an SPF softfail', control: 'number', unit: unit('points') },
    'filters.senderAuth.dkimFailScore': { label: 'Junk score of a failed DKIM signature', control: 'number', unit: unit('points') },
    'filters.senderAuth.dmarcFailScore': { label: 'Junk score of a DMARC failure', control: 'number', unit: unit('points') },
  }),
  ...section('filters', 'Client checks', {
    'mx.clientNetworks.allow': { label: 'Trusted client networks (skip these checks)', control: 'list' },
    'mx.clientNetworks.deny': { label: 'Refused client networks', control: 'list' },
    'mx.dnsbl.zones': { label: 'DNS block lists', control: 'json' },
    'mx.dnsbl.threshold': { label: 'Block list weight that refuses a client', control: 'number', unit: unit('points') },
    'mx.dnsbl.timeoutMs': { label: 'Block list deadline', control: 'number', unit: SECONDS_OF_MS },
    'mx.greetingDelayMs': { label: 'Greeting delay', control: 'number', unit: SECONDS_OF_MS },
    'mx.rateLimit.connectionsPerMinute': { label: 'New connections per client a minute', control: 'number', unit: unit('connections') },
    'mx.rateLimit.messagesPerMinute': { label: 'Messages per client a minute', control: 'number', unit: unit('messages') },
    'mx.harvest.maxUnknownPerSession': { label: 'Unknown recipients per connection', control: 'number', unit: unit('recipients') },
    'mx.harvest.maxUnknownPerIp': { label: 'Unknown recipients per client', control: 'number', unit: unit('recipients') },
    'mx.harvest.windowMinutes': { label: 'Count unknown recipients over', control: 'number', unit: MINUTES },
    'mx.harvest.blockMinutes': { label: 'Block a harvesting client for', control: 'number', unit: MINUTES },
    'mx.errorDelay.afterErrors': { label: 'Slow down replies after', control: 'number', unit: unit('refused commands') },
    'mx.errorDelay.stepMs': { label: 'Slow-down step', control: 'number', unit: SECONDS_OF_MS },
    'mx.errorDelay.maxMs': { label: 'Longest slow-down', control: 'number', unit: SECONDS_OF_MS },
  }),
  ...section('filters', 'Quarantine', {
    'quarantine.retentionDays': { label: 'Delete quarantined mail after', control: 'number', unit: DAYS },
  }),
  ...section('filters', 'Quarantine digest and user page', {
    'quarantine.digest.enabled': { label: 'Send users a digest of their quarantined mail', control: 'toggle' },
    'quarantine.digest.time': { label: 'Digest time of day (HH:MM)', control: 'text' },
    'quarantine.digest.weekdays': { label: 'Digest days', control: 'weekdays' },
    'quarantine.userPage.listen': { label: 'User page address (internal interface)', control: 'address' },
    'quarantine.userPage.url': { label: "Digest links start with", control: 'text' },
    'quarantine.userPage.allowPublicAddress': { label: 'Allow a public address for the user page', control: 'toggle' },
    'quarantine.userPage.releaseMode': { label: 'When a user asks for a message', control: 'choice', choices: { direct: 'Deliver it at once', approval: 'Ask me to approve' } },
    'quarantine.userPage.linkDays': { label: 'Digest links work for', control: 'number', unit: DAYS },
  }),
  ...section('outbound', 'Smarthost', {
    'outbound.smarthost.host': { label: 'Smarthost', control: 'address', test: 'smarthost', emptyRemoves: 'outbound.smarthost' },
    'outbound.smarthost.port': { label: 'Smarthost port', control: 'number' },
    'outbound.smarthost.tls': { label: 'STARTTLS to the smarthost', control: 'choice', choices: TLS_CHOICES },
    'outbound.smarthost.verifyCertificate': { label: "Check the smarthost's certificate", control: 'toggle' },
    'outbound.smarthost.auth.user': { label: 'Smarthost user name', control: 'text', emptyRemoves: 'outbound.smarthost.auth' },
    'outbound.smarthost.auth.pass': { label: 'Smarthost password', control: 'secret' },
    'outbound.smarthost.maxConnections': { label: 'Connections to the smarthost at once', control: 'number', unit: unit('connections') },
  }),
  ...section('outbound', 'Delivery', {
    'outbound.tlsRequiredDomains': { label: 'Domains that must get mail encrypted', control: 'list' },
    'outbound.caFile': { label: 'Extra trusted CA certificates (file)', control: 'path' },
    'outbound.maxConnectionsPerDomain': { label: 'Deliveries to one domain at once', control: 'number', unit: unit('connections') },
    'outbound.mxPort': { label: 'Port of other mail servers', control: 'number' },
    'outbound.allowPrivateMxAddresses': { label: 'Deliver to mail servers at private addresses', control: 'toggle' },
  }),
  ...section('outbound', 'Queue', {
    'queue.retryIntervalsSec': { label: 'Waits between delivery attempts', control: 'number-list', unit: MINUTES_OF_SECONDS },
    'queue.lifetimeHours': { label: 'Give up and bounce after', control: 'number', unit: HOURS },
    'queue.delayWarningHours': { label: 'Tell the sender mail is delayed after', control: 'number', unit: HOURS },
    'queue.maxDeliveries': { label: 'Deliveries at once', control: 'number', unit: unit('deliveries') },
  }),
  ...section('accounts', 'Submission listeners', {
    'submission.listen': { label: 'STARTTLS listener address', control: 'text' },
    'submission.tlsListen': { label: 'TLS listener address', control: 'text' },
    'submission.trustedNetworks': { label: 'Trusted networks (send without logging in)', control: 'list' },
    'submission.maxMessageBytes': { label: 'Largest submitted message', control: 'number', unit: MB },
    'submission.maxRecipients': { label: 'Recipients per submitted message', control: 'number', unit: unit('recipients') },
    'submission.encryptedArchives': { label: 'Password-protected zips from the office', control: 'choice', choices: { send: 'Send them', refuse: 'Refuse them' } },
    'submission.maxConnectionsPerIp': { label: 'Submission connections per client', control: 'number', unit: unit('connections') },
    'submission.tlsHandshakeTimeoutSec': { label: 'TLS handshake on 465 within', control: 'number', unit: SECONDS },
    'submission.receivedClient': { label: "Office PC's name and address in sent mail", control: 'choice', choices: { hide: 'Leave them out', show: 'Show them' } },
  }),
  ...section('accounts', 'Failed log-ins', {
    'submission.login.maxFailuresPerAccount': { label: 'Failed log-ins of one name from one address', control: 'number', unit: unit('attempts') },
    'submission.login.maxFailuresPerAccountTotal': { label: 'Failed log-ins of one name in total', control: 'number', unit: unit('attempts') },
    'submission.login.maxFailuresPerIp': { label: 'Failed log-ins from one address', control: 'number', unit: unit('attempts') },
    'submission.login.windowMinutes': { label: 'Count failed log-ins over', control: 'number', unit: MINUTES },
    'submission.login.lockoutMinutes': { label: 'Lock out for', control: 'number', unit: MINUTES },
    'submission.login.firstDelayMs': { label: 'Answer a failed log-in after', control: 'number', unit: SECONDS_OF_MS },
    'submission.login.maxDelayMs': { label: 'Longest delay of a failed log-in', control: 'number', unit: SECONDS_OF_MS },
    'submission.login.maxChecksAtOnce': { label: 'Password checks at once', control: 'number', unit: unit('checks') },
    'submission.login.maxChecksQueued': { label: 'Log-ins waiting for a check', control: 'number', unit: unit('log-ins') },
    'submission.login.maxStrangerChecksPerMinute': { label: 'Checks a minute from new addresses', control: 'number', unit: unit('checks') },
  }),
  ...section('accounts', 'Circuit breaker', {
    'submission.accountLimits.messagesPerHour': { label: 'Messages per account an hour', control: 'number', unit: unit('messages') },
    'submission.accountLimits.recipientsPerHour': { label: 'Recipients per account an hour', control: 'number', unit: unit('recipients') },
  }),
  ...section('alerts', 'Where alerts go', {
    'alerts.emailTo': { label: 'Email alerts to', control: 'list' },
    'alerts.webhookUrl': { label: 'Webhook URL', control: 'text' },
    'alerts.disabled': { label: 'Alerts switched off', control: 'list' },
    'alerts.intervalSec': { label: 'Check the alert rules every', control: 'number', unit: SECONDS },
  }),
  ...section('alerts', 'Thresholds', {
    'alerts.queueSize.raise': { label: 'Queue size: warn above', control: 'number', unit: unit('messages') },
    'alerts.queueSize.clear': { label: 'Queue size: all clear at', control: 'number', unit: unit('messages') },
    'alerts.oldestQueuedMinutes.raise': { label: 'Oldest queued message: warn above', control: 'number', unit: MINUTES },
    'alerts.oldestQueuedMinutes.clear': { label: 'Oldest queued message: all clear at', control: 'number', unit: MINUTES },
    'alerts.internalDownMinutes': { label: 'Internal server not taking mail for', control: 'number', unit: MINUTES },
    'alerts.deliveryFailures.windowMinutes': { label: 'Failed deliveries: look at the last', control: 'number', unit: MINUTES },
    'alerts.deliveryFailures.minAttempts': { label: 'Failed deliveries: at least', control: 'number', unit: unit('attempts') },
    'alerts.deliveryFailures.raisePercent': { label: 'Failed deliveries: warn from', control: 'number', unit: PERCENT },
    'alerts.deliveryFailures.clearPercent': { label: 'Failed deliveries: all clear at', control: 'number', unit: PERCENT },
    'alerts.diskFreePercent.raise': { label: 'Free disk space: warn below', control: 'number', unit: PERCENT },
    'alerts.diskFreePercent.clear': { label: 'Free disk space: all clear at', control: 'number', unit: PERCENT },
    'alerts.tlsExpiryDays.raise': { label: 'Certificate expiry: warn with', control: 'number', unit: unit('days left') },
    'alerts.tlsExpiryDays.clear': { label: 'Certificate expiry: all clear with', control: 'number', unit: unit('days left') },
    'alerts.backupAgeDays': { label: 'Last backup older than', control: 'number', unit: DAYS },
    'alerts.clamavSignatureDays': { label: 'Virus signatures older than', control: 'number', unit: DAYS },
    'checklist.intervalHours': { label: 'Run the checklist every', control: 'number', unit: HOURS },
  }),
  ...section('backups', 'Scheduled backups', {
    'backup.intervalHours': { label: 'Back up every', control: 'number', unit: HOURS },
    'backup.folder': { label: 'Backup folder', control: 'path' },
    'backup.keep': { label: 'Backups kept', control: 'number', unit: unit('backups') },
    'backup.passphraseFile': { label: 'Passphrase file (encrypts backups)', control: 'path' },
  }),
  ...section('admin', 'Admin page', {
    'admin.listen': { label: 'Admin listener address', control: 'text' },
    'admin.tls.enabled': { label: 'Serve the admin page over HTTPS', control: 'toggle' },
    'admin.tls.cert': { label: 'Admin certificate file', control: 'path' },
    'admin.tls.key': { label: 'Admin key file', control: 'path' },
    'admin.hostnames': { label: 'Other names of this admin page', control: 'list' },
    shutdownGraceSec: { label: 'On stop, let open connections finish for', control: 'number', unit: SECONDS },
  }),
};

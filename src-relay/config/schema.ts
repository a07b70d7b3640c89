import { z } from 'zod';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { normalizeDomain } from '../util/address.ts';
import { parseCidr, trustedNetworkProblem } from '../util/networks.ts';

// The relay-wide limits on submission password checks (auth/check-gate.ts, auth/authenticator.ts), here so the schema and the authenticator share them.
/**
 * Two checks at once, at most 2 (the config's ceiling): scrypt takes a libuv thread for its 50-100 ms (seconds on a
 * loaded box), the pool has 4, and the spool's writes and fsyncs must always find one free (bench/auth-pool.ts: at
 * most 2 at once, a spool fsync waited 22 ms at worst; 4 at once, 2.2 s). Not one: a mail program opening five
 * connections at once waits for its checks one after another, which on a loaded box passed its 15 s reply timeout.
 * The CPU they take from strangers is bounded by DEFAULT_STRANGER_CHECKS_PER_MINUTE.
 */
/**
 * Default deadline (s) of the TLS handshake on an implicit-TLS listener (465), from the accept: a handshake takes a
 * few round trips (well under a second, seconds over the worst links), and until it ends smtp-server has no session,
 * so no idle timeout of ours, only its own socket timeout (mx.idleTimeoutSec, 5 minutes). Postfix's stress value of
 * its smtpd_starttls_timeout. Setting: submission.tlsHandshakeTimeoutSec.
 */
export const TLS_HANDSHAKE_TIMEOUT_SEC = 10;

export const DEFAULT_CHECKS_AT_ONCE = 2;
export const MAX_CHECKS_AT_ONCE = 2;
/** Attempts waiting for a check: at 100 ms a check, about a second's wait; a real mail program retries a 454. */
export const DEFAULT_CHECKS_QUEUED = 10;
/**
 * Checks a minute for strangers (a name not logged in from that address in 30 days, auth/lockout.ts FAMILIAR_ADDRESS_DAYS: that includes
 * every name that does not exist, and every name tried from an attacker's address): a second of a core a minute at
 * most for guesses spread over any number of addresses; the office's own addresses are not limited by it.
 */
export const DEFAULT_STRANGER_CHECKS_PER_MINUTE = 60;

/**
 * Extensions that Windows runs, installs or mounts when double-clicked (or that Office opens with macros run),
 * the ones mail-borne malware uses: the default of `filters.attachments.blockedExtensions`, which the admin can replace
 * (filters/attachments.ts blocks what the config lists).
 */
export const DEFAULT_BLOCKED_EXTENSIONS: readonly string[] = [
  'ade', 'adp', 'app', 'application', 'appref-ms', 'appx', 'appxbundle', 'bas', 'bat', 'cab', 'chm', 'cmd', 'com', 'cpl', 'crt',
  'dll', 'diagcab', 'exe', 'gadget', 'hlp', 'hta', 'img', 'inf', 'ins', 'iso', 'isp', 'jar', 'jnlp', 'js', 'jse', 'lib', 'library-ms',
  'lnk', 'mde', 'msc', 'msi', 'msix', 'msp', 'mst', 'one', 'pif', 'ps1', 'psm1', 'reg', 'scf', 'scr', 'sct', 'search-ms',
  'searchconnector-ms', 'settingcontent-ms', 'shb', 'sys', 'url', 'vb', 'vbe', 'vbs', 'vhd', 'vhdx', 'wsc', 'wsf', 'wsh', 'xll',
];

/** `host:port` or `[v6]:port`; port 0 lets the OS pick (tests). */
export const hostPortSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/, { message: 'expected HOST:PORT, e.g. 127.0.0.1:25 or [::1]:25', abort: true })
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be 0..65535');

const hostSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9._:-]+$/, { message: 'expected a host name or IP address', abort: true })
  // "10.0.0.5:25" is the most common slip: a colon belongs only in an IPv6 address
  .refine((value) => !value.includes(':') || isIP(value) === 6, { message: 'a host name or IP address without a port: put the port in the Port field' });

/**
 * Why a domain of the configuration (accepted, TLS-required, a block list) cannot be one, in words the admin can act
 * on; null when it can. Besides what DNS allows, a single name ("localhost", "corp") is refused: mail from the
 * Internet never reaches it.
 */
export function domainProblem(value: string): string | null {
  const text = value.trim();
  if (text === '') return 'is empty';
  if (/\s/.test(text)) return 'has a space in it';
  if (text.includes('@')) return 'is an address: give only the part after the @';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return 'is a web address: give only the domain, like example.com';
  if (/^[\d.]+$/.test(text) || /^\[.*\]$/.test(text) || /^[\da-f]*:[\da-f:.]*$/i.test(text)) return 'is an IP address: give the domain name your mail is addressed to';
  if (/:\d*$/.test(text)) return 'has a port after it: give only the domain, like example.com (ports belong to the listener and server settings)';
  if (text.includes(':')) return 'has a colon in it: a domain holds letters, digits, hyphens and dots';
  if (text.includes('_')) return 'has an underscore: a domain holds letters, digits, hyphens and dots';
  const labels = text.replace(/\.$/, '').split('.');
  if (labels.some((label) => label === '')) return 'has an empty part (two dots in a row, or a dot at the start)';
  if (labels.some((label) => label.startsWith('-') || label.endsWith('-'))) return 'has a part that starts or ends with a hyphen';
  if (labels.length < 2) return 'is a single name: give the full domain, like example.com';
  const ascii = domainToASCII(text.replace(/\.$/, ''));
  if (ascii !== '' && ascii.split('.').some((label) => label.length > 63)) return 'has a part longer than 63 characters (the most a part of a domain may have)';
  if (ascii.length > 253) return 'is longer than 253 characters (the most a domain may have)';
  if (!normalizeDomain(text)) return 'has characters a domain cannot hold (letters, digits, hyphens and dots)';
  return null;
}

const domainSchema = z.string().transform((value, ctx) => {
  const problem = domainProblem(value);
  const domain = problem ? null : normalizeDomain(value.trim());
  if (!domain) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a valid domain name: it ${problem ?? 'is not one'}` });
    return z.NEVER;
  }
  return domain;
});

/** An address in a list: the entry is named in its problem, so the admin sees which line of the list to fix. */
const mailboxSchema = z
  .string()
  .refine((value) => value.length <= 254 && /^[^\s@<>"]+@[^\s@<>"]+$/.test(value), {
    error: (issue) => {
      const text = String(issue.input);
      return text.length > 254 ? `"${text.slice(0, 40)}…" is longer than 254 characters, the most an address may have` : `"${text}" is not a plain address like user@example.com`;
    },
  })
  // the domain as RCPT TO is compared (punycode, no trailing dot): "anna@bücher.test" must match what arrives
  .transform((value) => {
    const at = value.lastIndexOf('@');
    const domain = value.slice(at + 1);
    return `${value.slice(0, at).toLowerCase()}@${normalizeDomain(domain) ?? domain.toLowerCase()}`;
  });

/** The built-in junk rules' ids (filters/builtin-rules.ts BUILTIN_RULES; a test keeps the two lists alike). */
export const BUILTIN_RULE_IDS = [
  'GTUBE', 'MISSING_DATE', 'MALFORMED_DATE', 'FUTURE_DATE', 'MISSING_FROM', 'MALFORMED_FROM', 'MISSING_MESSAGE_ID', 'MALFORMED_MESSAGE_ID',
  'MISSING_SUBJECT', 'FROM_OWN_DOMAIN_UNAUTHENTICATED', 'FROM_NAME_HIDES_ADDRESS', 'HTML_ONLY', 'HTML_LITTLE_TEXT', 'BASE64_TEXT',
  'NEEDLESSLY_ENCODED_SUBJECT', 'UNUSUAL_ENCODING', 'MALFORMED_MIME', 'DISGUISED_ATTACHMENT_NAME',
] as const;

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);
/** A port Moat connects to (a listener's address takes 0: the OS picks one). */
const port = z.number().int().min(1).max(65535);

export const tlsModeSchema = z.enum(['none', 'opportunistic', 'required']);

/** A client network for the mx allow and deny lists: CIDR, IPv4 or IPv6, or one address. */
const networkSchema = z.string().refine((value) => parseCidr(value) !== null, { message: 'expected a network like 192.0.2.0/24, 2001:db8::/32 or one address' });

const smtpAuthSchema = z.strictObject({
  user: z.string().min(1).max(256).meta({ description: 'User name for SMTP AUTH' }),
  pass: z.string().min(1).max(1024).meta({ description: 'Password for SMTP AUTH (kept in the config file; protect it)' }),
});

/** One outgoing SMTP hop: the internal server or a smarthost. */
const hopSchema = {
  port: port.default(25).meta({ description: 'TCP port' }),
  tls: tlsModeSchema
    .default('opportunistic')
    .meta({ description: 'STARTTLS: none, opportunistic (when offered) or required' }),
  verifyCertificate: z.boolean().default(false).meta({ description: "Check the server's TLS certificate (name and chain)" }),
  auth: smtpAuthSchema.optional().meta({ description: 'Log in with SMTP AUTH before sending (optional)' }),
  maxConnections: z.number().int().min(1).max(100).default(10).meta({ description: 'Concurrent connections to this server' }),
};

/** A pair of thresholds with hysteresis: raised past `raise`, cleared only once back past `clear`. */
const raiseClear = (raise: number, clear: number, what: string, unit: string, direction: 'above' | 'below') =>
  z
    .strictObject({
      raise: z.number().min(0).default(raise).meta({ description: `${what}: raise the alert ${direction} this (${unit})` }),
      clear: z.number().min(0).default(clear).meta({ description: `${what}: clear it only once ${direction === 'above' ? 'at or below' : 'at or above'} this (${unit})` }),
    })
    .prefault({})
    .refine((pair) => (direction === 'above' ? pair.clear < pair.raise : pair.clear > pair.raise), {
      message: `clear must be ${direction === 'above' ? 'lower' : 'higher'} than raise, or the alert would flap`,
      path: ['clear'],
    });

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost. */
export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Whether a listen address is on a private network (loopback, RFC 1918, link-local, CGNAT, IPv6 ULA): a host name or
 * all interfaces (0.0.0.0, ::) cannot be judged, so they are not.
 */
export function isPrivateListen(listen: string): boolean {
  if (isLoopbackListen(listen)) return true;
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1').toLowerCase().replace(/^::ffff:(?=\d)/, '');
  if (isIP(host) === 4) {
    const [a, b] = host.split('.').map(Number) as [number, number];
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
  }
  return isIP(host) === 6 && /^(f[cd][0-9a-f]{2}|fe[89ab][0-9a-f]):/.test(host);
}

/**
 * Accepted domains and listed recipients at most: far past a small office, and a bound on what one Apply may make the
 * relay hold (70,000 domains took about 900 MB).
 */
/**
 * The alert rules `alerts.disabled` may name (monitor/alert-rules.ts BUILT_IN_RULES, in its order; a test holds them
 * together): a misspelt one switched nothing off and said nothing (config/load.ts alertRuleProblems).
 */
export const ALERT_RULE_IDS: readonly string[] = ['queue-size', 'queue-age', 'internal-down', 'delivery-failures', 'disk-free', 'tls-expiry', 'backup-age', 'clamav-signatures', 'account-suspended', 'release-requests', 'open-relay'];

export const MAX_DOMAINS = 1000;
export const MAX_RECIPIENT_LIST = 50_000;

export const ConfigSchema = z.strictObject({
  hostname: hostSchema
    .optional()
    .meta({ description: "Name used in the greeting, EHLO and Received headers (default: the machine's host name)" }),
  domains: z
    .array(domainSchema)
    .max(MAX_DOMAINS)
    .default([])
    .meta({ description: 'Accepted domains: mail for these is taken in and delivered to the internal server (at most 1,000)' }),
  recipients: z
    .array(mailboxSchema)
    .max(MAX_RECIPIENT_LIST)
    .default([])
    .meta({ description: 'When not empty, only these recipients are accepted (postmaster always is; at most 50,000)' }),
  mx: z
    .strictObject({
      listen: hostPortSchema.default('0.0.0.0:25').meta({ description: 'Address of the inbound (port 25) listener' }),
      tls: z
        .strictObject({
          cert: z.string().optional().meta({ description: 'PEM certificate file for STARTTLS (default: a self-signed pair made on first start, kept in DATA/tls)' }),
          key: z.string().optional().meta({ description: 'PEM private key file for STARTTLS' }),
        })
        .prefault({}),
      maxMessageBytes: z.number().int().min(1024).max(1024 ** 3).default(25 * 1024 * 1024).meta({ description: 'Largest message accepted, in bytes (advertised with SIZE; over it: 552)' }),
      maxRecipients: z.number().int().min(1).max(10000).default(100).meta({ description: 'Recipients per message (RFC 5321 asks for at least 100); more get 452' }),
      maxConnections: z.number().int().min(1).max(100000).default(200).meta({ description: 'Open inbound connections in total; more get 421' }),
      maxConnectionsPerIp: z.number().int().min(1).max(10000).default(20).meta({ description: 'Open inbound connections per client IP; more get 421' }),
      idleTimeoutSec: seconds(1, 3600).default(300).meta({ description: 'Close a connection idle this long (RFC 5321 4.5.3.2.7: 5 minutes)' }),
      sessionDeadlineSec: seconds(10, 86400).default(1800).meta({ description: 'Close any connection after this long, however busy' }),
      maxCommandLineBytes: z.number().int().min(512).max(65536).default(2048).meta({ description: 'Longest SMTP command line (RFC 5321 minimum 512)' }),
      maxHeaderBytes: z.number().int().min(16 * 1024).max(64 * 1024 * 1024).default(1024 * 1024).meta({ description: 'Largest header section of a message, in bytes (1 MiB holds hundreds of Received lines; real mail needs far less); over it: 552 5.3.4, on the submission listeners too. The whole section is scrubbed of forged X-Spam-*, X-Moat-* and our Authentication-Results' }),
      maxErrors: z.number().int().min(1).max(1000).default(10).meta({ description: 'Refused commands in one session before the connection is closed with 421' }),
      // connection policy (smtp/connection-policy.ts) and recipient verification (smtp/callout.ts)
      greetingDelayMs: z.number().int().min(0).max(30_000).default(0).meta({ description: 'Wait this long before the 220 greeting; a client that talks first gets 421 "You talk too soon" (a 100 ms window is always there; 2000-6000 catches more spam bots, every sender waits that long)' }),
      clientNetworks: z
        .strictObject({
          allow: z
            .array(networkSchema)
            .max(1000)
            .default(['127.0.0.0/8', '::1'])
            .meta({ description: 'Client networks (CIDR or one address, IPv4 or IPv6) that skip the block lists, rate limits, harvest cap, error delay and greeting delay: this machine, partners, your own other servers' }),
          deny: z.array(networkSchema).max(1000).default([]).meta({ description: 'Client networks refused at RCPT with 554 5.7.1; the most specific of allow and deny wins, deny on a tie' }),
        })
        .prefault({}),
      dnsbl: z
        .strictObject({
          zones: z
            .array(
              z.strictObject({
                zone: domainSchema,
                weight: z.number().min(-100).max(100).default(1),
                answers: z.array(z.ipv4()).max(64).optional(),
              }),
            )
            .max(20)
            .default([])
            .meta({ description: 'DNS block lists, e.g. [{"zone": "zen.spamhaus.org", "weight": 2}]; the weights of the lists that list a client add up (weight defaults to 1; a negative one, e.g. for a DNS allow list, lowers the sum); "answers" limits which 127.x.x.x replies count (default: any but 127.255.255.x, the lists\' error codes). Empty: no block lists' }),
          threshold: z.number().min(0.1).max(1000).default(1).meta({ description: 'A client whose listings weigh this much in total is refused at RCPT with 554 5.7.1' }),
          timeoutMs: z.number().int().min(100).max(30_000).default(3000).meta({ description: 'A block list that has not answered by then counts as not listing the client' }),
        })
        .prefault({}),
      rateLimit: z
        .strictObject({
          connectionsPerMinute: z.number().int().min(0).max(100_000).default(60).meta({ description: 'New connections per client IP in any minute; past it 421 (0: no limit)' }),
          messagesPerMinute: z.number().int().min(0).max(100_000).default(120).meta({ description: 'MAIL FROM per client IP in any minute; past it 451 4.7.1 (0: no limit)' }),
        })
        .prefault({}),
      harvest: z
        .strictObject({
          maxUnknownPerSession: z.number().int().min(0).max(10_000).default(5).meta({ description: 'Unknown recipients in one session; the next one ends the session with 421 (directory harvest; 0: no cap)' }),
          maxUnknownPerIp: z.number().int().min(0).max(100_000).default(20).meta({ description: 'Unknown recipients from one client IP within windowMinutes; past it 421 and the client is blocked for blockMinutes (0: no cap)' }),
          windowMinutes: z.number().min(1).max(1440).default(10).meta({ description: 'How long unknown recipients are counted per client IP' }),
          blockMinutes: z.number().min(1).max(10_080).default(15).meta({ description: 'How long a harvesting client gets 421 at connect' }),
        })
        .prefault({}),
      errorDelay: z
        .strictObject({
          afterErrors: z.number().int().min(0).max(1000).default(2).meta({ description: 'Refused commands in a session before replies are slowed down (tarpit)' }),
          stepMs: z.number().int().min(0).max(60_000).default(1000).meta({ description: 'Each refused command past afterErrors delays the next MAIL/RCPT reply this much more (0: no tarpit)' }),
          maxMs: z.number().int().min(0).max(60_000).default(5000).meta({ description: 'Longest tarpit delay of one reply' }),
        })
        .prefault({}),
      callout: z
        .strictObject({
          enabled: z.boolean().default(false).meta({ description: 'Ask the internal server whether a recipient exists (RCPT probe, no message sent) and refuse unknown ones with 550 5.1.1; needs recipient filtering on the internal server (Exchange: Recipient Filtering on the receive connector)' }),
          positiveTtlSec: seconds(0, 30 * 86400).default(3600).meta({ description: 'How long an "exists" answer is remembered' }),
          negativeTtlSec: seconds(0, 30 * 86400).default(600).meta({ description: 'How long a "no such recipient" answer is remembered' }),
          maxEntries: z.number().int().min(1).max(1_000_000).default(10_000).meta({ description: 'Answers remembered at most (the oldest go first)' }),
          timeoutSec: seconds(1, 300).default(10).meta({ description: 'Deadline of one probe, connection included' }),
          whenUnreachable: z.enum(['tempfail', 'accept']).default('tempfail').meta({ description: 'While the internal server cannot be asked: 450 4.4.1 (the sender retries; a recipient known to exist is still accepted) or accept every recipient of our domains' }),
        })
        .prefault({}),
    })
    .prefault({}),
  internal: z
    .strictObject({
      host: hostSchema.meta({ description: 'The internal mail server (e.g. Exchange) that receives mail for the accepted domains' }),
      ...hopSchema,
    })
    .optional()
    .meta({ description: 'Where mail for the accepted domains goes' }),
  outbound: z
    .strictObject({
      smarthost: z
        .strictObject({ host: hostSchema.meta({ description: 'Smarthost name or address' }), ...hopSchema })
        .optional()
        .meta({ description: 'Send mail for other domains through this relay instead of looking up MX records' }),
      mxPort: port.default(25).meta({ description: 'Port used when delivering to MX hosts (25; other values are for tests)' }),
      allowPrivateMxAddresses: z
        .boolean()
        .default(false)
        .meta({ description: 'Deliver to MX hosts at private, loopback or link-local addresses (10.x, 192.168.x, 127.x, fe80::...). Off, a domain whose MX hosts have only such addresses gets a bounce (550 5.4.4): any domain can point its MX record there, into the office network or back at Moat. On only for a partner reached over a private link, or for tests' }),
      maxConnectionsPerDomain: z.number().int().min(1).max(100).default(5).meta({ description: 'Concurrent deliveries to one destination domain' }),
      tlsRequiredDomains: z
        .array(domainSchema)
        .max(1000)
        .default([])
        .meta({ description: 'Recipient domains whose MX hosts must take mail over STARTTLS with a certificate valid for the MX host name; otherwise the mail waits in the queue (never sent in clear) and bounces when it expires' }),
      caFile: z.string().min(1).optional().meta({ description: 'PEM file of extra CA certificates trusted when a server certificate is verified (TLS-required domains, smarthost, internal server)' }),
    })
    .prefault({}),
  submission: z
    .strictObject({
      listen: hostPortSchema.optional().meta({ description: 'Address of the submission listener with STARTTLS for office clients, e.g. 0.0.0.0:587 (off when unset)' }),
      tlsListen: hostPortSchema.optional().meta({ description: 'Address of the submission listener with implicit TLS (RFC 8314), e.g. 0.0.0.0:465 (off when unset)' }),
      trustedNetworks: z
        .array(
          z.string().superRefine((value, ctx) => {
            const problem = trustedNetworkProblem(value);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
        )
        .max(1000)
        .default([])
        .meta({ description: 'Client networks (CIDR, IPv4 or IPv6) that may send through the submission listeners without logging in (never on mx); outside the private ranges at most a /24 (IPv4) or /48 (IPv6)' }),
      maxMessageBytes: z.number().int().min(1024).max(1024 ** 3).default(25 * 1024 * 1024).meta({ description: 'Largest message a client may submit, in bytes (over it: 552)' }),
      maxRecipients: z.number().int().min(1).max(10000).default(100).meta({ description: 'Recipients per submitted message; more get 452' }),
      maxConnectionsPerIp: z.number().int().min(1).max(10000).default(20).meta({ description: 'Open submission connections per client IP; more get 421 (the other connection limits are those of mx). On the TLS listener (465) a connection counts from its accept, before its TLS handshake; one more is closed at once' }),
      tlsHandshakeTimeoutSec: seconds(1, 300)
        .default(TLS_HANDSHAKE_TIMEOUT_SEC)
        .meta({ description: 'Seconds a client of the TLS listener (465) has from its connection to the end of its TLS handshake; later it is closed. Until then it holds a connection slot (mx.maxConnections)' }),
      encryptedArchives: z
        .enum(['send', 'refuse'])
        .default('send')
        .meta({ description: 'An archive from an office client whose contents cannot be scanned: a password-protected zip (the names inside still are checked), a rar, 7z, tar or cab archive (Moat does not look inside them), or mail the client encrypted or signed as a whole (S/MIME smime.p7m, PGP/MIME): sent when every recipient is outside our domains (to a colleague it is refused with 550: not checked), or refused with 550 as other files that cannot be checked' }),
      receivedClient: z
        .enum(['hide', 'show'])
        .default('hide')
        .meta({ description: "Whether the Received line Moat adds to submitted mail names the office client: hide leaves the PC's name and LAN address out of mail that leaves the office (Moat's tracking and log still show them); show names them, as Postfix does" }),
      login: z
        .strictObject({
          maxFailuresPerAccount: z.number().int().min(1).max(1000).default(5).meta({ description: 'Failed logins for one user name (existing or not) from one client address within windowMinutes before the name is locked for that address (guesses from elsewhere never lock the real user out of their own address)' }),
          maxFailuresPerAccountTotal: z.number().int().min(1).max(100_000).default(20).meta({ description: 'Failed logins for one user name from all client addresses together within windowMinutes before the name is locked for every address it has not logged in from successfully in the last 30 days (failures from those addresses do not count; their own per-address limit applies)' }),
          maxFailuresPerIp: z.number().int().min(1).max(10000).default(20).meta({ description: 'Failed logins from one client address within windowMinutes before it is locked' }),
          windowMinutes: z.number().min(1).max(1440).default(15).meta({ description: 'How long failed logins are counted' }),
          lockoutMinutes: z.number().min(1).max(10080).default(15).meta({ description: 'How long a locked user name or client address is refused (454); "moat users unlock" ends it sooner' }),
          firstDelayMs: z.number().int().min(0).max(60_000).default(1000).meta({ description: 'A failed login is answered after this delay, doubled with each further failure in the window' }),
          maxDelayMs: z.number().int().min(0).max(60_000).default(8000).meta({ description: 'Longest delay before answering a failed login' }),
          maxChecksAtOnce: z.number().int().min(1).max(MAX_CHECKS_AT_ONCE).default(DEFAULT_CHECKS_AT_ONCE).meta({ description: `Password checks running at once in the whole relay (at most ${MAX_CHECKS_AT_ONCE}, so the spool's disk writes always find a free thread); more wait` }),
          maxChecksQueued: z.number().int().min(0).max(1000).default(DEFAULT_CHECKS_QUEUED).meta({ description: 'Logins waiting for a password check; beyond it a login gets 454 at once, without a check (logins from an address the name logged in from recently wait in a queue of their own, served first)' }),
          maxStrangerChecksPerMinute: z.number().int().min(1).max(100_000).default(DEFAULT_STRANGER_CHECKS_PER_MINUTE).meta({ description: 'Password checks a minute, relay-wide, for logins from an address the name has not logged in from in the last 30 days (every unknown name is one); more get 454 at once, without a check. Logins from such familiar addresses are not limited by it' }),
        })
        .prefault({}),
      accountLimits: z
        .strictObject({
          messagesPerHour: z.number().int().min(1).max(1_000_000).default(200).meta({ description: 'Circuit breaker: an account sending more messages in an hour is suspended until "moat users unlock"' }),
          recipientsPerHour: z.number().int().min(1).max(10_000_000).default(500).meta({ description: 'Circuit breaker: an account sending to more recipients in an hour is suspended until "moat users unlock"' }),
        })
        .prefault({}),
    })
    .prefault({}),
  queue: z
    .strictObject({
      retryIntervalsSec: z.array(seconds(1, 86400)).min(1).max(50).default([300, 600, 1200, 2400, 3600]).meta({ description: 'Waits between delivery attempts; the last repeats' }),
      lifetimeHours: z.number().min(0.01).max(24 * 60).default(120).meta({ description: 'Give up and bounce after this long in the queue (5 days)' }),
      delayWarningHours: z.number().min(0).max(24 * 60).default(4).meta({ description: 'Tell the sender mail is delayed after this long (0: never)' }),
      maxDeliveries: z.number().int().min(1).max(1000).default(50).meta({ description: 'Delivery attempts in progress at once, over all routes' }),
    })
    .prefault({}),
  admin: z
    .strictObject({
      listen: hostPortSchema.default('127.0.0.1:8025').meta({ description: 'Address of the admin listener (web admin, admin API, /metrics, /healthz); a non-loopback address needs admin.tls.enabled' }),
      tls: z
        .strictObject({
          enabled: z.boolean().default(false).meta({ description: 'Serve the admin listener over HTTPS (required for a non-loopback address)' }),
          cert: z.string().optional().meta({ description: "PEM certificate file for the admin listener (default: the inbound listener's certificate)" }),
          key: z.string().optional().meta({ description: 'PEM private key file for the admin listener' }),
        })
        .prefault({}),
      hostnames: z
        .array(hostSchema)
        .max(20)
        .default([])
        .meta({ description: "More names the admin page may be opened by (besides IP addresses, localhost, the relay's hostname and the machine's name); other Host headers are refused (DNS rebinding)" }),
    })
    .prefault({})
    .superRefine((admin, ctx) => {
      if (!isLoopbackListen(admin.listen) && !admin.tls.enabled) {
        ctx.addIssue({ code: 'custom', path: ['listen'], message: `${admin.listen} is not a loopback address: without TLS ("Serve the admin page over HTTPS", admin.tls.enabled) the admin listener must stay on 127.0.0.1 or [::1] (reach it through an SSH tunnel)` });
      }
      if (Boolean(admin.tls.cert) !== Boolean(admin.tls.key)) {
        ctx.addIssue({ code: 'custom', path: ['tls'], message: 'give both admin.tls.cert and admin.tls.key, or neither (the inbound certificate is then used)' });
      }
    }),
  alerts: z
    .strictObject({
      intervalSec: seconds(1, 3600).default(30).meta({ description: 'How often the alert rules are checked' }),
      emailTo: z.array(mailboxSchema).max(20).default([]).meta({ description: 'Send each raised and cleared alert to these addresses (through the relay itself)' }),
      webhookUrl: z.url({ protocol: /^https?$/ }).optional().meta({ description: 'POST each raised and cleared alert as JSON to this URL' }),
      // an unknown id is refused where the admin saves (alertRuleProblems), not here: a file that ran before still starts
      disabled: z
        .array(z.string().regex(/^[a-z-]+$/, { error: `is not an alert's id: the ids are ${ALERT_RULE_IDS.join(', ')}` }))
        .max(100)
        .default([])
        .meta({ description: `Alert rules to switch off, by id: ${ALERT_RULE_IDS.join(', ')}` }),
      queueSize: raiseClear(1000, 800, 'Messages in the queue', 'messages', 'above'),
      oldestQueuedMinutes: raiseClear(60, 30, 'Age of the oldest queued message', 'minutes', 'above'),
      internalDownMinutes: z.number().min(0).max(10080).default(10).meta({ description: 'Raise when the internal server has been unreachable, or has refused every message, this long (minutes); clears when it takes mail again' }),
      deliveryFailures: z
        .strictObject({
          windowMinutes: z.number().int().min(1).max(1440).default(30).meta({ description: 'Delivery failures: the window looked at (minutes)' }),
          minAttempts: z.number().int().min(1).max(1_000_000).default(20).meta({ description: 'Delivery failures: attempts in the window before the ratio counts' }),
          raisePercent: z.number().min(1).max(100).default(50).meta({ description: 'Delivery failures: raise when this share of attempts failed (deferred or bounced)' }),
          clearPercent: z.number().min(0).max(100).default(20).meta({ description: 'Delivery failures: clear when the share is at or below this' }),
        })
        .prefault({})
        .refine((rule) => rule.clearPercent < rule.raisePercent, { message: 'clearPercent must be lower than raisePercent', path: ['clearPercent'] }),
      diskFreePercent: raiseClear(10, 15, "Free space on the data directory's disk", 'percent', 'below'),
      tlsExpiryDays: raiseClear(14, 21, "Days left on the mx listener's TLS certificate", 'days', 'below'),
      backupAgeDays: z.number().min(0.001).max(365).default(7).meta({ description: 'Raise when the last backup is older than this (days); a fresh relay gets this long before the first' }),
      clamavSignatureDays: z.number().min(0.1).max(365).default(3).meta({ description: 'Raise when the ClamAV signatures are older than this (days)' }),
    })
    .prefault({}),
  checklist: z
    .strictObject({
      intervalHours: z.number().min(0).max(720).default(6).meta({ description: 'Run the patch-status probes (and the open-relay self-test) this often (0: only on demand)' }),
    })
    .prefault({}),
  backup: z
    .strictObject({
      intervalHours: z.number().min(0).max(24 * 90).default(0).meta({ description: 'Write a backup this often (0: no scheduled backups)' }),
      folder: z.string().min(1).optional().meta({ description: 'Where scheduled backups go (default: DATA/backups; better a different disk)' }),
      keep: z.number().int().min(1).max(1000).default(7).meta({ description: 'Scheduled backups kept; older ones are deleted' }),
      passphraseFile: z.string().min(1).optional().meta({ description: 'Encrypt scheduled backups with the passphrase in this file (AES-256-GCM)' }),
    })
    .prefault({}),
  filters: z
    .strictObject({
      enabled: z.boolean().default(true).meta({ description: 'Check inbound mail with the content filters before the 250 (off: everything is delivered unchecked)' }),
      timeoutSec: seconds(1, 540).default(60).meta({ description: 'Deadline of each filter on one message; past it the filter counts as failed (see failMode). RFC 5321 gives the client 10 minutes after DATA' }),
      tagScore: z.number().min(0).max(1000).default(5).meta({ description: 'Junk score from which a message is delivered tagged (X-Spam-Flag: YES, for the Junk folder); 0: never' }),
      quarantineScore: z.number().min(0).max(1000).default(10).meta({ description: 'Junk score from which a message is kept in quarantine; 0: never' }),
      rejectScore: z.number().min(0).max(1000).default(15).meta({ description: 'Junk score from which a message is refused with 550; 0: never' }),
      failMode: z
        .record(z.string().regex(/^[a-z0-9-]+$/), z.enum(['closed', 'open']))
        .default({})
        .meta({ description: 'Per filter name, when it fails or its engine is unreachable: "closed" (451, the sender retries; the default) or "open" (deliver tagged). Names: clamav, rspamd, spamd, sender-auth, attachments, builtin-rules. Example: {"rspamd": "open"}' }),
      rules: z
        .record(z.string().regex(/^[A-Z0-9_]+$/), z.number().min(-1000).max(1000))
        .default({})
        .meta({ description: `Score of a built-in rule by id, replacing the default (0 turns the rule off); each message's decision names the rules it hit. Ids: ${BUILTIN_RULE_IDS.join(', ')}. Example: {"MISSING_DATE": 0, "HTML_ONLY": 3}` }),
      unchecked: z
        .enum(['quarantine', 'reject'])
        .default('quarantine')
        .meta({ description: 'A message Moat could not check whole (a MIME limit reached, ambiguous MIME headers, a zip that is damaged, encrypted, nested too deep or over a size limit, more DKIM or ARC signatures or From domains than sender authentication takes on): kept in quarantine or refused (550); never delivered unchecked' }),
      attachments: z
        .strictObject({
          enabled: z.boolean().default(true).meta({ description: 'Block dangerous attachments (by name, by content, inside zip archives)' }),
          action: z.enum(['reject', 'quarantine']).default('reject').meta({ description: 'What happens to a message with a blocked attachment' }),
          blockedExtensions: z
            .array(z.string().regex(/^\.?[A-Za-z0-9_-]{1,32}$/, 'expected an extension like "exe"'))
            .max(500)
            .default([...DEFAULT_BLOCKED_EXTENSIONS])
            .meta({ description: 'File name extensions that are blocked (replaces the default list of programs, scripts and disk images)' }),
          scanArchives: z.boolean().default(true).meta({ description: 'Also look at the files inside zip, gzip and winmail.dat (TNEF) attachments' }),
        })
        .prefault({}),
      clamav: z
        .strictObject({
          address: z
            .string()
            .regex(/^(\/[^\0]*|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5})$/, 'expected a unix socket path (/run/clamav/clamd.ctl) or HOST:PORT')
            .optional()
            .meta({ description: "clamd's unix socket (e.g. /run/clamav/clamd.ctl) or HOST:PORT; virus scanning is off while unset" }),
          infected: z.enum(['reject', 'quarantine']).default('reject').meta({ description: 'A message with a virus: refused (554) or kept in quarantine' }),
          onProblem: z
            .enum(['quarantine', 'tempfail'])
            .default('quarantine')
            .meta({ description: 'A message ClamAV could not clear (scan error, over a limit, encrypted archive, Heuristics.*): quarantine or 451' }),
          streamMaxBytes: z
            .number()
            .int()
            .min(1024)
            .max(4 * 1024 ** 3)
            .default(32 * 1024 * 1024)
            .meta({ description: "Largest message sent to clamd (keep clamd.conf's StreamMaxLength at least this); larger ones count as a problem" }),
        })
        .prefault({}),
      // sender authentication and the optional junk engines (filters/sender-auth.ts, rspamd.ts, spamd.ts)
      senderAuth: z
        .strictObject({
          enabled: z.boolean().default(true).meta({ description: 'Check SPF, DKIM, ARC and DMARC (filter "sender-auth"); the results go into Authentication-Results' }),
          dmarcReject: z.enum(['reject', 'quarantine', 'tag']).default('reject').meta({ description: 'A message failing DMARC whose From domain publishes p=reject: refused (550 5.7.1), kept in quarantine, or tagged; with tag, a DMARC policy that cannot be looked up defers nothing either' }),
          dmarcQuarantine: z.enum(['quarantine', 'tag']).default('quarantine').meta({ description: 'A message failing DMARC whose From domain publishes p=quarantine: kept in quarantine or tagged' }),
          spfFailScore: z.number().min(-100).max(100).default(2).meta({ description: 'Junk score of an SPF fail (the client may not send for the envelope domain)' }),
          spfSoftfailScore: z.number().min(-100).max(100).default(0.5).meta({ description: 'Junk score of an SPF softfail' }),
          dkimFailScore: z.number().min(-100).max(100).default(1).meta({ description: 'Junk score when DKIM signatures are present but none verifies' }),
          dmarcFailScore: z.number().min(-100).max(100).default(2).meta({ description: 'Junk score of a DMARC failure (also under p=none)' }),
        })
        .prefault({}),
      rspamd: z
        .strictObject({
          address: hostPortSchema.optional().meta({ description: "rspamd's normal worker, e.g. 127.0.0.1:11333 (filter \"rspamd\", HTTP /checkv2); off while unset" }),
          maxBytes: z.number().int().min(1024).max(1024 ** 3).default(20 * 1024 * 1024).meta({ description: 'Larger messages are not sent to rspamd (passed unscored)' }),
        })
        .prefault({}),
      spamd: z
        .strictObject({
          address: hostPortSchema.optional().meta({ description: "SpamAssassin's spamd, e.g. 127.0.0.1:783 (filter \"spamd\", SPAMC/1.5 SYMBOLS); off while unset" }),
          maxBytes: z.number().int().min(1024).max(1024 ** 3).default(2 * 1024 * 1024).meta({ description: 'Larger messages are not sent to spamd (passed unscored; SpamAssassin is slow on big mail)' }),
          user: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/).optional().meta({ description: "Whose SpamAssassin preferences apply (spamd's User header); default: spamd's own user" }),
        })
        .prefault({}),
    })
    .prefault({}),
  quarantine: z
    .strictObject({
      retentionDays: z.number().min(1).max(3650).default(30).meta({ description: 'Quarantined messages are deleted after this many days' }),
      digest: z
        .strictObject({
          enabled: z.boolean().default(false).meta({ description: 'Send each internal recipient a list of their newly quarantined mail, with links to the user page' }),
          time: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day like 08:00').default('08:00').meta({ description: "Time of day the digest goes out (HH:MM), by the relay box's clock and time zone" }),
          weekdays: z.array(z.number().int().min(0).max(6)).min(1).max(7).default([1, 2, 3, 4, 5]).meta({ description: 'Days the digest goes out (0 Sunday … 6 Saturday)' }),
        })
        .prefault({}),
      userPage: z
        .strictObject({
          listen: hostPortSchema.optional().meta({ description: "Address of the end users' quarantine page, on an internal interface (off while unset)" }),
          // checked as typed: the URL parser drops a CR or LF, and the digest's link then pointed elsewhere
          url: z.string().refine((value) => !/[\u0000-\u001f\u007f\s]/.test(value), { message: 'expected an address without spaces or control characters' }).pipe(z.url({ protocol: /^https?$/ })).optional().meta({ description: "Start of the digest's links, as users' browsers reach the page (default: http://LISTEN)" }),
          allowPublicAddress: z.boolean().default(false).meta({ description: 'Let the user page listen on an address that is not private (all interfaces or an Internet address)' }),
          releaseMode: z.enum(['direct', 'approval']).default('direct').meta({ description: 'What "release" on the user page does: deliver at once, or ask the admin to approve' }),
          linkDays: z.number().min(1).max(60).default(7).meta({ description: "A digest's links work for this many days" }),
        })
        .prefault({})
        .superRefine((page, ctx) => {
          if (page.listen && !page.allowPublicAddress && !isPrivateListen(page.listen)) {
            ctx.addIssue({ code: 'custom', path: ['listen'], message: `${page.listen} is not a private address: the user page belongs on an internal interface (a 10.x, 172.16-31.x, 192.168.x or fd00::/8 address); turn on "Allow a public address for the user page" (allowPublicAddress) only if a firewall keeps the Internet out` });
          }
        }),
    })
    .prefault({}),
  shutdownGraceSec: seconds(0, 600).default(30).meta({ description: 'On stop, how long open sessions and deliveries may finish before 421' }),
});

/** The file's shape (what a user writes) and the resolved shape (defaults filled in). */
export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.output<typeof ConfigSchema>;
export type HopConfig = NonNullable<Config['internal']>;
export type TlsMode = z.infer<typeof tlsModeSchema>;

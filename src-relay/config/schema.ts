import { z } from 'zod';
import { normalizeDomain } from '../smtp/address.ts';

/** `host:port` or `[v6]:port`; port 0 lets the OS pick (tests). */
export const hostPortSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/, { message: 'expected HOST:PORT, e.g. 127.0.0.1:25 or [::1]:25', abort: true })
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be 0..65535');

const hostSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9._:-]+$/, 'expected a host name or IP address');

const domainSchema = z.string().transform((value, ctx) => {
  const domain = normalizeDomain(value);
  if (!domain) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a valid domain name` });
    return z.NEVER;
  }
  return domain;
});

const mailboxSchema = z
  .string()
  .max(254)
  .regex(/^[^\s@<>"]+@[^\s@<>"]+$/, 'expected a plain address like user@example.com')
  .transform((value) => value.toLowerCase());

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);
const port = z.number().int().min(0).max(65535);

export const tlsModeSchema = z.enum(['none', 'opportunistic', 'required']);

const smtpAuthSchema = z.object({
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

export const ConfigSchema = z.object({
  hostname: hostSchema
    .optional()
    .meta({ description: "Name used in the greeting, EHLO and Received headers (default: the machine's host name)" }),
  domains: z
    .array(domainSchema)
    .default([])
    .meta({ description: 'Accepted domains: mail for these is taken in and delivered to the internal server' }),
  recipients: z
    .array(mailboxSchema)
    .default([])
    .meta({ description: 'When not empty, only these recipients are accepted (postmaster always is)' }),
  mx: z
    .object({
      listen: hostPortSchema.default('0.0.0.0:25').meta({ description: 'Address of the inbound (port 25) listener' }),
      tls: z
        .object({
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
      maxErrors: z.number().int().min(1).max(1000).default(10).meta({ description: 'Refused commands in one session before the connection is closed with 421' }),
    })
    .prefault({}),
  internal: z
    .object({
      host: hostSchema.meta({ description: 'The internal mail server (e.g. Exchange) that receives mail for the accepted domains' }),
      ...hopSchema,
    })
    .optional()
    .meta({ description: 'Where mail for the accepted domains goes' }),
  outbound: z
    .object({
      smarthost: z
        .object({ host: hostSchema.meta({ description: 'Smarthost name or address' }), ...hopSchema })
        .optional()
        .meta({ description: 'Send mail for other domains through this relay instead of looking up MX records' }),
      mxPort: port.default(25).meta({ description: 'Port used when delivering to MX hosts (25; other values are for tests)' }),
      maxConnectionsPerDomain: z.number().int().min(1).max(100).default(5).meta({ description: 'Concurrent deliveries to one destination domain' }),
    })
    .prefault({}),
  queue: z
    .object({
      retryIntervalsSec: z.array(seconds(1, 86400)).min(1).max(50).default([300, 600, 1200, 2400, 3600]).meta({ description: 'Waits between delivery attempts; the last repeats' }),
      lifetimeHours: z.number().min(0.01).max(24 * 60).default(120).meta({ description: 'Give up and bounce after this long in the queue (5 days)' }),
      delayWarningHours: z.number().min(0).max(24 * 60).default(4).meta({ description: 'Tell the sender mail is delayed after this long (0: never)' }),
      maxDeliveries: z.number().int().min(1).max(1000).default(50).meta({ description: 'Delivery attempts in progress at once, over all routes' }),
    })
    .prefault({}),
  shutdownGraceSec: seconds(0, 600).default(30).meta({ description: 'On stop, how long open sessions and deliveries may finish before 421' }),
});

/** The file's shape (what a user writes) and the resolved shape (defaults filled in). */
export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.output<typeof ConfigSchema>;
export type HopConfig = NonNullable<Config['internal']>;
export type TlsMode = z.infer<typeof tlsModeSchema>;

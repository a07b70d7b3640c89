import { z } from 'zod';
import { method } from '../util/contract-kit.ts';

const empty = z.object({}).strict();
/** The configuration as the file holds it; checked on the server by the config schema itself (one source). */
const configObject = z.record(z.string(), z.unknown());
const issues = z.array(z.object({ path: z.string(), message: z.string() }));
/** A host name or IP address, as the config's `internal.host` takes it. */
const host = z.string().trim().min(1).max(253).regex(/^[A-Za-z0-9._:-]+$/, 'expected a host name or IP address');
const port = z.number().int().min(1).max(65535);

export const filterEngineSchema = z.enum(['clamav', 'rspamd', 'spamd']);

export const configContract = {
  'config.get': method({
    summary: 'The configuration file as saved, the values in force (defaults filled in), and every key documented',
    input: empty,
    output: z.object({
      saved: configObject,
      /** Which version of the file `saved` is: config.apply given it refuses to overwrite a file changed since (CONFLICT). */
      revision: z.string(),
      /**
       * The file's settings that the relay does not run with (moat.json edited by hand and not applied; an admin
       * listener setting, which moves only when moat serve starts again: atRestart). Empty while it does not run.
       */
      notInForce: z.array(z.object({ key: z.string(), running: z.unknown(), file: z.unknown(), atRestart: z.boolean() })),
      effective: configObject,
      /** Whether the relay can run with it (domains and the internal server set). */
      configured: z.boolean(),
      /** Dotted key paths ("mx.listen") set on the command line: they win over `saved`, which applies only without them. */
      overridden: z.array(z.string()),
      /** Every key with its type, default and description (the schema's) and how a person sees it (config/fields.ts): one table for the settings page and the wizard. */
      keys: z.array(
        z.object({
          key: z.string(),
          type: z.string(),
          default: z.string(),
          description: z.string(),
          group: z.enum(['domains', 'internal', 'filters', 'outbound', 'accounts', 'alerts', 'backups', 'admin']),
          section: z.string(),
          label: z.string(),
          control: z.enum(['toggle', 'number', 'text', 'secret', 'list', 'number-list', 'weekdays', 'choice', 'address', 'path', 'json']),
          /** The unit shown; the stored value is `factor` times the shown one. */
          unit: z.object({ word: z.string(), factor: z.number() }).nullable(),
          choices: z.record(z.string(), z.string()).nullable(),
          options: z.array(z.string()),
          test: z.enum(['internal', 'smarthost', 'clamav', 'rspamd', 'spamd']).nullable(),
          emptyRemoves: z.string().nullable(),
        }),
      ),
      /** The groups of the settings page, in order. */
      groups: z.array(z.object({ id: z.string(), title: z.string(), intro: z.string() })),
    }),
  }),
  'config.validate': method({
    summary: 'Check a configuration (a wizard step or the whole) without applying it',
    input: z.object({ config: configObject, complete: z.boolean().default(false) }).strict(),
    output: z.object({ problems: issues }),
  }),
  'config.apply': method({
    summary: 'Save the configuration (whole or not at all) and restart the engine with it; rolled back if it cannot start',
    // revision: config.get's, when the configuration was edited from it; another window's Apply since is not undone
    input: z.object({ config: configObject, revision: z.string().max(100).optional() }).strict(),
    // notes: what the admin must know that did not stop the apply (a listener that could not start, one that moves
    // only at the next start)
    output: z.object({ state: z.string(), error: z.string().nullable(), notes: z.array(z.string()) }),
  }),
  'setup.testInternal': method({
    summary: 'Speak to the internal server: connect, EHLO, STARTTLS, a recipient probe; say whether it still offers AUTH',
    input: z
      .object({
        host,
        port: port.default(25),
        recipient: z.string().trim().max(254).optional(),
        /** Whose advice: the internal server's (switch its SMTP AUTH off...) or a smarthost's (where Moat sends outgoing mail). */
        role: z.enum(['internal', 'smarthost']).default('internal'),
      })
      .strict(),
    output: z.object({
      ok: z.boolean(),
      steps: z.array(z.object({ step: z.enum(['connect', 'greeting', 'ehlo', 'starttls', 'mail', 'rcpt']), ok: z.boolean(), detail: z.string() })),
      banner: z.string().nullable(),
      starttls: z.boolean(),
      authMechanisms: z.array(z.string()),
      /** null: no recipient was probed, or the server gave no clear answer. */
      recipientAccepted: z.boolean().nullable(),
      /** Whether it also took an address that cannot exist (then it cannot tell Moat which recipients exist); null: not probed. */
      acceptsAnyRecipient: z.boolean().nullable(),
      /** Plain advice, e.g. "it still offers AUTH LOGIN: switch SMTP AUTH off on it once Moat handles submission". */
      advice: z.array(z.string()),
    }),
  }),
  'setup.detectFilters': method({
    summary: 'Look for clamd, rspamd and spamd at their usual local addresses and test each one found',
    input: empty,
    /** found: the engine answered there; ok: and its test passed (clamd found the EICAR file, a junk engine gave a score). */
    output: z.object({ engines: z.array(z.object({ engine: filterEngineSchema, address: z.string(), found: z.boolean(), ok: z.boolean(), detail: z.string() })) }),
  }),
  'setup.testFilter': method({
    summary: 'Test one filter engine at an address (clamd: an EICAR scan; rspamd and spamd: a score)',
    input: z.object({ engine: filterEngineSchema, address: z.string().trim().min(1).max(300) }).strict(),
    output: z.object({ ok: z.boolean(), detail: z.string() }),
  }),
  'setup.saveCertificate': method({
    summary: 'Keep a PEM certificate and key (checked to belong together) in the data folder; returns their paths',
    input: z.object({ cert: z.string().min(1).max(200_000), key: z.string().min(1).max(200_000) }).strict(),
    /** cert, key: the files' paths (for mx.tls.cert and mx.tls.key); names: the DNS names it is valid for. */
    output: z.object({ cert: z.string(), key: z.string(), subject: z.string(), names: z.array(z.string()), validTo: z.number() }),
  }),
} as const;

// Talking to the internal server the way Moat will, to tell the admin what works and what to change: connect,
// greeting, EHLO, STARTTLS when offered and EHLO again (RFC 3207: the server forgets everything), and optionally a
// recipient probe (MAIL FROM:<>, RCPT TO, RSET). Each step has its own deadline and its result in plain words; no
// message is ever sent, and a network failure is a failed step, never a throw. The setup wizard's "test connection"
// and the checklist's internal-auth probe both ask through here.
import { randomBytes } from 'node:crypto';
import { CONFIG_FIELDS } from '../config/fields.ts';
import { SmtpProbe, ehloKeywords, type SmtpReply } from './smtp-probe.ts';

/** A setting as the admin page and the wizard label it (config/fields.ts), in quotes: advice names no config keys. */
function setting(key: string): string {
  return `"${CONFIG_FIELDS[key]?.label ?? key}"`;
}

/** One choice of a setting as the pages label it ("When offered" for internal.tls "opportunistic"). */
function choice(key: string, value: string): string {
  return `"${CONFIG_FIELDS[key]?.choices?.[value] ?? value}"`;
}

/**
 * Each step (the connection, then each reply) must finish within this. Exchange's tarpit holds back a 5xx to RCPT
 * for 5 s by default, so a deadline shorter than that would call a refused recipient "no answer".
 */
export const CHECK_STEP_TIMEOUT_MS = 10_000;
/** The whole conversation: at most this many steps' worth (connect, greeting, 2 EHLO, STARTTLS + handshake, MAIL, 2 RCPT, RSET). */
const MAX_STEPS = 10;

export type CheckStepName = 'connect' | 'greeting' | 'ehlo' | 'starttls' | 'mail' | 'rcpt';

export interface CheckStep {
  step: CheckStepName;
  ok: boolean;
  detail: string;
}

export interface SmtpServerCheck {
  /** Every step went as it should: Moat can hand mail to it (and it took the recipient, when one was probed). */
  ok: boolean;
  steps: CheckStep[];
  /** The greeting's text (after the 220). */
  banner: string | null;
  /** Whether it offered STARTTLS. */
  starttls: boolean;
  /** The TLS session when STARTTLS worked: version and whether its certificate is trusted here (chain and name). */
  tls: { protocol: string | null; authorized: boolean; authorizationError: string | null } | null;
  /** SMTP AUTH mechanisms offered before TLS. */
  authBeforeTls: string[];
  /** SMTP AUTH mechanisms offered in the session Moat would use: after STARTTLS when it worked, else in plain text. */
  authMechanisms: string[];
  /** null: no recipient probed, or no clear answer. */
  recipientAccepted: boolean | null;
  /** Whether it also took an address that cannot exist; null: not probed. */
  acceptsAnyRecipient: boolean | null;
  advice: string[];
}

export interface SmtpServerCheckOptions {
  host: string;
  port: number;
  /** Our name in EHLO. */
  hostname: string;
  /** An address to probe with RCPT TO (already checked by the caller). */
  recipient?: string;
  /** Start TLS when offered (default); false checks what a relay with `tls: none` sees. */
  starttls?: boolean;
  stepTimeoutMs?: number;
  /** Whose advice to give: the internal server's (default) or a smarthost's, which Moat sends outgoing mail through and may log in to. */
  role?: 'internal' | 'smarthost';
}

/** Runs the conversation and says what it found; never throws for anything the network or the server does. */
export async function checkSmtpServer(options: SmtpServerCheckOptions): Promise<SmtpServerCheck> {
  const stepMs = options.stepTimeoutMs ?? CHECK_STEP_TIMEOUT_MS;
  const { host, port } = options;
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const tlsKey = options.role === 'smarthost' ? 'outbound.smarthost.tls' : 'internal.tls';
  const tlsNever = `set ${setting(tlsKey)} to ${choice(tlsKey, 'none')}`;
  const check: SmtpServerCheck = {
    ok: false,
    steps: [],
    banner: null,
    starttls: false,
    tls: null,
    authBeforeTls: [],
    authMechanisms: [],
    recipientAccepted: null,
    acceptsAnyRecipient: null,
    advice: [],
  };
  const step = (name: CheckStepName, ok: boolean, detail: string) => {
    check.steps.push({ step: name, ok, detail });
    return ok;
  };
  const failure = (error: unknown) => describeFailure(error as Error & { code?: string }, where, host, stepMs);
  let probe: SmtpProbe | null = null;
  /** One command (or the greeting) with its deadline; a failure is recorded as the step and ends the conversation. */
  const ask = async (name: CheckStepName, line: string | null): Promise<SmtpReply | null> => {
    try {
      return line === null ? await probe!.reply(stepMs) : await probe!.command(line, stepMs);
    } catch (error) {
      step(name, false, failure(error));
      return null;
    }
  };
  try {
    try {
      probe = await SmtpProbe.connect(host, port, stepMs, stepMs * MAX_STEPS);
    } catch (error) {
      step('connect', false, failure(error));
      check.advice.push(`Moat cannot reach ${where}: check the host name and port, that the server runs, and that a firewall lets this box reach it on port ${port}.`);
      return finish(check, options.role);
    }
    step('connect', true, `connected to ${where}`);

    const greeting = await ask('greeting', null);
    if (!greeting) return finish(check, options.role);
    if (greeting.code !== 220) {
      step('greeting', false, `it refused the connection: ${greeting.text}`);
      check.advice.push("It turns this box away at connect: allow the relay's address on the server's receive connector.");
      return finish(check, options.role);
    }
    check.banner = greeting.lines.join(' ').trim();
    step('greeting', true, `it greeted: ${greeting.text}`);

    const ehlo = await ask('ehlo', `EHLO ${options.hostname}`);
    if (!ehlo) return finish(check, options.role);
    if (ehlo.code !== 250) {
      step('ehlo', false, `it refused EHLO ${options.hostname}: ${ehlo.text}`);
      return finish(check, options.role);
    }
    let keywords = ehloKeywords(ehlo);
    check.starttls = keywords.has('STARTTLS');
    check.authBeforeTls = authMechanisms(keywords);
    check.authMechanisms = check.authBeforeTls;
    step('ehlo', true, `it answered EHLO and offers ${describeExtensions(ehlo)}`);

    if (check.starttls && options.starttls !== false) {
      const started = await ask('starttls', 'STARTTLS');
      if (!started) return finish(check, options.role);
      if (started.code !== 220) {
        step('starttls', false, `it offered STARTTLS but refused it: ${started.text}`);
        check.advice.push(`It offers STARTTLS but will not start it: fix TLS on the server, or ${tlsNever}.`);
        return finish(check, options.role);
      }
      try {
        await probe.upgrade(host, stepMs);
      } catch (error) {
        step('starttls', false, `the TLS handshake failed: ${failure(error)}`);
        check.advice.push(`The TLS handshake with it failed: check its certificate and TLS settings, or ${tlsNever}.`);
        return finish(check, options.role);
      }
      check.tls = probe.tls;
      const trust = check.tls?.authorized ? 'its certificate is trusted here' : `its certificate is not trusted here (${check.tls?.authorizationError ?? 'unknown reason'})`;
      step('starttls', true, `TLS started (${check.tls?.protocol ?? 'TLS'}); ${trust}`);
      const again = await ask('ehlo', `EHLO ${options.hostname}`);
      if (!again) return finish(check, options.role);
      if (again.code !== 250) {
        step('ehlo', false, `after STARTTLS it refused EHLO: ${again.text}`);
        return finish(check, options.role);
      }
      keywords = ehloKeywords(again);
      check.authMechanisms = authMechanisms(keywords);
      step('ehlo', true, `after STARTTLS it offers ${describeExtensions(again)}`);
    }

    if (options.recipient) {
      await probeRecipient(options.recipient, ask, step, check);
      // the transaction is only a question: end it (a failure here changes no answer)
      await probe.command('RSET', stepMs).catch(() => null);
    }
    return finish(check, options.role);
  } finally {
    probe?.close();
  }
}

async function probeRecipient(
  recipient: string,
  ask: (name: CheckStepName, line: string | null) => Promise<SmtpReply | null>,
  step: (name: CheckStepName, ok: boolean, detail: string) => boolean,
  check: SmtpServerCheck,
): Promise<void> {
  const mail = await ask('mail', 'MAIL FROM:<>');
  if (!mail) return;
  if (mail.code !== 250) {
    step('mail', false, `it refused the null sender MAIL FROM:<>: ${mail.text}`);
    check.advice.push('It refuses the null sender (MAIL FROM:<>), which delivery reports use: Moat cannot verify recipients with it, and bounces to your users would be refused too.');
    return;
  }
  step('mail', true, `it takes the null sender MAIL FROM:<>: ${mail.text}`);
  const rcpt = await ask('rcpt', `RCPT TO:<${recipient}>`);
  if (!rcpt) return;
  if (rcpt.code >= 200 && rcpt.code < 300) {
    check.recipientAccepted = true;
    step('rcpt', true, `it accepts ${recipient}: ${rcpt.text}`);
  } else if (rcpt.code >= 500) {
    check.recipientAccepted = false;
    step('rcpt', false, `it refuses ${recipient}: ${rcpt.text}`);
    check.advice.push(`It refused ${recipient}: check the address. With ${setting('mx.callout.enabled')} on, Moat refuses such recipients the same way, at the sender's RCPT.`);
  } else {
    step('rcpt', false, `it gave no clear answer for ${recipient}: ${rcpt.text}`);
  }
  const domain = recipient.slice(recipient.lastIndexOf('@') + 1);
  if (check.recipientAccepted && domain) {
    // an address nobody has: a server that takes it takes anything, and a callout learns nothing from it
    const nobody = `moat-probe-${randomBytes(6).toString('hex')}@${domain}`;
    const other = await ask('rcpt', `RCPT TO:<${nobody}>`);
    if (!other) return;
    if (other.code >= 200 && other.code < 300) {
      check.acceptsAnyRecipient = true;
      step('rcpt', true, `it also accepts ${nobody}, an address that does not exist: ${other.text}`);
      check.advice.push(
        `It accepts any address at ${domain}, so asking it cannot tell Moat which recipients exist: turn recipient filtering on at the server (Exchange: Recipient Filtering on the receive connector), or list them in Moat under ${setting('recipients')}.`,
      );
    } else if (other.code >= 500) {
      check.acceptsAnyRecipient = false;
      step('rcpt', true, `it refuses ${nobody}, an address that does not exist: ${other.text}`);
      check.advice.push(`It refuses unknown recipients: turn on ${setting('mx.callout.enabled')} and mail for addresses that do not exist is refused before it is taken in.`);
    } else {
      step('rcpt', true, `it gave no clear answer for ${nobody}, an address that does not exist: ${other.text}`);
    }
  }
}

/** Sets `ok` and adds the advice that follows from what was seen (TLS, AUTH). */
function finish(check: SmtpServerCheck, role: 'internal' | 'smarthost' = 'internal'): SmtpServerCheck {
  const key = role === 'smarthost' ? 'outbound.smarthost' : 'internal';
  const reached = check.steps.some((entry) => entry.step === 'ehlo' && entry.ok);
  check.ok = reached && check.steps.every((entry) => entry.ok);
  if (!reached) return check;
  if (!check.starttls) {
    check.advice.push(
      `It does not offer STARTTLS: mail from Moat to it crosses your network unencrypted (${setting(`${key}.tls`)}: ${choice(`${key}.tls`, 'opportunistic')} works with that, ${choice(`${key}.tls`, 'required')} would not).`,
    );
  } else if (check.tls && !check.tls.authorized) {
    check.advice.push(
      `Its certificate is not trusted here (${check.tls.authorizationError ?? 'unknown reason'}): leave ${setting(`${key}.verifyCertificate`)} off, or give Moat your CA's certificate (${setting('outbound.caFile')} in the settings).`,
    );
  }
  if (check.authMechanisms.length && role === 'smarthost') {
    check.advice.push(`It offers AUTH ${check.authMechanisms.join(' ')}: if your provider gives you a user name and password, enter them under "Log in to the smarthost".`);
  } else if (check.authMechanisms.length) {
    check.advice.push(
      `It still offers AUTH ${check.authMechanisms.join(' ')}: once Moat handles your clients' submission, switch SMTP AUTH off on it (on the receive connector Moat uses), so stolen passwords have nothing to log in to.`,
    );
  }
  if (check.authBeforeTls.length && (check.tls || !check.starttls)) {
    check.advice.push(`It offers AUTH ${check.authBeforeTls.join(' ')} without TLS: passwords can cross the network in clear.`);
  }
  return check;
}

/** AUTH mechanisms from the EHLO keywords ("AUTH LOGIN PLAIN", and the old "AUTH=LOGIN" form). */
function authMechanisms(keywords: Map<string, string>): string[] {
  const mechanisms = new Set<string>();
  for (const [keyword, rest] of keywords) {
    if (keyword === 'AUTH') for (const name of rest.split(/\s+/)) if (name) mechanisms.add(name.toUpperCase());
    if (keyword.startsWith('AUTH=')) for (const name of [keyword.slice(5), ...rest.split(/\s+/)]) if (name) mechanisms.add(name.toUpperCase());
  }
  return [...mechanisms];
}

function describeExtensions(reply: SmtpReply): string {
  const extensions = reply.lines.slice(1).map((line) => line.trim()).filter(Boolean);
  return extensions.length ? extensions.join(', ') : 'no extensions';
}

/** A network or protocol failure in words an admin can act on. */
function describeFailure(error: Error & { code?: string }, where: string, host: string, stepMs: number): string {
  const seconds = `${Math.round(stepMs / 100) / 10} s`;
  switch (error.code) {
    case 'ECONNREFUSED':
      return `nothing listens on ${where} (connection refused)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `the name ${host} does not resolve (${error.code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `there is no route to ${where} (${error.code})`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `${where} cut the connection (${error.code})`;
  }
  if (/^no connection to .* within/.test(error.message)) return `no answer from ${where} within ${seconds}: is a firewall dropping the connection?`;
  if (/did not answer in time|timed out/.test(error.message)) return `no answer within ${seconds}`;
  return error.message;
}

import { randomBytes } from 'node:crypto';
import { SmtpProbe, type SmtpReply } from './smtp-probe.ts';
import type { ProbeOutcome } from './types.ts';

/** A domain that can never be ours nor anyone's (RFC 2606). */
const FOREIGN = 'moat-selftest.invalid';
/** The whole self-test must finish within this long. */
export const SELF_TEST_TIMEOUT_MS = 30_000;

/**
 * A new EHLO name for the self-test's probes, secret for the life of one relay: the mx listener, told it, knows those
 * sessions from loopback for its own and leaves them out of the refusal counters and tracking. 96 random bits: not
 * guessable by a client that would like its own refusals to go uncounted.
 */
export function selfTestHelo(): string {
  return `self-test-${randomBytes(12).toString('hex')}.moat.invalid`;
}

/** Every address form that an open relay would route elsewhere; each must get a 5xx at RCPT. */
export function relayTricks(ourDomain: string): { trick: string; address: string }[] {
  return [
    { trick: 'foreign domain', address: `relay-test@${FOREIGN}` },
    { trick: 'percent hack', address: `relay-test%${FOREIGN}@${ourDomain}` },
    { trick: 'bang path', address: `${FOREIGN}!relay-test@${ourDomain}` },
    { trick: 'quoted local part', address: `"relay-test@${FOREIGN}"@${ourDomain}` },
    { trick: 'address literal', address: 'relay-test@[192.0.2.1]' },
    { trick: 'source route', address: `@${ourDomain}:relay-test@${FOREIGN}` },
    { trick: 'two at signs', address: `relay-test@${FOREIGN}@${ourDomain}` },
    { trick: 'IMCEA encapsulation', address: `IMCEASMTP-relay-test+40${FOREIGN.replace(/\./g, '+2E')}@${ourDomain}` },
  ];
}

export interface TrickResult {
  trick: string;
  address: string;
  reply: string;
  refused: 'yes' | 'temporarily' | 'no';
}

/**
 * Moat probes its own mx listener with relay tricks, one session each (a refusal-count limit cannot hide one).
 * ok: every trick got a 5xx; failing: one was accepted (250); warning: one got only a 4xx; unknown: no conversation.
 * Never sends DATA: nothing is queued whatever the answer.
 */
export async function openRelaySelfTest(options: {
  host: string;
  port: number;
  ourDomain: string;
  helo: string;
  timeoutMs?: number;
}): Promise<ProbeOutcome & { results: TrickResult[] }> {
  const results: TrickResult[] = [];
  const deadline = Date.now() + (options.timeoutMs ?? SELF_TEST_TIMEOUT_MS);
  const target = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  for (const { trick, address } of relayTricks(options.ourDomain)) {
    let probe: SmtpProbe | null = null;
    try {
      probe = await SmtpProbe.connect(options.host, options.port, Math.max(1, deadline - Date.now()));
      expect(await probe.reply(), 2, 'greeting');
      expect(await probe.command(`EHLO ${options.helo}`), 2, 'EHLO');
      let mail = await probe.command(`MAIL FROM:<relay-test@${FOREIGN}>`);
      if (mail.code >= 400) mail = await probe.command('MAIL FROM:<>');
      expect(mail, 2, 'MAIL FROM');
      const reply = await probe.command(`RCPT TO:<${address}>`);
      const refused = reply.code >= 500 ? 'yes' : reply.code >= 400 ? 'temporarily' : 'no';
      results.push({ trick, address, reply: reply.text, refused });
      await probe.command('RSET').catch(() => undefined);
    } catch (error) {
      return {
        status: 'unknown',
        detail: `could not talk to the mx listener at ${target} (${trick}): ${(error as Error).message}`,
        hint: 'Is "moat serve" running? The self-test connects to the relay\'s own mx listener.',
        results,
      };
    } finally {
      probe?.close();
    }
  }
  const accepted = results.filter((result) => result.refused === 'no');
  const soft = results.filter((result) => result.refused === 'temporarily');
  if (accepted.length > 0) {
    return {
      status: 'failing',
      detail: `OPEN RELAY: ${accepted.map((result) => `${result.trick} <${result.address}> was accepted (${result.reply})`).join('; ')}`,
      hint: 'Mail for these addresses would be relayed to other domains. Stop the relay or firewall port 25 now, check "domains" and "recipients", and report this as a bug.',
      results,
    };
  }
  if (soft.length > 0) {
    return {
      status: 'warning',
      detail: `${soft.map((result) => `${result.trick} got only a temporary refusal (${result.reply})`).join('; ')}`,
      hint: 'A 4xx invites the sender to try again; a relay attempt should get a permanent 5xx. Run the self-test again; if it persists, look at the filters\' settings.',
      results,
    };
  }
  return { status: 'ok', detail: `all ${results.length} relay tricks were refused with 5xx at ${target}`, results };
}

export interface SubmissionTestResult {
  /** 587 (STARTTLS; tested without it, as a client that never logs in) or 465 (TLS from the first byte). */
  listener: 'submission' | 'submissions';
  target: string;
  /** The refusal (or acceptance) the relay attempt got, at MAIL FROM or else at RCPT TO. */
  reply: string;
  refused: 'yes' | 'temporarily' | 'no';
}

/**
 * Moat probes a submission listener as a client that does not log in: mail from and to a foreign domain must be
 * refused (530 at MAIL FROM), or the listener relays for anyone who finds it. Never sends DATA.
 */
export async function submissionSelfTest(options: {
  host: string;
  port: number;
  listener: 'submission' | 'submissions';
  helo: string;
  timeoutMs?: number;
}): Promise<SubmissionTestResult> {
  const target = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const probe = await SmtpProbe.connect(options.host, options.port, options.timeoutMs ?? SELF_TEST_TIMEOUT_MS);
  try {
    if (options.listener === 'submissions') await probe.upgrade(options.host);
    expect(await probe.reply(), 2, 'greeting');
    expect(await probe.command(`EHLO ${options.helo}`), 2, 'EHLO');
    let reply = await probe.command(`MAIL FROM:<relay-test@${FOREIGN}>`);
    if (reply.code < 400) reply = await probe.command(`RCPT TO:<relay-test@${FOREIGN}>`);
    const refused = reply.code >= 500 ? 'yes' : reply.code >= 400 ? 'temporarily' : 'no';
    return { listener: options.listener, target, reply: reply.text, refused };
  } finally {
    probe.close();
  }
}

function expect(reply: SmtpReply, klass: number, what: string): void {
  if (Math.floor(reply.code / 100) !== klass) throw new Error(`${what} answered ${reply.text}`);
}

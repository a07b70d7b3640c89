/** An SMTP reply as the relay means it: the basic code, the RFC 3463 enhanced status, and plain words. */
export interface SmtpReply {
  code: number;
  enhanced: string;
  text: string;
}

/** A refusal as history keeps it: the reply the client was given, then why (Tracking shows both). */
export function refusalDetail(reply: SmtpReply, why: string): string {
  return why ? `${reply.code} ${reply.enhanced} ${reply.text} (${why})` : `${reply.code} ${reply.enhanced} ${reply.text}`;
}

/** Every reply the relay's own policy gives, in one table (habit: only the SMTP layer picks numbers). */
export const REPLIES = {
  queued: { code: 250, enhanced: '2.0.0', text: 'Ok: queued as' },
  relayDenied: { code: 554, enhanced: '5.7.1', text: 'Relay access denied' },
  badRecipient: { code: 553, enhanced: '5.1.3', text: 'Recipient address not accepted' },
  unknownRecipient: { code: 550, enhanced: '5.1.1', text: 'No such recipient here' },
  badSender: { code: 553, enhanced: '5.1.7', text: 'Sender address not accepted' },
  tooManyConnectionsFromIp: { code: 421, enhanced: '4.7.0', text: 'Too many connections from your address, try again later' },
  tooManyErrors: { code: 421, enhanced: '4.7.0', text: 'Too many errors, closing connection' },
  sessionDeadline: { code: 421, enhanced: '4.4.2', text: 'Session time limit reached, closing connection' },
  // floods (smtp/pressure.ts, smtp/data-rate.ts): a session idle while the server is busy, a message that trickles in
  idleUnderStress: { code: 421, enhanced: '4.4.2', text: 'Server busy and this session idle, closing connection' },
  dataTooSlow: { code: 421, enhanced: '4.4.2', text: 'Message data arriving too slowly, closing connection' },
  shuttingDown: { code: 421, enhanced: '4.3.2', text: 'Service shutting down, try again later' },
  localError: { code: 451, enhanced: '4.3.0', text: 'Local error while queuing the message, try again later' },
  messageTooBig: { code: 552, enhanced: '5.3.4', text: 'Message exceeds the size limit' },
  // message content at the end of DATA (smtp/header-scrub.ts); headerTooBig below serves every listener
  nulByte: { code: 554, enhanced: '5.6.0', text: 'Message refused: it contains NUL bytes (RFC 5322 forbids them; binary data must be base64-encoded)' },
  headerControl: { code: 554, enhanced: '5.6.0', text: 'Message refused: control characters in the header section' },
  tooManyHops: { code: 554, enhanced: '5.4.6', text: 'Message refused: too many hops, a mail loop' },
  // submission listeners (587, 465): AUTH, sender rules, circuit breaker
  authRequired: { code: 530, enhanced: '5.7.0', text: 'Authentication required' },
  startTlsFirst: { code: 530, enhanced: '5.7.0', text: 'Must issue a STARTTLS command first' },
  authFailed: { code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' },
  authzidRefused: { code: 535, enhanced: '5.7.8', text: 'Authentication refused: an account may act only as itself (leave the authorization identity empty)' },
  authLocked: { code: 454, enhanced: '4.7.0', text: 'Too many failed logins, try again later (your mail administrator can unlock it at once)' },
  authUnavailable: { code: 454, enhanced: '4.7.0', text: 'Temporary authentication failure, try again later' },
  tooManyAuthFailures: { code: 421, enhanced: '4.7.0', text: 'Too many failed logins, closing connection' },
  senderNotOwned: { code: 550, enhanced: '5.7.1', text: 'Sender address not allowed for this account' },
  fromNotOwned: { code: 550, enhanced: '5.7.1', text: 'From header address not allowed for this account' },
  fromInvalid: { code: 550, enhanced: '5.6.0', text: 'The message needs exactly one From header field with a valid address' },
  fromRawBytes: { code: 550, enhanced: '5.6.0', text: 'The From or Sender header holds raw bytes that mail programs read differently; let your mail program encode it (RFC 2047)' },
  headerTooBig: { code: 552, enhanced: '5.3.4', text: 'Header section too large' },
  accountSuspended: { code: 451, enhanced: '4.7.1', text: 'Sending suspended for this account (hourly limit reached); the administrator must unlock it' },
  // content filters (mx, end of DATA): the policy's action and its cause pick one of these (smtp/filter-replies.ts)
  rejectedVirus: { code: 554, enhanced: '5.7.1', text: 'Message refused: virus found' },
  rejectedJunk: { code: 550, enhanced: '5.7.1', text: 'Message refused as junk' },
  rejectedPolicy: { code: 550, enhanced: '5.7.1', text: 'Message refused by policy' },
  rejectedSender: { code: 550, enhanced: '5.7.1', text: 'Sender refused by policy' },
  filterTempfail: { code: 451, enhanced: '4.7.1', text: 'Message could not be checked now, try again later' },
  deferredPolicy: { code: 451, enhanced: '4.7.1', text: 'Message deferred by policy, try again later' },
  // a recipient's own block list (filters/personal-lists.ts): at RCPT for the envelope sender, at the end of DATA for a From address
  recipientBlockedSender: { code: 550, enhanced: '5.7.1', text: 'The recipient has blocked mail from this sender' },
  allRecipientsBlockedSender: { code: 550, enhanced: '5.7.1', text: 'Every recipient has blocked mail from this sender' },
  // connection policy (mx): deny list and block lists at RCPT, rate limits, directory harvest; recipient callout
  clientDenied: { code: 554, enhanced: '5.7.1', text: 'Access denied for your address' },
  clientListed: { code: 554, enhanced: '5.7.1', text: 'Service unavailable; your address is on a block list' },
  connectionRate: { code: 421, enhanced: '4.7.0', text: 'Too many connections from your address, try again later' },
  messageRate: { code: 451, enhanced: '4.7.1', text: 'Too many messages from your address, try again later' },
  harvest: { code: 421, enhanced: '4.7.1', text: 'Too many unknown recipients, try again later' },
  recipientUnverified: { code: 450, enhanced: '4.4.1', text: 'Recipient cannot be verified now, try again later' },
} as const satisfies Record<string, SmtpReply>;

/** The error that smtp-server's hooks expect, carrying the reply for the wire and for the session's log. */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  constructor(readonly reply: SmtpReply, detail?: string) {
    super(detail ? `${reply.text}: ${detail}` : reply.text);
    this.responseCode = reply.code;
  }
}

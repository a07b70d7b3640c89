/** An SMTP reply as the relay means it: the basic code, the RFC 3463 enhanced status, and plain words. */
export interface SmtpReply {
  code: number;
  enhanced: string;
  text: string;
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
  shuttingDown: { code: 421, enhanced: '4.3.2', text: 'Service shutting down, try again later' },
  localError: { code: 451, enhanced: '4.3.0', text: 'Local error while queuing the message, try again later' },
  messageTooBig: { code: 552, enhanced: '5.3.4', text: 'Message exceeds the size limit' },
} as const satisfies Record<string, SmtpReply>;

/** The error that smtp-server's hooks expect, carrying the reply for the wire and for the session's log. */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  constructor(readonly reply: SmtpReply, detail?: string) {
    super(detail ? `${reply.text}: ${detail}` : reply.text);
    this.responseCode = reply.code;
  }
}

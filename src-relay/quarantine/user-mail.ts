import MailComposer from 'nodemailer/lib/mail-composer';

/** A subject quoted in the result mail is cut to this many characters. */
const MAX_QUOTED_SUBJECT_CHARS = 200;

export interface ReleaseResultMail {
  to: string;
  /** The admin's answer: approved, denied (it stays in quarantine); or none: the message deleted, or expired. */
  outcome: 'approved' | 'denied' | 'deleted' | 'expired';
  hostname: string;
  sender: string;
  subject: string | null;
  receivedAt: number;
  now: number;
}

/**
 * The short mail that tells a user what the admin decided on their release request (approval mode), in plain words.
 * Built by nodemailer's composer, so a subject in any script is encoded properly (RFC 2047).
 */
export async function releaseResultMail(options: ReleaseResultMail): Promise<string> {
  const subject = (options.subject ?? '(no subject)').replace(/[\r\n\t]+/g, ' ').slice(0, MAX_QUOTED_SUBJECT_CHARS);
  const from = options.sender || 'an automatic sender (no address)';
  const received = new Date(options.receivedAt).toUTCString();
  const text = options.outcome === 'approved'
    ? [
        'Your request was approved.',
        '',
        `The message "${subject}" from ${from} (received ${received}) was held in quarantine.`,
        'Your mail administrator has released it to you: it will arrive in your mailbox shortly.',
        '',
        'Only open links or attachments in it if you expected this message.',
      ]
    : options.outcome === 'expired'
      ? [
          'Your request was not answered in time.',
          '',
          `The message "${subject}" from ${from} (received ${received}) was removed from the quarantine when its time there ran out.`,
          'If you need it, please ask your mail administrator directly.',
        ]
      : [
          'Your request was not approved.',
          '',
          `The message "${subject}" from ${from} (received ${received}) ${options.outcome === 'deleted' ? 'was deleted from the quarantine' : 'stays in quarantine'}.`,
          'Your mail administrator decided not to deliver it. If you need it, please ask them directly.',
        ];
  const composer = new MailComposer({
    from: { name: 'Mail filter', address: `MAILER-DAEMON@${options.hostname}` },
    to: options.to,
    subject: `${options.outcome === 'approved' ? 'Released to you' : 'Not released'}: ${subject}`,
    date: new Date(options.now),
    text: text.join('\n'),
    headers: { 'Auto-Submitted': 'auto-generated' },
  });
  const built = await new Promise<Buffer>((resolve, reject) => composer.compile().build((error, message) => (error ? reject(error) : resolve(message))));
  return built.toString('utf8');
}

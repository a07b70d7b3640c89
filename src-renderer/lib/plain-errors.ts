/**
 * Low-level errors in plain words: one table turns a system error code, a TLS certificate problem or an SMTP reply
 * (by its enhanced status code, RFC 3463, else by its class) into a sentence and a next step. The dashboard, the
 * queue, the settings and the wizard all explain errors through it; the raw text always stays available beside it.
 */

export interface PlainError {
  /** What happened, for someone who is not a mail expert. */
  sentence: string;
  /** What to do about it; null when there is nothing to add. */
  next: string | null;
  /** The text as the system gave it. */
  raw: string;
  /** Which row of the table explained it; null: none did, and `sentence` is the raw text itself. */
  rule: string | null;
}

interface Rule {
  id: string;
  /** Tried against the raw text; the first rule that matches explains it. */
  match: RegExp;
  sentence: string;
  next: string | null;
}

// An enhanced status code (RFC 3463 2: class.subject.detail) standing on its own in a reply
const status = (code: string) => new RegExp(`(?:^|[\\s:(\\[])${code.replace(/\./g, '\\.')}(?=$|[\\s:;,.)\\]])`);

/**
 * The table, most specific first: system and TLS codes (a refused connection can come wrapped in an SMTP reply of
 * our own), then the enhanced status codes an admin meets most, then any 4xx or 5xx reply by its class.
 */
export const PLAIN_ERROR_RULES: readonly Rule[] = [
  {
    id: 'ECONNREFUSED',
    match: /ECONNREFUSED|connection refused/i,
    sentence: 'The server refused the connection: nothing is listening at that address and port.',
    next: 'Check that the mail server is running and that the host name and port are right. A firewall that rejects the port looks the same.',
  },
  {
    id: 'ETIMEDOUT',
    match: /ETIMEDOUT|ESOCKETTIMEDOUT|connection timeout|timed out|greeting never received/i,
    sentence: 'The server did not answer in time.',
    next: 'Check that the host name and port are right and that no firewall between Moat and the server silently drops the connection.',
  },
  {
    id: 'EADDRINUSE',
    match: /EADDRINUSE|address already in use/i,
    sentence: 'Another program already uses this address and port, so Moat cannot listen on it.',
    next: 'Stop the other program (another mail server, or a second copy of Moat) or choose another port in the settings.',
  },
  {
    id: 'EACCES',
    match: /EACCES|EPERM|permission denied|operation not permitted/i,
    sentence: 'Moat is not allowed to do this: a file it may not read or write, or a port below 1024 it may not open.',
    next: 'Give the account Moat runs as the rights it needs (for ports 25 and 587 on Linux: the CAP_NET_BIND_SERVICE capability), or fix the file\'s owner.',
  },
  {
    id: 'ENOENT',
    match: /ENOENT|no such file or directory/i,
    sentence: 'A file or folder Moat needs does not exist.',
    next: 'Check the path in the settings; the file may have been moved or deleted.',
  },
  {
    id: 'ECONNRESET',
    match: /ECONNRESET|EPIPE|socket hang up|connection closed unexpectedly|unexpected socket close|connection reset/i,
    sentence: 'The other side broke off the connection.',
    next: 'Often a firewall, a virus scanner or a TLS setting that does not match the server\'s. Moat tries again; if it keeps happening, check the TLS setting of this connection.',
  },
  {
    // "getaddrinfo ENOTFOUND 127.0.0.1:12599": the port was typed into the host field, so the lookup was for "IP:port"
    id: 'HOST_WITH_PORT',
    match: /(?:ENOTFOUND|EAI_AGAIN|EAI_NONAME)\s+(?:\[[0-9a-f:.]+\]|[^\s:[\]]+):\d{1,5}(?=$|[\s,;)])/i,
    sentence: 'The host field holds a port (the part after the colon), so Moat looked for a server by that whole name and found none.',
    next: 'Put the port in the Port field, and only the name or IP address in the host field.',
  },
  {
    id: 'ENOTFOUND',
    match: /ENOTFOUND|EAI_AGAIN|ENODATA|ESERVFAIL|getaddrinfo|queryMx|NXDOMAIN/i,
    sentence: 'The server\'s name could not be found in DNS.',
    next: 'Check the spelling of the host name, or enter its IP address; check that this machine\'s DNS servers answer.',
  },
  {
    id: 'EHOSTUNREACH',
    match: /EHOSTUNREACH|ENETUNREACH|no route to host|network is unreachable/i,
    sentence: 'There is no network path from Moat to the server.',
    next: 'Check the network cable or VPN, the address, and the routing and firewall between the DMZ and the server.',
  },
  {
    id: 'CERT_HAS_EXPIRED',
    match: /CERT_HAS_EXPIRED|certificate has expired/i,
    sentence: 'The server\'s TLS certificate has expired.',
    next: 'Renew the certificate on that server. Until then, Moat refuses the connection rather than send mail over a connection it cannot trust.',
  },
  {
    id: 'SELF_SIGNED',
    match: /DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|self[- ]signed certificate/i,
    sentence: 'The server\'s TLS certificate is self-signed: no known authority vouches for it.',
    next: 'Give the server a certificate from a known authority, or, for your own internal server only, turn off certificate checking for it in the settings.',
  },
  {
    id: 'UNTRUSTED_CERT',
    match: /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|unable to verify the first certificate|unable to get local issuer/i,
    sentence: 'The server\'s TLS certificate could not be checked: the authority that issued it is unknown, or the server does not send its intermediate certificate.',
    next: 'Install the full certificate chain on the server; for your own internal server you may instead turn off certificate checking for it in the settings.',
  },
  {
    id: 'ERR_TLS_CERT_ALTNAME_INVALID',
    match: /ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate'?s altnames|altname/i,
    sentence: 'The server\'s TLS certificate is made out to a different name than the one Moat connected to.',
    next: 'Use the host name the certificate is for (not its IP address or a short name), or get a certificate that includes the name you use.',
  },
  {
    id: 'TLS',
    match: /wrong version number|EPROTO|ERR_SSL|ssl3_get_record|handshake failure|unsupported protocol/i,
    sentence: 'The secure (TLS) connection could not be set up.',
    next: 'Check that this connection\'s TLS setting matches the server: STARTTLS on port 25 or 587, TLS from the start on port 465, or none.',
  },
  {
    id: '5.1.1',
    match: status('5.1.1'),
    sentence: 'The mailbox does not exist on the receiving server.',
    next: 'Check the address for typing errors. For your own domain: create the mailbox, or correct the address list Moat checks against.',
  },
  {
    id: '5.1.2',
    match: status('5.1.2'),
    sentence: 'The recipient\'s domain does not exist or takes no mail.',
    next: 'Check the part after the @ for typing errors.',
  },
  {
    id: '5.2.2',
    match: status('5.2.2'),
    sentence: 'The recipient\'s mailbox is full.',
    next: 'Ask the recipient to make room (or raise their quota on your server). The sender gets a bounce report.',
  },
  {
    id: '4.2.2',
    match: status('4.2.2'),
    sentence: 'The recipient\'s mailbox is full for now.',
    next: 'Moat tries again; ask the recipient to make room if it lasts.',
  },
  {
    id: '4.4.1',
    match: status('4.4.1'),
    sentence: 'The receiving server could not be reached (no answer or connection refused).',
    next: 'Moat keeps the mail and tries again. Check that the server is running and reachable from Moat.',
  },
  {
    id: '4.4.2',
    match: status('4.4.2'),
    sentence: 'The connection to the receiving server broke off.',
    next: 'Moat tries again. If it keeps happening, look for a firewall or a virus scanner between Moat and the server.',
  },
  {
    // delivery.ts's own refusal (an outside domain's MX on a private address), before the 5.4.4 it carries
    id: 'PRIVATE_MX',
    match: /only private or loopback addresses/,
    sentence: 'Moat did not send it: the mail servers of the recipient\'s domain are at private or loopback addresses, which Moat does not deliver to (mail steered into the office network).',
    next: 'If this partner really is reached over a private link or VPN, turn on "Deliver to mail servers at private addresses" (outbound.allowPrivateMxAddresses) in Settings → Configuration → Outgoing mail. Otherwise the domain\'s DNS is wrong: tell its owner.',
  },
  {
    id: '5.4.4',
    match: status('5.4.4'),
    sentence: 'No mail server could be found for the recipient\'s domain.',
    next: 'Check the domain for typing errors; its owner may have no mail set up.',
  },
  {
    id: '5.7.1',
    match: status('5.7.1'),
    sentence: 'The receiving server refused the mail by its policy: the sender is not allowed, relaying is denied, or the mail was judged unwanted.',
    next: 'For your own internal server: allow Moat\'s address to send (Exchange: the receive connector\'s permissions). For other servers: the reply says why; the sender may need to contact the recipient another way.',
  },
  {
    id: '5.7.0',
    match: status('5.7.(?:0|8|9)'),
    sentence: 'The receiving server refused for a security reason (for example a log-in or authentication it requires).',
    next: 'Check the user name and password this connection uses, or whether the server requires TLS.',
  },
  {
    id: '4.7.0',
    match: status('4.7.\\d{1,3}'),
    sentence: 'The receiving server refused for now for a security or policy reason (greylisting, a rate limit, or TLS required).',
    next: 'Nothing to do at once: Moat tries again later, which is what greylisting waits for. If it lasts a day, read the reply.',
  },
  {
    id: '4.3.x',
    match: status('4.3.\\d{1,3}'),
    sentence: 'The receiving server has a temporary problem of its own (busy, out of disk, or restarting).',
    next: 'Moat tries again. If the server is yours, look at its health.',
  },
  {
    id: '4xx',
    match: /(?:^|[\s:])4\d\d(?:[\s-]|$)/,
    sentence: 'The receiving server refused for now.',
    next: 'Moat keeps the mail and tries again on its schedule; the reply below says why.',
  },
  {
    id: '5xx',
    match: /(?:^|[\s:])5\d\d(?:[\s-]|$)/,
    sentence: 'The receiving server refused permanently.',
    next: 'Moat will not try again for this recipient; the sender gets a bounce report. The reply below says why.',
  },
];

/** The raw error explained by the first rule that matches; unknown text comes back as its own sentence. */
export function explainError(raw: string): PlainError {
  const text = raw.trim();
  const rule = PLAIN_ERROR_RULES.find((candidate) => candidate.match.test(text));
  if (!rule) return { sentence: text, next: null, raw: text, rule: null };
  return { sentence: rule.sentence, next: rule.next, raw: text, rule: rule.id };
}

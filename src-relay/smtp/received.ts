/** The longest HELO name or host name we copy into a header. */
const MAX_NAME_CHARS = 255;

/** A value from the network reduced to what may stand in a Received clause: printable ASCII, no parentheses. */
export function headerSafe(value: string, maxChars = MAX_NAME_CHARS): string {
  const cleaned = value.replace(/[^\x21-\x7e]|[()\\;<>]/g, '').slice(0, maxChars);
  return cleaned || 'unknown';
}

export interface ReceivedInput {
  helo: string | undefined;
  clientIp: string;
  clientHostname?: string | undefined;
  hostname: string;
  queueId: string;
  tls: boolean;
  /** The client logged in with SMTP AUTH (RFC 3848: ESMTPA, or ESMTPSA over TLS). */
  authenticated?: boolean | undefined;
  /** Leave out the from clause (the client's name and address): an office PC's, on mail that leaves the office. */
  hideClient?: boolean | undefined;
  recipient?: string | undefined;
  date: Date;
}

/**
 * RFC 5321 4.4 trace header, built only from sanitised values; ends with CRLF. Without the client (`hideClient`) it
 * starts at its by clause, as the big mail services write it for mail their users submit.
 */
export function receivedHeader(input: ReceivedInput): string {
  const ip = headerSafe(input.clientIp, 64);
  const from = headerSafe(input.helo ?? 'unknown');
  const reverse = input.clientHostname ? `${headerSafe(input.clientHostname)} ` : '';
  const protocol = `ESMTP${input.tls ? 'S' : ''}${input.authenticated ? 'A' : ''}`;
  const forClause = input.recipient ? `\r\n\tfor <${headerSafe(input.recipient, 254)}>` : '';
  const by = `by ${headerSafe(input.hostname)} (Moat) with ${protocol} id ${input.queueId}${forClause};\r\n`;
  return (
    (input.hideClient ? `Received: ${by}` : `Received: from ${from} (${reverse}[${ip}])\r\n\t${by}`) +
    `\t${input.date.toUTCString().replace('GMT', '+0000')}\r\n`
  );
}

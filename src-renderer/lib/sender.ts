/** Who a message is from, as a person reads it: the From display name and the address, "Moat" for mail Moat wrote. */
export function senderLabel(row: { sender: string; senderName?: string | null }): string {
  const name = row.senderName?.trim() || null;
  // "Name <from address>": the From line names another address than the envelope's; show both, not one for the other
  if (name && row.sender && name.endsWith('>')) return `${name}, sent by ${row.sender}`;
  if (name && row.sender) return `${name} <${row.sender}>`;
  if (name) return name;
  // a null sender that Moat did not write: a bounce or receipt from another mail system (RFC 5321 4.5.5)
  return row.sender || 'Mail system (no sender address)';
}

/** The short form for accessible names and search: the address, or the name when there is no address. */
export function senderKey(row: { sender: string; senderName?: string | null }): string {
  return row.sender || row.senderName?.trim() || '<>';
}

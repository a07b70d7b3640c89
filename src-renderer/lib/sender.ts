/** Who a message is from, as a person reads it: the From display name and the address, "Moat" for mail Moat wrote. */
export function senderLabel(row: { sender: string; senderName?: string | null }): string {
  const name = row.senderName?.trim() || null;
  const disguise = name ? addressLikeName(name, row.sender) : null;
  if (disguise) return disguise;
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

/**
 * A display name that is itself an address ("paypal@paypal.com" <x@elsewhere.example>) is how forgers pass one
 * address off as another: the address the mail came from leads, the name follows in quotes, so a cut-off column never
 * shows the name alone. Null for any other name (and for one that is the address itself).
 */
function addressLikeName(name: string, sender: string): string | null {
  // "Name <from address>" when the From address is not the envelope's (one mailbox only; a list is shown whole)
  const parts = (name.match(/</g) ?? []).length === 1 ? /^(.*) <([^<>]*)>$/.exec(name) : null;
  const display = (parts ? parts[1]! : name).trim().replace(/^"(.*)"$/, '$1');
  const address = parts ? parts[2]! : sender;
  // a full-width ＠ reads as "@" too
  if (!display.normalize('NFKC').includes('@') || !address || display.toLowerCase() === address.toLowerCase()) return null;
  return `${address}, named "${display}"${parts && sender ? `, sent by ${sender}` : ''}`;
}

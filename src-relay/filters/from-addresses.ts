/**
 * The addresses in the From header field(s), lower-case: every address-like word, wherever it stands (in a group,
 * after a display name, in angle brackets or not). The sender lists, the built-in rules and DMARC read From so.
 */
export function fromAddresses(headers: readonly { name: string; value: string }[]): string[] {
  const addresses: string[] = [];
  for (const header of headers) {
    if (header.name.toLowerCase() !== 'from') continue;
    for (const match of header.value.matchAll(/<?([^\s<>"(),;:]+@[^\s<>"(),;:]+)>?/g)) addresses.push(match[1]!.toLowerCase());
  }
  return addresses;
}

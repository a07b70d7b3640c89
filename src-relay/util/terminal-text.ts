/**
 * Text from mail or from the network, shown on a terminal: every control character (escape sequences, C1 controls
 * such as the 8-bit CSI) and direction mark becomes "?", so it cannot rewrite the screen nor hide what follows it.
 * `keepNewlines`: line feeds and tabs stay (a message's text shown as lines).
 */
export function terminalSafe(text: string, keepNewlines = false): string {
  return text.replace(keepNewlines ? /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g : /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, '?');
}

// Users' own allow and block lists (Settings → Sender lists): pure helpers for the panel.

/** One entry as the admin API lists it ('deny' is what the screens call "block"). */
export interface PersonalEntryView {
  recipient: string;
  entry: string;
  list: 'allow' | 'deny';
  addedAt: number;
  addedBy: string | null;
}

/** The entries of each user, users in the order the API gave them (by address), allowances first. */
export function groupByRecipient<T extends PersonalEntryView>(entries: readonly T[]): { recipient: string; allow: T[]; block: T[] }[] {
  const groups = new Map<string, { recipient: string; allow: T[]; block: T[] }>();
  for (const entry of entries) {
    let group = groups.get(entry.recipient);
    if (!group) {
      group = { recipient: entry.recipient, allow: [], block: [] };
      groups.set(entry.recipient, group);
    }
    (entry.list === 'allow' ? group.allow : group.block).push(entry);
  }
  return [...groups.values()];
}

/** What is wrong with the add form's fields, in words (the API checks again, and the domain too). */
export function personalFormProblems(recipient: string, entry: string): { recipient?: string; entry?: string } {
  const problems: { recipient?: string; entry?: string } = {};
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(recipient.trim())) problems.recipient = "the user's whole address (bob@example.com)";
  if (!/^([^\s@]+)?@?[^\s@]+\.[^\s@]+$/.test(entry.trim())) problems.entry = 'an address (user@example.com) or a domain (@example.com)';
  return problems;
}

/** The list's name on screen: "block", never the engine's word "deny". */
export function listWord(list: 'allow' | 'deny'): 'allowed' | 'blocked' {
  return list === 'allow' ? 'allowed' : 'blocked';
}

/**
 * Ticked rows of a paged table. The selection is a set of ids that survives paging. Two kinds of action, never
 * mixed: the toolbar's bulk buttons act on the ticked rows only ("Delete 3 selected", disabled with none ticked);
 * the detail pane's buttons act on the one message it shows ("Delete this message").
 */

export type Selection = ReadonlySet<string>;

export function toggleId(selection: Selection, id: string): Set<string> {
  const next = new Set(selection);
  if (next.has(id)) next.delete(id);
  else next.add(id);
  return next;
}

/** Tick or untick every row of the page. */
export function setAll(selection: Selection, ids: readonly string[], on: boolean): Set<string> {
  const next = new Set(selection);
  for (const id of ids) {
    if (on) next.add(id);
    else next.delete(id);
  }
  return next;
}

/** The page's header checkbox: all, some (indeterminate) or none of its rows ticked. */
export function pageSelectionState(selection: Selection, ids: readonly string[]): 'all' | 'some' | 'none' {
  const ticked = ids.filter((id) => selection.has(id)).length;
  if (ticked === 0) return 'none';
  return ticked === ids.length ? 'all' : 'some';
}

/** Drops ids the server said are gone (or were acted on and left the list). */
export function withoutIds(selection: Selection, ids: readonly string[]): Set<string> {
  const next = new Set(selection);
  for (const id of ids) next.delete(id);
  return next;
}

/** What a confirmation needs to name a message: its sender and subject. */
export interface MessageLabel {
  id: string;
  sender: string;
  subject: string | null;
}

/**
 * The rows the screen has seen, so a confirmation can name ticked messages that are on another page: the rows of
 * the page shown now, plus the ones remembered before that are still ticked (bounded by page size + selection).
 */
export function rememberRows(known: ReadonlyMap<string, MessageLabel>, rows: readonly MessageLabel[], keep: Selection): Map<string, MessageLabel> {
  const next = new Map<string, MessageLabel>();
  for (const [id, label] of known) if (keep.has(id)) next.set(id, label);
  for (const row of rows) next.set(row.id, { id: row.id, sender: row.sender, subject: row.subject });
  return next;
}

/** A confirmation dialog names at most this many messages, then "and K more": the dialog must fit an 800 px window. */
export const CONFIRM_NAMED_MAX = 5;

export interface NamedMessages {
  count: number;
  named: { id: string; sender: string; subject: string }[];
  more: number;
}

/** The messages a confirmation names: sender and subject of the first few, how many more, and the count. */
export function nameMessages(ids: readonly string[], known: ReadonlyMap<string, MessageLabel>, max = CONFIRM_NAMED_MAX): NamedMessages {
  const named = ids.slice(0, max).map((id) => {
    const label = known.get(id);
    return { id, sender: label ? label.sender || '<> (bounce)' : 'unknown sender', subject: label ? (label.subject ?? '(no subject)') : `(message ${id})` };
  });
  return { count: ids.length, named, more: Math.max(0, ids.length - named.length) };
}

/** A bulk button's label: "Delete 3 selected", or "Delete selected" (disabled) with none ticked. */
export function bulkLabel(verb: string, count: number): string {
  return count > 0 ? `${verb} ${count.toLocaleString('en')} selected` : `${verb} selected`;
}

/** "Delete this message?" for the pane's one message, "Delete 3 messages?" for ticked ones. */
export function confirmTitle(verb: string, count: number, one: 'this' | 'count', tail = ''): string {
  if (count === 1 && one === 'this') return `${verb} this message${tail}?`;
  return `${verb} ${count.toLocaleString('en')} message${count === 1 ? '' : 's'}${tail}?`;
}

/** The dialog's confirm button says what it does and to how many: "Delete 1 message", "Bounce 3 messages". */
export function confirmLabel(verb: string, count: number): string {
  return `${verb} ${count.toLocaleString('en')} message${count === 1 ? '' : 's'}`;
}

/** The ticks after an action: a bulk action clears them all; a pane action drops only the messages that left. */
export function ticksAfter(selection: Selection, source: 'bulk' | 'pane', left: readonly string[]): Set<string> {
  return source === 'bulk' ? new Set() : withoutIds(selection, left);
}

/** Bulk actions go to the server in slices of at most this many ids (the contract's MAX_BULK_IDS). */
export const BULK_CHUNK = 1000;

export function chunks<T>(items: readonly T[], size = BULK_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs a bulk action slice by slice (at most BULK_CHUNK ids a call) and adds up what each slice did. */
export async function actInSlices(
  ids: readonly string[],
  act: (slice: string[]) => Promise<{ done: string[]; unchanged?: string[]; gone: string[] }>,
): Promise<{ done: string[]; unchanged: string[]; gone: string[] }> {
  const done: string[] = [];
  const unchanged: string[] = [];
  const gone: string[] = [];
  for (const slice of chunks(ids)) {
    const answer = await act(slice);
    done.push(...answer.done);
    unchanged.push(...(answer.unchanged ?? []));
    gone.push(...answer.gone);
  }
  return { done, unchanged, gone };
}

/**
 * Ticked rows of a paged table. The selection is a set of ids that survives paging; the action buttons act on
 * it, or, with nothing ticked, on the message open in the detail pane.
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

export interface ActionTarget {
  ids: string[];
  kind: 'selection' | 'open' | 'none';
}

/** What the action buttons act on: the ticked rows, else the open message, else nothing (buttons disabled). */
export function actionTarget(selection: Selection, openId: string | null): ActionTarget {
  if (selection.size > 0) return { ids: [...selection], kind: 'selection' };
  if (openId) return { ids: [openId], kind: 'open' };
  return { ids: [], kind: 'none' };
}

/** Bulk actions go to the server in slices of at most this many ids (the contract's MAX_BULK_IDS). */
export const BULK_CHUNK = 1000;

export function chunks<T>(items: readonly T[], size = BULK_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs a bulk action slice by slice (at most BULK_CHUNK ids a call) and adds up what each slice did. */
export async function actInSlices(ids: readonly string[], act: (slice: string[]) => Promise<{ done: string[]; gone: string[] }>): Promise<{ done: string[]; gone: string[] }> {
  const done: string[] = [];
  const gone: string[] = [];
  for (const slice of chunks(ids)) {
    const answer = await act(slice);
    done.push(...answer.done);
    gone.push(...answer.gone);
  }
  return { done, gone };
}

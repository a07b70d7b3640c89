import type { Input } from '../../src-relay/admin/contract.ts';

/**
 * Server-paged tables (queue, quarantine): what the admin chose (filters, sort, page) as plain state, and the
 * request each choice turns into. The server sorts and pages, so 100,000 queued messages cost one page each time.
 */

type QueueListInput = Input<'queue.list'>;
export type QueueSort = NonNullable<QueueListInput['sort']>;
export type SortDirection = 'asc' | 'desc';
export type QueueStatusFilter = NonNullable<QueueListInput['status']> | '';
export type QueueRouteFilter = NonNullable<QueueListInput['route']> | '';

export interface PageState {
  offset: number;
  limit: number;
}

export interface QueueTableState extends PageState {
  search: string;
  status: QueueStatusFilter;
  route: QueueRouteFilter;
  sort: QueueSort;
  direction: SortDirection;
}

export const PAGE_SIZES = [25, 50, 100, 200] as const;

export const initialQueueTable: QueueTableState = { search: '', status: '', route: '', sort: 'receivedAt', direction: 'asc', offset: 0, limit: 50 };

/** Columns that start descending when first clicked (biggest, most tried first); the rest start ascending. */
const DESCENDING_FIRST: ReadonlySet<QueueSort> = new Set(['size', 'attempts']);

/** The queue.list request for this state: empty filters are left out, the search is trimmed. */
export function toQueueListInput(state: QueueTableState): QueueListInput {
  const input: QueueListInput = { sort: state.sort, direction: state.direction, offset: state.offset, limit: state.limit };
  const search = state.search.trim();
  if (search) input.search = search;
  if (state.status) input.status = state.status;
  if (state.route) input.route = state.route;
  return input;
}

/** Clicking a column header: the same column flips direction, another one starts at its natural direction. Back to page one. */
export function toggleSort(state: QueueTableState, sort: QueueSort): QueueTableState {
  if (state.sort === sort) return { ...state, direction: state.direction === 'asc' ? 'desc' : 'asc', offset: 0 };
  return { ...state, sort, direction: DESCENDING_FIRST.has(sort) ? 'desc' : 'asc', offset: 0 };
}

/** The aria-sort value of a column header. */
export function ariaSort(state: { sort: string; direction: SortDirection }, column: string): 'ascending' | 'descending' | 'none' {
  if (state.sort !== column) return 'none';
  return state.direction === 'asc' ? 'ascending' : 'descending';
}

/** A new filter or search shows its first page. */
export function withFilter<T extends PageState>(state: T, patch: Partial<Omit<T, 'offset'>>): T {
  return { ...state, ...patch, offset: 0 };
}

export interface PageInfo {
  /** 1-based first and last row shown; 0 and 0 when there is none. */
  from: number;
  to: number;
  total: number;
  page: number;
  pages: number;
  hasPrev: boolean;
  hasNext: boolean;
}

export function pageInfo(total: number, state: PageState): PageInfo {
  const pages = Math.max(1, Math.ceil(total / state.limit));
  const page = Math.min(pages, Math.floor(state.offset / state.limit) + 1);
  const from = total === 0 ? 0 : Math.min(total, state.offset + 1);
  const to = Math.min(total, state.offset + state.limit);
  return { from, to, total, page, pages, hasPrev: state.offset > 0, hasNext: state.offset + state.limit < total };
}

export function nextPage<T extends PageState>(state: T, total: number): T {
  return state.offset + state.limit < total ? { ...state, offset: state.offset + state.limit } : state;
}

export function prevPage<T extends PageState>(state: T): T {
  return state.offset > 0 ? { ...state, offset: Math.max(0, state.offset - state.limit) } : state;
}

/** A page size change keeps the first row shown on screen. */
export function withPageSize<T extends PageState>(state: T, limit: number): T {
  return { ...state, limit, offset: Math.floor(state.offset / limit) * limit };
}

/** After rows went away (delivered, deleted) the page may be past the end: step back to the last page there is. */
export function clampOffset<T extends PageState>(state: T, total: number): T {
  if (state.offset === 0 || state.offset < total) return state;
  const offset = Math.max(0, Math.floor((total - 1) / state.limit) * state.limit);
  return offset === state.offset ? state : { ...state, offset };
}

/** Which row gets focus after an arrow key: stays inside the page. */
export function moveIndex(index: number, key: string, count: number): number {
  if (count === 0) return -1;
  switch (key) {
    case 'ArrowDown':
      return Math.min(count - 1, index + 1);
    case 'ArrowUp':
      return Math.max(0, index - 1);
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return index;
  }
}

/** The keys that move the focus between a list's rows (moveIndex). */
export const MOVE_KEYS: readonly string[] = ['ArrowDown', 'ArrowUp', 'Home', 'End'];

/**
 * A list's one tab stop (roving tabindex): the row the focus was last on while it is still listed, else the open
 * one, else the first; null for an empty list.
 */
export function rovingStop(keys: readonly string[], last: string | null, open: string | null): string | null {
  if (last !== null && keys.includes(last)) return last;
  if (open !== null && keys.includes(open)) return open;
  return keys[0] ?? null;
}

const QUEUE_STATUS_FILTERS: readonly QueueStatusFilter[] = ['waiting', 'deferred', 'held'];
const QUEUE_ROUTE_FILTERS: readonly QueueRouteFilter[] = ['internal', 'outbound'];

/**
 * The queue filters a link names ("#/queue?route=internal&status=deferred": a desktop notification about the
 * internal server opens the queue filtered to it). Unknown values are left out, never passed to the API.
 */
export function queueFilterFromParams(params: Record<string, string>): { status?: QueueStatusFilter; route?: QueueRouteFilter } {
  const filter: { status?: QueueStatusFilter; route?: QueueRouteFilter } = {};
  const status = QUEUE_STATUS_FILTERS.find((value) => value === params.status);
  const route = QUEUE_ROUTE_FILTERS.find((value) => value === params.route);
  if (status) filter.status = status;
  if (route) filter.route = route;
  return filter;
}

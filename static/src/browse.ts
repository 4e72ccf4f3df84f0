// Lists of users and products (/api/users, /api/products) and the raw-event
// export (/api/events NDJSON): URLs, table rows and cursor following, kept
// apart from the DOM so they are unit-tested.

import type { TableData } from './export';
import { PRESET_MS, type AppState } from './state';

/** Event types in the order ingest names them (README "Events"). */
export const EVENT_TYPES = ['view', 'click', 'add_to_cart', 'remove_from_cart', 'favorite', 'purchase', 'rate'] as const;

export interface UserRow {
  user_id: string;
  events: Record<string, number>;
  total_events: number;
  total_spend: number;
  first_seen: string | null;
  last_seen: string | null;
}
export interface UsersPage {
  users: UserRow[];
  next_cursor: string | null;
}
export interface ProductRow {
  product_id: string;
  category_id: string;
  events: Record<string, number>;
  interactions: number;
}
export interface ProductsPage {
  products: ProductRow[];
  start?: string | null;
  end?: string | null;
  next_cursor: string | null;
}

/** Page size of both lists. */
export const LIST_LIMIT = 50;

export function usersUrl(search: string, cursor: string | null, limit = LIST_LIMIT): string {
  let q = `/api/users?limit=${limit}`;
  if (search) q += '&search=' + encodeURIComponent(search);
  if (cursor) q += '&cursor=' + encodeURIComponent(cursor);
  return q;
}

/** `window` is the range of the page's state when it is a preset, else 24h (the list's default). */
export function productsUrl(search: string, cursor: string | null, window: string, limit = LIST_LIMIT): string {
  let q = `/api/products?limit=${limit}&window=${window}`;
  if (search) q += '&search=' + encodeURIComponent(search);
  if (cursor) q += '&cursor=' + encodeURIComponent(cursor);
  return q;
}

/** Event-type columns of a list: the ones any row has, in EVENT_TYPES order, then any others. */
function typeColumns(rows: { events: Record<string, number> }[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.events ?? {})) seen.add(k);
  return [...EVENT_TYPES.filter((k) => seen.has(k)), ...[...seen].filter((k) => !(EVENT_TYPES as readonly string[]).includes(k)).sort()];
}

/** The users page as a table in the API's field names (events flattened to events.<type>). */
export function usersTable(rows: UserRow[]): TableData {
  const types = typeColumns(rows);
  return {
    columns: ['user_id', 'total_events', 'total_spend', 'first_seen', 'last_seen', ...types.map((k) => 'events.' + k)],
    rows: rows.map((r) => [r.user_id, r.total_events, r.total_spend, r.first_seen, r.last_seen, ...types.map((k) => r.events?.[k] ?? 0)]),
  };
}

export function productsTable(rows: ProductRow[]): TableData {
  const types = typeColumns(rows);
  return {
    columns: ['product_id', 'category_id', 'interactions', ...types.map((k) => 'events.' + k)],
    rows: rows.map((r) => [r.product_id, r.category_id, r.interactions, ...types.map((k) => r.events?.[k] ?? 0)]),
  };
}

/**
 * The /api/events query for the page's state: its range ([from, to) of a
 * custom range, or the preset's length ending after the newest event's
 * minute), its product filter, the user shown and an optional event type.
 * Null when a preset range has no newest event to end at.
 */
export function eventsQuery(s: AppState, newestMs: number | null, eventType = ''): string | null {
  let from: number;
  let to: number;
  if (s.range === 'custom' && s.from !== undefined && s.to !== undefined) {
    from = s.from;
    to = s.to;
  } else {
    if (newestMs === null) return null;
    to = Math.floor(newestMs / 60_000) * 60_000 + 60_000;
    from = to - PRESET_MS[s.range === 'custom' ? '1h' : s.range];
  }
  let q = `/api/events?from=${from}&to=${to}`;
  if (s.filters.product) q += '&product_id=' + encodeURIComponent(s.filters.product);
  if (s.user) q += '&user_id=' + encodeURIComponent(s.user);
  if (eventType) q += '&event_type=' + encodeURIComponent(eventType);
  return q;
}

/** Filters the events export cannot apply (the log has no category, device or location index). */
export function unexportedFilters(s: AppState): string[] {
  return (['category', 'device', 'location'] as const).filter((k) => !!s.filters[k]);
}

export interface EventsPage {
  text: string;
  next: string | null;
}

/**
 * Reads every page of an export, following X-Next-Cursor until it is absent
 * (pages may be empty and still carry a cursor). Stops after maxPages or
 * maxLines with `truncated`. `progress` gets the lines so far.
 */
export async function collectEvents(
  query: string,
  fetchPage: (url: string) => Promise<EventsPage>,
  opts: { pageLimit?: number; maxPages?: number; maxLines?: number; progress?: (lines: number) => void; signal?: AbortSignal } = {},
): Promise<{ ndjson: string; lines: number; pages: number; truncated: boolean }> {
  const limit = opts.pageLimit ?? 10_000;
  const maxPages = opts.maxPages ?? 10_000;
  const maxLines = opts.maxLines ?? 2_000_000;
  const parts: string[] = [];
  let lines = 0;
  let pages = 0;
  let cursor: string | null = null;
  do {
    if (opts.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const url: string = `${query}&limit=${limit}` + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
    const page = await fetchPage(url);
    pages++;
    const body = page.text.endsWith('\n') || page.text === '' ? page.text : page.text + '\n';
    if (body) {
      parts.push(body);
      lines += body.split('\n').length - 1;
    }
    opts.progress?.(lines);
    cursor = page.next;
    if (cursor && (pages >= maxPages || lines >= maxLines)) return { ndjson: parts.join(''), lines, pages, truncated: true };
  } while (cursor);
  return { ndjson: parts.join(''), lines, pages, truncated: false };
}

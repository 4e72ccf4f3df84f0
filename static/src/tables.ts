// What the Users, System and Products panels download, from the API's
// answers, apart from the DOM. A panel about one thing (a shopper's profile,
// the server's figures) is one row whose columns are the answer's field
// paths ("events.view", "ring.capacity"); a list is one row per item in the
// order shown. Values are the API's, unformatted.

import type { Propensity, Recommendation, SystemStatus, UserProfile } from './api';
import { EVENT_TYPES } from './browse';
import type { Cell, TableData } from './export';
import type { RankRow } from './product';

/** Event types of a count map: ingest's order first, then any others by name. */
function typeKeys(events: Record<string, number>): string[] {
  const keys = Object.keys(events ?? {});
  const known = EVENT_TYPES.filter((k) => keys.includes(k));
  return [...known, ...keys.filter((k) => !(EVENT_TYPES as readonly string[]).includes(k)).sort()];
}

/**
 * A shopper's profile as one row: the figures it shows (the Browse users
 * list's columns first), `events.<type>` per event
 * type and `top_categories.<category>` per category (interactions), in the
 * profile's order. Recent events and recommendations are panels of their own.
 */
export function profileTable(p: UserProfile): TableData {
  const columns = ['user_id', 'total_events', 'total_spend', 'currency', 'purchase_propensity', 'first_seen', 'last_seen'];
  const row: Cell[] = [p.user_id, p.total_events, p.total_spend, p.currency ?? null, typeof p.purchase_propensity === 'number' ? p.purchase_propensity : null, p.first_seen, p.last_seen];
  for (const k of typeKeys(p.events)) columns.push('events.' + k), row.push(p.events[k]);
  for (const c of p.top_categories ?? []) columns.push('top_categories.' + c.category_id), row.push(c.interactions);
  return { columns, rows: [row] };
}

/** "Likely to buy": one row per shopper, most likely first. */
export function propensityTable(r: Propensity): TableData {
  return { columns: ['rank', 'user_id', 'purchase_propensity'], rows: r.users.map((u, i) => [i + 1, u.user_id, u.purchase_propensity]) };
}

/** Recommendations (a shopper's, or a product's similar ones) in the API's fields, best first. */
export function recommendationsTable(list: Recommendation[]): TableData {
  return {
    columns: ['rank', 'product_id', 'score', 'reason_code', 'related_id', 'reason'],
    rows: list.map((x, i) => [i + 1, x.product_id, x.score ?? null, x.reason_code ?? null, x.related_id ?? null, x.reason ?? null]),
  };
}

/** The components table: one row per component in the server's order; `backlog` is the items a component has yet to handle (adapters), else empty. */
export function componentsTable(s: SystemStatus): TableData {
  return {
    columns: ['component', 'status', 'state', 'failures', 'restarts', 'last_error', 'backlog'],
    rows: Object.entries(s.components).map(([name, c]) => [name, c.status, c.state, c.failures, c.restarts, c.last_error ?? null, c.backlog ?? null]),
  };
}

/** The figures the System page shows, as one row of the status answer's field paths. */
export const FIGURE_FIELDS = [
  'timestamp',
  'version',
  'uptime_seconds',
  'throughput.events_per_second',
  'throughput.events_ingested',
  'ingest.lag_events',
  'ingest.lag_ms',
  'ring.occupancy',
  'ring.capacity',
  'event_log.bytes',
  'event_log.blocks',
  'event_log.first_sequence',
  'event_log.last_sequence',
  'memory.rss_bytes',
  'stream_processor.state',
  'stream_processor.replayed_events',
  'stream_processor.applied_through',
  'stream_processor.events_too_late',
  'websocket_clients',
] as const;

/** The value at a dotted path of an answer; null when absent or not a number/string. */
export function fieldAt(obj: unknown, path: string): Cell {
  let v: unknown = obj;
  for (const part of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return typeof v === 'number' || typeof v === 'string' ? v : null;
}

export function figuresTable(s: SystemStatus): TableData {
  return { columns: [...FIGURE_FIELDS], rows: [FIGURE_FIELDS.map((f) => fieldAt(s, f))] };
}

/** A product's category ranking as shown: the top rows, then the product's own when it ranks lower. */
export function rankingTable(rows: RankRow[], category: string): TableData {
  return { columns: ['rank', 'product_id', 'category_id', 'interactions', 'this_product'], rows: rows.map((r) => [r.rank, r.product_id, category, r.interactions, r.self ? 1 : 0]) };
}

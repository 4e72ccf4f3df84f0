// Types of the shoppulse JSON API (README "API") and small fetch helpers.
import { askKey, authHeader, getKey, readKey } from './auth';
import { coverageBoard, sourceOf, type ClusterMember, type Coverage } from './cluster';
import { toMs } from './format';

export interface Kpis {
  active_users: number;
  page_views: number;
  clicks: number;
  add_to_cart: number;
  remove_from_cart: number;
  favorites: number;
  purchases: number;
  ratings: number;
  total_events: number;
  revenue: number;
  average_order_value: number;
  conversion_rate: number;
  viewers: number;
  purchasers: number;
}

export interface WindowData extends Kpis {
  popular_products: { product_id: string; interactions: number }[];
  popular_categories: { category_id: string; interactions: number }[];
  timestamp: string;
  time_window: string;
  window: { start: string; end: string; watermark: string };
  previous: Kpis & { start: string; end: string };
  funnel: { step: 'view' | 'click' | 'add_to_cart' | 'purchase'; users: number; previous_users: number }[];
  devices: { device: string; events: number }[];
  locations: { location: string; events: number }[];
}

/** Drill-down answers of /api/analytics/real-time and /trends echo their filters. */
export interface DrillDownInfo {
  filters?: Record<string, string>;
  /** false when the server's recent-event buffer did not hold the whole range */
  complete?: boolean;
  covered_from?: string;
}

export type FilteredWindow = WindowData & DrillDownInfo;

export type WindowKey = '1m' | '5m' | '15m' | '1h' | '24h';

export interface Snapshot extends WindowData {
  type: 'snapshot';
  currency?: string;  // ISO 4217 code of the money fields
  events_applied: number;
  windows: Record<WindowKey, WindowData>;
  /** cluster mode: the partitions the message covers (merged from every member's part) */
  coverage?: Coverage;
  /** cluster mode: the node that pushed it and its member records */
  cluster?: { node_id: string; members: ClusterMember[] };
}

/** An answer that carries the engine's watermark: a snapshot, or a real-time window. */
export interface Watermarked {
  window?: { watermark?: string | null } | null;
}

/**
 * The newest event's time (epoch ms; null: no event yet). The page's latest
 * snapshot says it; before the first snapshot has arrived (the socket is
 * still connecting, or the server has not broadcast yet: its first broadcast
 * is a second after it starts) `ask` reads it from the server instead, so an
 * action that needs it is neither lost nor told there are no events.
 */
export async function newestEventMs(snapshot: Watermarked | null, ask: () => Promise<Watermarked>): Promise<number | null> {
  return toMs((snapshot ?? (await ask())).window?.watermark);
}

/** Asks the server for the watermark (newestEventMs's `ask`). */
export const askWatermark = (signal?: AbortSignal) => getJson<Watermarked>('/api/analytics/real-time?window=1m', signal);

/** Events of every type in a trend step (a step with any of them is activity). */
export function stepEvents(p: TrendPoint): number {
  return p.page_views + p.clicks + p.add_to_cart + p.remove_from_cart + p.favorites + p.purchases + p.ratings;
}

export interface TrendPoint {
  start: string;
  page_views: number;
  clicks: number;
  add_to_cart: number;
  remove_from_cart: number;
  favorites: number;
  purchases: number;
  ratings: number;
  revenue: number;
  unique_users: number;
  viewers: number;
  purchasers: number;
  conversion_rate: number;
  /** the step is still filling up (ends after the watermark's minute) */
  partial?: boolean;
  /** with forecast=: series whose observed value fell outside the model's 99 % interval */
  anomalies?: string[];
}

export interface Interval {
  value: number;
  lower: number;
  upper: number;
}

export type ForecastSeries = 'page_views' | 'purchases' | 'revenue' | 'unique_users';

export interface ForecastPoint extends Record<ForecastSeries, Interval> {
  start: string;
}

export interface Forecast {
  available: boolean;
  method: string;
  confidence: number;
  detail?: string;
  points: ForecastPoint[];
}

export interface Trends extends DrillDownInfo {
  step: string;
  from: string;
  to: string;
  points: TrendPoint[];
  forecast?: Forecast;
}

/** GET /api/analytics/range: a live window's figures for any [from, to), exact, from the log. */
export interface RangeAnswer extends Kpis {
  from: string;
  to: string;
  step: string;
  popular_products: { product_id: string; interactions: number }[];
  popular_categories: { category_id: string; interactions: number }[];
  devices: { device: string; events: number }[];
  locations: { location: string; events: number }[];
  funnel: WindowData['funnel'];
  previous: Kpis & { start: string; end: string };
  series: { start: string; page_views: number; clicks: number; add_to_cart: number; remove_from_cart: number; favorites: number; purchases: number; ratings: number; revenue: number }[];
  complete?: boolean;
  currency?: string;
}

export interface Recommendation {
  product_id: string;
  score?: number;
  category_id?: string;
  reason?: string;
  reason_code?: string;
  related_id?: string;
}

export interface Trending {
  algorithm: string;
  recommendations: Recommendation[];
}

export interface Propensity {
  users: { user_id: string; purchase_propensity: number }[];
  trained_examples: number;
  horizon_seconds: number;
}

export interface PopularProducts {
  products: { product_id: string; category_id: string; interactions: number }[];
  start: string;
  end: string;
  event_type: string;
  category_id?: string;
}

export interface UserProfile {
  user_id: string;
  events: Record<string, number>;
  total_events: number;
  page_views: number;
  purchases: number;
  total_spend: number;
  currency?: string;
  purchase_propensity?: number | null;
  first_seen: string;
  last_seen: string;
  top_categories: { category_id: string; interactions: number }[];
  recent_events: {
    event_type: string;
    product_id: string;
    category_id: string;
    price: number;
    quantity: number;
    device: string;
    location: string;
    timestamp: string;
    sequence: number;
  }[];
}

export interface Component {
  status: 'healthy' | 'unhealthy';
  state: string;
  failures: number;
  restarts: number;
  last_error?: string;
  /** items an adapter has yet to handle (logged events not yet published or archived, minutes not yet written); absent for other components */
  backlog?: number;
}

export interface SystemStatus {
  status: string;
  version: string;
  uptime_seconds: number;
  components: Record<string, Component>;
  throughput: { events_per_second: number; events_ingested: number; events_applied: number; duplicates: number };
  ingest: { queued_events: number; appends: number; append_failures: number; last_sequence: number; lag_events: number; watermark: string; lag_ms: number };
  ring: { occupancy: number; capacity: number };
  event_log: { first_sequence: number; last_sequence: number; blocks: number; bytes: number };
  stream_processor: { state: string; replayed_events: number; applied_through: number; events_too_late: number };
  memory: { rss_bytes: number };
  websocket_clients: number;
  timestamp: string;
}

export class ApiError extends Error {
  constructor(public readonly status: number, public readonly kind: string, detail: string) {
    super(detail);
  }
}

/** GET with the read key (kind 'admin': the admin key when one is stored, for the logs). */
export async function getJson<T>(path: string, signal?: AbortSignal, kind: 'read' | 'admin' = 'read'): Promise<T> {
  const key = () => (kind === 'admin' ? getKey('admin') ?? readKey() : readKey());
  const get = () => fetch(path, { headers: { Accept: 'application/json', ...authHeader(key()) }, signal });
  let res = await get();
  // The server requires keys: ask once for a read key, then retry.
  if ((res.status === 401 || res.status === 403) && kind === 'read' && askKey('read')) res = await get();
  if (!res.ok) {
    let kind = 'http_' + res.status;
    let detail = res.statusText;
    try {
      const body = await res.json();
      kind = body.error ?? kind;
      detail = body.detail ?? detail;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, kind, detail);
  }
  const body = await res.json();
  // Cluster mode: a merged answer that misses partitions shows the "Partial" banner.
  coverageBoard.note(sourceOf(path), body);
  return body as T;
}

/**
 * A view's one outstanding request: get(url) asks for url unless it is the
 * url last asked (answered or on its way), aborting the request before it.
 * It resolves undefined when it did not ask or a newer request aborted it; a
 * failure forgets the url, so the next get(url) asks again. cancel() aborts
 * and forgets (a view being hidden).
 */
export class LatestRequest {
  private url = '';
  private ctl: AbortController | null = null;
  constructor(private readonly fetchJson: <T>(path: string, signal?: AbortSignal) => Promise<T> = getJson) {}

  async get<T>(url: string): Promise<T | undefined> {
    if (url === this.url) return undefined;
    this.url = url;
    this.ctl?.abort();
    const ctl = (this.ctl = new AbortController());
    try {
      return await this.fetchJson<T>(url, ctl.signal);
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') return undefined;
      if (this.url === url) this.url = '';
      throw e;
    }
  }

  cancel(): void {
    this.ctl?.abort();
    this.url = '';
  }
}

/**
 * An admin action: asks for confirmation first (confirmText), sends the admin
 * key when one is stored and asks for one when the server refuses without it.
 * JSON Content-Type: the server refuses form and text bodies on POST.
 */
export async function postJson<T>(path: string, confirmText?: string): Promise<T> {
  if (confirmText && !globalThis.confirm?.(confirmText)) throw new ApiError(0, 'cancelled', 'cancelled');
  const post = () =>
    fetch(path, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json', ...authHeader(getKey('admin')) },
      body: '{}',
    });
  let res = await post();
  if ((res.status === 401 || res.status === 403) && askKey('admin')) res = await post();
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.error ?? 'http_' + res.status, body.detail ?? res.statusText);
  return body as T;
}

/** Trend step for a range: about 30–300 points. */
export function stepFor(rangeMs: number): '1m' | '5m' | '15m' | '1h' | '1d' {
  const min = rangeMs / 60_000;
  if (min <= 240) return '1m';
  if (min <= 1440) return '5m';
  if (min <= 4320) return '15m';
  if (min <= 43200) return '1h';
  return '1d';
}

export const STEP_MS: Record<string, number> = { '1m': 60_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '1d': 86_400_000 };

/** "90m" style window parameter for /api/products/popular (whole minutes, at least 1). */
export function windowParam(ms: number): string {
  return Math.max(1, Math.round(ms / 60_000)) + 'm';
}

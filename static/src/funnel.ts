// User-defined funnels (/api/analytics/funnel) and retention cohorts
// (/api/analytics/cohorts): the steps' text form, the query of a page
// state, and the answers as tables, apart from the DOM.

import { ApiError } from './api';
import type { TableData } from './export';
import { activeFilters, filterQuery, PRESET_MS, type AppState, type FilterKey, type Filters } from './state';

export interface FunnelStepSpec {
  type: string;
  /** optional filter of the step */
  category?: string;
  product?: string;
}

export interface FunnelStepAnswer {
  step: number;
  event_type: string;
  category_id?: string;
  product_id?: string;
  users: number;
  conversion_from_previous: number;
  conversion_from_start: number;
  dropped: number;
  median_time_to_convert_ms: number | null;
  average_time_to_convert_ms: number | null;
}

export interface FunnelAnswer {
  from: string;
  to: string;
  window: string;
  window_ms: number;
  breakdown: string | null;
  default_steps: boolean;
  steps: FunnelStepAnswer[];
  breakdowns: { value: string | null; steps: FunnelStepAnswer[] }[];
  event_types: Record<string, number>;
}

export interface CohortAnswer {
  from: string;
  to: string;
  period: string;
  cohorts: { start: string; users: number; returning: number[]; retention: number[] }[];
}

/** "view,add_to_cart:category=c1" → steps; ids may hold any character but the separators ',' and ':'. */
export function parseSteps(text: string | undefined): FunnelStepSpec[] {
  if (!text) return [];
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const colon = item.indexOf(':');
      if (colon < 0) return { type: item };
      const [key, ...rest] = item.slice(colon + 1).split('=');
      const value = rest.join('=');
      const step: FunnelStepSpec = { type: item.slice(0, colon) };
      if (key === 'category' && value) step.category = value;
      if (key === 'product' && value) step.product = value;
      return step;
    });
}

export function formatSteps(steps: FunnelStepSpec[]): string {
  return steps
    .filter((s) => s.type)
    .map((s) => s.type + (s.category ? ':category=' + s.category : s.product ? ':product=' + s.product : ''))
    .join(',');
}

/** The steps of an answer in the editor's form. */
export function stepsOf(answer: FunnelAnswer): FunnelStepSpec[] {
  return answer.steps.map((s) => ({ type: s.event_type, ...(s.category_id ? { category: s.category_id } : {}), ...(s.product_id ? { product: s.product_id } : {}) }));
}

/**
 * [from, to) of the page: a custom range as given; a preset is the range
 * ending now, i.e. after the newest event's minute. Null without a newest event.
 */
export function pageRange(s: AppState, newestMs: number | null): [number, number] | null {
  if (s.range === 'custom' && s.from !== undefined && s.to !== undefined) return [s.from, s.to];
  if (newestMs === null) return null;
  const to = Math.floor(newestMs / 60_000) * 60_000 + 60_000;
  return [to - PRESET_MS[s.range === 'custom' ? '1h' : s.range], to];
}

export function funnelUrl(s: AppState, range: [number, number]): string {
  let q = `/api/analytics/funnel?from=${range[0]}&to=${range[1]}&window=${s.fwindow ?? '1d'}`;
  if (s.steps) q += '&steps=' + encodeURIComponent(s.steps);
  if (s.breakdown) q += '&breakdown=' + s.breakdown;
  return q + filterQuery(s.filters);
}

/** The drill-down filters go to both endpoints as /api/analytics/range takes them (category, product, device, location). */
export function cohortsUrl(s: AppState, range: [number, number]): string {
  return `/api/analytics/cohorts?from=${range[0]}&to=${range[1]}&period=${s.period ?? 'day'}` + filterQuery(s.filters);
}

/**
 * The active filters a server refused: its 400 "unknown query parameter(s)
 * …" names those it does not take (a server from before the funnel and
 * cohort endpoints took filters). Null for any other error.
 */
export function refusedFilters(e: unknown, filters: Filters): FilterKey[] | null {
  if (!(e instanceof ApiError) || e.status !== 400) return null;
  const m = /^unknown query parameters? ([^;]+)/.exec(e.message);
  if (!m) return null;
  const named = new Set(m[1].split(',').map((x) => x.trim()));
  const refused = activeFilters({ filters } as AppState).map(([k]) => k).filter((k) => named.has(k));
  return refused.length ? refused : null;
}

const stepLabel = (s: FunnelStepAnswer) => s.event_type + (s.category_id ? ' (category ' + s.category_id + ')' : s.product_id ? ' (product ' + s.product_id + ')' : '');

/** One row per step (and per breakdown value and step), in the API's field names. */
export function funnelTable(a: FunnelAnswer): TableData {
  const columns = ['breakdown', 'step', 'event_type', 'filter', 'users', 'conversion_from_previous', 'conversion_from_start', 'dropped', 'median_time_to_convert_ms', 'average_time_to_convert_ms'];
  const row = (b: string | null, s: FunnelStepAnswer) => [b, s.step, s.event_type, s.category_id ? 'category=' + s.category_id : s.product_id ? 'product=' + s.product_id : null, s.users, s.conversion_from_previous, s.conversion_from_start, s.dropped, s.median_time_to_convert_ms, s.average_time_to_convert_ms];
  return { columns, rows: [...a.steps.map((s) => row(null, s)), ...a.breakdowns.flatMap((b) => b.steps.map((s) => row(b.value ?? '(none)', s)))] };
}

export { stepLabel };

/** The cohort table: one row per cohort, users then returning[k] per period. */
export function cohortTable(a: CohortAnswer): TableData {
  const periods = Math.max(0, ...a.cohorts.map((c) => c.returning.length));
  return {
    columns: ['cohort_start', 'users', ...Array.from({ length: periods }, (_, k) => 'returning_' + k), ...Array.from({ length: periods }, (_, k) => 'retention_' + k)],
    rows: a.cohorts.map((c) => [c.start, c.users, ...Array.from({ length: periods }, (_, k) => c.returning[k] ?? null), ...Array.from({ length: periods }, (_, k) => c.retention[k] ?? null)]),
  };
}

/** "2 h 5 min" style duration of a time to convert; "—" for null. */
export function fmtConvert(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return s + ' s';
  const m = Math.round(s / 60);
  if (m < 60) return m + ' min';
  const h = Math.floor(m / 60);
  if (h < 48) return h + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
  return Math.round(h / 24) + ' d';
}

// View state <-> URL hash, and a tiny observable store.
// URL form: #/<view>?range=15m&category=cat_008&device=mobile&lang=zh
// Hash routing because the server serves exact paths only (/dashboard/ → index.html).

import type { Lang } from './format';

export const VIEWS = ['overview', 'products', 'users', 'funnels', 'retention', 'browse', 'system', 'cluster'] as const;
export type View = (typeof VIEWS)[number];
export const PRESETS = ['5m', '15m', '1h', '24h'] as const;
export type Preset = (typeof PRESETS)[number];
export type Range = Preset | 'custom';
export const FILTER_KEYS = ['category', 'product', 'device', 'location'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type Filters = Partial<Record<FilterKey, string>>;

export interface AppState {
  view: View;
  range: Range;
  /** epoch ms, only with range = custom */
  from?: number;
  to?: number;
  filters: Filters;
  /** (filters.product is also the product shown on the Products page: #/products?product=<id>) */
  /** user id shown on the Users page */
  user?: string;
  /** explicit language choice; absent = browser default */
  lang?: Lang;
  /** time zone times are shown in: 'utc', 'shop' (the server's api.time_zone), or absent = the browser's */
  zone?: 'utc' | 'shop';
  /** the revenue chart's forecast, opt-in */
  forecast?: boolean;
  /** Funnels page: steps as /api/analytics/funnel takes them ("view,add_to_cart:category=c1,purchase"); absent = the data's default */
  steps?: string;
  /** Funnels page: conversion window (a duration like 30m, 1h, 1d, 7d); absent = 1d */
  fwindow?: string;
  /** Funnels page: breakdown of the funnel */
  breakdown?: 'device' | 'location';
  /** Retention page: cohort period; absent = day */
  period?: 'hour' | 'day' | 'week';
  /** Browse page: the users and products lists' search text and page shown (absent = the first) */
  users?: ListState;
  products?: ListState;
  /** Browse page: the event type the events export is limited to; absent = every type */
  etype?: string;
}

/**
 * One Browse list's place: its search text, and the page shown past the
 * first as its 1-based number with the cursor the server gave for it.
 */
export interface ListState {
  search?: string;
  page?: number;
  cursor?: string;
}

const MAX_CURSOR = 512;

function parseList(params: URLSearchParams, prefix: 'u' | 'p'): ListState | undefined {
  const l: ListState = {};
  const search = cleanId(params.get(prefix + 'search'));
  if (search !== undefined) l.search = search;
  const cursor = params.get(prefix + 'cursor');
  const page = Number(params.get(prefix + 'page'));
  if (cursor && cursor.length <= MAX_CURSOR && Number.isInteger(page) && page >= 2 && page <= 1_000_000) {
    l.page = page;
    l.cursor = cursor;
  }
  return l.search !== undefined || l.cursor !== undefined ? l : undefined;
}

function listParams(p: URLSearchParams, prefix: 'u' | 'p', l: ListState | undefined): void {
  if (l?.search) p.set(prefix + 'search', l.search);
  if (l?.cursor && l.page) {
    p.set(prefix + 'page', String(l.page));
    p.set(prefix + 'cursor', l.cursor);
  }
}

export const DEFAULT_STATE: AppState = { view: 'overview', range: '5m', filters: {} };

export const PRESET_MS: Record<Preset, number> = { '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '24h': 86_400_000 };

const MAX_ID = 200;

function parseTime(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d{10,16}$/.test(v)) return Number(v);
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

function cleanId(v: string | null): string | undefined {
  if (v === null) return undefined;
  const t = v.trim();
  return t && t.length <= MAX_ID ? t : undefined;
}

export function parseHash(hash: string): AppState {
  const raw = hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = (q >= 0 ? raw.slice(0, q) : raw).replace(/^\/+|\/+$/g, '');
  const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const view = (VIEWS as readonly string[]).includes(path) ? (path as View) : 'overview';
  const s: AppState = { view, range: '5m', filters: {} };

  const r = params.get('range');
  if (r && (PRESETS as readonly string[]).includes(r)) s.range = r as Preset;
  else if (r === 'custom') {
    const from = parseTime(params.get('from'));
    const to = parseTime(params.get('to'));
    if (from !== undefined && to !== undefined && from < to) {
      s.range = 'custom';
      s.from = from;
      s.to = to;
    }
  }
  for (const k of FILTER_KEYS) {
    const v = cleanId(params.get(k));
    if (v !== undefined) s.filters[k] = v;
  }
  const user = cleanId(params.get('user'));
  if (user !== undefined) s.user = user;
  const lang = params.get('lang');
  if (lang === 'zh' || lang === 'en') s.lang = lang;
  const zone = params.get('zone');
  if (zone === 'utc' || zone === 'shop') s.zone = zone;
  if (params.get('forecast') === '1') s.forecast = true;
  const steps = params.get('steps')?.trim();
  if (steps && steps.length <= 2000) s.steps = steps;
  const fw = params.get('fwindow');
  if (fw && /^\d{1,6}(ms|s|m|h|d)$/.test(fw)) s.fwindow = fw;
  const b = params.get('breakdown');
  if (b === 'device' || b === 'location') s.breakdown = b;
  const period = params.get('period');
  if (period === 'hour' || period === 'day' || period === 'week') s.period = period;
  const users = parseList(params, 'u');
  if (users) s.users = users;
  const products = parseList(params, 'p');
  if (products) s.products = products;
  const etype = params.get('etype');
  if (etype && /^[a-z_]{1,32}$/.test(etype)) s.etype = etype;
  return s;
}

export function toHash(s: AppState): string {
  const p = new URLSearchParams();
  if (s.range !== '5m') p.set('range', s.range);
  if (s.range === 'custom' && s.from !== undefined && s.to !== undefined) {
    p.set('from', new Date(s.from).toISOString());
    p.set('to', new Date(s.to).toISOString());
  }
  for (const k of FILTER_KEYS) {
    const v = s.filters[k];
    if (v) p.set(k, v);
  }
  if (s.user) p.set('user', s.user);
  if (s.lang) p.set('lang', s.lang);
  if (s.zone) p.set('zone', s.zone);
  if (s.forecast) p.set('forecast', '1');
  if (s.steps) p.set('steps', s.steps);
  if (s.fwindow) p.set('fwindow', s.fwindow);
  if (s.breakdown) p.set('breakdown', s.breakdown);
  if (s.period) p.set('period', s.period);
  listParams(p, 'u', s.users);
  listParams(p, 'p', s.products);
  if (s.etype) p.set('etype', s.etype);
  const qs = p.toString();
  return `#/${s.view}${qs ? '?' + qs : ''}`;
}

/**
 * The shop's IANA zone as the server reports it (GET / → time_zone), once
 * known; undefined while unknown or when the server has none.
 */
let shopZone: string | undefined;
export function setShopZone(zone: string | null | undefined): void {
  shopZone = zone ?? undefined;
}
export function getShopZone(): string | undefined {
  return shopZone;
}

/**
 * The IANA zone of the state's choice (undefined = the browser's). The shop's
 * zone falls back to the browser's while it is unknown or not configured.
 */
export function zoneOf(s: AppState, shop: string | undefined = shopZone): string | undefined {
  if (s.zone === 'utc') return 'UTC';
  if (s.zone === 'shop') return shop;
  return undefined;
}

/** The zone switch's next choice: the browser's → UTC → the shop's (when the server has one) → the browser's. */
export function nextZone(s: AppState, shop: string | undefined = shopZone): AppState['zone'] {
  if (!s.zone) return 'utc';
  if (s.zone === 'utc' && shop) return 'shop';
  return undefined;
}

export const QUICK_RANGES = ['hour', 'day', 'all'] as const;
export type QuickRange = (typeof QUICK_RANGES)[number];

/**
 * Custom ranges relative to the data, not the wall clock: the hour or day
 * ending at the newest event (its minute included), or the whole data set
 * from the first event's minute. Null without a newest event (an empty install).
 */
export function quickRange(kind: QuickRange, newestMs: number | null, oldestMs: number | null = null): { from: number; to: number } | null {
  if (newestMs === null || !Number.isFinite(newestMs)) return null;
  const to = Math.floor(newestMs / 60_000) * 60_000 + 60_000;
  if (kind === 'hour') return { from: to - 3_600_000, to };
  if (kind === 'day') return { from: to - 86_400_000, to };
  const from = oldestMs !== null && oldestMs < newestMs ? Math.floor(oldestMs / 60_000) * 60_000 : to - 60_000;
  return { from, to };
}

/** Window length in ms of the selected range. */
export function rangeMs(s: AppState): number {
  if (s.range === 'custom') return (s.to ?? 0) - (s.from ?? 0);
  return PRESET_MS[s.range];
}

export function withFilter(s: AppState, key: FilterKey, value: string | undefined): AppState {
  const filters = { ...s.filters };
  if (value === undefined || value === '') delete filters[key];
  else filters[key] = value;
  return { ...s, filters };
}

export function activeFilters(s: AppState): [FilterKey, string][] {
  return FILTER_KEYS.flatMap((k) => (s.filters[k] ? [[k, s.filters[k] as string] as [FilterKey, string]] : []));
}

/** "&category=cat_008&device=mobile" (in FILTER_KEYS order, URL-encoded) for the filtered API endpoints; "" without filters. */
export function filterQuery(f: Filters): string {
  let q = '';
  for (const k of FILTER_KEYS) {
    const v = f[k];
    if (v) q += '&' + k + '=' + encodeURIComponent(v);
  }
  return q;
}

/** The Products page of one product (other drill-down filters are dropped; range and language kept). */
export function openProduct(s: AppState, id: string): AppState {
  const product = id.trim();
  return { ...s, view: 'products', filters: product ? { product } : {} };
}

/** True when any drill-down filter is set. */
export function hasFilters(f: Filters): boolean {
  return FILTER_KEYS.some((k) => !!f[k]);
}

export function sameState(a: AppState, b: AppState): boolean {
  return toHash(a) === toHash(b);
}

type Listener<T> = (value: T, prev: T) => void;

export class Store<T> {
  private listeners = new Set<Listener<T>>();
  constructor(private value: T) {}
  get(): T {
    return this.value;
  }
  set(next: T): void {
    const prev = this.value;
    if (Object.is(prev, next)) return;
    this.value = next;
    for (const l of [...this.listeners]) l(next, prev);
  }
  update(fn: (v: T) => T): void {
    this.set(fn(this.value));
  }
  subscribe(l: Listener<T>): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

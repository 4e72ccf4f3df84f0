import { describe, expect, it } from 'vitest';
import type { Trends } from '../src/api';
import { forecastColumns, MIN_FORECAST_HISTORY } from '../src/forecast';
import { SnapshotHistory } from '../src/history';
import { filterQuery, hasFilters, parseHash } from '../src/state';

describe('filter query strings', () => {
  it('is empty without filters', () => {
    expect(filterQuery({})).toBe('');
    expect(hasFilters({})).toBe(false);
    expect(hasFilters({ device: '' })).toBe(false);
  });

  it('encodes every filter in a fixed order, straight from the URL state', () => {
    const s = parseHash('#/overview?location=%E5%8C%97%E4%BA%AC&device=mobile&category=cat_008&product=p%261');
    expect(hasFilters(s.filters)).toBe(true);
    expect(filterQuery(s.filters)).toBe('&category=cat_008&product=p%261&device=mobile&location=%E5%8C%97%E4%BA%AC');
    expect(`/api/analytics/real-time?window=5m${filterQuery({ category: 'cat_001' })}`).toBe('/api/analytics/real-time?window=5m&category=cat_001');
  });
});

const iv = (value: number, lower: number, upper: number) => ({ value, lower, upper });
const point = (min: number, revenue: number, extra: object = {}) => ({
  start: new Date(Date.UTC(2025, 0, 1, 12, min)).toISOString(),
  page_views: 0, clicks: 0, add_to_cart: 0, remove_from_cart: 0, favorites: 0, purchases: 0, ratings: 0,
  revenue, unique_users: 0, viewers: 0, purchasers: 0, conversion_rate: 0, ...extra,
});
const fpoint = (min: number, v: number, lo: number, hi: number) => ({
  start: new Date(Date.UTC(2025, 0, 1, 12, min)).toISOString(),
  page_views: iv(0, 0, 0), purchases: iv(0, 0, 0), unique_users: iv(0, 0, 0), revenue: iv(v, lo, hi),
});
const sec = (min: number) => Date.UTC(2025, 0, 1, 12, min) / 1000;

describe('forecast columns', () => {
  const tr: Trends = {
    step: '1m', from: '', to: '',
    points: [point(0, 10, { anomalies: [] }), point(1, 50, { anomalies: ['revenue', 'page_views'] }), point(2, 12, { anomalies: [] }), point(3, 4, { partial: true })],
    forecast: { available: true, method: 'holt', confidence: 0.99, points: [fpoint(3, 11, -2, 24), fpoint(4, 11.5, 1, 25)] },
  };

  it('aligns observed bars, anomalies and the forecast band on one x axis', () => {
    const c = forecastColumns(tr, 60_000, -Infinity, 'revenue', 1);
    expect(c.xs).toEqual([sec(0), sec(1), sec(2), sec(3), sec(4)]);
    expect(c.observed).toEqual([10, 50, 12, 4, null]);
    expect(c.anomaly).toEqual([null, 50, null, null, null]);
    expect(c.anomalies).toBe(1);
    // The line starts at the last complete step; lower bounds are clamped at zero.
    expect(c.forecast).toEqual([null, null, 12, 11, 11.5]);
    expect(c.lower).toEqual([null, null, 12, 0, 1]);
    expect(c.upper).toEqual([null, null, 12, 24, 25]);
    expect(c.forecastPoints).toBe(2);
  });

  it('drops points before the range and copes without a forecast', () => {
    const c = forecastColumns({ ...tr, forecast: { available: false, method: 'holt', confidence: 0.99, points: [] } }, 60_000, Date.UTC(2025, 0, 1, 12, 2));
    expect(c.xs).toEqual([sec(2), sec(3)]);
    expect(c.forecast).toEqual([null, null]);
    expect(c.forecastPoints).toBe(0);
    expect(forecastColumns({ step: '1m', from: '', to: '', points: [] }, 60_000).xs).toEqual([]);
  });

  it('draws a forecast only over at least 30 complete steps of history, counted from the first active one', () => {
    const quiet = (min: number) => point(min, 0, { page_views: 0, purchases: 0 });
    const busy = (min: number) => point(min, 5);
    const fc = { available: true, method: 'holt', confidence: 0.99, points: [fpoint(40, 6, 1, 9)] };
    // 10 empty minutes before the server had data do not count as history.
    const mk = (active: number) => ({ step: '1m', from: '', to: '', points: [...Array.from({ length: 10 }, (_, i) => quiet(i)), ...Array.from({ length: active }, (_, i) => busy(10 + i)), point(10 + active, 1, { partial: true })], forecast: fc });
    const short = forecastColumns(mk(29), 60_000);
    expect(short.historyPoints).toBe(29);
    expect(short.tooShort).toBe(true);
    expect(short.forecastPoints).toBe(0);
    expect(short.forecast.every((v) => v === null)).toBe(true);
    const enough = forecastColumns(mk(30), 60_000);
    expect(enough.historyPoints).toBe(30);
    expect(enough.tooShort).toBe(false);
    expect(enough.forecastPoints).toBe(1);
    expect(MIN_FORECAST_HISTORY).toBe(30);
  });

  it('counts a step with events of any type as history, ratings and removals from the cart too', () => {
    const fc = { available: true, method: 'holt', confidence: 0.99, points: [fpoint(40, 6, 1, 9)] };
    const other = (min: number) => point(min, 0, { page_views: 0, purchases: 0, ratings: min % 2, remove_from_cart: 1 - (min % 2) });
    const c = forecastColumns({ step: '1m', from: '', to: '', points: [...Array.from({ length: 30 }, (_, i) => other(i)), point(30, 1, { partial: true })], forecast: fc }, 60_000);
    expect(c.historyPoints).toBe(30);
    expect(c.tooShort).toBe(false);
  });
});

describe('filtered history', () => {
  it('takes "all" from the filtered 1-minute window when there is no engine counter', () => {
    const h = new SnapshotHistory(10);
    const w = (views: number, total: number) => ({ active_users: 1, page_views: views, clicks: 0, add_to_cart: 0, remove_from_cart: 0, favorites: 0, purchases: 0, ratings: 0, total_events: total, revenue: 0, average_order_value: 0, conversion_rate: 0, viewers: 0, purchasers: 0 });
    expect(h.push({ window: { watermark: '2025-01-01T12:00:00Z' }, windows: { '5m': w(300, 600), '1m': w(60, 120) } }, 0)).toBe(true);
    h.push({ window: { watermark: '2025-01-01T12:00:01Z' }, windows: { '5m': w(330, 660), '1m': w(90, 180) } }, 1000);
    const [, view, , , , all] = h.rateColumns();
    expect(view).toEqual([1, 1.5]);
    expect(all).toEqual([2, 3]);
    expect(h.series('5m', 'page_views')).toEqual([300, 330]);
    h.clear();
    expect(h.size).toBe(0);
  });
});

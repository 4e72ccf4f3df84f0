import { describe, expect, it } from 'vitest';
import type { TrendPoint } from '../src/api';
import { logUpdate, rankingRows, trendColumns, trendTotals } from '../src/product';
import { openProduct, parseHash, toHash } from '../src/state';

const ranked = (n: number) => Array.from({ length: n }, (_, i) => ({ product_id: 'p' + (i + 1), interactions: 100 - i }));
const pt = (min: number, extra: Partial<TrendPoint> = {}): TrendPoint => ({
  start: new Date(Date.UTC(2025, 0, 1, 12, min)).toISOString(),
  page_views: 0, clicks: 0, add_to_cart: 0, remove_from_cart: 0, favorites: 0, purchases: 0, ratings: 0,
  revenue: 0, unique_users: 0, viewers: 0, purchasers: 0, conversion_rate: 0, ...extra,
});
const at = (min: number) => Date.UTC(2025, 0, 1, 12, min);

describe('products route', () => {
  it('#/products?product=<id> round-trips, keeps range and language, drops other filters', () => {
    const s = parseHash('#/products?product=prod%2F7&range=1h&lang=zh');
    expect(s.view).toBe('products');
    expect(s.filters.product).toBe('prod/7');
    expect(toHash(s)).toBe('#/products?range=1h&product=prod%2F7&lang=zh');
    const from = parseHash('#/overview?category=cat_1&device=mobile&range=15m');
    const next = openProduct(from, ' prod_9 ');
    expect(toHash(next)).toBe('#/products?range=15m&product=prod_9');
    expect(openProduct(from, '  ').filters).toEqual({});
  });
});

describe('category ranking around a product', () => {
  it('highlights the product inside the top rows', () => {
    const r = rankingRows(ranked(30), 'p3', 10);
    expect(r.rank).toBe(3);
    expect(r.total).toBe(30);
    expect(r.rows).toHaveLength(10);
    expect(r.rows.filter((x) => x.self).map((x) => x.rank)).toEqual([3]);
    expect(r.rows.some((x) => x.detached)).toBe(false);
  });

  it('appends the product with its rank when it is outside the top rows', () => {
    const r = rankingRows(ranked(30), 'p25', 10);
    expect(r.rank).toBe(25);
    expect(r.rows).toHaveLength(11);
    expect(r.rows[10]).toMatchObject({ product_id: 'p25', rank: 25, self: true, detached: true, interactions: 76 });
  });

  it('reports an unranked product', () => {
    const r = rankingRows(ranked(4), 'nope', 10);
    expect(r.rank).toBeNull();
    expect(r.rows).toHaveLength(4);
    expect(r.rows.every((x) => !x.self)).toBe(true);
    expect(rankingRows([], 'x').rows).toEqual([]);
  });
});

describe('product trend', () => {
  const points = [pt(0, { page_views: 5, add_to_cart: 1, purchases: 1, revenue: 10.1 }), pt(1, { page_views: 7, purchases: 2, revenue: 20.2 }), pt(2, { page_views: 1, add_to_cart: 3 })];

  it('builds uPlot columns in epoch seconds, skipping steps before `from`', () => {
    const c = trendColumns(points, ['page_views', 'add_to_cart', 'purchases']);
    expect(c[0]).toEqual([at(0) / 1000, at(1) / 1000, at(2) / 1000]);
    expect(c.slice(1)).toEqual([[5, 7, 1], [1, 0, 3], [1, 2, 0]]);
    expect(trendColumns(points, ['revenue'], at(1))).toEqual([[at(1) / 1000, at(2) / 1000], [20.2, 0]]);
  });

  it('sums a custom range with its average order value', () => {
    const t = trendTotals(points, at(0), at(2));
    expect(t).toEqual({ page_views: 12, add_to_cart: 1, purchases: 3, revenue: 30.3, average_order_value: 10.1 });
    expect(trendTotals(points, at(5), at(9)).average_order_value).toBe(0);
  });
});

describe('log lines', () => {
  it('replaces on first render and appends only new lines afterwards', () => {
    expect(logUpdate([], ['a', 'b'])).toEqual({ replace: true, append: ['a', 'b'], drop: 0 });
    expect(logUpdate(['a', 'b'], ['a', 'b', 'c', 'd'])).toEqual({ replace: false, append: ['c', 'd'], drop: 0 });
    expect(logUpdate(['a', 'b'], ['a', 'b'])).toEqual({ replace: false, append: [], drop: 0 });
  });

  it('follows a sliding server buffer and caps the lines kept', () => {
    expect(logUpdate(['a', 'b', 'c'], ['b', 'c', 'd'], 3)).toEqual({ replace: false, append: ['d'], drop: 1 });
  });

  it('replaces everything when the new answer does not continue what is shown', () => {
    expect(logUpdate(['x', 'y'], ['a', 'b'])).toEqual({ replace: true, append: ['a', 'b'], drop: 0 });
    // A repeated line alone is not enough: the line before it must match too.
    expect(logUpdate(['q', 'r'], ['a', 'r', 'z'])).toEqual({ replace: true, append: ['a', 'r', 'z'], drop: 0 });
  });
});

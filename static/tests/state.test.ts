import { describe, expect, it } from 'vitest';
import { activeFilters, DEFAULT_STATE, nextZone, parseHash, quickRange, rangeMs, Store, toHash, withFilter, zoneOf, type AppState } from '../src/state';

describe('URL state', () => {
  it('defaults to the 5-minute overview', () => {
    expect(parseHash('')).toEqual(DEFAULT_STATE);
    expect(parseHash('#/')).toEqual(DEFAULT_STATE);
    expect(parseHash('#/nonsense?range=7m')).toEqual(DEFAULT_STATE);
    expect(toHash(DEFAULT_STATE)).toBe('#/overview');
  });

  it('round-trips view, range, filters, user and language', () => {
    const s: AppState = { view: 'overview', range: '1h', filters: { category: 'cat_008', device: 'mobile', location: '北京' }, lang: 'zh' };
    const hash = toHash(s);
    expect(hash).toBe('#/overview?range=1h&category=cat_008&device=mobile&location=%E5%8C%97%E4%BA%AC&lang=zh');
    expect(parseHash(hash)).toEqual(s);
    const u: AppState = { view: 'users', range: '5m', filters: {}, user: 'user 1&2' };
    expect(parseHash(toHash(u))).toEqual(u);
  });

  it('keeps a custom range only when it is valid', () => {
    const from = Date.UTC(2026, 0, 1, 10);
    const to = Date.UTC(2026, 0, 1, 12);
    const s: AppState = { view: 'overview', range: 'custom', from, to, filters: {} };
    const hash = toHash(s);
    expect(hash).toContain('from=2026-01-01T10%3A00%3A00.000Z');
    expect(parseHash(hash)).toEqual(s);
    expect(rangeMs(parseHash(hash))).toBe(2 * 3600_000);
    expect(parseHash(`#/overview?range=custom&from=${from}&to=${to}`)).toEqual(s);
    expect(parseHash(`#/overview?range=custom&from=${to}&to=${from}`).range).toBe('5m');
    expect(parseHash('#/overview?range=custom&from=x').range).toBe('5m');
  });

  it('keeps the time zone and the forecast choice in the URL', () => {
    const s: AppState = { view: 'overview', range: '1h', filters: {}, zone: 'utc', forecast: true };
    expect(toHash(s)).toBe('#/overview?range=1h&zone=utc&forecast=1');
    expect(parseHash(toHash(s))).toEqual(s);
    expect(zoneOf(s)).toBe('UTC');
    expect(zoneOf(DEFAULT_STATE)).toBeUndefined();
    expect(parseHash('#/overview?zone=mars&forecast=yes')).toEqual(DEFAULT_STATE);
  });

  it("shows the shop's zone when chosen, and the switch offers it only when the server has one", () => {
    const shop: AppState = { ...DEFAULT_STATE, zone: 'shop' };
    expect(toHash(shop)).toBe('#/overview?zone=shop');
    expect(parseHash(toHash(shop))).toEqual(shop);
    expect(zoneOf(shop, 'Asia/Shanghai')).toBe('Asia/Shanghai');
    expect(zoneOf(shop, undefined)).toBeUndefined(); // not (yet) known: the browser's
    const utc: AppState = { ...DEFAULT_STATE, zone: 'utc' };
    expect(nextZone(DEFAULT_STATE, 'Asia/Shanghai')).toBe('utc');
    expect(nextZone(utc, 'Asia/Shanghai')).toBe('shop');
    expect(nextZone(shop, 'Asia/Shanghai')).toBeUndefined();
    expect(nextZone(utc, undefined)).toBeUndefined();
  });

  it('offers quick ranges relative to the newest event, not the wall clock', () => {
    const newest = Date.UTC(2017, 11, 3, 15, 59, 42);
    const end = Date.UTC(2017, 11, 3, 16, 0);
    expect(quickRange('hour', newest)).toEqual({ from: end - 3_600_000, to: end });
    expect(quickRange('day', newest)).toEqual({ from: end - 86_400_000, to: end });
    expect(quickRange('all', newest, Date.UTC(2017, 10, 25, 0, 0, 5))).toEqual({ from: Date.UTC(2017, 10, 25), to: end });
    expect(quickRange('all', newest, null)).toEqual({ from: end - 60_000, to: end });
    expect(quickRange('hour', null)).toBeNull();
  });

  it("keeps the Browse lists' search and page and the export's event type in the URL", () => {
    const s: AppState = { view: 'browse', range: '24h', filters: {}, users: { search: 'per 05', page: 3, cursor: '101' }, products: { search: 'item' }, etype: 'purchase' };
    const hash = toHash(s);
    expect(hash).toBe('#/browse?range=24h&usearch=per+05&upage=3&ucursor=101&psearch=item&etype=purchase');
    expect(parseHash(hash)).toEqual(s);
    // A page needs its cursor (and the first page has none); a malformed type is dropped.
    expect(parseHash('#/browse?upage=3').users).toBeUndefined();
    expect(parseHash('#/browse?ucursor=101&upage=1').users).toBeUndefined();
    expect(parseHash('#/browse?pcursor=7&ppage=x&psearch=').products).toBeUndefined();
    expect(parseHash('#/browse?ucursor=' + '9'.repeat(600) + '&upage=2').users).toBeUndefined();
    expect(parseHash('#/browse?etype=DROP%20TABLE').etype).toBeUndefined();
  });

  it('ignores empty and oversized filter values', () => {
    expect(parseHash('#/overview?category=&device=%20').filters).toEqual({});
    expect(parseHash('#/overview?product=' + 'p'.repeat(500)).filters).toEqual({});
  });

  it('sets and removes filters immutably', () => {
    const a = withFilter(DEFAULT_STATE, 'category', 'cat_1');
    expect(a.filters).toEqual({ category: 'cat_1' });
    expect(DEFAULT_STATE.filters).toEqual({});
    const b = withFilter(withFilter(a, 'device', 'tablet'), 'category', undefined);
    expect(b.filters).toEqual({ device: 'tablet' });
    expect(activeFilters(withFilter(b, 'product', 'p9'))).toEqual([
      ['product', 'p9'],
      ['device', 'tablet'],
    ]);
  });

  it('notifies store subscribers with the previous value', () => {
    const st = new Store(1);
    const seen: [number, number][] = [];
    const off = st.subscribe((v, p) => seen.push([v, p]));
    st.set(2);
    st.set(2);
    st.update((v) => v + 1);
    off();
    st.set(9);
    expect(seen).toEqual([
      [2, 1],
      [3, 2],
    ]);
  });
});

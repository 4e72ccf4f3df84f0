import { describe, expect, it } from 'vitest';
import { collectEvents, eventsQuery, productsTable, productsUrl, unexportedFilters, usersTable, usersUrl } from '../src/browse';
import { newestEventMs } from '../src/api';
import { toJson } from '../src/export';
import type { AppState } from '../src/state';
import type { UserRow } from '../src/browse';

const base: AppState = { view: 'browse', range: '1h', filters: {} };

describe('users and products lists', () => {
  it('asks for a page with the search text encoded and the cursor of the page', () => {
    expect(usersUrl('', null)).toBe('/api/users?limit=50');
    expect(usersUrl('a b&c', 'x/1', 10)).toBe('/api/users?limit=10&search=a%20b%26c&cursor=x%2F1');
    expect(productsUrl('p_1', null, '1h')).toBe('/api/products?limit=50&window=1h&search=p_1');
  });

  it('flattens a page into the API\'s fields, one column per event type any row has, so the JSON download equals the answer', () => {
    const users: UserRow[] = [
      { user_id: 'u1', events: { view: 2, purchase: 1 }, total_events: 3, total_spend: 9.5, first_seen: '2017-11-25T01:00:00Z', last_seen: '2017-11-25T02:00:00Z' },
      { user_id: 'u2', events: { favorite: 1 }, total_events: 1, total_spend: 0, first_seen: '2017-11-25T03:00:00Z', last_seen: '2017-11-25T03:00:00Z' },
    ];
    const t = usersTable(users);
    expect(t.columns).toEqual(['user_id', 'total_events', 'total_spend', 'first_seen', 'last_seen', 'events.view', 'events.favorite', 'events.purchase']);
    const back = JSON.parse(toJson(t)).map((r: Record<string, unknown>) => ({ user_id: r.user_id, total_events: r.total_events, total_spend: r.total_spend, first_seen: r.first_seen, last_seen: r.last_seen }));
    expect(back).toEqual(users.map(({ events: _e, ...rest }) => rest));
    expect(t.rows[1].slice(5)).toEqual([0, 1, 0]);
    const p = productsTable([{ product_id: 'p1', category_id: 'c1', events: { view: 4, add_to_cart: 1 }, interactions: 5 }]);
    expect(p).toEqual({ columns: ['product_id', 'category_id', 'interactions', 'events.view', 'events.add_to_cart'], rows: [['p1', 'c1', 5, 4, 1]] });
  });
});

describe('events export', () => {
  it('exports a custom range as given, and a preset range ending after the newest event\'s minute', () => {
    const from = Date.parse('2017-11-25T01:00:00Z');
    const to = Date.parse('2017-11-25T02:00:00Z');
    expect(eventsQuery({ ...base, range: 'custom', from, to }, null)).toBe(`/api/events?from=${from}&to=${to}`);
    const newest = Date.parse('2017-11-25T03:10:09Z');
    const end = Date.parse('2017-11-25T03:11:00Z');
    expect(eventsQuery(base, newest)).toBe(`/api/events?from=${end - 3_600_000}&to=${end}`);
    expect(eventsQuery(base, null)).toBeNull();
  });

  it('passes the product filter, the user shown and the event type; says which filters it cannot apply', () => {
    const s: AppState = { ...base, range: 'custom', from: 0, to: 60_000, user: 'u 1', filters: { product: 'p&1', device: 'mobile', category: 'c1' } };
    expect(eventsQuery(s, null, 'purchase')).toBe('/api/events?from=0&to=60000&product_id=p%261&user_id=u%201&event_type=purchase');
    expect(unexportedFilters(s)).toEqual(['category', 'device']);
    expect(unexportedFilters(base)).toEqual([]);
  });

  it('ends a preset range at the snapshot\'s newest event, and asks the server for it before the first snapshot instead of finding no events', async () => {
    const wm = '2017-11-25T02:29:30Z';
    let asked = 0;
    const ask = async () => (asked++, { window: { watermark: wm } });
    expect(await newestEventMs({ window: { watermark: '2017-11-25T01:00:00Z' } }, ask)).toBe(Date.parse('2017-11-25T01:00:00Z'));
    expect(asked).toBe(0);
    expect(await newestEventMs(null, ask)).toBe(Date.parse(wm));
    expect(asked).toBe(1);
    // An empty install: the snapshot, or the server, says there is no newest event.
    expect(await newestEventMs({ window: { watermark: null } }, ask)).toBeNull();
    expect(await newestEventMs(null, async () => ({ window: { watermark: null } }))).toBeNull();
    await expect(newestEventMs(null, async () => Promise.reject(new Error('offline')))).rejects.toThrow('offline');
  });

  it('follows X-Next-Cursor through empty pages until it is absent and joins the lines', async () => {
    const pages: Record<string, { text: string; next: string | null }> = {
      '/api/events?from=0&to=1&limit=2': { text: '{"a":1}\n{"a":2}\n', next: 'c1' },
      '/api/events?from=0&to=1&limit=2&cursor=c1': { text: '', next: 'c 2' },
      '/api/events?from=0&to=1&limit=2&cursor=c%202': { text: '{"a":3}', next: null },
    };
    const asked: string[] = [];
    const seen: number[] = [];
    const r = await collectEvents('/api/events?from=0&to=1', async (u) => (asked.push(u), pages[u]), { pageLimit: 2, progress: (n) => seen.push(n) });
    expect(asked).toEqual(Object.keys(pages));
    expect(r).toEqual({ ndjson: '{"a":1}\n{"a":2}\n{"a":3}\n', lines: 3, pages: 3, truncated: false });
    expect(seen).toEqual([2, 2, 3]);
  });

  it('stops at the page bound and says the export was cut short', async () => {
    const r = await collectEvents('/q?x=1', async () => ({ text: '{}\n', next: 'more' }), { maxPages: 3 });
    expect(r).toMatchObject({ lines: 3, pages: 3, truncated: true });
  });
});

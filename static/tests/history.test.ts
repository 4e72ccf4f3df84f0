import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/api';
import { SnapshotHistory, sparkPath } from '../src/history';
import { translate, KEYS_EN, KEYS_ZH } from '../src/i18n';

function snap(watermarkSec: number, applied: number, views: number): Snapshot {
  const w = { active_users: 1, page_views: views, clicks: 60, add_to_cart: 6, purchases: 3, revenue: 10, average_order_value: 5, conversion_rate: 2 };
  return { type: 'snapshot', events_applied: applied, window: { watermark: new Date(watermarkSec * 1000).toISOString() }, windows: { '1m': w, '5m': w } } as unknown as Snapshot;
}

describe('snapshot history', () => {
  it('adds one point per new watermark and derives rates', () => {
    const h = new SnapshotHistory(3);
    expect(h.push(snap(100, 1000, 120), 0)).toBe(true);
    expect(h.push(snap(100, 1000, 120), 1000)).toBe(false); // generator stopped: no new point
    expect(h.push(snap(101, 1300, 180), 2000)).toBe(true);
    const [t, view, click, , , all] = h.rateColumns();
    expect(t).toEqual([100, 101]);
    expect(view).toEqual([2, 3]);
    expect(click).toEqual([1, 1]);
    expect(all).toEqual([null, null]); // 2 s of wall clock is too short a span for an instant rate
    h.push(snap(102, 1400, 60), 3000);
    h.push(snap(103, 1500, 60), 4000);
    expect(h.size).toBe(3);
    expect(h.series('5m', 'page_views')).toEqual([180, 60, 60]);
    expect(h.series('5m', 'page_views', 2)).toEqual([60, 60]);
    expect(h.lastT()).toBe(103);
  });

  it('measures the instant rate over at least 5 s, not between two snapshots 100 ms apart', () => {
    const h = new SnapshotHistory(50);
    // Two snapshots 100 ms apart right after load: 30 events would read as 300/s.
    h.push(snap(100, 1000, 1), 0);
    h.push(snap(101, 1030, 1), 100);
    expect(h.rateColumns()[5]).toEqual([null, null]);
    for (let i = 1; i <= 6; i++) h.push(snap(101 + i, 1030 + 50 * i, 1), 100 + 1000 * i);
    const all = h.rateColumns()[5];
    // Until 5 s have passed there is no rate; then it is the true 50/s, measured
    // from the newest sample at least 5 s old (at 5.1 s: the one at 0.1 s).
    expect(all.slice(0, 6)).toEqual([null, null, null, null, null, null]);
    expect(all[6]).toBeCloseTo(50, 6);
    expect(all[7]).toBeCloseTo(50, 6);
  });

  it('restarts the rate measurement when the server counter goes back (a restart)', () => {
    const h = new SnapshotHistory(50);
    h.push(snap(100, 5000, 1), 0);
    h.push(snap(101, 5600, 1), 6000);
    h.push(snap(102, 10, 1), 7000);
    expect(h.rateColumns()[5]).toEqual([null, 100, null]);
  });

  it('draws an outage as a gap: a null row between points more than 5 s apart', () => {
    const h = new SnapshotHistory(50);
    h.push(snap(100, 0, 60), 0);
    h.push(snap(101, 0, 60), 1000);
    h.push(snap(190, 0, 120), 90_000);
    const [t, view] = h.rateColumns();
    expect(t).toEqual([100, 101, 102, 190]);
    expect(view).toEqual([1, 1, null, 2]);
  });

  it('starts from per-minute server history placed before the live points', () => {
    const h = new SnapshotHistory(5);
    h.push(snap(600, 0, 60), 0);
    const m = (min: number, views: number) => ({ startMs: min * 60_000, page_views: views, clicks: 0, add_to_cart: 0, purchases: 0, total: views });
    // Minutes 5..9 end at 360..600 s; the minute ending at 600 s overlaps the live point.
    expect(h.seed([m(5, 60), m(6, 120), m(7, 180), m(8, 240), m(9, 300)])).toBe(4);
    const [t, view, , , , all] = h.rateColumns();
    expect(t).toEqual([360, 420, 480, 540, 600]);
    expect(view).toEqual([1, 2, 3, 4, 1]);
    expect(all.slice(0, 4)).toEqual([1, 2, 3, 4]);
    // Capacity is kept: with no room left, nothing more is seeded.
    expect(h.seed([m(1, 60)])).toBe(0);
    // Sparklines read only live snapshots.
    expect(h.series('5m', 'page_views')).toEqual([60]);
  });

  it('draws sparklines inside the box', () => {
    expect(sparkPath([], 100, 20)).toBe('');
    expect(sparkPath([5], 100, 20)).toBe('M100.0 10.0');
    expect(sparkPath([0, 10], 100, 20)).toBe('M1.0 19.0L99.0 1.0');
    expect(sparkPath([3, 3, 3], 100, 20)).toBe('M1.0 10.0L50.0 10.0L99.0 10.0');
  });
});

describe('i18n', () => {
  it('has every key in both languages and fills placeholders', () => {
    expect(KEYS_ZH.sort()).toEqual(KEYS_EN.sort());
    expect(translate('en', 'conn.retry', { s: 3 })).toBe('Reconnecting in 3s');
    expect(translate('zh', 'nav.overview')).toBe('概览');
  });
});

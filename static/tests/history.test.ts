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
    expect(all).toEqual([null, 300]);
    h.push(snap(102, 1400, 60), 3000);
    h.push(snap(103, 1500, 60), 4000);
    expect(h.size).toBe(3);
    expect(h.series('5m', 'page_views')).toEqual([180, 60, 60]);
    expect(h.series('5m', 'page_views', 2)).toEqual([60, 60]);
    expect(h.lastT()).toBe(103);
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

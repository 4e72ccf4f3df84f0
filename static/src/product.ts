// Pure helpers of the Products page: trend columns, the category ranking
// around one product, totals of a custom range, and log-line bookkeeping.

import type { TrendPoint } from './api';
import { toMs } from './format';

export interface RankedProduct {
  product_id: string;
  interactions: number;
}

export interface RankRow extends RankedProduct {
  /** 1-based position in the full ranking */
  rank: number;
  /** the product the page is about */
  self: boolean;
  /** shown after a gap: the product is outside the top rows */
  detached: boolean;
}

/**
 * The first `top` rows of a ranking, plus the product's own row when it ranks
 * lower (marked `detached`). `rank` is null when the product is not ranked at all.
 */
export function rankingRows(list: RankedProduct[], productId: string, top = 10): { rows: RankRow[]; rank: number | null; total: number } {
  const idx = list.findIndex((p) => p.product_id === productId);
  const rows: RankRow[] = list.slice(0, top).map((p, i) => ({ ...p, rank: i + 1, self: i === idx, detached: false }));
  if (idx >= top) rows.push({ ...list[idx], rank: idx + 1, self: true, detached: true });
  return { rows, rank: idx >= 0 ? idx + 1 : null, total: list.length };
}

export type TrendSeries = 'page_views' | 'add_to_cart' | 'purchases' | 'revenue';

/** uPlot columns (x in epoch seconds) of the chosen series; steps starting before `from` are left out. */
export function trendColumns(points: TrendPoint[], series: readonly TrendSeries[], from = -Infinity): number[][] {
  const cols: number[][] = [[], ...series.map(() => [])];
  for (const p of points) {
    const ms = toMs(p.start);
    if (ms === null || ms < from) continue;
    cols[0].push(ms / 1000);
    series.forEach((k, i) => cols[i + 1].push(p[k] ?? 0));
  }
  return cols;
}

export interface TrendTotals {
  page_views: number;
  add_to_cart: number;
  purchases: number;
  revenue: number;
  average_order_value: number;
}

/** Sums of the steps starting in [from, to) (custom ranges, where no live window exists). */
export function trendTotals(points: TrendPoint[], from: number, to: number): TrendTotals {
  const t = { page_views: 0, add_to_cart: 0, purchases: 0, revenue: 0, average_order_value: 0 };
  for (const p of points) {
    const ms = toMs(p.start);
    if (ms === null || ms < from || ms >= to) continue;
    t.page_views += p.page_views;
    t.add_to_cart += p.add_to_cart;
    t.purchases += p.purchases;
    t.revenue += p.revenue;
  }
  t.revenue = Math.round(t.revenue * 100) / 100;
  t.average_order_value = t.purchases ? t.revenue / t.purchases : 0;
  return t;
}

/**
 * How a log panel holding `shown` lines changes to show `next` (both oldest
 * first): lines to append when `next` continues `shown`, else a full replace.
 * Keeps at most `max` lines.
 */
export function logUpdate(shown: readonly string[], next: readonly string[], max = 200): { replace: boolean; append: string[]; drop: number } {
  if (!shown.length) return { replace: true, append: next.slice(-max), drop: 0 };
  // Find the newest shown line in the new answer; everything after it is new.
  const lastShown = shown[shown.length - 1];
  let at = -1;
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i] === lastShown && (i === 0 || shown.length < 2 || next[i - 1] === shown[shown.length - 2])) {
      at = i;
      break;
    }
  }
  if (at < 0) return { replace: true, append: next.slice(-max), drop: 0 };
  const append = next.slice(at + 1);
  const drop = Math.max(0, shown.length + append.length - max);
  return { replace: false, append, drop };
}

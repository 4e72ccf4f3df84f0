// Client-side history of live snapshots: sparklines and the live rate chart.
// One entry per distinct watermark (a stopped generator adds no points).

import type { Kpis, WindowKey } from './api';

export const KPI_KEYS = ['active_users', 'page_views', 'purchases', 'revenue', 'average_order_value', 'conversion_rate'] as const;
export type KpiKey = (typeof KPI_KEYS)[number];
export const RATE_TYPES = ['page_views', 'clicks', 'add_to_cart', 'purchases'] as const;
export type RateType = (typeof RATE_TYPES)[number];

/** A live snapshot, or a filtered answer wrapped like one (no events_applied). */
export interface HistoryInput {
  window?: { watermark: string };
  windows?: Partial<Record<WindowKey, Kpis>>;
  events_applied?: number;
}

export interface HistoryEntry {
  /** watermark, epoch seconds */
  t: number;
  /** KPI values per window */
  kpis: Partial<Record<WindowKey, Pick<Kpis, KpiKey>>>;
  /** per-type events/s: trailing 1-minute count / 60 */
  rates: Record<RateType, number>;
  /** events applied per wall-clock second over the last >= 5 s, null until 5 s have passed */
  instant: number | null;
  /** from per-minute server history, not from a snapshot */
  seeded?: boolean;
}

function pickKpis(k: Kpis): Pick<Kpis, KpiKey> {
  return {
    active_users: k.active_users,
    page_views: k.page_views,
    purchases: k.purchases,
    revenue: k.revenue,
    average_order_value: k.average_order_value,
    conversion_rate: k.conversion_rate,
  };
}

/** The instant rate is measured over at least this much wall-clock time (two snapshots 100 ms apart say nothing). */
export const MIN_RATE_SPAN_MS = 5_000;
/** Consecutive points further apart than this (watermark seconds) are drawn with a gap between them. */
export const GAP_S = 5;

/** A per-minute trend point as the live chart's history before the page opened. */
export interface SeedPoint {
  /** step start, epoch ms */
  startMs: number;
  page_views: number;
  clicks: number;
  add_to_cart: number;
  purchases: number;
  total: number;
}

export class SnapshotHistory {
  private entries: HistoryEntry[] = [];
  /** (wall-clock receive time, events_applied) of recent snapshots, oldest first */
  private applied: { recv: number; n: number }[] = [];

  constructor(readonly capacity = 300) {}

  /** events/s over the newest span of at least MIN_RATE_SPAN_MS, or null while there is none yet. */
  private instantRate(n: number, recvMs: number): number | null {
    const last = this.applied[this.applied.length - 1];
    // A counter that went back means the server restarted: start measuring again.
    if (last && (n < last.n || recvMs < last.recv)) this.applied = [];
    this.applied.push({ recv: recvMs, n });
    let base: { recv: number; n: number } | null = null;
    for (let i = this.applied.length - 1; i >= 0; i--) {
      if (recvMs - this.applied[i].recv >= MIN_RATE_SPAN_MS) {
        base = this.applied[i];
        // Older samples than the base are no longer needed.
        if (i > 0) this.applied.splice(0, i);
        break;
      }
    }
    if (!base) return null;
    return Math.max(0, ((n - base.n) * 1000) / (recvMs - base.recv));
  }

  /** Adds a snapshot received at `recvMs`; returns true when a new point was added. */
  push(s: HistoryInput, recvMs: number): boolean {
    const t = Math.floor(Date.parse(s.window?.watermark ?? '') / 1000);
    let instant: number | null = null;
    if (s.events_applied === undefined) {
      // A filtered answer (no engine counter): "all" is the trailing 1-minute rate of matching events.
      const all = s.windows?.['1m']?.total_events;
      instant = all === undefined ? null : all / 60;
    } else {
      instant = this.instantRate(s.events_applied, recvMs);
    }
    if (!Number.isFinite(t) || t <= 0) return false;
    const last = this.entries[this.entries.length - 1];
    if (last && t <= last.t) return false;
    const m1 = s.windows?.['1m'];
    const rates = {} as Record<RateType, number>;
    for (const r of RATE_TYPES) rates[r] = m1 ? m1[r] / 60 : 0;
    const kpis: HistoryEntry['kpis'] = {};
    for (const [w, v] of Object.entries(s.windows ?? {})) if (v) kpis[w as WindowKey] = pickKpis(v);
    this.entries.push({ t, kpis, rates, instant });
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    return true;
  }

  /**
   * Puts per-minute history (from the trends endpoint) before the live points,
   * so the chart does not start empty. Each minute becomes one point at its end
   * with its per-second averages; minutes at or after the first live point are skipped.
   */
  seed(points: readonly SeedPoint[]): number {
    const first = this.entries.length ? this.entries[0].t : Infinity;
    const out: HistoryEntry[] = [];
    for (const p of points) {
      const t = Math.floor(p.startMs / 1000) + 60;
      if (t >= first || (out.length && t <= out[out.length - 1].t)) continue;
      out.push({ t, kpis: {}, rates: { page_views: p.page_views / 60, clicks: p.clicks / 60, add_to_cart: p.add_to_cart / 60, purchases: p.purchases / 60 }, instant: p.total / 60, seeded: true });
    }
    const room = Math.max(0, this.capacity - this.entries.length);
    const kept = out.slice(Math.max(0, out.length - room));
    this.entries.unshift(...kept);
    return kept.length;
  }

  clear(): void {
    this.entries = [];
    this.applied = [];
  }

  get size(): number {
    return this.entries.length;
  }

  series(window: WindowKey, key: KpiKey, last = this.capacity): number[] {
    const out: number[] = [];
    const start = Math.max(0, this.entries.length - last);
    for (let i = start; i < this.entries.length; i++) {
      const v = this.entries[i].kpis[window]?.[key];
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  /**
   * Columns for the live chart: [t, view, click, add_to_cart, purchase, all].
   * Where two points are more than GAP_S apart (an outage, a stopped stream) a
   * row of nulls is put between them, so the chart draws a gap, not a line.
   * Seeded minutes are 60 s apart and are not gaps among themselves.
   */
  rateColumns(): [number[], ...(number | null)[][]] {
    const t: number[] = [];
    const cols: (number | null)[][] = RATE_TYPES.map(() => []);
    const all: (number | null)[] = [];
    let prev: HistoryEntry | null = null;
    for (const e of this.entries) {
      const limit = prev?.seeded ? 60 + GAP_S : GAP_S;
      if (prev && e.t - prev.t > limit) {
        t.push(prev.t + 1);
        cols.forEach((c) => c.push(null));
        all.push(null);
      }
      prev = e;
      t.push(e.t);
      RATE_TYPES.forEach((r, i) => cols[i].push(e.rates[r]));
      all.push(e.instant);
    }
    return [t, ...cols, all];
  }

  lastT(): number | null {
    return this.entries.length ? this.entries[this.entries.length - 1].t : null;
  }
}

/** SVG path ("M x y L …") for a sparkline of `values` in a w×h box with 1px padding. */
export function sparkPath(values: readonly number[], w: number, h: number): string {
  const n = values.length;
  if (n === 0) return '';
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max - min;
  const pad = 1;
  const y = (v: number) => (span === 0 ? h / 2 : pad + (h - 2 * pad) * (1 - (v - min) / span));
  const x = (i: number) => (n === 1 ? w : pad + ((w - 2 * pad) * i) / (n - 1));
  let d = '';
  for (let i = 0; i < n; i++) d += (i ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(values[i]).toFixed(1);
  return d;
}

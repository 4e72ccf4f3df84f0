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
  /** events applied per wall-clock second since the previous snapshot, null for the first */
  instant: number | null;
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

export class SnapshotHistory {
  private entries: HistoryEntry[] = [];
  private lastApplied: number | null = null;
  private lastRecv: number | null = null;

  constructor(readonly capacity = 300) {}

  /** Adds a snapshot received at `recvMs`; returns true when a new point was added. */
  push(s: HistoryInput, recvMs: number): boolean {
    const t = Math.floor(Date.parse(s.window?.watermark ?? '') / 1000);
    let instant: number | null = null;
    if (s.events_applied === undefined) {
      // A filtered answer (no engine counter): "all" is the trailing 1-minute rate of matching events.
      const all = s.windows?.['1m']?.total_events;
      instant = all === undefined ? null : all / 60;
    } else if (this.lastApplied !== null && this.lastRecv !== null && recvMs > this.lastRecv) {
      instant = Math.max(0, ((s.events_applied - this.lastApplied) * 1000) / (recvMs - this.lastRecv));
    }
    this.lastApplied = s.events_applied ?? null;
    this.lastRecv = recvMs;
    if (!Number.isFinite(t)) return false;
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

  clear(): void {
    this.entries = [];
    this.lastApplied = this.lastRecv = null;
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

  /** Columns for the live chart: [t, view, click, add_to_cart, purchase, all]. */
  rateColumns(): [number[], ...(number | null)[][]] {
    const t: number[] = [];
    const cols: (number | null)[][] = RATE_TYPES.map(() => []);
    const all: (number | null)[] = [];
    for (const e of this.entries) {
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

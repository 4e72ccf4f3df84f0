// Shapes /api/analytics/trends?…&forecast= into aligned uPlot columns for the
// revenue chart: observed bars, anomaly markers, forecast line and its interval.

import { stepEvents, type ForecastSeries, type Trends } from './api';
import { toMs } from './format';

export interface ForecastColumns {
  /** x, epoch seconds, ascending and unique (observed ∪ forecast starts) */
  xs: number[];
  observed: (number | null)[];
  /** observed value where the server flagged an anomaly, else null */
  anomaly: (number | null)[];
  /** forecast value; also set at the last complete observed point so the line joins the bars */
  forecast: (number | null)[];
  lower: (number | null)[];
  upper: (number | null)[];
  anomalies: number;
  forecastPoints: number;
  /** complete observed steps from the first one with any activity: the history the model had */
  historyPoints: number;
  /** a forecast was answered but left out: fewer than MIN_FORECAST_HISTORY history points */
  tooShort: boolean;
}

/** A forecast is drawn only over at least this many complete steps of history (fitted to a start-up ramp it runs away). */
export const MIN_FORECAST_HISTORY = 30;

/**
 * Aligns observed points (those ending after `minMs`) with the forecast of `series`.
 * Interval bounds below zero are clamped to zero (revenue and counts cannot be negative).
 */
export function forecastColumns(tr: Trends, stepMs: number, minMs = -Infinity, series: ForecastSeries = 'revenue', minHistory = MIN_FORECAST_HISTORY): ForecastColumns {
  type Row = { obs: number | null; anom: number | null; f: number | null; lo: number | null; hi: number | null };
  const rows = new Map<number, Row>();
  const row = (x: number): Row => {
    let r = rows.get(x);
    if (!r) rows.set(x, (r = { obs: null, anom: null, f: null, lo: null, hi: null }));
    return r;
  };
  let anomalies = 0;
  let lastComplete: { x: number; v: number } | null = null;
  let historyPoints = 0;
  let active = false;
  for (const p of tr.points) {
    if (!p.partial) {
      active ||= stepEvents(p) > 0 || p[series] > 0;
      if (active) historyPoints++;
    }
    const ms = toMs(p.start);
    if (ms === null || ms + stepMs <= minMs) continue;
    const x = ms / 1000;
    const v = p[series];
    const r = row(x);
    r.obs = v;
    if (p.anomalies?.includes(series)) {
      r.anom = v;
      anomalies++;
    }
    if (!p.partial) lastComplete = { x, v };
  }
  let forecastPoints = 0;
  const fc = tr.forecast;
  const tooShort = !!fc?.available && fc.points.length > 0 && historyPoints < minHistory;
  if (fc?.available && fc.points.length && !tooShort) {
    if (lastComplete) {
      const r = row(lastComplete.x);
      r.f = r.lo = r.hi = lastComplete.v;
    }
    for (const p of fc.points) {
      const ms = toMs(p.start);
      const iv = p[series];
      if (ms === null || !iv) continue;
      const r = row(ms / 1000);
      r.f = Math.max(0, iv.value);
      r.lo = Math.max(0, iv.lower);
      r.hi = Math.max(0, iv.upper);
      forecastPoints++;
    }
  }
  const xs = [...rows.keys()].sort((a, b) => a - b);
  const out: ForecastColumns = { xs, observed: [], anomaly: [], forecast: [], lower: [], upper: [], anomalies, forecastPoints, historyPoints, tooShort };
  for (const x of xs) {
    const r = rows.get(x)!;
    out.observed.push(r.obs);
    out.anomaly.push(r.anom);
    out.forecast.push(r.f);
    out.lower.push(r.lo);
    out.upper.push(r.hi);
  }
  return out;
}

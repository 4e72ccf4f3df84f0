// uPlot wrappers: sized to their container, redrawn only while visible,
// coloured from the CSS theme variables.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export function cssVar(name: string, fallback = '#888'): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export interface SeriesSpec {
  label: string;
  color: string;
  bars?: boolean;
  dash?: number[];
  width?: number;
  value?: (v: number | null) => string;
  /** markers only (no line), e.g. anomalies */
  markers?: number;
}

export interface ChartSpec {
  height: number;
  series: SeriesSpec[];
  yValue: (v: number) => string;
  /** x values are epoch seconds */
  timeFmt: (sec: number) => string;
  xLabel?: string;
  /** allowed x tick spacings in seconds (whole seconds/minutes, no repeated labels) */
  xIncrs?: number[];
  /** shaded areas between two series (indices into `series`: [upper, lower]) */
  bands?: { series: [number, number]; fill: string }[];
}

export const SECOND_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
export const MINUTE_INCRS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

export class TimeChart {
  private plot: uPlot | null = null;
  private pending: uPlot.AlignedData | null = null;
  private visible = true;
  private io: IntersectionObserver;
  private ro: ResizeObserver;
  points = 0;

  constructor(readonly host: HTMLElement, private readonly spec: ChartSpec) {
    this.io = new IntersectionObserver((entries) => {
      this.visible = entries.some((e) => e.isIntersecting);
      if (this.visible && this.pending) this.flush();
    });
    this.io.observe(host);
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(host);
  }

  private build(data: uPlot.AlignedData): void {
    const axis = cssVar('--muted', '#888');
    const grid = cssVar('--grid', 'rgba(128,128,128,.15)');
    const width = Math.max(200, this.host.clientWidth);
    const series: uPlot.Series[] = [
      { label: this.spec.xLabel ?? 'Time', value: (_u, v) => (v == null ? '—' : this.spec.timeFmt(v)) },
      ...this.spec.series.map((s): uPlot.Series => ({
        label: s.label,
        stroke: s.color,
        width: s.width ?? 1.5,
        dash: s.dash,
        fill: s.bars ? s.color + 'cc' : undefined,
        points: s.markers ? { show: true, size: s.markers, width: 2, stroke: s.color, fill: cssVar('--surface', '#fff') } : { show: false },
        paths: s.markers ? () => null : s.bars ? uPlot.paths.bars!({ size: [0.8, 24], align: 0 }) : undefined,
        value: (_u, v) => (s.value ? s.value(v) : v == null ? '—' : this.spec.yValue(v)),
      })),
    ];
    const opts: uPlot.Options = {
      width,
      height: this.spec.height,
      series,
      bands: this.spec.bands?.map((b) => ({ series: [b.series[0] + 1, b.series[1] + 1] as [number, number], fill: b.fill })),
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, values: (_u, vals) => vals.map((v) => this.spec.timeFmt(v)), space: 70, incrs: this.spec.xIncrs },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, values: (_u, vals) => vals.map((v) => this.spec.yValue(v)), size: 56 },
      ],
    };
    this.plot = new uPlot(opts, data, this.host);
  }

  setData(data: uPlot.AlignedData): void {
    this.points = data[0]?.length ?? 0;
    this.host.dataset.points = String(this.points);
    const xs = data[0] as number[];
    if (xs.length) this.host.dataset.lastX = String(xs[xs.length - 1]);
    this.pending = data;
    if (this.visible && !document.hidden) this.flush();
  }

  /** Draws pending data (after the panel or the tab became visible again). */
  flush(): void {
    if (!this.pending) return;
    const data = this.pending;
    this.pending = null;
    if (!this.plot) this.build(data);
    else this.plot.setData(data);
  }

  private resize(): void {
    if (!this.plot) return;
    const w = Math.max(200, this.host.clientWidth);
    if (Math.abs(w - this.plot.width) > 1) this.plot.setSize({ width: w, height: this.spec.height });
  }

  destroy(): void {
    this.io.disconnect();
    this.ro.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

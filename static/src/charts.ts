// uPlot wrappers: sized to their container, redrawn only while visible,
// coloured from the CSS theme variables.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';
import { fmtDateTime, getDisplayZone } from './format';
import { setExport, type TableData } from './export';

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
  /** indices into `series` whose values set the y axis (default: all); e.g. a forecast band is drawn but does not stretch the axis */
  scaleSeries?: number[];
  /** what the chart shows, for screen readers (the canvas is an image) */
  ariaLabel: string;
  /** text of the toggle that shows the data as a table */
  tableLabel: string;
}

/** Rows shown in a chart's table alternative (the newest). */
const TABLE_ROWS = 120;

export const SECOND_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
export const MINUTE_INCRS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

export class TimeChart {
  private plot: uPlot | null = null;
  private pending: uPlot.AlignedData | null = null;
  private visible = true;
  private io: IntersectionObserver;
  private ro: ResizeObserver;
  private data: uPlot.AlignedData = [[]];
  private readonly table: HTMLDetailsElement;
  points = 0;

  constructor(readonly host: HTMLElement, private readonly spec: ChartSpec) {
    host.setAttribute('role', 'img');
    host.setAttribute('aria-label', spec.ariaLabel);
    // The text alternative: the chart's data as a table, drawn only while open.
    this.table = h('details', { className: 'chart-table' }, h('summary', null, spec.tableLabel), h('div', { className: 'table-wrap' }));
    this.table.addEventListener('toggle', () => this.renderTable());
    host.after(this.table);
    setExport(host, () => this.tableData());
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
      scales: {
        x: { time: true },
        y: {
          range: (u, _min, max) => {
            const only = this.spec.scaleSeries;
            if (only) {
              max = 0;
              for (const i of only) for (const v of (u.data[i + 1] ?? []) as (number | null)[]) if (v != null && v > max) max = v;
            }
            return [0, max > 0 ? max * 1.1 : 1];
          },
        },
      },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, values: (_u, vals) => vals.map((v) => this.spec.timeFmt(v)), space: 70, incrs: this.spec.xIncrs },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, values: (_u, vals) => vals.map((v) => this.spec.yValue(v)), size: 56 },
      ],
    };
    const zone = getDisplayZone();
    if (zone) opts.tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), zone);
    this.plot = new uPlot(opts, data, this.host);
  }

  /** Hides the chart together with its table toggle (a chart with nothing to draw, e.g. revenue without prices). */
  setHidden(hidden: boolean): void {
    this.host.hidden = hidden;
    this.table.hidden = hidden;
  }

  /** The chart's data with ISO-like times in the display zone; null values stay empty. */
  tableData(): TableData {
    const [xs, ...cols] = this.data as [number[], ...(number | null | undefined)[][]];
    const columns = [this.spec.xLabel ?? 'Time', ...this.spec.series.map((s) => s.label)];
    const rows = (xs ?? []).map((x, i) => [fmtDateTime(x * 1000, 'en'), ...cols.map((c) => c[i] ?? null)]);
    return { columns, rows };
  }

  private renderTable(): void {
    if (!this.table.open) return;
    const { columns, rows } = this.tableData();
    const shown = rows.filter((r) => r.slice(1).some((v) => v !== null)).slice(-TABLE_ROWS);
    const fmt = (i: number, v: string | number | null) => (v === null ? '—' : typeof v === 'number' ? (this.spec.series[i - 1]?.value?.(v) ?? this.spec.yValue(v)) : v);
    const table = h(
      'table',
      null,
      h('thead', null, h('tr', null, ...columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, ...shown.map((r) => h('tr', null, ...r.map((v, i) => (i ? h('td', null, fmt(i, v)) : h('th', { scope: 'row' }, String(v))))))),
    );
    this.table.querySelector('.table-wrap')!.replaceChildren(table);
  }

  setData(data: uPlot.AlignedData): void {
    this.points = data[0]?.length ?? 0;
    this.host.dataset.points = String(this.points);
    const xs = data[0] as number[];
    if (xs.length) {
      this.host.dataset.firstX = String(xs[0]);
      this.host.dataset.lastX = String(xs[xs.length - 1]);
    }
    this.pending = data;
    this.data = data;
    if (this.visible && !document.hidden) this.flush();
    this.renderTable();
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
    this.table.remove();
  }
}

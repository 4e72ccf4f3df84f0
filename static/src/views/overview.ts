// Overview: KPI cards, live rates, funnel, revenue trend, rankings, breakdowns.

import { getJson, STEP_MS, stepFor, windowParam, type Kpis, type PopularProducts, type Snapshot, type TrendPoint, type Trends, type WindowData, type WindowKey } from '../api';
import { MINUTE_INCRS, SECOND_INCRS, TimeChart, cssVar } from '../charts';
import type { Ctx, View } from '../context';
import { h, setText } from '../dom';
import { delta, fmtInt, fmtMoney, fmtMoneyCompact, fmtNumber, fmtPercent, fmtTime, toMs } from '../format';
import { KPI_KEYS, type KpiKey } from '../history';
import type { Key } from '../i18n';
import { activeFilters, PRESET_MS, withFilter, type AppState, type FilterKey, type Preset } from '../state';
import { kpiCard, panel, renderBars, setPanelTitle, type BarItem, type KpiCard } from './widgets';

const SPARK_N = 120;

export function createOverview(ctx: Ctx): View {
  const { t, lang } = ctx;
  const money = (v: number | null | undefined) => fmtMoney(v, lang, ctx.currency);
  const fmtKpi: Record<KpiKey, (v: number) => string> = {
    active_users: (v) => fmtInt(v, lang),
    page_views: (v) => fmtInt(v, lang),
    purchases: (v) => fmtInt(v, lang),
    revenue: money,
    average_order_value: money,
    conversion_rate: (v) => fmtPercent(v, lang),
  };

  // ---- skeleton ----
  const note = h('div', { className: 'note', hidden: true, role: 'status' });
  const cards = {} as Record<KpiKey, KpiCard>;
  const kpiGrid = h('div', { className: 'kpis' });
  for (const k of KPI_KEYS) {
    cards[k] = kpiCard(k, t(('kpi.' + k) as Key), t(('kpi.' + k + '.help') as Key));
    kpiGrid.append(cards[k].el);
  }

  const live = panel(t('panel.live'), t('panel.live.help'), 'wide');
  const liveHost = h('div', { className: 'chart', 'data-chart': 'live' });
  const liveEmpty = h('p', { className: 'chart-empty' }, t('empty.live'));
  live.body.append(liveEmpty, liveHost);
  const revenue = panel(t('panel.revenue', { step: '1m' }), t('panel.revenue.help'), 'wide');
  const revenueHost = h('div', { className: 'chart', 'data-chart': 'revenue' });
  revenue.body.append(revenueHost);
  const funnel = panel(t('panel.funnel'), t('panel.funnel.help'));
  const products = panel(t('panel.products'), t('panel.products.help'));
  const categories = panel(t('panel.categories'), t('panel.categories.help'));
  const devices = panel(t('panel.devices'), t('panel.devices.help'));
  const locations = panel(t('panel.locations'), t('panel.locations.help'));
  const product = panel(t('panel.product', { p: '' }), t('panel.product.trend.na'), 'product-detail');
  product.el.hidden = true;
  const windowInfo = h('p', { className: 'window-info' });

  const el = h(
    'div',
    { className: 'view overview', 'data-view': 'overview' },
    note,
    kpiGrid,
    h('div', { className: 'grid' }, product.el, live.el, funnel.el, revenue.el, categories.el, products.el, devices.el, locations.el),
    windowInfo,
  );

  const seriesColors = ['--c-view', '--c-click', '--c-cart', '--c-purchase', '--c-all'];
  let liveChart: TimeChart | null = null;
  let revenueChart: TimeChart | null = null;
  let state: AppState = ctx.state.get();
  let last: Snapshot | null = null;

  function ensureCharts() {
    if (liveChart) return;
    const labels = [t('event.view'), t('event.click'), t('event.add_to_cart'), t('event.purchase'), t('event.all')];
    liveChart = new TimeChart(liveHost, {
      height: 230,
      series: labels.map((label, i) => ({ label, color: cssVar(seriesColors[i]), dash: i === 4 ? [4, 4] : undefined, width: i === 4 ? 1 : 1.5 })),
      yValue: (v) => fmtNumber(v, lang, 1),
      timeFmt: (s) => fmtTime(s * 1000, lang, true),
      xIncrs: SECOND_INCRS,
      xLabel: t('users.col.time'),
    });
    revenueChart = new TimeChart(revenueHost, {
      height: 230,
      series: [{ label: t('kpi.revenue'), color: cssVar('--c-purchase'), bars: true, value: (v) => money(v) }],
      yValue: (v) => fmtMoneyCompact(v, lang, ctx.currency),
      timeFmt: (s) => fmtTime(s * 1000, lang, false),
      xIncrs: MINUTE_INCRS,
      xLabel: t('users.col.time'),
    });
  }

  const go = (next: AppState) => ctx.go(next, true);
  const toggle = (key: FilterKey, id: string) => go(withFilter(state, key, state.filters[key] === id ? undefined : id));

  // ---- live window rendering ----
  function windowKey(): WindowKey | null {
    return state.range === 'custom' ? null : (state.range as Preset);
  }

  function renderKpisLive(w: WindowData, key: WindowKey) {
    const prev = w.previous;
    const rangeLabel = t(('range.' + key) as Key);
    for (const k of KPI_KEYS) {
      const cur = w[k];
      const p = prev[k];
      const d = delta(cur, p, lang);
      const deltaTitle = t('kpi.delta.help', { start: fmtTime(prev.start, lang), end: fmtTime(prev.end, lang), prev: fmtKpi[k](p) });
      const spark = ctx.history.series(key, k, SPARK_N);
      cards[k].set(fmtKpi[k](cur), cur, d, deltaTitle, t('kpi.vs', { w: rangeLabel }), spark, t('kpi.spark.help', { n: spark.length }));
    }
  }

  function renderFunnel(w: WindowData | null) {
    if (!w) {
      funnel.body.replaceChildren(h('p', { className: 'empty' }, t('empty.custom')));
      return;
    }
    const top = w.funnel[0]?.users ?? 0;
    if (!top) {
      funnel.body.replaceChildren(h('p', { className: 'empty' }, t('empty.nodata')));
      return;
    }
    const rows = w.funnel.map((f, i) => {
      const prevStep = i ? w.funnel[i - 1].users : f.users;
      const stepPct = prevStep ? (100 * f.users) / prevStep : 0;
      const width = Math.max(1, (100 * f.users) / top);
      const d = delta(f.users, f.previous_users, lang);
      return h(
        'li',
        { className: 'funnel-step', 'data-step': f.step, title: `${t(('funnel.' + f.step) as Key)}: ${fmtInt(f.users, lang)} (${t('kpi.vs', { w: '' }).trim()} ${fmtInt(f.previous_users, lang)}, ${d.text})` },
        h('div', { className: 'funnel-label' }, h('span', null, t(('funnel.' + f.step) as Key)), h('strong', null, fmtInt(f.users, lang))),
        h('div', { className: 'funnel-track' }, h('div', { className: 'funnel-bar', style: `width:${width.toFixed(1)}%` })),
        i
          ? h('div', { className: 'funnel-meta' }, t('funnel.of_prev', { p: fmtPercent(stepPct, lang, 1) }), ' · ', h('span', { className: 'drop' }, t('funnel.dropoff', { p: fmtPercent(100 - stepPct, lang, 1) })))
          : null,
      );
    });
    funnel.body.replaceChildren(h('ol', { className: 'funnel' }, ...rows), h('p', { className: 'funnel-overall' }, t('funnel.overall', { p: fmtPercent(w.conversion_rate, lang) })));
  }

  function shareItems<T>(list: T[], id: (x: T) => string, count: (x: T) => number): BarItem[] {
    const total = list.reduce((a, x) => a + count(x), 0) || 1;
    return list.map((x) => {
      const share = fmtPercent((100 * count(x)) / total, lang, 1);
      return { id: id(x), label: id(x), value: count(x), valueText: fmtInt(count(x), lang), sub: share, title: t('list.drill', { v: id(x) }) + ' · ' + t('list.share', { p: share }) };
    });
  }

  function renderBreakdowns(w: WindowData | null) {
    if (!w) {
      for (const p of [devices, locations, categories]) p.body.replaceChildren(h('p', { className: 'empty' }, t('empty.custom')));
      return;
    }
    renderBars(devices.body, shareItems(w.devices, (d) => d.device, (d) => d.events), { kind: 'device', selected: state.filters.device, onPick: (id) => toggle('device', id), emptyText: t('empty.nodata') });
    renderBars(locations.body, shareItems(w.locations, (d) => d.location, (d) => d.events), { kind: 'location', selected: state.filters.location, onPick: (id) => toggle('location', id), emptyText: t('empty.nodata') });
    renderBars(
      categories.body,
      w.popular_categories.map((c) => ({ id: c.category_id, label: c.category_id, value: c.interactions, valueText: fmtInt(c.interactions, lang), title: t('list.drill', { v: c.category_id }) })),
      { kind: 'category', selected: state.filters.category, onPick: (id) => toggle('category', id), emptyText: t('empty.nodata') },
    );
    const sel = (k: 'device' | 'location', list: { events: number }[], name: (x: never) => string) => {
      const v = state.filters[k];
      if (!v) return '';
      const total = list.reduce((a, x) => a + x.events, 0);
      const item = list.find((x) => name(x as never) === v);
      return item && total ? `${v}: ${fmtPercent((100 * item.events) / total, lang, 1)}` : v;
    };
    setText(devices.aside, sel('device', w.devices, (x: { device: string }) => x.device));
    setText(locations.aside, sel('location', w.locations, (x: { location: string }) => x.location));
  }

  function renderProductsFromWindow(w: WindowData) {
    renderBars(
      products.body,
      w.popular_products.map((p) => ({ id: p.product_id, label: p.product_id, value: p.interactions, valueText: fmtInt(p.interactions, lang), title: t('list.drill', { v: p.product_id }) })),
      { kind: 'product', selected: state.filters.product, onPick: (id) => toggle('product', id), emptyText: t('empty.nodata') },
    );
  }

  function renderProductDetail(w: WindowData | null) {
    const pid = state.filters.product;
    product.el.hidden = !pid;
    if (!pid) return;
    setPanelTitle(product, t('panel.product', { p: pid }));
    const status = product.body.querySelector('[data-role="rank"]') ?? h('p', { 'data-role': 'rank' });
    const info = product.body.querySelector('[data-role="info"]') ?? h('p', { 'data-role': 'info', className: 'muted' });
    const na = product.body.querySelector('[data-role="na"]') ?? h('p', { 'data-role': 'na', className: 'muted' }, t('panel.product.trend.na'));
    if (!status.isConnected) product.body.replaceChildren(status, info, na);
    if (w) {
      const idx = w.popular_products.findIndex((p) => p.product_id === pid);
      setText(status, idx >= 0 ? t('panel.product.rank', { r: idx + 1, n: fmtInt(w.popular_products[idx].interactions, lang) }) : t('panel.product.notop', { n: w.popular_products.length }));
    }
    const d = productInfo;
    if (d && d.pid === pid) {
      info.replaceChildren(
        t('panel.product.category') + ': ',
        d.category
          ? h('button', { type: 'button', className: 'link', onclick: () => go(withFilter(state, 'category', d.category!)) }, d.category)
          : '—',
      );
    }
  }

  function renderWindowInfo(w: WindowData | null) {
    if (w) setText(windowInfo, t('panel.window', { start: fmtTime(w.window.start, lang), end: fmtTime(w.window.end, lang) }) + ' · ' + t('watermark') + ' ' + fmtTime(w.window.watermark, lang));
    else if (state.from !== undefined && state.to !== undefined) setText(windowInfo, t('panel.window', { start: new Date(state.from).toLocaleString(), end: new Date(state.to).toLocaleString() }));
  }

  function renderLive() {
    ensureCharts();
    liveEmpty.hidden = ctx.history.size >= 2;
    liveChart!.setData(ctx.history.rateColumns());
  }

  function renderSnapshot(s: Snapshot) {
    last = s;
    renderLive();
    const key = windowKey();
    if (!key) return;
    const w = s.windows[key] ?? (key === '5m' ? s : null);
    if (!w) return;
    renderKpisLive(w, key);
    renderFunnel(w);
    renderBreakdowns(w);
    if (!state.filters.category) renderProductsFromWindow(w);
    renderProductDetail(w);
    renderWindowInfo(w);
    maybeRefreshHttp(w.window.watermark);
  }

  // ---- HTTP-backed panels: trends, filtered/custom products ----
  let trendsKey = '';
  let productsKey = '';
  let productInfoKey = '';
  let productInfo: { pid: string; category: string | null } | null = null;
  let aborts: AbortController[] = [];

  function abortAll() {
    for (const a of aborts) a.abort();
    aborts = [];
  }
  function ctl() {
    const a = new AbortController();
    aborts.push(a);
    return a.signal;
  }

  /** [from, to) in ms for the HTTP panels; presets end at the watermark's minute (included). */
  function httpRange(watermark: string | null): [number, number] | null {
    if (state.range === 'custom') return [state.from!, state.to!];
    const wm = toMs(watermark);
    if (wm === null) return null;
    const end = Math.floor(wm / 60_000) * 60_000 + 60_000;
    return [end - PRESET_MS[state.range as Preset], end];
  }

  function maybeRefreshHttp(watermark: string | null) {
    const range = httpRange(watermark);
    if (!range) return;
    const [from, to] = range;
    const len = to - from;
    // Revenue chart (and custom-range KPI cards): trends over [from - len, to) so the previous equal range is included.
    const chartFrom = state.range === 'custom' ? from - len : to - Math.max(len, 30 * 60_000);
    const step = stepFor(Math.max(len, 30 * 60_000));
    const tk = `${chartFrom}|${to}|${step}|${state.range}`;
    if (tk !== trendsKey) {
      trendsKey = tk;
      const q = `/api/analytics/trends?from=${chartFrom}&to=${to}&step=${step}`;
      getJson<Trends>(q, ctl())
        .then((tr) => renderTrends(tr, from, to, step))
        .catch((e) => showError(revenue.body, e));
    }
    const cat = state.filters.category;
    if (cat || state.range === 'custom') {
      const pk = `${cat}|${from}|${to}`;
      if (pk !== productsKey) {
        productsKey = pk;
        const base = cat ? `/api/products/categories/${encodeURIComponent(cat)}/popular` : '/api/products/popular';
        getJson<PopularProducts>(`${base}?window=${windowParam(len)}&end=${to}&limit=10`, ctl())
          .then((pp) =>
            renderBars(
              products.body,
              pp.products.map((p) => ({ id: p.product_id, label: p.product_id, sub: cat ? undefined : p.category_id, value: p.interactions, valueText: fmtInt(p.interactions, lang), title: t('list.drill', { v: p.product_id }) })),
              { kind: 'product', selected: state.filters.product, onPick: (id) => toggle('product', id), emptyText: t('empty.nodata') },
            ),
          )
          .catch((e) => showError(products.body, e));
      }
    }
    const pid = state.filters.product;
    if (pid) {
      const ik = `${pid}|${from}|${to}`;
      if (ik !== productInfoKey) {
        productInfoKey = ik;
        getJson<PopularProducts>(`/api/products/popular?window=${windowParam(len)}&end=${to}&limit=1000`, ctl())
          .then((pp) => {
            const found = pp.products.find((p) => p.product_id === pid);
            productInfo = { pid, category: found?.category_id ?? null };
            renderProductDetail(state.range === 'custom' ? null : (last?.windows[state.range as Preset] ?? null));
          })
          .catch(() => undefined);
      }
    }
  }

  function showError(host: HTMLElement, e: unknown) {
    if ((e as Error)?.name === 'AbortError') return;
    host.querySelector('.error')?.remove();
    host.append(h('p', { className: 'error' }, t('error.load', { e: (e as Error)?.message ?? String(e) })));
  }

  function renderTrends(tr: Trends, from: number, to: number, step: string) {
    const stepMs = STEP_MS[step] ?? 60_000;
    setPanelTitle(revenue, t('panel.revenue', { step }));
    const pts = tr.points.filter((p) => (toMs(p.start) ?? 0) + stepMs > (state.range === 'custom' ? from : 0));
    const xs = pts.map((p) => (toMs(p.start) ?? 0) / 1000);
    ensureCharts();
    revenueChart!.setData([xs, pts.map((p) => p.revenue)]);
    revenue.body.querySelector('.error')?.remove();
    if (state.range === 'custom') renderKpisCustom(tr.points, from, to);
  }

  function renderKpisCustom(points: TrendPoint[], from: number, to: number) {
    const cur: TrendPoint[] = [];
    const prev: TrendPoint[] = [];
    for (const p of points) {
      const s = toMs(p.start) ?? 0;
      if (s >= from && s < to) cur.push(p);
      else if (s < from) prev.push(p);
    }
    const sum = (list: TrendPoint[], k: 'page_views' | 'purchases' | 'revenue') => list.reduce((a, p) => a + p[k], 0);
    const agg = (list: TrendPoint[]): Pick<Kpis, 'page_views' | 'purchases' | 'revenue' | 'average_order_value'> => {
      const purchases = sum(list, 'purchases');
      const rev = sum(list, 'revenue');
      return { page_views: sum(list, 'page_views'), purchases, revenue: rev, average_order_value: purchases ? rev / purchases : 0 };
    };
    const c = agg(cur);
    const p = agg(prev);
    const len = to - from;
    for (const k of KPI_KEYS) {
      if (k === 'active_users' || k === 'conversion_rate') {
        cards[k].setNa(t('range.custom'), t('kpi.custom.na'));
        continue;
      }
      const spark = cur.map((pt) => (k === 'average_order_value' ? (pt.purchases ? pt.revenue / pt.purchases : 0) : pt[k]));
      cards[k].set(
        fmtKpi[k](c[k]),
        c[k],
        delta(c[k], p[k], lang),
        t('kpi.delta.help', { start: new Date(from - len).toLocaleString(), end: new Date(from).toLocaleString(), prev: fmtKpi[k](p[k]) }),
        t('kpi.vs', { w: t('range.custom') }),
        spark,
        t('kpi.spark.help', { n: spark.length }),
      );
    }
  }

  function renderFilterNote() {
    const f = activeFilters(state);
    note.hidden = f.length === 0;
    if (f.length) setText(note, t('filters.note', { applied: f.map(([k]) => t(('filters.applied.' + k) as Key)).join('; ') }));
    setPanelTitle(products, state.filters.category ? t('panel.products.category', { c: state.filters.category }) : t('panel.products'));
  }

  return {
    el,
    show(next, prev) {
      const rangeChanged = !prev || prev.range !== next.range || prev.from !== next.from || prev.to !== next.to;
      const filterChanged = !prev || JSON.stringify(prev.filters) !== JSON.stringify(next.filters);
      state = next;
      if (rangeChanged || filterChanged) {
        abortAll();
        trendsKey = productsKey = productInfoKey = '';
        if (!next.filters.product) productInfo = null;
      }
      renderFilterNote();
      if (next.range === 'custom') {
        renderFunnel(null);
        renderBreakdowns(null);
        renderWindowInfo(null);
        renderProductDetail(null);
        maybeRefreshHttp(null);
        if (last) renderLive();
      } else if (last) {
        renderSnapshot(last);
      } else {
        const waiting = t('empty.waiting');
        for (const p of [funnel, devices, locations, categories, products]) if (!p.body.firstChild) p.body.append(h('p', { className: 'empty' }, waiting));
      }
      liveChart?.flush();
      revenueChart?.flush();
    },
    hide() {
      abortAll();
    },
    snapshot(s) {
      if (state.range === 'custom') {
        last = s;
        renderLive();
        return;
      }
      renderSnapshot(s);
    },
    destroy() {
      abortAll();
      liveChart?.destroy();
      revenueChart?.destroy();
    },
  };
}

// Overview: KPI cards, live rates, funnel, revenue trend, rankings, breakdowns.

import { getJson, STEP_MS, stepFor, windowParam, type FilteredWindow, type PopularProducts, type RangeAnswer, type Snapshot, type Trending, type Trends, type WindowData, type WindowKey } from '../api';
import { MINUTE_INCRS, SECOND_INCRS, TimeChart, cssVar } from '../charts';
import type { Ctx, View } from '../context';
import { h, help, setText, setTitle } from '../dom';
import { delta, fmtInt, fmtMoney, fmtMoneyCompact, fmtNumber, fmtPercent, fmtTime, toMs, fmtDateTime } from '../format';
import { forecastColumns, MIN_FORECAST_HISTORY } from '../forecast';
import { setExport } from '../export';
import { KPI_KEYS, SnapshotHistory, type KpiKey } from '../history';
import { translateMaybe, type Key } from '../i18n';
import { filterQuery, hasFilters, openProduct, PRESET_MS, toHash, withFilter, type AppState, type FilterKey, type Preset } from '../state';
import { exportButtons, kpiCard, panel, renderBars, setPanelTitle, type BarItem, type KpiCard, type OpenLink } from './widgets';

const SPARK_N = 120;
/** Filtered figures are polled over HTTP at this period while a filter is set and the page is visible. */
const FILTER_POLL_MS = 1000;
const TRENDING_MS = 30_000;
const FORECAST = '30m';

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
  // The cards download too: each figure with the previous period's, as shown.
  const kpiValues = new Map<KpiKey, [number | null, number | null]>();
  const setKpi = (k: KpiKey, cur: number | null, prev: number | null) => kpiValues.set(k, [cur, prev]);
  setExport(kpiGrid, () => (kpiValues.size ? { columns: ['kpi', 'value', 'previous'], rows: KPI_KEYS.map((k) => [k, kpiValues.get(k)?.[0] ?? null, kpiValues.get(k)?.[1] ?? null]) } : null));
  const kpiBlock = h('section', { className: 'kpi-block', 'data-panel': 'kpis', 'aria-label': t('panel.kpis') });
  kpiBlock.append(h('div', { className: 'kpi-tools' }, exportButtons(kpiBlock, () => t('panel.kpis'))), kpiGrid);

  // An empty install: how to send a first event, instead of empty panels or an API error.
  const curl = `curl -X POST ${location.origin}/api/events -H 'Content-Type: application/json' -d '{"user_id":"u1","event_type":"view","product_id":"p1","category_id":"c1"}'`;
  const welcome = h(
    'section',
    { className: 'welcome', 'data-role': 'welcome', hidden: true, 'aria-labelledby': 'welcome-title' },
    h('h2', { id: 'welcome-title' }, t('welcome.title')),
    h('p', null, t('welcome.text')),
    h('pre', null, h('code', null, curl)),
    h('p', null, t('welcome.more') + ' ', h('a', { href: '/docs', target: '_blank', rel: 'noopener' }, t('welcome.docs')), ' · ', h('a', { href: '#/system' }, t('welcome.generator'))),
  );
  const live = panel(t('panel.live'), t('panel.live.help'), 'wide', 'live');
  const liveHost = h('div', { className: 'chart', 'data-chart': 'live' });
  const liveEmpty = h('p', { className: 'chart-empty' }, t('empty.live'));
  live.body.append(liveEmpty, liveHost);
  const traffic = panel(t('panel.traffic', { step: '1m' }), t('panel.traffic.help'), 'wide', 'traffic');
  const trafficHost = h('div', { className: 'chart', 'data-chart': 'traffic' });
  traffic.body.append(trafficHost);
  const revenue = panel(t('panel.revenue', { step: '1m' }), t('panel.revenue.help'), 'wide', 'revenue');
  // Opt-in per chart: the forecast is asked for (and drawn) only when ticked.
  const fcToggle = h('input', { type: 'checkbox', 'data-action': 'forecast' });
  fcToggle.addEventListener('change', () => go({ ...state, forecast: fcToggle.checked || undefined }));
  revenue.aside.append(h('label', { className: 'fc-toggle', title: t('forecast.toggle.help') }, fcToggle, ' ' + t('forecast.toggle')));
  const noPrices = h('p', { className: 'muted small', hidden: true, 'data-role': 'no-prices' }, t('revenue.noprices'));
  const revenueHost = h('div', { className: 'chart', 'data-chart': 'revenue' });
  const swatch = (cls: string) => h('span', { className: 'sw ' + cls, 'aria-hidden': 'true' });
  const fcLegend = h(
    'div',
    { className: 'fc-legend', 'data-role': 'forecast-legend', title: t('forecast.help'), hidden: true },
    h('span', null, swatch('sw-line'), t('forecast.legend.line')),
    h('span', null, swatch('sw-band'), t('forecast.legend.band')),
    h('span', null, swatch('sw-anom'), h('span', { 'data-role': 'anomaly-count' }, t('forecast.legend.anomaly'))),
    help(t('forecast.help')),
  );
  const fcNa = h('p', { className: 'muted small', hidden: true, 'data-role': 'forecast-na' });
  revenue.body.append(noPrices, revenueHost, fcLegend, fcNa);
  const funnel = panel(t('panel.funnel'), t('panel.funnel.help'), '', 'funnel');
  const products = panel(t('panel.products'), t('panel.products.help'), '', 'top-products');
  const categories = panel(t('panel.categories'), t('panel.categories.help'), '', 'top-categories');
  const devices = panel(t('panel.devices'), t('panel.devices.help'), '', 'devices');
  const locations = panel(t('panel.locations'), t('panel.locations.help'), '', 'locations');
  const trending = panel(t('panel.trending'), t('panel.trending.help'), '', 'trending');
  const product = panel(t('panel.product', { p: '' }), t('panel.product.help'), 'product-detail', 'product');
  product.el.hidden = true;
  /** The filtered product's row as the panel shows it: its rank among the top products (null outside them), interactions and category. */
  let productRow: [string, number | null, number | null, string | null] | null = null;
  setExport(product.body, () => (productRow ? { columns: ['product_id', 'rank', 'interactions', 'category_id'], rows: [productRow] } : null));
  const windowInfo = h('p', { className: 'window-info' });

  const el = h(
    'div',
    { className: 'view overview', 'data-view': 'overview' },
    welcome,
    note,
    kpiBlock,
    h('div', { className: 'grid' }, product.el, live.el, funnel.el, traffic.el, categories.el, revenue.el, trending.el, products.el, devices.el, locations.el),
    windowInfo,
  );

  const seriesColors = ['--c-view', '--c-click', '--c-cart', '--c-purchase', '--c-all'];
  let liveChart: TimeChart | null = null;
  let revenueChart: TimeChart | null = null;
  let trafficChart: TimeChart | null = null;
  let state: AppState = ctx.state.get();
  let last: Snapshot | null = null;
  /** client-side history of the filtered answers (reset when the filters or range change) */
  const fHistory = new SnapshotHistory(300);
  let lastFiltered: FilteredWindow | null = null;
  const filtered = () => state.range !== 'custom' && hasFilters(state.filters);
  const hist = () => (filtered() ? fHistory : ctx.history);

  function ensureCharts() {
    if (liveChart) return;
    const labels = [t('event.view'), t('event.click'), t('event.add_to_cart'), t('event.purchase'), t('event.all')];
    liveChart = new TimeChart(liveHost, {
      height: 230,
      series: labels.map((label, i) => ({ label, color: cssVar(seriesColors[i]), dash: i === 4 ? [4, 4] : undefined, width: i === 4 ? 1 : 1.5 })),
      // Seeded per-minute averages can be fractions of an event per second.
      yValue: (v) => fmtNumber(v, lang, Math.abs(v) < 1 && v !== 0 ? 2 : 1),
      timeFmt: (s) => fmtTime(s * 1000, lang, true),
      xIncrs: SECOND_INCRS,
      xLabel: t('users.col.time'),
      ariaLabel: t('chart.live.aria'),
      tableLabel: t('chart.table'),
    });
    trafficChart = new TimeChart(trafficHost, {
      height: 200,
      series: [
        { label: t('event.view'), color: cssVar('--c-view') },
        { label: t('event.add_to_cart'), color: cssVar('--c-cart') },
        { label: t('event.purchase'), color: cssVar('--c-purchase') },
      ],
      yValue: (v) => fmtNumber(v, lang, 0),
      timeFmt: (s) => fmtTime(s * 1000, lang, false),
      xIncrs: MINUTE_INCRS,
      xLabel: t('users.col.time'),
      ariaLabel: t('chart.traffic.aria'),
      tableLabel: t('chart.table'),
    });
    revenueChart = new TimeChart(revenueHost, {
      height: 230,
      series: [
        { label: t('kpi.revenue'), color: cssVar('--c-purchase'), bars: true, value: (v) => money(v) },
        { label: t('forecast.label'), color: cssVar('--accent'), dash: [6, 4], width: 2, value: (v) => money(v) },
        { label: t('forecast.lower'), color: cssVar('--accent') + '66', width: 1, dash: [2, 3], value: (v) => money(v) },
        { label: t('forecast.upper'), color: cssVar('--accent') + '66', width: 1, dash: [2, 3], value: (v) => money(v) },
        { label: t('forecast.anomaly'), color: cssVar('--bad'), markers: 9, value: (v) => money(v) },
      ],
      bands: [{ series: [3, 2], fill: cssVar('--accent') + '22' }],
      // The forecast and its band are drawn over the observed scale; they do not stretch it.
      scaleSeries: [0],
      yValue: (v) => fmtMoneyCompact(v, lang, ctx.currency),
      timeFmt: (s) => fmtTime(s * 1000, lang, false),
      xIncrs: MINUTE_INCRS,
      xLabel: t('users.col.time'),
      ariaLabel: t('chart.revenue.aria', { c: ctx.currency }),
      tableLabel: t('chart.table'),
    });
  }

  const go = (next: AppState) => ctx.go(next, true);
  /** "open product" beside the drill-down click of every product row */
  const openLink: OpenLink = { href: (id) => toHash(openProduct(state, id)), go: (id) => go(openProduct(state, id)), title: (id) => t('products.open.title', { p: id }) };
  const toggle = (key: FilterKey, id: string) => go(withFilter(state, key, state.filters[key] === id ? undefined : id));

  // ---- live window rendering ----
  function windowKey(): WindowKey | null {
    return state.range === 'custom' ? null : (state.range as Preset);
  }

  function renderKpisLive(w: WindowData, key: WindowKey, history: SnapshotHistory) {
    const prev = w.previous;
    const rangeLabel = t(('range.' + key) as Key);
    for (const k of KPI_KEYS) {
      const cur = w[k];
      const p = prev[k];
      const d = delta(cur, p, lang);
      const deltaTitle = t('kpi.delta.help', { start: fmtDateTime(prev.start, lang), end: fmtDateTime(prev.end, lang), prev: fmtKpi[k](p) });
      const spark = history.series(key, k, SPARK_N);
      setKpi(k, cur, p);
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
    // A step no event reached in either period (Taobao has no clicks) is left out rather than
    // drawn as a 100 % drop-off; the downloads keep the API's four rows.
    const shown = w.funnel.filter((f, i) => i === 0 || f.users > 0 || f.previous_users > 0);
    const rows = shown.map((f, i) => {
      const prevStep = i ? shown[i - 1].users : f.users;
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
    setExport(funnel.body, () => ({ columns: ['step', 'users', 'previous_users'], rows: w.funnel.map((f) => [f.step, f.users, f.previous_users]) }));
  }

  function shareItems<T>(list: T[], id: (x: T) => string, count: (x: T) => number): BarItem[] {
    const total = list.reduce((a, x) => a + count(x), 0) || 1;
    return list.map((x) => {
      const share = fmtPercent((100 * count(x)) / total, lang, 1);
      return { id: id(x), label: id(x), value: count(x), valueText: fmtInt(count(x), lang), sub: share, title: t('list.drill', { v: id(x) }) + ' · ' + t('list.share', { p: share }) };
    });
  }

  function renderBreakdowns(w: WindowData | null, shareBase: WindowData | null = w) {
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
    const b = shareBase ?? w;
    setText(devices.aside, sel('device', b.devices, (x: { device: string }) => x.device));
    setText(locations.aside, sel('location', b.locations, (x: { location: string }) => x.location));
  }

  function renderProductsFromWindow(w: WindowData) {
    renderBars(
      products.body,
      w.popular_products.map((p) => ({ id: p.product_id, label: p.product_id, value: p.interactions, valueText: fmtInt(p.interactions, lang), title: t('list.drill', { v: p.product_id }) })),
      { kind: 'product', selected: state.filters.product, onPick: (id) => toggle('product', id), emptyText: t('empty.nodata'), open: openLink },
    );
  }

  function renderProductDetail(w: WindowData | null) {
    const pid = state.filters.product;
    product.el.hidden = !pid;
    if (!pid) return;
    setPanelTitle(product, t('panel.product', { p: pid }));
    const status = product.body.querySelector('[data-role="rank"]') ?? h('p', { 'data-role': 'rank' });
    const info = product.body.querySelector('[data-role="info"]') ?? h('p', { 'data-role': 'info', className: 'muted' });
    const na = product.body.querySelector('[data-role="na"]') ?? h('p', { 'data-role': 'na' }, h('a', { 'data-action': 'open-product', href: '#', onclick: (e: Event) => (e.preventDefault(), state.filters.product && go(openProduct(state, state.filters.product))) }, t('panel.product.open')));
    if (!status.isConnected) product.body.replaceChildren(status, info, na);
    na.querySelector('a')?.setAttribute('href', toHash(openProduct(state, pid)));
    if (!productRow || productRow[0] !== pid) productRow = [pid, null, null, null];
    if (w) {
      const idx = w.popular_products.findIndex((p) => p.product_id === pid);
      productRow[1] = idx >= 0 ? idx + 1 : null;
      productRow[2] = idx >= 0 ? w.popular_products[idx].interactions : null;
      setText(status, idx >= 0 ? t('panel.product.rank', { r: idx + 1, n: fmtInt(w.popular_products[idx].interactions, lang) }) : t('panel.product.notop', { n: w.popular_products.length }));
    }
    const d = productInfo;
    if (d && d.pid === pid) {
      productRow[3] = d.category ?? null;
      info.replaceChildren(
        t('panel.product.category') + ': ',
        d.category
          ? h('button', { type: 'button', className: 'link', onclick: () => go(withFilter(state, 'category', d.category!)) }, d.category)
          : '—',
      );
    }
  }

  function renderWindowInfo(w: WindowData | null) {
    if (w) setText(windowInfo, t('panel.window', { start: fmtDateTime(w.window.start, lang), end: fmtDateTime(w.window.end, lang) }) + ' · ' + t('watermark') + ' ' + fmtDateTime(w.window.watermark, lang));
    else if (state.from !== undefined && state.to !== undefined) setText(windowInfo, t('panel.window', { start: fmtDateTime(state.from, lang), end: fmtDateTime(state.to, lang) }));
  }

  function renderLive() {
    ensureCharts();
    const hs = hist();
    liveEmpty.hidden = hs.size >= 2;
    liveChart!.setData(hs.rateColumns());
  }

  const shopWindow = (key: WindowKey): WindowData | null => (last ? (last.windows[key] ?? (key === '5m' ? last : null)) : null);

  /** Every live panel from one window: the shop-wide snapshot, or the filtered answer. */
  function renderWindow(w: FilteredWindow, key: WindowKey, history: SnapshotHistory) {
    renderLive();
    renderKpisLive(w, key, history);
    renderFunnel(w);
    renderBreakdowns(w, shopWindow(key));
    renderProductsFromWindow(w);
    renderProductDetail(shopWindow(key) ?? w);
    renderWindowInfo(w);
    renderCoverage(w);
    maybeRefreshHttp(w.window.watermark);
  }

  /** An install without any event yet: the welcome replaces the empty panels. */
  function renderWelcome(s: Snapshot | null) {
    const empty = !!s && toMs(s.window?.watermark) === null && !s.events_applied;
    welcome.hidden = !empty;
    el.classList.toggle('empty-install', empty);
    return empty;
  }

  function renderSnapshot(s: Snapshot) {
    last = s;
    if (renderWelcome(s)) return;
    if (filtered()) {
      // The socket is shop-wide: with a filter it only keeps the product rank and shares current.
      const key = windowKey();
      if (key && lastFiltered) {
        renderBreakdowns(lastFiltered, shopWindow(key));
        renderProductDetail(shopWindow(key));
      }
      return;
    }
    renderLive();
    const key = windowKey();
    if (!key) return;
    const w = shopWindow(key);
    if (!w) return;
    renderWindow(w, key, ctx.history);
  }

  // ---- filtered polling (HTTP, 1 Hz) and the trending list (every 30 s) ----
  let timer: ReturnType<typeof setInterval> | null = null;
  let polling = false;
  let pollGen = 0;
  let pollAbort: AbortController | null = null;
  function stopPoll() {
    pollGen++;
    pollAbort?.abort();
    pollAbort = null;
    polling = false;
  }
  let trendingAt = 0;

  async function pollFiltered() {
    const key = windowKey();
    if (!key || !filtered() || polling || document.hidden) return;
    polling = true;
    const gen = pollGen;
    const fq = filterQuery(state.filters);
    pollAbort = new AbortController();
    const signal = pollAbort.signal;
    try {
      const [w, w1] = await Promise.all([
        getJson<FilteredWindow>(`/api/analytics/real-time?window=${key}${fq}`, signal),
        getJson<FilteredWindow>(`/api/analytics/real-time?window=1m${fq}`, signal),
      ]);
      if (gen !== pollGen) return;
      lastFiltered = w;
      fHistory.push({ window: w.window, windows: { [key]: w, '1m': w1 } }, Date.now());
      renderWindow(w, key, fHistory);
      note.classList.remove('error');
    } catch (e) {
      if ((e as Error)?.name === 'AbortError' || gen !== pollGen) return;
      note.hidden = false;
      note.classList.add('error');
      setText(note, t('error.load', { e: (e as Error)?.message ?? String(e) }));
    } finally {
      if (gen === pollGen) polling = false;
    }
  }

  function renderCoverage(w: { complete?: boolean; covered_from?: string } | null) {
    const partial = !!w && w.complete === false && !!w.covered_from;
    note.hidden = !partial;
    note.classList.remove('error');
    if (partial) {
      setText(note, t('filters.partial', { t: fmtDateTime(w!.covered_from!, lang) }));
      setTitle(note, t('filters.partial.help') + ' ' + w!.covered_from);
    }
  }

  async function loadTrending() {
    if (document.hidden) return;
    trendingAt = Date.now();
    try {
      const tr = await getJson<Trending>('/api/products/trending?limit=5');
      const list = tr.recommendations ?? [];
      const reason = (x: (typeof list)[number]) =>
        x.reason_code ? translateMaybe(lang, 'reco.reason.' + x.reason_code, x.reason ?? '').replace('{v}', x.related_id ?? '') : (x.reason ?? '');
      renderBars(
        trending.body,
        list.map((x) => ({ id: x.product_id, label: x.product_id, sub: reason(x) || undefined, value: Math.max(0, x.score ?? 0), valueText: fmtInt(Math.round(x.score ?? 0), lang), title: t('list.drill', { v: x.product_id }) })),
        { kind: 'trending', selected: state.filters.product, onPick: (id) => toggle('product', id), emptyText: t('trending.empty'), open: openLink },
      );
    } catch (e) {
      showError(trending.body, e);
    }
  }

  function tick() {
    if (document.hidden) return;
    if (filtered()) void pollFiltered();
    if (Date.now() - trendingAt >= TRENDING_MS) void loadTrending();
  }
  const onVisible = () => !document.hidden && timer && tick();

  // ---- HTTP-backed panels: trends, filtered/custom products ----
  let trendsKey = '';
  let productsKey = '';
  let rangeKey = '';
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
    // Requests finish within seconds; only the newest can still be in flight,
    // so an open page keeps a bounded list.
    if (aborts.length > 32) aborts.splice(0, aborts.length - 32);
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
    const tk = `${chartFrom}|${to}|${step}|${state.range}|${!!state.forecast}`;
    if (tk !== trendsKey) {
      trendsKey = tk;
      const forecast = !!state.forecast && state.range !== 'custom' && STEP_MS[step] <= 15 * 60_000;
      const q = `/api/analytics/trends?from=${chartFrom}&to=${to}&step=${step}${filterQuery(state.filters)}${forecast ? '&forecast=' + FORECAST : ''}`;
      getJson<Trends>(q, ctl())
        .then((tr) => renderTrends(tr, from, step))
        .catch((e) => (showError(revenue.body, e), showError(traffic.body, e)));
    }
    if (rangeServed()) {
      const fq = filterQuery(state.filters);
      const rk = `${from}|${to}|${step}|${fq}`;
      if (rk !== rangeKey) {
        rangeKey = rk;
        getJson<RangeAnswer>(`/api/analytics/range?from=${from}&to=${to}&step=${step}&limit=10${fq}`, ctl())
          .then((r) => renderRange(r, from, to))
          .catch((e) => {
            for (const p of [funnel, categories, products, devices, locations]) showError(p.body, e);
            for (const k of KPI_KEYS) cards[k].setNa(t('range.custom'), t('error.load', { e: (e as Error)?.message ?? String(e) }));
          });
      }
    }
    const cat = state.filters.category;
    if (state.range === 'custom' && !rangeServed()) {
      const pk = `${cat}|${from}|${to}`;
      if (pk !== productsKey) {
        productsKey = pk;
        const base = cat ? `/api/products/categories/${encodeURIComponent(cat)}/popular` : '/api/products/popular';
        getJson<PopularProducts>(`${base}?window=${windowParam(len)}&end=${to}&limit=10`, ctl())
          .then((pp) =>
            renderBars(
              products.body,
              pp.products.map((p) => ({ id: p.product_id, label: p.product_id, sub: cat ? undefined : p.category_id, value: p.interactions, valueText: fmtInt(p.interactions, lang), title: t('list.drill', { v: p.product_id }) })),
              { kind: 'product', selected: state.filters.product, onPick: (id) => toggle('product', id), emptyText: t('empty.nodata'), open: openLink },
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
            renderProductDetail(state.range === 'custom' ? null : shopWindow(state.range as Preset));
          })
          .catch(() => undefined);
      }
    }
  }

  /** A custom range, with or without drill-down filters, is answered whole by /api/analytics/range (exact: it reads the log). */
  function rangeServed() {
    return state.range === 'custom';
  }

  /** Every panel of a custom range from one /api/analytics/range answer (previous period of equal length included). */
  function renderRange(r: RangeAnswer, from: number, to: number) {
    if (r.currency) ctx.currency = r.currency;
    const len = to - from;
    const spark: Record<KpiKey, number[]> = {
      active_users: [],
      page_views: r.series.map((p) => p.page_views),
      purchases: r.series.map((p) => p.purchases),
      revenue: r.series.map((p) => p.revenue),
      average_order_value: r.series.map((p) => (p.purchases ? p.revenue / p.purchases : 0)),
      conversion_rate: [],
    };
    for (const k of KPI_KEYS) {
      const cur = r[k];
      const p = r.previous[k];
      setKpi(k, cur, p);
      cards[k].set(
        fmtKpi[k](cur),
        cur,
        delta(cur, p, lang),
        t('kpi.delta.help', { start: fmtDateTime(from - len, lang), end: fmtDateTime(from, lang), prev: fmtKpi[k](p) }),
        t('kpi.vs', { w: t('range.custom') }),
        spark[k],
        t('kpi.spark.help', { n: spark[k].length }),
      );
    }
    const w = r as unknown as WindowData;
    renderFunnel(w);
    renderBreakdowns(w);
    renderProductsFromWindow(w);
    ensureCharts();
    const stepMs = STEP_MS[r.step] ?? 60_000;
    setPanelTitle(traffic, t('panel.traffic', { step: r.step }));
    trafficChart!.setData([r.series.map((p) => (toMs(p.start) ?? 0) / 1000), r.series.map((p) => p.page_views), r.series.map((p) => p.add_to_cart), r.series.map((p) => p.purchases)]);
    trafficHost.dataset.source = 'range';
    trafficHost.dataset.stepMs = String(stepMs);
    traffic.body.querySelector('.error')?.remove();
    setText(windowInfo, t('panel.window', { start: fmtDateTime(from, lang), end: fmtDateTime(to, lang) }) + ' · ' + t('range.exact'));
    el.dataset.range = 'served';
  }

  function showError(host: HTMLElement, e: unknown) {
    if ((e as Error)?.name === 'AbortError') return;
    host.querySelector('.error')?.remove();
    host.append(h('p', { className: 'error' }, t('error.load', { e: (e as Error)?.message ?? String(e) })));
  }

  function renderTrends(tr: Trends, from: number, step: string) {
    const stepMs = STEP_MS[step] ?? 60_000;
    setPanelTitle(revenue, t('panel.revenue', { step }));
    setPanelTitle(traffic, t('panel.traffic', { step }));
    const c = forecastColumns(tr, stepMs, state.range === 'custom' ? from : -Infinity);
    ensureCharts();
    const inRange = tr.points.filter((p) => (toMs(p.start) ?? 0) + stepMs > (state.range === 'custom' ? from : -Infinity));
    if (!rangeServed()) trafficChart!.setData([inRange.map((p) => (toMs(p.start) ?? 0) / 1000), inRange.map((p) => p.page_views), inRange.map((p) => p.add_to_cart), inRange.map((p) => p.purchases)]);
    // Revenue only where there are prices (e.g. the Taobao behaviour data has none).
    const unpriced = !tr.points.some((p) => p.revenue > 0) && tr.points.some((p) => p.purchases > 0);
    noPrices.hidden = !unpriced;
    revenueChart!.setHidden(unpriced);
    revenueChart!.setData([c.xs, c.observed, c.forecast, c.lower, c.upper, c.anomaly]);
    revenueHost.dataset.forecastPoints = String(c.forecastPoints);
    revenueHost.dataset.historyPoints = String(c.historyPoints);
    revenueHost.dataset.anomalies = String(c.anomalies);
    fcToggle.checked = !!state.forecast;
    fcLegend.hidden = c.forecastPoints === 0;
    setText(fcLegend.querySelector<HTMLElement>('[data-role="anomaly-count"]')!, `${t('forecast.legend.anomaly')} (${fmtInt(c.anomalies, lang)})`);
    fcNa.hidden = !state.forecast || (!!tr.forecast?.available && !c.tooShort);
    if (c.tooShort) setText(fcNa, t('forecast.short', { n: c.historyPoints, min: MIN_FORECAST_HISTORY }));
    else if (tr.forecast && !tr.forecast.available) setText(fcNa, t('forecast.na', { d: tr.forecast.detail ?? '' }));
    else if (state.forecast && state.range === 'custom') setText(fcNa, t('forecast.custom'));
    revenue.body.querySelector('.error')?.remove();
    traffic.body.querySelector('.error')?.remove();
  }

  function renderFilterNote() {
    setPanelTitle(products, state.filters.category ? t('panel.products.category', { c: state.filters.category }) : t('panel.products'));
    setPanelTitle(live, t('panel.live'), filtered() ? t('panel.live.filtered.help') : t('panel.live.help'));
  }

  return {
    el,
    show(next, prev) {
      const rangeChanged = !prev || prev.range !== next.range || prev.from !== next.from || prev.to !== next.to;
      const filterChanged = !prev || JSON.stringify(prev.filters) !== JSON.stringify(next.filters);
      state = next;
      if (rangeChanged || filterChanged) {
        abortAll();
        trendsKey = productsKey = productInfoKey = rangeKey = '';
        delete el.dataset.range;
        if (!next.filters.product) productInfo = null;
        stopPoll();
        fHistory.clear();
        lastFiltered = null;
        renderCoverage(null);
      }
      renderFilterNote();
      if (!timer) {
        timer = setInterval(tick, FILTER_POLL_MS);
        document.addEventListener('visibilitychange', onVisible);
        trendingAt = 0;
      }
      if (trendingAt === 0) void loadTrending();
      if (filtered()) {
        // Until the first filtered answer arrives, keep the shop-wide figures off the cards.
        if (rangeChanged || filterChanged) {
          for (const k of KPI_KEYS) cards[k].setNa('…', t('empty.waiting'));
          kpiValues.clear();
          renderLive();
        }
        if (lastFiltered) renderWindow(lastFiltered, next.range as Preset, fHistory);
        void pollFiltered();
      } else if (next.range === 'custom') {
        if (rangeChanged || filterChanged) {
          for (const k of KPI_KEYS) cards[k].setNa('…', t('empty.waiting'));
          kpiValues.clear();
          for (const p of [funnel, devices, locations, categories, products]) p.body.replaceChildren(h('p', { className: 'empty' }, t('empty.waiting')));
        }
        renderWindowInfo(null);
        renderProductDetail(null);
        maybeRefreshHttp(null);
        if (last) renderLive();
      } else if (last) {
        renderSnapshot(last);
        if (filterChanged) renderCoverage(null);
      } else {
        const waiting = t('empty.waiting');
        for (const p of [funnel, devices, locations, categories, products]) if (!p.body.firstChild) p.body.append(h('p', { className: 'empty' }, waiting));
      }
      fcToggle.checked = !!next.forecast;
      liveChart?.flush();
      trafficChart?.flush();
      revenueChart?.flush();
    },
    hide() {
      abortAll();
      stopPoll();
      if (timer) clearInterval(timer);
      timer = null;
      document.removeEventListener('visibilitychange', onVisible);
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
      stopPoll();
      if (timer) clearInterval(timer);
      timer = null;
      document.removeEventListener('visibilitychange', onVisible);
      liveChart?.destroy();
      trafficChart?.destroy();
      revenueChart?.destroy();
    },
  };
}

// Products: one product's live KPIs, trend, category ranking and similar products.
// #/products?product=<id>&range=1h — polled over HTTP every 2 s while visible
// (the socket is shop-wide); trends are refetched when the watermark enters a new minute.

import { ApiError, getJson, stepFor, windowParam, type FilteredWindow, type PopularProducts, type Recommendation, type Snapshot, type Trends, type TrendPoint } from '../api';
import { MINUTE_INCRS, TimeChart, cssVar } from '../charts';
import type { Ctx, View } from '../context';
import { append, h, setText, setTitle } from '../dom';
import { delta, fmtInt, fmtMoney, fmtMoneyCompact, fmtNumber, fmtPercent, fmtTime, toMs, fmtDateTime } from '../format';
import { translateMaybe, type Key } from '../i18n';
import { rankingRows, trendColumns, trendTotals, type RankedProduct } from '../product';
import { openProduct, PRESET_MS, withFilter, type AppState, type Preset } from '../state';
import { setExport, type TableData } from '../export';
import { rankingTable } from '../tables';
import { exportButtons, kpiCard, panel, renderBars, setPanelTitle, type KpiCard } from './widgets';

const POLL_MS = 2000;
const SLOW_MS = 30_000;
const RANK_TOP = 10;
const KPIS = ['page_views', 'add_to_cart', 'purchases', 'revenue', 'conversion_rate', 'active_users'] as const;
type ProductKpi = (typeof KPIS)[number];
/** trend point field behind each card's sparkline */
const SPARK_FIELD: Record<ProductKpi, keyof TrendPoint> = {
  page_views: 'page_views',
  add_to_cart: 'add_to_cart',
  purchases: 'purchases',
  revenue: 'revenue',
  conversion_rate: 'conversion_rate',
  active_users: 'unique_users',
};

export function createProducts(ctx: Ctx): View {
  const { t, lang } = ctx;
  const money = (v: number | null | undefined) => fmtMoney(v, lang, ctx.currency);
  const fmtKpi: Record<ProductKpi, (v: number) => string> = {
    page_views: (v) => fmtInt(v, lang),
    add_to_cart: (v) => fmtInt(v, lang),
    purchases: (v) => fmtInt(v, lang),
    revenue: money,
    conversion_rate: (v) => fmtPercent(v, lang),
    active_users: (v) => fmtInt(v, lang),
  };
  const reasonOf = (x: Recommendation) =>
    x.reason_code ? translateMaybe(lang, 'reco.reason.' + x.reason_code, x.reason ?? '').replace('{v}', x.related_id ?? '') : (x.reason ?? '');

  // ---- skeleton ----
  const datalist = h('datalist', { id: 'product-ids' });
  const input = h('input', { type: 'search', name: 'product', list: 'product-ids', placeholder: t('products.placeholder'), 'aria-label': t('products.placeholder'), autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { className: 'search', role: 'search' }, input, h('button', { type: 'submit', className: 'primary' }, t('products.open')), datalist);
  const picks = h('div', { className: 'product-picks', 'data-role': 'picks' });
  const heading = h('h2', { className: 'product-heading' }, t('products.title'));
  const catEl = h('span', { className: 'product-cat', title: t('products.category.help'), 'data-role': 'category' });
  const rankEl = h('span', { className: 'badge', 'data-role': 'rank' });
  const updated = h('span', { className: 'muted small', 'data-role': 'updated' });
  const note = h('p', { className: 'note', hidden: true, role: 'status' });
  const unknown = h('p', { className: 'note error', hidden: true, role: 'alert', 'data-role': 'unknown' });
  const searchPanel = h(
    'section',
    { className: 'panel product-search' },
    h('div', { className: 'product-title' }, heading, h('span', { className: 'product-meta' }, catEl, rankEl, updated)),
    form,
    picks,
  );

  const cards = {} as Record<ProductKpi, KpiCard>;
  const kpiGrid = h('div', { className: 'kpis' });
  for (const k of KPIS) {
    const label = k === 'add_to_cart' ? t('products.kpi.add_to_cart') : t(('kpi.' + k) as Key);
    cards[k] = kpiCard(k, label, t(('products.kpi.' + k + '.help') as Key));
    kpiGrid.append(cards[k].el);
  }
  // The cards download as the Overview's do: each figure with the previous period's, as shown (null where "not available").
  const kpiValues = new Map<ProductKpi, [number | null, number | null]>();
  setExport(kpiGrid, () => (kpiValues.size ? { columns: ['kpi', 'value', 'previous'], rows: KPIS.map((k) => [k, kpiValues.get(k)?.[0] ?? null, kpiValues.get(k)?.[1] ?? null]) } : null));
  const kpiBlock = h('section', { className: 'kpi-block', 'data-panel': 'product-kpis', 'aria-label': t('panel.kpis') });
  kpiBlock.append(h('div', { className: 'kpi-tools' }, exportButtons(kpiBlock, () => t('panel.kpis'))), kpiGrid);
  const trend = panel(t('products.trend', { step: '1m' }), t('products.trend.help'), 'wide');
  trend.el.dataset.panel = 'product-trend';
  const trendHost = h('div', { className: 'chart', 'data-chart': 'product-trend' });
  trend.body.append(trendHost);
  const revenue = panel(t('products.revenue', { step: '1m' }), t('products.revenue.help'), 'wide');
  revenue.el.dataset.panel = 'product-revenue';
  const revenueHost = h('div', { className: 'chart', 'data-chart': 'product-revenue' });
  revenue.body.append(revenueHost);
  const rank = panel(t('products.rank', { c: '—' }), t('products.rank.help'));
  rank.el.dataset.panel = 'category-rank';
  const similar = panel(t('products.similar'), t('products.similar.help'));
  similar.el.dataset.panel = 'similar';
  /** the ranking shown, for its download; null while none is */
  let ranking: TableData | null = null;
  setExport(rank.body, () => ranking);
  const body = h('div', { className: 'product-body', hidden: true }, note, kpiBlock, h('div', { className: 'grid' }, trend.el, rank.el, revenue.el, similar.el));
  const el = h('div', { className: 'view products', 'data-view': 'products' }, searchPanel, unknown, body);

  let state: AppState = ctx.state.get();
  let pid = '';
  let category: string | null = null;
  let known = true;
  let trendChart: TimeChart | null = null;
  let revenueChart: TimeChart | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;
  let aborts: AbortController[] = [];
  let gen = 0;
  let polling = false;
  let trendsKey = '';
  let rankKey = '';
  let rankAt = 0;
  let similarAt = 0;
  let lastTrend: TrendPoint[] = [];
  let picksKey = '';

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = input.value.trim();
    if (id) open(id);
  });

  const preset = (): Preset | null => (state.range === 'custom' ? null : (state.range as Preset));
  const open = (id: string) => ctx.go(openProduct(state, id), true);

  /** getJson that abortAll() cancels; its controller is dropped once settled (the page polls for hours). */
  async function fetchJson<T>(url: string): Promise<T> {
    const a = new AbortController();
    aborts.push(a);
    try {
      return await getJson<T>(url, a.signal);
    } finally {
      const i = aborts.indexOf(a);
      if (i >= 0) aborts.splice(i, 1);
    }
  }
  function abortAll() {
    for (const a of aborts) a.abort();
    aborts = [];
    gen++;
    polling = false;
  }
  const isAbort = (e: unknown) => (e as Error)?.name === 'AbortError';
  function showError(host: HTMLElement, e: unknown) {
    if (isAbort(e)) return;
    host.querySelector(':scope > .error')?.remove();
    host.append(h('p', { className: 'error' }, t('error.load', { e: (e as Error)?.message ?? String(e) })));
  }

  function ensureCharts() {
    if (trendChart) return;
    const step = (s: number) => fmtTime(s * 1000, lang, false);
    trendChart = new TimeChart(trendHost, {
      height: 220,
      series: [
        { label: t('event.view'), color: cssVar('--c-view') },
        { label: t('event.add_to_cart'), color: cssVar('--c-cart') },
        { label: t('event.purchase'), color: cssVar('--c-purchase'), width: 2 },
      ],
      yValue: (v) => fmtNumber(v, lang, 1),
      timeFmt: step,
      xIncrs: MINUTE_INCRS,
      xLabel: t('users.col.time'),
      ariaLabel: t('chart.traffic.aria'),
      tableLabel: t('chart.table'),
    });
    revenueChart = new TimeChart(revenueHost, {
      height: 180,
      series: [{ label: t('kpi.revenue'), color: cssVar('--c-purchase'), bars: true, value: (v) => money(v) }],
      yValue: (v) => fmtMoneyCompact(v, lang, ctx.currency),
      timeFmt: step,
      xIncrs: MINUTE_INCRS,
      xLabel: t('users.col.time'),
      ariaLabel: t('chart.revenue.aria', { c: ctx.currency }),
      tableLabel: t('chart.table'),
    });
  }

  // ---- picks (no product chosen) ----
  function renderPicks(s: Snapshot | null) {
    const list = s?.windows?.['5m']?.popular_products ?? s?.popular_products ?? [];
    const ids = new Set<string>(list.map((p) => p.product_id));
    for (const p of s?.windows?.['1h']?.popular_products ?? []) ids.add(p.product_id);
    const key = [...ids].join('|') + '|' + (pid ? 1 : 0);
    if (key === picksKey) return;
    picksKey = key;
    datalist.replaceChildren(...[...ids].map((id) => h('option', { value: id })));
    if (pid) {
      picks.replaceChildren();
      return;
    }
    picks.replaceChildren();
    append(picks, [
      h('p', { className: 'muted' }, list.length ? t('products.hint') : t('products.hint.none')),
      list.length
        ? h('ul', { className: 'chips static' }, ...list.map((p) => h('li', null, h('button', { type: 'button', className: 'chip link', 'data-product': p.product_id, title: t('products.open.title', { p: p.product_id }), onclick: () => open(p.product_id) }, p.product_id + ' ', h('strong', null, fmtInt(p.interactions, lang))))))
        : null,
    ]);
  }

  // ---- KPIs ----
  function sparkOf(k: ProductKpi, from: number): number[] {
    const f = SPARK_FIELD[k];
    return lastTrend.filter((p) => (toMs(p.start) ?? 0) >= from).map((p) => Number(p[f]) || 0);
  }

  function renderLive(w: FilteredWindow) {
    const key = preset()!;
    const prev = w.previous;
    const from = (toMs(w.window.end) ?? 0) - PRESET_MS[key];
    for (const k of KPIS) {
      const cur = w[k];
      const p = prev[k];
      const spark = sparkOf(k, from - 60_000);
      kpiValues.set(k, [cur, p]);
      cards[k].set(
        fmtKpi[k](cur),
        cur,
        delta(cur, p, lang),
        t('kpi.delta.help', { start: fmtDateTime(prev.start, lang), end: fmtDateTime(prev.end, lang), prev: fmtKpi[k](p) }),
        t('kpi.vs', { w: t(('range.' + key) as Key) }),
        spark,
        t('products.kpi.spark.help', { n: spark.length }),
      );
    }
    const partial = w.complete === false && !!w.covered_from;
    note.hidden = !partial;
    if (partial) setText(note, t('filters.partial', { t: fmtDateTime(w.covered_from!, lang) }));
    setText(updated, t('products.updated', { t: fmtDateTime(w.timestamp, lang) }));
  }

  function renderCustomKpis(points: TrendPoint[], from: number, to: number) {
    const c = trendTotals(points, from, to);
    const len = to - from;
    const p = trendTotals(points, from - len, from);
    for (const k of KPIS) {
      if (k === 'active_users' || k === 'conversion_rate') {
        cards[k].setNa(t('range.custom'), t('kpi.custom.na'));
        kpiValues.set(k, [null, null]);
        continue;
      }
      const spark = sparkOf(k, from);
      kpiValues.set(k, [c[k], p[k]]);
      cards[k].set(fmtKpi[k](c[k]), c[k], delta(c[k], p[k], lang), t('kpi.delta.help', { start: fmtDateTime(from - len, lang), end: fmtDateTime(from, lang), prev: fmtKpi[k](p[k]) }), t('kpi.vs', { w: t('range.custom') }), spark, t('products.kpi.spark.help', { n: spark.length }));
    }
    note.hidden = false;
    setText(note, t('products.range.custom'));
  }

  function setCategory(c: string | null) {
    category = c;
    catEl.replaceChildren(
      t('products.category') + ': ',
      c
        ? h('button', { type: 'button', className: 'link', 'data-category': c, title: t('list.drill', { v: c }), onclick: () => ctx.go(withFilter({ ...state, view: 'overview', filters: {} }, 'category', c), true) }, c)
        : h('span', { className: 'muted' }, t('products.category.none')),
    );
  }

  // ---- HTTP ----
  /** [from, to) of the trend chart, and the KPI range start, for the current range and watermark. */
  function chartRange(watermark: string | null): { from: number; to: number; len: number } | null {
    if (state.range === 'custom') return state.from !== undefined && state.to !== undefined ? { from: state.from, to: state.to, len: state.to - state.from } : null;
    const wm = toMs(watermark);
    if (wm === null) return null;
    const to = Math.floor(wm / 60_000) * 60_000 + 60_000;
    const len = PRESET_MS[state.range as Preset];
    return { from: to - Math.max(len, 30 * 60_000), to, len };
  }

  function refreshTrends(watermark: string | null) {
    const r = chartRange(watermark);
    if (!r) return;
    const step = stepFor(r.to - r.from);
    const key = `${pid}|${r.from}|${r.to}|${step}`;
    if (key === trendsKey) return;
    trendsKey = key;
    const my = gen;
    fetchJson<Trends>(`/api/analytics/trends?from=${r.from}&to=${r.to}&step=${step}&product=${encodeURIComponent(pid)}`)
      .then((tr) => {
        if (my !== gen) return;
        lastTrend = tr.points;
        ensureCharts();
        setPanelTitle(trend, t('products.trend', { step }));
        setPanelTitle(revenue, t('products.revenue', { step }));
        trendChart!.setData(trendColumns(tr.points, ['page_views', 'add_to_cart', 'purchases'], r.from) as never);
        revenueChart!.setData(trendColumns(tr.points, ['revenue'], r.from) as never);
        trend.body.querySelector(':scope > .error')?.remove();
        if (state.range === 'custom') renderCustomKpis(tr.points, r.from, r.to);
        else if (lastLive) renderLive(lastLive);
      })
      .catch((e) => {
        trendsKey = '';
        showError(trend.body, e);
      });
  }

  let lastLive: FilteredWindow | null = null;
  let categoryTried = '';

  async function poll() {
    if (!pid || polling || document.hidden || !known) return;
    const key = preset();
    polling = true;
    const my = gen;
    try {
      if (key) {
        const w = await fetchJson<FilteredWindow>(`/api/analytics/real-time?window=${key}&product=${encodeURIComponent(pid)}`);
        if (my !== gen) return;
        lastLive = w;
        renderLive(w);
        const c = w.popular_categories[0]?.category_id ?? null;
        if (c) setCategory(c);
        else if (!category && categoryTried !== pid) await findCategory(my);
        refreshTrends(w.window.watermark);
      } else {
        if (!category && categoryTried !== pid) await findCategory(my);
        refreshTrends(null);
      }
      if (my !== gen) return;
      if (!category) setCategory(null);
      refreshRanking();
      if (Date.now() - similarAt >= SLOW_MS) void loadSimilar();
      body.querySelector(':scope > .error')?.remove();
    } catch (e) {
      if (my === gen) showError(body, e);
    } finally {
      if (my === gen) polling = false;
    }
  }

  /** The window had no event of the product: its category from the last 24 hours. */
  async function findCategory(my: number) {
    categoryTried = pid;
    const w = await fetchJson<FilteredWindow>(`/api/analytics/real-time?window=24h&product=${encodeURIComponent(pid)}`);
    if (my !== gen) return;
    const c = w.popular_categories[0]?.category_id ?? null;
    if (c) setCategory(c);
  }

  function refreshRanking() {
    if (!category) {
      rankKey = '';
      setPanelTitle(rank, t('products.rank', { c: '—' }));
      ranking = null;
      rank.body.replaceChildren(h('p', { className: 'empty' }, t('products.rank.nocat')));
      setText(rankEl, '');
      rankEl.hidden = true;
      return;
    }
    const custom = state.range === 'custom' && state.from !== undefined && state.to !== undefined;
    const q = custom ? `window=${windowParam(state.to! - state.from!)}&end=${state.to}` : 'window=1h';
    const key = `${pid}|${category}|${q}`;
    if (key === rankKey && Date.now() - rankAt < SLOW_MS) return;
    rankKey = key;
    rankAt = Date.now();
    const my = gen;
    const cat = category;
    setPanelTitle(rank, t('products.rank.range', { c: cat, w: custom ? t('range.custom') : t('products.last_hour') }));
    fetchJson<PopularProducts>(`/api/products/categories/${encodeURIComponent(cat)}/popular?${q}&limit=1000`)
      .then((pp) => {
        if (my !== gen) return;
        renderRanking(pp.products);
      })
      .catch((e) => {
        rankKey = '';
        ranking = null;
        if (e instanceof ApiError && e.status === 404) rank.body.replaceChildren(h('p', { className: 'empty' }, t('products.rank.out')));
        else showError(rank.body, e);
      });
  }

  function renderRanking(list: RankedProduct[]) {
    const { rows, rank: r, total } = rankingRows(list, pid, RANK_TOP);
    ranking = rankingTable(rows, category ?? '');
    rankEl.hidden = false;
    setText(rankEl, r ? t('products.rank.pos', { r, n: total }) : t('products.rank.out'));
    setTitle(rankEl, rank.title.textContent ?? '');
    if (!rows.length) {
      rank.body.replaceChildren(h('p', { className: 'empty' }, t('empty.nodata')));
      return;
    }
    const max = Math.max(...rows.map((x) => x.interactions), 1);
    rank.body.replaceChildren();
    append(rank.body, [
      h(
        'ol',
        { className: 'bars' },
        ...rows.map((x) =>
          h(
            'li',
            { className: x.detached ? 'detached' : '' },
            h(
              'button',
              {
                type: 'button',
                className: 'bar-row' + (x.self ? ' selected self' : ''),
                'data-kind': 'category-rank',
                'data-id': x.product_id,
                'data-rank': x.rank,
                'aria-current': x.self ? 'true' : 'false',
                title: x.self ? '' : t('products.open.title', { p: x.product_id }),
                onclick: () => (x.self ? undefined : open(x.product_id)),
              },
              h('span', { className: 'rank' }, String(x.rank)),
              h('span', { className: 'bar-label' }, x.product_id),
              h('span', { className: 'bar-value' }, fmtInt(x.interactions, lang)),
              h('span', { className: 'bar', style: `width:${Math.max(0.5, (100 * x.interactions) / max).toFixed(1)}%` }),
            ),
          ),
        ),
      ),
      r === null ? h('p', { className: 'muted small' }, t('products.rank.out')) : null,
    ]);
  }

  async function loadSimilar() {
    similarAt = Date.now();
    const my = gen;
    const id = pid;
    try {
      const r = await fetchJson<{ recommendations?: Recommendation[] }>(`/api/products/${encodeURIComponent(id)}/similar?limit=8`);
      if (my !== gen) return;
      setKnown(true);
      const list = r.recommendations ?? [];
      renderBars(
        similar.body,
        list.map((x) => ({ id: x.product_id, label: x.product_id, sub: reasonOf(x) || undefined, value: Math.max(0, x.score ?? 0), valueText: fmtNumber(x.score ?? 0, lang, 2), title: t('products.open.title', { p: x.product_id }) })),
        { kind: 'similar', onPick: open, emptyText: t('products.similar.empty') },
      );
    } catch (e) {
      if (my !== gen || isAbort(e)) return;
      if (e instanceof ApiError && e.status === 404) setKnown(false);
      else showError(similar.body, e);
    }
  }

  function setKnown(k: boolean) {
    if (known === k) return;
    known = k;
    unknown.hidden = k;
    body.hidden = !k;
    if (!k) {
      setText(unknown, t('products.unknown', { p: pid }));
      catEl.replaceChildren();
      rankEl.hidden = true;
      setText(updated, '');
    } else void poll();
  }

  function reset() {
    abortAll();
    trendsKey = rankKey = categoryTried = '';
    rankAt = similarAt = 0;
    lastTrend = [];
    lastLive = null;
    category = null;
    known = true;
    unknown.hidden = true;
    note.hidden = true;
    catEl.replaceChildren();
    rankEl.hidden = true;
    setText(updated, '');
    for (const k of KPIS) cards[k].setNa('…', t('empty.waiting'));
    kpiValues.clear();
    trendChart?.setData([[], [], [], []]);
    revenueChart?.setData([[], []]);
    ranking = null;
    rank.body.replaceChildren(h('p', { className: 'empty' }, '…'));
    similar.body.replaceChildren(h('p', { className: 'empty' }, '…'));
  }

  const tick = () => {
    if (pid && !document.hidden) void poll();
  };
  const onVisible = () => !document.hidden && timer && tick();

  return {
    el,
    show(next, prev) {
      const prevPid = pid;
      const rangeChanged = !prev || prev.range !== next.range || prev.from !== next.from || prev.to !== next.to;
      state = next;
      pid = next.filters.product ?? '';
      if (input.value.trim() !== pid) input.value = pid;
      heading.replaceChildren(t('products.title'));
      if (pid) heading.append(' ', h('code', null, pid));
      if (!pid) {
        abortAll();
        unknown.hidden = true;
        catEl.replaceChildren();
        rankEl.hidden = true;
        setText(updated, '');
      }
      picksKey = '';
      renderPicks(ctx.snapshot.get());
      if (pid && (pid !== prevPid || rangeChanged)) {
        reset();
        ensureCharts();
        void loadSimilar();
        void poll();
      }
      body.hidden = !pid || !known;
      if (!timer) {
        timer = setInterval(tick, POLL_MS);
        document.addEventListener('visibilitychange', onVisible);
      }
      trendChart?.flush();
      revenueChart?.flush();
    },
    hide() {
      abortAll();
      if (timer) clearInterval(timer);
      timer = null;
      document.removeEventListener('visibilitychange', onVisible);
      pid = '';
    },
    snapshot(s) {
      if (!pid) renderPicks(s);
    },
    destroy() {
      this.hide();
      trendChart?.destroy();
      revenueChart?.destroy();
    },
  };
}

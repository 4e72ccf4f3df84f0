// Entry: shell (header, filters, routes), live socket, language, routing.

import './styles.css';
import { askWatermark, getJson, newestEventMs, stepEvents, type Snapshot, type Trends } from './api';
import type { Ctx, View } from './context';
import { h, setText, setTitle } from './dom';
import { detectLang, fmtDateTime, fmtDuration, fromZoneInput, setDisplayZone, toMs, toZoneInput, zoneName, type Lang } from './format';
import { freshness } from './liveness';
import { exportTexts } from './views/widgets';
import { SnapshotHistory } from './history';
import { translate, type Key } from './i18n';
import { kioskPlan, startKiosk } from './kiosk';
import { activeFilters, getShopZone, nextZone, openProduct, parseHash, PRESETS, QUICK_RANGES, quickRange, sameState, setShopZone, Store, toHash, withFilter, zoneOf, type AppState, type QuickRange, type Range } from './state';
import { createOverview } from './views/overview';
import { createProducts } from './views/products';
import { createSystem } from './views/system';
import { createUsers } from './views/users';
import { createBrowse } from './views/browse';
import { createFunnels } from './views/funnels';
import { createRetention } from './views/retention';
import { createCluster } from './views/cluster';
import { coverageBoard, partialText, type ClusterStatus } from './cluster';
import { LiveSocket, type ConnState } from './ws';
import { setPromptTexts, withKey } from './auth';

const root = document.getElementById('app')!;
const state = new Store<AppState>(parseHash(location.hash));
const snapshot = new Store<Snapshot | null>(null);
const conn = new Store<ConnState>({ status: 'connecting', attempts: 0 });
const history = new SnapshotHistory(300);
/** Cluster mode (GET /api/cluster says enabled): the Cluster view is offered. */
const clusterMode = new Store<boolean>(false);

function langOf(s: AppState): Lang {
  return s.lang ?? detectLang(navigator.languages?.length ? navigator.languages : [navigator.language]);
}

function go(next: AppState, push = false) {
  const hash = toHash(next);
  if (hash !== location.hash) {
    if (push) window.history.pushState(null, '', hash);
    else window.history.replaceState(null, '', hash);
  }
  state.set(next);
}

window.addEventListener('hashchange', () => {
  const next = parseHash(location.hash);
  if (!sameState(next, state.get())) state.set(next);
});
// Normalise the URL once (e.g. an empty hash → #/overview).
window.history.replaceState(null, '', toHash(state.get()));

let shell: { destroy(): void } | null = null;
let builtLang: Lang | null = null;
let builtZone: string | undefined;

/** Newest event time: the latest snapshot's, or the server's before the first snapshot (null: an empty install). */
const newestEvent = () => newestEventMs(snapshot.get(), () => askWatermark());

/** First event's time, looked up once for the "whole data set" range (daily, then per-minute trends). */
let oldestCache: { newest: number; oldest: number | null } | null = null;
async function oldestEventMs(newest: number): Promise<number | null> {
  if (oldestCache && oldestCache.newest === newest) return oldestCache.oldest;
  const active = (p: Trends['points'][number]) => stepEvents(p) > 0;
  const end = Math.floor(newest / 60_000) * 60_000 + 60_000;
  const days = await getJson<Trends>(`/api/analytics/trends?from=${end - 400 * 86_400_000}&to=${end}&step=1d`);
  const day = days.points.find(active);
  let oldest: number | null = null;
  if (day) {
    const d0 = toMs(day.start)!;
    const mins = await getJson<Trends>(`/api/analytics/trends?from=${d0}&to=${Math.min(end, d0 + 86_400_000)}&step=1m`);
    oldest = toMs(mins.points.find(active)?.start) ?? d0;
  }
  oldestCache = { newest, oldest };
  return oldest;
}

function build() {
  shell?.destroy();
  const lang = langOf(state.get());
  builtLang = lang;
  const zone = zoneOf(state.get());
  builtZone = zone;
  setDisplayZone(zone);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  const t = (key: Key, vars?: Record<string, string | number>) => translate(lang, key, vars);
  document.title = 'shoppulse · ' + t('nav.overview');
  setPromptTexts({ read: t('auth.read.prompt'), admin: t('auth.admin.prompt') });
  exportTexts.csv = t('export.csv');
  exportTexts.json = t('export.json');
  exportTexts.none = t('export.none');
  const ctx: Ctx = { lang, currency: 'CNY', t, state, go, snapshot, conn, history };

  // ---- header ----
  const navLinks = (['overview', 'products', 'users', 'funnels', 'retention', 'browse', 'system', 'cluster'] as const).map((v) =>
    h('a', { href: '#/' + v, 'data-nav': v, hidden: v === 'cluster' && !clusterMode.get(), onclick: (e: Event) => (e.preventDefault(), go({ ...state.get(), view: v }, true)) }, t(('nav.' + v) as Key)),
  );
  const clusterLink = navLinks[navLinks.length - 1];
  const connEl = h('span', { className: 'conn', role: 'status', 'aria-live': 'polite', title: t('conn.help'), 'data-conn': 'connecting' }, h('span', { className: 'dot' }), h('span', { className: 'conn-text' }, t('conn.connecting')));
  const wmEl = h('span', { className: 'watermark', title: t('watermark.help') });
  const langBtn = h('button', { type: 'button', className: 'lang', 'data-action': 'lang', title: t('lang.switch.title'), onclick: () => go({ ...state.get(), lang: lang === 'zh' ? 'en' : 'zh' }) }, t('lang.switch'));
  const rangeBtns = ([...PRESETS, 'custom'] as Range[]).map((r) =>
    h(
      'button',
      {
        type: 'button',
        'data-range': r,
        onclick: async () => {
          let s = state.get();
          if (r !== 'custom') return go({ ...s, range: r, from: undefined, to: undefined }, true);
          // The hour ending at the newest event (imported history is not the last hour of the wall clock);
          // the wall clock's only when there is no event or the server cannot say.
          const newest = s.from !== undefined && s.to !== undefined ? null : await newestEvent().catch(() => null);
          const q = quickRange('hour', newest ?? Date.now());
          s = state.get();
          go({ ...s, range: 'custom', from: s.from ?? q!.from, to: s.to ?? q!.to }, true);
        },
      },
      t(('range.' + r) as Key),
    ),
  );
  const fromIn = h('input', { type: 'datetime-local', 'aria-label': t('range.from'), step: 60 });
  const toIn = h('input', { type: 'datetime-local', 'aria-label': t('range.to'), step: 60 });
  const quickError = h('span', { className: 'error small', role: 'status' });
  const pickQuick = async (kind: QuickRange) => {
    setText(quickError, '');
    let newest: number | null;
    let oldest: number | null = null;
    try {
      newest = await newestEvent();
      if (newest === null) return void setText(quickError, t('range.quick.none'));
      if (kind === 'all') oldest = await oldestEventMs(newest);
    } catch (e) {
      return void setText(quickError, t('error.load', { e: (e as Error)?.message ?? String(e) }));
    }
    const q = quickRange(kind, newest, oldest);
    if (q) go({ ...state.get(), range: 'custom', ...q }, true);
  };
  const quickBtns = QUICK_RANGES.map((k) => h('button', { type: 'button', className: 'link', 'data-quick': k, title: t(('range.quick.' + k + '.help') as Key), onclick: () => void pickQuick(k) }, t(('range.quick.' + k) as Key)));
  const custom = h(
    'form',
    { className: 'custom-range', hidden: true },
    h('label', null, t('range.from'), ' ', fromIn),
    h('label', null, t('range.to'), ' ', toIn),
    h('span', { className: 'zone-note muted small', 'data-role': 'input-zone' }, zoneName(zone)),
    h('button', { type: 'submit', className: 'primary' }, t('range.apply')),
    h('span', { className: 'quick', role: 'group', 'aria-label': t('range.quick.label') }, h('span', { className: 'muted small' }, t('range.quick.label') + ':'), ...quickBtns),
    quickError,
  );
  custom.addEventListener('submit', (e) => {
    e.preventDefault();
    const from = fromZoneInput(fromIn.value, zone);
    const to = fromZoneInput(toIn.value, zone);
    if (Number.isFinite(from) && Number.isFinite(to) && from < to) go({ ...state.get(), range: 'custom', from, to }, true);
  });
  const zoneBtn = h(
    'button',
    { type: 'button', className: 'zone', 'data-action': 'zone', title: t('zone.switch.title') },
    t('zone.label', { z: state.get().zone === 'shop' && zone ? t('zone.shop', { z: zone }) : zoneName(zone) }),
  );
  zoneBtn.addEventListener('click', () => go({ ...state.get(), zone: nextZone(state.get(), getShopZone()) }));
  const copyStatus = h('span', { className: 'copy-status small', role: 'status' });
  const copyBtn = h('button', { type: 'button', className: 'copy-link', 'data-action': 'copy-link', title: t('copy.title') }, t('copy.label'));
  copyBtn.addEventListener('click', async () => {
    // The hash holds the whole view state (page, range, zone, filters, language, forecast).
    const url = location.href;
    try {
      await navigator.clipboard.writeText(url);
      setText(copyStatus, t('copy.done'));
    } catch {
      window.prompt(t('copy.manual'), url);
      setText(copyStatus, '');
    }
    copyBtn.dataset.copied = url;
  });
  // Not a live region: it counts seconds, which a screen reader would read out every second.
  const freshEl = h('span', { className: 'fresh', 'data-fresh': 'waiting', hidden: true });
  const rangeBar = h('div', { className: 'range', role: 'group', 'aria-label': t('range.label'), title: t('range.help') }, ...rangeBtns);
  const header = h(
    'header',
    { className: 'top' },
    h('h1', { className: 'brand' }, h('span', { className: 'logo', 'aria-hidden': 'true' }, '◉'), h('span', null, 'shoppulse')),
    h('nav', { className: 'tabs', 'aria-label': t('nav.label') }, ...navLinks),
    h('div', { className: 'tools' }, connEl, freshEl, wmEl, zoneBtn, langBtn, copyBtn, copyStatus, h('a', { className: 'docs', href: '/docs', target: '_blank', rel: 'noopener' }, t('nav.docs'))),
  );
  const chips = h('ul', { className: 'chips' });
  const filterBar = h('div', { className: 'filterbar', hidden: true }, h('span', { className: 'muted' }, t('filters.label')), chips);
  const controls = h('div', { className: 'controls' }, rangeBar, custom);
  const viewHost = h('div', { className: 'view-host' });
  // Cluster mode: a figure on screen misses partitions (README "Cluster", coverage).
  const partialBanner = h('p', { className: 'partial-banner', role: 'status', 'data-role': 'partial', title: t('cluster.partial.help'), hidden: true });
  const main = h('main', { id: 'main' }, partialBanner, controls, filterBar, viewHost);
  const footer = h(
    'footer',
    null,
    h('a', { href: '/docs', target: '_blank', rel: 'noopener' }, t('footer.docs')),
    ' · ',
    h('a', { href: '/metrics', target: '_blank', rel: 'noopener' }, t('footer.metrics')),
    ' · ',
    h('a', { href: '/api/health', target: '_blank', rel: 'noopener' }, '/api/health'),
  );
  root.replaceChildren(header, main, footer);

  const views: Record<AppState['view'], View> = { overview: createOverview(ctx), products: createProducts(ctx), users: createUsers(ctx), funnels: createFunnels(ctx), retention: createRetention(ctx), browse: createBrowse(ctx), system: createSystem(ctx), cluster: createCluster(ctx) };
  let current: AppState['view'] | null = null;
  let prevState: AppState | null = null;


  function renderState(s: AppState) {
    for (const a of navLinks) a.classList.toggle('active', a.dataset.nav === s.view), a.setAttribute('aria-current', a.dataset.nav === s.view ? 'page' : 'false');
    for (const b of rangeBtns) b.classList.toggle('active', b.dataset.range === s.range), b.setAttribute('aria-pressed', String(b.dataset.range === s.range));
    controls.hidden = !['overview', 'products', 'funnels', 'retention', 'browse'].includes(s.view);
    custom.hidden = s.range !== 'custom';
    if (s.range === 'custom' && s.from !== undefined && s.to !== undefined) {
      fromIn.value = toZoneInput(s.from, zone);
      toIn.value = toZoneInput(s.to, zone);
    }
    const f = activeFilters(s);
    filterBar.hidden = f.length === 0 || s.view !== 'overview';
    chips.replaceChildren(
      ...f.map(([k, v]) =>
        h('li', { className: 'chip', 'data-filter': k }, h('span', null, t(('filter.' + k) as Key) + ': '), h('strong', null, v), k === 'product' ? h('a', { className: 'open', href: toHash(openProduct(state.get(), v)), title: t('products.open.title', { p: v }), 'aria-label': t('products.open.title', { p: v }), 'data-action': 'open-product', onclick: (e: Event) => (e.preventDefault(), go(openProduct(state.get(), v), true)) }, '↗') : null, h('button', { type: 'button', className: 'x', title: t('filters.remove'), 'aria-label': t('filters.remove') + ' ' + v, onclick: () => go(withFilter(state.get(), k, undefined), true) }, '×')),
      ),
      ...(f.length > 1 ? [h('li', null, h('button', { type: 'button', className: 'link', onclick: () => go({ ...state.get(), filters: {} }, true) }, t('filters.clear')))] : []),
    );
    if (current !== s.view) {
      if (current) views[current].hide();
      // The new view asks its own answers; the live message's coverage stays.
      if (current) coverageBoard.clear();
      current = s.view;
      viewHost.replaceChildren(views[s.view].el);
      prevState = null;
    }
    views[s.view].show(s, prevState);
    prevState = s;
  }

  /** Time the page last had a snapshot (wall clock), for "last updated" while disconnected. */
  let lastUpdated: number | null = null;
  function renderConn(c: ConnState) {
    connEl.dataset.conn = c.status;
    let text: string;
    if (c.status === 'open') text = t('conn.open');
    else if (c.status === 'retry') text = t('conn.retry', { s: Math.max(1, Math.ceil(((c.retryAt ?? Date.now()) - Date.now()) / 1000)) });
    else if (c.status === 'offline') text = t('conn.offline');
    else text = t('conn.connecting');
    const down = c.status !== 'open' && lastUpdated !== null;
    if (down) text += ' · ' + t('conn.last', { t: fmtDateTime(lastUpdated, lang) });
    setText(connEl.querySelector('.conn-text')!, text);
    // Figures on screen are no longer live: dim them until the socket is back.
    root.classList.toggle('disconnected', down);
    if (down) root.dataset.lastUpdated = String(lastUpdated);
    else delete root.dataset.lastUpdated;
  }

  function renderFresh() {
    const s = snapshot.get();
    if (!s) return;
    const f = freshness(toMs(s.window?.watermark), Date.now());
    freshEl.dataset.fresh = f.kind;
    let text = '';
    let title = '';
    if (f.kind === 'empty') text = t('fresh.empty');
    else if (f.kind === 'idle') {
      text = t('fresh.idle', { d: fmtDuration(f.idleS, lang) });
      freshEl.dataset.idleS = String(f.idleS);
    } else if (f.kind === 'historical') {
      text = t('fresh.historical', { t: fmtDateTime(f.newestMs, lang, zone, false) });
      title = t('fresh.historical.help');
    }
    freshEl.hidden = f.kind === 'live';
    setText(freshEl, text);
    setTitle(freshEl, title || text);
  }

  let firstKpi = true;
  function onSnapshot(s: Snapshot | null) {
    if (!s || document.hidden) return;
    // Money is in the server's configured currency (api.currency).
    if (s.currency) ctx.currency = s.currency;
    lastUpdated = Date.now();
    const wm = toMs(s.window?.watermark);
    setText(wmEl, wm === null ? '' : t('watermark') + ' ' + fmtDateTime(wm, lang) + ' ' + zoneName(zone));
    setTitle(wmEl, t('watermark.help') + ' ' + (s.window?.watermark ?? ''));
    renderFresh();
    const v = views[state.get().view];
    v.snapshot?.(s);
    if (firstKpi) {
      firstKpi = false;
      performance.mark('shoppulse:first-snapshot-rendered');
    }
  }

  function renderPartial() {
    const text = partialText(coverageBoard.worst(), t);
    partialBanner.hidden = text === null;
    setText(partialBanner, text ?? '');
  }

  const unsubs = [
    coverageBoard.subscribe(renderPartial),
    clusterMode.subscribe((on) => (clusterLink.hidden = !on)),
    state.subscribe((s) => {
      if (langOf(s) !== builtLang || zoneOf(s) !== builtZone) build();
      else renderState(s);
    }),
    conn.subscribe(renderConn),
    snapshot.subscribe(onSnapshot),
  ];
  const onVis = () => {
    if (!document.hidden) onSnapshot(snapshot.get());
  };
  document.addEventListener('visibilitychange', onVis);
  const retryTick = setInterval(() => {
    if (conn.get().status === 'retry') renderConn(conn.get());
    // "No events for N s" counts up on the wall clock between snapshots too.
    renderFresh();
  }, 1000);

  renderState(state.get());
  renderConn(conn.get());
  renderPartial();
  onSnapshot(snapshot.get());

  shell = {
    destroy() {
      unsubs.forEach((u) => u());
      document.removeEventListener('visibilitychange', onVis);
      clearInterval(retryTick);
      for (const v of Object.values(views)) v.destroy();
    },
  };
}

build();

const kiosk = kioskPlan(location.search);
if (kiosk) startKiosk(kiosk, () => state.get(), (s) => go(s));

const wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/real-time';
/**
 * The live chart starts from the server's per-minute history of the last 30
 * minutes before the newest event, not empty. Asked once per page load.
 */
let seeding = false;
async function seedHistory(watermark: string | null | undefined) {
  const wm = toMs(watermark);
  if (seeding || wm === null) return;
  seeding = true;
  const to = Math.floor(wm / 60_000) * 60_000;
  try {
    const tr = await getJson<Trends>(`/api/analytics/trends?from=${to - 30 * 60_000}&to=${to}&step=1m`);
    const points = tr.points
      .filter((p) => !p.partial)
      .map((p) => ({ startMs: toMs(p.start) ?? 0, page_views: p.page_views, clicks: p.clicks, add_to_cart: p.add_to_cart, purchases: p.purchases, total: stepEvents(p) }));
    // Leading empty minutes (before the data began) are not history.
    const first = points.findIndex((p) => p.total > 0);
    if (first >= 0 && history.seed(points.slice(first)) > 0) snapshot.set({ ...snapshot.get()! });
  } catch {
    seeding = false; // asked again with the next snapshot
  }
}

/**
 * The shop's time zone (api.time_zone) from the service information, asked
 * once; a zone the browser does not know is ignored. A page opened with
 * zone=shop is rebuilt in that zone once it is known.
 */
async function learnShopZone() {
  try {
    const info = await getJson<{ time_zone?: string | null }>('/');
    const zone = info.time_zone ?? undefined;
    if (zone) new Intl.DateTimeFormat('en', { timeZone: zone });
    setShopZone(zone);
  } catch {
    setShopZone(undefined);
  }
  if (zoneOf(state.get()) !== builtZone) build();
}
void learnShopZone();

/** Whether the server runs in cluster mode, asked once: the Cluster view is offered only then. */
async function learnClusterMode() {
  try {
    clusterMode.set((await getJson<ClusterStatus>('/api/cluster')).enabled === true);
  } catch {
    clusterMode.set(false);
  }
}
void learnClusterMode();

const socket = new LiveSocket({
  url: () => withKey(wsUrl),
  onMessage: (data, recvMs) => {
    const s = data as Snapshot;
    if (!s || s.type !== 'snapshot') return;
    history.push(s, recvMs);
    coverageBoard.note('ws', s);
    snapshot.set(s);
    if (history.size <= 2) void seedHistory(s.window?.watermark);
  },
  onState: (c) => conn.set({ ...c }),
});
socket.start();

// For end-to-end tests and debugging.
(window as unknown as { __shoppulse: unknown }).__shoppulse = { state, snapshot, conn, history, socket };

// Entry: shell (header, filters, routes), live socket, language, routing.

import './styles.css';
import type { Snapshot } from './api';
import type { Ctx, View } from './context';
import { h, setText, setTitle } from './dom';
import { detectLang, fmtTime, type Lang } from './format';
import { SnapshotHistory } from './history';
import { translate, type Key } from './i18n';
import { kioskPlan, startKiosk } from './kiosk';
import { activeFilters, openProduct, parseHash, PRESETS, sameState, Store, toHash, withFilter, type AppState, type Range } from './state';
import { createOverview } from './views/overview';
import { createProducts } from './views/products';
import { createSystem } from './views/system';
import { createUsers } from './views/users';
import { LiveSocket, type ConnState } from './ws';
import { setPromptTexts, withKey } from './auth';

const root = document.getElementById('app')!;
const state = new Store<AppState>(parseHash(location.hash));
const snapshot = new Store<Snapshot | null>(null);
const conn = new Store<ConnState>({ status: 'connecting', attempts: 0 });
const history = new SnapshotHistory(300);

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

function build() {
  shell?.destroy();
  const lang = langOf(state.get());
  builtLang = lang;
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  const t = (key: Key, vars?: Record<string, string | number>) => translate(lang, key, vars);
  document.title = 'shoppulse · ' + t('nav.overview');
  setPromptTexts({ read: t('auth.read.prompt'), admin: t('auth.admin.prompt') });
  const ctx: Ctx = { lang, currency: 'CNY', t, state, go, snapshot, conn, history };

  // ---- header ----
  const navLinks = (['overview', 'products', 'users', 'system'] as const).map((v) =>
    h('a', { href: '#/' + v, 'data-nav': v, onclick: (e: Event) => (e.preventDefault(), go({ ...state.get(), view: v }, true)) }, t(('nav.' + v) as Key)),
  );
  const connEl = h('span', { className: 'conn', role: 'status', 'aria-live': 'polite', title: t('conn.help'), 'data-conn': 'connecting' }, h('span', { className: 'dot' }), h('span', { className: 'conn-text' }, t('conn.connecting')));
  const wmEl = h('span', { className: 'watermark', title: t('watermark.help') });
  const langBtn = h('button', { type: 'button', className: 'lang', 'data-action': 'lang', title: t('lang.switch.title'), onclick: () => go({ ...state.get(), lang: lang === 'zh' ? 'en' : 'zh' }) }, t('lang.switch'));
  const rangeBtns = ([...PRESETS, 'custom'] as Range[]).map((r) =>
    h(
      'button',
      {
        type: 'button',
        'data-range': r,
        onclick: () => {
          const s = state.get();
          if (r !== 'custom') return go({ ...s, range: r, from: undefined, to: undefined }, true);
          const to = Math.floor(Date.now() / 60_000) * 60_000;
          go({ ...s, range: 'custom', from: s.from ?? to - 3_600_000, to: s.to ?? to }, true);
        },
      },
      t(('range.' + r) as Key),
    ),
  );
  const fromIn = h('input', { type: 'datetime-local', 'aria-label': t('range.from'), step: 60 });
  const toIn = h('input', { type: 'datetime-local', 'aria-label': t('range.to'), step: 60 });
  const custom = h(
    'form',
    { className: 'custom-range', hidden: true },
    h('label', null, t('range.from'), ' ', fromIn),
    h('label', null, t('range.to'), ' ', toIn),
    h('button', { type: 'submit', className: 'primary' }, t('range.apply')),
  );
  custom.addEventListener('submit', (e) => {
    e.preventDefault();
    const from = fromIn.value ? new Date(fromIn.value).getTime() : NaN;
    const to = toIn.value ? new Date(toIn.value).getTime() : NaN;
    if (Number.isFinite(from) && Number.isFinite(to) && from < to) go({ ...state.get(), range: 'custom', from, to }, true);
  });
  const rangeBar = h('div', { className: 'range', role: 'group', 'aria-label': t('range.label'), title: t('range.help') }, ...rangeBtns);
  const header = h(
    'header',
    { className: 'top' },
    h('div', { className: 'brand' }, h('span', { className: 'logo', 'aria-hidden': 'true' }, '◉'), h('strong', null, 'shoppulse')),
    h('nav', { className: 'tabs' }, ...navLinks),
    h('div', { className: 'tools' }, connEl, wmEl, langBtn, h('a', { className: 'docs', href: '/docs', target: '_blank', rel: 'noopener' }, t('nav.docs'))),
  );
  const chips = h('ul', { className: 'chips' });
  const filterBar = h('div', { className: 'filterbar', hidden: true }, h('span', { className: 'muted' }, t('filters.label')), chips);
  const controls = h('div', { className: 'controls' }, rangeBar, custom);
  const main = h('main', { id: 'main' });
  const footer = h(
    'footer',
    null,
    h('a', { href: '/docs', target: '_blank', rel: 'noopener' }, t('footer.docs')),
    ' · ',
    h('a', { href: '/metrics', target: '_blank', rel: 'noopener' }, t('footer.metrics')),
    ' · ',
    h('a', { href: '/api/health', target: '_blank', rel: 'noopener' }, '/api/health'),
  );
  root.replaceChildren(header, controls, filterBar, main, footer);

  const views: Record<AppState['view'], View> = { overview: createOverview(ctx), products: createProducts(ctx), users: createUsers(ctx), system: createSystem(ctx) };
  let current: AppState['view'] | null = null;
  let prevState: AppState | null = null;

  const toLocalInput = (ms: number) => {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
    return d.toISOString().slice(0, 16);
  };

  function renderState(s: AppState) {
    for (const a of navLinks) a.classList.toggle('active', a.dataset.nav === s.view), a.setAttribute('aria-current', a.dataset.nav === s.view ? 'page' : 'false');
    for (const b of rangeBtns) b.classList.toggle('active', b.dataset.range === s.range), b.setAttribute('aria-pressed', String(b.dataset.range === s.range));
    controls.hidden = s.view !== 'overview' && s.view !== 'products';
    custom.hidden = s.range !== 'custom';
    if (s.range === 'custom' && s.from !== undefined && s.to !== undefined) {
      fromIn.value = toLocalInput(s.from);
      toIn.value = toLocalInput(s.to);
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
      current = s.view;
      main.replaceChildren(views[s.view].el);
      prevState = null;
    }
    views[s.view].show(s, prevState);
    prevState = s;
  }

  function renderConn(c: ConnState) {
    connEl.dataset.conn = c.status;
    let text: string;
    if (c.status === 'open') text = t('conn.open');
    else if (c.status === 'retry') text = t('conn.retry', { s: Math.max(1, Math.ceil(((c.retryAt ?? Date.now()) - Date.now()) / 1000)) });
    else if (c.status === 'offline') text = t('conn.offline');
    else text = t('conn.connecting');
    setText(connEl.querySelector('.conn-text')!, text);
  }

  let firstKpi = true;
  function onSnapshot(s: Snapshot | null) {
    if (!s || document.hidden) return;
    // Money is in the server's configured currency (api.currency).
    if (s.currency) ctx.currency = s.currency;
    setText(wmEl, t('watermark') + ' ' + fmtTime(s.window?.watermark, lang));
    setTitle(wmEl, t('watermark.help') + ' ' + (s.window?.watermark ?? ''));
    const v = views[state.get().view];
    v.snapshot?.(s);
    if (firstKpi) {
      firstKpi = false;
      performance.mark('shoppulse:first-snapshot-rendered');
    }
  }

  const unsubs = [
    state.subscribe((s) => {
      if (langOf(s) !== builtLang) build();
      else renderState(s);
    }),
    conn.subscribe(renderConn),
    snapshot.subscribe(onSnapshot),
  ];
  const onVis = () => {
    if (!document.hidden) onSnapshot(snapshot.get());
  };
  document.addEventListener('visibilitychange', onVis);
  const retryTick = setInterval(() => conn.get().status === 'retry' && renderConn(conn.get()), 1000);

  renderState(state.get());
  renderConn(conn.get());
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
const socket = new LiveSocket({
  url: () => withKey(wsUrl),
  onMessage: (data, recvMs) => {
    const s = data as Snapshot;
    if (!s || s.type !== 'snapshot') return;
    history.push(s, recvMs);
    snapshot.set(s);
  },
  onState: (c) => conn.set({ ...c }),
});
socket.start();

// For end-to-end tests and debugging.
(window as unknown as { __shoppulse: unknown }).__shoppulse = { state, snapshot, conn, history, socket };

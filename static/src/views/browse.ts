// Browse: the users and products lists (search + paging) and the raw-event
// export of the current range. Lists link to the user profile and the
// product page; both download as CSV/JSON (the page shown, the API's fields).

import { ApiError, askWatermark, getJson, newestEventMs } from '../api';
import { authHeader, readKey } from '../auth';
import { collectEvents, eventsQuery, EVENT_TYPES, productsTable, productsUrl, unexportedFilters, usersTable, usersUrl, type EventsPage, type ProductRow, type ProductsPage, type UserRow, type UsersPage } from '../browse';
import type { Ctx, View } from '../context';
import { h, setText } from '../dom';
import { download, setExport, type TableData } from '../export';
import { fmtDateTime, fmtInt, fmtMoney, toMs } from '../format';
import { translateMaybe, type Key } from '../i18n';
import { openProduct, type AppState, type ListState } from '../state';
import { panel } from './widgets';

interface ListSpec<R> {
  key: 'users' | 'products';
  url: (search: string, cursor: string | null) => string;
  rows: (page: unknown) => R[];
  table: (rows: R[]) => TableData;
  head: string[];
  cells: (r: R) => (Node | string)[];
}

export function createBrowse(ctx: Ctx): View {
  const { t, lang } = ctx;
  const money = (v: number) => fmtMoney(v, lang, ctx.currency);

  /**
   * A searchable, paged list whose search and page are in the URL (the
   * state's `users` / `products`). Cursors of the pages seen are remembered so
   * "Previous" goes back; from a page opened by a link, whose earlier cursors
   * are unknown, it goes to the first page.
   */
  function list<R>(spec: ListSpec<R>) {
    const p = panel(t(`browse.${spec.key}` as Key), t(`browse.${spec.key}.help` as Key), 'wide', spec.key);
    const input = h('input', { type: 'search', name: spec.key + '-search', placeholder: t('browse.search'), 'aria-label': t(`browse.${spec.key}.search` as Key), autocomplete: 'off', spellcheck: 'false' });
    const form = h('form', { className: 'search', role: 'search', 'aria-label': t(`browse.${spec.key}.search` as Key) }, input, h('button', { type: 'submit', className: 'primary' }, t('browse.search.go')));
    const status = h('span', { className: 'muted small', role: 'status', 'data-role': 'page-status' });
    const prev = h('button', { type: 'button', 'data-action': 'prev', disabled: true }, t('browse.prev'));
    const next = h('button', { type: 'button', 'data-action': 'next', disabled: true }, t('browse.next'));
    const host = h('div', { className: 'table-wrap', 'data-role': 'list' });
    p.body.append(form, host, h('div', { className: 'pager' }, prev, next, status));
    let rows: R[] = [];
    setExport(host, () => spec.table(rows));
    /** cursor of each page (0-based); undefined: a page before one opened by a link */
    let cursors: (string | null | undefined)[] = [null];
    let pageNo = 0;
    let search = '';
    /** Goes to this list's page `page` (1-based; past the first with its cursor) of `search`. */
    const goTo = (q: string, page = 1, cursor?: string | null) => {
      const place: ListState = {};
      if (q) place.search = q;
      if (page > 1 && cursor) (place.page = page), (place.cursor = cursor);
      ctx.go({ ...ctx.state.get(), [spec.key]: place.search || place.cursor ? place : undefined }, true);
    };
    /** Follows the state's place for this list; loads when it moved (or `force`). */
    function sync(s: AppState, force: boolean) {
      const place = s[spec.key] ?? {};
      const want = place.search ?? '';
      const page = place.cursor && place.page ? place.page : 1;
      let moved = force;
      if (want !== search) (search = want), (cursors = [null]), (moved = true);
      input.value = search;
      if (page - 1 !== pageNo || (page > 1 && cursors[page - 1] !== place.cursor)) {
        if (page > 1 && cursors[page - 1] !== place.cursor) {
          cursors = Array.from({ length: page }, (_, i) => (i === 0 ? null : undefined));
          cursors[page - 1] = place.cursor!;
        }
        pageNo = page - 1;
        moved = true;
      }
      if (moved) void load();
    }
    let abort: AbortController | null = null;
    async function load() {
      abort?.abort();
      abort = new AbortController();
      setText(status, '…');
      const url = spec.url(search, cursors[pageNo] ?? null);
      try {
        const page = await getJson<{ next_cursor: string | null }>(url, abort.signal);
        rows = spec.rows(page);
        cursors = cursors.slice(0, pageNo + 1);
        if (page.next_cursor) cursors.push(page.next_cursor);
        host.replaceChildren(
          rows.length
            ? h('table', null, h('thead', null, h('tr', null, ...spec.head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', null, ...rows.map((r) => h('tr', null, ...spec.cells(r).map((c) => h('td', null, c))))))
            : h('p', { className: 'empty' }, t('browse.none')),
        );
        host.dataset.rows = String(rows.length);
        host.dataset.url = url; // which list the rows are: a changed range reloads a list of as many rows
        setText(status, t('browse.page', { n: pageNo + 1, r: rows.length }));
        prev.disabled = pageNo === 0;
        next.disabled = !page.next_cursor;
      } catch (e) {
        if ((e as Error).name === 'AbortError') return;
        rows = [];
        host.replaceChildren(h('p', { className: 'error' }, t('error.load', { e: (e as Error).message })));
        setText(status, '');
      }
    }
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const q = input.value.trim();
      // The same search again reloads its first page.
      if (q === search && pageNo === 0) return void load();
      goTo(q);
    });
    prev.addEventListener('click', () => {
      if (pageNo === 0) return;
      goTo(search, pageNo, cursors[pageNo - 1]); // an unknown cursor: the first page
    });
    next.addEventListener('click', () => {
      const cursor = cursors[pageNo + 1];
      if (cursor) goTo(search, pageNo + 2, cursor);
    });
    return { el: p.el, load, sync, stop: () => abort?.abort() };
  }

  const userLink = (id: string) =>
    h('a', { href: '#/users?user=' + encodeURIComponent(id), 'data-user': id, onclick: (e: Event) => (e.preventDefault(), ctx.go({ ...ctx.state.get(), view: 'users', user: id }, true)) }, id);
  const productLink = (id: string) =>
    h('a', { href: '#/products?product=' + encodeURIComponent(id), 'data-product': id, onclick: (e: Event) => (e.preventDefault(), ctx.go(openProduct(ctx.state.get(), id), true)) }, id);

  const users = list<UserRow>({
    key: 'users',
    url: (q, c) => usersUrl(q, c),
    rows: (p) => (p as UsersPage).users,
    table: usersTable,
    head: [t('browse.col.user'), t('users.total_events'), t('users.total_spend'), t('users.first_seen'), t('users.last_seen')],
    cells: (r) => [userLink(r.user_id), fmtInt(r.total_events, lang), money(r.total_spend), fmtDateTime(r.first_seen, lang), fmtDateTime(r.last_seen, lang)],
  });
  // The products list counts over a preset window; a custom range uses the list's default (24 h up to the newest event).
  const productWindow = () => (ctx.state.get().range === 'custom' ? '24h' : ctx.state.get().range);
  const products = list<ProductRow>({
    key: 'products',
    url: (q, c) => productsUrl(q, c, productWindow()),
    rows: (p) => (p as ProductsPage).products,
    table: productsTable,
    head: [t('browse.col.product'), t('browse.col.category'), t('browse.col.interactions'), translateMaybe(lang, 'event.view', 'view'), translateMaybe(lang, 'event.add_to_cart', 'add_to_cart'), translateMaybe(lang, 'event.purchase', 'purchase')],
    cells: (r) => [productLink(r.product_id), r.category_id || '—', fmtInt(r.interactions, lang), fmtInt(r.events?.view ?? 0, lang), fmtInt(r.events?.add_to_cart ?? 0, lang), fmtInt(r.events?.purchase ?? 0, lang)],
  });

  // ---- raw-event export ----
  const exportPanel = h('section', { className: 'panel wide', 'data-panel': 'export-events' }, h('h2', null, t('browse.export')));
  const typeSel = h('select', { 'aria-label': t('browse.export.type'), name: 'event-type' }, h('option', { value: '' }, t('browse.export.type.all')), ...EVENT_TYPES.map((k) => h('option', { value: k }, translateMaybe(lang, 'event.' + k, k))));
  const scope = h('p', { className: 'muted small', 'data-role': 'export-scope' });
  const exportStatus = h('span', { className: 'small', role: 'status', 'data-role': 'export-status' });
  const exportBtn = h('button', { type: 'button', className: 'primary', 'data-action': 'export-events' }, t('browse.export.go'));
  exportPanel.append(h('p', { className: 'muted' }, t('browse.export.help')), scope, h('div', { className: 'pager' }, h('label', null, t('browse.export.type') + ' ', typeSel), exportBtn, exportStatus));
  let exportAbort: AbortController | null = null;

  const newest = () => toMs(ctx.snapshot.get()?.window?.watermark);
  function renderScope(s: AppState) {
    const q = eventsQuery(s, newest(), s.etype ?? '');
    scope.dataset.query = q ?? '';
    // No snapshot yet: the newest event is asked for on export, not "no events".
    if (!q) return void setText(scope, t(ctx.snapshot.get() ? 'browse.export.empty' : 'browse.export.pending'));
    const u = new URLSearchParams(q.slice(q.indexOf('?') + 1));
    let text = t('browse.export.scope', { from: fmtDateTime(Number(u.get('from')), lang), to: fmtDateTime(Number(u.get('to')), lang) });
    if (u.get('product_id')) text += ' · ' + t('filter.product') + ': ' + u.get('product_id');
    if (u.get('user_id')) text += ' · ' + t('browse.col.user') + ': ' + u.get('user_id');
    const skipped = unexportedFilters(s);
    if (skipped.length) text += ' · ' + t('browse.export.skipped', { f: skipped.join(', ') });
    setText(scope, text);
  }
  typeSel.addEventListener('change', () => ctx.go({ ...ctx.state.get(), etype: typeSel.value || undefined }));

  async function fetchPage(url: string): Promise<EventsPage> {
    const res = await fetch(url, { headers: { Accept: 'application/x-ndjson', ...authHeader(readKey()) }, signal: exportAbort?.signal });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new ApiError(res.status, body.error ?? 'http_' + res.status, body.detail ?? res.statusText);
    }
    return { text: await res.text(), next: res.headers.get('X-Next-Cursor') };
  }
  exportBtn.addEventListener('click', async () => {
    const s = ctx.state.get();
    exportAbort?.abort();
    exportAbort = new AbortController();
    exportBtn.disabled = true;
    try {
      // A preset range ends after the newest event's minute: the snapshot's, or the server's before the first snapshot.
      const signal = exportAbort.signal;
      const q = eventsQuery(s, await newestEventMs(ctx.snapshot.get(), () => askWatermark(signal)), s.etype ?? '');
      if (!q) return void setText(exportStatus, t('browse.export.empty'));
      const r = await collectEvents(q, fetchPage, { signal: exportAbort.signal, progress: (n) => setText(exportStatus, t('browse.export.progress', { n: fmtInt(n, lang) })) });
      const stamp = fmtDateTime(Date.now(), 'en').replace(/[-: ]/g, '').slice(0, 12);
      download(`shoppulse-events-${stamp}.ndjson`, 'application/x-ndjson', r.ndjson);
      exportStatus.dataset.lines = String(r.lines);
      setText(exportStatus, t(r.truncated ? 'browse.export.truncated' : 'browse.export.done', { n: fmtInt(r.lines, lang) }));
    } catch (e) {
      if ((e as Error).name !== 'AbortError') setText(exportStatus, t('error.load', { e: (e as Error).message }));
    } finally {
      exportBtn.disabled = false;
    }
  });

  const el = h('div', { className: 'view browse', 'data-view': 'browse' }, users.el, products.el, exportPanel);
  let loaded = false;
  let lastRange = '';
  return {
    el,
    show(s: AppState) {
      // A type the select does not list (from a link) is added to it, so what is asked for is what shows.
      if (s.etype && ![...typeSel.options].some((o) => o.value === s.etype)) typeSel.append(h('option', { value: s.etype }, s.etype));
      typeSel.value = s.etype ?? '';
      renderScope(s);
      const rangeKey = s.range + (s.from ?? '') + (s.to ?? '');
      users.sync(s, !loaded);
      products.sync(s, !loaded || rangeKey !== lastRange);
      loaded = true;
      lastRange = rangeKey;
    },
    snapshot() {
      renderScope(ctx.state.get());
    },
    hide() {
      users.stop();
      products.stop();
      loaded = false;
    },
    destroy() {
      users.stop();
      products.stop();
      exportAbort?.abort();
    },
  };
}

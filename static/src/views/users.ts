// Users: look up one user's profile, recent events and recommendations.

import { ApiError, getJson, type Propensity, type Recommendation, type UserProfile } from '../api';
import type { Ctx, View } from '../context';
import { append, h, help } from '../dom';
import { fmtDateTime, fmtInt, fmtMoney, fmtPercent } from '../format';
import { translateMaybe } from '../i18n';
import type { AppState } from '../state';
import { setExport } from '../export';
import { profileTable, propensityTable, recommendationsTable } from '../tables';
import { panelHead } from './widgets';

interface Recommendations {
  recommendations?: Recommendation[];
  products?: Recommendation[];
}

/** `el` with `children` appended after what it holds. */
function fill(el: HTMLElement, ...children: Parameters<typeof append>[1]): HTMLElement {
  append(el, children);
  return el;
}

export function createUsers(ctx: Ctx): View {
  const { t, lang } = ctx;
  const input = h('input', { type: 'search', name: 'user', placeholder: t('users.placeholder'), 'aria-label': t('users.placeholder'), autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { className: 'search', role: 'search' }, input, h('button', { type: 'submit', className: 'primary' }, t('users.search')));
  const result = h('div', { className: 'user-result' }, h('p', { className: 'muted' }, t('users.hint')));
  const likelyBody = h('div', null, h('p', { className: 'muted' }, '…'));
  const likely = h('section', { className: 'panel', 'data-panel': 'likely' });
  likely.append(panelHead(likely, h('h2', null, t('users.likely')), t('users.likely.help')), likelyBody);
  let lastLikely: Propensity | null = null;
  setExport(likelyBody, () => (lastLikely ? propensityTable(lastLikely) : null));
  const el = h('div', { className: 'view users', 'data-view': 'users' }, h('div', { className: 'users-top' }, h('section', { className: 'panel' }, h('h2', null, t('users.title')), form), likely), result);
  let likelyAbort: AbortController | null = null;

  /** The recent-events panel, downloadable as CSV/JSON (the rows the table shows, raw values). */
  function recentPanel(events: UserProfile['recent_events'], table: HTMLElement): HTMLElement {
    const title = h('h2', null, t('users.recent'));
    const section = h('section', { className: 'panel wide', 'data-panel': 'recent' });
    section.append(panelHead(section, title), table);
    setExport(table, () => ({
      columns: ['timestamp', 'event_type', 'product_id', 'category_id', 'price', 'quantity', 'device', 'location', 'sequence'],
      rows: events.map((e) => [e.timestamp, e.event_type, e.product_id, e.category_id, e.price, e.quantity, e.device, e.location, e.sequence]),
    }));
    return section;
  }

  async function loadLikely() {
    likelyAbort?.abort();
    likelyAbort = new AbortController();
    try {
      const r = await getJson<Propensity>('/api/analytics/propensity?limit=10', likelyAbort.signal);
      lastLikely = r;
      // Until the first example is labelled (one horizon after it was
      // scored) every shopper gets the prior: say so rather than show a flat list.
      const learning = r.trained_examples === 0 ? [h('p', { className: 'muted', 'data-role': 'likely-learning' }, t('users.likely.learning', { m: Math.round(r.horizon_seconds / 60) }))] : [];
      likelyBody.replaceChildren(
        ...learning,
        r.users.length
          ? h(
              'ol',
              { className: 'likely', 'data-role': 'likely-list' },
              ...r.users.map((u) =>
                h(
                  'li',
                  null,
                  h('button', { type: 'button', className: 'link', 'data-user': u.user_id, title: t('users.search') + ' ' + u.user_id, onclick: () => ctx.go({ ...ctx.state.get(), user: u.user_id }, true) }, u.user_id),
                  h('span', { className: 'likely-p' }, fmtPercent(u.purchase_propensity * 100, lang, 1)),
                ),
              ),
            )
          : h('p', { className: 'muted' }, t('users.likely.empty')),
      );
    } catch (e) {
      if ((e as Error).name === 'AbortError') return;
      lastLikely = null;
      likelyBody.replaceChildren(h('p', { className: 'error' }, t('error.load', { e: (e as Error).message })));
    }
  }
  let abort: AbortController | null = null;
  let shown = '';

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = input.value.trim();
    if (id) ctx.go({ ...ctx.state.get(), user: id }, true);
  });

  const money = (v: number) => fmtMoney(v, lang, ctx.currency);
  // The server explains each pick in English; the code lets us say it in the UI's language.
  const reasonOf = (x: Recommendation) =>
    x.reason_code ? translateMaybe(lang, 'reco.reason.' + x.reason_code, x.reason ?? '').replace('{v}', x.related_id ?? '') : x.reason ?? '';

  function stat(label: string, value: string, helpText?: string) {
    return h('div', { className: 'stat' }, h('div', { className: 'stat-label' }, label, helpText ? help(helpText) : null), h('div', { className: 'stat-value' }, value));
  }

  async function load(id: string) {
    abort?.abort();
    abort = new AbortController();
    const signal = abort.signal;
    result.replaceChildren(h('p', { className: 'muted' }, '…'));
    const enc = encodeURIComponent(id);
    // Recommendations download as the API gave them; the profile as one row of its figures.
    const reco = h('section', { className: 'panel', 'data-panel': 'recommendations' });
    const recoBody = h('div', null, h('p', { className: 'muted' }, '…'));
    reco.append(panelHead(reco, h('h2', null, t('users.reco'))), recoBody);
    let recoList: Recommendation[] | null = null;
    setExport(recoBody, () => (recoList ? recommendationsTable(recoList) : null));
    try {
      const p = await getJson<UserProfile>(`/api/analytics/user/${enc}`, signal);
      const types = Object.entries(p.events).filter(([, n]) => n > 0);
      const recent = p.recent_events.slice().reverse();
      const profile = h('section', { className: 'panel', 'data-panel': 'profile' });
      profile.append(panelHead(profile, h('h2', null, t('users.profile'), ' · ', h('code', null, p.user_id))));
      setExport(profile, () => profileTable(p));
      result.replaceChildren(
        fill(
          profile,
          h(
            'div',
            { className: 'stats' },
            stat(t('users.total_events'), fmtInt(p.total_events, lang), t('users.total_events.help')),
            stat(t('users.total_spend'), fmtMoney(p.total_spend, lang, p.currency || ctx.currency), t('users.total_spend.help')),
            stat(t('users.first_seen'), fmtDateTime(p.first_seen, lang)),
            stat(t('users.last_seen'), fmtDateTime(p.last_seen, lang)),
            typeof p.purchase_propensity === 'number'
              ? stat(t('users.propensity'), fmtPercent(p.purchase_propensity * 100, lang), t('users.propensity.help'))
              : null,
          ),
          h('h3', null, t('users.events')),
          h('ul', { className: 'chips static' }, ...types.map(([k, n]) => h('li', { className: 'chip' }, translateMaybe(lang, 'event.' + k, k) + ' ', h('strong', null, fmtInt(n, lang))))),
          p.top_categories?.length
            ? [
                h('h3', null, t('users.top_categories')),
                h(
                  'ul',
                  { className: 'chips static' },
                  ...p.top_categories.map((c) =>
                    h('li', null, h('button', { type: 'button', className: 'chip link', title: t('list.drill', { v: c.category_id }), onclick: () => ctx.go({ ...ctx.state.get(), view: 'overview', filters: { category: c.category_id } }, true) }, c.category_id + ' ', h('strong', null, fmtInt(c.interactions, lang)))),
                  ),
                ),
              ]
            : null,
        ),
        reco,
        recentPanel(
          recent,
          h(
            'div',
            { className: 'table-wrap' },
            h(
              'table',
              null,
              h('thead', null, h('tr', null, ...(['time', 'type', 'product', 'category', 'price', 'qty', 'device', 'location'] as const).map((c) => h('th', { className: 'col-' + c }, t(`users.col.${c}`))))),
              h(
                'tbody',
                null,
                ...recent.map((e) =>
                  h(
                    'tr',
                    null,
                    h('td', { className: 'col-time', title: fmtDateTime(e.timestamp, lang) }, fmtDateTime(e.timestamp, lang)),
                    h('td', { className: 'col-type' }, translateMaybe(lang, 'event.' + e.event_type, e.event_type)),
                    h('td', { className: 'col-product' }, e.product_id || '—'),
                    h('td', { className: 'col-category' }, e.category_id || '—'),
                    h('td', { className: 'col-price num' }, e.price ? money(e.price) : '—'),
                    h('td', { className: 'col-qty num' }, fmtInt(e.quantity, lang)),
                    h('td', { className: 'col-device' }, e.device || '—'),
                    h('td', { className: 'col-location' }, e.location || '—'),
                  ),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (e) {
      if ((e as Error).name === 'AbortError') return;
      const msg = e instanceof ApiError && e.status === 404 ? t('users.notfound', { u: id }) : t('error.load', { e: (e as Error).message });
      result.replaceChildren(h('p', { className: e instanceof ApiError && e.status === 404 ? 'muted' : 'error', 'data-role': 'user-error' }, msg), reco);
    }
    try {
      const r = await getJson<Recommendations>(`/api/products/recommendations/user/${enc}`, signal);
      const list = r.recommendations ?? r.products ?? [];
      recoList = list;
      recoBody.replaceChildren(
        list.length
          ? h('ol', { className: 'plain', 'data-role': 'reco-list' }, ...list.map((x) => h('li', null, x.product_id, reasonOf(x) ? h('small', { className: 'muted' }, ' · ' + reasonOf(x)) : null)))
          : h('p', { className: 'muted' }, t('users.reco.empty')),
      );
    } catch (e) {
      if ((e as Error).name === 'AbortError') return;
      recoList = null;
      recoBody.replaceChildren(h('p', { className: 'muted', 'data-role': 'reco-na' }, t('users.reco.na', { id })));
    }
  }

  return {
    el,
    show(s: AppState, prev: AppState | null) {
      if (!prev) void loadLikely();
      if (s.user && s.user !== shown) {
        shown = s.user;
        input.value = s.user;
        void load(s.user);
      } else if (!s.user && shown) {
        shown = '';
        input.value = '';
        result.replaceChildren(h('p', { className: 'muted' }, t('users.hint')));
      }
    },
    hide() {
      abort?.abort();
      likelyAbort?.abort();
      shown = '';
    },
    destroy() {
      abort?.abort();
    },
  };
}

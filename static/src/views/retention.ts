// Retention: first-seen cohorts × periods (day or week) of the selected range
// from /api/analytics/cohorts, as a table (it is one), downloadable.

import { LatestRequest } from '../api';
import type { Ctx, View } from '../context';
import { h } from '../dom';
import { setExport } from '../export';
import { fmtDate, fmtDateTime, fmtInt, fmtPercent, toMs } from '../format';
import { cohortsUrl, cohortTable, pageRange, refusedFilters, type CohortAnswer } from '../funnel';
import { filterQuery, type AppState } from '../state';
import { filterControls, refusedNote } from './filters';
import { panel } from './widgets';

export function createRetention(ctx: Ctx): View {
  const { t, lang } = ctx;
  const p = panel(t('retention.title'), t('retention.help'), 'wide', 'cohorts');
  const periodBtns = (['hour', 'day', 'week'] as const).map((k) =>
    h('button', { type: 'button', 'data-period': k, onclick: () => ctx.go({ ...ctx.state.get(), period: k === 'day' ? undefined : k }, true) }, t(('retention.' + k) as 'retention.day')),
  );
  p.aside.append(h('span', { className: 'range', role: 'group', 'aria-label': t('retention.period') }, ...periodBtns));
  const host = h('div', { className: 'table-wrap', 'data-role': 'cohorts' }, h('p', { className: 'empty' }, t('empty.waiting')));
  const filters = filterControls(ctx);
  p.body.append(filters.el, h('p', { className: 'muted small' }, t('retention.note')), host);
  /** The filters the server refused (their query), not asked again with each snapshot. */
  let refused: string | null = null;
  const el = h('div', { className: 'view retention', 'data-view': 'retention' }, p.el);
  let state: AppState = ctx.state.get();
  let last: CohortAnswer | null = null;
  const request = new LatestRequest();
  setExport(host, () => (last ? cohortTable(last) : null));

  function render(a: CohortAnswer) {
    const periods = Math.max(0, ...a.cohorts.map((c) => c.returning.length));
    const label = (k: number) => (a.period === 'week' ? t('retention.week.n', { n: k }) : a.period === 'hour' ? t('retention.hour.n', { n: k }) : t('retention.day.n', { n: k }));
    const when = (s: string) => (a.period === 'hour' ? fmtDateTime(s, lang) : fmtDate(s, lang, 'UTC'));
    host.replaceChildren(
      a.cohorts.length
        ? h(
            'table',
            { className: 'cohorts' },
            h('caption', { className: 'muted small' }, t('retention.caption', { p: t(('retention.' + a.period) as 'retention.day') })),
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('retention.cohort')), h('th', { scope: 'col', className: 'num' }, t('retention.users')), ...Array.from({ length: periods }, (_, k) => h('th', { scope: 'col', className: 'num' }, label(k))))),
            h(
              'tbody',
              null,
              ...a.cohorts.map((c) =>
                h(
                  'tr',
                  { 'data-cohort': c.start },
                  h('th', { scope: 'row' }, when(c.start)),
                  h('td', { className: 'num' }, fmtInt(c.users, lang)),
                  ...Array.from({ length: periods }, (_, k) =>
                    k < c.returning.length
                      ? h('td', { className: 'num', title: `${fmtInt(c.returning[k], lang)} / ${fmtInt(c.users, lang)}`, 'data-returning': c.returning[k] }, fmtPercent(c.retention[k] ?? 0, lang, 1))
                      : h('td', null, ''),
                  ),
                ),
              ),
            ),
          )
        : h('p', { className: 'empty' }, t('empty.nodata')),
    );
  }

  async function load() {
    const r = pageRange(state, toMs(ctx.snapshot.get()?.window?.watermark));
    if (!r) return;
    if (refused !== null && refused === filterQuery(state.filters)) return;
    // A preset shorter than the period still shows its period: at least one whole period ending now.
    const len = state.period === 'week' ? 7 * 86_400_000 : state.period === 'hour' ? 3_600_000 : 86_400_000;
    const range: [number, number] = state.range === 'custom' ? r : [Math.min(r[0], r[1] - len), r[1]];
    try {
      const answer = await request.get<CohortAnswer>(cohortsUrl(state, range));
      if (!answer) return;
      last = answer;
      refused = null;
      render(last);
    } catch (e) {
      last = null;
      const no = refusedFilters(e, state.filters);
      if (no) refused = filterQuery(state.filters);
      host.replaceChildren(no ? refusedNote(ctx, t('filters.what.cohorts'), no, (e as Error).message) : h('p', { className: 'error' }, t('error.load', { e: (e as Error).message })));
    }
  }

  return {
    el,
    show(s) {
      state = s;
      filters.show(s);
      for (const b of periodBtns) b.setAttribute('aria-pressed', String((s.period ?? 'day') === b.dataset.period)), b.classList.toggle('active', (s.period ?? 'day') === b.dataset.period);
      void load();
    },
    snapshot() {
      if (state.range !== 'custom') void load();
    },
    hide: () => request.cancel(),
    destroy: () => request.cancel(),
  };
}

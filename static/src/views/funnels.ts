// Funnels: a funnel of the user's own steps (event types, each optionally
// limited to a category or product), a conversion window and a breakdown,
// from /api/analytics/funnel for the selected range (a preset is the range
// ending now, re-asked when the newest event enters a new minute). The
// state lives in the URL (steps, fwindow, breakdown).

import { LatestRequest } from '../api';
import type { Ctx, View } from '../context';
import { h, setText } from '../dom';
import { setExport } from '../export';
import { EVENT_TYPES } from '../browse';
import { fmtInt, fmtPercent, toMs } from '../format';
import { fmtConvert, formatSteps, funnelTable, funnelUrl, pageRange, parseSteps, refusedFilters, stepsOf, type FunnelAnswer, type FunnelStepAnswer, type FunnelStepSpec } from '../funnel';
import { filterQuery } from '../state';
import { filterControls, refusedNote } from './filters';
import { translateMaybe } from '../i18n';
import type { AppState } from '../state';
import { panel } from './widgets';

const WINDOWS = ['10m', '30m', '1h', '6h', '1d', '3d', '7d', '14d', '30d'];

export function createFunnels(ctx: Ctx): View {
  const { t, lang } = ctx;
  const typeName = (k: string) => translateMaybe(lang, 'event.' + k, k);

  const builder = panel(t('funnels.builder'), t('funnels.builder.help'), 'wide', 'funnel-builder');
  const stepsHost = h('ol', { className: 'funnel-steps', 'data-role': 'steps' });
  const addBtn = h('button', { type: 'button', 'data-action': 'add-step' }, t('funnels.add'));
  const windowSel = h('select', { name: 'fwindow', 'aria-label': t('funnels.window') }, ...WINDOWS.map((w) => h('option', { value: w }, w)));
  const breakdownSel = h('select', { name: 'breakdown', 'aria-label': t('funnels.breakdown') }, h('option', { value: '' }, t('funnels.breakdown.none')), h('option', { value: 'device' }, t('filter.device')), h('option', { value: 'location' }, t('filter.location')));
  const applyBtn = h('button', { type: 'submit', className: 'primary', 'data-action': 'apply-funnel' }, t('range.apply'));
  const resetBtn = h('button', { type: 'button', 'data-action': 'reset-funnel' }, t('funnels.reset'));
  const form = h(
    'form',
    { className: 'funnel-form' },
    stepsHost,
    h('div', { className: 'pager' }, addBtn, h('label', null, t('funnels.window') + ' ', windowSel), h('label', null, t('funnels.breakdown') + ' ', breakdownSel), applyBtn, resetBtn),
  );
  // The drill-down filters of the whole funnel (a step's own filter is in the editor).
  const filters = filterControls(ctx);
  builder.body.append(form, filters.el);
  // aside removed: the builder's own panel has nothing to download
  builder.el.querySelector('.exports')?.remove();

  const result = panel(t('funnels.result'), t('funnels.result.help'), 'wide', 'funnel-result');
  const resultHost = h('div', { 'data-role': 'funnel' }, h('p', { className: 'empty' }, t('empty.waiting')));
  result.body.append(resultHost);
  const el = h('div', { className: 'view funnels', 'data-view': 'funnels' }, builder.el, result.el);

  let editing: FunnelStepSpec[] = [];
  let typeCounts: Record<string, number> = {};
  let state: AppState = ctx.state.get();
  const request = new LatestRequest();

  function renderEditor() {
    const types = [...new Set([...EVENT_TYPES, ...Object.keys(typeCounts)])];
    stepsHost.replaceChildren(
      ...editing.map((s, i) => {
        const n = i + 1;
        const typeSel = h('select', { 'aria-label': t('funnels.step.type', { n }), 'data-role': 'step-type' }, ...types.map((k) => h('option', { value: k }, typeName(k) + (k in typeCounts ? ` (${fmtInt(typeCounts[k], lang)})` : ''))));
        typeSel.value = s.type;
        typeSel.addEventListener('change', () => (editing[i] = { ...editing[i], type: typeSel.value }));
        const kindSel = h('select', { 'aria-label': t('funnels.step.filter', { n }), 'data-role': 'step-filter' }, h('option', { value: '' }, t('funnels.filter.none')), h('option', { value: 'category' }, t('filter.category')), h('option', { value: 'product' }, t('filter.product')));
        kindSel.value = s.category ? 'category' : s.product ? 'product' : '';
        const idIn = h('input', { type: 'text', 'aria-label': t('funnels.step.id', { n }), 'data-role': 'step-id', value: s.category ?? s.product ?? '', spellcheck: 'false', autocomplete: 'off' });
        idIn.hidden = !kindSel.value;
        const sync = () => {
          idIn.hidden = !kindSel.value;
          const v = idIn.value.trim();
          editing[i] = { type: editing[i].type, ...(kindSel.value === 'category' && v ? { category: v } : {}), ...(kindSel.value === 'product' && v ? { product: v } : {}) };
        };
        kindSel.addEventListener('change', sync);
        idIn.addEventListener('input', sync);
        const remove = h('button', { type: 'button', className: 'link', 'data-action': 'remove-step', 'aria-label': t('funnels.remove', { n }), disabled: editing.length <= 2 }, '×');
        remove.addEventListener('click', () => {
          editing.splice(i, 1);
          renderEditor();
        });
        return h('li', { className: 'funnel-step-edit', 'data-step': n }, h('span', { className: 'muted' }, `${n}.`), typeSel, kindSel, idIn, remove);
      }),
    );
    addBtn.disabled = editing.length >= 16;
  }
  addBtn.addEventListener('click', () => {
    editing.push({ type: editing[editing.length - 1]?.type === 'view' ? 'add_to_cart' : 'purchase' });
    renderEditor();
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.go({ ...ctx.state.get(), steps: formatSteps(editing) || undefined, fwindow: windowSel.value === '1d' ? undefined : windowSel.value, breakdown: (breakdownSel.value || undefined) as AppState['breakdown'] }, true);
  });
  resetBtn.addEventListener('click', () => ctx.go({ ...ctx.state.get(), steps: undefined, fwindow: undefined, breakdown: undefined }, true));

  function stepRows(steps: FunnelStepAnswer[]) {
    const top = steps[0]?.users || 1;
    return h(
      'ol',
      { className: 'funnel' },
      ...steps.map((s, i) =>
        h(
          'li',
          { className: 'funnel-step', 'data-step': s.event_type, 'data-users': s.users },
          h('div', { className: 'funnel-label' }, h('span', null, `${s.step}. ${typeName(s.event_type)}${s.category_id ? ' · ' + s.category_id : s.product_id ? ' · ' + s.product_id : ''}`), h('strong', null, fmtInt(s.users, lang))),
          h('div', { className: 'funnel-track' }, h('div', { className: 'funnel-bar', style: `width:${Math.max(1, (100 * s.users) / top).toFixed(1)}%` })),
          i
            ? h(
                'div',
                { className: 'funnel-meta' },
                t('funnel.of_prev', { p: fmtPercent(s.conversion_from_previous, lang, 1) }),
                ' · ',
                t('funnels.of_start', { p: fmtPercent(s.conversion_from_start, lang, 1) }),
                ' · ',
                h('span', { 'data-role': 'ttc', title: t('funnels.ttc.help') }, t('funnels.ttc', { m: fmtConvert(s.median_time_to_convert_ms), a: fmtConvert(s.average_time_to_convert_ms) })),
              )
            : null,
        ),
      ),
    );
  }

  function render(a: FunnelAnswer, url: string) {
    typeCounts = a.event_types ?? {};
    editing = stepsOf(a);
    renderEditor();
    windowSel.value = WINDOWS.includes(a.window) ? a.window : '1d';
    breakdownSel.value = a.breakdown ?? '';
    const parts: Node[] = [];
    if (a.default_steps) parts.push(h('p', { className: 'muted small', 'data-role': 'default-steps' }, t('funnels.default')));
    parts.push(a.steps[0]?.users ? stepRows(a.steps) : h('p', { className: 'empty' }, t('empty.nodata')));
    if (a.breakdowns?.length) {
      parts.push(
        h('h3', null, t('funnels.by', { b: a.breakdown === 'location' ? t('filter.location') : t('filter.device') })),
        h(
          'div',
          { className: 'table-wrap' },
          h(
            'table',
            { 'data-role': 'breakdown' },
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, a.breakdown === 'location' ? t('filter.location') : t('filter.device')), ...a.steps.map((s) => h('th', { scope: 'col', className: 'num' }, `${s.step}. ${typeName(s.event_type)}`)), h('th', { scope: 'col', className: 'num' }, t('funnels.conversion')))),
            h('tbody', null, ...a.breakdowns.map((b) => h('tr', null, h('th', { scope: 'row' }, b.value ?? '—'), ...b.steps.map((s) => h('td', { className: 'num' }, fmtInt(s.users, lang))), h('td', { className: 'num' }, fmtPercent(b.steps[b.steps.length - 1]?.conversion_from_start ?? 0, lang, 1))))),
          ),
        ),
      );
    }
    resultHost.replaceChildren(...parts);
    resultHost.dataset.key = url; // which query the result answers
    setText(result.aside, t('panel.window', { start: a.from.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC'), end: a.to.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') }));
  }
  let lastAnswer: FunnelAnswer | null = null;
  setExport(resultHost, () => (lastAnswer ? funnelTable(lastAnswer) : null));

  /** The filters the server refused (their query), not asked again with each snapshot. */
  let refused: string | null = null;

  async function load() {
    const range = pageRange(state, toMs(ctx.snapshot.get()?.window?.watermark));
    if (!range) return;
    if (refused !== null && refused === filterQuery(state.filters)) return;
    const url = funnelUrl(state, range);
    try {
      const a = await request.get<FunnelAnswer>(url);
      if (!a) return;
      lastAnswer = a;
      refused = null;
      render(a, url);
    } catch (e) {
      lastAnswer = null;
      const no = refusedFilters(e, state.filters);
      if (no) refused = filterQuery(state.filters);
      resultHost.replaceChildren(no ? refusedNote(ctx, t('filters.what.funnel'), no, (e as Error).message) : h('p', { className: 'error', 'data-role': 'funnel-error' }, t('error.load', { e: (e as Error).message })));
      resultHost.dataset.key = url;
      // The editor keeps the user's steps so they can be corrected.
      if (!editing.length) (editing = parseSteps(state.steps)), renderEditor();
    }
  }

  return {
    el,
    show(s) {
      state = s;
      filters.show(s);
      if (!editing.length && s.steps) (editing = parseSteps(s.steps)), renderEditor();
      void load();
    },
    snapshot() {
      // A preset range ends now: asked again when the newest event enters a new minute (the URL changes then).
      if (state.range !== 'custom') void load();
    },
    hide: () => request.cancel(),
    destroy: () => request.cancel(),
  };
}

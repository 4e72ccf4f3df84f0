// The drill-down filters of a page that sends them to its own endpoint
// (Funnels, Retention): the active ones as removable chips and a form to add
// one. They are the state's `filters`, the same the Overview drills into, so
// they are in the URL and follow the user between pages. A server that does
// not take them on that endpoint answers 400 naming them: the page says so
// and offers to remove them (refusedNote).

import type { Ctx } from '../context';
import { h, setText } from '../dom';
import type { Key } from '../i18n';
import { activeFilters, FILTER_KEYS, withFilter, type AppState, type FilterKey } from '../state';

export function filterControls(ctx: Ctx): { el: HTMLElement; show(s: AppState): void } {
  const { t } = ctx;
  const chips = h('ul', { className: 'chips', 'data-role': 'filter-chips' });
  const keySel = h('select', { 'aria-label': t('filters.add.key'), 'data-role': 'filter-key' }, ...FILTER_KEYS.map((k) => h('option', { value: k }, t(('filter.' + k) as Key))));
  const valueIn = h('input', { type: 'text', 'aria-label': t('filters.add.value'), 'data-role': 'filter-value', spellcheck: 'false', autocomplete: 'off', maxlength: 200 });
  const form = h('form', { className: 'filter-add' }, keySel, valueIn, h('button', { type: 'submit', 'data-action': 'add-filter' }, t('filters.add')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = valueIn.value.trim();
    if (!v) return;
    valueIn.value = '';
    ctx.go(withFilter(ctx.state.get(), keySel.value as FilterKey, v), true);
  });
  const el = h('div', { className: 'filterbar page-filters', role: 'group', 'aria-label': t('filters.label') }, h('span', { className: 'muted' }, t('filters.label') + ':'), chips, form);
  return {
    el,
    show(s) {
      const f = activeFilters(s);
      chips.replaceChildren(
        ...f.map(([k, v]) =>
          h('li', { className: 'chip', 'data-filter': k }, h('span', null, t(('filter.' + k) as Key) + ': '), h('strong', null, v), h('button', { type: 'button', className: 'x', title: t('filters.remove'), 'aria-label': t('filters.remove') + ' ' + v, onclick: () => ctx.go(withFilter(ctx.state.get(), k, undefined), true) }, '×')),
        ),
      );
      if (!f.length) chips.append(h('li', { className: 'muted small' }, t('filters.none')));
    },
  };
}

/** "This server cannot filter <what> by category yet …" with a button that removes the filters; shown instead of an answer. */
export function refusedNote(ctx: Ctx, what: string, refused: FilterKey[], detail: string): HTMLElement {
  const { t } = ctx;
  const note = h('div', { className: 'error', role: 'alert', 'data-role': 'filters-refused', 'data-refused': refused.join(',') });
  const names = refused.map((k) => t(('filter.' + k) as Key)).join(', ');
  note.append(h('p', null, ''), h('button', { type: 'button', 'data-action': 'drop-filters', onclick: () => ctx.go({ ...ctx.state.get(), filters: {} }, true) }, t('filters.refused.drop')));
  setText(note.firstElementChild as HTMLElement, t('filters.refused', { w: what, f: names, e: detail }));
  return note;
}

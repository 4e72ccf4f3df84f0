// Reusable pieces: panels, KPI cards, clickable bar lists, sparklines.

import { h, help, setText, setTitle, svg } from '../dom';
import type { Delta } from '../format';
import { sparkPath } from '../history';
import { download, exportOf, setExport, slug, toCsv, toJson } from '../export';
import { fmtDateTime } from '../format';

/** Texts of the download buttons (set by the shell in the page's language). */
export const exportTexts = { csv: 'Download {p} as CSV', json: 'Download {p} as JSON', none: 'Nothing to download yet' };

export interface Panel {
  el: HTMLElement;
  title: HTMLElement;
  aside: HTMLElement;
  body: HTMLElement;
  helpEl: HTMLElement;
}

/** CSV and JSON buttons that download what `el` (a panel) shows, named after its data-panel key. */
export function exportButtons(el: HTMLElement, title: () => string): HTMLElement {
  const fill = (s: string) => s.replace('{p}', title());
  const save = (kind: 'csv' | 'json') => {
    const d = exportOf(el);
    if (!d) return void setText(status, exportTexts.none);
    setText(status, '');
    const stamp = fmtDateTime(Date.now(), 'en').replace(/[-: ]/g, '').slice(0, 12);
    const name = `shoppulse-${el.dataset.panel || slug(title())}-${stamp}.${kind}`;
    if (kind === 'csv') download(name, 'text/csv;charset=utf-8', toCsv(d));
    else download(name, 'application/json', toJson(d));
  };
  const status = h('span', { className: 'export-status', role: 'status' });
  const btn = (kind: 'csv' | 'json') => {
    const b = h('button', { type: 'button', className: 'export', 'data-action': 'download-' + kind, onclick: () => save(kind) }, kind.toUpperCase());
    b.addEventListener('focus', () => b.setAttribute('aria-label', fill(exportTexts[kind])));
    b.addEventListener('mouseenter', () => setTitle(b, fill(exportTexts[kind])));
    b.setAttribute('aria-label', fill(exportTexts[kind]));
    return b;
  };
  return h('span', { className: 'exports' }, status, btn('csv'), btn('json'));
}

/** The head of a panel built by hand: its title (with help), then the CSV/JSON buttons of `section`. */
export function panelHead(section: HTMLElement, title: HTMLElement, helpText?: string, ...extra: (Node | null)[]): HTMLElement {
  return h('header', { className: 'panel-head' }, h('div', { className: 'panel-title' }, title, helpText ? help(helpText) : null), ...extra, exportButtons(section, () => title.textContent ?? ''));
}

export function panel(title: string, helpText: string, cls = '', key?: string): Panel {
  const t = h('h2', null, title);
  const helpEl = help(helpText);
  const aside = h('span', { className: 'panel-aside' });
  const body = h('div', { className: 'panel-body' });
  const el = h('section', { className: 'panel ' + cls });
  if (key) el.dataset.panel = key;
  el.append(h('header', { className: 'panel-head' }, h('div', { className: 'panel-title' }, t, helpEl), aside, exportButtons(el, () => t.textContent ?? '')), body);
  return { el, title: t, aside, body, helpEl };
}

export function setPanelTitle(p: Panel, title: string, helpText?: string): void {
  setText(p.title, title);
  if (helpText !== undefined) setTitle(p.helpEl, helpText);
}

export interface KpiCard {
  el: HTMLElement;
  set(valueText: string, raw: number | null, d: Delta, deltaTitle: string, vsText: string, spark: number[], sparkTitle: string, goodWhenUp?: boolean): void;
  setNa(text: string, title: string): void;
}

export function kpiCard(key: string, label: string, helpText: string): KpiCard {
  const value = h('div', { className: 'kpi-value', 'data-role': 'value' }, '—');
  const deltaEl = h('span', { className: 'delta' }, '');
  const vs = h('span', { className: 'vs' }, '');
  const path = svg('path', { d: '', fill: 'none', 'stroke-width': 1.5, 'vector-effect': 'non-scaling-stroke' });
  const spark = svg('svg', { viewBox: '0 0 100 28', preserveAspectRatio: 'none', class: 'spark', 'aria-hidden': 'true' });
  spark.append(path);
  const sparkWrap = h('div', { className: 'spark-wrap' });
  sparkWrap.append(spark);
  const el = h(
    'article',
    { className: 'kpi', 'data-kpi': key, title: helpText },
    h('div', { className: 'kpi-label' }, label, help(helpText)),
    value,
    h('div', { className: 'kpi-foot' }, deltaEl, vs),
    sparkWrap,
  );
  return {
    el,
    set(valueText, raw, d, deltaTitle, vsText, values, sparkTitle, goodWhenUp = true) {
      setText(value, valueText);
      // Long money figures ("CN¥16,337.84") get a smaller font instead of an ellipsis.
      value.classList.toggle('long', valueText.length > 10);
      el.dataset.value = raw === null ? '' : String(raw);
      const arrow = d.dir === 'up' ? '▲ ' : d.dir === 'down' ? '▼ ' : '';
      setText(deltaEl, arrow + d.text);
      const good = d.dir === 'flat' || d.dir === 'none' || d.dir === 'new' ? 'neutral' : (d.dir === 'up') === goodWhenUp ? 'good' : 'bad';
      deltaEl.className = 'delta ' + good;
      setTitle(deltaEl, deltaTitle);
      setText(vs, vsText);
      path.setAttribute('d', sparkPath(values, 100, 28));
      setTitle(sparkWrap, sparkTitle);
      el.classList.remove('na');
    },
    setNa(text, title) {
      setText(value, '—');
      el.dataset.value = '';
      setText(deltaEl, '');
      setText(vs, text);
      setTitle(vs, title);
      path.setAttribute('d', '');
      el.classList.add('na');
    },
  };
}

export interface BarItem {
  id: string;
  label: string;
  value: number;
  valueText: string;
  sub?: string;
  title?: string;
}

/** A ranked list whose rows are buttons (drill-down). Re-rendered as a whole: at most ~10 rows per second. */
/** A small "open" link beside a row (e.g. a product's own page), next to the row's drill-down click. */
export interface OpenLink {
  href: (id: string) => string;
  go: (id: string) => void;
  title: (id: string) => string;
}

export function renderBars(host: HTMLElement, items: BarItem[], opts: { selected?: string; onPick?: (id: string) => void; emptyText: string; kind: string; open?: OpenLink }): void {
  // A fresh answer replaces an earlier error.
  host.querySelector(':scope > .error')?.remove();
  setExport(host, () => ({ columns: ['rank', opts.kind, 'value', 'detail'], rows: items.map((it, i) => [i + 1, it.id, it.value, it.sub ?? null]) }));
  if (!items.length) {
    host.replaceChildren(h('p', { className: 'empty' }, opts.emptyText));
    return;
  }
  const max = Math.max(...items.map((i) => i.value), 1);
  // Same rows in the same order: update in place (keeps focus and hover while live data flows).
  const existing = host.querySelectorAll<HTMLElement>(':scope > ol.bars > li > .bar-row');
  if (existing.length === items.length && items.every((it, i) => existing[i].dataset.id === it.id && existing[i].dataset.kind === opts.kind)) {
    items.forEach((it, i) => {
      const row = existing[i];
      row.classList.toggle('selected', opts.selected === it.id);
      if (row.tagName === 'BUTTON') row.setAttribute('aria-pressed', opts.selected === it.id ? 'true' : 'false');
      if (it.title !== undefined) setTitle(row, it.title);
      setText(row.querySelector('.bar-value')!, it.valueText);
      const sub = row.querySelector('.bar-label small');
      if (sub && it.sub !== undefined) setText(sub, it.sub);
      (row.querySelector('.bar') as HTMLElement).style.width = Math.max(0.5, (100 * it.value) / max).toFixed(1) + '%';
      const link = row.nextElementSibling;
      if (link && opts.open && link.getAttribute('href') !== opts.open.href(it.id)) link.setAttribute('href', opts.open.href(it.id));
    });
    return;
  }
  const rows = items.map((it, idx) => {
    const pct = Math.max(0.5, (100 * it.value) / max);
    const inner = [
      h('span', { className: 'rank' }, String(idx + 1)),
      h('span', { className: 'bar-label' }, it.label, it.sub ? h('small', null, it.sub) : null),
      h('span', { className: 'bar-value' }, it.valueText),
      h('span', { className: 'bar', style: `width:${pct.toFixed(1)}%` }),
    ];
    const attrs = {
      className: 'bar-row' + (opts.selected === it.id ? ' selected' : ''),
      title: it.title ?? '',
      'data-kind': opts.kind,
      'data-id': it.id,
    };
    const o = opts.open;
    const link = o
      ? h('a', { className: 'open', href: o.href(it.id), title: o.title(it.id), 'aria-label': o.title(it.id), 'data-action': 'open-product', 'data-id': it.id, onclick: (e: Event) => (e.preventDefault(), o.go(it.id)) }, '↗')
      : null;
    const li = h('li', { className: o ? 'has-open' : '' });
    if (!opts.onPick) li.append(h('div', attrs, ...inner));
    else li.append(h('button', { ...attrs, type: 'button', 'aria-pressed': opts.selected === it.id ? 'true' : 'false', onclick: () => opts.onPick!(it.id) }, ...inner));
    if (link) li.append(link);
    return li;
  });
  host.replaceChildren(h('ol', { className: 'bars' }, ...rows));
}

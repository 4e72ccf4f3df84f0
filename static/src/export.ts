// Data out of every panel: CSV and JSON of what the panel shows.
// A panel's renderer registers a provider for its element; the panel's
// download buttons ask it at click time, so the file is the data on screen.

export type Cell = string | number | null;
export interface TableData {
  columns: string[];
  rows: Cell[][];
}

const providers = new WeakMap<Element, () => TableData | null>();

/** Registers what `el` shows; its panel's download buttons find it (data-export). */
export function setExport(el: Element, provider: () => TableData | null): void {
  providers.set(el, provider);
  el.setAttribute('data-export', '');
}

/** The data of the first registered element inside `panel` that has some, else null. */
export function exportOf(panel: Element): TableData | null {
  const els = [...(panel.hasAttribute('data-export') ? [panel] : []), ...panel.querySelectorAll('[data-export]')];
  for (const el of els) {
    const d = providers.get(el)?.();
    if (d) return d;
  }
  return null;
}

function csvCell(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  // A leading = + @ (or tab/CR) would be run as a formula by spreadsheets.
  let s = /^[=+@\t\r]/.test(v) ? "'" + v : v;
  if (/[",\n\r]/.test(s)) s = '"' + s.replace(/"/g, '""') + '"';
  return s;
}

/** RFC 4180 CSV with a header row and CRLF line ends. */
export function toCsv(d: TableData): string {
  return [d.columns, ...d.rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** An array of objects keyed by column name. */
export function toJson(d: TableData): string {
  return JSON.stringify(d.rows.map((r) => Object.fromEntries(d.columns.map((c, i) => [c, r[i] ?? null]))), null, 2) + '\n';
}

/** "top-products" from a panel name, for file names. */
export function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'panel'
  );
}

export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

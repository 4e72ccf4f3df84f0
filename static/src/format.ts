// Locale-aware formatting. Every function is pure given its arguments so it
// can be unit-tested; Intl formatters are cached per (locale, options).

export type Lang = 'zh' | 'en';

export function localeOf(lang: Lang): string {
  return lang === 'zh' ? 'zh-CN' : 'en-US';
}

/** Picks zh for any Chinese browser language, en otherwise. */
export function detectLang(languages: readonly string[] | undefined): Lang {
  for (const l of languages ?? []) {
    const low = l.toLowerCase();
    if (low.startsWith('zh')) return 'zh';
    if (low.startsWith('en')) return 'en';
  }
  return 'en';
}

const cache = new Map<string, Intl.NumberFormat>();
function nf(lang: Lang, opts: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = lang + JSON.stringify(opts);
  let f = cache.get(key);
  if (!f) {
    f = new Intl.NumberFormat(localeOf(lang), opts);
    cache.set(key, f);
  }
  return f;
}

const DASH = '—';

function finite(n: number | null | undefined): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

export function fmtInt(n: number | null | undefined, lang: Lang): string {
  return finite(n) ? nf(lang, { maximumFractionDigits: 0 }).format(n) : DASH;
}

export function fmtNumber(n: number | null | undefined, lang: Lang, digits = 1): string {
  return finite(n) ? nf(lang, { maximumFractionDigits: digits }).format(n) : DASH;
}

/** Short form for axes and sparklines: 12.3K / 1.2万. */
export function fmtCompact(n: number | null | undefined, lang: Lang): string {
  return finite(n) ? nf(lang, { notation: 'compact', maximumFractionDigits: 1 }).format(n) : DASH;
}

export function fmtMoney(n: number | null | undefined, lang: Lang, currency = 'CNY'): string {
  if (!finite(n)) return DASH;
  return nf(lang, { style: 'currency', currency, currencyDisplay: 'narrowSymbol', minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(n);
}

export function fmtMoneyCompact(n: number | null | undefined, lang: Lang, currency = 'CNY'): string {
  if (!finite(n)) return DASH;
  return nf(lang, { style: 'currency', currency, currencyDisplay: 'narrowSymbol', notation: 'compact', maximumFractionDigits: 1 }).format(n);
}

/** `percent` is already a percentage (3.25 means 3.25 %), as the API reports conversion_rate. */
export function fmtPercent(percent: number | null | undefined, lang: Lang, digits = 2): string {
  if (!finite(percent)) return DASH;
  return nf(lang, { style: 'percent', minimumFractionDigits: 0, maximumFractionDigits: digits }).format(percent / 100);
}

export type DeltaDir = 'up' | 'down' | 'flat' | 'new' | 'none';
export interface Delta {
  dir: DeltaDir;
  /** relative change, 0.1 = +10 %; null when the previous value is 0 or missing */
  ratio: number | null;
  text: string;
}

/** Change of `cur` against the previous equal window. */
export function delta(cur: number | null | undefined, prev: number | null | undefined, lang: Lang): Delta {
  if (!finite(cur) || !finite(prev)) return { dir: 'none', ratio: null, text: DASH };
  if (prev === 0) {
    if (cur === 0) return { dir: 'flat', ratio: 0, text: nf(lang, { style: 'percent' }).format(0) };
    return { dir: 'new', ratio: null, text: lang === 'zh' ? '新增' : 'new' };
  }
  const ratio = (cur - prev) / Math.abs(prev);
  const text = nf(lang, { style: 'percent', signDisplay: 'exceptZero', maximumFractionDigits: Math.abs(ratio) < 0.1 ? 1 : 0 }).format(ratio);
  const dir: DeltaDir = Math.abs(ratio) < 0.0005 ? 'flat' : ratio > 0 ? 'up' : 'down';
  return { dir, ratio, text };
}

export function toMs(t: string | number | Date | null | undefined): number | null {
  if (t === null || t === undefined) return null;
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'number') return Number.isFinite(t) ? t : null;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

const dtCache = new Map<string, Intl.DateTimeFormat>();
function df(lang: Lang, opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = lang + JSON.stringify(opts);
  let f = dtCache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(localeOf(lang), opts);
    dtCache.set(key, f);
  }
  return f;
}

export function fmtTime(t: string | number | null | undefined, lang: Lang, seconds = true, timeZone?: string): string {
  const ms = toMs(t);
  if (ms === null) return DASH;
  return df(lang, { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}), hour12: false, timeZone }).format(ms);
}

export function fmtDateTime(t: string | number | null | undefined, lang: Lang, timeZone?: string): string {
  const ms = toMs(t);
  if (ms === null) return DASH;
  return df(lang, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone }).format(ms);
}

export function fmtBytes(bytes: number | null | undefined, lang: Lang): string {
  if (!finite(bytes)) return DASH;
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return nf(lang, { style: 'unit', unit: units[i], unitDisplay: 'short', maximumFractionDigits: v < 10 && i > 0 ? 1 : 0 }).format(v);
}

/** 3725 → "1h 2m 5s" / "1小时2分5秒". */
export function fmtDuration(seconds: number | null | undefined, lang: Lang): string {
  if (!finite(seconds) || seconds < 0) return DASH;
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const parts: string[] = [];
  const u = lang === 'zh' ? ['天', '小时', '分', '秒'] : ['d ', 'h ', 'm ', 's'];
  if (d) parts.push(d + u[0]);
  if (d || h) parts.push(h + u[1]);
  if (d || h || m) parts.push(m + u[2]);
  if (!d) parts.push(sec + u[3]);
  return parts.join('').trim();
}

export function fmtMs(ms: number | null | undefined, lang: Lang): string {
  if (!finite(ms)) return DASH;
  if (Math.abs(ms) < 1000) return nf(lang, { style: 'unit', unit: 'millisecond', unitDisplay: 'short', maximumFractionDigits: 0 }).format(ms);
  return nf(lang, { style: 'unit', unit: 'second', unitDisplay: 'short', maximumFractionDigits: 1 }).format(ms / 1000);
}

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

/**
 * Money in the shop's currency. In Chinese "¥" is unambiguous; in English it
 * also reads as yen, so the English form is "CN¥12.50" (Intl's symbol for CNY),
 * and the currency code is said once beside the figures (currencyNote).
 */
export function fmtMoney(n: number | null | undefined, lang: Lang, currency = 'CNY'): string {
  if (!finite(n)) return DASH;
  return nf(lang, { style: 'currency', currency, currencyDisplay: lang === 'zh' ? 'narrowSymbol' : 'symbol', minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(n);
}

export function fmtMoneyCompact(n: number | null | undefined, lang: Lang, currency = 'CNY'): string {
  if (!finite(n)) return DASH;
  return nf(lang, { style: 'currency', currency, currencyDisplay: lang === 'zh' ? 'narrowSymbol' : 'symbol', notation: 'compact', maximumFractionDigits: 1 }).format(n);
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

/**
 * Epoch ms of an API time, or null for "no time": null, unparsable, and the
 * epoch itself (an empty window may still answer 1970-01-01T00:00:00Z).
 */
export function toMs(t: string | number | Date | null | undefined): number | null {
  if (t === null || t === undefined) return null;
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/**
 * The zone every time is shown in: undefined = the browser's. Set once by the
 * shell from the URL (zone=utc); the formatters' default.
 */
let displayZone: string | undefined;
export function setDisplayZone(zone: string | undefined): void {
  displayZone = zone;
}
export function getDisplayZone(): string | undefined {
  return displayZone;
}

/** "UTC" or the browser's IANA zone name (e.g. "Asia/Shanghai"). */
export function zoneName(zone: string | undefined = displayZone): string {
  if (zone) return zone;
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
  } catch {
    return 'local';
  }
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

export function fmtTime(t: string | number | null | undefined, lang: Lang, seconds = true, timeZone: string | undefined = displayZone): string {
  const ms = toMs(t);
  if (ms === null) return DASH;
  return df(lang, { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}), hourCycle: 'h23', timeZone }).format(ms);
}

/**
 * "2017-11-25 03:10:09" in `timeZone` (default: the display zone): year first,
 * the same in every language, so 03/04 is never read as April or March.
 */
export function fmtDateTime(t: string | number | null | undefined, _lang: Lang, timeZone: string | undefined = displayZone, seconds = true): string {
  const ms = toMs(t);
  if (ms === null) return DASH;
  const parts: Record<string, string> = {};
  for (const p of df('en', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone }).formatToParts(ms)) parts[p.type] = p.value;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}${seconds ? ':' + parts.second : ''}`;
}

/** "2017-11-25" in the display zone. */
export function fmtDate(t: string | number | null | undefined, lang: Lang, timeZone: string | undefined = displayZone): string {
  const s = fmtDateTime(t, lang, timeZone);
  return s === DASH ? s : s.slice(0, 10);
}

/**
 * Wall-clock fields of `ms` in `zone` as the value of an <input type="datetime-local">
 * ("2017-11-25T03:10"), and back. undefined zone = the browser's.
 */
export function toZoneInput(ms: number, zone: string | undefined): string {
  return fmtDateTime(ms, 'en', zone, false).replace(' ', 'T');
}
export function fromZoneInput(value: string, zone: string | undefined): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return NaN;
  if (!zone) return new Date(value).getTime();
  // Guess as UTC, then correct by the zone's offset at that instant (twice, for DST edges).
  const asUtc = Date.parse(value.slice(0, 16) + ':00Z');
  let ms = asUtc;
  for (let i = 0; i < 2; i++) {
    const shown = Date.parse(toZoneInput(ms, zone) + ':00Z');
    ms += asUtc - shown;
  }
  return ms;
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

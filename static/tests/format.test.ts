import { describe, expect, it } from 'vitest';
import { delta, detectLang, fmtBytes, fmtDate, fmtDateTime, fmtDuration, fmtInt, fmtMoney, fmtPercent, fmtTime, fromZoneInput, toMs, toZoneInput, zoneName } from '../src/format';

describe('formatting', () => {
  it('formats integers per locale', () => {
    expect(fmtInt(1234567, 'en')).toBe('1,234,567');
    expect(fmtInt(1234567, 'zh')).toBe('1,234,567');
    expect(fmtInt(null, 'en')).toBe('—');
    expect(fmtInt(NaN, 'zh')).toBe('—');
  });

  it('formats CNY as CN¥ in English (¥ alone reads as yen) and ¥ in Chinese', () => {
    expect(fmtMoney(1234.5, 'en')).toBe('CN¥1,234.50');
    expect(fmtMoney(1234.5, 'zh')).toBe('¥1,234.50');
    expect(fmtMoney(0, 'en')).toBe('CN¥0.00');
    expect(fmtMoney(undefined, 'en')).toBe('—');
  });

  it('formats API percentages (3.25 means 3.25 %)', () => {
    expect(fmtPercent(3.25, 'en')).toBe('3.25%');
    expect(fmtPercent(75.955, 'zh', 1)).toBe('76%');
    expect(fmtPercent(100, 'en')).toBe('100%');
    expect(fmtPercent(0, 'en')).toBe('0%');
  });

  it('computes change against the previous window', () => {
    expect(delta(110, 100, 'en')).toMatchObject({ dir: 'up', text: '+10%' });
    expect(delta(95, 100, 'en')).toMatchObject({ dir: 'down', text: '-5%' });
    expect(delta(100, 100, 'en').dir).toBe('flat');
    expect(delta(5, 0, 'en')).toMatchObject({ dir: 'new', ratio: null, text: 'new' });
    expect(delta(5, 0, 'zh').text).toBe('新增');
    expect(delta(0, 0, 'en').dir).toBe('flat');
    expect(delta(null, 3, 'en').dir).toBe('none');
    expect(delta(1001, 1000, 'en').text).toBe('+0.1%');
  });

  it('formats times in the given zone', () => {
    const t = '2026-01-02T03:04:05.000Z';
    expect(fmtTime(t, 'en', true, 'UTC')).toBe('03:04:05');
    expect(fmtTime(t, 'zh', false, 'Asia/Shanghai')).toBe('11:04');
    expect(fmtTime('garbage', 'en')).toBe('—');
    expect(toMs(t)).toBe(Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(toMs(12)).toBe(12);
  });

  it('treats null and the 1970 epoch from an empty window as no time', () => {
    expect(toMs(null)).toBeNull();
    expect(toMs('1970-01-01T00:00:00Z')).toBeNull();
    expect(toMs(0)).toBeNull();
    expect(fmtDateTime(null, 'en')).toBe('—');
    expect(fmtDateTime('1970-01-01T00:00:00.000Z', 'en', 'UTC')).toBe('—');
  });

  it('shows dates year first in the chosen zone, the same in both languages', () => {
    const t = '2017-11-25T19:10:09.000Z';
    expect(fmtDateTime(t, 'en', 'UTC')).toBe('2017-11-25 19:10:09');
    expect(fmtDateTime(t, 'zh', 'Asia/Shanghai')).toBe('2017-11-26 03:10:09');
    expect(fmtDate(t, 'en', 'Asia/Shanghai')).toBe('2017-11-26');
    expect(zoneName('UTC')).toBe('UTC');
  });

  it('round-trips datetime-local input values in a zone', () => {
    const ms = Date.UTC(2017, 10, 25, 19, 10);
    expect(toZoneInput(ms, 'UTC')).toBe('2017-11-25T19:10');
    expect(fromZoneInput('2017-11-25T19:10', 'UTC')).toBe(ms);
    expect(toZoneInput(ms, 'Asia/Shanghai')).toBe('2017-11-26T03:10');
    expect(fromZoneInput('2017-11-26T03:10', 'Asia/Shanghai')).toBe(ms);
    expect(fromZoneInput('2026-03-29T03:30', 'Europe/Berlin')).toBe(Date.UTC(2026, 2, 29, 1, 30));
    expect(fromZoneInput('', 'UTC')).toBeNaN();
  });

  it('formats bytes and durations', () => {
    expect(fmtBytes(512, 'en')).toBe('512 byte');
    expect(fmtBytes(3 * 1024 * 1024, 'en')).toBe('3 MB');
    expect(fmtBytes(1536, 'en')).toBe('1.5 kB');
    expect(fmtDuration(3725, 'en')).toBe('1h 2m 5s');
    expect(fmtDuration(59, 'zh')).toBe('59秒');
    expect(fmtDuration(90061, 'en')).toBe('1d 1h 1m');
  });

  it('detects the language from navigator.languages', () => {
    expect(detectLang(['zh-CN', 'en'])).toBe('zh');
    expect(detectLang(['zh-TW'])).toBe('zh');
    expect(detectLang(['en-GB', 'zh-CN'])).toBe('en');
    expect(detectLang(['de-DE'])).toBe('en');
    expect(detectLang(undefined)).toBe('en');
  });
});

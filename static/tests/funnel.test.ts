import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/api';
import { cohortsUrl, cohortTable, fmtConvert, formatSteps, funnelTable, funnelUrl, pageRange, parseSteps, refusedFilters, stepsOf, type FunnelAnswer } from '../src/funnel';
import { parseHash, toHash, type AppState } from '../src/state';

const base: AppState = { view: 'funnels', range: '1h', filters: {} };

describe('funnel steps', () => {
  it('reads and writes the API\'s step syntax, a filter per step', () => {
    const text = 'view,add_to_cart:category=c 1,purchase:product=p=2';
    const steps = parseSteps(text);
    expect(steps).toEqual([{ type: 'view' }, { type: 'add_to_cart', category: 'c 1' }, { type: 'purchase', product: 'p=2' }]);
    expect(formatSteps(steps)).toBe(text);
    expect(parseSteps(undefined)).toEqual([]);
    expect(formatSteps([{ type: '' }, { type: 'view' }])).toBe('view');
  });

  it('keeps steps, window, breakdown and cohort period in the URL', () => {
    const s: AppState = { ...base, steps: 'pv,cart:category=4756105,buy', fwindow: '30m', breakdown: 'location', period: 'hour' };
    const back = parseHash(toHash(s));
    expect(back).toMatchObject({ view: 'funnels', steps: s.steps, fwindow: '30m', breakdown: 'location', period: 'hour' });
    expect(parseHash('#/funnels?fwindow=soon&breakdown=os&period=year')).toEqual({ view: 'funnels', range: '5m', filters: {} });
  });

  it('asks for a preset as the range ending after the newest event\'s minute, a custom range as given', () => {
    const newest = Date.parse('2017-11-26T03:10:09Z');
    const end = Date.parse('2017-11-26T03:11:00Z');
    expect(pageRange(base, newest)).toEqual([end - 3_600_000, end]);
    expect(pageRange(base, null)).toBeNull();
    expect(pageRange({ ...base, range: 'custom', from: 1, to: 2 }, null)).toEqual([1, 2]);
    expect(funnelUrl({ ...base, steps: 'view,purchase:category=a&b', breakdown: 'device' }, [1, 2])).toBe('/api/analytics/funnel?from=1&to=2&window=1d&steps=view%2Cpurchase%3Acategory%3Da%26b&breakdown=device');
    expect(funnelUrl({ ...base, fwindow: '7d' }, [1, 2])).toBe('/api/analytics/funnel?from=1&to=2&window=7d');
    expect(cohortsUrl({ ...base, period: 'week' }, [1, 2])).toBe('/api/analytics/cohorts?from=1&to=2&period=week');
  });
});

describe('funnel and cohort tables', () => {
  const step = (n: number, type: string, users: number, extra = {}) => ({ step: n, event_type: type, users, conversion_from_previous: 50, conversion_from_start: 25, dropped: 1, median_time_to_convert_ms: n > 1 ? 1000 : null, average_time_to_convert_ms: n > 1 ? 1500 : null, ...extra });
  const answer: FunnelAnswer = {
    from: 'a', to: 'b', window: '1d', window_ms: 86_400_000, breakdown: 'device', default_steps: false, event_types: { view: 4 },
    steps: [step(1, 'view', 4), step(2, 'purchase', 1, { category_id: 'c1' })],
    breakdowns: [{ value: null, steps: [step(1, 'view', 4), step(2, 'purchase', 1)] }],
  };

  it('has one row per step, then per breakdown value and step, in the API\'s fields', () => {
    const t = funnelTable(answer);
    expect(t.columns.slice(0, 5)).toEqual(['breakdown', 'step', 'event_type', 'filter', 'users']);
    expect(t.rows).toHaveLength(4);
    expect(t.rows[1]).toEqual([null, 2, 'purchase', 'category=c1', 1, 50, 25, 1, 1000, 1500]);
    expect(t.rows[2][0]).toBe('(none)');
    expect(stepsOf(answer)).toEqual([{ type: 'view' }, { type: 'purchase', category: 'c1' }]);
  });

  it('lays cohorts out as users, returning per period, retention per period (blank past the range)', () => {
    const t = cohortTable({ from: 'a', to: 'b', period: 'day', cohorts: [{ start: 'd0', users: 10, returning: [10, 4], retention: [100, 40] }, { start: 'd1', users: 5, returning: [5], retention: [100] }] });
    expect(t.columns).toEqual(['cohort_start', 'users', 'returning_0', 'returning_1', 'retention_0', 'retention_1']);
    expect(t.rows).toEqual([['d0', 10, 10, 4, 100, 40], ['d1', 5, 5, null, 100, null]]);
  });

  it('says times to convert in s, min, h or d', () => {
    expect([fmtConvert(null), fmtConvert(4_400), fmtConvert(125_000), fmtConvert(3_900_000), fmtConvert(3 * 86_400_000)]).toEqual(['—', '4 s', '2 min', '1 h 5 min', '3 d']);
  });

  it('sends the drill-down filters to both endpoints as /api/analytics/range takes them', () => {
    const s: AppState = { ...base, filters: { device: 'mobile', category: 'a&b' }, breakdown: 'location' };
    expect(funnelUrl(s, [1, 2])).toBe('/api/analytics/funnel?from=1&to=2&window=1d&breakdown=location&category=a%26b&device=mobile');
    expect(cohortsUrl({ ...s, period: 'week' }, [1, 2])).toBe('/api/analytics/cohorts?from=1&to=2&period=week&category=a%26b&device=mobile');
    expect(cohortsUrl(base, [1, 2])).toBe('/api/analytics/cohorts?from=1&to=2&period=day');
  });

  it("names the filters a server refused as unknown parameters, and nothing for any other error", () => {
    const f = { category: 'c1', device: 'mobile' };
    const unknown = (detail: string) => new ApiError(400, 'invalid_argument', detail);
    expect(refusedFilters(unknown('unknown query parameter category; this route takes from, to, steps, window, breakdown'), f)).toEqual(['category']);
    expect(refusedFilters(unknown('unknown query parameters category, device; this route takes from, to, period'), f)).toEqual(['category', 'device']);
    // Not a filter of the page's, another 400, another status, not an API error: not a refusal.
    expect(refusedFilters(unknown('unknown query parameter location; this route takes from, to, period'), f)).toBeNull();
    expect(refusedFilters(unknown('unknown category: c1'), f)).toBeNull();
    expect(refusedFilters(new ApiError(404, 'not_found', 'unknown query parameter category'), f)).toBeNull();
    expect(refusedFilters(new Error('unknown query parameter category'), f)).toBeNull();
  });
});

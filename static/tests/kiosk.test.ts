import { describe, expect, it } from 'vitest';
import { KIOSK_DEFAULT_SECONDS, kioskPlan, nextStep, fitScale } from '../src/kiosk';

describe('kiosk form', () => {
  it('is off without the kiosk parameter', () => {
    expect(kioskPlan('')).toBeNull();
    expect(kioskPlan('?lang=zh')).toBeNull();
  });

  it('rotates every 20 s by default, or every N s (at least 5)', () => {
    expect(kioskPlan('?kiosk')!.intervalMs).toBe(KIOSK_DEFAULT_SECONDS * 1000);
    expect(kioskPlan('?kiosk=')!.intervalMs).toBe(KIOSK_DEFAULT_SECONDS * 1000);
    expect(kioskPlan('?kiosk=45')!.intervalMs).toBe(45_000);
    expect(kioskPlan('?kiosk=1')!.intervalMs).toBe(5_000);
    expect(kioskPlan('?kiosk=soon')!.intervalMs).toBe(KIOSK_DEFAULT_SECONDS * 1000);
  });

  it('walks the overview ranges and the system view, then starts again', () => {
    const plan = kioskPlan('?kiosk')!;
    let s = plan.steps[0];
    const seen = [s];
    for (let i = 0; i < plan.steps.length; ++i) seen.push((s = nextStep(plan, s)));
    expect(seen.map((x) => x.view + ':' + x.range)).toEqual(['overview:5m', 'overview:1h', 'overview:24h', 'system:5m', 'overview:5m']);
  });

  it('starts from the first step when the current view is not in the plan', () => {
    const plan = kioskPlan('?kiosk')!;
    expect(nextStep(plan, { view: 'users', range: '15m' })).toEqual(plan.steps[0]);
  });
});

describe('fitScale', () => {
  it('shrinks content taller than the screen to the screen, never enlarges', () => {
    expect(fitScale(2160, 1080)).toBe(0.5);
    expect(fitScale(900, 1080)).toBe(1);
    expect(fitScale(1080, 1080)).toBe(1);
  });
  it('leaves the page as it is when nothing is measured yet', () => {
    expect(fitScale(0, 1080)).toBe(1);
    expect(fitScale(Number.NaN, 1080)).toBe(1);
    expect(fitScale(2000, 0)).toBe(1);
  });
});

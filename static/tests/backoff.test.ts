import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, DEFAULT_BACKOFF } from '../src/backoff';

const mid = () => 0.5; // no jitter effect

describe('reconnect backoff', () => {
  it('grows exponentially and caps', () => {
    const opts = { baseMs: 500, maxMs: 15000, factor: 2, jitter: 0 };
    expect([0, 1, 2, 3, 4, 5, 6, 50].map((a) => backoffDelay(a, opts))).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });

  it('applies bounded jitter and never exceeds the cap', () => {
    const opts = { ...DEFAULT_BACKOFF, jitter: 0.3 };
    expect(backoffDelay(0, opts, () => 0)).toBe(350);
    expect(backoffDelay(0, opts, () => 1)).toBe(650);
    expect(backoffDelay(0, opts, mid)).toBe(500);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(i % 12, opts);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(opts.maxMs);
    }
  });

  it('treats bad attempts as the first', () => {
    expect(backoffDelay(-3, DEFAULT_BACKOFF, mid)).toBe(500);
    expect(backoffDelay(1.7, DEFAULT_BACKOFF, mid)).toBe(1000);
  });

  it('advances per attempt and resets after a healthy connection', () => {
    const b = new Backoff(DEFAULT_BACKOFF, mid);
    expect([b.next(), b.next(), b.next()]).toEqual([500, 1000, 2000]);
    expect(b.attempts).toBe(3);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(500);
  });
});

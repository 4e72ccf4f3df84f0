import { describe, expect, it } from 'vitest';
import { freshness, HISTORICAL_MS, IDLE_MS } from '../src/liveness';

describe('liveness', () => {
  const now = Date.UTC(2026, 5, 1, 12, 0, 0);
  it('is empty without any event', () => {
    expect(freshness(null, now)).toEqual({ kind: 'empty' });
  });
  it('is live while the newest event is under 10 s old', () => {
    expect(freshness(now - 1500, now)).toEqual({ kind: 'live' });
    expect(freshness(now - IDLE_MS + 1, now)).toEqual({ kind: 'live' });
    // A clock slightly behind the server's is still live.
    expect(freshness(now + 800, now)).toEqual({ kind: 'live' });
  });
  it('says for how long no event came once that is 10 s or more', () => {
    expect(freshness(now - IDLE_MS, now)).toEqual({ kind: 'idle', idleS: 10 });
    expect(freshness(now - 90_400, now)).toEqual({ kind: 'idle', idleS: 90 });
  });
  it('calls data historical when the newest event is an hour or more behind', () => {
    const newest = Date.UTC(2017, 11, 3, 15, 59, 42);
    expect(freshness(newest, now)).toEqual({ kind: 'historical', newestMs: newest });
    expect(freshness(now - HISTORICAL_MS, now).kind).toBe('historical');
    expect(freshness(now - HISTORICAL_MS + 1000, now).kind).toBe('idle');
  });
});

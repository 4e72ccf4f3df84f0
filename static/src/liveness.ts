// How fresh the figures on screen are, from the newest event time (the
// snapshot's watermark), the wall clock and the socket's state. Pure, so the
// states can be tested with any clock.

/** No event for this long (wall clock past the newest event) and the header says so. */
export const IDLE_MS = 10_000;
/** The newest event this far behind the wall clock: the data is history, not live. */
export const HISTORICAL_MS = 3_600_000;

export type Freshness =
  /** no event yet (an empty install) */
  | { kind: 'empty' }
  /** events arrive */
  | { kind: 'live' }
  /** connected, but the newest event is idleS seconds old */
  | { kind: 'idle'; idleS: number }
  /** the newest event is more than an hour old: imported or stopped data */
  | { kind: 'historical'; newestMs: number };

/**
 * The state of the data: `watermarkMs` is the newest event time (null for none),
 * `nowMs` the wall clock. The connection is reported beside it, not here: a
 * disconnected page keeps the last state and is dimmed.
 */
export function freshness(watermarkMs: number | null, nowMs: number): Freshness {
  if (watermarkMs === null) return { kind: 'empty' };
  const lag = nowMs - watermarkMs;
  if (lag >= HISTORICAL_MS) return { kind: 'historical', newestMs: watermarkMs };
  if (lag >= IDLE_MS) return { kind: 'idle', idleS: Math.floor(lag / 1000) };
  return { kind: 'live' };
}

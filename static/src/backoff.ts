// Reconnect delays: exponential with full-range jitter, capped.

export interface BackoffOptions {
  /** first delay in ms */
  baseMs: number;
  /** upper bound in ms */
  maxMs: number;
  /** growth per attempt */
  factor: number;
  /** 0 = none; 0.3 = the delay is drawn from [d·0.7, d·1.3] (then capped) */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 15000, factor: 2, jitter: 0.3 };

/** Delay before reconnect attempt `attempt` (0 = first retry). */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const a = Math.max(0, Math.floor(attempt));
  const raw = Math.min(opts.maxMs, opts.baseMs * Math.pow(opts.factor, Math.min(a, 30)));
  const j = Math.min(1, Math.max(0, opts.jitter));
  const spread = raw * j * (2 * random() - 1);
  return Math.round(Math.max(0, Math.min(opts.maxMs, raw + spread)));
}

export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions = DEFAULT_BACKOFF, private readonly random: () => number = Math.random) {}
  /** The delay for the next attempt; advances the attempt counter. */
  next(): number {
    return backoffDelay(this.attempt++, this.opts, this.random);
  }
  /** Call once a connection proved healthy (a message arrived). */
  reset(): void {
    this.attempt = 0;
  }
  get attempts(): number {
    return this.attempt;
  }
}

// WebSocket to /ws/real-time with automatic reconnect (exponential backoff with
// jitter), a stale-connection watchdog and browser online/offline awareness.

import { Backoff } from './backoff';

export type ConnStatus = 'connecting' | 'open' | 'retry' | 'offline';
export interface ConnState {
  status: ConnStatus;
  /** when status = retry: epoch ms of the next attempt */
  retryAt?: number;
  attempts: number;
  lastMessageAt?: number;
}

export interface LiveSocketOptions {
  /** Read at each (re)connect, so a key entered later is used. */
  url: string | (() => string);
  onMessage: (data: unknown, recvMs: number) => void;
  onState: (s: ConnState) => void;
  /** close and reconnect when no message arrived for this long */
  staleMs?: number;
  backoff?: Backoff;
  /** injectable for tests */
  createSocket?: (url: string) => WebSocket;
}

export class LiveSocket {
  private ws: WebSocket | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private readonly backoff: Backoff;
  private state: ConnState = { status: 'connecting', attempts: 0 };
  private stopped = false;

  constructor(private readonly opts: LiveSocketOptions) {
    this.backoff = opts.backoff ?? new Backoff();
  }

  start(): void {
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.watchdog = setInterval(this.checkStale, 2000);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.ws?.close();
    this.ws = null;
  }

  private setState(patch: Partial<ConnState>): void {
    this.state = { ...this.state, ...patch };
    this.opts.onState(this.state);
  }

  private connect(): void {
    if (this.stopped) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setState({ status: 'connecting', retryAt: undefined, attempts: this.backoff.attempts });
    let ws: WebSocket;
    try {
      ws = (this.opts.createSocket ?? ((u) => new WebSocket(u)))(typeof this.opts.url === 'function' ? this.opts.url() : this.opts.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws === ws) this.setState({ status: 'open' });
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      const now = Date.now();
      this.backoff.reset();
      let data: unknown;
      try {
        data = JSON.parse(typeof ev.data === 'string' ? ev.data : '');
      } catch {
        return;
      }
      if (this.state.status !== 'open') this.setState({ status: 'open' });
      this.state.lastMessageAt = now;
      this.opts.onMessage(data, now);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleRetry();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    if (typeof navigator !== 'undefined' && navigator.onLine === false) {
      this.setState({ status: 'offline', retryAt: undefined });
      return;
    }
    const delay = this.backoff.next();
    this.setState({ status: 'retry', retryAt: Date.now() + delay, attempts: this.backoff.attempts });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private readonly onOnline = () => {
    if (!this.ws) {
      this.backoff.reset();
      this.connect();
    }
  };

  private readonly onOffline = () => {
    this.setState({ status: 'offline' });
  };

  private readonly checkStale = () => {
    const stale = this.opts.staleMs ?? 10_000;
    const ws = this.ws;
    if (!ws || this.state.status !== 'open') return;
    const last = this.state.lastMessageAt ?? 0;
    if (last && Date.now() - last > stale) {
      this.ws = null;
      ws.onclose = null;
      ws.close();
      this.scheduleRetry();
    }
  };

  get current(): ConnState {
    return this.state;
  }
}

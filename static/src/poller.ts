// Refreshing a view by polling: while the view is shown, refresh() runs at
// once, then intervalMs after each run while the page is visible, and again
// as soon as a hidden page becomes visible; a hidden view runs no timer.

export interface Poller {
  show(): void;
  hide(): void;
  // Refresh now (after an action), restarting the interval.
  now(): void;
}

export function poller(refresh: () => Promise<void>, intervalMs: number): Poller {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let active = false;

  async function poll() {
    timer = null;
    if (!active) return;
    if (!document.hidden) await refresh();
    if (active && !timer) timer = setTimeout(poll, intervalMs);
  }

  const onVisible = () => {
    if (active && !document.hidden && !timer) void poll();
  };

  const stop = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };

  return {
    show() {
      if (active) return;
      active = true;
      document.addEventListener('visibilitychange', onVisible);
      void poll();
    },
    hide() {
      active = false;
      document.removeEventListener('visibilitychange', onVisible);
      stop();
    },
    now() {
      stop();
      void poll();
    },
  };
}

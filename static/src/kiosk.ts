// Kiosk form for an appliance's screen: `/?kiosk` (or `?kiosk=SECONDS`).
// Full screen, no admin controls or navigation, and the views rotate on a
// timer. The plan is a pure function of the query string; start() applies it.

import type { AppState } from './state';

export interface KioskPlan {
  intervalMs: number;
  /** States shown in turn; each keeps the language of the current state. */
  steps: Array<Pick<AppState, 'view' | 'range'>>;
}

export const KIOSK_DEFAULT_SECONDS = 20;
const MIN_SECONDS = 5;

/** null when the query string does not ask for kiosk form. */
export function kioskPlan(search: string): KioskPlan | null {
  const params = new URLSearchParams(search);
  if (!params.has('kiosk')) return null;
  const asked = Number(params.get('kiosk'));
  const seconds = params.get('kiosk') && Number.isFinite(asked) ? Math.max(MIN_SECONDS, asked) : KIOSK_DEFAULT_SECONDS;
  return {
    intervalMs: seconds * 1000,
    steps: [
      { view: 'overview', range: '5m' },
      { view: 'overview', range: '1h' },
      { view: 'overview', range: '24h' },
      { view: 'system', range: '5m' },
    ],
  };
}

/** The step after the one matching s (the first when none matches). */
export function nextStep(plan: KioskPlan, s: Pick<AppState, 'view' | 'range'>): Pick<AppState, 'view' | 'range'> {
  const i = plan.steps.findIndex((p) => p.view === s.view && p.range === s.range);
  return plan.steps[(i + 1) % plan.steps.length];
}

/**
 * Marks the document (styles.css hides controls under html.kiosk), asks for
 * full screen on the first touch or key (browsers allow it only then; run the
 * browser itself in kiosk mode for a screen without input), and rotates.
 */
export function startKiosk(plan: KioskPlan, get: () => AppState, go: (s: AppState) => void): () => void {
  document.documentElement.classList.add('kiosk');
  const stopFitting = fitToScreen(document.getElementById('app'));
  const full = () => void document.documentElement.requestFullscreen?.().catch(() => undefined);
  window.addEventListener('pointerdown', full, { once: true });
  window.addEventListener('keydown', full, { once: true });
  const s = get();
  go({ ...s, ...plan.steps[0], filters: {}, from: undefined, to: undefined, user: undefined });
  const timer = setInterval(() => {
    const cur = get();
    go({ ...cur, ...nextStep(plan, cur), filters: {}, from: undefined, to: undefined, user: undefined });
  }, plan.intervalMs);
  return () => {
    clearInterval(timer);
    stopFitting();
  };
}

/** The scale that shows content of `height` whole in `viewport` (never enlarges). */
export function fitScale(height: number, viewport: number): number {
  if (!(height > 0) || !(viewport > 0)) return 1;
  return Math.min(1, viewport / height);
}

/**
 * Scales the page down, whatever view it shows, so it is seen whole on the
 * screen: a kiosk has no one to scroll. Transforms do not change layout, so
 * measuring the content again after a change cannot loop.
 */
function fitToScreen(app: HTMLElement | null): () => void {
  if (!app) return () => undefined;
  const fit = () => {
    const scale = fitScale(app.scrollHeight, window.innerHeight);
    app.style.transformOrigin = 'top center';
    app.style.transform = scale < 1 ? `scale(${scale})` : '';
  };
  const observer = new ResizeObserver(fit);
  observer.observe(app);
  window.addEventListener('resize', fit);
  fit();
  return () => {
    observer.disconnect();
    window.removeEventListener('resize', fit);
  };
}

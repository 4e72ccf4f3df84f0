// Shared application context passed to every view.

import type { Snapshot } from './api';
import type { Lang } from './format';
import type { SnapshotHistory } from './history';
import type { Key } from './i18n';
import type { AppState, Store } from './state';
import type { ConnState } from './ws';

export interface Ctx {
  lang: Lang;
  currency: string;
  t: (key: Key, vars?: Record<string, string | number>) => string;
  state: Store<AppState>;
  /** navigate: push = new history entry (filters, views); replace otherwise */
  go: (next: AppState, push?: boolean) => void;
  snapshot: Store<Snapshot | null>;
  conn: Store<ConnState>;
  history: SnapshotHistory;
}

export interface View {
  el: HTMLElement;
  /** the route became active / the state changed while active */
  show(state: AppState, prev: AppState | null): void;
  /** the route is no longer active: stop timers */
  hide(): void;
  /** a new live snapshot (only while active and the tab is visible) */
  snapshot?(s: Snapshot): void;
  destroy(): void;
}

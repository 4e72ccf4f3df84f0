// Cluster mode (README "Cluster"): what GET /api/cluster says, as the
// Cluster view's tables, and the coverage of the answers on screen, as the
// "Partial" banner every view shows. Apart from the DOM, for the unit tests.

import type { Cell, TableData } from './export';

/** `coverage` of a merged (scope cluster) or local answer, and of the WebSocket's message in cluster mode. */
export interface Coverage {
  scope: 'cluster' | 'local';
  partitions: number;
  current: number;
  members: number;
  missing: string[];
  exact_top?: boolean;
  /** partitions two answering members both hold (one that moved): counted twice */
  overlap?: number[];
  /** members left out of the merge: their state still holds a partition that moved to another member */
  left_out?: string[];
}

/** One member record of GET /api/cluster (as published in the members topic, plus `current`). */
export interface ClusterMember {
  node_id: string;
  advertise: string;
  partitions: number[];
  lag: number;
  /** messages behind the end, by partition ("3": 12); absent from older nodes */
  partition_lag?: Record<string, number>;
  owned?: number[];
  rebuilding?: boolean;
  /** 0..1 while rebuilding: the share of its log the windows' rebuild has read */
  rebuild_progress?: number;
  updated_ms: number;
  current: boolean;
}

/** GET /api/cluster; `{enabled: false}` without a cluster. */
export interface ClusterStatus {
  enabled: boolean;
  node_id?: string;
  advertise?: string;
  topic?: string;
  partitions?: number;
  assigned?: number[];
  held_partitions?: number[];
  owned?: number[];
  rebuilding?: boolean;
  rebuild_progress?: number;
  rebuilds?: number;
  rebalances?: number;
  handover_failures?: number;
  members?: ClusterMember[];
  last_error?: string;
}

/** An answer's coverage when it has one of the expected shape, else null. */
export function coverageOf(body: unknown): Coverage | null {
  const c = (body as { coverage?: unknown } | null)?.coverage as Partial<Coverage> | undefined;
  if (!c || typeof c !== 'object' || typeof c.partitions !== 'number' || typeof c.current !== 'number') return null;
  return { scope: c.scope === 'local' ? 'local' : 'cluster', partitions: c.partitions, current: c.current, members: typeof c.members === 'number' ? c.members : 0, missing: Array.isArray(c.missing) ? c.missing.map(String) : [], exact_top: c.exact_top, overlap: Array.isArray(c.overlap) && c.overlap.length > 0 ? c.overlap.map(Number) : undefined, left_out: Array.isArray(c.left_out) && c.left_out.length > 0 ? c.left_out.map(String) : undefined };
}

/**
 * A merged answer that does not hold every partition: fewer partitions
 * current than the topic has, or a member that did not answer. An answer of
 * this node's partitions only (scope local) says what it covers and is not
 * "partial" in that sense.
 */
export function isPartial(c: Coverage | null): boolean {
  return !!c && c.scope === 'cluster' && (c.current < c.partitions || c.missing.length > 0 || (c.overlap?.length ?? 0) > 0);
}

/** Of several answers' coverages, the one to report: a partial one with the fewest partitions current, else null. */
export function worstCoverage(list: (Coverage | null)[]): Coverage | null {
  let worst: Coverage | null = null;
  for (const c of list)
    if (isPartial(c) && (!worst || c!.current < worst.current || (c!.current === worst.current && c!.missing.length > worst.missing.length))) worst = c;
  return worst;
}

type T = (key: 'cluster.partial' | 'cluster.partial.missing' | 'cluster.partial.missing.many' | 'cluster.partial.overlap' | 'cluster.partial.left_out', vars?: Record<string, string | number>) => string;

/** The banner's text ("Partial: 4 of 6 partitions, node X not answering"); null when the coverage is whole. */
export function partialText(c: Coverage | null, t: T): string | null {
  if (!isPartial(c)) return null;
  let text = t('cluster.partial', { n: c!.current, m: c!.partitions });
  if (c!.missing.length > 0) {
    const key = c!.missing.length === 1 ? 'cluster.partial.missing' : 'cluster.partial.missing.many';
    text += t(key, { nodes: c!.missing.join(', ') });
  }
  if (c!.left_out?.length) text += t('cluster.partial.left_out', { nodes: c!.left_out.join(', ') });
  if (c!.overlap?.length) text += t('cluster.partial.overlap', { p: c!.overlap.join(', ') });
  return text;
}

/**
 * The coverages of the answers on screen, by source: "ws" for the live
 * message, an API path (without its query) for each REST answer. A newer
 * answer of a source replaces its older one; clear() forgets the REST ones
 * (a new view asks its own).
 */
export class CoverageBoard {
  private bySource = new Map<string, Coverage | null>();
  private listeners = new Set<() => void>();

  note(source: string, body: unknown): void {
    const c = coverageOf(body);
    const had = this.bySource.get(source) ?? null;
    if (!c && !had) return;
    this.bySource.set(source, c);
    if (JSON.stringify(c) !== JSON.stringify(had)) this.changed();
  }

  clear(keep: string[] = ['ws']): void {
    let any = false;
    for (const k of [...this.bySource.keys()])
      if (!keep.includes(k)) {
        any = any || isPartial(this.bySource.get(k) ?? null);
        this.bySource.delete(k);
      }
    if (any) this.changed();
  }

  worst(): Coverage | null {
    return worstCoverage([...this.bySource.values()]);
  }

  subscribe(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }
}

/** The one board of the page, fed by getJson and the live socket. */
export const coverageBoard = new CoverageBoard();

/** The source name of a REST path: the path without its query. */
export function sourceOf(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/** Partitions as text: "0, 2, 4"; "—" for none. */
export function partitionsText(list: number[] | undefined): string {
  return list && list.length ? [...list].sort((a, b) => a - b).join(', ') : '—';
}

/** The Cluster view's nodes table: one row per member, this node first, then by node id. */
export function nodesTable(s: ClusterStatus): TableData {
  const columns = ['node_id', 'advertise', 'current', 'rebuilding', 'rebuild_progress', 'partitions', 'owned', 'lag', 'updated_ms'];
  const members = [...(s.members ?? [])].sort((a, b) => (a.node_id === s.node_id ? -1 : b.node_id === s.node_id ? 1 : a.node_id.localeCompare(b.node_id)));
  const rows: Cell[][] = members.map((m) => [
    m.node_id,
    m.advertise,
    m.current ? 'true' : 'false',
    m.rebuilding ? 'true' : 'false',
    m.rebuilding && typeof m.rebuild_progress === 'number' ? m.rebuild_progress : null,
    partitionsText(m.partitions),
    partitionsText(m.owned ?? m.partitions),
    m.lag,
    m.updated_ms,
  ]);
  return { columns, rows };
}

/**
 * The Cluster view's partitions table: one row per partition of the topic
 * (0 .. partitions-1, then any other a member names): the current member
 * consuming it (null: none), its lag there (null: not known), and whether
 * that member's answers already hold it (its derived state covers it).
 */
export function partitionsTable(s: ClusterStatus): TableData {
  const columns = ['partition', 'node_id', 'lag', 'held', 'rebuilding'];
  const ids = new Set<number>();
  for (let p = 0; p < (s.partitions ?? 0); p++) ids.add(p);
  for (const m of s.members ?? []) for (const p of m.partitions ?? []) ids.add(p);
  const rows: Cell[][] = [...ids]
    .sort((a, b) => a - b)
    .map((p) => {
      const m = (s.members ?? []).find((x) => x.current && (x.partitions ?? []).includes(p));
      if (!m) return [p, null, null, 'false', 'false'];
      const lag = m.partition_lag?.[String(p)];
      const held = (m.owned ?? m.partitions).includes(p);
      return [p, m.node_id, typeof lag === 'number' ? lag : null, held ? 'true' : 'false', m.rebuilding ? 'true' : 'false'];
    });
  return { columns, rows };
}

/** Partitions held by the current members' answers, of the topic's: what a merged answer would cover now. */
export function clusterCoverage(s: ClusterStatus): { current: number; partitions: number; notCurrent: string[] } {
  let current = 0;
  const notCurrent: string[] = [];
  for (const m of s.members ?? []) {
    if (!m.current) {
      notCurrent.push(m.node_id);
      continue;
    }
    const owned = m.owned ?? m.partitions;
    current += (m.partitions ?? []).filter((p) => owned.includes(p)).length;
  }
  return { current, partitions: s.partitions ?? 0, notCurrent };
}

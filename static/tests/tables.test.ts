import { describe, expect, it } from 'vitest';
import type { Propensity, SystemStatus, UserProfile } from '../src/api';
import { toCsv, toJson } from '../src/export';
import { rankingRows } from '../src/product';
import { componentsTable, fieldAt, figuresTable, FIGURE_FIELDS, profileTable, propensityTable, rankingTable, recommendationsTable } from '../src/tables';

const profile: UserProfile = {
  user_id: 'u,1',
  events: { purchase: 1, view: 2, rate: 0, zoom: 4 },
  total_events: 7,
  page_views: 2,
  purchases: 1,
  total_spend: 25,
  currency: 'CNY',
  purchase_propensity: 0.125,
  first_seen: '2017-11-25T03:00:00Z',
  last_seen: '2017-11-25T03:10:00Z',
  top_categories: [
    { category_id: 'c2', interactions: 5 },
    { category_id: 'c1', interactions: 2 },
  ],
  recent_events: [],
};

const status = {
  status: 'running',
  version: '1.2.3',
  uptime_seconds: 61,
  components: {
    http_server: { status: 'healthy', state: 'running', failures: 0, restarts: 0 },
    kafka_sink: { status: 'unhealthy', state: 'running', failures: 3, restarts: 1, last_error: 'broker down, "retrying"', backlog: 1200 },
  },
  throughput: { events_per_second: 12.5, events_ingested: 100, events_applied: 99, duplicates: 0 },
  ingest: { queued_events: 0, appends: 4, append_failures: 0, last_sequence: 100, lag_events: 1, watermark: '2017-11-25T03:10:00Z', lag_ms: 250 },
  ring: { occupancy: 3, capacity: 1024 },
  event_log: { first_sequence: 1, last_sequence: 100, blocks: 2, bytes: 4096 },
  stream_processor: { state: 'running', replayed_events: 10, applied_through: 99, events_too_late: 0 },
  memory: { rss_bytes: 1 << 20 },
  websocket_clients: 2,
  timestamp: '2017-11-25T03:10:01Z',
} as SystemStatus;

describe('panel tables of the Users, System and Products pages', () => {
  it("downloads a profile as one row: its figures, then each event type's count in ingest's order, then its top categories in order", () => {
    const d = profileTable(profile);
    expect(d.columns).toEqual(['user_id', 'total_events', 'total_spend', 'currency', 'purchase_propensity', 'first_seen', 'last_seen', 'events.view', 'events.purchase', 'events.rate', 'events.zoom', 'top_categories.c2', 'top_categories.c1']);
    expect(d.rows).toEqual([['u,1', 7, 25, 'CNY', 0.125, '2017-11-25T03:00:00Z', '2017-11-25T03:10:00Z', 2, 1, 0, 4, 5, 2]]);
    expect(toCsv(d).split('\r\n')[1]).toBe('"u,1",7,25,CNY,0.125,2017-11-25T03:00:00Z,2017-11-25T03:10:00Z,2,1,0,4,5,2');
  });

  it('leaves the propensity empty when the profile has none', () => {
    const d = profileTable({ ...profile, purchase_propensity: null, currency: undefined, top_categories: [] });
    expect(JSON.parse(toJson(d))[0]).toMatchObject({ purchase_propensity: null, currency: null });
    expect(d.columns.some((c) => c.startsWith('top_categories.'))).toBe(false);
  });

  it('ranks the likely buyers and the recommendations in the order the API gave them', () => {
    const r: Propensity = { users: [{ user_id: 'a', purchase_propensity: 0.9 }, { user_id: 'b', purchase_propensity: 0.4 }], trained_examples: 3, horizon_seconds: 600 };
    expect(propensityTable(r).rows).toEqual([[1, 'a', 0.9], [2, 'b', 0.4]]);
    const recs = recommendationsTable([
      { product_id: 'p9', score: 0.5, reason: 'viewed together with p1', reason_code: 'viewed_together', related_id: 'p1' },
      { product_id: 'p3', score: 0.25, reason: 'popular right now', reason_code: 'popular' },
    ]);
    expect(recs.columns).toEqual(['rank', 'product_id', 'score', 'reason_code', 'related_id', 'reason']);
    expect(recs.rows).toEqual([[1, 'p9', 0.5, 'viewed_together', 'p1', 'viewed together with p1'], [2, 'p3', 0.25, 'popular', null, 'popular right now']]);
  });

  it('downloads the components with their state, failures, restarts, last error and backlog (empty where a component has none)', () => {
    const d = componentsTable(status);
    expect(d.rows).toEqual([
      ['http_server', 'healthy', 'running', 0, 0, null, null],
      ['kafka_sink', 'unhealthy', 'running', 3, 1, 'broker down, "retrying"', 1200],
    ]);
    expect(toCsv(d).split('\r\n')[2]).toBe('kafka_sink,unhealthy,running,3,1,"broker down, ""retrying""",1200');
  });

  it('downloads the figures as one row of the status answer at their field paths', () => {
    const d = figuresTable(status);
    expect(d.columns).toEqual([...FIGURE_FIELDS]);
    const row = Object.fromEntries(d.columns.map((c, i) => [c, d.rows[0][i]]));
    expect(row).toMatchObject({ 'throughput.events_per_second': 12.5, 'ingest.lag_ms': 250, 'ring.capacity': 1024, 'event_log.bytes': 4096, 'stream_processor.state': 'running', websocket_clients: 2, version: '1.2.3' });
    expect(d.rows[0].every((v) => v !== null)).toBe(true);
    expect(fieldAt(status, 'ring.nothing')).toBeNull();
    expect(fieldAt(status, 'components')).toBeNull(); // an object is not a cell
  });

  it("downloads a category ranking as shown, the product's own row after the top ones", () => {
    const list = Array.from({ length: 12 }, (_, i) => ({ product_id: 'p' + i, interactions: 100 - i }));
    const d = rankingTable(rankingRows(list, 'p11', 3).rows, 'c1');
    expect(d.rows).toEqual([[1, 'p0', 'c1', 100, 0], [2, 'p1', 'c1', 99, 0], [3, 'p2', 'c1', 98, 0], [12, 'p11', 'c1', 89, 1]]);
  });
});

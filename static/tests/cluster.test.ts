import { describe, expect, it } from 'vitest';
import { clusterCoverage, CoverageBoard, coverageOf, isPartial, nodesTable, partialText, partitionsTable, sourceOf, worstCoverage, type ClusterStatus, type Coverage } from '../src/cluster';
import { toCsv } from '../src/export';
import { translate } from '../src/i18n';

// GET /api/cluster of node "n1" of three on a topic of 6 partitions, as a
// cluster node answers it: n3 gained partition 5 and is rebuilding for it
// (its state holds 4 only), n2's record is stale (not current).
const recorded: ClusterStatus = JSON.parse(`{"enabled":true,"node_id":"n1","advertise":"127.0.0.1:8081","topic":"user_behavior_events","partitions":6,"assigned":[0,1],"held_partitions":[0,1,2],"derived_state":"owned","owned":[0,1],"rebuilding":false,"rebuilds":2,"rebalances":3,"handover_failures":0,"members":[
{"node_id":"n3","advertise":"127.0.0.1:8083","partitions":[4,5],"lag":120,"partition_lag":{"4":0,"5":120},"owned":[4],"rebuilding":true,"rebuild_progress":0.375,"updated_ms":1764858000000,"current":true},
{"node_id":"n1","advertise":"127.0.0.1:8081","partitions":[0,1],"lag":3,"partition_lag":{"0":1,"1":2},"owned":[0,1],"rebuilding":false,"updated_ms":1764858000500,"current":true},
{"node_id":"n2","advertise":"127.0.0.1:8082","partitions":[2,3],"lag":0,"partition_lag":{"2":0,"3":0},"owned":[2,3],"rebuilding":false,"updated_ms":1764857990000,"current":false}]}`);

const en = (key: Parameters<typeof translate>[1], vars?: Record<string, string | number>) => translate('en', key, vars);
const zh = (key: Parameters<typeof translate>[1], vars?: Record<string, string | number>) => translate('zh', key, vars);

describe('Cluster view tables from a recorded /api/cluster', () => {
  it('lists the nodes, this node first, with current, rebuilding and its progress, partitions, held and lag', () => {
    const t = nodesTable(recorded);
    expect(t.columns).toEqual(['node_id', 'advertise', 'current', 'rebuilding', 'rebuild_progress', 'partitions', 'owned', 'lag', 'updated_ms']);
    expect(t.rows).toEqual([
      ['n1', '127.0.0.1:8081', 'true', 'false', null, '0, 1', '0, 1', 3, 1764858000500],
      ['n2', '127.0.0.1:8082', 'false', 'false', null, '2, 3', '2, 3', 0, 1764857990000],
      ['n3', '127.0.0.1:8083', 'true', 'true', 0.375, '4, 5', '4', 120, 1764858000000],
    ]);
    expect(toCsv(t).split('\r\n')[0] ?? toCsv(t).split('\n')[0]).toContain('node_id');
  });

  it('lists every partition of the topic with its current consumer, lag and whether its answers hold it', () => {
    expect(partitionsTable(recorded).rows).toEqual([
      [0, 'n1', 1, 'true', 'false'],
      [1, 'n1', 2, 'true', 'false'],
      // n2 is not current: nobody answers for its partitions now.
      [2, null, null, 'false', 'false'],
      [3, null, null, 'false', 'false'],
      [4, 'n3', 0, 'true', 'true'],
      [5, 'n3', 120, 'false', 'true'],
    ]);
  });

  it('says what a merged answer would cover now', () => {
    expect(clusterCoverage(recorded)).toEqual({ current: 3, partitions: 6, notCurrent: ['n2'] });
  });

  it('takes a member record without partition_lag or owned (an older node)', () => {
    const old: ClusterStatus = { enabled: true, node_id: 'a', partitions: 2, members: [{ node_id: 'a', advertise: 'x:1', partitions: [0, 1], lag: 5, updated_ms: 1, current: true }] };
    expect(partitionsTable(old).rows).toEqual([
      [0, 'a', null, 'true', 'false'],
      [1, 'a', null, 'true', 'false'],
    ]);
    expect(nodesTable(old).rows[0]).toEqual(['a', 'x:1', 'true', 'false', null, '0, 1', '0, 1', 5, 1]);
  });

  it('is empty without a cluster', () => {
    expect(nodesTable({ enabled: false }).rows).toEqual([]);
    expect(partitionsTable({ enabled: false }).rows).toEqual([]);
  });
});

describe('The partial-coverage banner', () => {
  const whole: Coverage = { scope: 'cluster', partitions: 6, current: 6, members: 3, missing: [] };
  const missing: Coverage = { scope: 'cluster', partitions: 6, current: 4, members: 3, missing: ['n2'] };
  const rebuilding: Coverage = { scope: 'cluster', partitions: 6, current: 5, members: 3, missing: [] };

  it('reads coverage from an answer or the live message', () => {
    expect(coverageOf({ total_events: 1, coverage: missing })).toEqual(missing);
    expect(coverageOf({ total_events: 1 })).toBeNull();
    expect(coverageOf(null)).toBeNull();
    expect(coverageOf({ coverage: { scope: 'cluster' } })).toBeNull();
  });

  it('is shown when current < partitions or a member is missing, not for a local answer', () => {
    expect(isPartial(whole)).toBe(false);
    expect(isPartial(missing)).toBe(true);
    expect(isPartial(rebuilding)).toBe(true);
    expect(isPartial({ ...whole, missing: ['n9'] })).toBe(true);
    expect(isPartial({ scope: 'local', partitions: 6, current: 2, members: 1, missing: [] })).toBe(false);
    expect(isPartial(null)).toBe(false);
  });

  it('says how many partitions and which nodes, in both languages', () => {
    expect(partialText(whole, en)).toBeNull();
    expect(partialText(missing, en)).toBe('Partial: 4 of 6 partitions, node n2 not answering');
    expect(partialText({ ...missing, current: 2, missing: ['n2', 'n3'] }, en)).toBe('Partial: 2 of 6 partitions, nodes n2, n3 not answering');
    expect(partialText(rebuilding, en)).toBe('Partial: 5 of 6 partitions');
    expect(partialText(missing, zh)).toBe('部分数据：6 个分区中的 4 个，节点 n2 未响应');
  });

  it('names the partitions counted twice while they move', () => {
    const moving = coverageOf({ coverage: { ...whole, overlap: [4, 5] } });
    expect(moving?.overlap).toEqual([4, 5]);
    expect(isPartial(moving)).toBe(true);
    expect(partialText(moving, en)).toBe('Partial: 6 of 6 partitions, partitions 4, 5 counted twice while they move');
    expect(partialText(moving, zh)).toBe('部分数据：6 个分区中的 6 个，分区 4, 5 正在迁移，被重复计算');
    expect(coverageOf({ coverage: { ...whole, overlap: [] } })?.overlap).toBeUndefined();
  });

  it('names the nodes left out while they rebuild after a partition moved', () => {
    const left = coverageOf({ coverage: { ...whole, current: 4, left_out: ['n1'] } });
    expect(left?.left_out).toEqual(['n1']);
    expect(isPartial(left)).toBe(true);
    expect(partialText(left, en)).toBe('Partial: 4 of 6 partitions, node n1 left out while it rebuilds after a partition moved');
    expect(partialText(left, zh)).toBe('部分数据：6 个分区中的 4 个，节点 n1 在分区迁移后重建，暂不计入');
    expect(coverageOf({ coverage: { ...whole, left_out: [] } })?.left_out).toBeUndefined();
  });

  it('reports the worst of the answers on screen', () => {
    expect(worstCoverage([whole, rebuilding, missing, null])).toEqual(missing);
    expect(worstCoverage([whole, null])).toBeNull();
  });

  it('keeps the newest coverage per source; a new view forgets the REST answers but not the live message', () => {
    const board = new CoverageBoard();
    let changes = 0;
    board.subscribe(() => changes++);
    board.note('ws', { type: 'snapshot', coverage: whole });
    expect(board.worst()).toBeNull();
    board.note(sourceOf('/api/analytics/trends?step=1m'), { points: [], coverage: missing });
    expect(board.worst()).toEqual(missing);
    // The same route answered again, whole: the banner goes.
    board.note('/api/analytics/trends', { points: [], coverage: whole });
    expect(board.worst()).toBeNull();
    board.note('/api/analytics/range', { coverage: rebuilding });
    board.note('ws', { type: 'snapshot', coverage: missing });
    expect(board.worst()).toEqual(missing);
    board.clear();
    expect(board.worst()).toEqual(missing);
    board.note('ws', { type: 'snapshot', coverage: whole });
    expect(board.worst()).toBeNull();
    // One node without a cluster: no coverage anywhere, nothing noted.
    const before = changes;
    board.note('/api/analytics/real-time', { total_events: 3 });
    expect(changes).toBe(before);
  });
});

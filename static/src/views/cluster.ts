// Cluster: GET /api/cluster every 2 s while visible (cluster mode only): the
// nodes (id, address, current, rebuilding with its progress, partitions
// consumed and held, lag) and the partitions (consumer, lag, held).

import { getJson } from '../api';
import { clusterCoverage, nodesTable, partitionsTable, type ClusterStatus } from '../cluster';
import type { Ctx, View } from '../context';
import { h, help } from '../dom';
import { setExport } from '../export';
import { poller } from '../poller';
import { fmtDateTime, fmtInt, fmtPercent } from '../format';
import { panelHead } from './widgets';

const POLL_MS = 2000;

export function createCluster(ctx: Ctx): View {
  const { t, lang } = ctx;
  let last: ClusterStatus | null = null;
  const err = h('p', { className: 'error', hidden: true });
  const off = h('p', { className: 'muted', hidden: true, 'data-role': 'cluster-off' }, t('cluster.off'));
  const summary = h('div', { className: 'stats figures', 'data-role': 'cluster-summary' });
  const nodesBody = h('tbody');
  const nodes = h(
    'table',
    { 'data-role': 'cluster-nodes' },
    h('thead', null, h('tr', null, ...(['node', 'advertise', 'current', 'rebuilding', 'partitions', 'owned', 'lag', 'updated'] as const).map((c) => h('th', { scope: 'col', title: t(('cluster.col.' + c + '.help') as never) }, t(('cluster.col.' + c) as never))))),
    nodesBody,
  );
  const partsBody = h('tbody');
  const parts = h(
    'table',
    { 'data-role': 'cluster-partitions' },
    h('thead', null, h('tr', null, ...(['partition', 'node', 'lag', 'held'] as const).map((c) => h('th', { scope: 'col', title: t(('cluster.col.' + c + '.help') as never) }, t(('cluster.col.' + c) as never))))),
    partsBody,
  );
  const nodesWrap = h('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': t('cluster.nodes') }, nodes);
  const partsWrap = h('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': t('cluster.partitions') }, parts);
  setExport(nodesWrap, () => (last?.enabled ? nodesTable(last) : null));
  setExport(partsWrap, () => (last?.enabled ? partitionsTable(last) : null));
  const updated = h('p', { className: 'muted small' });
  const nodesPanel = h('section', { className: 'panel', 'data-panel': 'cluster-nodes' });
  nodesPanel.append(panelHead(nodesPanel, h('h2', null, t('cluster.nodes')), t('cluster.nodes.help')), off, summary, nodesWrap, err, updated);
  const partsPanel = h('section', { className: 'panel', 'data-panel': 'cluster-partitions' });
  partsPanel.append(panelHead(partsPanel, h('h2', null, t('cluster.partitions')), t('cluster.partitions.help')), partsWrap);
  const el = h('div', { className: 'view cluster', 'data-view': 'cluster' }, nodesPanel, partsPanel);

  const yes = (b: boolean) => (b ? t('cluster.yes') : t('cluster.no'));

  function stat(label: string, value: string, helpText: string, key: string) {
    return h('div', { className: 'stat', title: helpText, 'data-stat': key }, h('div', { className: 'stat-label' }, label, help(helpText)), h('div', { className: 'stat-value' }, value));
  }

  function render(s: ClusterStatus) {
    last = s;
    off.hidden = s.enabled;
    nodesWrap.hidden = partsWrap.hidden = summary.hidden = !s.enabled;
    if (!s.enabled) return;
    const cov = clusterCoverage(s);
    summary.replaceChildren(
      stat(t('cluster.self'), s.node_id ?? '—', t('cluster.self.help'), 'node'),
      stat(t('cluster.covered'), t('cluster.covered.value', { n: cov.current, m: cov.partitions }), t('cluster.covered.help'), 'covered'),
      stat(t('cluster.members'), fmtInt((s.members ?? []).filter((m) => m.current).length, lang) + ' / ' + fmtInt((s.members ?? []).length, lang), t('cluster.members.help'), 'members'),
      stat(t('cluster.rebuilds'), fmtInt(s.rebuilds ?? 0, lang) + ' · ' + fmtInt(s.rebalances ?? 0, lang), t('cluster.rebuilds.help'), 'rebuilds'),
    );
    const nt = nodesTable(s);
    nodesBody.replaceChildren(
      ...nt.rows.map((r) => {
        const [id, advertise, current, rebuilding, progress, partitions, owned, lag, updatedMs] = r;
        const rebuildText = rebuilding === 'true' ? t('cluster.rebuilding', { p: typeof progress === 'number' ? fmtPercent(progress * 100, lang, 0) : '…' }) : t('cluster.no');
        return h(
          'tr',
          { 'data-node': String(id), 'data-current': String(current), 'data-rebuilding': String(rebuilding), className: current === 'true' ? '' : 'stale' },
          h('th', { scope: 'row' }, String(id), id === s.node_id ? h('small', { className: 'muted' }, ' ' + t('cluster.this')) : null),
          h('td', null, String(advertise)),
          h('td', null, yes(current === 'true')),
          h('td', { 'data-role': 'rebuild' }, rebuilding === 'true' && typeof progress === 'number' ? h('progress', { max: 1, value: progress, 'aria-label': rebuildText }) : null, ' ', rebuildText),
          h('td', null, String(partitions)),
          h('td', null, String(owned)),
          h('td', { className: 'num' }, fmtInt(Number(lag), lang)),
          h('td', null, typeof updatedMs === 'number' ? fmtDateTime(updatedMs, lang) : ''),
        );
      }),
    );
    const pt = partitionsTable(s);
    partsBody.replaceChildren(
      ...pt.rows.map(([p, node, lag, held, rebuilding]) =>
        h(
          'tr',
          { 'data-partition': String(p), 'data-node': node === null ? '' : String(node), className: node === null ? 'stale' : '' },
          h('th', { scope: 'row' }, String(p)),
          h('td', null, node === null ? t('cluster.unassigned') : String(node)),
          h('td', { className: 'num' }, typeof lag === 'number' ? fmtInt(lag, lang) : '—'),
          h('td', null, node === null ? '—' : held === 'true' ? t('cluster.yes') : rebuilding === 'true' ? t('cluster.held.rebuilding') : t('cluster.no')),
        ),
      ),
    );
    updated.textContent = t('system.updated', { t: fmtDateTime(Date.now(), lang) }) + (s.last_error ? ' · ' + s.last_error : '');
  }

  async function refresh() {
    try {
      render(await getJson<ClusterStatus>('/api/cluster'));
      err.hidden = true;
    } catch (e) {
      err.hidden = false;
      err.textContent = t('error.load', { e: (e as Error)?.message });
    }
  }
  const polling = poller(refresh, POLL_MS);

  return {
    el,
    show: () => polling.show(),
    hide: () => polling.hide(),
    destroy: () => polling.hide(),
  };
}

// System: /api/system/status and the recent log lines every 2 s while visible; start/stop components.

import { getJson, postJson, type SystemStatus } from '../api';
import type { Ctx, View } from '../context';
import { h, help } from '../dom';
import { fmtBytes, fmtDuration, fmtInt, fmtMs, fmtNumber, fmtPercent, fmtDateTime } from '../format';
import { translateMaybe } from '../i18n';
import { logUpdate } from '../product';
import { setExport } from '../export';
import { poller } from '../poller';
import { componentsTable, figuresTable } from '../tables';
import { panelHead } from './widgets';

const CONTROLLABLE = new Set(['data_generator', 'stream_processor']);
const POLL_MS = 2000;
const LOG_LINES = 50;

export function createSystem(ctx: Ctx): View {
  const { t, lang } = ctx;
  const comps = h('div', { className: 'components' });
  const figures = h('div', { className: 'stats figures' });
  const updated = h('p', { className: 'muted small' });
  const err = h('p', { className: 'error', hidden: true });
  const health = h('span', { className: 'badge' }, '—');
  const logList = h('ol', { className: 'log-lines', 'data-role': 'log-lines' });
  const logEmpty = h('p', { className: 'muted small', hidden: true }, t('system.logs.empty'));
  const logBox = h('div', { className: 'log-box', tabindex: 0, role: 'log', 'aria-label': t('system.logs') }, logEmpty, logList);
  const logErr = h('p', { className: 'error', hidden: true });
  let logShown: string[] = [];
  // The log lines on screen, downloadable as CSV/JSON.
  const logsPanel = h('section', { className: 'panel', 'data-panel': 'logs' });
  logsPanel.append(panelHead(logsPanel, h('h2', null, t('system.logs')), t('system.logs.help')), logBox, logErr);
  setExport(logBox, () => ({ columns: ['line'], rows: logShown.map((l) => [l]) }));
  // The components and the figures download as the last status answer shows them.
  let lastStatus: SystemStatus | null = null;
  const compsPanel = h('section', { className: 'panel', 'data-panel': 'components' });
  compsPanel.append(panelHead(compsPanel, h('h2', null, t('system.components')), t('system.health.help'), health), comps, err);
  setExport(comps, () => (lastStatus ? componentsTable(lastStatus) : null));
  const figuresPanel = h('section', { className: 'panel', 'data-panel': 'figures' });
  figuresPanel.append(panelHead(figuresPanel, h('h2', null, t('system.figures'))), figures, updated);
  setExport(figures, () => (lastStatus ? figuresTable(lastStatus) : null));
  const el = h('div', { className: 'view system', 'data-view': 'system' }, compsPanel, figuresPanel, logsPanel);
  let busy = false;

  function stat(label: string, value: string, helpText: string, sub?: string, key?: string) {
    return h('div', { className: 'stat', title: helpText, 'data-stat': key ?? '' }, h('div', { className: 'stat-label' }, label, help(helpText)), h('div', { className: 'stat-value' }, value), sub ? h('div', { className: 'stat-sub' }, sub) : null);
  }

  function render(s: SystemStatus) {
    lastStatus = s;
    const all = Object.values(s.components).every((c) => c.status === 'healthy');
    health.textContent = t('system.health') + ': ' + translateMaybe(lang, 'state.' + (all ? 'healthy' : 'degraded'), all ? 'healthy' : 'degraded');
    health.className = 'badge ' + (all ? 'ok' : 'bad');
    comps.replaceChildren(
      ...Object.entries(s.components).map(([name, c]) => {
        const running = c.state === 'running';
        const btn = CONTROLLABLE.has(name)
          ? h(
              'button',
              { type: 'button', className: running ? 'danger' : 'primary', 'data-action': running ? 'stop' : 'start', 'data-component': name, disabled: busy, onclick: () => act(name, running ? 'stop' : 'start') },
              running ? t('system.stop') : t('system.start'),
            )
          : null;
        return h(
          'div',
          { className: 'component', 'data-component': name, 'data-state': c.state, title: c.last_error ?? '' },
          h('span', { className: 'dot ' + (c.status === 'healthy' ? (running ? 'ok' : 'idle') : 'bad') }),
          h('div', { className: 'component-name' }, h('strong', null, translateMaybe(lang, 'comp.' + name, name)), h('small', null, translateMaybe(lang, 'state.' + c.state, c.state) + ' · ' + t('system.failures', { f: c.failures, r: c.restarts })), typeof c.backlog === 'number' ? h('small', { 'data-role': 'backlog', title: t('system.backlog.help') }, t('system.backlog', { n: fmtInt(c.backlog, lang) })) : null, c.last_error ? h('small', { className: 'error' }, c.last_error) : null),
          btn,
        );
      }),
    );
    const ringPct = s.ring.capacity ? (100 * s.ring.occupancy) / s.ring.capacity : 0;
    figures.replaceChildren(
      stat(t('system.throughput'), fmtNumber(s.throughput.events_per_second, lang, 1) + ' /s', t('system.throughput.help'), fmtInt(s.throughput.events_ingested, lang), 'throughput'),
      stat(t('system.lag'), fmtInt(s.ingest.lag_events, lang), t('system.lag.help'), fmtMs(s.ingest.lag_ms, lang), 'lag'),
      stat(t('system.ring'), fmtPercent(ringPct, lang, 2), t('system.ring.help'), `${fmtInt(s.ring.occupancy, lang)} / ${fmtInt(s.ring.capacity, lang)}`, 'ring'),
      stat(t('system.log'), fmtBytes(s.event_log.bytes, lang), t('system.log.help'), `${fmtInt(s.event_log.blocks, lang)} · #${fmtInt(s.event_log.first_sequence, lang)}–${fmtInt(s.event_log.last_sequence, lang)}`, 'log'),
      stat(t('system.memory'), fmtBytes(s.memory.rss_bytes, lang), t('system.memory.help'), undefined, 'memory'),
      stat(t('system.processor'), translateMaybe(lang, 'state.' + s.stream_processor.state, s.stream_processor.state), t('system.processor.help'), `${fmtInt(s.stream_processor.replayed_events, lang)} · #${fmtInt(s.stream_processor.applied_through, lang)} · ${fmtInt(s.stream_processor.events_too_late, lang)}`, 'processor'),
      stat(t('system.clients'), fmtInt(s.websocket_clients, lang), t('system.clients.help'), undefined, 'clients'),
      stat(t('system.uptime'), fmtDuration(s.uptime_seconds, lang), t('system.version') + ' ' + s.version, t('system.version') + ' ' + s.version, 'uptime'),
    );
    updated.textContent = t('system.updated', { t: fmtDateTime(s.timestamp, lang) });
  }

  /** Newest line at the bottom; stays pinned to the bottom unless the reader scrolled up. */
  function renderLogs(lines: string[]) {
    const atBottom = logBox.scrollHeight - logBox.scrollTop - logBox.clientHeight < 24;
    const u = logUpdate(logShown, lines, LOG_LINES);
    const line = (text: string) => h('li', null, text);
    if (u.replace) {
      logList.replaceChildren(...u.append.map(line));
      logShown = u.append.slice();
    } else {
      for (let i = 0; i < u.drop; i++) logList.firstElementChild?.remove();
      logList.append(...u.append.map(line));
      logShown = logShown.slice(u.drop).concat(u.append);
    }
    logEmpty.hidden = logShown.length > 0;
    if (atBottom || u.replace) logBox.scrollTop = logBox.scrollHeight;
  }

  async function refresh() {
    const [st, logs] = await Promise.allSettled([getJson<SystemStatus>('/api/system/status'), getJson<{ lines: string[] }>(`/api/system/logs?limit=${LOG_LINES}`, undefined, 'admin')]);
    if (st.status === 'fulfilled') {
      render(st.value);
      err.hidden = true;
    } else {
      err.hidden = false;
      err.textContent = t('error.load', { e: (st.reason as Error)?.message });
    }
    if (logs.status === 'fulfilled') {
      renderLogs(logs.value.lines ?? []);
      logErr.hidden = true;
    } else {
      logErr.hidden = false;
      logErr.textContent = t('error.load', { e: (logs.reason as Error)?.message });
    }
  }
  const polling = poller(refresh, POLL_MS);

  async function act(name: string, action: 'start' | 'stop') {
    busy = true;
    comps.querySelectorAll('button').forEach((b) => ((b as HTMLButtonElement).disabled = true));
    try {
      await postJson(
        `/api/system/${action}-component/${encodeURIComponent(name)}`,
        t('auth.confirm', { action: t(action === 'stop' ? 'system.stop' : 'system.start'), name }),
      );
      err.hidden = true;
    } catch (e) {
      err.hidden = false;
      err.textContent = t('system.action.failed', { e: (e as Error).message });
    } finally {
      busy = false;
      polling.now();
    }
  }

  return {
    el,
    show: () => polling.show(),
    hide: () => polling.hide(),
    destroy: () => polling.hide(),
  };
}

// The status page: polls /api/status every 2 seconds and renders it.
// Each render replaces the tables' rows; the numbers carry ids that the
// browser tests read.
import { getJSON, el, fill, setText, parseTime, ago, duration, num } from './common.js';

const POLL_MS = 2000;

async function poll() {
  try {
    render(await getJSON('/api/status'));
    document.getElementById('error').classList.add('hidden');
  } catch (err) {
    const b = document.getElementById('error');
    b.textContent = 'Cannot read /api/status: ' + err.message;
    b.classList.remove('hidden');
  }
  setTimeout(poll, POLL_MS);
}

function render(s) {
  const now = parseTime(s.time) || new Date();
  const started = parseTime(s.started);
  setText('version', s.version || '—');
  setText('uptime', started ? duration(Math.round((now - started) / 1000)) : '—');
  setText('updated', now.toLocaleTimeString());

  // Summary cards.
  const up = s.upstream || {};
  const state = document.getElementById('upstream-state');
  state.textContent = up.state || '—';
  state.className = 'value ' + (up.state || '');
  setText('catalogue', up.catalogue || '—');
  setText('instruments', (up.streaming ?? 0) + ' / ' + (up.instruments ?? 0));
  const conns = up.connections || [];
  const upCount = conns.filter(c => c.state === 'up').length;
  setText('connections-up', upCount + ' of ' + (up.connection_cap || conns.length));
  setText('streaming-connections', s.streaming_connections ?? 0);
  const stale = s.stale || [];
  setText('stale-count', stale.length);
  const log = s.log || [];
  setText('log-count', log.length);

  // Backfill progress bars, one per task.
  fill('backfill', (s.backfill || []).map(p => {
    const pct = p.total > 0 ? Math.min(100, 100 * p.done / p.total) : 0;
    const text = p.total > 0
      ? `${num(p.done)} of ${num(p.total)} ${p.unit || ''} (${pct.toFixed(pct < 10 ? 1 : 0)}%)`
      : `${num(p.done)} ${p.unit || ''}`;
    return el('tr', { 'data-name': p.name },
      el('td', {}, p.name),
      el('td', { style: 'width:70%' }, progressBar(pct, text)));
  }), 'no backfill task reported');

  // REST budget: requests in the last minute against the limit.
  const rest = s.rest || {};
  const used = rest.per_minute > 0 ? Math.min(100, 100 * rest.used_minute / rest.per_minute) : 0;
  const bar = document.getElementById('rest-bar');
  bar.querySelector('.fill').style.width = used + '%';
  setText('rest-used', `${num(rest.used_minute ?? 0)} of ${num(rest.per_minute ?? 0)} requests in the last minute`);
  setText('rest-detail', `queued ${num(rest.queued ?? 0)} · since start: ${num(rest.requests ?? 0)} requests, ` +
    `${num(rest.rate_limited ?? 0)} answered 429, ${num(rest.errors ?? 0)} failed`);

  // Upstream connections with their instruments.
  fill('connections', conns.map(c => el('tr', { 'data-index': c.index },
    el('td', {}, c.index),
    el('td', { class: c.state === 'up' ? 'ok' : 'warn' }, c.state + (c.silent ? ' (silent)' : '')),
    el('td', { class: 'num' }, (c.instruments || []).length),
    el('td', {}, ago(parseTime(c.last_data), now)),
    el('td', {}, c.retry_at ? ago(parseTime(c.retry_at), now) : ''),
    el('td', { class: 'num' }, c.reconnects || 0),
    el('td', {}, symbolList(c.instruments || [])),
  )), 'no stream connection');

  fill('stale', stale.map(i => el('tr', { 'data-symbol': i.symbol },
    el('td', {}, i.symbol),
    el('td', { class: 'warn' }, i.reason),
    el('td', {}, ago(parseTime(i.last_update), now)),
    el('td', {}, el('a', { href: '/chart?symbol=' + encodeURIComponent(i.symbol) }, 'chart')),
  )), 'none');

  // Newest first.
  fill('log', log.slice().reverse().map(e => el('tr', {},
    el('td', { class: 'mono' }, (parseTime(e.time) || now).toLocaleTimeString()),
    el('td', { class: e.level === 'ERROR' ? 'error' : 'warn' }, e.level),
    el('td', {}, e.msg),
    el('td', { class: 'mono' }, (e.attrs || []).map(a => a.k + '=' + a.v).join(' ')),
  )), 'no warning since start');

  fill('facts', (s.facts || []).map(f => el('tr', {},
    el('td', {}, f.name), el('td', { class: 'num' }, f.value))), 'none reported');

  fill('flags', (s.flags || []).map(f => el('tr', {},
    el('td', { class: 'mono' }, '--' + f.name), el('td', { class: 'mono' }, f.value))), 'not reported');
}

function progressBar(pct, text) {
  return el('div', { class: 'bar' },
    el('div', { class: 'fill' + (pct >= 100 ? ' full' : ''), style: `width:${pct}%` }),
    el('div', { class: 'text' }, text));
}

// symbolList shows a connection's first symbols, the rest behind a toggle.
function symbolList(syms) {
  const tags = s => el('span', { class: 'tags' }, s.map(x => el('span', {}, x)));
  if (syms.length <= 8) return tags(syms);
  return el('details', {}, el('summary', {}, syms.slice(0, 8).join(', ') + ` … (${syms.length})`), tags(syms));
}

poll();

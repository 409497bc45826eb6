// The chart page: one symbol's candles from /history, kept live from
// /streaming trades exactly as TradingView builds its bars (bars.js), and
// every closed minute of the stream compared with /history's bar for it.
// Everything goes through the admin listener's /tv/ mount of the API.
//
// Query parameters: symbol (a /symbol_info name or ticker; default the
// first symbol trading 24x7), resolution (default 1), settle (seconds
// after a minute's end, in the stream's time, before it is compared;
// default 8).
import { tv, el, fill, setText, utc, num } from './common.js';
import { parseResolution, historyCountback, LiveBars, MinuteCheck, sameBar } from './bars.js';
import { startTrading } from './trade.js';

const LWC = window.LightweightCharts;
const params = new URLSearchParams(location.search);
const settle = Number(params.get('settle')) || 8;

const STALL_MS = 15000; // no line for this long (heartbeats come every 5 s): reconnect
const UP = '#26a69a', DOWN = '#ef5350';

main().catch(err => showError(err.message));

async function main() {
  const symbols = columns(await tv('/symbol_info'));
  fill('symbols', symbols.map(s => el('option', { value: s.name }, s.description)));
  const wanted = params.get('symbol') || (symbols.find(s => s.session === '24x7') || symbols[0] || {}).name;
  const sym = symbols.find(s => s.name === wanted || s.ticker === wanted);
  if (!sym) throw new Error(`unknown symbol ${JSON.stringify(wanted)}: pick one from the list`);
  const res = parseResolution(params.get('resolution') || '1');
  if (!res) throw new Error(`unknown resolution ${JSON.stringify(params.get('resolution'))}: use 1..1440, D, W or M, e.g. 5 or 2D`);
  document.getElementById('symbol').value = sym.name;
  document.getElementById('resolution').value = res.text;
  document.title = `tvbridge · ${sym.name} ${res.text}`;

  const view = new ChartView(sym, res);
  window.consoleChart = view; // for the browser tests and the DevTools console
  const live = new LiveBars(res);
  const check = new MinuteCheck(settle);
  const mismatches = new Mismatches(view);

  // The stream opens before /history is asked, so no trade falls between
  // the two; its trades wait in `early` until the history is drawn. The
  // bar that was forming then may have counted some of them already (as
  // on TradingView), so once it closes it is replaced with /history's.
  let early = [];
  let forming = null; // the time of the bar that was forming at load
  const apply = m => {
    const bar = m.f === 'd' ? live.daily(m) : live.trade(m.t, m.p, m.s);
    if (!bar) return;
    view.update(bar);
    if (forming !== null && bar.time > forming) {
      const t = forming;
      forming = null;
      setTimeout(() => history(sym.ticker, res.text, 0, t, t)
        .then(got => { const b = got.find(x => x.time === t); if (b) view.replace(b); })
        .catch(err => showError('reloading the bar of ' + utc(t) + ': ' + err.message)), settle * 1000);
    }
  };
  stream(sym, {
    message(m) {
      if ('heartbeat' in m) { check.seen(m.heartbeat); return; }
      if (m.id !== sym.ticker && m.id !== sym.name) return;
      if (m.f === 't') {
        check.trade(m.t, m.p, m.s);
        setText('last-trade', `${num(m.p)} × ${num(m.s)} at ${utc(m.t)}:${String(m.t % 60).padStart(2, '0')}`);
      } else {
        check.seen(m.t);
      }
      if (m.f !== 't' && m.f !== 'd') return;
      if (early) early.push(m); else apply(m);
    },
    dropped() { check.disconnected(); },
  });

  const bars = await history(sym.ticker, res.text, historyCountback(res));
  view.setHistory(bars);
  live.seed(bars[bars.length - 1]);
  if (bars.length) forming = bars[bars.length - 1].time;
  for (const m of early) apply(m);
  early = null;

  // Compare the minutes that are due, one request each, once a second.
  let busy = false;
  setInterval(async () => {
    if (busy) return;
    busy = true;
    const due = check.due();
    for (let i = 0; i < due.length; i++) {
      const { time, streamed } = due[i];
      try {
        const got = await history(sym.ticker, '1', 0, time, time + 59);
        mismatches.compared(time, streamed, got.find(b => b.time === time) || null);
      } catch (err) {
        // Try these minutes again at the next tick.
        for (const d of due.slice(i)) check.retry(d.time);
        showError('comparing with /history: ' + err.message);
        break;
      }
    }
    check.forget();
    busy = false;
  }, 1000);

  startTrading(sym).catch(err => showError('trading: ' + err.message));
}

// columns turns /symbol_info's columns into one object per symbol.
function columns(info) {
  return (info.symbol || []).map((name, i) => ({
    name, ticker: info.ticker?.[i] || name, description: info.description?.[i] || '',
    pricescale: info.pricescale?.[i] || 100, minmov: info.minmovement?.[i] || 1,
    session: info['session-regular']?.[i] || '',
  }));
}

// history asks /history for bars: the last `countback` ones, or from..to.
async function history(symbol, resolution, countback, from, to) {
  const q = new URLSearchParams({ symbol, resolution });
  if (countback > 0) {
    const now = Math.floor(Date.now() / 1000) + 86400; // the browser's clock may be behind the server's
    q.set('from', String(now - 86400 * 3650));
    q.set('to', String(now));
    q.set('countback', String(countback));
  } else {
    q.set('from', String(from));
    q.set('to', String(to));
  }
  const res = await fetch('/tv/history?' + q, { cache: 'no-store' });
  const h = await res.json();
  if (h.s === 'no_data') return []; // the legacy empty answer
  if (h.s !== 'ok') throw new Error(h.errmsg || `/history answered ${res.status}`);
  return h.t.map((t, i) => ({ time: t, open: h.o[i], high: h.h[i], low: h.l[i], close: h.c[i], volume: h.v[i] }));
}

// stream reads /streaming line by line for as long as the page is open,
// reconnecting with backoff when it ends, fails or goes quiet. Only lines
// that can concern the symbol (its name or a heartbeat) are parsed: the
// stream carries every instrument.
async function stream(sym, on) {
  let backoff = 500;
  for (;;) {
    const abort = new AbortController();
    let watchdog;
    const alive = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(new Error('no data for 15 s')), STALL_MS);
    };
    try {
      setText('stream-state', 'connecting');
      alive();
      const res = await fetch('/tv/streaming', { cache: 'no-store', signal: abort.signal });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setText('stream-state', 'live');
      backoff = 500;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the stream ended');
        alive();
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.includes('heartbeat') && !line.includes(sym.ticker) && !line.includes(sym.name)) continue;
          let m;
          try { m = JSON.parse(line); } catch (_) { continue; }
          on.message(m);
        }
      }
    } catch (err) {
      setText('stream-state', 'reconnecting (' + (abort.signal.reason?.message || err.message) + ')');
    } finally {
      clearTimeout(watchdog);
      abort.abort();
    }
    on.dropped();
    await new Promise(r => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 10000);
  }
}

// ChartView draws candles and volume with Lightweight Charts, the legend
// of the newest bar, and the markers of differing minutes.
class ChartView {
  constructor(sym, res) {
    const precision = Math.max(0, Math.round(Math.log10(sym.pricescale)));
    this.chart = LWC.createChart(document.getElementById('chart'), {
      autoSize: true,
      layout: { background: { color: '#ffffff' }, textColor: '#1c2024' },
      grid: { vertLines: { color: '#f0f3fa' }, horzLines: { color: '#f0f3fa' } },
      timeScale: { timeVisible: res.intraday, secondsVisible: false },
    });
    this.candles = this.chart.addSeries(LWC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
      priceFormat: { type: 'price', precision, minMove: sym.minmov / sym.pricescale },
    });
    this.volume = this.chart.addSeries(LWC.HistogramSeries, { priceFormat: { type: 'volume' }, priceScaleId: '' });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.22 } });
    this.markers = LWC.createSeriesMarkers(this.candles, []);
    this.times = []; // every bar's time, ascending
    this.res = res;
  }

  setHistory(bars) {
    this.candles.setData(bars.map(candle));
    this.volume.setData(bars.map(volumeBar));
    this.times = bars.map(b => b.time);
    setText('history-note', bars.length ? `from /history since ${utc(bars[0].time)}` : '/history has no bar yet');
    // Show the newest 200 bars at most, all of them when fewer.
    const n = bars.length;
    if (n > 200) this.chart.timeScale().setVisibleLogicalRange({ from: n - 200, to: n + 2 });
    else this.chart.timeScale().fitContent();
    this.legend(bars[bars.length - 1]);
  }

  update(bar) {
    this.candles.update(candle(bar));
    this.volume.update(volumeBar(bar));
    if (!this.times.length || bar.time > this.times[this.times.length - 1]) this.times.push(bar.time);
    this.legend(bar);
  }

  // replace puts /history's version of an older bar in place.
  replace(bar) {
    this.candles.update(candle(bar), true);
    this.volume.update(volumeBar(bar), true);
  }

  legend(bar) {
    setText('bar-count', this.times.length);
    const n = document.getElementById('legend');
    if (!bar) { n.textContent = 'no bar'; return; }
    n.replaceChildren(el('span', { id: 'legend-time' }, utc(bar.time)),
      ...['open', 'high', 'low', 'close', 'volume'].flatMap(k =>
        [el('b', {}, k[0].toUpperCase()), el('span', { id: 'legend-' + k }, num(bar[k]))]));
  }

  // barAt is the time of the chart's bar that holds minute m.
  barAt(m) {
    let lo = 0, hi = this.times.length - 1, at = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid] <= m) { at = this.times[mid]; lo = mid + 1; } else hi = mid - 1;
    }
    return at;
  }

  mark(minutes) {
    const marks = new Map();
    for (const m of minutes) {
      const t = this.barAt(m);
      if (t !== null) marks.set(t, { time: t, position: 'aboveBar', color: '#cf222e', shape: 'arrowDown', text: '≠' });
    }
    this.markers.setMarkers([...marks.values()].sort((a, b) => a.time - b.time));
  }
}

function candle(b) {
  return { time: b.time, open: b.open, high: b.high, low: b.low, close: b.close };
}

function volumeBar(b) {
  return { time: b.time, value: b.volume, color: b.close >= b.open ? UP + '80' : DOWN + '80' };
}

// Mismatches keeps the count of compared minutes and the table and chart
// markers of those whose streamed bar differs from /history's.
class Mismatches {
  constructor(view) {
    this.view = view;
    this.checked = 0;
    this.differ = new Map(); // minute -> {streamed, history}
  }

  compared(minute, streamed, hist) {
    this.checked++;
    if (sameBar(streamed, hist)) this.differ.delete(minute);
    else this.differ.set(minute, { streamed, hist });
    setText('checked', this.checked);
    const count = document.getElementById('mismatch-count');
    count.textContent = this.differ.size;
    count.className = this.differ.size ? 'bad' : 'ok';
    const ohlcv = b => b ? [b.open, b.high, b.low, b.close, b.volume].map(num).join(' ') : 'no bar';
    fill('mismatches', [...this.differ.entries()].sort((a, b) => b[0] - a[0]).map(([m, d]) =>
      el('tr', { 'data-minute': m }, el('td', {}, utc(m)),
        el('td', { class: 'mono' }, ohlcv(d.streamed)), el('td', { class: 'mono' }, ohlcv(d.hist)))));
    this.view.mark([...this.differ.keys()]);
  }
}

function showError(msg) {
  const b = document.getElementById('error');
  b.textContent = msg;
  b.classList.remove('hidden');
}

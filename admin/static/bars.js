// Bars from trades, the way TradingView builds them from /streaming, and
// the check of closed minutes against /history. Pure logic, no DOM: the
// chart page feeds it the stream's messages.
//
// TradingView's rule (README, "Stream equals history"): a bar's open is its
// first trade's price, high the highest, low the lowest, close the last,
// volume the sum of the sizes, and its time the trade time floored to the
// bar.

// parseResolution reads a TradingView resolution: "1".."1440" minutes,
// "D"/"nD" days, "W"/"nW" weeks, "M"/"nM" months. It returns null for
// anything else.
export function parseResolution(text) {
  const m = /^(\d*)([DWM]?)$/.exec(String(text || '').trim().toUpperCase());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  const n = m[1] === '' ? 1 : Number(m[1]);
  if (!Number.isInteger(n) || n < 1) return null;
  const kind = { '': 'minutes', D: 'days', W: 'weeks', M: 'months' }[m[2]];
  if (kind === 'minutes' && n > 1440) return null;
  return { kind, n, text: m[2] === '' ? String(n) : (n === 1 ? m[2] : n + m[2]), intraday: kind === 'minutes' };
}

// historyCountback is how many bars the chart asks /history for: about 600,
// within the server's 31-day limit on intraday ranges.
export function historyCountback(res) {
  switch (res.kind) {
    case 'minutes': return Math.max(1, Math.min(600, Math.floor(30 * 1440 / res.n)));
    case 'days': return 600;
    case 'weeks': return 300;
    default: return 120;
  }
}

// applyTrade returns bar (or a new bar at time when bar is for another
// time) with one trade of price p and size s added.
export function applyTrade(bar, time, p, s) {
  if (!bar || bar.time !== time) {
    return { time, open: p, high: p, low: p, close: p, volume: s };
  }
  return {
    time, open: bar.open, high: Math.max(bar.high, p), low: Math.min(bar.low, p),
    close: p, volume: bar.volume + s,
  };
}

// LiveBars keeps the newest bar of the chart's resolution and folds trades
// into it.
//
// One-minute bars are exact: time = floor(t / 60) * 60. For n minutes the
// server aligns bars to each trading period's open, so a trade goes into
// the bar grid of the newest bar the chart has (from /history or built
// here) within half a day of it, and into the epoch-aligned grid after
// longer gaps, until the page reloads /history. Daily bars come whole
// from the stream's "d" messages; longer bars (nD, W, M) have bounds that
// depend on the session, so trades only extend the newest bar.
export class LiveBars {
  constructor(res) {
    this.res = res;
    this.last = null; // the newest bar: {time, open, high, low, close, volume}
  }

  // seed starts from the newest /history bar.
  seed(bar) {
    this.last = bar ? { ...bar } : null;
  }

  // barTime is the time of the bar a trade at t belongs to, or null when
  // this resolution does not take trades there.
  barTime(t) {
    const r = this.res;
    if (r.kind === 'minutes') {
      const step = r.n * 60;
      if (r.n === 1) return Math.floor(t / 60) * 60;
      const a = this.last?.time;
      if (a !== undefined && t >= a && t - a < 43200) return a + Math.floor((t - a) / step) * step;
      return Math.floor(t / step) * step;
    }
    if (r.kind === 'days' && r.n === 1) return null; // "d" messages carry the bar
    return this.last && t >= this.last.time ? this.last.time : null;
  }

  // trade folds a trade in and returns the bar it changed, or null when it
  // changed none (a trade older than the newest bar: ticks never go back).
  trade(t, p, s) {
    const time = this.barTime(t);
    if (time === null || (this.last && time < this.last.time)) return null;
    this.last = applyTrade(this.last, time, p, s);
    return this.last;
  }

  // daily takes a "d" message: at 1D it is the newest bar.
  daily(m) {
    if (this.res.kind !== 'days' || this.res.n !== 1) return null;
    if (this.last && m.t < this.last.time) return null;
    this.last = { time: m.t, open: m.o, high: m.h, low: m.l, close: m.c, volume: m.v };
    return this.last;
  }
}

// sameBar compares a streamed minute with /history's, prices and volumes
// to a relative 1e-9 (sums of fractional sizes round differently).
export function sameBar(a, b) {
  if (!a || !b) return !a && !b;
  const near = (x, y) => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
  return a.time === b.time && near(a.open, b.open) && near(a.high, b.high) &&
    near(a.low, b.low) && near(a.close, b.close) && near(a.volume, b.volume);
}

// MinuteCheck builds the 1-minute bars of one symbol from the stream and
// says when each closed minute is due for comparison with /history.
//
// It knows time only from the stream (trade and heartbeat times), so the
// browser's clock does not matter. A minute is compared only when the
// stream was connected during all of it: the first minute that starts at
// least 10 s after the first message's time (a trade may reach the
// stream up to about 5 s after its time, and heartbeats come every 5 s)
// and every minute after it until the stream drops. A minute is due once
// the stream's time passed its end by settle seconds (the server closes a
// minute within its close grace of 3 s, and its last trades may come that
// late). A trade for a minute already compared makes it due again.
export class MinuteCheck {
  constructor(settle = 8) {
    this.settle = settle;
    this.reset();
  }

  reset() {
    this.now = null;     // the stream's time: the newest time seen
    this.from = null;    // first minute fully covered by this connection
    this.next = null;    // next minute to compare
    this.bars = new Map(); // minute -> streamed bar, from `from` on
    this.again = new Set(); // compared minutes that got a trade since
  }

  // seen notes any message's time t (Unix seconds).
  seen(t) {
    if (typeof t !== 'number' || !isFinite(t)) return;
    if (this.from === null) {
      this.from = Math.ceil((t + 10) / 60) * 60;
      this.next = this.from;
    }
    if (this.now === null || t > this.now) this.now = t;
  }

  // trade records a trade of the symbol.
  trade(t, p, s) {
    this.seen(t);
    const m = Math.floor(t / 60) * 60;
    if (m < this.from) return;
    this.bars.set(m, applyTrade(this.bars.get(m), m, p, s));
    if (m < this.next) this.again.add(m);
  }

  // disconnected forgets the minutes the stream did not cover whole.
  disconnected() {
    this.reset();
  }

  // due returns the minutes to compare now, oldest first, with what was
  // streamed for each (null: no trade).
  due() {
    const out = [];
    for (const m of this.again) out.push(m);
    this.again.clear();
    while (this.next !== null && this.now !== null && this.next + 60 + this.settle <= this.now) {
      out.push(this.next);
      this.next += 60;
    }
    out.sort((a, b) => a - b);
    return out.map(m => ({ time: m, streamed: this.bars.get(m) || null }));
  }

  // retry makes a minute due again (its comparison failed).
  retry(m) {
    if (this.from !== null && m >= this.from) this.again.add(m);
  }

  // forget drops streamed bars older than keep minutes before the next one
  // to compare, so a long session does not grow without bound.
  forget(keep = 120) {
    if (this.next === null) return;
    for (const m of this.bars.keys()) if (m < this.next - keep * 60) this.bars.delete(m);
  }
}

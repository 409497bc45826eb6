package bars

import (
	"math"
	"time"

	"tvbridge"
)

// Real trades (upstreams that stream the exchange's trades, T-Invest API v2).
//
// Once an instrument has sent a trade, its trades are what /streaming
// carries: each becomes a trade tick at its price and size (lots, the unit
// of every volume here), stamped with its exchange time in whole seconds,
// raised to the previous trade tick (never backwards) and never after our
// clock. A trade of a minute ahead of our clock (the exchange's clock runs
// ahead) waits until our clock reaches the minute. A trade for a minute
// already closed is late: it is counted and dropped (the minute's candle
// then differs from the bar, which is the audit's business, see ingest).
//
// Candle updates keep coming and check the trades: the upstream sends
// them slightly after the trades they include. An update equal to the bar
// streamed confirms the minute (Closed.Final); one with less volume is
// behind the trades; one with more volume knows trades the stream did not
// carry (missed during a reconnect, or refused). If the trades do not catch
// up within TradeGrace, the minute falls back to the synthetic rule of the
// candle updates (see "Trades from candle updates"): the difference is
// streamed as synthetic trades, the minute is counted as synthetic, and its
// later trades are dropped as superseded (the candle updates, which include
// them, drive it to its end). The next minute starts with real trades
// again. Either way the bar TradingView builds from the stream is the bar
// /history serves.

// realTrade is a trade waiting for our clock to reach its minute.
type realTrade struct {
	tvbridge.Trade
	recv time.Time
}

// handleTrade streams a trade of the exchange.
func (e *Engine) handleTrade(ev *tvbridge.TradeEvent, now time.Time) {
	tr := ev.Trade
	in := e.lookup(tr.FIGI)
	if in == nil {
		e.stats.unknown.Add(1)
		return
	}
	if !validTrade(tr) || tr.Time.After(now.Add(maxEarly)) {
		e.stats.invalid.Add(1)
		return
	}
	recv := ev.Received
	if recv.IsZero() {
		recv = now
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.realTrades = true
	e.advanceAt(in, now, earliest(recv, now))
	minute := tr.Time.Unix() - tr.Time.Unix()%60
	if minute > now.Unix() {
		in.future = append(in.future, realTrade{tr, recv})
		e.stats.deferred.Add(1)
		return
	}
	e.applyTrade(in, tr, minute, recv, now)
}

func validTrade(tr tvbridge.Trade) bool {
	ok := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) && f > 0 }
	return ok(tr.Price) && ok(tr.Quantity) && !tr.Time.IsZero() && tr.Time.Unix() > 0
}

// applyTrade streams a trade whose minute has begun on our clock; the
// caller holds in.mu.
func (e *Engine) applyTrade(in *instrument, tr tvbridge.Trade, minute int64, recv, now time.Time) {
	if minute < in.closedUntil || (in.hasOpen && minute < in.open.start) {
		e.stats.lateTrades.Add(1)
		return
	}
	if !in.hasOpen || minute > in.open.start {
		e.openMinute(in, minute, now)
	}
	if in.openSynthetic {
		e.stats.superseded.Add(1) // the candle updates, which include it, drive the minute
		return
	}
	t := min(max(tr.Time.Unix(), in.lastTrade, minute), minute+59, now.Unix())
	sp := in.spec.Load()
	e.ticks = append(e.ticks, tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: sp.figi, Symbol: sp.symbol,
		Time: unix(t), Price: tr.Price, Size: tr.Quantity, Received: recv})
	in.open.ohlcv = in.open.ohlcv.trade(tr.Price, tr.Quantity)
	in.lastTrade = t
	e.stats.trades.Add(1)
	e.stats.realTrades.Add(1)
	in.openConfirmed = false
	if in.hasPending && in.open.v >= in.pending.v {
		in.hasPending = false // the trades caught up with the candle
	}
	e.dayChanged(in, recv, now)
}

// releaseFuture streams the trades that waited for our clock; the caller
// holds in.mu.
func (e *Engine) releaseFuture(in *instrument, now time.Time) {
	kept := in.future[:0]
	for _, rt := range in.future {
		minute := rt.Time.Unix() - rt.Time.Unix()%60
		if minute > now.Unix() {
			kept = append(kept, rt)
			continue
		}
		e.applyTrade(in, rt.Trade, minute, rt.recv, now)
	}
	clear(in.future[len(kept):])
	in.future = kept
}

// candleWithTrades checks a candle update of a minute streamed from real
// trades against the bar streamed; the caller holds in.mu.
func (e *Engine) candleWithTrades(in *instrument, u ohlcv, recv, now time.Time) {
	s := in.open.ohlcv
	switch {
	case u.v == s.v && u.pricesEqual(s):
		e.stats.duplicates.Add(1)
		in.openConfirmed = true
		in.hasPending = false
	case u.v <= s.v:
		in.hasPending = false
		if s.v > 0 && (u.o != s.o || u.h > s.h || u.l < s.l) {
			e.inconsistent(in, "candle contradicts the trades streamed", u)
			return
		}
		e.stats.stale.Add(1) // behind the trades
	default:
		// The candle includes trades the stream has not carried (yet).
		if !in.hasPending {
			in.hasPending, in.pendingRecv = true, recv
		}
		if u.v >= in.pending.v {
			in.pending = u
		}
		e.checkPending(in, now)
	}
}

// checkPending falls back to the candle updates when the trades did not
// catch up with one within TradeGrace; the caller holds in.mu.
func (e *Engine) checkPending(in *instrument, now time.Time) {
	if in.hasPending && now.Sub(in.pendingRecv) >= e.tradeGrace {
		e.fallBack(in, now)
	}
}

// fallBack switches the open minute to the synthetic rule and streams what
// its newest candle update has beyond the trades.
func (e *Engine) fallBack(in *instrument, now time.Time) {
	u, recv := in.pending, in.pendingRecv
	in.hasPending = false
	in.openSynthetic = true
	e.stats.syntheticMinutes.Add(1)
	e.stream(in, u, recv, now)
}

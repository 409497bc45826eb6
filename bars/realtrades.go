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
// up within TradeGrace and a later update confirms the difference (or the
// minute closes with it: a single update may be a wrong intermediate state
// its next update corrects), the minute falls back to the synthetic rule of the
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
	if in.hasLastRaw && sameTrade(in.lastRaw, tr) {
		// The same trade again: a repeated frame, or the overlap of two
		// streams while an instrument moves between them, or a real one
		// (one order filled against two resting orders of the same size at
		// one exchange time). Only the candle updates can tell: it waits
		// for one that includes it (then it is streamed) or that is as new
		// and does not (then it is dropped), see settleSuspects. A trade
		// counted twice could never be taken back.
		if len(in.suspects) < maxSuspects {
			in.suspects = append(in.suspects, realTrade{tr, ev.Received})
		} else {
			e.stats.duplicateTrades.Add(1)
		}
		return
	}
	in.lastRaw, in.hasLastRaw = tr, true
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

// maxSuspects bounds the repeated trades an instrument holds for the
// candle updates to settle; beyond it a repeat is dropped at once.
const maxSuspects = 64

// settleSuspects decides the repeated trades held back (see handleTrade)
// with the candle update u, whose last trade is at lastTrade (zero when
// unknown); the caller holds in.mu. When the bar streamed plus the open
// minute's repeats, in order, is exactly u, they were real trades: they are
// streamed. (Room in u alone proves nothing: a missed trade of the same size
// leaves the same room, and a repeat streamed after later trades would move
// the close.) A repeat u leaves out although it includes every trade up to
// the repeat's time was a copy: it is dropped. Others wait for a later
// update, at most until the minute closes (dropSuspects), the candle-driven
// fallback carrying the volume of any real one.
func (e *Engine) settleSuspects(in *instrument, u ohlcv, lastTrade, now time.Time) {
	if !in.hasOpen {
		return
	}
	sum, n := in.open.ohlcv, 0
	for _, rt := range in.suspects {
		if rt.Time.Unix()-rt.Time.Unix()%60 == in.open.start {
			sum = sum.trade(rt.Price, rt.Quantity)
			n++
		}
	}
	real := n > 0 && sum.v == u.v && sum.pricesEqual(u)
	kept := in.suspects[:0]
	for _, rt := range in.suspects {
		minute := rt.Time.Unix() - rt.Time.Unix()%60
		switch {
		case minute != in.open.start:
			kept = append(kept, rt) // another minute's: its own updates decide
		case real:
			e.applyTrade(in, rt.Trade, minute, rt.recv, now)
		case !lastTrade.IsZero() && !lastTrade.Before(rt.Time) && in.open.v+rt.Quantity > u.v:
			e.stats.duplicateTrades.Add(1)
		default:
			kept = append(kept, rt)
		}
	}
	clear(in.suspects[len(kept):])
	in.suspects = kept
}

// dropSuspects drops the held repeats of minutes up to the one closing
// (start): no update proved them real; if they were, the minute's candle
// shows the missing volume and the fallback streams it.
func (e *Engine) dropSuspects(in *instrument, start int64) {
	kept := in.suspects[:0]
	for _, rt := range in.suspects {
		if rt.Time.Unix()-rt.Time.Unix()%60 <= start {
			e.stats.duplicateTrades.Add(1)
			continue
		}
		kept = append(kept, rt)
	}
	clear(in.suspects[len(kept):])
	in.suspects = kept
}

// sameTrade reports whether two trades are the same in every field, the
// exchange time to the nanosecond.
func sameTrade(a, b tvbridge.Trade) bool {
	return a.FIGI == b.FIGI && a.Time.Equal(b.Time) && a.Price == b.Price && a.Quantity == b.Quantity
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
	if len(in.suspects) > 0 {
		e.settleSuspects(in, u, in.candleTrade, now)
	}
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
			in.pendingSeen, in.hasConfirmed = false, false
		}
		// A state is confirmed once a later update contains it (as much
		// volume, the same open, a range at least as wide): the upstream
		// stands by it. One it took back (a corrective update: less
		// volume, or a high that fell) never is, and a confirmed one it
		// takes back stops being.
		switch {
		case in.pendingSeen && contains(u, in.pending):
			in.confirmed, in.hasConfirmed = in.pending, true
		case in.hasConfirmed && !contains(u, in.confirmed):
			in.hasConfirmed = false
		}
		in.pending, in.pendingSeen = u, true
		e.checkPending(in, now)
	}
}

// checkPending falls back to the candle updates when the trades did not
// catch up within TradeGrace with a candle state a later update confirmed,
// streaming that state; the caller holds in.mu. The newest update waits
// for its confirmation: an upstream that streams a wrong intermediate
// state (one lot too many, the high a tick higher, corrected by its next
// update) would otherwise have it streamed as a synthetic trade that no
// correction could take back. At the minute's close the newest update
// decides (closeOpen): it is the final state as far as we will know.
func (e *Engine) checkPending(in *instrument, now time.Time) {
	if in.hasPending && in.hasConfirmed && in.confirmed.v > in.open.v && now.Sub(in.pendingRecv) >= e.tradeGrace {
		e.fallBack(in, in.confirmed, now)
	}
}

// fallBack switches the open minute to the synthetic rule and streams what
// the candle state u has beyond the trades.
func (e *Engine) fallBack(in *instrument, u ohlcv, now time.Time) {
	recv := in.pendingRecv
	// A newer state than u waits for its confirmation, or for the close,
	// whichever comes first (an update for the minute now goes to the
	// synthetic rule, which supersedes it).
	in.hasPending = in.pending != u && in.pending.v > u.v
	in.openSynthetic = true
	e.stats.syntheticMinutes.Add(1)
	e.stream(in, u, recv, now)
}

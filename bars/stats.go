package bars

import "sync/atomic"

// Stats are the engine's counters since it was created.
type Stats struct {
	Updates        uint64 // 1-minute candle updates for known instruments
	IgnoredCandles uint64 // candle updates of other intervals
	Unknown        uint64 // candle or book events for instruments never added
	Invalid        uint64 // non-finite values, negative volume, time not a whole minute or too far ahead

	Trades        uint64 // trade ticks emitted
	Duplicates    uint64 // identical to the newest accepted update, or to the streamed bar
	Stale         uint64 // lower volume than streamed (an older snapshot)
	OutOfOrder    uint64 // re-sends of the last closed minute that add nothing to it
	Corrections   uint64 // updates for closed minutes that would have changed them (never applied)
	Inconsistent  uint64 // updates contradicting the streamed bar or themselves (open changed, high fell, volume fell while prices moved beyond...)
	Pending       uint64 // price changes without a volume increase to carry them (not streamable)
	Deferred      uint64 // updates that waited for our clock to reach their minute
	MinutesClosed uint64 // 1-minute bars passed to MinutesClosed
	OutOfSession  uint64 // closed minutes outside every session period: attached to no trading day
	Resumed       uint64 // forming minutes continued from another process's stream (ResumeOpen)

	Quotes        uint64 // quote ticks emitted
	BooksStale    uint64 // books older than QuoteMaxAge, or than the current quote's book
	BooksRejected uint64 // books with an empty side, an invalid best level or crossed
	BooksClosed   uint64 // books received outside the session or in a non-trading status (stale snapshots)

	// Real trades (realtrades.go).
	RealTrades       uint64 // exchange trades streamed as they were
	LateTrades       uint64 // trades for a minute already closed (dropped)
	DuplicateTrades  uint64 // trades identical to the one before that no candle update proved real (dropped: a repeated frame)
	Superseded       uint64 // trades of a minute that fell back to its candle updates (dropped: the candles carry them)
	SyntheticMinutes uint64 // minutes of real-trade instruments that fell back to the candle updates

	Dailies uint64 // daily-bar ticks emitted
	Panics  uint64 // panics recovered in Handle or Sweep (bugs)
}

// counters are the live, atomically updated counters behind Stats.
type counters struct {
	updates, ignored, unknown, invalid                               atomic.Uint64
	trades, duplicates, stale, outOfOrder, corrections, inconsistent atomic.Uint64
	pending, deferred, minutesClosed, outOfSession                   atomic.Uint64
	quotes, booksStale, booksRejected, booksClosed, dailies, panics  atomic.Uint64
	realTrades, lateTrades, superseded, syntheticMinutes             atomic.Uint64
	duplicateTrades, resumed                                         atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Updates: c.updates.Load(), IgnoredCandles: c.ignored.Load(), Unknown: c.unknown.Load(),
		Invalid: c.invalid.Load(), Trades: c.trades.Load(), Duplicates: c.duplicates.Load(),
		Stale: c.stale.Load(), OutOfOrder: c.outOfOrder.Load(), Corrections: c.corrections.Load(),
		Inconsistent: c.inconsistent.Load(), Pending: c.pending.Load(), Deferred: c.deferred.Load(),
		MinutesClosed: c.minutesClosed.Load(), OutOfSession: c.outOfSession.Load(),
		Quotes: c.quotes.Load(), BooksStale: c.booksStale.Load(), BooksRejected: c.booksRejected.Load(),
		BooksClosed: c.booksClosed.Load(),
		RealTrades:  c.realTrades.Load(), LateTrades: c.lateTrades.Load(), Superseded: c.superseded.Load(),
		SyntheticMinutes: c.syntheticMinutes.Load(), DuplicateTrades: c.duplicateTrades.Load(),
		Dailies: c.dailies.Load(), Panics: c.panics.Load(), Resumed: c.resumed.Load(),
	}
}

package bars

import (
	"time"

	"tvbridge"
)

// dayChanged records that the open minute, which belongs to the current
// trading day, changed the day's bar: it emits a TickDaily, or, if one went
// out in this clock second already, leaves it for Sweep or the minute's close.
func (e *Engine) dayChanged(in *instrument, recv, now time.Time) {
	if !e.daily || !in.openInDay || in.openDay != in.day {
		return
	}
	in.dailyRecv = recv
	if now.Unix() > in.dailySent {
		e.emitDaily(in, now)
		return
	}
	in.dailyDirty = true
}

// emitDaily appends a TickDaily with the day's bar so far.
func (e *Engine) emitDaily(in *instrument, now time.Time) {
	in.dailyDirty = false
	bar, ok := in.dayBar()
	if !e.daily || !ok {
		return
	}
	in.dailySent = now.Unix()
	sp := in.spec.Load()
	e.ticks = append(e.ticks, tvbridge.Tick{Kind: tvbridge.TickDaily, FIGI: sp.figi, Symbol: sp.symbol,
		Time: bar.Time, Bar: bar, Received: in.dailyRecv})
	e.stats.dailies.Add(1)
}

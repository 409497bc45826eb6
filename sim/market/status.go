package market

import (
	"time"

	"tvbridge"
)

// A trading day is a sequence of segments, each a span with one status.
// Anything outside the segments is not_available_for_trading.
//
// With plainProfile each session period is normal_trading and the gaps
// between periods of one day are break_in_trading. With auctionProfile
// (MOEX equities, ETFs and bonds, session 09:50-18:50) the day is:
//
//	09:50-10:00 opening_auction (no trades)
//	10:00-18:40 normal_trading
//	18:40-18:50 closing_auction (one auction trade just before 18:50)
//
// Sessions are whole minutes and the model's timezones have whole-minute
// offsets, so a minute never straddles two segments.

type segment struct {
	from, to int64 // Unix nanoseconds, [from, to)
	status   tvbridge.TradeStatus
}

// producesTrades reports whether the model generates trades in the segment.
// Every such status is Trading(); the opening auction is Trading() too but
// matches no trades.
func (s segment) producesTrades() bool {
	return s.status == tvbridge.StatusNormalTrading || s.status == tvbridge.StatusClosingAuction
}

const (
	nsPerMinute = int64(time.Minute)
	nsPerHour   = int64(time.Hour)
	nsPerDay    = 24 * nsPerHour
	auctionLen  = 10 * nsPerMinute
)

// The model runs in [minTime, maxTime); outside it nothing trades and times
// are clamped to its ends. That keeps Unix nanoseconds far from overflow.
var (
	minTime  = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime  = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	maxNanos = maxTime.UnixNano()
)

// toNanos converts t to Unix nanoseconds, clamped to [minTime, maxTime].
func toNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return minTime.UnixNano()
	case t.After(maxTime):
		return maxTime.UnixNano()
	}
	return t.UnixNano()
}

func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// localDate returns the instrument-local calendar date of ns, as 00:00 UTC
// of that date (the form Schedule.Periods takes).
func (md *model) localDate(ns int64) time.Time {
	y, m, d := time.Unix(0, ns).In(md.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// daySegments appends the segments of the trading day on date to buf.
func (md *model) daySegments(date time.Time, buf []segment) []segment {
	if date.Before(md.listedDate) {
		return buf
	}
	periods := md.inst.Schedule.Periods(date)
	auctions := md.profile == auctionProfile
	last := len(periods) - 1
	for i, p := range periods {
		open, close := p.Open.UnixNano(), p.Close.UnixNano()
		if i > 0 {
			if prev := buf[len(buf)-1].to; prev < open {
				buf = append(buf, segment{prev, open, tvbridge.StatusBreakInTrading})
			}
		}
		from, to := open, close
		if auctions && i == 0 && to-from > 2*auctionLen {
			buf = append(buf, segment{from, from + auctionLen, tvbridge.StatusOpeningAuction})
			from += auctionLen
		}
		closing := auctions && i == last && to-from > 2*auctionLen
		if closing {
			to -= auctionLen
		}
		buf = append(buf, segment{from, to, tvbridge.StatusNormalTrading})
		if closing {
			buf = append(buf, segment{to, close, tvbridge.StatusClosingAuction})
		}
	}
	return buf
}

// dayEntry holds the segments that start on one local calendar date.
// Each segment belongs to exactly one entry; only an overnight session's
// segment runs on past its entry's end.
type dayEntry struct {
	lo, hi int64 // the date's local midnight and the next one, Unix ns
	dayNum int64 // the date as a Unix day number
	segs   []segment
}

// daySlots is the size of each instrument's cache of day entries: enough
// for the stream's today, yesterday and a history request or two.
const daySlots = 8

// day returns the entry of the local date containing ns. Computing one
// takes timezone conversions and a schedule walk; the stream asks about the
// same day thousands of times, so entries are cached in a small lock-free
// table indexed by UTC day.
func (md *model) day(ns int64) *dayEntry {
	slot := &md.days[floorDiv(ns, nsPerDay)&(daySlots-1)]
	if e := slot.Load(); e != nil && e.lo <= ns && ns < e.hi {
		return e
	}
	e := md.buildDay(ns)
	slot.Store(e)
	return e
}

func (md *model) buildDay(ns int64) *dayEntry {
	y, m, d := time.Unix(0, ns).In(md.loc).Date()
	date := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	e := &dayEntry{
		lo:     time.Date(y, m, d, 0, 0, 0, 0, md.loc).UnixNano(),
		hi:     time.Date(y, m, d+1, 0, 0, 0, 0, md.loc).UnixNano(),
		dayNum: date.Unix() / 86400,
	}
	var buf [16]segment
	segs := buf[:0]
	for k := 0; k <= md.lookahead(); k++ {
		segs = md.daySegments(date.AddDate(0, 0, k), segs)
	}
	for _, s := range segs {
		if s.from >= e.lo && s.from < e.hi {
			e.segs = append(e.segs, s)
		}
	}
	return e
}

// lookahead is how many trading days after a calendar date can have
// segments starting on it: 1 when sessions run overnight.
func (md *model) lookahead() int {
	if md.overnight {
		return 1
	}
	return 0
}

// segmentAt returns the segment containing ns, if any.
func (md *model) segmentAt(ns int64) (segment, bool) {
	if ns < md.listed || ns >= maxNanos {
		return segment{}, false
	}
	e := md.day(ns)
	for _, s := range e.segs {
		if s.from <= ns && ns < s.to {
			return s, true
		}
	}
	if md.overnight { // a segment from the previous date may still run
		p := md.day(e.lo - 1)
		if n := len(p.segs); n > 0 && p.segs[n-1].to > ns {
			return p.segs[n-1], true
		}
	}
	return segment{}, false
}

// statusAt is the trading status at ns.
func (md *model) statusAt(ns int64) tvbridge.TradeStatus {
	if s, ok := md.segmentAt(ns); ok {
		return s.status
	}
	return tvbridge.StatusNotAvailableForTrading
}

// eachSegment calls fn, in time order, with every segment that overlaps
// [a, b), unclipped, until fn returns false.
func (md *model) eachSegment(a, b int64, fn func(segment) bool) {
	a, b = max(a, md.listed), min(b, maxNanos)
	if a >= b {
		return
	}
	e := md.day(a)
	if md.overnight {
		if !visit(md.day(e.lo-1).segs, a, b, fn) {
			return
		}
	}
	for visit(e.segs, a, b, fn) && e.hi < b {
		e = md.day(e.hi)
	}
}

func visit(segs []segment, a, b int64, fn func(segment) bool) bool {
	for _, s := range segs {
		if s.to > a && s.from < b && !fn(s) {
			return false
		}
	}
	return true
}

// eachSegmentBack is eachSegment in reverse time order.
func (md *model) eachSegmentBack(a, b int64, fn func(segment) bool) {
	a, b = max(a, md.listed), min(b, maxNanos)
	if a >= b {
		return
	}
	// Overnight sessions: one more date back may hold a segment reaching a.
	stop := a
	if md.overnight {
		stop -= nsPerDay + 1
	}
	for e := md.day(b - 1); ; e = md.day(e.lo - 1) {
		for i := len(e.segs) - 1; i >= 0; i-- {
			if s := e.segs[i]; s.to > a && s.from < b && !fn(s) {
				return
			}
		}
		if e.lo <= stop {
			return
		}
	}
}

// lastLive returns the last instant at or before ns when the instrument was
// in a trading status, searching back up to 15 days.
func (md *model) lastLive(ns int64) (int64, bool) {
	found, at := false, int64(0)
	md.eachSegmentBack(ns-15*nsPerDay, ns+1, func(s segment) bool {
		if !s.status.Trading() {
			return true
		}
		found, at = true, min(ns, s.to-1)
		return false
	})
	return at, found
}

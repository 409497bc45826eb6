package api

import (
	"slices"
	"time"

	"tvbridge"
)

const secondsPerDay = 86400

// daily reports whether bars of r are built from daily bars rather than
// from 1-minute bars.
func (r resolution) daily() bool { return r.unit != unitMinute }

// native reports whether r is served as stored, without aggregation.
func (r resolution) native() bool { return r.n == 1 && (r.unit == unitMinute || r.unit == unitDay) }

// Daily-based bars are grouped by calendar blocks of the UTC date their
// source bars are stamped with: n-day blocks counted from 1970-01-01, n-week
// blocks of ISO weeks (Monday first) counted from 1969-12-29, and n-month
// blocks counted from January 1970. A bar is stamped with the time of the
// first trading day in its block, so a monthly bar carries 00:00 UTC of the
// month's first trading day, as TradingView requires.

// blockStart returns the start of the calendar block containing t.
func (r resolution) blockStart(t int64) int64 {
	days := floorDiv(t, secondsPerDay)
	switch r.unit {
	case unitWeek:
		weeks := floorDiv(days+3, 7) // 1970-01-01 was a Thursday
		weeks -= floorMod(weeks, int64(r.n))
		return (weeks*7 - 3) * secondsPerDay
	case unitMonth:
		return monthStart(monthIndex(t) - floorMod(monthIndex(t), int64(r.n)))
	default:
		return (days - floorMod(days, int64(r.n))) * secondsPerDay
	}
}

// blockEnd returns the end (exclusive) of the calendar block containing t.
func (r resolution) blockEnd(t int64) int64 {
	start := r.blockStart(t)
	switch r.unit {
	case unitWeek:
		return start + int64(r.n)*7*secondsPerDay
	case unitMonth:
		return monthStart(monthIndex(start) + int64(r.n))
	default:
		return start + int64(r.n)*secondsPerDay
	}
}

// monthIndex counts months since January of year 0.
func monthIndex(t int64) int64 {
	y, m, _ := time.Unix(t, 0).UTC().Date()
	return int64(y)*12 + int64(m) - 1
}

func monthStart(idx int64) int64 {
	return time.Date(int(idx/12), time.Month(idx%12+1), 1, 0, 0, 0, 0, time.UTC).Unix()
}

func floorDiv(a, b int64) int64 { return (a - floorMod(a, b)) / b }

func floorMod(a, b int64) int64 { return (a%b + b) % b }

// width is a generous length of one bar, used to size walk-back chunks.
func (r resolution) width() int64 {
	unit := int64(60)
	switch r.unit {
	case unitDay:
		unit = secondsPerDay
	case unitWeek:
		unit = 7 * secondsPerDay
	case unitMonth:
		unit = 31 * secondsPerDay
	}
	return unit * int64(r.n)
}

// bucketKey returns the function that names the bar each source bar of r
// belongs to. Its results never decrease over ascending source bars.
func (r resolution) bucketKey(sched *tvbridge.Schedule) func(time.Time) int64 {
	if r.daily() {
		return func(t time.Time) int64 { return r.blockStart(t.Unix()) }
	}
	sb := &sessionBuckets{sched: sched, width: int64(r.n) * 60}
	return sb.key
}

// sessionBuckets aligns n-minute bars to the open of each trading period,
// as TradingView aligns bars to the start of session-regular: with a 09:30
// open, 60-minute bars start at 09:30, 10:30, ... and the last one is cut
// short by the close. A minute outside every period (possible when the
// upstream trades off schedule) stays a bar of its own rather than joining a
// session bar.
type sessionBuckets struct {
	sched *tvbridge.Schedule
	width int64 // seconds
	cur   tvbridge.Period
	have  bool
}

func (s *sessionBuckets) key(t time.Time) int64 {
	if s.sched == nil {
		return t.Unix() - floorMod(t.Unix(), s.width)
	}
	if !s.have || !s.cur.Contains(t) {
		s.cur, s.have = periodAt(s.sched, t)
		if !s.have {
			return t.Unix()
		}
	}
	open := s.cur.Open.Unix()
	return open + (t.Unix()-open)/s.width*s.width
}

// periodAt returns the trading period containing t.
func periodAt(sched *tvbridge.Schedule, t time.Time) (tvbridge.Period, bool) {
	day, ok := sched.TradingDay(t)
	if !ok {
		return tvbridge.Period{}, false
	}
	for _, p := range sched.Periods(day) {
		if p.Contains(t) {
			return p, true
		}
	}
	return tvbridge.Period{}, false
}

// aggregate builds bars of resolution r from ascending source bars. An
// intraday bar is stamped with its bucket start; a daily-based bar with its
// first source bar. Unservable source bars are left out.
func aggregate(src []tvbridge.Bar, r resolution, sched *tvbridge.Schedule) []tvbridge.Bar {
	if r.native() {
		return servableOnly(src)
	}
	key := r.bucketKey(sched)
	out := make([]tvbridge.Bar, 0, len(src)/2+1)
	var cur int64
	for _, b := range src {
		if !servable(b) {
			continue
		}
		k := key(b.Time)
		if n := len(out); n > 0 && k == cur {
			last := &out[n-1]
			last.High = max(last.High, b.High)
			last.Low = min(last.Low, b.Low)
			last.Close = b.Close
			last.Volume += b.Volume
			continue
		}
		cur = k
		if !r.daily() {
			b.Time = time.Unix(k, 0).UTC()
		}
		out = append(out, b)
	}
	return out
}

// servableOnly returns the servable bars of src, src itself when all are.
func servableOnly(src []tvbridge.Bar) []tvbridge.Bar {
	for i, b := range src {
		if !servable(b) {
			out := slices.Clone(src[:i])
			for _, b := range src[i+1:] {
				if servable(b) {
					out = append(out, b)
				}
			}
			return out
		}
	}
	return src
}

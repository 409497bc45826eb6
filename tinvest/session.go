package tinvest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// Trading schedules to TradingView sessions.
//
// TradingSchedules gives, per exchange and calendar day, UTC times of the
// periods a day trades in: premarket, opening auction, main session,
// closing auction, evening session, and named intervals. A session string
// says, per weekday, when an instrument trades in its exchange's timezone.
// SessionFromSchedule merges each trading day's periods into ranges
// (periods that touch or overlap become one; the clearing break between
// the main and the evening session stays a gap), writes them in the
// timezone as HHMM-HHMM, assigns each range to the weekday of the local
// date on which it closes (a range opening the evening before is an
// overnight range, "1900-0500", as tvbridge.ParseSchedule reads it), takes
// for each weekday the ranges seen most often in the sample (a shortened
// pre-holiday day does not define the weekday), leaves out weekdays that
// never trade in the sample, and groups weekdays with the same ranges:
// "0700-1850,1905-2350:23456|1000-1900:17". Seven whole days are "24x7".

// SessionFromSchedule turns trading days into a TradingView session in loc.
// ok is false when the sample has no trading day.
func SessionFromSchedule(days []wire.TradingDay, loc *time.Location) (session string, ok bool) {
	type vote struct {
		sig   string
		count int
		last  time.Time
	}
	votes := map[time.Weekday]map[string]*vote{}
	for _, d := range days {
		if !d.IsTradingDay {
			continue
		}
		byDay := map[time.Weekday][]string{}
		for _, r := range mergePeriods(dayPeriods(d)) {
			wd, rng := localRange(r, loc)
			byDay[wd] = append(byDay[wd], rng)
		}
		for wd, rs := range byDay {
			slices.SortFunc(rs, compareRanges)
			sig := strings.Join(rs, ",")
			if votes[wd] == nil {
				votes[wd] = map[string]*vote{}
			}
			v := votes[wd][sig]
			if v == nil {
				v = &vote{sig: sig}
				votes[wd][sig] = v
			}
			v.count++
			if d.Date.After(v.last) {
				v.last = d.Date.Time
			}
		}
	}
	if len(votes) == 0 {
		return "", false
	}
	perDay := map[time.Weekday]string{}
	for wd, vs := range votes {
		var best *vote
		for _, v := range vs {
			if best == nil || v.count > best.count || (v.count == best.count && v.last.After(best.last)) ||
				(v.count == best.count && v.last.Equal(best.last) && v.sig < best.sig) {
				best = v
			}
		}
		perDay[wd] = best.sig
	}
	if len(perDay) == 7 {
		all := true
		for _, sig := range perDay {
			all = all && sig == "0000-0000"
		}
		if all {
			return "24x7", true
		}
	}
	groups := map[string][]time.Weekday{}
	var order []string
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		sig, ok := perDay[wd]
		if !ok {
			continue
		}
		if _, seen := groups[sig]; !seen {
			order = append(order, sig)
		}
		groups[sig] = append(groups[sig], wd)
	}
	var parts []string
	for _, sig := range order {
		var b strings.Builder
		b.WriteString(sig)
		b.WriteByte(':')
		for _, wd := range groups[sig] {
			b.WriteByte(byte('1' + wd))
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "|"), true
}

// period is [from, to) in UTC.
type period struct{ from, to time.Time }

// dayPeriods lists the periods a trading day names.
func dayPeriods(d wire.TradingDay) []period {
	var out []period
	add := func(from, to wire.Timestamp) {
		if !from.IsZero() && !to.IsZero() && from.Before(to.Time) {
			out = append(out, period{from.UTC(), to.UTC()})
		}
	}
	add(d.PremarketStartTime, d.PremarketEndTime)
	add(d.OpeningAuctionStartTime, d.OpeningAuctionEndTime)
	start := d.StartTime
	if !d.OpeningAuctionStartTime.IsZero() && (start.IsZero() || d.OpeningAuctionStartTime.Before(start.Time)) && !d.EndTime.IsZero() {
		start = d.OpeningAuctionStartTime
	}
	end := d.EndTime
	if !d.ClosingAuctionEndTime.IsZero() && d.ClosingAuctionEndTime.After(end.Time) {
		end = d.ClosingAuctionEndTime
	}
	add(start, end)
	add(d.ClosingAuctionStartTime, d.ClosingAuctionEndTime)
	eveningStart := d.EveningStartTime
	if !d.EveningOpeningAuctionStartTime.IsZero() && (eveningStart.IsZero() || d.EveningOpeningAuctionStartTime.Before(eveningStart.Time)) {
		eveningStart = d.EveningOpeningAuctionStartTime
	}
	add(eveningStart, d.EveningEndTime)
	for _, iv := range d.Intervals {
		add(iv.Interval.StartTS, iv.Interval.EndTS)
	}
	return out
}

// mergePeriods sorts periods and merges those that overlap or touch.
func mergePeriods(ps []period) []period {
	slices.SortFunc(ps, func(a, b period) int { return a.from.Compare(b.from) })
	var out []period
	for _, p := range ps {
		if n := len(out); n > 0 && !p.from.After(out[n-1].to) {
			if p.to.After(out[n-1].to) {
				out[n-1].to = p.to
			}
			continue
		}
		out = append(out, p)
	}
	return out
}

// localRange writes a period as HHMM-HHMM in loc, on the weekday of the
// local date it closes on: the start floored to its minute, the end raised
// to the next minute; a period of a day or more is "0000-0000".
func localRange(p period, loc *time.Location) (time.Weekday, string) {
	from := p.from.In(loc).Truncate(time.Minute)
	to := p.to.In(loc)
	if !to.Equal(to.Truncate(time.Minute)) {
		to = to.Truncate(time.Minute).Add(time.Minute)
	}
	closeDay := to.Add(-time.Nanosecond) // an end at midnight belongs to the day before
	wd := closeDay.Weekday()
	if to.Sub(from) >= 24*time.Hour {
		return wd, "0000-0000"
	}
	return wd, fmt.Sprintf("%02d%02d-%02d%02d", from.Hour(), from.Minute(), to.Hour(), to.Minute())
}

// compareRanges orders ranges by opening time, an overnight range (opening
// the day before) first.
func compareRanges(a, b string) int {
	key := func(r string) string {
		if r[:4] >= r[5:9] && r != "0000-0000" {
			return "0" + r // overnight: opens the evening before
		}
		return "1" + r
	}
	return strings.Compare(key(a), key(b))
}

// checkSession verifies a session parses in tz.
func checkSession(session, tz string) error {
	_, err := tvbridge.ParseSchedule(session, tz)
	return err
}

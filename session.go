package tvbridge

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed TradingView session string in an IANA timezone.
//
// The session grammar is TradingView's: "24x7", or one or more groups joined
// by "|", each "HHMM-HHMM[,HHMM-HHMM...][:DAYS]" where DAYS lists weekdays as
// digits 1 (Sunday) to 7 (Saturday) and defaults to all seven. An end of 0000
// means the following midnight, so "0000-0000" is a whole calendar day. A range
// whose start is not before its end ("1900-0500") is an overnight
// session: it opens on the previous calendar day and belongs to the trading day
// on which it closes, which is also the day the DAYS list refers to.
type Schedule struct {
	spec string
	loc  *time.Location
	// ranges[w] holds the ranges of a trading day falling on weekday w.
	ranges [7][]sessionRange
}

type sessionRange struct {
	start, end int // minutes after local midnight; start >= end means overnight
}

func (r sessionRange) overnight() bool { return r.start >= r.end }

// ParseSchedule parses a session string for the given IANA timezone.
func ParseSchedule(session, timezone string) (*Schedule, error) {
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return nil, fmt.Errorf("session timezone %q: %w", timezone, err)
	}
	s := &Schedule{spec: session, loc: loc}
	if session == "24x7" {
		for w := range s.ranges {
			s.ranges[w] = []sessionRange{{0, 24 * 60}}
		}
		return s, nil
	}
	if session == "" {
		return nil, fmt.Errorf("empty session string")
	}
	for _, group := range strings.Split(session, "|") {
		if err := s.parseGroup(group); err != nil {
			return nil, fmt.Errorf("session %q: %w", session, err)
		}
	}
	return s, nil
}

// MustSchedule is ParseSchedule for literals known to be valid; it panics otherwise.
func MustSchedule(session, timezone string) *Schedule {
	s, err := ParseSchedule(session, timezone)
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Schedule) parseGroup(group string) error {
	times, days, hasDays := strings.Cut(group, ":")
	weekdays := []time.Weekday{0, 1, 2, 3, 4, 5, 6}
	if hasDays {
		weekdays = weekdays[:0]
		if days == "" {
			return fmt.Errorf("empty day list in %q", group)
		}
		for _, c := range days {
			if c < '1' || c > '7' {
				return fmt.Errorf("bad day %q in %q (days are 1=Sunday..7=Saturday)", c, group)
			}
			weekdays = append(weekdays, time.Weekday(c-'1'))
		}
	}
	for _, rng := range strings.Split(times, ",") {
		r, err := parseRange(rng)
		if err != nil {
			return err
		}
		for _, w := range weekdays {
			s.ranges[w] = append(s.ranges[w], r)
		}
	}
	return nil
}

func parseRange(rng string) (sessionRange, error) {
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return sessionRange{}, fmt.Errorf("range %q is not HHMM-HHMM", rng)
	}
	start, err := parseHHMM(a)
	if err != nil {
		return sessionRange{}, err
	}
	end, err := parseHHMM(b)
	if err != nil {
		return sessionRange{}, err
	}
	if end == 0 {
		// An end at 0000 means midnight at the end of the day: "0000-0000"
		// is a whole calendar day, "1900-0000" runs until midnight.
		end = 24 * 60
	}
	return sessionRange{start, end}, nil
}

func parseHHMM(v string) (int, error) {
	if len(v) != 4 {
		return 0, fmt.Errorf("time %q is not HHMM", v)
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("time %q is not HHMM", v)
		}
	}
	n, _ := strconv.Atoi(v)
	h, m := n/100, n%100
	if h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q out of range", v)
	}
	return h*60 + m, nil
}

// DayRange is one trading period of a trading day, in minutes after that
// day's local midnight; Open is negative when the period opens the evening
// before (an overnight session).
type DayRange struct{ Open, Close int }

// DayRanges returns the periods of a trading day falling on weekday w, in
// the order the session string lists them.
func (s *Schedule) DayRanges(w time.Weekday) []DayRange {
	out := make([]DayRange, 0, len(s.ranges[w]))
	for _, r := range s.ranges[w] {
		d := DayRange{Open: r.start, Close: r.end}
		if r.overnight() {
			d.Open -= 24 * 60
		}
		out = append(out, d)
	}
	return out
}

// String returns the session string the schedule was parsed from.
func (s *Schedule) String() string { return s.spec }

// Location returns the schedule's timezone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Period is one continuous trading period [Open, Close).
type Period struct {
	Open, Close time.Time
}

// Contains reports whether t lies in [Open, Close).
func (p Period) Contains(t time.Time) bool { return !t.Before(p.Open) && t.Before(p.Close) }

// Periods returns the trading periods of the trading day with the given local
// calendar date, in order. The date's clock and location are ignored.
func (s *Schedule) Periods(date time.Time) []Period {
	y, m, d := date.Date()
	wd := time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()
	rs := s.ranges[wd]
	out := make([]Period, 0, len(rs))
	for _, r := range rs {
		startDay := d
		if r.overnight() {
			startDay = d - 1
		}
		out = append(out, Period{
			Open:  s.at(y, m, startDay, r.start),
			Close: s.at(y, m, d, r.end),
		})
	}
	return out
}

// at builds a local wall-clock instant; time.Date resolves DST gaps and folds.
func (s *Schedule) at(y int, m time.Month, d, minutes int) time.Time {
	return time.Date(y, m, d, minutes/60, minutes%60, 0, 0, s.loc)
}

// TradingDay returns the trading day that instant t belongs to, as 00:00 UTC
// of that calendar date (TradingView's daily-bar stamp), and whether t is in a
// trading period at all.
func (s *Schedule) TradingDay(t time.Time) (time.Time, bool) {
	local := t.In(s.loc)
	y, m, d := local.Date()
	// An overnight period that opens today belongs to tomorrow's trading day.
	for _, dd := range []int{d, d + 1} {
		date := time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
		for _, p := range s.Periods(date) {
			if p.Contains(t) {
				return date, true
			}
		}
	}
	return time.Time{}, false
}

// InSession reports whether t falls in a trading period.
func (s *Schedule) InSession(t time.Time) bool {
	_, ok := s.TradingDay(t)
	return ok
}

// NextChange returns the first period boundary (an open or a close) strictly
// after t, looking at most 15 days ahead, and whether one was found. A 24x7
// schedule has boundaries at every local midnight, where the trading day changes.
func (s *Schedule) NextChange(t time.Time) (time.Time, bool) {
	local := t.In(s.loc)
	y, m, d := local.Date()
	var best time.Time
	for dd := d; dd <= d+16; dd++ {
		for _, p := range s.Periods(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)) {
			for _, b := range []time.Time{p.Open, p.Close} {
				if b.After(t) && (best.IsZero() || b.Before(best)) {
					best = b
				}
			}
		}
		if !best.IsZero() && best.Before(time.Date(y, m, dd, 0, 0, 0, 0, s.loc)) {
			break
		}
	}
	return best, !best.IsZero()
}

package check

import (
	"fmt"
	"time"

	"tvbridge"
)

// tradingViewZones is the timezone enum of SymbolInfoArrays in spec 1.4.14.
var tradingViewZones = setOf(tvbridge.TradingViewTimezones...)

// symbolTypes is the SymbolType enum of spec 1.4.14 (crypto and cfd are
// deprecated there but still valid).
var symbolTypes = setOf("stock", "dr", "right", "bond", "warrant", "structured", "index",
	"forex", "futures", "spot", "swap", "commodity", "crypto", "cfd")

func setOf(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// sessionProblems checks a session string: TradingView's grammar (parsed by
// tvbridge.ParseSchedule, the project's one parser of it) and its rules
// that the grammar alone allows: no breaks inside a day and no overlapping
// ranges, i.e. at most one range per weekday.
func sessionProblems(session string) []string {
	if session == "24x7" {
		return nil
	}
	sched, err := tvbridge.ParseSchedule(session, "Etc/UTC") // ranges do not depend on the zone
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for w := time.Sunday; w <= time.Saturday; w++ {
		if n := len(sched.DayRanges(w)); n > 1 {
			problems = append(problems, fmt.Sprintf("%s has %d ranges: TradingView supports neither breaks inside a day nor overlaps; merge them", w, n))
		}
	}
	return problems
}

// schedule parses a symbol's session-regular in its timezone; nil when
// either is unusable (symbol_info/session or /timezone says why).
func schedule(session, timezone string) *tvbridge.Schedule {
	if len(sessionProblems(session)) > 0 {
		return nil
	}
	s, err := tvbridge.ParseSchedule(session, timezone)
	if err != nil {
		return nil
	}
	return s
}

// inSessionThroughout reports whether the schedule is open for all of
// [from, to].
func inSessionThroughout(s *tvbridge.Schedule, from, to time.Time) bool {
	if !s.InSession(from) {
		return false
	}
	next, ok := s.NextChange(from)
	if !ok || !next.Before(to) {
		return true
	}
	// A boundary inside the run: only a trading-day change of a 24x7 or
	// back-to-back session keeps it open.
	return s.InSession(next) && inSessionThroughout(s, next, to)
}

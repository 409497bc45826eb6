package api

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"tvbridge"
)

const minutesPerDay = 24 * 60

// span is a trading day's session in minutes after the trading day's local
// midnight; Open is negative when the session opens the evening before.
type span struct{ Open, Close int }

// MergeSession rewrites a TradingView session string so that every weekday
// has one continuous range, as TradingView requires (it does not support
// breaks inside a day): "0930-1400,1415-1600" becomes "0930-1600". Weekdays
// with the same range share one "|"-separated group; a schedule open on all
// seven days drops the day list, and a round-the-clock one becomes "24x7".
// The grammar is the one tvbridge.ParseSchedule accepts.
func MergeSession(session string) (string, error) {
	if session == "24x7" {
		return session, nil
	}
	days, err := sessionSpans(session)
	if err != nil {
		return "", fmt.Errorf("session %q: %w", session, err)
	}
	var merged [7]*span
	for w, spans := range days {
		if len(spans) == 0 {
			continue
		}
		m := spans[0]
		for _, s := range spans[1:] {
			m.Open, m.Close = min(m.Open, s.Open), max(m.Close, s.Close)
		}
		if m.Close-m.Open > minutesPerDay {
			return "", fmt.Errorf("session %q: the ranges of %s span more than a day", session, time.Weekday(w))
		}
		merged[w] = &m
	}
	return formatSpans(merged)
}

// sessionSpans parses a session string (with tvbridge.ParseSchedule, the
// one parser of the grammar) into the ranges of each weekday.
func sessionSpans(session string) ([7][]span, error) {
	var days [7][]span
	sched, err := tvbridge.ParseSchedule(session, "Etc/UTC") // ranges do not depend on the zone
	if err != nil {
		return days, err
	}
	for w := range days {
		for _, r := range sched.DayRanges(time.Weekday(w)) {
			days[w] = append(days[w], span{r.Open, r.Close})
		}
	}
	return days, nil
}

// formatSpans writes merged per-weekday spans back as a session string.
func formatSpans(days [7]*span) (string, error) {
	var groups []string
	done := [7]bool{}
	allDay := true
	for w := range days {
		if days[w] == nil || *days[w] != (span{0, minutesPerDay}) {
			allDay = false
		}
	}
	if allDay {
		return "24x7", nil
	}
	for w, s := range days {
		if s == nil || done[w] {
			continue
		}
		var list []byte
		for v := w; v < 7; v++ {
			if days[v] != nil && *days[v] == *s {
				done[v] = true
				list = append(list, byte('1'+v))
			}
		}
		g := clockString(s.Open) + "-" + clockString(s.Close)
		if len(list) < 7 {
			g += ":" + string(list)
		}
		groups = append(groups, g)
	}
	if len(groups) == 0 {
		return "", fmt.Errorf("no trading day")
	}
	slices.Sort(groups)
	return strings.Join(groups, "|"), nil
}

// clockString formats minutes after midnight as HHMM, wrapping the previous
// evening and the following midnight into 0000-2359.
func clockString(m int) string {
	m = (m%minutesPerDay + minutesPerDay) % minutesPerDay
	return fmt.Sprintf("%02d%02d", m/60, m%60)
}

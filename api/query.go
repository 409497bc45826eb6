package api

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// resUnit is the unit of a /history resolution.
type resUnit uint8

const (
	unitMinute resUnit = iota + 1
	unitDay
	unitWeek
	unitMonth
)

// resolution is a parsed /history resolution: n units.
type resolution struct {
	unit resUnit
	n    int
}

// Largest multiplier accepted per unit: a day of minutes, a year of days,
// weeks or months.
var maxMultiplier = map[resUnit]int{unitMinute: 1440, unitDay: 365, unitWeek: 52, unitMonth: 12}

var unitSuffix = map[resUnit]string{unitMinute: "", unitDay: "D", unitWeek: "W", unitMonth: "M"}

const resolutionHelp = "use minutes (1, 5, 15, 60, 240, ...), D or nD, W or nW, M or nM"

// parseResolution accepts TradingView's spellings: "1", "5", "240" (minutes),
// "D"/"1D"/"2D", "W"/"1W", "M"/"1M".
func parseResolution(s string) (resolution, error) {
	if s == "" {
		return resolution{}, errors.New("resolution is required; " + resolutionHelp)
	}
	unit, digits := unitMinute, s
	switch s[len(s)-1] {
	case 'D':
		unit, digits = unitDay, s[:len(s)-1]
	case 'W':
		unit, digits = unitWeek, s[:len(s)-1]
	case 'M':
		unit, digits = unitMonth, s[:len(s)-1]
	}
	n := 1
	if digits != "" || unit == unitMinute {
		v, ok := smallPositive(digits)
		if !ok {
			return resolution{}, fmt.Errorf("unsupported resolution %s; %s", quoteForMessage(s), resolutionHelp)
		}
		n = v
	}
	if n > maxMultiplier[unit] {
		return resolution{}, fmt.Errorf("resolution %s is too large: at most %d%s", quoteForMessage(s),
			maxMultiplier[unit], unitSuffix[unit])
	}
	return resolution{unit, n}, nil
}

// smallPositive parses 1-4 decimal digits without a leading zero.
func smallPositive(s string) (int, bool) {
	if len(s) == 0 || len(s) > 4 || s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func (r resolution) String() string {
	if r.unit == unitMinute {
		return strconv.Itoa(r.n)
	}
	return strconv.Itoa(r.n) + unitSuffix[r.unit]
}

// Times outside 0001-01-01..9999-12-31 are refused as nonsense. Negative
// times are valid: without a data-requirements date TradingView walks
// back one day at a time towards the year 1800, and gets empty answers.
const (
	minUnix = -62135596800 // 0001-01-01T00:00:00Z
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z
)

// historyQuery is a validated /history request. from and to are inclusive
// Unix seconds; countback > 0 asks for that many bars ending at to, and then
// from is ignored.
type historyQuery struct {
	sym       *Symbol
	res       resolution
	from, to  int64
	countback int
}

// parseHistoryQuery validates the parameters of /history. Its errors are
// user-facing: they say what was wrong and what to send instead.
func parseHistoryQuery(q url.Values, cat *Catalog, maxCountback int) (historyQuery, error) {
	var hq historyQuery
	id := q.Get("symbol")
	if id == "" {
		return hq, errors.New("symbol is required")
	}
	sym, ok := cat.Lookup(id)
	if !ok {
		return hq, fmt.Errorf("unknown symbol %s; /symbol_info lists the symbols", quoteForMessage(id))
	}
	hq.sym = sym
	var err error
	if hq.res, err = parseResolution(q.Get("resolution")); err != nil {
		return hq, err
	}
	if hq.to, err = parseUnix("to", q.Get("to")); err != nil {
		return hq, err
	}
	if cb := q.Get("countback"); cb != "" {
		n, err := strconv.Atoi(cb)
		if err != nil || n <= 0 || n > maxCountback || strings.Trim(cb, "0123456789") != "" {
			return hq, fmt.Errorf("countback %s must be a whole number from 1 to %d", quoteForMessage(cb), maxCountback)
		}
		hq.countback = n
		return hq, nil // countback takes priority over from
	}
	if hq.from, err = parseUnix("from", q.Get("from")); err != nil {
		return hq, err
	}
	if hq.from > hq.to {
		return hq, fmt.Errorf("from (%d) is after to (%d)", hq.from, hq.to)
	}
	return hq, nil
}

// parseUnix parses a required Unix time in whole seconds, negative before
// 1970.
func parseUnix(name, v string) (int64, error) {
	if v == "" {
		return 0, fmt.Errorf("%s is required (Unix seconds)", name)
	}
	digits := strings.TrimPrefix(v, "-")
	if digits == "" || len(digits) > 12 || strings.Trim(digits, "0123456789") != "" {
		return 0, fmt.Errorf("%s %s must be a whole number of Unix seconds", name, quoteForMessage(v))
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < minUnix || n > maxUnix {
		return 0, fmt.Errorf("%s %s is out of range (Unix seconds from year 1 to year 9999)", name, quoteForMessage(v))
	}
	return n, nil
}

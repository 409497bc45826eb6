package postgres

import (
	"fmt"
	"math"
	"time"

	"tvbridge"
)

// The validation rules are the bolt store's (bolt/codec.go), so both stores
// accept and refuse the same input and read back the same bars.

// A unit is the width of a bar's time step in seconds: whole minutes for
// 1-minute bars and ranges, whole UTC days for daily bars. Times before 1970
// are refused on write and clamped to the epoch in queries, as bolt does
// (its keys are unsigned).
type unit int64

const (
	minuteUnit unit = 60
	dayUnit    unit = 24 * 60 * 60
)

func (u unit) String() string {
	if u == dayUnit {
		return "UTC day"
	}
	return "minute"
}

// maxFIGILen bounds instrument ids, as in bolt.
const maxFIGILen = 256

// aligned reports whether t is a non-negative whole number of units after
// the Unix epoch.
func (u unit) aligned(t time.Time) bool {
	return t.Unix() >= 0 && t.Nanosecond() == 0 && t.Unix()%int64(u) == 0
}

// index is t's step number, for a t that is aligned.
func (u unit) index(t time.Time) int64 { return t.Unix() / int64(u) }

// ceil is the smallest step number whose time is >= t, clamped to the
// epoch. Range queries run from ceil(from) up to, not including, ceil(to).
func (u unit) ceil(t time.Time) int64 {
	sec := t.Unix()
	if sec < 0 {
		return 0
	}
	n := sec / int64(u)
	if sec%int64(u) != 0 || t.Nanosecond() != 0 {
		n++
	}
	return n
}

// time converts a step number back to a UTC time.
func (u unit) time(n int64) time.Time { return time.Unix(n*int64(u), 0).UTC() }

// maxTime is the latest time a query bound is clamped to: PostgreSQL's
// timestamptz ends in the year 294276, Go's time.Time much later.
var maxTime = time.Date(200000, 1, 1, 0, 0, 0, 0, time.UTC)

func validateFIGI(figi string) error {
	if figi == "" || len(figi) > maxFIGILen {
		return fmt.Errorf("%w: instrument id %q must be 1 to %d bytes", ErrInvalid, figi, maxFIGILen)
	}
	return nil
}

// validateBar checks a bar before it is written. Every rule here is also
// checked when a bar is read back, so corrupt rows never reach a client.
func validateBar(b tvbridge.Bar, u unit) error {
	if !u.aligned(b.Time) || b.Time.After(maxTime) {
		return fmt.Errorf("%w: bar time %s is not a whole %s at or after 1970", ErrInvalid, b.Time, u)
	}
	if err := checkOHLCV(b); err != nil {
		return fmt.Errorf("%w: bar at %s: %w", ErrInvalid, b.Time.UTC().Format(time.RFC3339), err)
	}
	return nil
}

func checkOHLCV(b tvbridge.Bar) error {
	fields := [...]struct {
		name string
		v    float64
	}{{"open", b.Open}, {"high", b.High}, {"low", b.Low}, {"close", b.Close}, {"volume", b.Volume}}
	for _, f := range fields {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s is %v", f.name, f.v)
		}
	}
	switch {
	case !(b.Volume > 0):
		return fmt.Errorf("volume %v is not positive (minutes without trades have no bar)", b.Volume)
	case b.High < max(b.Open, b.Close):
		return fmt.Errorf("high %v is below max(open %v, close %v)", b.High, b.Open, b.Close)
	case b.Low > min(b.Open, b.Close):
		return fmt.Errorf("low %v is above min(open %v, close %v)", b.Low, b.Open, b.Close)
	}
	return nil
}

// normalize returns b in stored form: time in UTC, negative zero as zero
// (bolt stores +0 for -0, so that equal bars have equal bytes).
func normalize(b tvbridge.Bar) tvbridge.Bar {
	z := func(v float64) float64 {
		if v == 0 {
			return 0
		}
		return v
	}
	return tvbridge.Bar{Time: b.Time.UTC(), Open: z(b.Open), High: z(b.High), Low: z(b.Low), Close: z(b.Close), Volume: z(b.Volume)}
}

// sameOHLCV compares two normalized bars' values as bolt compares their
// bytes: a bit-for-bit equality, which for finite, normalized values is ==.
func sameOHLCV(a, b tvbridge.Bar) bool {
	return a.Open == b.Open && a.High == b.High && a.Low == b.Low && a.Close == b.Close && a.Volume == b.Volume
}

// checkStored validates a bar read back: what validateBar would accept.
func checkStored(b tvbridge.Bar, u unit) error {
	if !u.aligned(b.Time) {
		return fmt.Errorf("%w: bar time %s is not a whole %s", ErrCorrupt, b.Time, u)
	}
	if err := checkOHLCV(b); err != nil {
		return fmt.Errorf("%w: bar at %s: %w", ErrCorrupt, b.Time.Format(time.RFC3339), err)
	}
	return nil
}

// span is a range in whole minutes since the epoch, [from, to).
type span struct{ from, to int64 }

func (s span) rng() tvbridge.Range {
	return tvbridge.Range{From: minuteUnit.time(s.from), To: minuteUnit.time(s.to)}
}

// validateRange checks a coverage range before it is merged in. An empty
// range is valid and ignored by the caller.
func validateRange(r tvbridge.Range) (span, error) {
	if !minuteUnit.aligned(r.From) || !minuteUnit.aligned(r.To) || r.To.After(maxTime) {
		return span{}, fmt.Errorf("%w: covered range [%s, %s) is not whole minutes at or after 1970", ErrInvalid, r.From, r.To)
	}
	if r.To.Before(r.From) {
		return span{}, fmt.Errorf("%w: covered range [%s, %s) ends before it starts", ErrInvalid, r.From, r.To)
	}
	return span{minuteUnit.index(r.From), minuteUnit.index(r.To)}, nil
}

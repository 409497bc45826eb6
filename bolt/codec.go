package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"tvbridge"
)

// ErrInvalid marks input the store refuses to write. Callers can test for it
// with errors.Is; the message says which value was wrong and why.
var ErrInvalid = errors.New("invalid input")

// ErrCorrupt marks stored bytes that do not decode to a valid value.
var ErrCorrupt = errors.New("corrupt stored value")

// A unit is the width of a key step in seconds: keys are whole minutes for
// 1-minute bars and coverage, whole UTC days for daily bars. Unsigned
// big-endian keys sort in time order, so a day of bars is one cursor walk.
// Times before 1970 would need negative keys; the store rejects them on write
// and clamps queries to the epoch (TradingView walks back to the year 1800).
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

const (
	keySize = 8
	// barSize is the fixed value width: Open, High, Low, Close, Volume as
	// IEEE-754 bits. See the package comment for why not a compact form.
	barSize = 5 * 8
)

// aligned reports whether t is a non-negative whole number of units after
// the Unix epoch.
func (u unit) aligned(t time.Time) bool {
	return t.Unix() >= 0 && t.Nanosecond() == 0 && t.Unix()%int64(u) == 0
}

// index is t's key number, for a t that is aligned.
func (u unit) index(t time.Time) uint64 { return uint64(t.Unix() / int64(u)) }

// ceil is the smallest key number whose time is >= t, clamped to the epoch.
// Range queries run from ceil(from) up to, not including, ceil(to).
func (u unit) ceil(t time.Time) uint64 {
	sec := t.Unix()
	if sec < 0 {
		return 0
	}
	n := sec / int64(u)
	if sec%int64(u) != 0 || t.Nanosecond() != 0 {
		n++
	}
	return uint64(n)
}

// time converts a key number back to a UTC time.
func (u unit) time(n uint64) time.Time { return time.Unix(int64(n)*int64(u), 0).UTC() }

// maxIndex bounds key numbers so that time() never overflows int64 seconds.
func (u unit) maxIndex() uint64 { return uint64(math.MaxInt64 / int64(u)) }

func putKey(dst []byte, n uint64) { binary.BigEndian.PutUint64(dst, n) }

func encodeKey(n uint64) []byte {
	k := make([]byte, keySize)
	putKey(k, n)
	return k
}

func decodeKey(k []byte) (uint64, error) {
	if len(k) != keySize {
		return 0, fmt.Errorf("%w: key has %d bytes, want %d", ErrCorrupt, len(k), keySize)
	}
	return binary.BigEndian.Uint64(k), nil
}

// validateBar checks a bar before it is written. Every rule here is also
// checked when a bar is read back, so corrupt bytes never reach a client.
func validateBar(b tvbridge.Bar, u unit) error {
	if !u.aligned(b.Time) {
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

// encodeBar writes the OHLCV of a validated bar into dst[:barSize]. Negative
// zero is stored as zero so that equal bars always have equal bytes, which is
// what the conflict check compares.
func encodeBar(dst []byte, b tvbridge.Bar) {
	for i, v := range [...]float64{b.Open, b.High, b.Low, b.Close, b.Volume} {
		if v == 0 {
			v = 0 // turns -0 into +0
		}
		binary.BigEndian.PutUint64(dst[i*8:], math.Float64bits(v))
	}
}

// decodeBar turns a stored key and value back into a bar, rejecting bytes
// that no valid write could have produced.
func decodeBar(u unit, k, v []byte) (tvbridge.Bar, error) {
	n, err := decodeKey(k)
	if err != nil {
		return tvbridge.Bar{}, err
	}
	if n > u.maxIndex() {
		return tvbridge.Bar{}, fmt.Errorf("%w: bar key %d out of range", ErrCorrupt, n)
	}
	if len(v) != barSize {
		return tvbridge.Bar{}, fmt.Errorf("%w: bar at %s has %d bytes, want %d", ErrCorrupt, u.time(n), len(v), barSize)
	}
	f := func(i int) float64 { return math.Float64frombits(binary.BigEndian.Uint64(v[i*8:])) }
	b := tvbridge.Bar{Time: u.time(n), Open: f(0), High: f(1), Low: f(2), Close: f(3), Volume: f(4)}
	if err := checkOHLCV(b); err != nil {
		return tvbridge.Bar{}, fmt.Errorf("%w: bar at %s: %w", ErrCorrupt, b.Time.Format(time.RFC3339), err)
	}
	return b, nil
}

// span is a coverage range in whole minutes since the epoch, [from, to).
type span struct{ from, to uint64 }

// validateRange checks a coverage range before it is merged in. An empty
// range is valid and ignored by the caller.
func validateRange(r tvbridge.Range) (span, error) {
	if !minuteUnit.aligned(r.From) || !minuteUnit.aligned(r.To) {
		return span{}, fmt.Errorf("%w: covered range [%s, %s) is not whole minutes at or after 1970", ErrInvalid, r.From, r.To)
	}
	if r.To.Before(r.From) {
		return span{}, fmt.Errorf("%w: covered range [%s, %s) ends before it starts", ErrInvalid, r.From, r.To)
	}
	return span{minuteUnit.index(r.From), minuteUnit.index(r.To)}, nil
}

// decodeSpan reads a stored coverage range: key = first minute, value = end
// minute (exclusive).
func decodeSpan(k, v []byte) (span, error) {
	from, err := decodeKey(k)
	if err != nil {
		return span{}, err
	}
	if len(v) != keySize {
		return span{}, fmt.Errorf("%w: coverage value has %d bytes, want %d", ErrCorrupt, len(v), keySize)
	}
	to := binary.BigEndian.Uint64(v)
	if to <= from || to > minuteUnit.maxIndex() {
		return span{}, fmt.Errorf("%w: coverage range [%d, %d) minutes is empty or out of range", ErrCorrupt, from, to)
	}
	return span{from, to}, nil
}

package api

import (
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"tvbridge"
)

// The six /history columns, in response order.
const (
	colT = iota
	colO
	colH
	colL
	colC
	colV
	numCols
)

var colOpen = [numCols]string{`{"s":"ok","t":[`, `],"o":[`, `],"h":[`, `],"l":[`, `],"c":[`, `],"v":[`}

const historyClose = "]}\n"

// fragment is a run of bars pre-encoded as the six /history columns. Each
// column holds every bar's value followed by a comma ("1,2,3,"), and
// off[c][i] is where bar i starts in column c, so any sub-range of bars is
// a slice of each column: serving part of a cached day is six memcopies.
// A fragment is immutable once built.
type fragment struct {
	times    []int64 // Unix seconds, strictly increasing
	coverEnd int64   // for a cached day: the bars of [day, coverEnd) are all here
	col      [numCols][]byte
	off      [numCols][]int32 // len(times)+1 entries
}

// buildFragment encodes the bars with from <= Time < to (Unix seconds). It
// drops what TradingView must never see: zero-volume bars, non-finite values
// and bars out of order.
func buildFragment(bars []tvbridge.Bar, from, to int64) *fragment {
	f := &fragment{times: make([]int64, 0, len(bars))}
	for c := range f.off {
		f.col[c] = make([]byte, 0, len(bars)*10)
		f.off[c] = make([]int32, 1, len(bars)+1)
	}
	last := int64(math.MinInt64)
	for _, b := range bars {
		t := b.Time.Unix()
		if t < from || t >= to || t <= last || !servable(b) {
			continue
		}
		last = t
		f.times = append(f.times, t)
		f.add(colT, strconv.AppendInt(f.col[colT], t, 10))
		f.add(colO, strconv.AppendFloat(f.col[colO], b.Open, 'f', -1, 64))
		f.add(colH, strconv.AppendFloat(f.col[colH], b.High, 'f', -1, 64))
		f.add(colL, strconv.AppendFloat(f.col[colL], b.Low, 'f', -1, 64))
		f.add(colC, strconv.AppendFloat(f.col[colC], b.Close, 'f', -1, 64))
		f.add(colV, strconv.AppendFloat(f.col[colV], b.Volume, 'f', -1, 64))
	}
	return f
}

// add terminates the value just appended to column c with a comma.
func (f *fragment) add(c int, col []byte) {
	f.col[c] = append(col, ',')
	f.off[c] = append(f.off[c], int32(len(f.col[c])))
}

// servable reports whether a bar may appear in a response: TradingView
// excludes zero-volume bars, and JSON has no NaN or infinity.
func servable(b tvbridge.Bar) bool {
	for _, v := range [...]float64{b.Open, b.High, b.Low, b.Close, b.Volume} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return b.Volume > 0
}

func (f *fragment) len() int { return len(f.times) }

// search returns the index of the first bar at or after t.
func (f *fragment) search(t int64) int {
	return sort.Search(len(f.times), func(i int) bool { return f.times[i] >= t })
}

// size approximates the fragment's memory for the cache budget.
func (f *fragment) size() int64 {
	n := int64(len(f.times)) * 8
	for c := range f.col {
		n += int64(cap(f.col[c])) + int64(cap(f.off[c]))*4
	}
	return n + 256
}

// piece is bars [i, j) of a fragment.
type piece struct {
	f    *fragment
	i, j int
}

func (p piece) bytes(c int) []byte { return p.f.col[c][p.f.off[c][p.i]:p.f.off[c][p.j]] }

// appendHistory appends the ok response holding the pieces' bars in order.
func appendHistory(dst []byte, pieces []piece) []byte {
	for c := range numCols {
		dst = append(dst, colOpen[c]...)
		start := len(dst)
		for _, p := range pieces {
			dst = append(dst, p.bytes(c)...)
		}
		if len(dst) > start {
			dst = dst[:len(dst)-1] // the last value's comma
		}
	}
	return append(dst, historyClose...)
}

// historySize is the exact length appendHistory produces.
func historySize(pieces []piece) int {
	n := len(historyClose)
	for c := range numCols {
		n += len(colOpen[c])
		m := 0
		for _, p := range pieces {
			m += len(p.bytes(c))
		}
		if m > 0 {
			m-- // the last value's comma
		}
		n += m
	}
	return n
}

func countBars(pieces []piece) int {
	n := 0
	for _, p := range pieces {
		n += p.j - p.i
	}
	return n
}

// appendNoData appends the legacy empty answer: with the time of the nearest
// earlier bar when there is one (nb >= 0), without it before the first bar.
func appendNoData(dst []byte, nb int64) []byte {
	if nb < 0 {
		return append(dst, `{"s":"no_data"}`+"\n"...)
	}
	dst = append(dst, `{"s":"no_data","nb":`...)
	dst = strconv.AppendInt(dst, nb, 10)
	return append(dst, "}\n"...)
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// so the output is always valid JSON whatever the upstream sent.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}

package stream

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"strconv"
	"time"
)

// scanner is a minimal pull parser over one JSON text. It knows just enough
// JSON to walk the stream's frames: objects, arrays, strings, numbers and the
// three literals, with strict grammar (anything encoding/json rejects, the
// scanner rejects too; FuzzDecodeFrame checks this). It never allocates on
// the common path: strings without escapes are returned as sub-slices of the
// input, numbers are converted in place.
//
// Every method returns false on malformed input and leaves the scanner in an
// unspecified position; callers give up on the frame at the first false.
type scanner struct {
	buf []byte
	pos int

	// generic turns off the fast paths for the layout the service writes
	// (compact keys, 8-byte string scanning, see also fast.go), leaving the
	// byte-by-byte grammar they must agree with. Only tests set it.
	generic bool
}

func (s *scanner) reset(b []byte) { s.buf, s.pos = b, 0 }

// skipSpace moves past JSON whitespace.
func (s *scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it, or 0 at the end.
func (s *scanner) peek() byte {
	if s.pos < len(s.buf) && s.buf[s.pos] > ' ' {
		return s.buf[s.pos] // the common case: compact JSON has no whitespace
	}
	s.skipSpace()
	if s.pos >= len(s.buf) {
		return 0
	}
	return s.buf[s.pos]
}

// consume eats c (after whitespace) if it is next.
func (s *scanner) consume(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.pos++
	return true
}

// atEnd reports whether only whitespace is left.
func (s *scanner) atEnd() bool { return s.peek() == 0 && s.pos == len(s.buf) }

// literal consumes the keyword lit (true, false, null).
func (s *scanner) literal(lit string) bool {
	s.skipSpace()
	if len(s.buf)-s.pos < len(lit) || string(s.buf[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	return true
}

// null consumes a null literal if one is next.
func (s *scanner) null() bool {
	if s.peek() != 'n' {
		return false
	}
	return s.literal("null")
}

// objectStart and nextField walk an object's members:
//
//	if !s.objectStart() { fail }
//	for first := true; ; first = false {
//		key, more, ok := s.nextField(first)
//		if !ok { fail }
//		if !more { break }
//		... consume exactly one value ...
//	}
func (s *scanner) objectStart() bool { return s.consume('{') }

// nextField reads the separator before a member and the member's key and
// colon. more is false when the object ended instead.
func (s *scanner) nextField(first bool) (key []byte, more, ok bool) {
	if key, ok := s.compactKey(first); ok {
		return key, true, true
	}
	if s.consume('}') {
		return nil, false, true
	}
	if !first && !s.consume(',') {
		return nil, false, false
	}
	key, ok = s.str()
	if !ok || !s.consume(':') {
		return nil, false, false
	}
	return key, true, true
}

// compactKey is nextField's fast path for the separator, key and colon as
// the service writes them: `,"key":` (`"key":` for the first member), no
// whitespace, a plain key. Anything else returns false with s untouched, and
// nextField's byte-by-byte path starts over at the same position.
func (s *scanner) compactKey(first bool) ([]byte, bool) {
	if s.generic {
		return nil, false
	}
	b, i := s.buf, s.pos
	if !first {
		if i >= len(b) || b[i] != ',' {
			return nil, false
		}
		i++
	}
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	start := i + 1
	end := skipPlain(b, start)
	if end+1 >= len(b) || b[end] != '"' || b[end+1] != ':' {
		return nil, false
	}
	s.pos = end + 2
	return b[start:end], true
}

// arrayStart and nextElem walk an array the same way as an object.
func (s *scanner) arrayStart() bool { return s.consume('[') }

func (s *scanner) nextElem(first bool) (more, ok bool) {
	if s.consume(']') {
		return false, true
	}
	if !first && !s.consume(',') {
		return false, false
	}
	return true, true
}

// str reads a string and returns its unescaped bytes. Plain ASCII strings are
// returned as a sub-slice of the input (valid until the next frame); strings
// with escapes or non-ASCII bytes are rare on this protocol and are handed to
// encoding/json, which knows every escape and the UTF-8 repair rules.
func (s *scanner) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.pos + 1
	i := start
	if !s.generic {
		i = skipPlain8(s.buf, i)
	}
	for ; i < len(s.buf); i++ {
		c := s.buf[i]
		if plainStringByte[c] {
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			return s.buf[start:i], true
		case c < 0x20:
			return nil, false // control characters must be escaped
		default: // a backslash or non-ASCII
			return s.slowStr()
		}
	}
	return nil, false
}

// plainStringByte marks the bytes a string can hold as they are: printable
// ASCII except the quote and the backslash.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipPlain returns the index of the first byte at or after b[i] that is
// not plain (see plainStringByte), or len(b).
func skipPlain(b []byte, i int) int {
	i = skipPlain8(b, i)
	for i < len(b) && plainStringByte[b[i]] {
		i++
	}
	return i
}

// skipPlain8 skips plain bytes eight at a time: it returns the index of the
// first byte that is not plain, or of the last (len(b)-i)%8 bytes it could
// not load as a word, which the caller checks one by one. Identifiers,
// enum names and timestamps are 12 to 40 bytes: a byte-by-byte loop with a
// table lookup was the decoder's largest cost.
func skipPlain8(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := notPlain(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	return i
}

const (
	lowBits  = 0x0101010101010101 // 0x01 in every byte
	highBits = 0x8080808080808080 // 0x80 in every byte
)

// notPlain sets the high bit of every byte of the little-endian word w that
// is a quote, a backslash, a control character (< 0x20) or non-ASCII. The
// lowest set bit is exact; bits above it may be spurious (a subtraction's
// borrow runs upwards from a flagged byte only), so callers use only the
// lowest.
func notPlain(w uint64) uint64 {
	quote := w ^ (lowBits * '"')
	backslash := w ^ (lowBits * '\\')
	zeroQuote := (quote - lowBits) &^ quote
	zeroBackslash := (backslash - lowBits) &^ backslash
	control := (w - lowBits*0x20) &^ w
	return (zeroQuote | zeroBackslash | control | w) & highBits
}

// slowStr finds the end of the string literal at s.pos and lets
// encoding/json unescape it.
func (s *scanner) slowStr() ([]byte, bool) {
	start := s.pos
	i := start + 1
	for i < len(s.buf) && s.buf[i] != '"' {
		if s.buf[i] == '\\' {
			i++ // the escaped byte cannot end the string
		}
		i++
	}
	if i >= len(s.buf) {
		return nil, false
	}
	var out string
	if err := json.Unmarshal(s.buf[start:i+1], &out); err != nil {
		return nil, false
	}
	s.pos = i + 1
	return []byte(out), true
}

// skipValue consumes one value of any type, checking its grammar.
func (s *scanner) skipValue() bool {
	return s.skipValueDepth(0)
}

// maxNesting bounds recursion on hostile input like [[[[...]]]].
const maxNesting = 64

func (s *scanner) skipValueDepth(depth int) bool {
	if depth > maxNesting {
		return false
	}
	switch s.peek() {
	case '"':
		_, ok := s.str()
		return ok
	case '{':
		s.pos++
		for first := true; ; first = false {
			_, more, ok := s.nextField(first)
			if !ok {
				return false
			}
			if !more {
				return true
			}
			if !s.skipValueDepth(depth + 1) {
				return false
			}
		}
	case '[':
		s.pos++
		for first := true; ; first = false {
			more, ok := s.nextElem(first)
			if !ok {
				return false
			}
			if !more {
				return true
			}
			if !s.skipValueDepth(depth + 1) {
				return false
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, ok := s.number()
		return ok
	}
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// number reads a JSON number (exponent notation included: 1.2E+2) and
// returns it as a finite float64. Overflow to ±Inf is an error.
//
// It checks the grammar and collects the decimal digits in one pass. When
// the digits fit in 53 bits and the decimal exponent is within ±22, one
// IEEE multiplication or division of two exact values gives the correctly
// rounded result (Clinger's fast path, which strconv also uses); that covers
// every price the exchange quotes. Everything else goes to strconv.
func (s *scanner) number() (float64, bool) {
	s.peek() // skips whitespace
	b, i := s.buf, s.pos
	start := i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	var d decimalDigits
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = d.scan(b, i, false)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		if i+1 >= len(b) || b[i+1] < '0' || b[i+1] > '9' {
			return 0, false
		}
		i = d.scan(b, i+1, true)
	}
	explicitExp := false
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		explicitExp = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s.pos = i
	if !explicitExp && d.significant <= 15 && d.exp >= -22 {
		f := float64(d.mant) / pow10[-d.exp]
		if neg {
			f = -f
		}
		return f, true
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// decimalDigits accumulates the digits of a number for the fast path:
// mant * 10^exp is the value, significant counts digits from the first
// non-zero one. Past 19 digits it stops accumulating (mant would overflow)
// and only records that the fast path is out of reach.
type decimalDigits struct {
	mant        uint64
	significant int
	exp         int
}

// scan consumes the run of digits at b[i:] and returns the index after it.
// fraction digits lower the exponent.
func (d *decimalDigits) scan(b []byte, i int, fraction bool) int {
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if fraction {
			d.exp--
		}
		if d.significant >= 19 {
			d.significant = 20
			continue
		}
		if d.mant != 0 || b[i] != '0' {
			d.significant++
		}
		d.mant = d.mant*10 + uint64(b[i]-'0')
	}
	return i
}

// parseTime parses an RFC 3339 timestamp such as 2019-08-07T15:35:00Z or
// 2019-08-07T15:35:00.26326835Z (trailing zeros of the fraction trimmed) or
// with a numeric offset, and returns it in UTC. It accepts exactly what
// time.Parse(time.RFC3339Nano) accepts for these shapes (FuzzParseTime checks
// this) without allocating, as one runs per frame.
func parseTime(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") || b[4] != '-' || b[7] != '-' || b[10] != 'T' ||
		b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	century, ok1 := twoDigits(b, 0)
	yy, ok2 := twoDigits(b, 2)
	month, ok3 := twoDigits(b, 5)
	day, ok4 := twoDigits(b, 8)
	hour, ok5 := twoDigits(b, 11)
	minute, ok6 := twoDigits(b, 14)
	sec, ok7 := twoDigits(b, 17)
	year := century*100 + yy
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 9 {
				nsec = nsec*10 + int(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		for k := n; k <= 9; k++ {
			nsec *= 10 // scale a trimmed fraction up to nanoseconds
		}
		rest = rest[n:]
	}
	offset, ok := parseOffset(rest)
	if !ok {
		return time.Time{}, false
	}
	// The fields are valid: the seconds since 1970 follow directly, without
	// time.Date's normalisation. time.Unix(...).UTC() is the same Time value
	// (same wall, ext and location) as time.Date(..., time.UTC).
	unix := int64(daysFromCivil(year, month, day))*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// daysFromCivil returns the number of days from 1970-01-01 to the given
// valid date of the proleptic Gregorian calendar, as time.Date counts
// them (Howard Hinnant's days_from_civil: years start in March, so the
// leap day is a year's last; 400-year eras of 146097 days).
func daysFromCivil(year, month, day int) int {
	y := year + 400 // one era up: y stays positive down to year 0
	if month <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400                     // year of era, 0-399
	mp := (month + 9) % 12                 // March is 0
	doy := (153*mp+2)/5 + day - 1          // day of the March-based year
	doe := yoe*365 + yoe/4 - yoe/100 + doy // day of era
	const daysTo1970 = 719468              // 0000-03-01 to 1970-01-01
	return (era-1)*146097 + doe - daysTo1970
}

// parseOffset reads the zone suffix: Z or ±hh:mm, in seconds east of UTC.
func parseOffset(b []byte) (int, bool) {
	if len(b) == 1 && b[0] == 'Z' {
		return 0, true
	}
	if len(b) != 6 || (b[0] != '+' && b[0] != '-') || b[3] != ':' {
		return 0, false
	}
	hh, ok1 := twoDigits(b, 1)
	mm, ok2 := twoDigits(b, 4)
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, false
	}
	off := hh*3600 + mm*60
	if b[0] == '-' {
		off = -off
	}
	return off, true
}

// twoDigits parses the two decimal digits at b[i:].
func twoDigits(b []byte, i int) (int, bool) {
	hi, lo := b[i]-'0', b[i+1]-'0' // a non-digit wraps to above 9
	return int(hi)*10 + int(lo), hi <= 9 && lo <= 9
}

// daysIn returns the number of days in the month of the given year.
func daysIn(m time.Month, year int) int {
	if m == time.February && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return daysPerMonth[m]
}

var daysPerMonth = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// int64Value reads a proto int64: a JSON string of digits ("200", the
// gateway's form) or a bare integer. Fractions, exponents, signs other than
// a leading minus, leading zeros and overflow are refused. Digits are read
// in place: no float conversion, no allocation.
func (s *scanner) int64Value() (int64, bool) {
	if s.peek() == '"' {
		start := s.pos + 1
		end := start
		for end < len(s.buf) && s.buf[end] != '"' {
			end++
		}
		if end >= len(s.buf) {
			return 0, false
		}
		n, ok := parseInt64(s.buf[start:end])
		if ok {
			s.pos = end + 1
		}
		return n, ok
	}
	return s.bareInt()
}

// bareInt reads a JSON number that must be an integer.
func (s *scanner) bareInt() (int64, bool) {
	start := s.pos
	end := start
	if end < len(s.buf) && s.buf[end] == '-' {
		end++
	}
	for end < len(s.buf) && s.buf[end] >= '0' && s.buf[end] <= '9' {
		end++
	}
	if end < len(s.buf) {
		switch s.buf[end] {
		case '.', 'e', 'E':
			return 0, false // a fraction or exponent: not an integer
		}
	}
	n, ok := parseInt64(s.buf[start:end])
	if ok {
		s.pos = end
	}
	return n, ok
}

// int32Value reads a proto int32 JSON number (no string form: the gateway
// writes int32 as numbers).
func (s *scanner) int32Value() (int32, bool) {
	if s.peek() == '"' {
		return 0, false
	}
	n, ok := s.bareInt()
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false
	}
	return int32(n), true
}

// parseInt64 parses -?(0|[1-9][0-9]*) without allocating.
func parseInt64(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// boolValue reads true or false.
func (s *scanner) boolValue() (bool, bool) {
	switch s.peek() {
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	}
	return false, false
}

package stream

import (
	"encoding/binary"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// Fast paths for the exact layout the service writes. A 10-level book is
// 20 Quotation objects inside 20 level objects; walking each of them key by
// key was most of the decoder's time. The functions here match that layout
// as fixed text with the numbers in between and return false, with the
// scanner where it was, on any other byte: the generic path then reads the
// same value from the same position. So they must accept only what the
// generic path accepts and produce the same value; anything unusual
// (whitespace, another key order, unknown members, a malformed or negative
// number) simply takes the generic path. scanner.generic turns them off,
// together with scan.go's compactKey and skipPlain8, and
// TestFastVsGenericMutations and FuzzDecodeFastVsGeneric compare the two.

// quotationFast reads {"units":"U","nano":N}.
func (s *scanner) quotationFast() (wire.Quotation, bool) {
	if s.generic {
		return wire.Quotation{}, false
	}
	q, end, ok := quotationAt(s.buf, s.pos)
	if ok {
		s.pos = end
	}
	return q, ok
}

// levelFast reads {"price":{"units":"U","nano":N},"quantity":"Q"}, one
// order book level as the service writes it.
func (s *scanner) levelFast() (tvbridge.PriceLevel, bool) {
	// The 19 bytes up to the units are compared as 16 and 3: the compiler
	// turns a comparison with a constant of up to 16 bytes into word loads.
	const head, head2, qty, tail = `{"price":{"units`, `":"`, `,"quantity":"`, `"}`
	b, i := s.buf, s.pos
	if s.generic || len(b)-i < len(head)+len(head2) || string(b[i:i+len(head)]) != head ||
		string(b[i+len(head):i+len(head)+len(head2)]) != head2 {
		return tvbridge.PriceLevel{}, false
	}
	price, i, ok := quotationBody(b, i+len(head)+len(head2))
	if !ok || len(b)-i < len(qty) || string(b[i:i+len(qty)]) != qty {
		return tvbridge.PriceLevel{}, false
	}
	n, i, ok := uintAt(b, i+len(qty))
	if !ok || len(b)-i < len(tail) || string(b[i:i+len(tail)]) != tail {
		return tvbridge.PriceLevel{}, false
	}
	s.pos = i + len(tail)
	return tvbridge.PriceLevel{Price: float64Of(price), Quantity: float64(n)}, true
}

// quotationAt parses {"units":"U","nano":N} at b[i:] and returns the index
// after it.
func quotationAt(b []byte, i int) (q wire.Quotation, end int, ok bool) {
	const head = `{"units":"`
	if len(b)-i < len(head) || string(b[i:i+len(head)]) != head {
		return q, 0, false
	}
	return quotationBody(b, i+len(head))
}

// quotationBody parses the rest of a Quotation from its units' digits on,
// U","nano":N}. U and N are read by uintAt and nanoAt, so negative amounts
// take the generic path, and two non-negative numbers with nano below 1e9
// always pass wire.Quotation's range and sign rules.
func quotationBody(b []byte, i int) (q wire.Quotation, end int, ok bool) {
	const mid = `","nano":`
	units, i, ok := uintAt(b, i)
	if !ok || len(b)-i < len(mid) || string(b[i:i+len(mid)]) != mid {
		return q, 0, false
	}
	nano, i, ok := nanoAt(b, i+len(mid))
	// The range check comes before the int32 conversion; the generic path
	// refuses a nano beyond int32 and beyond 1e9 alike.
	if !ok || nano >= wire.NanoPerUnit || i >= len(b) || b[i] != '}' {
		return q, 0, false
	}
	return wire.Quotation{Units: units, Nano: int32(nano)}, i + 1, true
}

// float64Of is wire.Quotation.Float64 for a non-negative q, with its
// common case inlined: below 2^53 nanos, one IEEE division of two exact
// values (see there); anything larger goes to Float64 itself.
func float64Of(q wire.Quotation) float64 {
	const maxExact = 1 << 53
	if q.Units < maxExact/wire.NanoPerUnit {
		if n := q.Units*wire.NanoPerUnit + int64(q.Nano); n < maxExact {
			return float64(n) / wire.NanoPerUnit
		}
	}
	return q.Float64()
}

// uintAt parses the digits at b[i:] and returns the value and the index
// after them. It accepts a subset of what parseInt64, the generic path's
// parser, accepts: 1 to 18 digits (so no overflow check is needed), no
// leading zero, no sign. The caller checks the byte that must follow. It is
// small enough to inline: a book level has two such numbers (units and
// quantity, a few digits each).
func uintAt(b []byte, i int) (v int64, end int, ok bool) {
	start := i
	var n uint64
	for ; i < len(b); i++ {
		c := b[i] - '0' // a non-digit wraps to above 9
		if c > 9 {
			break
		}
		n = n*10 + uint64(c)
	}
	digits := i - start
	return int64(n), i, digits > 0 && digits <= 18 && (b[start] != '0' || digits == 1)
}

// nanoAt is uintAt for a nano, usually eight or nine digits: it reads the
// first eight as one word (three multiplications instead of a chain of
// eight multiply-adds) and then at most a ninth. A tenth digit is left
// where it is, and the caller, expecting '}', hands over to the generic
// path.
func nanoAt(b []byte, i int) (v int64, end int, ok bool) {
	if len(b)-i >= 9 && b[i] != '0' {
		if w := binary.LittleEndian.Uint64(b[i:]); allDigits(w) {
			n := eightDigits(w - lowBits*'0')
			i += 8
			if c := b[i] - '0'; c <= 9 {
				n = n*10 + uint64(c)
				i++
			}
			return int64(n), i, true
		}
	}
	return uintAt(b, i)
}

// allDigits reports whether the eight bytes of w are all ASCII digits: a
// byte c is one when neither c+0x46 nor c-0x30 sets its high bit (a carry
// or borrow between bytes only comes from a non-digit).
func allDigits(w uint64) bool {
	return ((w+lowBits*0x46)|(w-lowBits*'0'))&highBits == 0
}

// eightDigits converts eight digit values (0-9, one per byte, the most
// significant in the low byte) to their number: pairs, then quads, then
// the whole, each step one multiplication.
func eightDigits(w uint64) uint64 {
	w = (w * (10<<8 + 1)) >> 8 & 0x00FF00FF00FF00FF
	w = (w * (100<<16 + 1)) >> 16 & 0x0000FFFF0000FFFF
	return (w * (10000<<32 + 1)) >> 32
}

// keyOrder lists an object's members in the order the service writes
// them, each as it follows the previous value: `,"name":`.
type keyOrder []string

func newKeyOrder(names ...string) keyOrder {
	o := make(keyOrder, len(names))
	for i, n := range names {
		o[i] = `,"` + n + `":`
	}
	return o
}

var (
	tradeOrder  = newKeyOrder("figi", "direction", "price", "quantity", "time", "instrumentUid", "tradeSource")
	candleOrder = newKeyOrder("figi", "interval", "open", "high", "low", "close", "volume", "time", "lastTradeTs",
		"instrumentUid", "candleSourceType")
	bookOrder = newKeyOrder("figi", "depth", "isConsistent", "bids", "asks", "time", "limitUp", "limitDown",
		"instrumentUid", "orderBookType")
)

// fieldWalk is nextField with a guess: the member the service writes next
// is compared as a whole (one memequal) before the key is scanned byte by
// byte. Scanning keys was a quarter of a trade's or candle's decoding.
type fieldWalk struct {
	order keyOrder
	next  int // index in order of the member expected next
}

// nextField is scanner.nextField, trying the expected member first.
func (w *fieldWalk) nextField(s *scanner, first bool) (key []byte, more, ok bool) {
	if w.next < len(w.order) && !s.generic {
		k := w.order[w.next]
		nameLen := len(k) - len(`,"":`)
		if first {
			k = k[1:] // no comma before the first member
		}
		b, i := s.buf, s.pos
		if len(b)-i >= len(k) && string(b[i:i+len(k)]) == k {
			s.pos = i + len(k)
			w.next++
			end := s.pos - len(`":`)
			return b[end-nameLen : end], true, true
		}
	}
	key, more, ok = s.nextField(first)
	if more {
		w.resync(key)
	}
	return key, more, ok
}

// resync moves the guess past key's place in the order, so that a member
// left out (proto3 JSON omits zero values) costs one miss, not the rest of
// the object's guesses.
func (w *fieldWalk) resync(key []byte) {
	for j, k := range w.order {
		if len(k) == len(key)+len(`,"":`) && string(key) == k[len(`,"`):len(k)-len(`":`)] {
			w.next = j + 1
			return
		}
	}
}

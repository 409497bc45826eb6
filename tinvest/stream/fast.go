package stream

import (
	"tvbridge"
	"tvbridge/tinvest/wire"
)

// Fast paths for the exact layout the service writes. A 10-level book is
// 20 Quotation objects inside 20 level objects; walking each of them key by
// key was most of the decoder's time. The functions here match that layout
// as fixed text with the numbers in between and return false, with the
// scanner where it was, on any other byte: the generic path then reads the
// same value from the same position. So they must accept only what the
// generic path accepts and produce the same value (FuzzDecodeFastVsGeneric
// checks both with scanner.generic); anything unusual (whitespace, another
// key order, unknown members, a malformed number) simply takes the generic
// path.

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
	const head, qty, tail = `{"price":`, `,"quantity":"`, `"}`
	b, i := s.buf, s.pos
	if s.generic || len(b)-i < len(head) || string(b[i:i+len(head)]) != head {
		return tvbridge.PriceLevel{}, false
	}
	price, i, ok := quotationAt(b, i+len(head))
	if !ok || len(b)-i < len(qty) || string(b[i:i+len(qty)]) != qty {
		return tvbridge.PriceLevel{}, false
	}
	n, i, ok := uintAt(b, i+len(qty))
	if !ok || len(b)-i < len(tail) || string(b[i:i+len(tail)]) != tail {
		return tvbridge.PriceLevel{}, false
	}
	s.pos = i + len(tail)
	return tvbridge.PriceLevel{Price: price.Float64(), Quantity: float64(n)}, true
}

// quotationAt parses {"units":"U","nano":N} at b[i:] and returns the index
// after it. U and N are read by uintAt: negative amounts take the generic
// path. The range and sign rules are wire.Quotation's own Validate.
func quotationAt(b []byte, i int) (q wire.Quotation, end int, ok bool) {
	const head, mid = `{"units":"`, `","nano":`
	if len(b)-i < len(head) || string(b[i:i+len(head)]) != head {
		return q, 0, false
	}
	units, i, ok := uintAt(b, i+len(head))
	if !ok || len(b)-i < len(mid) || string(b[i:i+len(mid)]) != mid {
		return q, 0, false
	}
	nano, i, ok := uintAt(b, i+len(mid))
	// The range check comes before the int32 conversion; the generic path
	// refuses a nano beyond int32 and beyond 1e9 alike.
	if !ok || nano >= wire.NanoPerUnit || i >= len(b) || b[i] != '}' {
		return q, 0, false
	}
	q = wire.Quotation{Units: units, Nano: int32(nano)}
	return q, i + 1, q.Validate() == nil
}

// uintAt parses the digits at b[i:] in one pass and returns the value and
// the index after them. It accepts a subset of what parseInt64, the generic
// path's parser, accepts: 1 to 18 digits (so no overflow check is needed),
// no leading zero, no sign. The caller checks the byte that must follow.
func uintAt(b []byte, i int) (v int64, end int, ok bool) {
	start := i
	var n uint64
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		n = n*10 + uint64(c)
	}
	digits := i - start
	if digits == 0 || digits > 18 || (b[start] == '0' && digits > 1) {
		return 0, i, false
	}
	return int64(n), i, true
}

package tape

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"tvbridge"
)

// AppendLine appends t as one TradingView /streaming message, compact JSON
// followed by "\n", to dst and returns the extended buffer. The id is
// t.Symbol and times are Unix seconds:
//
//	trade  {"f":"t","id":"SBER","p":250.35,"s":10,"t":1700000000}
//	quote  {"f":"q","id":"SBER","t":1700000000,"ap":250.4,"as":12,"bp":250.35,"bs":3}
//	daily  {"f":"d","id":"SBER","o":1,"h":2,"l":0.5,"c":1.5,"v":100,"t":1699920000}
//
// A daily message is stamped with t.Bar.Time, which the bar engine sets to
// 00:00 UTC of the trading day; when it is zero, the UTC day of t.Time.
//
// A tick that has no valid JSON form (an unknown Kind, or a NaN or infinite
// number) appends nothing, so callers detect it by an unchanged length.
func AppendLine(dst []byte, t tvbridge.Tick) []byte {
	switch t.Kind {
	case tvbridge.TickTrade:
		return appendTrade(dst, t)
	case tvbridge.TickQuote:
		return appendQuote(dst, t)
	case tvbridge.TickDaily:
		return appendDaily(dst, t)
	default:
		return dst
	}
}

// AppendHeartbeat appends the /streaming heartbeat {"heartbeat":<unix s>}
// followed by "\n" to dst.
func AppendHeartbeat(dst []byte, now time.Time) []byte {
	dst = append(dst, `{"heartbeat":`...)
	dst = strconv.AppendInt(dst, now.Unix(), 10)
	return append(dst, "}\n"...)
}

func appendTrade(dst []byte, t tvbridge.Tick) []byte {
	if !finite(t.Price, t.Size) {
		return dst
	}
	dst = appendHead(dst, 't', t.Symbol)
	dst = appendNumber(dst, `,"p":`, t.Price)
	dst = appendNumber(dst, `,"s":`, t.Size)
	dst = appendTime(dst, `,"t":`, t.Time.Unix())
	return append(dst, "}\n"...)
}

func appendQuote(dst []byte, t tvbridge.Tick) []byte {
	if !finite(t.Ask, t.AskSize, t.Bid, t.BidSize) {
		return dst
	}
	dst = appendHead(dst, 'q', t.Symbol)
	dst = appendTime(dst, `,"t":`, t.Time.Unix())
	dst = appendNumber(dst, `,"ap":`, t.Ask)
	dst = appendNumber(dst, `,"as":`, t.AskSize)
	dst = appendNumber(dst, `,"bp":`, t.Bid)
	dst = appendNumber(dst, `,"bs":`, t.BidSize)
	return append(dst, "}\n"...)
}

func appendDaily(dst []byte, t tvbridge.Tick) []byte {
	b := t.Bar
	if !finite(b.Open, b.High, b.Low, b.Close, b.Volume) {
		return dst
	}
	day := b.Time.Unix()
	if b.Time.IsZero() {
		day = utcDay(t.Time.Unix())
	}
	dst = appendHead(dst, 'd', t.Symbol)
	dst = appendNumber(dst, `,"o":`, b.Open)
	dst = appendNumber(dst, `,"h":`, b.High)
	dst = appendNumber(dst, `,"l":`, b.Low)
	dst = appendNumber(dst, `,"c":`, b.Close)
	dst = appendNumber(dst, `,"v":`, b.Volume)
	dst = appendTime(dst, `,"t":`, day)
	return append(dst, "}\n"...)
}

// appendHead writes the common prefix {"f":"<kind>","id":"<symbol>".
func appendHead(dst []byte, kind byte, symbol string) []byte {
	dst = append(dst, `{"f":"`...)
	dst = append(dst, kind)
	dst = append(dst, `","id":`...)
	return appendString(dst, symbol)
}

func appendTime(dst []byte, key string, unix int64) []byte {
	dst = append(dst, key...)
	return strconv.AppendInt(dst, unix, 10)
}

// appendNumber writes key and x the way encoding/json does: the shortest
// decimal that parses back to exactly x, plain for ordinary magnitudes and
// in exponent form below 1e-6 or from 1e21 up, so that neither a tiny size
// nor a huge volume turns into hundreds of digits.
func appendNumber(dst []byte, key string, x float64) []byte {
	dst = append(dst, key...)
	abs := math.Abs(x)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, x, format, -1, 64)
	if format == 'e' {
		// Shorten e-07 to e-7, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// utcDay floors Unix seconds to 00:00 UTC of their day.
func utcDay(unix int64) int64 {
	const day = 24 * 60 * 60
	rem := unix % day
	if rem < 0 {
		rem += day
	}
	return unix - rem
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Quotes, backslashes and control
// characters are escaped; each byte of invalid UTF-8 becomes \ufffd, as
// encoding/json does, so the output is always valid JSON.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending plain text
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscape(dst, c)
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendEscape writes the escape of one byte that may not appear as is in a
// JSON string: a quote, a backslash, a control character, or a byte of
// invalid UTF-8.
func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if c >= utf8.RuneSelf {
		return append(dst, `\ufffd`...)
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

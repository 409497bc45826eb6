package sim

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

// The stream's frames are built with appenders rather than encoding/json:
// at tens of thousands of frames a second, reflection-based encoding is the
// largest cost of the emission loop. The shapes are the wire package's; the
// tests decode every frame into those types.

// appendTime appends t as the protocol writes times: UTC, RFC3339 with
// trailing zeros of the nanoseconds trimmed.
func appendTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, wire.TimeLayout)
}

// appendFloat appends a JSON number. NaN and infinities, which JSON cannot
// carry, are written as 0 rather than breaking the frame.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		// Quantities and volumes are whole: integer formatting is faster.
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// priceFormat writes the prices of one instrument quickly. The model's
// prices are the float64 nearest to a decimal on the increment's grid, so
// "round(price * 10^decimals)" with a decimal point inserted is a string
// that parses back to exactly the same float64, at a fraction of the cost of
// strconv's shortest formatting. Any price for which that check fails falls
// back to strconv.
type priceFormat struct {
	decimals int     // decimals of the increment; -1 => always use strconv
	scale    float64 // 10^decimals
}

func newPriceFormat(increment float64) priceFormat {
	scale := 1.0
	for d := 0; d <= 9; d++ {
		if x := increment * scale; x >= 1 && math.Abs(x-math.Round(x)) < 1e-6 {
			return priceFormat{decimals: d, scale: scale}
		}
		scale *= 10
	}
	return priceFormat{decimals: -1}
}

func (pf priceFormat) append(b []byte, price float64) []byte {
	if pf.decimals > 0 {
		n := math.Round(price * pf.scale)
		// n/scale is correctly rounded, so equality means the decimal
		// n·10^-decimals parses back to price.
		if math.Abs(n) < 1<<53 && n/pf.scale == price {
			return appendDecimal(b, int64(n), pf.decimals)
		}
	}
	return appendFloat(b, price)
}

// appendDecimal appends n·10^-decimals without trailing fractional zeros.
func appendDecimal(b []byte, n int64, decimals int) []byte {
	if n == 0 {
		return append(b, '0')
	}
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	var buf [20]byte
	digits := strconv.AppendInt(buf[:0], n, 10)
	for decimals > 0 && len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		decimals--
	}
	if decimals == 0 {
		return append(b, digits...)
	}
	if len(digits) <= decimals {
		b = append(b, '0', '.')
		for i := len(digits); i < decimals; i++ {
			b = append(b, '0')
		}
		return append(b, digits...)
	}
	b = append(b, digits[:len(digits)-decimals]...)
	b = append(b, '.')
	return append(b, digits[len(digits)-decimals:]...)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	if !needsEscape(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // cannot fail for a string
	return append(b, q...)
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// appendEnvelope appends `{"event":"<event>","time":"<ts>","payload":`;
// ts is a pre-formatted time, so a tick formats its time once.
func appendEnvelope(b []byte, event string, ts []byte) []byte {
	b = append(b, `{"event":"`...)
	b = append(b, event...)
	b = append(b, `","time":"`...)
	b = append(b, ts...)
	return append(b, `","payload":`...)
}

// candleFrame encodes a candle event. start is the candle's pre-formatted
// interval start.
func candleFrame(ts []byte, c *tvbridge.Candle, start string, pf priceFormat) []byte {
	b := make([]byte, 0, 192+len(c.FIGI))
	b = appendEnvelope(b, wire.EventCandle, ts)
	b = append(b, `{"o":`...)
	b = pf.append(b, c.Open)
	b = append(b, `,"c":`...)
	b = pf.append(b, c.Close)
	b = append(b, `,"h":`...)
	b = pf.append(b, c.High)
	b = append(b, `,"l":`...)
	b = pf.append(b, c.Low)
	b = append(b, `,"v":`...)
	b = appendFloat(b, c.Volume)
	b = append(b, `,"time":"`...)
	b = append(b, start...)
	b = append(b, `","interval":`...)
	b = appendString(b, string(c.Interval))
	b = append(b, `,"figi":`...)
	b = appendString(b, c.FIGI)
	return append(b, "}}"...)
}

// bookFrame encodes an orderbook event with [price, quantity] pairs.
func bookFrame(ts []byte, ob *tvbridge.OrderBook, depth int, pf priceFormat) []byte {
	b := make([]byte, 0, 128+len(ob.FIGI)+24*(len(ob.Bids)+len(ob.Asks)))
	b = appendEnvelope(b, wire.EventOrderBook, ts)
	b = append(b, `{"figi":`...)
	b = appendString(b, ob.FIGI)
	b = append(b, `,"depth":`...)
	b = strconv.AppendInt(b, int64(depth), 10)
	b = append(b, `,"bids":`...)
	b = appendLevels(b, ob.Bids, pf)
	b = append(b, `,"asks":`...)
	b = appendLevels(b, ob.Asks, pf)
	return append(b, "}}"...)
}

func appendLevels(b []byte, levels []tvbridge.PriceLevel, pf priceFormat) []byte {
	b = append(b, '[')
	for i, l := range levels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = pf.append(b, l.Price)
		b = append(b, ',')
		b = appendFloat(b, l.Quantity)
		b = append(b, ']')
	}
	return append(b, ']')
}

// infoFrame encodes an instrument_info event. Accrued interest is sent for
// bonds only, limits only when the model sets them, like the real service.
func infoFrame(ts []byte, info *tvbridge.InstrumentInfo, bond bool) []byte {
	b := make([]byte, 0, 192+len(info.FIGI))
	b = appendEnvelope(b, wire.EventInstrumentInfo, ts)
	b = append(b, `{"figi":`...)
	b = appendString(b, info.FIGI)
	b = append(b, `,"trade_status":`...)
	b = appendString(b, string(info.TradeStatus))
	b = append(b, `,"min_price_increment":`...)
	b = appendFloat(b, info.MinPriceIncrement)
	b = append(b, `,"lot":`...)
	b = appendFloat(b, info.Lot)
	if bond {
		b = append(b, `,"accrued_interest":`...)
		b = appendFloat(b, info.AccruedInterest)
	}
	if info.LimitUp != 0 {
		b = append(b, `,"limit_up":`...)
		b = appendFloat(b, info.LimitUp)
	}
	if info.LimitDown != 0 {
		b = append(b, `,"limit_down":`...)
		b = appendFloat(b, info.LimitDown)
	}
	return append(b, "}}"...)
}

// errorFrame encodes an error event; requestID is echoed when not empty.
func errorFrame(ts []byte, msg, requestID string) []byte {
	b := make([]byte, 0, 96+len(msg)+len(requestID))
	b = appendEnvelope(b, wire.EventError, ts)
	b = append(b, `{"error":`...)
	b = appendString(b, msg)
	if requestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendString(b, requestID)
	}
	return append(b, '}', '}')
}

package tinkoff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

// decodeResponse interprets one REST response: status code and whole body.
// On success it decodes the envelope's payload into out (nil: ignore the
// payload) and returns the trackingId. Error statuses and error envelopes
// become *APIError; a success status with a body that is not a valid envelope
// is a plain error that names the HTTP status. It must never panic, whatever
// the body (FuzzDecodeResponse).
func decodeResponse(status int, body []byte, out any) (trackingID string, err error) {
	if status < 200 || status > 299 {
		return errorResponse(status, body)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "", fmt.Errorf("HTTP %d: empty body", status)
	}
	var env wire.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return "", fmt.Errorf("HTTP %d: decode envelope: %w (body %s)", status, err, snippet(body))
	}
	if !strings.EqualFold(env.Status, "ok") {
		apiErr := envelopeError(status, env)
		if apiErr.Message == "" && !strings.EqualFold(env.Status, "error") {
			apiErr.Message = fmt.Sprintf("unexpected envelope status %q", env.Status)
		}
		return env.TrackingID, apiErr
	}
	if out == nil || isNull(env.Payload) {
		return env.TrackingID, nil
	}
	if err := json.Unmarshal(env.Payload, out); err != nil {
		return env.TrackingID, fmt.Errorf("HTTP %d: decode payload (trackingId %s): %w", status, env.TrackingID, err)
	}
	return env.TrackingID, nil
}

// errorResponse builds the *APIError for a non-2xx status. 429s often have an
// empty or non-JSON body and 5xx gateways answer with HTML: the status is
// kept whatever the body, and the body is described rather than parsed.
func errorResponse(status int, body []byte) (string, error) {
	var env wire.Envelope
	if err := json.Unmarshal(body, &env); err == nil && (env.Status != "" || env.TrackingID != "" || len(env.Payload) > 0) {
		apiErr := envelopeError(status, env)
		return env.TrackingID, apiErr
	}
	apiErr := &APIError{HTTPStatus: status, Message: "empty body"}
	if len(bytes.TrimSpace(body)) > 0 {
		apiErr.Message = "unexpected body: " + snippet(body)
	}
	return "", apiErr
}

// envelopeError reads code and message from an error envelope's payload. A
// payload that is not an object leaves them empty rather than failing: the
// status code alone still says what happened.
func envelopeError(status int, env wire.Envelope) *APIError {
	apiErr := &APIError{HTTPStatus: status, TrackingID: env.TrackingID}
	var body wire.ErrorBody
	if err := json.Unmarshal(env.Payload, &body); err == nil {
		apiErr.Code = body.Code
		apiErr.Message = body.Message
	}
	return apiErr
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// snippet renders the start of a body for an error message: at most 200
// bytes, valid UTF-8, control characters (including newlines) as spaces.
func snippet(body []byte) string {
	const max = 200
	cut := body
	if len(cut) > max {
		cut = cut[:max]
	}
	s := strings.ToValidUTF8(string(cut), "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(body) > max {
		// The cut may have split a rune; ToValidUTF8 replaced it above.
		s += "..."
	}
	return fmt.Sprintf("%q", s)
}

// toInt rounds a count decoded as float64; NaN and out-of-range values
// cannot come from JSON, but are clamped to 0 rather than trusted.
func toInt(f float64) int {
	if math.IsNaN(f) || math.Abs(f) > math.MaxInt32 {
		return 0
	}
	return int(math.Round(f))
}

// instrument converts a catalogue entry, without venue fields (see venues.apply).
func instrumentFrom(r wire.MarketInstrument) tvbridge.Instrument {
	return tvbridge.Instrument{
		FIGI:              r.FIGI,
		Ticker:            r.Ticker,
		ISIN:              r.ISIN,
		Name:              r.Name,
		Type:              tvbridge.InstrumentType(r.Type),
		Currency:          strings.ToUpper(r.Currency),
		Lot:               toInt(r.Lot),
		MinPriceIncrement: r.MinPriceIncrement,
		MinQuantity:       toInt(r.MinQuantity),
		Exchange:          strings.ToUpper(strings.TrimSpace(r.Exchange)),
		Timezone:          strings.TrimSpace(r.Timezone),
		Session:           strings.TrimSpace(r.Session),
	}
}

// candle converts a REST candle. Time is required: a candle we cannot place
// in time is an error, not something to drop silently (it would be a hole).
func candleFrom(r wire.Candle, figi string, interval tvbridge.CandleInterval) (tvbridge.Candle, error) {
	t, err := time.Parse(time.RFC3339Nano, r.Time)
	if err != nil {
		return tvbridge.Candle{}, fmt.Errorf("candle time %q: %w", r.Time, err)
	}
	return tvbridge.Candle{
		FIGI: figi, Interval: interval, Time: t.UTC(),
		Open: r.O, High: r.H, Low: r.L, Close: r.C, Volume: r.V,
	}, nil
}

func bookFrom(r wire.Orderbook, figi string, depth int) tvbridge.OrderBook {
	levels := func(in []wire.OrderResponse) []tvbridge.PriceLevel {
		out := make([]tvbridge.PriceLevel, len(in))
		for i, l := range in {
			out[i] = tvbridge.PriceLevel{Price: l.Price, Quantity: l.Quantity}
		}
		return out
	}
	if r.FIGI != "" {
		figi = r.FIGI
	}
	if d := toInt(r.Depth); d > 0 {
		depth = d
	}
	return tvbridge.OrderBook{
		FIGI:              figi,
		Depth:             depth,
		Bids:              levels(r.Bids),
		Asks:              levels(r.Asks),
		TradeStatus:       ParseTradeStatus(r.TradeStatus),
		MinPriceIncrement: r.MinPriceIncrement,
		LastPrice:         deref(r.LastPrice),
		ClosePrice:        deref(r.ClosePrice),
	}
}

// knownStatuses is every trade status tvbridge defines.
var knownStatuses = map[tvbridge.TradeStatus]bool{
	tvbridge.StatusBreakInTrading: true, tvbridge.StatusNormalTrading: true,
	tvbridge.StatusNotAvailableForTrading: true, tvbridge.StatusClosingAuction: true,
	tvbridge.StatusClosingPeriod: true, tvbridge.StatusDiscreteAuction: true,
	tvbridge.StatusOpeningPeriod: true, tvbridge.StatusTradingAtClosingAuction: true,
	tvbridge.StatusDealerNormalTrading: true, tvbridge.StatusDealerBreakInTrading: true,
	tvbridge.StatusDealerNotAvailable: true, tvbridge.StatusOpeningAuction: true,
	tvbridge.StatusSessionAssigned: true, tvbridge.StatusSessionClose: true,
	tvbridge.StatusSessionOpen: true,
}

// ParseTradeStatus maps a trade status in either spelling, REST's CamelCase
// ("NormalTrading") or the stream's snake_case ("normal_trading"), to the
// domain constant. Unknown values give tvbridge.StatusUnknown, which is not
// Trading(): an unrecognised status must never look like permission to trade.
func ParseTradeStatus(s string) tvbridge.TradeStatus {
	st := tvbridge.TradeStatus(camelToSnake(strings.TrimSpace(s)))
	if knownStatuses[st] {
		return st
	}
	return tvbridge.StatusUnknown
}

// camelToSnake turns "NotAvailableForTrading" into "not_available_for_trading"
// and leaves snake_case unchanged.
func camelToSnake(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	prev := '_'
	for _, r := range s {
		if unicode.IsUpper(r) {
			if prev != '_' {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// deref reads an optional number; absent is 0.
func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

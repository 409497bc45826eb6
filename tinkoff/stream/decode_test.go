package stream

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

// Captured-style frames, one per quirk of docs section 1.2, 1.3, 1.6, 1.10.
// They double as seeds of FuzzDecodeFrame.
const (
	frameCandle = `{"event":"candle","time":"2019-08-07T15:35:00.029721253Z","payload":{"o":64.0575,"c":64.0575,"h":64.0575,"l":64.0575,"v":156,"time":"2019-08-07T15:35:00Z","interval":"5min","figi":"BBG0013HGFT4"}}`
	// 2019 capture: no envelope time.
	frameCandleNoTime = `{"event":"candle","payload":{"o":64.0575,"c":64.1,"h":64.2,"l":64,"v":156,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"BBG0013HGFT4"}}`
	// Trailing zeros of the nanoseconds trimmed (dumper capture).
	frameTrimmedNanos = `{"event":"orderbook","time":"2020-05-12T12:39:25.26326835Z","payload":{"figi":"BBG000B9XRY4","depth":2,"bids":[[311.5,12],[311.46,3]],"asks":[[311.6,1],[311.65,40]]}}`
	// Exponent notation, as REST was seen to send it.
	frameExponent = `{"event":"candle","time":"2021-01-04T10:00:00Z","payload":{"o":1.2E+2,"c":1.25e2,"h":130,"l":1.1E2,"v":1e3,"time":"2021-01-04T10:00:00Z","interval":"hour","figi":"BBG004730N88"}}`
	// Unknown fields at both levels, with nested values (C# SDK fixture style).
	frameExtraFields = `{"event":"candle","new_field":{"a":[1,{"b":null}],"c":"x"},"time":"2019-08-07T15:35:00.5Z","payload":{"o":1,"c":2,"h":3,"l":0.5,"v":10,"time":"2019-08-07T15:35:00Z","interval":"day","figi":"BBG0013HGFT4","extra":[true,false]},"trailer":1}`
	// Volume and lot as floats rather than integers.
	frameFloatVolume = `{"event":"candle","time":"2019-08-07T15:35:00Z","payload":{"o":10,"c":10,"h":10,"l":10,"v":156.0,"time":"2019-08-07T15:35:00Z","interval":"5min","figi":"F"}}`
	// Depth 20 with a single bid and no asks (issue #578).
	frameShortBook = `{"event":"orderbook","time":"2021-03-01T07:00:00.1Z","payload":{"figi":"BBG000B9XRY4","depth":20,"bids":[[120.5,3]],"asks":[]}}`
	frameInfo      = `{"event":"instrument_info","time":"2019-08-07T15:35:00Z","payload":{"figi":"BBG0013HGFT4","trade_status":"normal_trading","min_price_increment":0.0025,"lot":1000,"accrued_interest":1.5,"limit_up":70.1,"limit_down":60.2}}`
	// REST spelling of the status, lot as a float, optional fields absent.
	frameInfoCamel    = `{"event":"instrument_info","payload":{"figi":"BBG0013HGFT4","trade_status":"NotAvailableForTrading","min_price_increment":0.01,"lot":10.0}}`
	frameErrorWithID  = `{"event":"error","time":"2019-08-07T15:35:00Z","payload":{"error":"Subscription instrument_info:subscribe. FIGI NOOOOOOO not found","request_id":"42"}}`
	frameErrorNoID    = `{"event":"error","payload":{"error":"Subscription orderbook:unsubscribe. Invalid depth 0. Should be 0 < x < 20"}}`
	framePayloadFirst = `{"payload":{"figi":"BBG0013HGFT4","trade_status":"break_in_trading","min_price_increment":0.01,"lot":1},"time":"2019-08-07T15:35:00Z","event":"instrument_info"}`
	frameUnknownEvent = `{"event":"trade","time":"2019-08-07T15:35:00Z","payload":{"figi":"X","price":1}}`
)

func mustUTC(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func decodeString(t *testing.T, s string) frame {
	t.Helper()
	var f frame
	if err := newDecoder().decode([]byte(s), &f); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return f
}

func TestDecodeCandleWithEnvelopeTime(t *testing.T) {
	f := decodeString(t, frameCandle)
	want := tvbridge.Candle{FIGI: "BBG0013HGFT4", Interval: tvbridge.Interval5Min,
		Time: mustUTC(t, "2019-08-07T15:35:00Z"), Open: 64.0575, High: 64.0575, Low: 64.0575, Close: 64.0575, Volume: 156}
	if f.kind != kindCandle || !sameCandle(f.candle, want) {
		t.Fatalf("got kind %d %+v, want %+v", f.kind, f.candle, want)
	}
	if st := mustUTC(t, "2019-08-07T15:35:00.029721253Z"); !f.serverTime.Equal(st) {
		t.Fatalf("server time %v, want %v", f.serverTime, st)
	}
}

func TestDecodeWithoutEnvelopeTime(t *testing.T) {
	for _, frame := range []string{frameCandleNoTime, frameInfoCamel, frameErrorNoID,
		`{"event":"candle","time":null,"payload":{"o":1,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"F"}}`,
		`{"event":"candle","time":"","payload":{"o":1,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"F"}}`,
	} {
		if f := decodeString(t, frame); !f.serverTime.IsZero() {
			t.Errorf("%s: server time %v, want zero", frame, f.serverTime)
		}
	}
}

func TestDecodeTrimmedNanosAndShortBooks(t *testing.T) {
	f := decodeString(t, frameTrimmedNanos)
	if want := time.Date(2020, 5, 12, 12, 39, 25, 263268350, time.UTC); !f.serverTime.Equal(want) {
		t.Fatalf("server time %v, want %v", f.serverTime, want)
	}
	if f.book.FIGI != "BBG000B9XRY4" || f.book.Depth != 2 || len(f.book.Bids) != 2 || len(f.book.Asks) != 2 ||
		f.book.Bids[1] != (tvbridge.PriceLevel{Price: 311.46, Quantity: 3}) ||
		f.book.Asks[0] != (tvbridge.PriceLevel{Price: 311.6, Quantity: 1}) {
		t.Fatalf("book %+v", f.book)
	}

	f = decodeString(t, frameShortBook)
	if f.book.Depth != 20 || len(f.book.Bids) != 1 || len(f.book.Asks) != 0 || f.book.Bids[0].Price != 120.5 {
		t.Fatalf("short book %+v", f.book)
	}
}

func TestDecodeExponentNotationAndFloatIntegers(t *testing.T) {
	f := decodeString(t, frameExponent)
	if c := f.candle; c.Open != 120 || c.Close != 125 || c.High != 130 || c.Low != 110 || c.Volume != 1000 {
		t.Fatalf("candle %+v", c)
	}
	if f := decodeString(t, frameFloatVolume); f.candle.Volume != 156 {
		t.Fatalf("volume %v, want 156", f.candle.Volume)
	}
	if f := decodeString(t, frameInfoCamel); f.info.Lot != 10 {
		t.Fatalf("lot %v, want 10", f.info.Lot)
	}
}

func TestDecodeIgnoresUnknownFields(t *testing.T) {
	f := decodeString(t, frameExtraFields)
	if f.kind != kindCandle || f.candle.Interval != tvbridge.IntervalDay || f.candle.Close != 2 {
		t.Fatalf("got %+v", f.candle)
	}
}

func TestDecodeInstrumentInfo(t *testing.T) {
	f := decodeString(t, frameInfo)
	want := tvbridge.InstrumentInfo{FIGI: "BBG0013HGFT4", TradeStatus: tvbridge.StatusNormalTrading,
		MinPriceIncrement: 0.0025, Lot: 1000, AccruedInterest: 1.5, LimitUp: 70.1, LimitDown: 60.2}
	if f.kind != kindInstrumentInfo || f.info != want {
		t.Fatalf("got %+v, want %+v", f.info, want)
	}
	if f := decodeString(t, frameInfoCamel); f.info.TradeStatus != tvbridge.StatusNotAvailableForTrading {
		t.Fatalf("CamelCase status decoded as %q", f.info.TradeStatus)
	}
	if f := decodeString(t, framePayloadFirst); f.kind != kindInstrumentInfo || f.info.TradeStatus != tvbridge.StatusBreakInTrading {
		t.Fatalf("payload-first frame: %+v", f)
	}
	unknown := strings.Replace(frameInfo, "normal_trading", "dark_pool_auction", 1)
	if f := decodeString(t, unknown); f.info.TradeStatus != tvbridge.StatusUnknown || f.info.TradeStatus.Trading() {
		t.Fatalf("unknown status decoded as %q", f.info.TradeStatus)
	}
}

func TestParseTradeStatusBothSpellings(t *testing.T) {
	for in, want := range map[string]tvbridge.TradeStatus{
		"normal_trading":                   tvbridge.StatusNormalTrading,
		"NormalTrading":                    tvbridge.StatusNormalTrading,
		"NotAvailableForTrading":           tvbridge.StatusNotAvailableForTrading,
		"break_in_trading":                 tvbridge.StatusBreakInTrading,
		"BreakInTrading":                   tvbridge.StatusBreakInTrading,
		"TradingAtClosingAuctionPrice":     tvbridge.StatusTradingAtClosingAuction,
		"dealer_not_available_for_trading": tvbridge.StatusDealerNotAvailable,
		"":                                 tvbridge.StatusUnknown,
		"NORMAL_TRADING":                   tvbridge.StatusUnknown,
	} {
		if got := parseTradeStatus([]byte(in)); got != want {
			t.Errorf("parseTradeStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeErrorEvents(t *testing.T) {
	f := decodeString(t, frameErrorWithID)
	if f.kind != kindError || f.requestID != "42" || !strings.Contains(f.errText, "NOOOOOOO not found") {
		t.Fatalf("got %+v", f)
	}
	f = decodeString(t, frameErrorNoID)
	if f.kind != kindError || f.requestID != "" || !strings.HasPrefix(f.errText, "Subscription orderbook:unsubscribe.") {
		t.Fatalf("got %+v", f)
	}
	f = decodeString(t, `{"event":"error","payload":{"error":"x","request_id":17}}`)
	if f.requestID != "17" {
		t.Fatalf("numeric request id decoded as %q", f.requestID)
	}
}

func TestDecodeEscapedStrings(t *testing.T) {
	f := decodeString(t, `{"event":"candle","payload":{"o":1,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"BBG\u0030\/X\"Y"}}`)
	if f.candle.FIGI != `BBG0/X"Y` {
		t.Fatalf("figi %q", f.candle.FIGI)
	}
}

func TestDecodeUnknownEvent(t *testing.T) {
	f := decodeString(t, frameUnknownEvent)
	if f.kind != kindUnknown || f.name != "trade" {
		t.Fatalf("got kind %d name %q", f.kind, f.name)
	}
}

func TestDecodeRejectsBadFrames(t *testing.T) {
	candle := func(payload string) string { return `{"event":"candle","payload":` + payload + `}` }
	for name, in := range map[string]string{
		"empty":               "",
		"spaces":              "  \n",
		"html":                "<html>502 Bad Gateway</html>",
		"null":                "null",
		"array":               "[]",
		"string":              `"candle"`,
		"truncated":           frameCandle[:len(frameCandle)/2],
		"truncated at end":    frameCandle[:len(frameCandle)-1],
		"trailing garbage":    frameCandle + "x",
		"two objects":         frameCandle + frameCandle,
		"no event":            `{"payload":{}}`,
		"event not string":    `{"event":1,"payload":{}}`,
		"repeated event":      `{"event":"candle","event":"orderbook","payload":{}}`,
		"repeated payload":    strings.Replace(frameInfo, `"payload":`, `"payload":{},"payload":`, 1),
		"no payload":          `{"event":"candle"}`,
		"null payload":        `{"event":"orderbook","payload":null}`,
		"missing o":           candle(`{"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"F"}`),
		"bad interval":        candle(`{"o":1,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"7min","figi":"F"}`),
		"bad candle time":     candle(`{"o":1,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07 15:35:00","interval":"1min","figi":"F"}`),
		"empty figi":          candle(`{"o":1,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":""}`),
		"negative volume":     candle(`{"o":1,"c":1,"h":1,"l":1,"v":-1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"F"}`),
		"NaN":                 candle(`{"o":NaN,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"F"}`),
		"overflow":            candle(`{"o":1e999,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"F"}`),
		"leading zero":        candle(`{"o":01,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"F"}`),
		"quoted number":       candle(`{"o":"1","c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"F"}`),
		"book depth 0":        `{"event":"orderbook","payload":{"figi":"F","depth":0,"bids":[],"asks":[]}}`,
		"book depth fraction": `{"event":"orderbook","payload":{"figi":"F","depth":2.5,"bids":[],"asks":[]}}`,
		"book level short":    `{"event":"orderbook","payload":{"figi":"F","depth":2,"bids":[[1]],"asks":[]}}`,
		"book level object":   `{"event":"orderbook","payload":{"figi":"F","depth":2,"bids":[{"price":1,"quantity":2}],"asks":[]}}`,
		"book negative qty":   `{"event":"orderbook","payload":{"figi":"F","depth":2,"bids":[[1,-2]],"asks":[]}}`,
		"info no status":      `{"event":"instrument_info","payload":{"figi":"F","lot":1}}`,
		"raw control char":    "{\"event\":\"candle\x01\",\"payload\":{}}",
		"deep nesting":        `{"event":"x","payload":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		var f frame
		err := newDecoder().decode([]byte(in), &f)
		if err == nil {
			t.Errorf("%s: decoded %q without error: %+v", name, in, f)
		} else if !errors.Is(err, errBadFrame) {
			t.Errorf("%s: error %v does not wrap errBadFrame", name, err)
		}
	}
}

func TestDecodeNullOptionalFields(t *testing.T) {
	f := decodeString(t, `{"event":"instrument_info","payload":{"figi":"F","trade_status":"normal_trading","min_price_increment":0.01,"lot":1,"limit_up":null,"accrued_interest":null}}`)
	if f.info.LimitUp != 0 || f.info.AccruedInterest != 0 {
		t.Fatalf("got %+v", f.info)
	}
	f = decodeString(t, `{"event":"orderbook","payload":{"figi":"F","depth":5,"bids":null,"asks":[[1,2,3]]}}`)
	if len(f.book.Bids) != 0 || len(f.book.Asks) != 1 || f.book.Asks[0] != (tvbridge.PriceLevel{Price: 1, Quantity: 2}) {
		t.Fatalf("got %+v", f.book)
	}
}

func TestDecoderReusesFIGIStrings(t *testing.T) {
	d := newDecoder()
	var f frame
	data := []byte(frameCandle)
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.decode(data, &f); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("decoding a known-shape candle allocated %.1f times per frame, want 0", allocs)
	}
}

func TestNumberFastPathMatchesStrconv(t *testing.T) {
	for _, in := range []string{"0", "-0", "1", "64.0575", "0.0025", "123456789012345", "1234567890123456789",
		"0.1", "0.30000000000000004", "1e3", "1.2E+2", "9007199254740993", "0.000000000000000000001",
		"311.46", "-12.5", "1.7976931348623157e308", "5e-324"} {
		var s scanner
		s.reset([]byte(in))
		got, ok := s.number()
		want := mustParseFloat(t, in)
		if !ok || math.Float64bits(got) != math.Float64bits(want) || s.pos != len(in) {
			t.Errorf("number(%q) = %v, %v (pos %d), want %v", in, got, ok, s.pos, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, in := range []string{"2019-08-07T15:35:00Z", "2019-08-07T15:35:00.029721253Z",
		"2020-05-12T12:39:25.26326835Z", "2019-08-07T18:35:00+03:00", "2019-08-07T15:35:00.1234567891Z",
		"2020-02-29T00:00:00-00:30"} {
		got, ok := parseTime([]byte(in))
		if want := mustUTC(t, in); !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "2019-08-07", "2019-08-07T15:35:00", "2019-02-29T00:00:00Z",
		"2019-08-07T24:00:00Z", "2019-08-07T15:35:60Z", "2019-08-07T15:35:00.Z", "2019-08-07 15:35:00Z",
		"2019-08-07T15:35:00+0300", "2019-13-07T15:35:00Z", "2019-08-07T15:35:00+24:00"} {
		if got, ok := parseTime([]byte(in)); ok {
			t.Errorf("parseTime(%q) = %v, want failure", in, got)
		}
	}
}

package stream

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

func mustParseFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var frameSeeds = []string{
	frameCandle, frameCandleNoTime, frameTrimmedNanos, frameExponent, frameExtraFields, frameFloatVolume,
	frameShortBook, frameInfo, frameInfoCamel, frameErrorWithID, frameErrorNoID, framePayloadFirst,
	frameUnknownEvent, "", "null", "<html>", "{", `{"event":"candle","payload":{"o":1e999}}`,
	`{"event":"orderbook","payload":{"figi":"F","depth":5,"bids":null,"asks":[[1,2,3]]}}`,
	`{"event":"error","payload":{"error":"x","request_id":17}}`,
	`{"event":"candle","payload":{"o":1,"c":1,"h":1,"l":1,"v":1,"time":"2019-08-07T15:35:00Z","interval":"1min","figi":"BBG\u0030\/X"}}`,
}

// FuzzDecodeFrame feeds arbitrary bytes to the frame decoder. It must never
// panic; what it accepts must be valid JSON, carry sane values (finite
// numbers, non-negative volumes and quantities, a FIGI), and agree with
// encoding/json on every field it reports.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range frameSeeds {
		f.Add([]byte(s))
	}
	d := newDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr frame
		if err := d.decode(data, &fr); err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		checkSane(t, &fr)
		checkAgainstEncodingJSON(t, data, &fr)
	})
}

func checkSane(t *testing.T, fr *frame) {
	t.Helper()
	finite := func(name string, vs ...float64) {
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s is %v", name, v)
			}
		}
	}
	switch fr.kind {
	case kindCandle:
		c := fr.candle
		finite("candle", c.Open, c.High, c.Low, c.Close, c.Volume)
		if c.FIGI == "" || !c.Interval.Valid() || c.Volume < 0 || c.Time.Location() != time.UTC {
			t.Fatalf("insane candle %+v", c)
		}
	case kindOrderBook:
		b := fr.book
		if b.FIGI == "" || b.Depth < 1 || b.Depth > maxDepth {
			t.Fatalf("insane book %+v", b)
		}
		for _, l := range append(append([]tvbridge.PriceLevel{}, b.Bids...), b.Asks...) {
			finite("level", l.Price, l.Quantity)
			if l.Quantity < 0 {
				t.Fatalf("negative quantity in %+v", b)
			}
		}
	case kindInstrumentInfo:
		in := fr.info
		finite("info", in.MinPriceIncrement, in.Lot, in.AccruedInterest, in.LimitUp, in.LimitDown)
		if in.FIGI == "" || in.Lot < 0 || in.MinPriceIncrement < 0 {
			t.Fatalf("insane info %+v", in)
		}
	}
}

// checkAgainstEncodingJSON decodes the frame again the slow, obviously
// correct way (maps, json.Number) and compares. Maps keep key case exactly,
// like the scanner, and both let the last of repeated keys win.
func checkAgainstEncodingJSON(t *testing.T, data []byte, fr *frame) {
	t.Helper()
	var env map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("encoding/json rejects an accepted frame: %v", err)
	}
	if ts, ok := env["time"].(string); ok {
		if ref, err := time.Parse(time.RFC3339Nano, ts); err == nil && !fr.serverTime.IsZero() && !ref.Equal(fr.serverTime) {
			t.Fatalf("server time %v, encoding/json+time.Parse say %v", fr.serverTime, ref)
		}
	}
	payload, _ := env["payload"].(map[string]any)
	num := func(key string) float64 {
		n, ok := payload[key].(json.Number)
		if !ok {
			return 0
		}
		v, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return v
	}
	str := func(key string) string { s, _ := payload[key].(string); return s }
	switch fr.kind {
	case kindCandle:
		c := fr.candle
		ref, err := time.Parse(time.RFC3339Nano, str("time"))
		if err != nil || !ref.Equal(c.Time) || c.FIGI != str("figi") || string(c.Interval) != str("interval") ||
			c.Open != num("o") || c.Close != num("c") || c.High != num("h") || c.Low != num("l") || c.Volume != num("v") {
			t.Fatalf("candle %+v disagrees with encoding/json %v", c, payload)
		}
	case kindOrderBook:
		b := fr.book
		if b.FIGI != str("figi") || float64(b.Depth) != num("depth") {
			t.Fatalf("book %+v disagrees with encoding/json %v", b, payload)
		}
		checkLevels(t, b.Bids, payload["bids"])
		checkLevels(t, b.Asks, payload["asks"])
	case kindInstrumentInfo:
		in := fr.info
		if in.FIGI != str("figi") || in.TradeStatus != parseTradeStatus([]byte(str("trade_status"))) ||
			in.MinPriceIncrement != num("min_price_increment") || in.Lot != num("lot") ||
			in.AccruedInterest != num("accrued_interest") || in.LimitUp != num("limit_up") || in.LimitDown != num("limit_down") {
			t.Fatalf("info %+v disagrees with encoding/json %v", in, payload)
		}
	case kindError:
		if fr.errText != str("error") {
			t.Fatalf("error text %q, encoding/json says %q", fr.errText, str("error"))
		}
	}
}

func checkLevels(t *testing.T, got []tvbridge.PriceLevel, raw any) {
	t.Helper()
	list, _ := raw.([]any)
	if len(list) != len(got) {
		t.Fatalf("%d levels, encoding/json sees %d", len(got), len(list))
	}
	for i, l := range list {
		pair := l.([]any)
		p, _ := strconv.ParseFloat(string(pair[0].(json.Number)), 64)
		q, _ := strconv.ParseFloat(string(pair[1].(json.Number)), 64)
		if got[i].Price != p || got[i].Quantity != q {
			t.Fatalf("level %d = %+v, encoding/json says %v", i, got[i], pair)
		}
	}
}

// FuzzNumber checks the number scanner against strconv and json.Valid.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "64.0575", "1.2E+2", "1e999", "01", "1.", ".5", "-", "123456789012345678901234",
		"0.0000000000000000000001", "4.9e-324", "9007199254740993", "1_000", "0x10", "Infinity", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s scanner
		s.reset([]byte(in))
		got, ok := s.number()
		if !ok || s.pos != len(in) {
			return
		}
		if !json.Valid([]byte(in)) {
			t.Fatalf("number accepted %q, which is not JSON", in)
		}
		want, err := strconv.ParseFloat(strings.TrimLeft(in, " \t\r\n"), 64) // the scanner skips leading space
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("number(%q) = %v, strconv says %v (%v)", in, got, want, err)
		}
	})
}

// FuzzParseTime checks the hand-written RFC 3339 parser against time.Parse.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2019-08-07T15:35:00Z", "2019-08-07T15:35:00.029721253Z", "2020-05-12T12:39:25.26326835Z",
		"2019-08-07T18:35:00+03:00", "2019-02-29T00:00:00Z", "2019-08-07T24:00:00Z", "2019-08-07T15:35:00,5Z",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999999-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := parseTime([]byte(in))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, in)
		if err != nil || !got.Equal(want) {
			t.Fatalf("parseTime(%q) = %v, time.Parse says %v, %v", in, got, want, err)
		}
	})
}

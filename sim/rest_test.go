package sim

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

func TestRESTEnvelopeRoutesAndAuth(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Tokens = []string{testToken} })
	var stocks wire.MarketInstrumentList
	first := h.rest("GET", "/openapi/market/stocks", nil, nil)
	first.ok(t, &stocks)
	second := h.rest("GET", "/openapi/sandbox/market/stocks", nil, nil)
	second.ok(t, nil)
	if first.env.TrackingID == second.env.TrackingID {
		t.Errorf("trackingId repeated: %s", first.env.TrackingID)
	}
	want := 0
	for _, in := range h.m.Instruments() {
		if in.Type == tvbridge.Stock {
			want++
		}
	}
	if int(stocks.Total) != want || len(stocks.Instruments) != want {
		t.Errorf("stocks: total %d, %d listed, want %d", int(stocks.Total), len(stocks.Instruments), want)
	}
	for _, mi := range stocks.Instruments {
		if mi.Type != "Stock" || mi.Exchange == "" || mi.Timezone == "" || mi.Session == "" || mi.Lot < 1 {
			t.Fatalf("incomplete instrument %+v", mi)
		}
	}
	for _, path := range []string{"/openapi/market/bonds", "/openapi/market/etfs", "/openapi/market/currencies"} {
		var list wire.MarketInstrumentList
		h.rest("GET", path, nil, nil).ok(t, &list)
		if list.Total == 0 {
			t.Errorf("%s: empty", path)
		}
	}

	h.rest("GET", "/openapi/market/nothing", nil, nil).fails(t, 404, codeUndefinedRoute)
	h.rest("POST", "/openapi/market/stocks", nil, nil).fails(t, 404, codeUndefinedRoute)
	h.rest("GET", "/openapi/sandbox/sandbox/register", nil, nil).fails(t, 404, codeUndefinedRoute)
	h.rest("POST", "/openapi/sandbox/register", nil, nil).fails(t, 404, codeUndefinedRoute)
	h.rest("POST", "/openapi/sandbox/remove", nil, nil).fails(t, 404, codeUndefinedRoute) // production has no sandbox routes
	if r := h.restAs("", "GET", "/openapi/market/stocks", nil, nil); r.status != 401 || len(r.raw) != 0 {
		t.Errorf("no token: %d %q, want 401 and an empty body", r.status, r.raw)
	}
	h.restAs("t.other", "GET", "/openapi/market/stocks", nil, nil).fails(t, 403, codeForbidden)
}

func TestRESTSearch(t *testing.T) {
	h := newHarness(t, nil)
	in := h.liveInstrument(tvbridge.Stock)
	var mi wire.MarketInstrument
	h.rest("GET", "/openapi/market/search/by-figi", url.Values{"figi": {in.FIGI}}, nil).ok(t, &mi)
	if mi.FIGI != in.FIGI || mi.Ticker != in.Ticker || mi.MinPriceIncrement != in.MinPriceIncrement || mi.Session != in.Session {
		t.Errorf("by-figi: %+v", mi)
	}
	h.rest("GET", "/openapi/market/search/by-figi", url.Values{"figi": {"BBG-NOPE"}}, nil).fails(t, 500, codeNotFound)
	h.rest("GET", "/openapi/market/search/by-figi", nil, nil).fails(t, 500, codeValidation)
	var list wire.MarketInstrumentList
	h.rest("GET", "/openapi/sandbox/market/search/by-ticker", url.Values{"ticker": {in.Ticker}}, nil).ok(t, &list)
	found := false
	for _, x := range list.Instruments {
		found = found || x.FIGI == in.FIGI
	}
	if !found || int(list.Total) != len(list.Instruments) {
		t.Errorf("by-ticker %s: %+v", in.Ticker, list)
	}
	h.rest("GET", "/openapi/market/search/by-ticker", url.Values{"ticker": {"NOPE"}}, nil).ok(t, &list)
	if list.Total != 0 {
		t.Errorf("unknown ticker found %d", int(list.Total))
	}
}

func TestRESTOrderbook(t *testing.T) {
	h := newHarness(t, nil)
	in := h.liveInstrument(tvbridge.Bond)
	var ob wire.Orderbook
	h.rest("GET", "/openapi/market/orderbook", url.Values{"figi": {in.FIGI}, "depth": {"10"}}, nil).ok(t, &ob)
	model := h.m.OrderBook(in.FIGI, h.now(), 10)
	if ob.Depth != 10 || len(ob.Bids) != len(model.Bids) || len(ob.Asks) != len(model.Asks) {
		t.Fatalf("book %+v, model %+v", ob, model)
	}
	for i, l := range ob.Bids {
		if l.Price != model.Bids[i].Price || float64(l.Quantity) != model.Bids[i].Quantity {
			t.Errorf("bid %d: %+v, model %+v", i, l, model.Bids[i])
		}
	}
	if ob.TradeStatus != "NormalTrading" || ob.MinPriceIncrement != in.MinPriceIncrement {
		t.Errorf("status %q increment %v", ob.TradeStatus, ob.MinPriceIncrement)
	}
	if ob.FaceValue == nil || *ob.FaceValue != in.FaceValue || ob.LastPrice == nil || ob.ClosePrice == nil {
		t.Errorf("bond fields missing: %s", mustJSON(ob))
	}
	h.rest("GET", "/openapi/market/orderbook", url.Values{"figi": {in.FIGI}, "depth": {"21"}}, nil).fails(t, 500, codeValidation)
	h.rest("GET", "/openapi/market/orderbook", url.Values{"figi": {in.FIGI}, "depth": {"x"}}, nil).fails(t, 500, codeMalformedQuery)
	h.rest("GET", "/openapi/market/orderbook", url.Values{"figi": {"BBG-NOPE"}, "depth": {"1"}}, nil).fails(t, 500, codeNotFound)
}

func TestRESTCandleValidation(t *testing.T) {
	h := newHarness(t, nil)
	in := h.liveInstrument(tvbridge.Stock)
	from := "2024-03-12T10:00:00+03:00"
	cases := []struct {
		interval, to, code, message string
	}{
		{"1min", "2024-03-13T10:00:01+03:00", codeValidation,
			"[to]: Bad candle interval: from=2024-03-12T10:00:00+03:00 to=2024-03-13T10:00:01+03:00 expected from 1 minute to 1 day"},
		{"1min", "2024-03-12T10:00:30+03:00", codeValidation,
			"[to]: Bad candle interval: from=2024-03-12T10:00:00+03:00 to=2024-03-12T10:00:30+03:00 expected from 1 minute to 1 day"},
		{"hour", "2024-03-19T11:00:00+03:00", codeValidation,
			"[to]: Bad candle interval: from=2024-03-12T10:00:00+03:00 to=2024-03-19T11:00:00+03:00 expected from 1 hour to 7 days"},
		{"day", "2025-03-13T10:00:00+03:00", codeValidation,
			"[to]: Bad candle interval: from=2024-03-12T10:00:00+03:00 to=2025-03-13T10:00:00+03:00 expected from 1 day to 1 year"},
		{"month", "2024-04-11T10:00:00+03:00", codeValidation,
			"[to]: Bad candle interval: from=2024-03-12T10:00:00+03:00 to=2024-04-11T10:00:00+03:00 expected from 1 month to 10 years"},
		{"2hour", "2024-03-12T14:00:00+03:00", codeMalformedQuery, "Invalid format of field 'interval': 2hour"},
		{"1min", "yesterday", codeMalformedQuery, "Invalid format of field 'to': yesterday"},
		{"1min", "2024-03-12T12:00:00", codeMalformedQuery, "Invalid format of field 'to': 2024-03-12T12:00:00"},
	}
	for _, tc := range cases {
		q := url.Values{"figi": {in.FIGI}, "interval": {tc.interval}, "from": {from}, "to": {tc.to}}
		r := h.rest("GET", "/openapi/market/candles", q, nil)
		r.fails(t, 500, tc.code)
		if r.err.Message != tc.message {
			t.Errorf("%s to %s: message %q, want %q", tc.interval, tc.to, r.err.Message, tc.message)
		}
	}
	// The widest allowed ranges pass.
	for _, ok := range []struct{ interval, to string }{
		{"1min", "2024-03-13T10:00:00+03:00"}, {"hour", "2024-03-19T10:00:00+03:00"},
		{"day", "2025-03-12T10:00:00+03:00"}, {"week", "2026-03-12T10:00:00+03:00"},
		{"month", "2034-03-12T10:00:00+03:00"},
	} {
		q := url.Values{"figi": {in.FIGI}, "interval": {ok.interval}, "from": {from}, "to": {ok.to}}
		h.rest("GET", "/openapi/market/candles", q, nil).ok(t, nil)
	}
	// An unencoded "+" in the offset reaches the server as a space.
	req, _ := http.NewRequest("GET", h.hs.URL+"/openapi/market/candles?figi="+in.FIGI+
		"&interval=1min&from=2024-03-12T10:00:00+03:00&to=2024-03-12T11:00:00%2B03:00", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), codeMalformedQuery) {
		t.Fatalf("unencoded plus: %d %s", resp.StatusCode, body)
	}
}

func TestRESTCandlesAreClosedOnly(t *testing.T) {
	h := newHarness(t, nil)
	in := h.liveInstrument(tvbridge.Stock)
	h.advance(90 * time.Second) // 08:01:30: the 08:01 minute is forming
	q := url.Values{"figi": {in.FIGI}, "interval": {"1min"},
		"from": {"2024-03-13T07:00:00Z"}, "to": {"2024-03-13T09:00:00Z"}}
	var got wire.Candles
	h.rest("GET", "/openapi/market/candles", q, nil).ok(t, &got)
	if got.FIGI != in.FIGI || got.Interval != "1min" || len(got.Candles) == 0 {
		t.Fatalf("candles %+v", got)
	}
	lastWant := "2024-03-13T08:00:00Z"
	if last := got.Candles[len(got.Candles)-1]; last.Time != lastWant {
		t.Errorf("last candle %s, want %s (the forming one must be absent)", last.Time, lastWant)
	}
	model := h.m.Candles(in.FIGI, tvbridge.Interval1Min, testStart.Add(-time.Hour), testStart.Add(time.Minute), h.now())
	if len(model) != len(got.Candles) {
		t.Fatalf("%d candles, model has %d", len(got.Candles), len(model))
	}
	for i, c := range got.Candles {
		m := model[i]
		if c.Time != m.Time.Format(time.RFC3339) || c.O != m.Open || c.H != m.High || c.L != m.Low || c.C != m.Close || float64(c.V) != m.Volume {
			t.Errorf("candle %d: %+v, model %+v", i, c, m)
		}
	}
}

func TestRESTRateLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RESTRateLimit = 3 })
	for range 3 {
		h.rest("GET", "/openapi/market/etfs", nil, nil).ok(t, nil)
	}
	if r := h.rest("GET", "/openapi/market/etfs", nil, nil); r.status != 429 || len(r.raw) != 0 {
		t.Fatalf("4th request: %d %q, want 429 with an empty body", r.status, r.raw)
	}
	h.rest("GET", "/openapi/user/accounts", nil, nil).ok(t, nil) // not a /market route
	h.restAs("t.other", "GET", "/openapi/market/etfs", nil, nil).ok(t, nil)
	h.advance(time.Minute)
	h.rest("GET", "/openapi/market/etfs", nil, nil).ok(t, nil)
	if got := h.srv.Stats().RESTRateLimited; got != 1 {
		t.Errorf("RESTRateLimited = %d", got)
	}
}

func TestREST429Fault(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.Faults().REST429(2)
	for range 2 {
		if r := h.rest("GET", "/openapi/market/stocks", nil, nil); r.status != 429 || len(r.raw) != 0 {
			t.Fatalf("got %d %q, want 429 with an empty body", r.status, r.raw)
		}
	}
	h.rest("GET", "/openapi/market/stocks", nil, nil).ok(t, nil)
	if got := h.srv.Stats().Faults.REST429; got != 2 {
		t.Errorf("Faults.REST429 = %d", got)
	}
}

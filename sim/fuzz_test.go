package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinkoff/wire"
)

// FuzzParseRequest feeds arbitrary client frames to the stream's request
// parser: it must never panic, accept only valid subscriptions, and always
// produce an error event that is valid JSON.
func FuzzParseRequest(f *testing.F) {
	figi := sharedMarket.Instruments()[0].FIGI
	for _, seed := range []string{
		`{"event":"candle:subscribe","figi":"` + figi + `","interval":"1min","request_id":"1"}`,
		`{"event":"orderbook:subscribe","figi":"` + figi + `","depth":20}`,
		`{"event":"orderbook:unsubscribe","figi":"` + figi + `","depth":"20"}`,
		`{"event":"orderbook:subscribe","figi":"` + figi + `","depth":1.5}`,
		`{"event":"instrument_info:subscribe","figi":"x\u0000y","requestId":"j"}`,
		`{"event":"candle:subscribe","figi":7}`,
		`{"event":":"}`, `[]`, `null`, `"`, "\xff\xfe", ``,
	} {
		f.Add([]byte(seed))
	}
	s := &Server{market: sharedMarket}
	ts := appendTime(nil, testStart)
	f.Fuzz(func(t *testing.T, data []byte) {
		req, requestID, errMsg := s.parseRequest(data)
		if errMsg != "" {
			var fr frame
			if err := decodeFrame(errorFrame(ts, errMsg, requestID), &fr); err != nil {
				t.Fatalf("error frame for %q: %v", data, err)
			}
			return
		}
		sub := req.sub
		if _, ok := sharedMarket.Instrument(sub.FIGI); !ok {
			t.Fatalf("accepted unknown FIGI %q", sub.FIGI)
		}
		switch sub.Kind {
		case tvbridge.SubCandle:
			if !sub.Interval.Valid() {
				t.Fatalf("accepted interval %q", sub.Interval)
			}
		case tvbridge.SubOrderBook:
			if sub.Depth < 1 || sub.Depth > maxDepth {
				t.Fatalf("accepted depth %d", sub.Depth)
			}
		case tvbridge.SubInstrumentInfo:
		default:
			t.Fatalf("accepted kind %q", sub.Kind)
		}
	})
}

// FuzzFrames checks that the hand-written encoders always produce frames
// that decode into the wire types with the same strings and prices.
func FuzzFrames(f *testing.F) {
	f.Add("BBG004730N88", "1min", 250.5, 1e-9, 12.0, 0.01)
	f.Add("q\"\\\n\x01ü\xff", "2hour", math.NaN(), math.Inf(1), math.Copysign(0, -1), 0.0025)
	f.Add("", "", 1e21, 5e-324, math.MaxFloat64, 1e-9)
	f.Add("X", "day", 0.30000000000000004, -12.5, 1e15, 0.1)
	ts := appendTime(nil, testStart)
	f.Fuzz(func(t *testing.T, figi, interval string, a, b, c, increment float64) {
		pf := newPriceFormat(increment)
		cd := tvbridge.Candle{FIGI: figi, Interval: tvbridge.CandleInterval(interval), Open: a, High: b, Low: c, Close: a, Volume: c}
		ob := tvbridge.OrderBook{FIGI: figi, Bids: []tvbridge.PriceLevel{{Price: a, Quantity: b}}, Asks: []tvbridge.PriceLevel{{Price: c, Quantity: a}}}
		info := tvbridge.InstrumentInfo{FIGI: figi, TradeStatus: tvbridge.TradeStatus(interval), MinPriceIncrement: a, Lot: b, LimitUp: c}
		frames := [][]byte{
			candleFrame(ts, &cd, "2024-03-13T08:00:00Z", pf),
			bookFrame(ts, &ob, 1, pf),
			infoFrame(ts, &info, true),
			errorFrame(ts, figi, interval),
		}
		for _, data := range frames {
			var fr frame
			if err := decodeFrame(data, &fr); err != nil {
				t.Fatalf("%s: %v", data, err)
			}
		}
		var fr frame
		decodeFrame(frames[1], &fr)
		if book := bookOf(fr); !math.IsNaN(a) && !math.IsInf(a, 0) && book.Bids[0][0] != a {
			t.Fatalf("price %v (increment %v) came back as %v: %s", a, increment, book.Bids[0][0], frames[1])
		}
		decodeFrame(frames[0], &fr)
		var want string // what encoding/json makes of the string, invalid UTF-8 included
		data, _ := json.Marshal(figi)
		json.Unmarshal(data, &want)
		if got := candleOf(fr).FIGI; got != want {
			t.Fatalf("figi %q came back as %q", want, got)
		}
	})
}

// FuzzREST sends arbitrary routes, query strings and bodies to the REST
// API: every answer must be 200 or an error the protocol knows, in a valid
// envelope, never an internal error, and no request may panic.
func FuzzREST(f *testing.F) {
	figi := sharedMarket.Instruments()[0].FIGI
	seeds := []struct{ method, path, query, body string }{
		{"GET", "/openapi/market/candles", "figi=" + figi + "&from=2024-03-13T07:00:00Z&to=2024-03-13T08:00:00Z&interval=1min", ""},
		{"GET", "/openapi/market/candles", "figi=" + figi + "&from=2024-03-13T07:00:00+03:00&to=x&interval=month", ""},
		{"GET", "/openapi/market/orderbook", "figi=" + figi + "&depth=5", ""},
		{"GET", "/openapi/market/search/by-ticker", "ticker=%ff", ""},
		{"POST", "/openapi/sandbox/sandbox/register", "", `{"brokerAccountType":"TinkoffIis"}`},
		{"POST", "/openapi/sandbox/sandbox/currencies/balance", "", `{"currency":"RUB","balance":1e300}`},
		{"POST", "/openapi/orders/limit-order", "figi=" + figi, `{"lots":1,"operation":"Buy","price":100.01}`},
		{"POST", "/openapi/orders/market-order", "figi=" + figi, `{"lots":-1,"operation":"Sell"}`},
		{"POST", "/openapi/orders/market-order", "figi=" + figi, `{"lots":2147483647,"operation":"Buy"}`},
		{"POST", "/openapi/orders/cancel", "orderId=1", ""},
		{"GET", "/openapi/operations", "from=2024-03-13T07:00:00Z&to=2024-03-13T08:00:00Z&figi=" + figi, ""},
		{"GET", "/openapi/portfolio", "brokerAccountId=%00", ""},
		{"PUT", "/openapi/../x", "", "{"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, []byte(s.body))
	}
	srv := newServer(Config{
		Market:     sharedMarket,
		Clock:      clock.NewFake(testStart),
		Commission: testCommission,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, nil)
	defer srv.Close()
	handler := srv.Handler()
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		req, err := http.NewRequest(method, "http://sim"+path+"?"+query, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Authorization", "Bearer fuzz")
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		switch w.Code {
		case 200, 404, 500:
			var env wire.Envelope
			if err := strictUnmarshal(w.Body.Bytes(), &env); err != nil || env.TrackingID == "" {
				t.Fatalf("%s %s?%s: %d %q: %v", method, path, query, w.Code, w.Body.Bytes(), err)
			}
			var e wire.ErrorBody
			if env.Status == "Error" && json.Unmarshal(env.Payload, &e) == nil && e.Code == codeInternal {
				t.Fatalf("%s %s?%s %q: internal error %s", method, path, query, body, e.Message)
			}
		case 301, 307, 308, 400:
			// net/http's own answers to unclean paths and methods.
		default:
			t.Fatalf("%s %s?%s: status %d", method, path, query, w.Code)
		}
	})
}

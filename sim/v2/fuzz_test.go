package v2sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"tvbridge/clock"
	"tvbridge/tinvest/wire"
)

// FuzzRequests feeds arbitrary bodies to every REST method and arbitrary
// frames to MarketDataStream's request handling: nothing may panic, a REST
// answer is 200 with a JSON object or an error with the v2 error body, and
// a stream frame is applied or closes the stream with 4003.
func FuzzRequests(f *testing.F) {
	for _, seed := range []struct {
		method uint8
		body   string
	}{
		{0, `{}`},
		{1, `{"instrumentId":"BBG004730N88","from":"2024-03-13T07:00:00Z","to":"2024-03-13T08:00:00Z","interval":"CANDLE_INTERVAL_1_MIN","limit":10}`},
		{2, `{"instrumentId":"BBG004730N88","depth":10}`},
		{3, `{"accountId":"2000000001","instrumentId":"BBG004730N88","quantity":"1","direction":"ORDER_DIRECTION_BUY","orderType":"ORDER_TYPE_LIMIT","price":{"units":"300","nano":10000000},"orderId":"k"}`},
		{4, `{"subscribeCandlesRequest":{"subscriptionAction":"SUBSCRIPTION_ACTION_SUBSCRIBE","instruments":[{"instrumentId":"BBG004730N88","interval":"SUBSCRIPTION_INTERVAL_ONE_MINUTE"}]}}`},
		{5, `{"subscribe_order_book_request":{"subscription_action":"SUBSCRIPTION_ACTION_SUBSCRIBE","instruments":[{"instrument_id":"BBG004730N88","depth":20}]}}`},
		{6, `{"ping":{"time":"2024-03-13T08:00:00Z"},"pingSettings":{"pingDelayMs":1}}`},
		{7, `{"quantity":1e3,"price":{"units":"1","nano":-1}}`},
		{8, `{"idType":"INSTRUMENT_ID_TYPE_TICKER","id":"SBER","classCode":"TQBR"}`},
		{9, `[`},
	} {
		f.Add(seed.method, []byte(seed.body))
	}
	clk := clock.NewFake(testStart)
	srv := New(Config{Market: sharedMarket, Clock: clk, Logger: quiet})
	defer srv.Close()
	h := srv.Handler()
	methods := make([]string, 0, len(srv.rest.routes))
	for m := range srv.rest.routes {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		method := methods[int(which)%len(methods)]
		req := httptest.NewRequest(http.MethodPost, wire.RESTPath+method, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer fuzz")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		out := rec.Body.Bytes()
		if rec.Header().Get(wire.HeaderTrackingID) == "" || len(out) == 0 || out[0] != '{' || !json.Valid(out) {
			t.Fatalf("%s %q: %d %q", method, body, rec.Code, out)
		}
		if rec.Code != http.StatusOK {
			var eb wire.ErrorBody
			if json.Unmarshal(out, &eb) != nil || eb.Code == 0 || httpStatus(wire.Code(eb.Code)) != rec.Code {
				t.Fatalf("%s %q: error %d %q", method, body, rec.Code, out)
			}
		}
		// The same bytes as a stream frame, on a connection without a socket.
		c := &mdConn{wsConn: &wsConn{srv: srv, out: make(chan outFrame, 1<<12), done: make(chan struct{})},
			token: "fuzz", subs: map[subKey]*connSub{}, pingEvery: DefaultPingDelay, emptySince: clk.Now()}
		srv.em.addConn(c)
		srv.handleMarketDataRequest(c, body)
		srv.em.tick(clk.Now().Add(time.Second))
		srv.em.removeConn(c)
		for len(c.out) > 0 {
			if fr := <-c.out; fr.typ == 1 && !json.Valid(fr.data) {
				t.Fatalf("invalid frame %q", fr.data)
			}
		}
	})
}

package v2sim

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge/tinvest/wire"
)

const subscribe = wire.SubscriptionActionSubscribe

func candlesReq(ids ...string) wire.MarketDataRequest {
	r := &wire.SubscribeCandlesRequest{SubscriptionAction: subscribe}
	for _, id := range ids {
		r.Instruments = append(r.Instruments, wire.CandleInstrument{InstrumentID: id, Interval: wire.SubscriptionIntervalOneMinute})
	}
	return wire.MarketDataRequest{SubscribeCandlesRequest: r}
}

func tradesReq(ids ...string) wire.MarketDataRequest {
	r := &wire.SubscribeTradesRequest{SubscriptionAction: subscribe, TradeSource: wire.TradeSourceExchange}
	for _, id := range ids {
		r.Instruments = append(r.Instruments, wire.InstrumentRef{InstrumentID: id})
	}
	return wire.MarketDataRequest{SubscribeTradesRequest: r}
}

// responses returns the subscription statuses answered so far, in order.
func responses(t *testing.T, frames [][]byte) [][]wire.SubscriptionStatus {
	var out [][]wire.SubscriptionStatus
	for _, m := range md(t, frames) {
		var sts []wire.SubscriptionStatus
		switch {
		case m.SubscribeCandlesResponse != nil:
			for _, s := range m.SubscribeCandlesResponse.CandlesSubscriptions {
				sts = append(sts, s.SubscriptionStatus)
			}
		case m.SubscribeTradesResponse != nil:
			for _, s := range m.SubscribeTradesResponse.TradeSubscriptions {
				sts = append(sts, s.SubscriptionStatus)
			}
		case m.SubscribeOrderBookResponse != nil:
			for _, s := range m.SubscribeOrderBookResponse.OrderBookSubscriptions {
				sts = append(sts, s.SubscriptionStatus)
			}
		case m.SubscribeInfoResponse != nil:
			for _, s := range m.SubscribeInfoResponse.InfoSubscriptions {
				sts = append(sts, s.SubscriptionStatus)
			}
		case m.SubscribeLastPriceResponse != nil:
			for _, s := range m.SubscribeLastPriceResponse.LastPriceSubscriptions {
				sts = append(sts, s.SubscriptionStatus)
			}
		default:
			continue
		}
		out = append(out, sts)
	}
	return out
}

func TestStreamSubscriptionsAndData(t *testing.T) {
	h := newHarness(t, testStart, nil)
	ws := h.dialMD()
	uid := uidOf(h, sber)
	ws.send(candlesReq(uid, "nope"))
	ws.send(wire.MarketDataRequest{SubscribeCandlesRequest: &wire.SubscribeCandlesRequest{SubscriptionAction: subscribe,
		Instruments: []wire.CandleInstrument{{InstrumentID: uid, Interval: "SUBSCRIPTION_INTERVAL_7_MIN"}}}})
	ws.send(tradesReq(sber)) // FIGIs work too
	ws.send(wire.MarketDataRequest{SubscribeOrderBookRequest: &wire.SubscribeOrderBookRequest{SubscriptionAction: subscribe,
		Instruments: []wire.OrderBookInstrument{{InstrumentID: uid, Depth: 10}, {InstrumentID: uid, Depth: 5}}}})
	ws.send(wire.MarketDataRequest{SubscribeInfoRequest: &wire.SubscribeInfoRequest{SubscriptionAction: subscribe,
		Instruments: []wire.InstrumentRef{{InstrumentID: uid}}}})
	ws.send(wire.MarketDataRequest{SubscribeLastPriceRequest: &wire.SubscribeLastPriceRequest{SubscriptionAction: subscribe,
		Instruments: []wire.InstrumentRef{{InstrumentID: uid}}}})
	ws.send(wire.MarketDataRequest{SubscribeInfoRequest: &wire.SubscribeInfoRequest{SubscriptionAction: wire.SubscriptionActionUnsubscribe,
		Instruments: []wire.InstrumentRef{{InstrumentID: uidOf(h, aapl)}}}})
	ws.send(wire.MarketDataRequest{SubscribeInfoRequest: &wire.SubscribeInfoRequest{Instruments: []wire.InstrumentRef{{InstrumentID: uid}}}})
	frames := ws.waitFor("8 answers", func(f [][]byte, _ *websocket.CloseError) bool { return len(responses(t, f)) == 8 })
	S := wire.SubscriptionStatusSuccess
	want := [][]wire.SubscriptionStatus{
		{S, wire.SubscriptionStatusInstrumentNotFound},
		{wire.SubscriptionStatusIntervalInvalid},
		{S},
		{S, wire.SubscriptionStatusDepthInvalid},
		{S},
		{S},
		{wire.SubscriptionStatusSubscriptionNotFound},
		{wire.SubscriptionStatusSubscriptionActionInvalid},
	}
	got := responses(t, frames)
	for i := range want {
		if strings.Join(statusNames(got[i]), ",") != strings.Join(statusNames(want[i]), ",") {
			t.Errorf("answer %d: %v, want %v", i, got[i], want[i])
		}
	}
	first := md(t, frames)[0].SubscribeCandlesResponse
	if c := first.CandlesSubscriptions[0]; c.FIGI != sber || c.InstrumentUID != uid || c.StreamID == "" || c.SubscriptionID == "" ||
		c.Interval != wire.SubscriptionIntervalOneMinute || first.TrackingID == "" {
		t.Errorf("candle subscription %+v", first)
	}
	if c := first.CandlesSubscriptions[1]; c.InstrumentUID != "nope" {
		t.Errorf("an unknown instrument's answer names it: %+v", c)
	}
	h.steps(5*time.Second, time.Second)
	kinds := map[string]int{}
	for _, m := range md(t, ws.synced(h)) {
		switch {
		case m.Candle != nil:
			kinds["candle"]++
			if m.Candle.InstrumentUID != uid || m.Candle.Interval != wire.SubscriptionIntervalOneMinute {
				t.Errorf("candle %+v", m.Candle)
			}
		case m.Trade != nil:
			kinds["trade"]++
		case m.Orderbook != nil:
			kinds["book"]++
			if len(m.Orderbook.Bids) != 10 || m.Orderbook.Depth != 10 || !m.Orderbook.IsConsistent {
				t.Errorf("book %+v", m.Orderbook)
			}
		case m.TradingStatus != nil:
			kinds["status"]++
			if m.TradingStatus.TradingStatus != wire.TradingStatusNormalTrading {
				t.Errorf("status %+v", m.TradingStatus)
			}
		case m.LastPrice != nil:
			kinds["lastPrice"]++
		}
	}
	for _, k := range []string{"candle", "trade", "book", "status", "lastPrice"} {
		if kinds[k] == 0 {
			t.Errorf("no %s frame: %v", k, kinds)
		}
	}
	// getMySubscriptions lists the five live subscriptions by kind.
	n := len(ws.synced(h))
	ws.send(wire.MarketDataRequest{GetMySubscriptions: &struct{}{}})
	frames = ws.waitCount(n + 5)
	if got := responses(t, frames[n:]); len(got) != 5 {
		t.Errorf("getMySubscriptions: %v", got)
	}
}

func statusNames(s []wire.SubscriptionStatus) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}

func TestStreamLimits(t *testing.T) {
	h := newHarness(t, testStart, func(c *Config) {
		c.MaxSubscriptionsPerStream, c.MaxSubscribeRequestsPerMinute, c.MaxStreams = 2, 2, 1
	})
	ws := h.dialMD()
	ids := []string{sber, aapl, h.m.Instruments()[4].FIGI}
	ws.send(candlesReq(ids...)) // the third is beyond the stream's 2
	ws.send(wire.MarketDataRequest{SubscribeInfoRequest: &wire.SubscribeInfoRequest{SubscriptionAction: subscribe,
		Instruments: []wire.InstrumentRef{{InstrumentID: ids[2]}}}}) // statuses do not count
	ws.send(tradesReq(ids[2])) // the 3rd request this minute
	frames := ws.waitFor("3 answers", func(f [][]byte, _ *websocket.CloseError) bool { return len(responses(t, f)) == 3 })
	got := responses(t, frames)
	S := wire.SubscriptionStatusSuccess
	if got[0][0] != S || got[0][1] != S || got[0][2] != wire.SubscriptionStatusLimitExceeded || got[1][0] != S ||
		got[2][0] != wire.SubscriptionStatusTooManyRequests {
		t.Fatalf("answers %v", got)
	}
	// A minute later the request budget is back.
	h.advance(time.Minute)
	n := len(ws.synced(h))
	ws.send(wire.MarketDataRequest{SubscribeCandlesRequest: &wire.SubscribeCandlesRequest{
		SubscriptionAction: wire.SubscriptionActionUnsubscribe,
		Instruments:        []wire.CandleInstrument{{InstrumentID: aapl, Interval: wire.SubscriptionIntervalOneMinute}}}})
	ws.send(tradesReq(ids[2]))
	frames = ws.waitFor("2 more answers", func(f [][]byte, _ *websocket.CloseError) bool { return len(responses(t, f[n:])) == 2 })
	if got := responses(t, frames[n:]); got[0][0] != S || got[1][0] != S {
		t.Fatalf("after a minute: %v", got)
	}
	// A second stream is over the token's limit: 4008 with 80001.
	second := h.dialMD()
	ce := second.waitClose()
	if ce.Code != wire.CloseResourceExhausted || !strings.Contains(ce.Text, wire.ErrTooManyStreams) {
		t.Fatalf("second stream closed with %v", ce)
	}
	if st := h.srv.Stats(); st.TooManyStreams != 1 || st.TooManyRequests != 1 || st.LimitExceeded != 1 || st.Streams != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStreamPingsAndIdleClose(t *testing.T) {
	h := newHarness(t, testStart, func(c *Config) { c.IdleStreamTimeout = time.Minute })
	ws := h.dialMD()
	ws.send(wire.MarketDataRequest{PingSettings: &wire.PingDelaySettings{PingDelayMs: 5000}})
	ws.send(wire.MarketDataRequest{Ping: &wire.PingRequest{Time: wire.At(h.clk.Now())}})
	ws.waitCount(1) // the answer to the ping request; the settings are applied before it
	h.steps(20*time.Second, 5*time.Second)
	pings := 0
	for _, m := range md(t, ws.synced(h)) {
		if m.Ping != nil && m.Ping.StreamID != "" {
			pings++
		}
	}
	if pings != 5 {
		t.Fatalf("%d pings in 20 s every 5 s, plus the answer", pings)
	}
	h.steps(40*time.Second, 5*time.Second)
	ce := ws.waitClose()
	if ce.Code != wire.CloseDeadlineExceeded || !strings.Contains(ce.Text, wire.ErrNoActiveSubscriptions) {
		t.Fatalf("idle stream closed with %v", ce)
	}
}

func TestStreamAuth(t *testing.T) {
	h := newHarness(t, testStart, nil)
	_, resp, err := h.dial(wire.MethodMarketDataStream, http.Header{"Authorization": {"Bearer nope"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(wire.HeaderTrackingID) == "" {
		t.Fatalf("bad token: %v %v", err, resp)
	}
	_, resp, err = h.dial(wire.MethodOrderStateStream, http.Header{})
	if err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token on the order stream: %v", err)
	}
	// The token as the second subprotocol, and proto field names.
	ws, _, err := h.dial(wire.MethodMarketDataStream, http.Header{}, "json-proto", testToken)
	if err != nil {
		t.Fatal(err)
	}
	if ws.ws.Subprotocol() != "json-proto" {
		t.Fatalf("subprotocol %q", ws.ws.Subprotocol())
	}
	ws.ws.WriteMessage(websocket.TextMessage, []byte(`{"subscribe_trades_request":{"subscription_action":"SUBSCRIPTION_ACTION_SUBSCRIBE","instruments":[{"instrument_id":"`+sber+`"}]}}`))
	frames := ws.waitCount(1)
	if !strings.Contains(string(frames[0]), `"trade_subscriptions"`) || !strings.Contains(string(frames[0]), "SUBSCRIPTION_STATUS_SUCCESS") {
		t.Fatalf("json-proto answer %s", frames[0])
	}
	// A frame that is not a request closes the stream with 4003.
	ws.ws.WriteMessage(websocket.TextMessage, []byte(`[]`))
	if ce := ws.waitClose(); ce.Code != wire.CloseInvalidArgument {
		t.Fatalf("bad request closed with %v", ce)
	}
}

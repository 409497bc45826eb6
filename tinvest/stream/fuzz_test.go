package stream

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"tvbridge/tinvest/wire"
)

var frameSeeds = []string{
	`{"candle":{"figi":"BBG004730RP0","interval":"SUBSCRIPTION_INTERVAL_ONE_MINUTE","open":{"units":"179","nano":50000000},"high":{"units":"179","nano":70000000},"low":{"units":"178","nano":950000000},"close":{"units":"178","nano":950000000},"volume":"4279","time":"2023-05-16T08:44:00Z","lastTradeTs":"2023-05-16T08:44:27.432487Z","instrumentUid":"962e2a95-02a9-4171-abd7-aa198dbe643a"}}`,
	`{"candle":{"instrumentUid":"u","interval":"SUBSCRIPTION_INTERVAL_4_HOUR","open":{"nano":500000000},"high":{},"low":{"units":0},"close":null,"time":"2023-05-16T08:00:00+03:00"}}`,
	`{"trade":{"figi":"BBG004730RP0","direction":"TRADE_DIRECTION_SELL","price":{"units":"178","nano":860000000},"quantity":"200","time":"2023-05-16T08:50:22.807741Z","instrumentUid":"u","tradeSource":"TRADE_SOURCE_EXCHANGE"}}`,
	`{"trade":{"instrumentUid":"u","price":{"units":-1,"nano":-5},"quantity":7,"time":"2023-05-16T08:50:22Z"}}`,
	`{"orderbook":{"figi":"F","depth":10,"isConsistent":true,"bids":[{"price":{"units":"178","nano":970000000},"quantity":"20"}],"asks":[{"price":{"units":"178","nano":980000000},"quantity":"3"}],"time":"2023-05-16T08:54:00.549662Z","limitUp":{"units":"191","nano":440000000},"limitDown":{"units":"156","nano":240000000},"instrumentUid":"u","orderBookType":"ORDERBOOK_TYPE_EXCHANGE"}}`,
	`{"orderbook":{"instrumentUid":"u","depth":1}}`,
	`{"tradingStatus":{"figi":"F","tradingStatus":"SECURITY_TRADING_STATUS_NORMAL_TRADING","time":"2023-05-16T07:00:00.750460Z","limitOrderAvailableFlag":true,"marketOrderAvailableFlag":true,"instrumentUid":"u"}}`,
	`{"ping":{"time":"2024-04-11T08:49:14.974035911Z","streamId":""}}`,
	`{"subscribeCandlesResponse":{"trackingId":"t","candlesSubscriptions":[{"figi":"F","interval":"SUBSCRIPTION_INTERVAL_ONE_MINUTE","subscriptionStatus":"SUBSCRIPTION_STATUS_SUCCESS","instrumentUid":"u","waitingClose":false,"streamId":"s","subscriptionId":"x"}]}}`,
	`{"subscribeOrderBookResponse":{"trackingId":"t","orderBookSubscriptions":[{"figi":"F","depth":10,"subscriptionStatus":"SUBSCRIPTION_STATUS_DEPTH_IS_INVALID","instrumentUid":"u"}]}}`,
	`{"subscribeTradesResponse":{"trackingId":"t","tradeSubscriptions":[{"figi":"F","subscriptionStatus":"SUBSCRIPTION_STATUS_TOO_MANY_REQUESTS"}],"tradeSource":"TRADE_SOURCE_EXCHANGE"}}`,
	`{"subscribeInfoResponse":{"trackingId":"t","infoSubscriptions":[{"subscriptionStatus":"SUBSCRIPTION_STATUS_INSTRUMENT_NOT_FOUND"}]}}`,
	`{"subscribeLastPriceResponse":{"trackingId":"t","lastPriceSubscriptions":[]}}`,
	`{"lastPrice":{"figi":"F","price":{"units":"178","nano":790000000},"time":"2023-05-16T08:49:31.085056Z"}}`,
	`{"openInterest":{"instrumentUid":"u","time":"2023-05-16T08:49:31Z","openInterest":"5"}}`,
	`{"somethingNew":{"x":1}}`, `{}`, `[]`, `null`, ``, `{"candle":{}}`, `{"trade":{"quantity":"1.5"}}`,
	`{"candle":{"figi":"F","interval":"SUBSCRIPTION_INTERVAL_ONE_MINUTE","time":"2023-05-16T08:44:00Z","open":{"units":"1","nano":-1}}}`,
	`{"orderbook":{"figi":"F","bids":[{"price":{"nano":1000000000},"quantity":"1"}]}}`,
	`{"trade":{"figi":"F","quantity":"9223372036854775808","time":"2023-05-16T08:44:00Z"}}`,
	`{"candle":{"figi":"F"},"trade":{"figi":"F"}}`,
}

// FuzzDecodeFrame feeds arbitrary bytes to the frame decoder: it must never
// panic; what it accepts must be valid JSON, carry sane values, and agree
// with encoding/json decoding the same frame into the wire types.
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
		checkFrame(t, data, &fr)
	})
}

// TestFrameSeeds runs the seeds' expectations in the normal test run.
func TestFrameSeeds(t *testing.T) {
	d := newDecoder()
	accepted := 0
	for _, s := range frameSeeds {
		var fr frame
		if err := d.decode([]byte(s), &fr); err == nil {
			accepted++
			checkFrame(t, []byte(s), &fr)
		}
	}
	if accepted < 15 {
		t.Fatalf("only %d seeds decoded", accepted)
	}
}

func finite(t *testing.T, vs ...float64) {
	t.Helper()
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite %v", v)
		}
	}
}

func checkFrame(t *testing.T, data []byte, fr *frame) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatalf("encoding/json rejects an accepted frame: %v", err)
	}
	if caseCollision(data) {
		return // encoding/json matches keys case-insensitively; exact keys differ by design
	}
	ref := func(name string, v any) {
		if err := json.Unmarshal(top[name], v); err != nil {
			t.Fatalf("encoding/json rejects the %s the decoder accepted: %v\n%s", name, err, data)
		}
	}
	switch fr.kind {
	case kindCandle:
		c := fr.candle
		finite(t, c.Open, c.High, c.Low, c.Close, c.Volume)
		var w wire.Candle
		ref("candle", &w)
		if c.Open != w.Open.Float64() || c.High != w.High.Float64() || c.Low != w.Low.Float64() ||
			c.Close != w.Close.Float64() || c.Volume != float64(w.Volume) || !c.Time.Equal(w.Time.Time) ||
			c.Time.Location() != time.UTC || c.FIGI != w.FIGI || fr.uid != w.InstrumentUID || c.Volume < 0 {
			t.Fatalf("candle %+v disagrees with encoding/json %+v", c, w)
		}
	case kindTrade:
		tr := fr.trade
		finite(t, tr.Price, tr.Quantity)
		var w wire.Trade
		ref("trade", &w)
		if tr.Price != w.Price.Float64() || tr.Quantity != float64(w.Quantity) || !tr.Time.Equal(w.Time.Time) || tr.Quantity <= 0 {
			t.Fatalf("trade %+v disagrees with encoding/json %+v", tr, w)
		}
	case kindOrderBook:
		var w wire.OrderBook
		ref("orderbook", &w)
		b := fr.book
		if len(b.Bids) != len(w.Bids) || len(b.Asks) != len(w.Asks) || b.Depth != int(w.Depth) {
			t.Fatalf("book %+v disagrees with encoding/json %+v", b, w)
		}
		for i, l := range b.Bids {
			if l.Price != w.Bids[i].Price.Float64() || l.Quantity != float64(w.Bids[i].Quantity) || l.Quantity < 0 {
				t.Fatalf("bid %d %+v vs %+v", i, l, w.Bids[i])
			}
		}
		for i, l := range b.Asks {
			if l.Price != w.Asks[i].Price.Float64() || l.Quantity != float64(w.Asks[i].Quantity) || l.Quantity < 0 {
				t.Fatalf("ask %d %+v vs %+v", i, l, w.Asks[i])
			}
		}
	case kindTradingStatus:
		var w wire.TradingStatus
		ref("tradingStatus", &w)
		if fr.status != TradeStatus(w.TradingStatus) {
			t.Fatalf("status %q vs %q", fr.status, w.TradingStatus)
		}
	case kindPing:
		var w wire.Ping
		ref("ping", &w)
	case kindSubscription:
		var w wire.MarketDataResponse
		if err := json.Unmarshal(data, &w); err != nil {
			t.Fatalf("encoding/json rejects an accepted subscription response: %v", err)
		}
	}
}

// knownKeys are the exact member names of the wire types the decoder
// reads, by lower case.
var knownKeys = func() map[string]string {
	m := map[string]string{"units": "units", "nano": "nano"}
	for _, v := range []any{wire.Candle{}, wire.Trade{}, wire.OrderBook{}, wire.Order{}, wire.TradingStatus{}, wire.Ping{},
		wire.MarketDataResponse{}} {
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			m[strings.ToLower(name)] = name
		}
	}
	return m
}()

// caseCollision reports whether some object in data has two keys that
// differ only in case, or a key that encoding/json would take for a known
// member (it matches names case-insensitively) while the decoder, which
// matches exactly as the service writes them, would not.
func caseCollision(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type level struct {
		obj    bool
		keys   map[string]string
		expect bool // next string token is a key
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil && top.obj {
					top.expect = true
				}
				stack = append(stack, &level{obj: true, keys: map[string]string{}, expect: true})
			case '[':
				if top != nil && top.obj {
					top.expect = true
				}
				stack = append(stack, &level{})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.obj && top.expect {
				low := strings.ToLower(v)
				if prev, ok := top.keys[low]; ok && prev != v {
					return true
				}
				if exact, ok := knownKeys[low]; ok && exact != v {
					return true
				}
				top.keys[low] = v
				top.expect = false
				continue
			}
		}
		if top != nil && top.obj {
			top.expect = true
		}
	}
}

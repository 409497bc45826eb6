package v2sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"

	"tvbridge/tinvest/wire"
)

// parseMarketDataRequest decodes one client frame of MarketDataStream.
// Names may be camelCase or the proto's snake_case (the service takes
// either); the wire types check values strictly.
func parseMarketDataRequest(data []byte) (wire.MarketDataRequest, error) {
	var req wire.MarketDataRequest
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '{' {
		return req, errors.New("not a JSON object")
	}
	if bytes.IndexByte(t, '_') >= 0 {
		var err error
		if t, err = renameKeys(t, snakeToCamel); err != nil {
			return req, err
		}
	}
	err := decodeRequest(t, &req)
	return req, err
}

// handleMarketDataRequest applies one client frame. A frame that is not a
// request closes the stream with 4003 INVALID_ARGUMENT, as the service
// does; members this simulator does not know are ignored.
func (s *Server) handleMarketDataRequest(c *mdConn, data []byte) {
	req, err := parseMarketDataRequest(data)
	if err != nil {
		s.stats.badRequests.Add(1)
		c.closeWith(wire.CloseInvalidArgument, codeBadRequest+": bad request: "+truncate(err.Error(), 80))
		return
	}
	now := s.clock.Now()
	e := s.em
	if r := req.PingSettings; r != nil {
		e.setPing(c, r.PingDelayMs)
	}
	if r := req.Ping; r != nil {
		c.send(encode(wire.MarketDataResponse{Ping: &wire.Ping{Time: wire.At(now), StreamID: c.streamID, PingRequestTime: r.Time}}))
	}
	if r := req.SubscribeCandlesRequest; r != nil {
		items := make([]subItem, len(r.Instruments))
		for i, in := range r.Instruments {
			items[i] = subItem{id: in.InstrumentID, interval: in.Interval}
		}
		e.request(c, kindCandles, r.SubscriptionAction, items, subOpts{waitingClose: r.WaitingClose}, now)
	}
	if r := req.SubscribeOrderBookRequest; r != nil {
		items := make([]subItem, len(r.Instruments))
		for i, in := range r.Instruments {
			items[i] = subItem{id: in.InstrumentID, depth: in.Depth}
		}
		e.request(c, kindBooks, r.SubscriptionAction, items, subOpts{}, now)
	}
	if r := req.SubscribeTradesRequest; r != nil {
		e.request(c, kindTrades, r.SubscriptionAction, refs(r.Instruments), subOpts{tradeSource: r.TradeSource}, now)
	}
	if r := req.SubscribeInfoRequest; r != nil {
		e.request(c, kindInfo, r.SubscriptionAction, refs(r.Instruments), subOpts{}, now)
	}
	if r := req.SubscribeLastPriceRequest; r != nil {
		e.request(c, kindLastPrice, r.SubscriptionAction, refs(r.Instruments), subOpts{}, now)
	}
	if req.GetMySubscriptions != nil {
		e.mySubscriptions(c)
	}
}

func refs(in []wire.InstrumentRef) []subItem {
	items := make([]subItem, len(in))
	for i, r := range in {
		items[i] = subItem{id: r.InstrumentID}
	}
	return items
}

func encode(v wire.MarketDataResponse) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only an invalid Quotation fails, which the model never makes.
		return []byte(`{}`)
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// requestLog is the subscription requests of each token in the last minute
// (a sliding window, as the limit is "a minute").
type requestLog map[string][]time.Time

// take records a request of token at now and reports whether it is within
// limit requests in the 60 s before.
func (l requestLog) take(token string, limit int, now time.Time) bool {
	ts := l[token]
	cut := now.Add(-time.Minute)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) >= limit {
		l[token] = ts
		return false
	}
	l[token] = append(ts, now)
	return true
}

// renameKeys rewrites every object key of a JSON document with f.
func renameKeys(data []byte, f func(string) string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(rename(v, f))
}

func rename(v any, f func(string) string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[f(k)] = rename(val, f)
		}
		return out
	case []any:
		for i := range x {
			x[i] = rename(x[i], f)
		}
	}
	return v
}

func snakeToCamel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	up := false
	for _, r := range s {
		switch {
		case r == '_':
			up = true
		case up:
			b.WriteRune(unicode.ToUpper(r))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func camelToSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// protoNames rewrites a frame for the json-proto subprotocol.
func protoNames(data []byte) []byte {
	out, err := renameKeys(data, camelToSnake)
	if err != nil {
		return data
	}
	return out
}

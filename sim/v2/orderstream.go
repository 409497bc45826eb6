package v2sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"tvbridge/tinvest/wire"
)

// OrdersStreamService/OrderStateStream: the client's only frame is
// {"accounts": [...], "pingDelayMillis": ...}; the server answers with a
// subscription frame, then sends an orderState frame for every change of
// an order of those accounts (none listed: every account of the token) and
// a ping every pingDelayMillis (1 s to 120 s, default 120 s).

type orderStreams struct {
	srv   *Server
	mu    sync.Mutex
	conns map[*osConn]bool
}

type osConn struct {
	*wsConn
	token     string
	streamID  string
	accounts  map[string]bool // nil: every account of the token
	pingEvery time.Duration
	lastPing  time.Time
}

func (o *orderStreams) init(s *Server) {
	o.srv = s
	o.conns = make(map[*osConn]bool)
}

// serveOrderStream authenticates, upgrades and serves one order stream.
func (s *Server) serveOrderStream(w http.ResponseWriter, r *http.Request) {
	token, ok := streamAuth(r)
	if !ok || !s.acceptToken(token) {
		s.stats.refuse(http.StatusUnauthorized)
		s.writeError(w, http.StatusUnauthorized, wire.CodeUnauthenticated, wire.ErrUnauthenticated,
			"authentication token is missing or invalid")
		return
	}
	ws, err := upgrader.Upgrade(w, r, http.Header{wire.HeaderTrackingID: {s.trackingID()}})
	if err != nil {
		return
	}
	c := &osConn{wsConn: newWSConn(s, ws), token: token, streamID: derivedUUID("order stream", s.trackingID()),
		pingEvery: DefaultPingDelay}
	go c.writeLoop()
	defer c.abort()
	defer s.orders.remove(c)
	ws.SetReadLimit(maxClientFrame)
	for first := true; ; first = false {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if first && !s.orders.subscribe(c, data) {
			return
		}
	}
}

// subscribe answers the stream's request and reports whether the stream
// goes on: an account the token does not own refuses it (40004).
func (o *orderStreams) subscribe(c *osConn, data []byte) bool {
	s := o.srv
	var req wire.OrderStateStreamRequest
	if err := decodeRequest(data, &req); err != nil {
		c.closeWith(wire.CloseInvalidArgument, codeBadRequest+": bad request")
		return false
	}
	now := s.clock.Now()
	resp := &wire.SubscriptionResponse{TrackingID: s.trackingID(), StreamID: c.streamID,
		Status: wire.ResultSubscriptionStatusOK}
	accounts := req.Accounts
	if len(accounts) == 0 {
		accounts = s.broker.tokenAccounts(c.token, now)
	} else {
		c.accounts = make(map[string]bool, len(accounts))
		for _, id := range accounts {
			if !s.broker.ownsAccount(c.token, id) {
				resp.Status = wire.ResultSubscriptionStatusError
				resp.Error = &wire.ErrorDetail{Code: wire.ErrPermissionDeniedAcct, Message: "no access to account " + id}
			}
			c.accounts[id] = true
		}
	}
	resp.Accounts = slices.Clone(accounts)
	if ms := req.PingDelayMillis; ms > 0 {
		c.pingEvery = min(max(time.Duration(ms)*time.Millisecond, time.Second), 120*time.Second)
	}
	frame, _ := json.Marshal(wire.OrderStateStreamResponse{Subscription: resp})
	if resp.Status == wire.ResultSubscriptionStatusError {
		c.send(frame)
		c.closeWith(1000, "")
		return false
	}
	o.mu.Lock()
	c.lastPing = now
	o.conns[c] = true
	c.send(frame) // under the lock: no order state can overtake it
	o.mu.Unlock()
	return true
}

func (o *orderStreams) remove(c *osConn) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.conns, c)
}

// publish sends an order state to the streams following its account. It
// never blocks (the broker calls it under its lock). Under Stall nothing
// goes out.
func (o *orderStreams) publish(token, account string, st wire.StreamOrderState) {
	s := o.srv
	frame, err := json.Marshal(wire.OrderStateStreamResponse{OrderState: &st})
	if err != nil {
		s.log.Error("order state not encodable", "err", err)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for c := range o.conns {
		if c.token != token || (c.accounts != nil && !c.accounts[account]) {
			continue
		}
		if s.faults.stall.Load() {
			s.stats.withheld.Add(1)
			continue
		}
		c.send(frame)
		s.stats.orderStates.Add(1)
		if s.faults.duplicate.Load() {
			c.send(frame)
			s.stats.duplicated.Add(1)
		}
	}
}

// ping pings every order stream whose period is over.
func (o *orderStreams) ping(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for c := range o.conns {
		if now.Sub(c.lastPing) >= c.pingEvery {
			c.lastPing = now
			frame, _ := json.Marshal(wire.OrderStateStreamResponse{Ping: &wire.Ping{Time: wire.At(now), StreamID: c.streamID}})
			c.send(frame)
			o.srv.stats.pingsSent.Add(1)
		}
	}
}

// list returns the open order streams.
func (o *orderStreams) list() []*osConn {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]*osConn, 0, len(o.conns))
	for c := range o.conns {
		out = append(out, c)
	}
	return out
}

func (o *orderStreams) closeAll() {
	for _, c := range o.list() {
		c.abort()
	}
}

// Package stream is the client of the Tinkoff Invest OpenAPI v1 market-data
// stream (a JSON-over-WebSocket protocol, see
// ../shared/docs/tinkoff-openapi-v1.md section 1).
//
// A Pool keeps a desired set of subscriptions established over at most
// Config.MaxConnections WebSockets, each carrying at most
// Config.MaxPerConnection instruments, and delivers the events on one
// channel. It does what the official SDK leaves to the application: it
// reconnects with backoff and replays subscriptions, dedupes subscriptions
// and events, pings and watches for stalls, matches error events to the
// subscriptions that caused them, and keeps reading while the consumer
// lags.
//
// Two failures the service shows in the wild get their own machinery:
//
//   - Fewer connections than configured (shard.go). A 423 while some
//     connections are up teaches the pool the service's real cap: the
//     instruments of the slots that cannot connect move at once onto the
//     connections up (beyond MaxPerConnection if need be), one log line says
//     so, and one more connection is tried later (a 423 backoff, then every
//     CapRetry), which moves instruments back onto it when it opens.
//   - Silence with pings answered (silence.go). Connections and instruments
//     are judged by what they should be doing: an instrument in session
//     (Config.Active, or a trading status) that was recently active should
//     update about as often as it has been (a moving average of its gaps).
//     A connection that delivers no update while it should is reopened; an
//     instrument that goes quiet while its connection flows is resubscribed.
//     Each episode is logged once and backs off; meanwhile the instruments
//     are not live (StreamState).
//
// Goroutines: per connection slot one manager, which dials, reconnects and
// is the only writer of its socket, and one reader per open socket; per pool
// one output stage (output.go), one silence watchdog (silence.go) and one
// timer for the cap retries (shard.go).
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinkoff/wire"
)

// Pool is a set of stream connections serving one desired set of
// subscriptions. Create it with New, start it with Run. Subscribe,
// Unsubscribe, Events and Stats are safe for concurrent use, before and
// during Run; subscriptions made before Run are established when it starts.
type Pool struct {
	cfg    Config
	log    *slog.Logger
	clock  clock.Clock
	dialer *websocket.Dialer
	header http.Header
	bo     backoff
	out    *output
	inst   *instruments
	stats  counters
	fatal  chan error

	badFrameLog, unknownLog *logLimiter

	mu       sync.Mutex
	slots    []*slot          // MaxConnections of them; a slot has a socket only while it has subscriptions
	figiSlot map[string]*slot // where each subscribed FIGI lives; all its subscriptions share it
	// candleEpoch counts, per FIGI, the times its candle subscription was
	// sent on a live connection; see StreamState. Never reset, so a FIGI
	// unsubscribed and subscribed again cannot repeat an epoch; its size is
	// the FIGIs this process subscribed.
	candleEpoch map[string]uint64
	pending     []tvbridge.Subscription // desired but waiting for room, in arrival order
	requests    requestLog
	nextID      uint64
	gate        time.Time // no handshake before this, after a 423 or 429
	// capRetryAt is when the cap goroutine tries one more connection, while
	// 423s keep the pool below MaxConnections (shard.go); zero: not due.
	capRetryAt time.Time
	capWake    chan struct{} // capRetryAt changed
	runCtx     context.Context
	started    bool
	stopped    bool
	wg         sync.WaitGroup
}

// slot is one connection's share of the desired set. Fields are guarded by
// Pool.mu.
type slot struct {
	index int
	// subs holds the desired subscriptions by FIGI, each with the id of the
	// latest subscribe request sent for it ("" while none was sent).
	subs    map[string]map[tvbridge.Subscription]string
	nsubs   int
	conn    *conn // set while the socket is up; frames go through it
	running bool  // a manager goroutine owns the slot
	everUp  bool
	state   string
	retryAt time.Time
	dials   int64
	kick    chan struct{} // wakes the manager from a backoff wait: the slot was emptied or parked

	// Connection cap (shard.go).
	parked  bool      // beyond the cap the service allows: holds nothing, does not dial
	probe   bool      // parked, dialing once with nothing on it, to test whether the cap rose
	refused bool      // the last handshake got 423; the cap is not settled for it yet
	lockEnd time.Time // the end of that 423's backoff

	// Data silence (silence.go): an episode lasts from the first reconnect
	// for silence until the connection delivers an update again.
	silent         bool
	silentSince    time.Time // the connection's last update before the episode
	silenceBackoff uint8     // reconnects for silence in the episode; the threshold doubles per one
}

// New returns a pool for cfg; zero fields take their defaults.
func New(cfg Config) *Pool {
	cfg = cfg.withDefaults()
	p := &Pool{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "tinkoff/stream"),
		clock:       cfg.Clock,
		bo:          newBackoff(cfg.BackoffMin, cfg.BackoffMax),
		inst:        newInstruments(cfg.InstrumentStall),
		capWake:     make(chan struct{}, 1),
		fatal:       make(chan error, 1),
		figiSlot:    make(map[string]*slot),
		candleEpoch: make(map[string]uint64),
		requests:    newRequestLog(requestLogSize),
		dialer: &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: cfg.HandshakeTimeout,
			TLSClientConfig:  cfg.TLSConfig,
		},
		header:      http.Header{},
		badFrameLog: newLogLimiter(cfg.Clock, 10*time.Second),
		unknownLog:  newLogLimiter(cfg.Clock, time.Minute),
	}
	if cfg.Token != "" {
		p.header.Set("Authorization", "Bearer "+cfg.Token)
	}
	p.out = newOutput(cfg.EventBuffer, &p.stats.duplicates, &p.stats.coalesced)
	for i := range cfg.MaxConnections {
		p.slots = append(p.slots, &slot{index: i, subs: make(map[string]map[tvbridge.Subscription]string),
			state: stateIdle, kick: make(chan struct{}, 1)})
	}
	return p
}

// Run connects as the desired set requires and serves it until ctx is done,
// then closes every connection and the Events channel and returns nil. It
// returns early with an error wrapping ErrUnauthorized or ErrForbidden when
// the service rejects the token, since retrying cannot help. Call it once.
func (p *Pool) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return errors.New("stream: Pool.Run called more than once")
	}
	p.started, p.runCtx = true, runCtx
	watch := p.clock.NewTicker(p.watchPeriod())
	p.wg.Add(3)
	go func() {
		defer p.wg.Done()
		p.out.run(runCtx)
	}()
	go p.watchSilence(runCtx, watch)
	go p.watchCap(runCtx)
	for _, s := range p.slots {
		p.startSlotLocked(s)
	}
	p.mu.Unlock()
	p.log.Info("stream pool running", "url", redactURL(p.cfg.URL),
		"max_connections", p.cfg.MaxConnections, "max_per_connection", p.cfg.MaxPerConnection)

	var err error
	select {
	case <-ctx.Done():
	case err = <-p.fatal:
		p.log.Error("stream pool stopping: the service rejected the credentials", "err", err)
	}
	cancel()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wg.Wait()
	p.out.close()
	return err
}

// Events delivers stream events: *tvbridge.CandleEvent, *OrderBookEvent,
// *InstrumentInfoEvent and *ErrorEvent, each a fresh value the consumer may
// keep. The channel is never closed while Run runs, and is closed once Run
// has returned.
func (p *Pool) Events() <-chan tvbridge.Event { return p.out.ch }

// Subscribe adds subscriptions to the desired set. Subscribing to something
// already desired does nothing (the service would otherwise send every event
// twice). An invalid subscription (unknown kind, empty FIGI, bad interval,
// depth outside 1..20) is reported as an *tvbridge.ErrorEvent and ignored.
func (p *Pool) Subscribe(subs ...tvbridge.Subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sub := range subs {
		norm, err := normalize(sub)
		if err != nil {
			p.rejectLocked(sub, err)
			continue
		}
		p.subscribeLocked(norm)
	}
}

// Unsubscribe removes subscriptions from the desired set. The unsubscribe
// frame is sent only if the subscription's connection is up; otherwise
// changing the set is enough, as nothing is replayed for it.
func (p *Pool) Unsubscribe(subs ...tvbridge.Subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sub := range subs {
		norm, err := normalize(sub)
		if err != nil {
			continue // it cannot have been subscribed
		}
		if p.dropPendingLocked(norm) {
			continue
		}
		s := p.figiSlot[norm.FIGI]
		if s == nil {
			continue
		}
		if _, ok := s.subs[norm.FIGI][norm]; !ok {
			continue
		}
		p.removeLocked(s, norm, true)
	}
	p.placePendingLocked()
}

// Stats returns a snapshot of the pool's counters and connections.
func (p *Pool) Stats() Stats {
	st := p.stats.snapshot()
	st.Queued = p.out.waiting()
	st.SilentInstruments = p.inst.silentCount()
	p.mu.Lock()
	defer p.mu.Unlock()
	st.Pending = len(p.pending)
	st.ConnectionCap = p.capLocked()
	st.PerConnectionLimit = p.perConnLocked()
	st.CapRetryAt = p.capRetryAt
	for _, s := range p.slots {
		st.Subscriptions += s.nsubs
		cs := ConnStats{
			Index: s.index, State: s.state, Instruments: len(s.subs),
			Subscriptions: s.nsubs, Dials: s.dials, RetryAt: s.retryAt,
			Silent: p.slotSilentLocked(s),
		}
		if s.parked && !s.running {
			cs.State = stateParked
		}
		if s.conn != nil {
			cs.LastData = s.conn.lastDataTime()
		}
		if cs.Silent {
			st.SilentConnections++
		}
		st.Connections = append(st.Connections, cs)
	}
	return st
}

// StreamState tells, for figi, whether its candle subscription is live and
// a counter that changes every time that subscription is sent again: at a
// (re)connect, when it moved to another connection (the service accepts
// fewer connections than configured, or one more became available), or when
// the instrument was found silent and resubscribed. Live means on a
// connected socket and not in a silence episode: from the moment the
// watchdog finds the instrument, or its connection, silent while it should
// be active until it sends updates again. Around each change, and while it
// is not live, the stream may have missed figi's candles; package ingest
// leaves those minutes to the REST backfill, for the instruments concerned
// only.
func (p *Pool) StreamState(figi string) (epoch uint64, live bool) {
	p.mu.Lock()
	epoch = p.candleEpoch[figi]
	s := p.figiSlot[figi]
	live = s != nil && s.conn != nil && !p.slotSilentLocked(s) && hasCandle(s.subs[figi])
	p.mu.Unlock()
	return epoch, live && !p.inst.silentNow(figi)
}

// hasCandle reports whether a FIGI's subscriptions include a candle one.
func hasCandle(subs map[tvbridge.Subscription]string) bool {
	for sub := range subs {
		if sub.Kind == tvbridge.SubCandle {
			return true
		}
	}
	return false
}

// normalize checks a subscription and clears the fields its kind does not
// use, so that equal subscriptions compare equal.
func normalize(sub tvbridge.Subscription) (tvbridge.Subscription, error) {
	if sub.FIGI == "" {
		return sub, errors.New("empty FIGI")
	}
	switch sub.Kind {
	case tvbridge.SubCandle:
		if !sub.Interval.Valid() {
			return sub, fmt.Errorf("unknown candle interval %q", sub.Interval)
		}
		sub.Depth = 0
	case tvbridge.SubOrderBook:
		if sub.Depth < 1 || sub.Depth > 20 {
			return sub, fmt.Errorf("order book depth %d outside 1..20", sub.Depth)
		}
		sub.Interval = ""
	case tvbridge.SubInstrumentInfo:
		sub.Interval, sub.Depth = "", 0
	default:
		return sub, fmt.Errorf("unknown subscription kind %q", sub.Kind)
	}
	return sub, nil
}

// rejectLocked reports an invalid subscription to the consumer.
func (p *Pool) rejectLocked(sub tvbridge.Subscription, err error) {
	p.log.Warn("invalid subscription ignored", "subscription", sub.String(), "err", err)
	p.out.error(&tvbridge.ErrorEvent{
		EventMeta:    tvbridge.EventMeta{Received: p.clock.Now()},
		Message:      "stream: invalid subscription " + sub.String() + ": " + err.Error(),
		Subscription: &sub,
	})
}

func (p *Pool) subscribeLocked(sub tvbridge.Subscription) {
	if p.desiredLocked(sub) {
		p.stats.dupSubscribes.Add(1)
		return
	}
	s := p.slotForLocked(sub.FIGI)
	if s == nil {
		p.pending = append(p.pending, sub)
		p.log.Warn("no room for a subscription: every connection carries the maximum of instruments; it waits",
			"subscription", sub.String(), "max_connections", p.cfg.MaxConnections,
			"max_per_connection", p.cfg.MaxPerConnection)
		return
	}
	p.addLocked(s, sub)
}

// desiredLocked reports whether sub is in the desired set, placed or pending.
func (p *Pool) desiredLocked(sub tvbridge.Subscription) bool {
	if s := p.figiSlot[sub.FIGI]; s != nil {
		if _, ok := s.subs[sub.FIGI][sub]; ok {
			return true
		}
	}
	return slices.Contains(p.pending, sub)
}

// addLocked places sub on s and, if s is connected, subscribes at once.
func (p *Pool) addLocked(s *slot, sub tvbridge.Subscription) {
	bySub := s.subs[sub.FIGI]
	if bySub == nil {
		bySub = make(map[tvbridge.Subscription]string)
		s.subs[sub.FIGI] = bySub
		p.figiSlot[sub.FIGI] = s
		p.inst.track(sub.FIGI, p.clock.Now())
	}
	bySub[sub] = ""
	s.nsubs++
	if s.conn != nil {
		bySub[sub] = p.sendLocked(s, sub, true)
	}
	p.startSlotLocked(s)
}

// removeLocked takes sub off s, telling the service if notify is set and
// the connection is up. A slot left empty closes its connection.
func (p *Pool) removeLocked(s *slot, sub tvbridge.Subscription, notify bool) {
	delete(s.subs[sub.FIGI], sub)
	s.nsubs--
	if notify && s.conn != nil {
		p.sendLocked(s, sub, false)
	}
	if len(s.subs[sub.FIGI]) == 0 {
		delete(s.subs, sub.FIGI)
		delete(p.figiSlot, sub.FIGI)
		p.inst.untrack(sub.FIGI)
	}
	p.out.forget(sub)
	if s.nsubs == 0 {
		p.emptiedLocked(s)
	}
}

// dropPendingLocked removes sub from the waiting list, if it is there.
func (p *Pool) dropPendingLocked(sub tvbridge.Subscription) bool {
	i := slices.Index(p.pending, sub)
	if i < 0 {
		return false
	}
	p.pending = slices.Delete(p.pending, i, i+1)
	return true
}

// placePendingLocked moves waiting subscriptions onto slots that have room.
func (p *Pool) placePendingLocked() {
	waiting := p.pending
	p.pending = nil
	for _, sub := range waiting {
		if s := p.slotForLocked(sub.FIGI); s != nil {
			p.addLocked(s, sub)
		} else {
			p.pending = append(p.pending, sub)
		}
	}
}

// emptiedLocked lets go of a slot that has no subscriptions left: its
// connection closes, and a manager waiting to redial exits.
func (p *Pool) emptiedLocked(s *slot) {
	if s.conn != nil {
		s.conn.retire()
	}
	s.silent, s.silenceBackoff = false, 0 // nothing left to be silent about
	signal(s.kick)
}

// signal wakes the owner of a one-slot channel without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// startSlotLocked starts the slot's manager if the pool runs, the slot has
// subscriptions and no manager owns it yet.
func (p *Pool) startSlotLocked(s *slot) {
	if !p.started || p.stopped || s.running || (s.nsubs == 0 && !s.probe) {
		return
	}
	// Dialing from now on as far as settleCapLocked goes: the manager dials
	// as soon as it runs, unless dialDelay finds it must wait.
	s.running, s.state = true, stateDialing
	p.wg.Add(1)
	go p.runSlot(p.runCtx, s)
}

// sendLocked queues a subscribe or unsubscribe frame for sub on s's
// connection and returns its request id.
func (p *Pool) sendLocked(s *slot, sub tvbridge.Subscription, subscribe bool) string {
	if subscribe && sub.Kind == tvbridge.SubCandle {
		p.candleEpoch[sub.FIGI]++
	}
	p.nextID++
	id := strconv.FormatUint(p.nextID, 10)
	p.requests.add(&request{id: id, slot: s.index, sub: sub, subscribe: subscribe})
	s.conn.send(streamRequest(sub, subscribe, id))
	return id
}

// streamRequest builds the frame for sub. Depth goes out as an integer on
// unsubscribe too: the service rejects it quoted or missing.
func streamRequest(sub tvbridge.Subscription, subscribe bool, id string) wire.StreamRequest {
	action := ":unsubscribe"
	if subscribe {
		action = ":subscribe"
	}
	return wire.StreamRequest{
		Event:     string(sub.Kind) + action,
		FIGI:      sub.FIGI,
		Interval:  string(sub.Interval),
		Depth:     sub.Depth,
		RequestID: id,
	}
}

// register makes c the slot's live connection and queues the replay of the
// slot's whole set. Done under the lock, so a concurrent Subscribe lands
// either in the replay or after it, never in both or neither.
func (p *Pool) register(c *conn) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := c.slot
	s.conn, s.state, s.retryAt, s.refused = c, stateUp, time.Time{}, false
	if s.everUp {
		p.stats.reconnects.Add(1)
	}
	s.everUp = true
	now := p.clock.Now()
	n := 0
	for _, figi := range sortedKeys(s.subs) {
		p.inst.track(figi, now)
		bySub := s.subs[figi]
		for _, sub := range sortedSubs(bySub) {
			bySub[sub] = p.sendLocked(s, sub, true)
			n++
		}
	}
	if s.probe {
		p.capRaisedLocked(s)
	}
	p.settleCapLocked()
	return n
}

// unregister detaches c from its slot.
func (p *Pool) unregister(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.slot.conn == c {
		c.slot.conn = nil
	}
}

// serverError handles an error event: it matches the event to the request
// that caused it, removes a refused subscription from the desired set (so it
// is reported once, not replayed forever) and delivers the event.
func (p *Pool) serverError(slotIndex int, f *frame, meta tvbridge.EventMeta) {
	p.stats.serverErrors.Add(1)
	ev := &tvbridge.ErrorEvent{EventMeta: meta, Message: f.errText, RequestID: f.requestID}
	p.mu.Lock()
	req := p.requests.match(slotIndex, f.requestID, f.errText)
	if req != nil && req.reported {
		p.mu.Unlock()
		p.stats.duplicates.Add(1) // the same refusal again: already reported
		return
	}
	if req != nil {
		req.reported = true
		sub := req.sub
		ev.Subscription = &sub
		if req.subscribe {
			p.refuseLocked(req)
		}
	}
	p.mu.Unlock()
	p.log.Warn("stream error event", "conn", slotIndex, "error", f.errText,
		"request_id", f.requestID, "subscription", subscriptionName(ev.Subscription))
	p.out.error(ev)
}

// refuseLocked removes the subscription a failed subscribe request was for,
// unless it has been subscribed again since (a newer request is in flight).
func (p *Pool) refuseLocked(req *request) {
	s := p.figiSlot[req.sub.FIGI]
	if s == nil {
		return
	}
	if latest, ok := s.subs[req.sub.FIGI][req.sub]; !ok || latest != req.id {
		return
	}
	p.stats.refused.Add(1)
	p.log.Warn("subscription refused by the service; removed from the desired set",
		"subscription", req.sub.String(), "conn", s.index)
	p.removeLocked(s, req.sub, false)
	p.placePendingLocked()
}

// fail reports a fatal error to Run.
func (p *Pool) fail(err error) {
	select {
	case p.fatal <- err:
	default:
	}
}

func subscriptionName(sub *tvbridge.Subscription) string {
	if sub == nil {
		return "(unmatched)"
	}
	return sub.String()
}

// sortedKeys and sortedSubs give replays a stable order, which keeps logs
// and tests readable.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedSubs(m map[tvbridge.Subscription]string) []tvbridge.Subscription {
	subs := make([]tvbridge.Subscription, 0, len(m))
	for sub := range m {
		subs = append(subs, sub)
	}
	slices.SortFunc(subs, func(a, b tvbridge.Subscription) int { return strings.Compare(a.String(), b.String()) })
	return subs
}

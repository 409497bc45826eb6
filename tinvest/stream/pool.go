// Package stream is the client of T-Invest API v2's market-data stream
// (MarketDataStream over the WebSocket JSON interface, see
// ../shared/docs/tinkoff-invest-api-v2.md).
//
// A Pool keeps a desired set of subscriptions (candles, order books,
// trades, trading statuses) established over several streams within the
// service's limits, and delivers the events on one channel as tvbridge
// events. It is the v2 sibling of package tinkoff/stream and follows its
// design: desired state replayed on every (re)connect, reconnects with
// backoff and jitter, dedupe of subscriptions and events, a decoder that
// survives whatever comes (fuzzed), a delivery stage that never blocks the
// sockets, the same silence watchdogs (per stream data silence and
// per-instrument adaptive silence, with an Active hook), and StreamState.
//
// v2's limits and protocol, and what the pool does about them:
//
//   - Streams: at most Config.MaxStreams per token (16), of which
//     SpareStreams (1) stay unused so a reconnect never meets the limit
//     while the service still counts a dropped stream. Streams open
//     lazily, as subscriptions need them.
//   - The stream cap (cap.go): when the service refuses a stream with
//     4008 80001 (another client of the token, or a lower tariff, holds
//     streams) while some of the pool's streams are up, the pool learns
//     that it may use only those (Stats.StreamCap), parks the other slots
//     and moves their instruments onto the streams up, where they fit
//     under MaxSubscriptionsPerStream (a hard limit: it is never raised);
//     the rest wait in Stats.Pending, and ingest serves them from REST. It
//     tries one more stream every CapRetry (10m) and raises the cap when
//     the service accepts it. A refusal with no stream up says nothing
//     about the cap: every dial waits a long backoff. A stream counts as
//     up once the service answered on it (the pool sends a ping request
//     after pingSettings for that).
//   - At most MaxSubscriptionsPerStream (300) candle, order-book and trade
//     subscriptions per stream (trading statuses do not count). All of an
//     instrument's subscriptions share one stream; instruments fill the
//     streams in order; beyond the total, subscriptions wait (Stats.Pending)
//     and are placed as room frees.
//   - At most RequestsPerMinute (100) subscription requests a minute over
//     all streams, enforced as a sliding window; each request carries up
//     to MaxInstrumentsPerRequest instruments of one kind, so replaying a
//     full stream takes a handful of requests.
//   - Every request is answered with a status per instrument. SUCCESS makes
//     the subscription live. TOO_MANY_REQUESTS and INTERNAL_ERROR: reported
//     (an *tvbridge.ErrorEvent with the Subscription) and sent again after
//     RefusedRetry. LIMIT_IS_EXCEEDED: reported; the stream is taken as full
//     at its live count, and the instrument moves to another stream, or is
//     sent again later. INSTRUMENT_NOT_FOUND and the invalid-request
//     statuses: reported and removed from the desired set. A refused
//     subscription is never live.
//   - The server pings every PingDelay (asked with pingSettings, 15 s); a
//     stream with no frame for StallTimeout is reopened.
//   - A stream left without subscriptions is closed by the pool before the
//     service closes it (80004); an 80004 close anyway is reconnected at
//     once if the stream has subscriptions again. Close codes: 4016
//     UNAUTHENTICATED is fatal (Run returns an error matching
//     ErrUnauthenticated), 4008 RESOURCE_EXHAUSTED with 80001 (too many
//     streams) goes to the stream cap, other 4008s hold every stream's
//     dials for a long backoff, 4003 and 4004 reconnect with backoff.
//   - Auth: "Authorization: Bearer" on the handshake, or the token as the
//     second subprotocol (Config.AuthSubprotocol); subprotocol "json".
//
// Order books are subscribed at the nearest allowed depth up (1, 10, 20,
// 30, 40, 50): Subscribe normalises the Subscription's Depth to it, and
// events and errors carry the normalised depth.
//
// Goroutines: per stream slot one manager (dials, reconnects, the only
// writer of its socket, sends the requests within the budget) and one
// reader per open socket; per pool one output stage and one silence
// watchdog.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinvest/wire"
)

// phase is where a desired subscription stands on its stream's socket.
type phase uint8

const (
	phaseQueued phase = iota // to be sent on the current (or next) socket
	phaseSent                // sent, waiting for the service's status
	phaseLive                // the service answered SUCCESS
	phaseRetry               // refused for now; queued again at retryAt
)

type subState struct {
	phase   phase
	retryAt time.Time
	req     *sentRequest // the request that carried it, while phaseSent
}

// sentRequest is a subscribe or unsubscribe request on a socket, kept until
// its response (the service answers each kind's requests in order).
type sentRequest struct {
	kind      tvbridge.SubscriptionKind
	subscribe bool
	items     []tvbridge.Subscription
	ids       []string // the instrumentId sent for each item
}

// Pool is a set of streams serving one desired set of subscriptions.
// Create it with New, start it with Run. Subscribe, Unsubscribe, Events,
// StreamState and Stats are safe for concurrent use, before and during Run.
type Pool struct {
	cfg    Config
	url    string
	log    *slog.Logger
	clock  clock.Clock
	dialer *websocket.Dialer
	header http.Header
	bo     backoff
	out    *output
	inst   *instruments
	stats  counters
	fatal  chan error
	jitter func(n int64) int64

	badFrameLog, unknownLog, dropLog *logLimiter

	// uids maps instrument uids to FIGIs (copy on write, read per frame).
	uids    atomic.Pointer[map[string]string]
	newUIDs map[string]string // noted, not yet in uids (publishUIDsLocked)

	mu          sync.Mutex
	slots       []*slot
	figiSlot    map[string]*slot
	candleEpoch map[string]uint64 // see StreamState; never reset
	pending     []tvbridge.Subscription
	budget      budget
	gate        time.Time // no handshake before this (after a 429 or 4008)
	// capRetryAt is when the cap goroutine tries one more stream, while the
	// stream cap is below the slots (cap.go); zero: not due.
	capRetryAt time.Time
	capWake    chan struct{} // capRetryAt changed
	runCtx     context.Context
	started    bool
	stopped    bool
	wg         sync.WaitGroup
}

// slot is one stream's share of the desired set; guarded by Pool.mu.
type slot struct {
	index int
	subs  map[string]map[tvbridge.Subscription]*subState // by FIGI
	nsubs int                                            // candle, book and trade subscriptions
	ninfo int                                            // trading-status subscriptions
	// unsubs are unsubscribe requests to send on the current socket.
	unsubs []tvbridge.Subscription
	// capOverride, when > 0, lowers the stream's capacity after the
	// service said LIMIT_IS_EXCEEDED, until the stream reconnects.
	capOverride int
	conn        *conn
	running     bool
	everUp      bool
	state       string
	retryAt     time.Time
	dials       int64
	kick        chan struct{}

	silent         bool
	silentSince    time.Time
	silenceBackoff uint8

	// The stream cap (cap.go).
	parked  bool      // beyond the streams the service accepts: holds nothing, does not dial
	probe   bool      // parked, dialing once with nothing on it, to test whether the cap rose
	refused bool      // the service's last answer was 80001; the cap is not settled for it yet
	lockEnd time.Time // the end of that refusal's backoff
}

// New returns a pool for cfg; zero fields take their defaults.
func New(cfg Config) *Pool {
	cfg = cfg.withDefaults()
	p := &Pool{
		cfg:         cfg,
		url:         streamURL(cfg.URL),
		log:         cfg.Logger.With("component", "tinvest/stream"),
		clock:       cfg.Clock,
		bo:          newBackoff(cfg.BackoffMin, cfg.BackoffMax),
		inst:        newInstruments(cfg.InstrumentStall),
		fatal:       make(chan error, 1),
		jitter:      rand.Int64N,
		figiSlot:    make(map[string]*slot),
		candleEpoch: make(map[string]uint64),
		capWake:     make(chan struct{}, 1),
		budget:      budget{limit: cfg.RequestsPerMinute, window: time.Minute},
		header:      http.Header{},
		badFrameLog: newLogLimiter(cfg.Clock, 10*time.Second),
		unknownLog:  newLogLimiter(cfg.Clock, time.Minute),
		dropLog:     newLogLimiter(cfg.Clock, 10*time.Second),
	}
	p.dialer = &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: cfg.HandshakeTimeout,
		TLSClientConfig:  cfg.TLSConfig,
		Subprotocols:     []string{wire.SubprotocolJSON},
	}
	if cfg.Token != "" {
		if cfg.AuthSubprotocol {
			p.dialer.Subprotocols = append(p.dialer.Subprotocols, cfg.Token)
		} else {
			p.header.Set("Authorization", "Bearer "+cfg.Token)
		}
	}
	if cfg.AppName != "" {
		p.header.Set(wire.HeaderAppName, cfg.AppName)
	}
	p.out = newOutput(cfg.EventBuffer, cfg.MaxQueued, &p.stats.duplicates, &p.stats.coalesced)
	for i := range cfg.MaxStreams - cfg.SpareStreams {
		p.slots = append(p.slots, &slot{index: i, subs: make(map[string]map[tvbridge.Subscription]*subState),
			state: stateIdle, kick: make(chan struct{}, 1)})
	}
	return p
}

// Run connects as the desired set requires and serves it until ctx is
// done, then closes every stream and the Events channel and returns nil.
// It returns early with an error matching ErrUnauthenticated or
// ErrPermissionDenied when the service refuses the token. Call it once.
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
	p.log.Info("stream pool running", "url", redactURL(p.url), "streams", len(p.slots),
		"spare", p.cfg.SpareStreams, "subscriptions_per_stream", p.cfg.MaxSubscriptionsPerStream,
		"requests_per_minute", p.cfg.RequestsPerMinute)
	var err error
	select {
	case <-ctx.Done():
	case err = <-p.fatal:
		p.log.Error("stream pool stopping: the service refused the token", "err", err)
	}
	cancel()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wg.Wait()
	p.out.close()
	return err
}

// Events delivers *tvbridge.CandleEvent, *TradeEvent, *OrderBookEvent,
// *InstrumentInfoEvent and *ErrorEvent, each a fresh value. The channel is
// never closed while Run runs, and is closed once Run has returned.
func (p *Pool) Events() <-chan tvbridge.Event { return p.out.ch }

// Subscribe adds subscriptions to the desired set. One already desired is
// ignored. An invalid one (unknown kind, empty FIGI, unknown interval,
// depth outside 1..50) is reported as an *tvbridge.ErrorEvent and ignored.
func (p *Pool) Subscribe(subs ...tvbridge.Subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.publishUIDsLocked()
	for _, sub := range subs {
		norm, err := Normalize(sub)
		if err != nil {
			p.log.Warn("invalid subscription ignored", "subscription", sub.String(), "err", err)
			p.out.error(&tvbridge.ErrorEvent{EventMeta: tvbridge.EventMeta{Received: p.clock.Now()},
				Message: "stream: invalid subscription " + sub.String() + ": " + err.Error(), Subscription: &sub})
			continue
		}
		if p.desiredLocked(norm) {
			p.stats.dupSubs.Add(1)
			continue
		}
		p.placeLocked(norm)
	}
}

// Unsubscribe removes subscriptions from the desired set; the service is
// told if the subscription was sent on a live socket.
func (p *Pool) Unsubscribe(subs ...tvbridge.Subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sub := range subs {
		norm, err := Normalize(sub)
		if err != nil {
			continue
		}
		if i := slices.Index(p.pending, norm); i >= 0 {
			p.pending = slices.Delete(p.pending, i, i+1)
			continue
		}
		if s := p.figiSlot[norm.FIGI]; s != nil && s.subs[norm.FIGI][norm] != nil {
			p.removeLocked(s, norm, true)
		}
	}
	p.placePendingLocked()
}

// StreamState tells, for figi, whether its candle subscription is live and
// a counter that changes every time that subscription is sent again: at a
// (re)connect, when it moved to another stream, when it was found silent
// and resubscribed, when it is sent again after a refusal, and when trades
// were dropped for it. Live means the service confirmed the subscription
// (SUCCESS) on the current socket and neither the instrument nor its
// stream is in a silence episode. Around each change, and while it is not
// live, the stream may have missed figi's data; package ingest leaves those
// minutes to the REST backfill, for the instruments concerned only.
func (p *Pool) StreamState(figi string) (epoch uint64, live bool) {
	p.mu.Lock()
	epoch = p.candleEpoch[figi]
	s := p.figiSlot[figi]
	live = s != nil && s.conn != nil && !p.slotSilentLocked(s) && candleLive(s.subs[figi])
	p.mu.Unlock()
	return epoch, live && !p.inst.silentNow(figi)
}

func candleLive(subs map[tvbridge.Subscription]*subState) bool {
	for sub, st := range subs {
		if sub.Kind == tvbridge.SubCandle && st.phase == phaseLive {
			return true
		}
	}
	return false
}

// Stats returns a snapshot of the pool's counters and streams.
func (p *Pool) Stats() Stats {
	st := p.stats.snapshot()
	st.Queued = p.out.waiting()
	st.SilentInstruments = p.inst.silentCount()
	p.mu.Lock()
	defer p.mu.Unlock()
	st.Pending = len(p.pending)
	st.StreamCap = p.capLocked()
	st.CapRetryAt = p.capRetryAt
	for _, s := range p.slots {
		ss := StreamStats{Index: s.index, State: s.state, Instruments: len(s.subs), Subscriptions: s.nsubs,
			Info: s.ninfo, Dials: s.dials, RetryAt: s.retryAt, Silent: p.slotSilentLocked(s)}
		if s.parked && !s.running {
			ss.State = stateParked
		}
		for _, bySub := range s.subs {
			for _, sst := range bySub {
				if sst.phase == phaseLive && s.conn != nil {
					ss.Live++
				}
			}
		}
		if s.conn != nil {
			ss.LastData = s.conn.lastDataTime()
		}
		if ss.Silent {
			st.SilentConnections++
		}
		st.Subscriptions += s.nsubs + s.ninfo
		st.Live += ss.Live
		st.Streams = append(st.Streams, ss)
	}
	return st
}

// Normalize checks a subscription and puts it in the pool's canonical
// form: fields its kind does not use cleared, an order book's depth raised
// to the nearest depth the service accepts.
func Normalize(sub tvbridge.Subscription) (tvbridge.Subscription, error) {
	if sub.FIGI == "" {
		return sub, errors.New("empty FIGI")
	}
	switch sub.Kind {
	case tvbridge.SubCandle:
		if _, ok := subscriptionIntervals[sub.Interval]; !ok {
			return sub, fmt.Errorf("candle interval %q has no stream subscription", sub.Interval)
		}
		sub.Depth = 0
	case tvbridge.SubOrderBook:
		d := serviceDepth(sub.Depth)
		if d == 0 {
			return sub, fmt.Errorf("order book depth %d outside 1..50", sub.Depth)
		}
		sub.Depth, sub.Interval = d, ""
	case tvbridge.SubTrade, tvbridge.SubInstrumentInfo:
		sub.Interval, sub.Depth = "", 0
	default:
		return sub, fmt.Errorf("unknown subscription kind %q", sub.Kind)
	}
	return sub, nil
}

// serviceDepth is the nearest allowed book depth up (0: none).
func serviceDepth(depth int) int {
	for _, d := range [...]int{1, 10, 20, 30, 40, 50} {
		if depth >= 1 && depth <= d {
			return d
		}
	}
	return 0
}

// weight is what a subscription counts toward MaxSubscriptionsPerStream.
func weight(sub tvbridge.Subscription) int {
	if sub.Kind == tvbridge.SubInstrumentInfo {
		return 0
	}
	return 1
}

func (p *Pool) desiredLocked(sub tvbridge.Subscription) bool {
	if s := p.figiSlot[sub.FIGI]; s != nil && s.subs[sub.FIGI][sub] != nil {
		return true
	}
	return slices.Contains(p.pending, sub)
}

func (p *Pool) capOf(s *slot) int {
	if s.capOverride > 0 {
		return min(s.capOverride, p.cfg.MaxSubscriptionsPerStream)
	}
	return p.cfg.MaxSubscriptionsPerStream
}

// placeLocked puts sub on a stream with room, or in the waiting list.
func (p *Pool) placeLocked(sub tvbridge.Subscription) {
	need := weight(sub)
	if cur := p.figiSlot[sub.FIGI]; cur != nil {
		if cur.nsubs+need <= p.capOf(cur) {
			p.addLocked(cur, sub)
			return
		}
		// The instrument's stream is full: move all of it where it fits.
		if to := p.slotWithRoomLocked(weights(cur.subs[sub.FIGI])+need, cur); to != nil {
			p.moveLocked(sub.FIGI, cur, to)
			p.addLocked(to, sub)
			return
		}
	} else if s := p.slotWithRoomLocked(need, nil); s != nil {
		p.addLocked(s, sub)
		return
	}
	p.pending = append(p.pending, sub)
	p.log.Warn("no room for a subscription: every stream carries the maximum; it waits",
		"subscription", sub.String(), "streams", p.capLocked(), "slots", len(p.slots), "per_stream", p.cfg.MaxSubscriptionsPerStream)
}

func weights(subs map[tvbridge.Subscription]*subState) int {
	n := 0
	for sub := range subs {
		n += weight(sub)
	}
	return n
}

// slotWithRoomLocked returns the first stream in use with room for need
// more, else the first unused one, else nil.
func (p *Pool) slotWithRoomLocked(need int, except *slot) *slot {
	var unused *slot
	for _, s := range p.slots {
		switch {
		case s == except || s.parked:
		case len(s.subs) == 0:
			if unused == nil && need <= p.cfg.MaxSubscriptionsPerStream {
				unused = s
			}
		case s.nsubs+need <= p.capOf(s):
			return s
		}
	}
	return unused
}

// addLocked places sub on s, queued for its socket.
func (p *Pool) addLocked(s *slot, sub tvbridge.Subscription) {
	bySub := s.subs[sub.FIGI]
	if bySub == nil {
		bySub = make(map[tvbridge.Subscription]*subState)
		s.subs[sub.FIGI] = bySub
		p.figiSlot[sub.FIGI] = s
		p.inst.track(sub.FIGI, p.clock.Now())
		p.noteUIDLocked(sub.FIGI)
	}
	bySub[sub] = &subState{phase: phaseQueued}
	p.countLocked(s, sub, +1)
	p.wakeLocked(s)
	p.startSlotLocked(s)
}

func (p *Pool) countLocked(s *slot, sub tvbridge.Subscription, d int) {
	if weight(sub) == 0 {
		s.ninfo += d
	} else {
		s.nsubs += d
	}
}

// removeLocked takes sub off s; with notify, an unsubscribe is sent if the
// service has (or may have) it. A stream left empty closes.
func (p *Pool) removeLocked(s *slot, sub tvbridge.Subscription, notify bool) {
	st := s.subs[sub.FIGI][sub]
	delete(s.subs[sub.FIGI], sub)
	p.countLocked(s, sub, -1)
	if notify && s.conn != nil && st != nil && (st.phase == phaseSent || st.phase == phaseLive) {
		s.unsubs = append(s.unsubs, sub)
		p.wakeLocked(s)
	}
	if len(s.subs[sub.FIGI]) == 0 {
		delete(s.subs, sub.FIGI)
		delete(p.figiSlot, sub.FIGI)
		p.inst.untrack(sub.FIGI)
	}
	p.out.forget(sub)
	if len(s.subs) == 0 {
		p.emptiedLocked(s)
	}
}

// moveLocked moves figi's subscriptions from one stream to another.
func (p *Pool) moveLocked(figi string, from, to *slot) {
	bySub := from.subs[figi]
	delete(from.subs, figi)
	for sub, st := range bySub {
		p.countLocked(from, sub, -1)
		p.countLocked(to, sub, +1)
		if from.conn != nil && (st.phase == phaseSent || st.phase == phaseLive) {
			from.unsubs = append(from.unsubs, sub)
		}
		bySub[sub] = &subState{phase: phaseQueued}
	}
	to.subs[figi] = bySub
	p.figiSlot[figi] = to
	p.inst.track(figi, p.clock.Now())
	p.stats.moved.Add(1)
	p.wakeLocked(from)
	p.wakeLocked(to)
	p.startSlotLocked(to)
	if len(from.subs) == 0 {
		p.emptiedLocked(from)
	}
}

// placePendingLocked places waiting subscriptions where room freed up.
func (p *Pool) placePendingLocked() {
	defer p.publishUIDsLocked()
	waiting := p.pending
	p.pending = nil
	for _, sub := range waiting {
		need := weight(sub)
		cur := p.figiSlot[sub.FIGI]
		if (cur != nil && cur.nsubs+need <= p.capOf(cur)) || (cur == nil && p.slotWithRoomLocked(need, nil) != nil) {
			p.placeLocked(sub)
		} else {
			p.pending = append(p.pending, sub)
		}
	}
}

// emptiedLocked lets go of a stream with nothing left: its socket closes
// (before the service would close it with 80004).
func (p *Pool) emptiedLocked(s *slot) {
	if s.conn != nil {
		s.conn.retire()
	}
	s.unsubs = nil
	s.capOverride = 0
	s.silent, s.silenceBackoff = false, 0
	signal(s.kick)
}

// resendLocked queues figi's subscriptions on s again (unsubscribing what
// the service has first), for the silence watchdog.
func (p *Pool) resendLocked(s *slot, figi string) {
	for sub, st := range s.subs[figi] {
		if s.conn != nil && (st.phase == phaseSent || st.phase == phaseLive) {
			s.unsubs = append(s.unsubs, sub)
		}
		*st = subState{phase: phaseQueued}
	}
	p.wakeLocked(s)
}

func (p *Pool) wakeLocked(s *slot) {
	if s.conn != nil {
		signal(s.conn.wake)
	}
}

// noteUIDLocked records figi's uid for the frame decoder (frames name
// instruments by uid as well as FIGI; the uid is the unambiguous one).
func (p *Pool) noteUIDLocked(figi string) {
	id := p.instrumentID(figi)
	if id == figi {
		return
	}
	if old := p.uids.Load(); old != nil && (*old)[id] == figi {
		return
	}
	if p.newUIDs == nil {
		p.newUIDs = make(map[string]string)
	}
	p.newUIDs[id] = figi
}

// publishUIDsLocked makes the uids noted since the last call visible to
// the decoder, with one copy of the map however many there are (a copy per
// instrument made subscribing a catalogue quadratic). It runs before p.mu
// is released, so before any subscribe frame for them can go out.
func (p *Pool) publishUIDsLocked() {
	if len(p.newUIDs) == 0 {
		return
	}
	old := p.uids.Load()
	size := len(p.newUIDs)
	if old != nil {
		size += len(*old)
	}
	m := make(map[string]string, size)
	if old != nil {
		maps.Copy(m, *old)
	}
	maps.Copy(m, p.newUIDs)
	p.uids.Store(&m)
	clear(p.newUIDs)
}

// instrumentID is the id subscriptions name figi by.
func (p *Pool) instrumentID(figi string) string {
	if p.cfg.InstrumentID != nil {
		if id := p.cfg.InstrumentID(figi); id != "" {
			return id
		}
	}
	return figi
}

// resolveFIGI names the instrument of a data frame by its domain FIGI.
func (p *Pool) resolveFIGI(f *frame) string {
	figi := f.figi()
	if f.uid != "" {
		if m := p.uids.Load(); m != nil {
			if v, ok := (*m)[f.uid]; ok {
				return v
			}
		}
		if figi == "" {
			return f.uid
		}
	}
	return figi
}

// signal wakes the owner of a one-slot channel without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// startSlotLocked starts s's manager if the pool runs, s has
// subscriptions and no manager owns it yet.
func (p *Pool) startSlotLocked(s *slot) {
	if !p.started || p.stopped || s.running || (len(s.subs) == 0 && !s.probe) {
		return
	}
	s.running, s.state = true, stateDialing
	p.wg.Add(1)
	go p.runSlot(p.runCtx, s)
}

// fail reports a fatal error to Run.
func (p *Pool) fail(err error) {
	select {
	case p.fatal <- err:
	default:
	}
}

// register makes c its slot's socket: everything is queued to be sent on it.
func (p *Pool) register(c *conn) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := c.slot
	s.conn, s.state, s.retryAt, s.refused = c, stateUp, time.Time{}, false
	s.unsubs, s.capOverride = nil, 0
	if s.everUp {
		p.stats.reconnects.Add(1)
	}
	s.everUp = true
	now := p.clock.Now()
	n := 0
	for figi, bySub := range s.subs {
		p.inst.track(figi, now)
		for _, st := range bySub {
			*st = subState{phase: phaseQueued}
			n++
		}
	}
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

// kindOrder is the order requests go out in.
var kindOrder = [...]tvbridge.SubscriptionKind{tvbridge.SubCandle, tvbridge.SubTrade, tvbridge.SubOrderBook, tvbridge.SubInstrumentInfo}

// nextRequests builds the requests c may send now: unsubscribes first,
// then queued subscriptions (and refused ones whose retry is due), batched
// per kind, as many as the per-minute budget allows. wait > 0 says when to
// look again (the budget frees, a retry falls due).
func (p *Pool) nextRequests(c *conn) (reqs []wire.MarketDataRequest, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := c.slot
	if s.conn != c {
		return nil, 0
	}
	now := p.clock.Now()
	blocked := false
	take := func() bool {
		if blocked {
			return false
		}
		d, ok := p.budget.take(now)
		if !ok {
			blocked, wait = true, d
			p.stats.deferred.Add(1)
		}
		return ok
	}
	// Unsubscribes.
	var left []tvbridge.Subscription
	for _, kind := range kindOrder {
		var items []tvbridge.Subscription
		for _, sub := range s.unsubs {
			if sub.Kind == kind {
				items = append(items, sub)
			}
		}
		for chunk := range slices.Chunk(items, p.cfg.MaxInstrumentsPerRequest) {
			if !take() {
				left = append(left, chunk...)
				continue
			}
			reqs = append(reqs, p.requestLocked(c, kind, false, chunk))
		}
	}
	s.unsubs = left
	// Subscriptions.
	for _, kind := range kindOrder {
		var items []tvbridge.Subscription
		for _, figi := range sortedKeys(s.subs) {
			for sub, st := range s.subs[figi] {
				if sub.Kind != kind {
					continue
				}
				switch {
				case st.phase == phaseQueued:
				case st.phase == phaseRetry && !st.retryAt.After(now):
				case st.phase == phaseRetry:
					if d := st.retryAt.Sub(now); wait == 0 || d < wait {
						wait = d
					}
					continue
				default:
					continue
				}
				items = append(items, sub)
			}
		}
		slices.SortFunc(items, func(a, b tvbridge.Subscription) int { return strings.Compare(a.String(), b.String()) })
		for chunk := range slices.Chunk(items, p.cfg.MaxInstrumentsPerRequest) {
			if !take() {
				break
			}
			req := p.requestLocked(c, kind, true, chunk)
			reqs = append(reqs, req)
		}
	}
	return reqs, wait
}

// requestLocked builds one request, records it as sent on c and moves its
// subscriptions to phaseSent.
func (p *Pool) requestLocked(c *conn, kind tvbridge.SubscriptionKind, subscribe bool, items []tvbridge.Subscription) wire.MarketDataRequest {
	s := c.slot
	sr := &sentRequest{kind: kind, subscribe: subscribe, items: slices.Clone(items), ids: make([]string, len(items))}
	action := wire.SubscriptionActionUnsubscribe
	if subscribe {
		action = wire.SubscriptionActionSubscribe
	}
	var r wire.MarketDataRequest
	refs := make([]wire.InstrumentRef, 0, len(items))
	for i, sub := range items {
		sr.ids[i] = p.instrumentID(sub.FIGI)
		refs = append(refs, wire.InstrumentRef{InstrumentID: sr.ids[i]})
		if subscribe {
			if st := s.subs[sub.FIGI][sub]; st != nil {
				*st = subState{phase: phaseSent, req: sr}
			}
			if sub.Kind == tvbridge.SubCandle {
				p.candleEpoch[sub.FIGI]++
			}
		}
	}
	switch kind {
	case tvbridge.SubCandle:
		in := make([]wire.CandleInstrument, len(items))
		for i, sub := range items {
			in[i] = wire.CandleInstrument{InstrumentID: sr.ids[i], Interval: subscriptionIntervals[sub.Interval]}
		}
		r.SubscribeCandlesRequest = &wire.SubscribeCandlesRequest{SubscriptionAction: action, Instruments: in,
			CandleSourceType: p.cfg.CandleSource}
	case tvbridge.SubOrderBook:
		in := make([]wire.OrderBookInstrument, len(items))
		for i, sub := range items {
			in[i] = wire.OrderBookInstrument{InstrumentID: sr.ids[i], Depth: int32(sub.Depth)}
		}
		r.SubscribeOrderBookRequest = &wire.SubscribeOrderBookRequest{SubscriptionAction: action, Instruments: in}
	case tvbridge.SubTrade:
		r.SubscribeTradesRequest = &wire.SubscribeTradesRequest{SubscriptionAction: action, Instruments: refs,
			TradeSource: p.cfg.TradeSource}
	case tvbridge.SubInstrumentInfo:
		r.SubscribeInfoRequest = &wire.SubscribeInfoRequest{SubscriptionAction: action, Instruments: refs}
	}
	c.sent[kind] = append(c.sent[kind], sr)
	p.stats.requests.Add(1)
	return r
}

// subscriptionResponse applies a subscribe...Response to the request it
// answers (the oldest unanswered one of its kind on c).
func (p *Pool) subscriptionResponse(c *conn, r *subResponse, meta tvbridge.EventMeta) {
	var events []*tvbridge.ErrorEvent
	p.mu.Lock()
	s := c.slot
	queue := c.sent[r.kind]
	if s.conn != c || len(queue) == 0 {
		p.mu.Unlock()
		p.log.Debug("stream: subscription response without a request", "conn", s.index, "kind", string(r.kind),
			"tracking_id", r.trackingID)
		return
	}
	req := queue[0]
	c.sent[r.kind] = queue[1:]
	matched := make([]bool, len(req.items))
	positional := len(r.entries) == len(req.items)
	resend := false
	for i, e := range r.entries {
		j := matchEntry(req, e, i, matched, positional)
		if j < 0 {
			continue
		}
		matched[j] = true
		if !req.subscribe {
			if e.status != wire.SubscriptionStatusSuccess && e.status != wire.SubscriptionStatusSubscriptionNotFound {
				p.log.Debug("stream: unsubscribe not confirmed", "subscription", req.items[j].String(), "status", string(e.status))
			}
			continue
		}
		sub := req.items[j]
		st := s.subs[sub.FIGI][sub]
		if st == nil || st.phase != phaseSent || st.req != req {
			continue // unsubscribed or sent again since
		}
		if ev := p.applyStatusLocked(s, sub, st, e.status, r.trackingID, meta); ev != nil {
			events = append(events, ev)
			resend = true // a retry is due later: the manager times it
		}
	}
	for j, ok := range matched {
		if ok || !req.subscribe {
			continue
		}
		sub := req.items[j]
		if st := s.subs[sub.FIGI][sub]; st != nil && st.phase == phaseSent && st.req == req {
			*st = subState{phase: phaseQueued} // the service did not say: ask again
			resend = true
		}
	}
	if resend {
		p.wakeLocked(s)
	}
	p.mu.Unlock()
	for _, ev := range events {
		p.out.error(ev)
	}
}

// matchEntry finds the request item a status entry answers: by instrument
// and interval or depth, else by position when the counts agree.
func matchEntry(req *sentRequest, e subEntry, i int, matched []bool, positional bool) int {
	for j, sub := range req.items {
		if matched[j] {
			continue
		}
		id := req.ids[j]
		same := (e.uid != "" && (e.uid == id || e.uid == sub.FIGI)) || (e.figi != "" && (e.figi == sub.FIGI || e.figi == id))
		if !same {
			continue
		}
		if sub.Kind == tvbridge.SubCandle && e.interval != "" && e.interval != sub.Interval {
			continue
		}
		if sub.Kind == tvbridge.SubOrderBook && e.depth != 0 && e.depth != sub.Depth {
			continue
		}
		return j
	}
	if positional && i < len(matched) && !matched[i] {
		return i
	}
	return -1
}

// applyStatusLocked acts on one instrument's status and returns the error
// event to deliver, if any.
func (p *Pool) applyStatusLocked(s *slot, sub tvbridge.Subscription, st *subState, status wire.SubscriptionStatus, trackingID string, meta tvbridge.EventMeta) *tvbridge.ErrorEvent {
	if status == wire.SubscriptionStatusSuccess {
		st.phase, st.req = phaseLive, nil
		return nil
	}
	p.stats.refused.Add(1)
	ev := &tvbridge.ErrorEvent{EventMeta: meta, RequestID: trackingID}
	subCopy := sub
	ev.Subscription = &subCopy
	switch status {
	case wire.SubscriptionStatusTooManyRequests, wire.SubscriptionStatusInternalError, wire.SubscriptionStatusUnspecified, "":
		d := p.retryDelay()
		*st = subState{phase: phaseRetry, retryAt: p.clock.Now().Add(d)}
		p.stats.retried.Add(1)
		ev.Message = fmt.Sprintf("stream: subscription %s refused by the service for now: %s; sent again in %s", sub, status, d.Round(time.Second))
		p.log.Warn("subscription refused for now; retrying later", "subscription", sub.String(), "status", string(status),
			"retry_in", d.String(), "tracking_id", trackingID, "conn", s.index)
	case wire.SubscriptionStatusLimitExceeded:
		live := 0
		for _, bySub := range s.subs {
			for other, ost := range bySub {
				if ost.phase == phaseLive {
					live += weight(other)
				}
			}
		}
		s.capOverride = max(live, 1)
		p.stats.retried.Add(1)
		ev.Message = fmt.Sprintf("stream: subscription %s refused by the service: %s (the stream holds %d live subscriptions)", sub, status, live)
		p.log.Warn("stream full on the service's side; moving the instrument", "subscription", sub.String(),
			"live", live, "tracking_id", trackingID, "conn", s.index)
		*st = subState{phase: phaseRetry, retryAt: p.clock.Now().Add(p.retryDelay())}
		if to := p.slotWithRoomLocked(weights(s.subs[sub.FIGI]), s); to != nil {
			p.moveLocked(sub.FIGI, s, to)
			ev.Message += "; moved to another stream"
		} else {
			ev.Message += "; sent again later"
		}
	default: // not found, invalid: retrying cannot help
		p.stats.removed.Add(1)
		ev.Message = fmt.Sprintf("stream: subscription %s refused by the service: %s; removed from the desired set", sub, status)
		p.log.Warn("subscription refused by the service; removed from the desired set", "subscription", sub.String(),
			"status", string(status), "tracking_id", trackingID, "conn", s.index)
		p.removeLocked(s, sub, false)
		p.placePendingLocked()
	}
	return ev
}

// retryDelay is RefusedRetry plus up to half of it again, so refusals of
// many instruments do not come back together.
func (p *Pool) retryDelay() time.Duration {
	d := p.cfg.RefusedRetry
	return d + time.Duration(p.jitter(int64(d/2)+1))
}

// tradeDropped changes figi's epoch: trades were lost for it.
func (p *Pool) tradeDropped(figi string) {
	p.stats.dropped.Add(1)
	p.mu.Lock()
	p.candleEpoch[figi]++
	p.mu.Unlock()
	if ok, held := p.dropLog.allow(); ok {
		p.log.Warn("trades dropped: the consumer does not read the events", "figi", figi, "similar_lines_suppressed", held)
	}
}

// sortedKeys gives requests a stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// figiList names up to 20 FIGIs for a log line.
func figiList(figis []string) string {
	if len(figis) <= 20 {
		return strings.Join(figis, ",")
	}
	return strings.Join(figis[:20], ",") + fmt.Sprintf(" and %d more", len(figis)-20)
}

// Package sim is the simulated exchange: a loopback look-alike of the Tinkoff
// Invest OpenAPI v1 service (WebSocket market-data stream and REST) that
// serves the deterministic market model of package sim/market.
//
// It reproduces the real service's quirks on purpose (no subscription
// acknowledgements, no de-duplication of subscriptions, integer-only order
// book depth, 423 on the 7th connection, 429 with an empty body, closed
// candles only on REST, slow readers dropped without a close frame) so that
// the upstream client is tested against reality. Faults adds the failures the
// real service showed in the wild, on demand:
//   - connections dropped without a close frame (DropConnections, DropAll),
//     handshakes refused with 429 (Refuse429) or, below the configured cap,
//     with 423 (ConnectionCap), REST answered 429 (REST429);
//   - candle frames repeated (Duplicate) or re-sent out of order (Reorder,
//     StaleAfterFinal);
//   - final candle states sent late, after the next interval began but before
//     its first update (LateFinals), or never (LoseFinals, SkipClose); with a
//     coarse Config.CandleThrottle (5 s, the real service's rate) the last
//     trades of an interval then reach the stream only in its final, or not
//     at all. With Config.RecordFinals, Server.Final tells for each candle
//     whether its final state was sent on time, late, or not at all, and
//     whether the stream carried that state anyway (FinalRecord);
//   - silence: connections that stay open, pinged and answering pings, but
//     carry no data, for every instrument (Silence, SilenceSchedule) or some
//     (SilenceInstruments); and Stall, which stops pings too.
//
// Stream faults never touch REST: its candles for any past period are what
// the trades produced, the final state the stream would have sent.
//
// Everything time-dependent runs on Config.Clock: one ticker drives the
// emission loop (candles, books, statuses, pings and resting-order fills), so
// tests on a fake clock are deterministic. So are the faults: a late final
// goes out at the first tick at or after its interval's end plus the delay,
// the finals LoseFinals loses are a fixed function of (FIGI, interval, start)
// (Faults.LosesFinal), and SilenceSchedule's periods are aligned on the
// clock's epoch.
//
// Where the real service's behaviour is undocumented, the simulator chooses:
//   - one unsubscribe removes every copy of a duplicated subscription, and
//     unsubscribing something not subscribed is silently ignored;
//   - throttling is per stream (FIGI and interval or depth), shared by all
//     subscribers; the final state of a closing candle is never throttled;
//   - REST answers a missing token with 401 and an empty body, an unknown
//     token with 403 and an error envelope (code FORBIDDEN);
//   - the REST rate limit is a fixed window per clock minute;
//   - under the Stall fault, what would have been sent is discarded;
//   - under LateFinals, the hold-back is per candle stream (FIGI and
//     interval): a final still pending when the next interval closes too is
//     sent then, a subscriber joining while a final is pending gets no
//     snapshot but the final and then the forming candle, and a final whose
//     last subscriber left is never sent (FinalOrphaned);
//   - under Silence, nothing is queued: the finals of intervals that close
//     are lost (FinalWithheld), and when it ends each stream resumes with its
//     current state (forming candle, book, status if it changed), the
//     subscriptions made meanwhile included; SilenceInstruments keeps error
//     events, Silence does not;
//   - a lowered ConnectionCap refuses new handshakes only: connections
//     already open above it stay open.
//
// Files: server.go (config, lifecycle), conn.go, registry.go and wsframe.go
// (stream connections), request.go (client frames), emitter.go, candles.go
// and finals.go (stream state), encode.go (frame encoding), rest*.go (REST),
// broker.go and orders.go (accounts and fills), faults.go, stats.go.
package sim

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge/clock"
	"tvbridge/sim/market"
	"tvbridge/tinkoff/wire"
)

// Unthrottled, as CandleThrottle or BookThrottle, sends an update on every
// tick in which the candle or book changed.
const Unthrottled time.Duration = -1

// Defaults of Config.
const (
	DefaultMaxConnections = 6
	DefaultTick           = 100 * time.Millisecond
	DefaultCandleThrottle = time.Second // the real service sent ~11-12 updates a minute
	DefaultBookThrottle   = 500 * time.Millisecond
	DefaultSendQueue      = 1 << 16
	// PingInterval is how often the server pings each stream connection, as
	// the real service did (about every 5 s).
	PingInterval = 5 * time.Second
	// bookRepeat is how often an unchanged book is re-sent anyway: the real
	// service re-sent identical snapshots.
	bookRepeat = 5 * time.Second
)

// Config configures a Server. Market is required; every other zero field
// takes its default.
type Config struct {
	Market *market.Market
	Clock  clock.Clock // nil => clock.Real{}

	// Tokens are the accepted bearer tokens; empty => any non-empty token.
	Tokens []string
	// MaxConnections is the number of concurrent stream connections a token
	// may hold; the next handshake gets 423. Default 6.
	MaxConnections int
	// Tick is the emission loop period. Default 100ms.
	Tick time.Duration
	// CandleThrottle is the minimum time between two updates of one candle
	// stream (the final state of a closing candle is never held back).
	// 0 => DefaultCandleThrottle; Unthrottled (or any negative) => every tick.
	CandleThrottle time.Duration
	// BookThrottle is the same for order books. 0 => DefaultBookThrottle.
	BookThrottle time.Duration
	// SendQueue is the number of frames a connection may have queued; a
	// client that falls further behind is dropped. Default 65536.
	SendQueue int
	// RESTRateLimit is the number of /market requests a token may make per
	// clock minute (fixed window); 0 => unlimited.
	RESTRateLimit int
	// RecordFinals keeps a FinalRecord of every candle interval that closes
	// on a subscribed stream (Server.Final, Server.Finals): for tests, as it
	// grows with instruments × intervals closed.
	RecordFinals bool
	// Commission is the rate charged on every fill, e.g. 0.0005.
	Commission float64
	// ProdCash is the opening cash of the account a token gets on its first
	// production (non-sandbox) request; nil => 1,000,000 RUB and 10,000 USD.
	ProdCash map[string]float64
	Logger   *slog.Logger // nil => slog.Default() with component=sim
}

// Server is the simulated exchange. Create it with New, serve Handler, and
// Close it when done.
type Server struct {
	cfg    Config
	market *market.Market
	clock  clock.Clock
	log    *slog.Logger
	tokens map[string]bool

	faults Faults
	stats  counters
	finals finalsLog
	em     *emitter
	broker *broker
	rest   *restAPI
	conns  connRegistry

	done      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool

	// tickHook, when set (by tests), receives the time of every finished tick.
	tickHook chan<- time.Time
}

// New creates a server and starts its emission loop.
func New(cfg Config) *Server {
	return newServer(cfg, nil)
}

func newServer(cfg Config, tickHook chan<- time.Time) *Server {
	if cfg.Market == nil {
		panic("sim: Config.Market is required")
	}
	cfg = withDefaults(cfg)
	s := &Server{
		cfg:      cfg,
		market:   cfg.Market,
		clock:    cfg.Clock,
		log:      cfg.Logger,
		tokens:   make(map[string]bool, len(cfg.Tokens)),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		tickHook: tickHook,
	}
	for _, t := range cfg.Tokens {
		s.tokens[t] = true
	}
	s.conns.init()
	s.faults.srv = s
	s.em = newEmitter(s)
	s.broker = newBroker(cfg.Market, cfg.Commission, cfg.ProdCash)
	s.rest = newRESTAPI(s)
	go s.loop()
	return s
}

func withDefaults(cfg Config) Config {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.CandleThrottle == 0 {
		cfg.CandleThrottle = DefaultCandleThrottle
	}
	if cfg.BookThrottle == 0 {
		cfg.BookThrottle = DefaultBookThrottle
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.ProdCash == nil {
		cfg.ProdCash = map[string]float64{"RUB": 1_000_000, "USD": 10_000}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("component", "sim")
	}
	return cfg
}

// Handler serves the stream at wire.StreamPath and REST under /openapi/
// (production) and /openapi/sandbox/ (sandbox).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(wire.StreamPath, s.serveStream)
	mux.Handle("/", s.rest)
	return mux
}

// Faults returns the fault injector.
func (s *Server) Faults() *Faults { return &s.faults }

// Close stops the emission loop and drops every stream connection. It does
// not close the HTTP listener, which belongs to the caller.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		<-s.loopDone
		for _, c := range s.conns.list() {
			c.abort()
		}
	})
}

// loop is the emission loop: every Tick it advances every subscribed stream
// to the clock's now, pings the connections and fills resting orders.
func (s *Server) loop() {
	defer close(s.loopDone)
	t := s.clock.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C():
			now := s.clock.Now()
			s.tick(now)
			s.stats.lastTick.Store(now.UnixNano())
			if s.tickHook != nil {
				select {
				case s.tickHook <- now:
				case <-s.done:
				}
			}
		}
	}
}

func (s *Server) tick(now time.Time) {
	defer func() {
		// A bug in one tick must not take the whole exchange down.
		if r := recover(); r != nil {
			s.log.Error("emission tick panicked", "panic", r)
		}
	}()
	s.em.tick(now)
	s.broker.settleAll(now)
}

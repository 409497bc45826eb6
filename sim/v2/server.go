// Package v2sim is a simulated T-Invest API v2 service (Tinkoff's current
// API): its REST gateway (JSON under /rest/), the WebSocket market-data and
// order-state streams (under /ws/) and the yearly archive of 1-minute
// candles (/history-data), serving the deterministic market of package
// sim/market, the same model the v1 simulator (package sim) serves.
//
// Everything comes from the model, so the views agree by construction: the
// trades a stream delivers in a minute aggregate (open, high, low, close,
// volume in lots) to the last candle the stream sends for that minute, to
// GetCandles' candle and to the archive's row for it. Faults (see Faults)
// break that on purpose where the real service does: a late trade arrives
// after the next minute began, followed by a corrective candle of its
// minute, which again equals GetCandles.
//
// The shapes, method paths and enums are package tinvest/wire's, shared
// with the client (package tinvest) by design. Limits and error codes
// follow ../shared/docs/tinkoff-invest-api-v2.md; README.md lists them.
//
// Everything time-dependent runs on Config.Clock: one ticker drives the
// emission loop (trades, candles, books, statuses, last prices, pings,
// idle-stream closes and resting-order fills), so tests on a fake clock are
// deterministic.
//
// Files: server.go (config, lifecycle), catalog.go (v2 identities),
// rest*.go (the REST gateway), archive.go, stream*.go and emitter.go
// (MarketDataStream), orderstream.go (OrderStateStream), broker.go and
// orders.go (accounts, orders, fills), faults.go, stats.go.
package v2sim

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge/clock"
	"tvbridge/sim/market"
	"tvbridge/tinvest/wire"
)

// Defaults of Config.
const (
	DefaultMaxStreams                    = 16
	DefaultMaxSubscriptionsPerStream     = 300
	DefaultMaxSubscribeRequestsPerMinute = 100
	DefaultArchiveRateLimit              = 30
	DefaultTick                          = 100 * time.Millisecond
	DefaultIdleStreamTimeout             = 3 * time.Minute
	DefaultSendQueue                     = 1 << 16
	// DefaultPingDelay is the server's ping period on a stream that did not
	// ask for another (pingSettings: 5 s to 180 s).
	DefaultPingDelay = 120 * time.Second
)

// Config configures a Server. Market is required; every other zero field
// takes its default.
type Config struct {
	Market *market.Market
	Clock  clock.Clock // nil => clock.Real{}
	// Tokens are the accepted bearer tokens; empty => any non-empty token.
	Tokens []string
	// MaxStreams is the number of market-data streams a token may hold at
	// once; the next is closed with 4008 (80001). Default 16.
	MaxStreams int
	// MaxSubscriptionsPerStream bounds a stream's candle, order-book and
	// trade subscriptions (trading statuses and last prices do not count);
	// beyond it instruments get SUBSCRIPTION_STATUS_LIMIT_IS_EXCEEDED.
	// Default 300.
	MaxSubscriptionsPerStream int
	// MaxSubscribeRequestsPerMinute bounds subscribe and unsubscribe
	// requests per token over all its streams in any 60 s of the clock;
	// beyond it every instrument of a request gets
	// SUBSCRIPTION_STATUS_TOO_MANY_REQUESTS. Default 100.
	MaxSubscribeRequestsPerMinute int
	// RESTRateLimit is the number of unary requests a token may make per
	// service (InstrumentsService, MarketDataService, ...) per clock minute;
	// 0 => unlimited. Beyond it: 429 RESOURCE_EXHAUSTED (80002).
	RESTRateLimit int
	// ArchiveRateLimit is the archive's requests per token per clock
	// minute; default 30, negative => unlimited.
	ArchiveRateLimit int
	// Commission is the rate charged on every fill, e.g. 0.0005.
	Commission float64
	// OpeningCash is the cash of the production account a token gets on its
	// first request; nil => 1,000,000 RUB and 10,000 USD.
	OpeningCash map[string]float64
	// Tick is the emission loop's period: at most one candle and one book
	// update per subscription per tick (the service sends at most one per
	// 100 ms). Default 100ms.
	Tick time.Duration
	// IdleStreamTimeout: a market-data stream without subscriptions that
	// long is closed with 80004. Default 3m.
	IdleStreamTimeout time.Duration
	// SendQueue is the number of frames a stream may have queued; a client
	// that falls further behind is dropped. Default 65536.
	SendQueue int
	Logger    *slog.Logger // nil => slog.Default() with component=sim/v2
}

// Server is the simulated service. Create it with New, serve Handler, and
// Close it when done.
type Server struct {
	cfg    Config
	market *market.Market
	cat    *catalog
	clock  clock.Clock
	log    *slog.Logger
	tokens map[string]bool

	faults  Faults
	stats   counters
	em      *emitter
	broker  *broker
	rest    *restAPI
	archive *archiveAPI
	conns   connRegistry // market-data streams
	orders  orderStreams

	trackSeq  atomic.Uint64
	done      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool

	// tickHook, when set (by tests), receives the time of every finished tick.
	tickHook chan<- time.Time
}

// New creates a server and starts its emission loop.
func New(cfg Config) *Server { return newServer(cfg, nil) }

func newServer(cfg Config, tickHook chan<- time.Time) *Server {
	if cfg.Market == nil {
		panic("sim/v2: Config.Market is required")
	}
	cfg = withDefaults(cfg)
	s := &Server{
		cfg:      cfg,
		market:   cfg.Market,
		cat:      newCatalog(cfg.Market),
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
	s.orders.init(s)
	s.faults.srv = s
	s.em = newEmitter(s)
	s.broker = newBroker(s)
	s.rest = newRESTAPI(s)
	s.archive = &archiveAPI{srv: s, windows: newWindows()}
	go s.loop()
	return s
}

func withDefaults(cfg Config) Config {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&cfg.MaxStreams, DefaultMaxStreams)
	setInt(&cfg.MaxSubscriptionsPerStream, DefaultMaxSubscriptionsPerStream)
	setInt(&cfg.MaxSubscribeRequestsPerMinute, DefaultMaxSubscribeRequestsPerMinute)
	setInt(&cfg.SendQueue, DefaultSendQueue)
	if cfg.ArchiveRateLimit == 0 {
		cfg.ArchiveRateLimit = DefaultArchiveRateLimit
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.IdleStreamTimeout <= 0 {
		cfg.IdleStreamTimeout = DefaultIdleStreamTimeout
	}
	if cfg.OpeningCash == nil {
		cfg.OpeningCash = map[string]float64{"RUB": 1_000_000, "USD": 10_000}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("component", "sim/v2")
	}
	return cfg
}

// Handler serves the REST gateway under wire.RESTPath (/rest/), the
// streams under wire.StreamPath (/ws/) and the archive at
// wire.HistoryPath (/history-data): a client's base URL is the server's
// URL + "/rest/" (see tinvest.EndpointsFor).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(wire.RESTPath, s.rest)
	mux.HandleFunc(wire.StreamPath+wire.MethodMarketDataStream, s.serveMarketData)
	mux.HandleFunc(wire.StreamPath+wire.MethodOrderStateStream, s.serveOrderStream)
	mux.HandleFunc(wire.StreamPath, func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, wire.CodeNotFound, "", "no such stream: "+r.URL.Path)
	})
	mux.Handle(wire.HistoryPath, s.archive)
	return mux
}

// Faults returns the fault injector; its methods may be called at any time.
func (s *Server) Faults() *Faults { return &s.faults }

// ScheduleTimezones maps each trading schedule's name (an instrument's
// "exchange" in the catalogue, e.g. "MOEX") to the IANA timezone its
// sessions are written in, for tinvest.UpstreamConfig.Timezones.
func (s *Server) ScheduleTimezones() map[string]string {
	out := make(map[string]string, len(s.cat.schedules))
	for _, g := range s.cat.schedules {
		out[g.name] = g.tz
	}
	return out
}

// Close stops the emission loop and drops every stream. It does not close
// the HTTP listener, which belongs to the caller.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		<-s.loopDone
		for _, c := range s.conns.list() {
			c.abort()
		}
		s.orders.closeAll()
	})
}

// loop is the emission loop: every Tick it advances every subscribed stream
// to the clock's now, pings, closes idle streams and fills resting orders.
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
		// A bug in one tick must not take the whole service down.
		if r := recover(); r != nil {
			s.log.Error("emission tick panicked", "panic", r)
		}
	}()
	s.broker.settleAll(now)
	s.em.tick(now)
	s.orders.ping(now)
}

// trackingID returns a fresh x-tracking-id.
func (s *Server) trackingID() string {
	return fmt.Sprintf("sim-%012x", s.trackID())
}

func (s *Server) trackID() uint64 { return s.trackSeq.Add(1) }

// bearer extracts the token of "Authorization: Bearer <token>".
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (s *Server) acceptToken(token string) bool {
	return token != "" && (len(s.tokens) == 0 || s.tokens[token])
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

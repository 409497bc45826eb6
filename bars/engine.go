package bars

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// maxEarly is how far a candle's minute may start after our clock (upstream
// clock skew) and still be accepted; such an update waits for our clock.
const maxEarly = 10 * time.Second

// Config configures an Engine. Zero values select the defaults.
type Config struct {
	Clock       clock.Clock   // nil => clock.Real{}
	CloseGrace  time.Duration // a minute with no newer update closes this long after its end; default 3s
	QuoteMaxAge time.Duration // a book older than this (by receipt) never becomes a quote; default 1s
	DailyBars   bool          // emit TickDaily ("d") updates for instruments with a schedule
	// TradeGrace is how long a candle update showing trades the stream has
	// not carried waits for them before the minute falls back to the
	// candle updates (real trades only, see realtrades.go); default 1s.
	TradeGrace time.Duration
	Logger     *slog.Logger // nil => slog.Default()
}

// Sink receives the engine's output. Calls happen on the goroutine that
// called Handle or Sweep. The slices passed are reused by the engine
// after the call returns: a sink keeps copies, not the slices.
//
// MinutesClosed is called while the instrument's state is locked, so that a
// concurrent OpenMinute never misses a bar that is moving from "open" to
// "closed"; it must not call back into the engine.
type Sink interface {
	Ticks(ticks []tvbridge.Tick)              // to the tape, in order
	MinutesClosed(figi string, bars []Closed) // closed 1-minute bars, to the store
}

// Closed is a closed 1-minute bar as streamed.
type Closed struct {
	tvbridge.Bar
	// Final reports that the upstream's final state of the minute reached
	// the stream: an update received after the minute ended (the upstream
	// sends one when the next minute begins), before any update of a later
	// minute, equal to the bar as streamed. A bar without it may lack the
	// minute's last trades, which only REST candles can tell.
	Final bool
}

// InstrumentSpec is what the engine needs to know about an instrument.
type InstrumentSpec struct {
	Instrument tvbridge.Instrument
	Symbol     string             // TradingView id put on ticks; empty => Instrument.Ticker, then FIGI
	Schedule   *tvbridge.Schedule // nil => no trading days, no daily bars
}

// spec is the immutable per-instrument configuration the hot path reads.
type spec struct {
	figi, symbol string
	sched        *tvbridge.Schedule
}

// Engine is the bar engine. See the package documentation for its rules.
type Engine struct {
	clock      clock.Clock
	grace      time.Duration
	maxAge     time.Duration
	tradeGrace time.Duration
	daily      bool
	log        *slog.Logger
	sink       Sink
	stats      counters

	mu     sync.RWMutex // guards byFIGI and list (Add may run on any goroutine)
	byFIGI map[string]*instrument
	list   []*instrument // append-only, for Sweep

	// Owned by the feeding goroutine.
	ticks  []tvbridge.Tick
	closed [1]Closed
}

// New returns an engine writing to sink, which must not be nil.
func New(cfg Config, sink Sink) *Engine {
	if sink == nil {
		panic("bars: New called with a nil Sink")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.CloseGrace <= 0 {
		cfg.CloseGrace = 3 * time.Second
	}
	if cfg.QuoteMaxAge <= 0 {
		cfg.QuoteMaxAge = time.Second
	}
	if cfg.TradeGrace <= 0 {
		cfg.TradeGrace = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Engine{
		clock:      cfg.Clock,
		grace:      cfg.CloseGrace,
		maxAge:     cfg.QuoteMaxAge,
		tradeGrace: cfg.TradeGrace,
		daily:      cfg.DailyBars,
		log:        cfg.Logger.With("component", "bars"),
		sink:       sink,
		byFIGI:     make(map[string]*instrument),
		ticks:      make([]tvbridge.Tick, 0, 64),
	}
}

// Add registers an instrument, or updates the symbol and schedule of a known
// one. It may be called from any goroutine, before or while the engine runs.
func (e *Engine) Add(s InstrumentSpec) {
	sp := &spec{figi: s.Instrument.FIGI, symbol: s.Symbol, sched: s.Schedule}
	if sp.symbol == "" {
		sp.symbol = s.Instrument.Ticker
	}
	if sp.symbol == "" {
		sp.symbol = sp.figi
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if in, ok := e.byFIGI[sp.figi]; ok {
		in.spec.Store(sp)
		return
	}
	in := &instrument{}
	in.spec.Store(sp)
	e.byFIGI[sp.figi] = in
	e.list = append(e.list, in)
}

func (e *Engine) lookup(figi string) *instrument {
	e.mu.RLock()
	in := e.byFIGI[figi]
	e.mu.RUnlock()
	return in
}

// Handle processes one upstream event. It must be called from one goroutine
// (the ingest loop), the same that calls Sweep.
func (e *Engine) Handle(ev tvbridge.Event) {
	defer e.recoverPanic("handle event")
	now := e.clock.Now()
	switch ev := ev.(type) {
	case *tvbridge.CandleEvent:
		e.handleCandle(ev, now)
	case *tvbridge.OrderBookEvent:
		e.handleBook(ev, now)
	case *tvbridge.InstrumentInfoEvent:
		e.handleInfo(ev)
	case *tvbridge.TradeEvent:
		e.handleTrade(ev, now)
	}
	// Error events carry nothing the engine needs. The trading status only
	// gates quotes: trades come from candles whatever it says.
	e.flushTicks()
}

// Sweep does the clock-driven work: it streams updates that waited for the
// clock, closes minutes whose grace has passed and emits held-back daily
// bars. Call it periodically (a few times a second) from the Handle goroutine.
func (e *Engine) Sweep() {
	defer e.recoverPanic("sweep")
	now := e.clock.Now()
	e.mu.RLock()
	list := e.list // append-only: the first len(list) entries never change
	e.mu.RUnlock()
	for _, in := range list {
		if in.idle() {
			continue
		}
		e.advanceLocked(in, now)
	}
	e.flushTicks()
}

func (e *Engine) advanceLocked(in *instrument, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	e.advance(in, now)
}

// flushTicks hands the ticks collected during one Handle or Sweep to the sink.
func (e *Engine) flushTicks() {
	if len(e.ticks) == 0 {
		return
	}
	e.sink.Ticks(e.ticks)
	clear(e.ticks) // drop string references held by the reused buffer
	e.ticks = e.ticks[:0]
}

// recoverPanic keeps a bug triggered by one malformed event from killing the
// ingest loop. The ticks of the failed call are dropped: they may be partial.
func (e *Engine) recoverPanic(what string) {
	if r := recover(); r != nil {
		e.stats.panics.Add(1)
		e.ticks = e.ticks[:0]
		e.log.Error("bar engine panic recovered", "during", what, "panic", fmt.Sprint(r),
			"stack", string(debug.Stack()))
	}
}

// OpenMinute returns the forming 1-minute bar as streamed so far, and false
// when there is none (no open minute, or nothing streamed in it yet). It is
// safe for concurrent use.
func (e *Engine) OpenMinute(figi string) (tvbridge.Bar, bool) {
	in := e.lookup(figi)
	if in == nil {
		return tvbridge.Bar{}, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.hasOpen || in.open.v <= 0 {
		return tvbridge.Bar{}, false
	}
	return in.open.bar(), true
}

// LastClosed returns the end of the newest closed minute: every minute that
// starts before it is closed and will never change. It is zero when no
// minute is closed yet. It is safe for concurrent use.
func (e *Engine) LastClosed(figi string) time.Time {
	in := e.lookup(figi)
	if in == nil {
		return time.Time{}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closedUntil == 0 {
		return time.Time{}
	}
	return unix(in.closedUntil)
}

// Daily returns the bar of the instrument's current trading day so far, as
// streamed, when day (any instant of that UTC date; 00:00 UTC by convention)
// is that trading day and it has volume. It is safe for concurrent use.
func (e *Engine) Daily(figi string, day time.Time) (tvbridge.Bar, bool) {
	in := e.lookup(figi)
	if in == nil {
		return tvbridge.Bar{}, false
	}
	y, m, d := day.UTC().Date()
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.hasDay || in.day != want {
		return tvbridge.Bar{}, false
	}
	return in.dayBar()
}

// Restore prepares an instrument after a restart: minutes starting at or
// before lastClosedMinute (a minute's start time; zero for none) are closed,
// and today, the stored 1-minute bars of the current trading day in
// ascending time order, seeds the daily bar. Call it from the Handle
// goroutine, or before Handle is first called; it is meant for start-up.
func (e *Engine) Restore(figi string, lastClosedMinute time.Time, today []tvbridge.Bar) {
	in := e.lookup(figi)
	if in == nil {
		e.log.Warn("restore of an unknown instrument ignored", "figi", figi)
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !lastClosedMinute.IsZero() {
		in.closedUntil = max(in.closedUntil, lastClosedMinute.Truncate(time.Minute).Unix()+60)
	}
	if in.hasOpen && in.open.start < in.closedUntil {
		// The store already has this minute; the copy in memory is obsolete.
		in.resetOpen()
	}
	if !slices.IsSortedFunc(today, func(a, b tvbridge.Bar) int { return a.Time.Compare(b.Time) }) {
		today = slices.Clone(today)
		slices.SortFunc(today, func(a, b tvbridge.Bar) int { return a.Time.Compare(b.Time) })
	}
	if n := len(today); n > 0 && today[n-1].Volume > 0 && today[n-1].Time.Unix()+60 == in.closedUntil {
		// Re-sends of the last stored minute are then recognised as such.
		b := today[n-1]
		in.hasPrev = true
		in.prev = minuteBar{start: b.Time.Unix(), ohlcv: ohlcv{o: b.Open, h: b.High, l: b.Low, c: b.Close, v: b.Volume}}
	}
	in.seedDay(in.spec.Load().sched, today, in.closedUntil)
}

// ResumeOpen continues a minute another process streamed (in a cluster,
// the previous ingester): b is the minute's bar as streamed so far, which
// every node's /streaming has carried. Later updates stream only what goes
// beyond it, as if this engine had streamed it, so the minute's trades are
// not streamed twice. It is ignored for a minute already closed or older
// than the open one. Call it after Restore, before Handle.
func (e *Engine) ResumeOpen(figi string, b tvbridge.Bar, now time.Time) {
	in := e.lookup(figi)
	if in == nil || b.Volume <= 0 || !validCandle(b.Time, ohlcv{o: b.Open, h: b.High, l: b.Low, c: b.Close, v: b.Volume}) {
		return
	}
	start := b.Time.Unix()
	in.mu.Lock()
	defer in.mu.Unlock()
	if start < in.closedUntil || in.hasOpen && start < in.open.start {
		return
	}
	if !in.hasOpen || start > in.open.start {
		e.openMinute(in, start, now)
	}
	in.open.ohlcv = ohlcv{o: b.Open, h: b.High, l: b.Low, c: b.Close, v: b.Volume}
	in.lastTrade = max(in.lastTrade, start)
	e.stats.resumed.Add(1)
}

// Stats returns the engine's counters. It is safe for concurrent use.
func (e *Engine) Stats() Stats { return e.stats.snapshot() }

// debugOn reports whether debug logging is enabled. Callers check it before
// building log arguments, so rejected updates cost no allocations when it is off.
func (e *Engine) debugOn() bool {
	return e.log.Enabled(context.Background(), slog.LevelDebug)
}

func unix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

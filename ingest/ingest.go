// Package ingest runs the data side of the bridge: it subscribes the upstream
// to every instrument, feeds its events to the bar engine, appends the
// engine's ticks to the tape, makes closed minutes durable in the bar store,
// and backfills from upstream REST the minutes the stream did not see (before
// the first start, across restarts and across upstream outages).
//
// It also answers /history's questions (it implements api.History): closed
// bars come from the store, plus the ones closed in memory and not yet
// flushed, plus the engine's open minute.
//
// Coverage is how the service knows that no minute is missing. A minute range
// is "covered" once it is known complete: either the instrument's candle
// stream was live and carrying data for all of it (and the bars it produced
// are stored; see streams.go, which also tells a silent stream from a quiet
// market), or REST candles for it were stored. Only covered ranges are
// immutable; everything else is a gap that the backfill loop fills, within
// the upstream's REST rate limit. The minutes TradingView asks for first are
// fetched ahead of REST's lag and served uncovered until it has passed, and
// an instrument without a live stream gets its minutes from REST as they
// close and its quotes from polled books (recent.go, poll.go). The audit
// compares the streamed minutes with the exchange's final candles and counts,
// or follows, the difference (audit.go).
//
// Files: ingest.go (the service, the event loop, the flush), streams.go
// (stream states, silence), recent.go (early minutes, holes), backfill.go,
// daily.go, audit.go, poll.go, health.go, summary.go, logging.go.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
	"tvbridge/bars"
	"tvbridge/clock"
)

// Store is the bar store with the batch write the flusher needs, and the
// record of minutes fetched ahead of the REST lag (see recent.go).
type Store interface {
	tvbridge.BarStore
	PutMinutesBatch(ctx context.Context, bars map[string][]tvbridge.Bar, covered map[string][]tvbridge.Range) (int, error)
	// PutFetched stores bars fetched early for the minutes of fetched
	// (first write wins) and records fetched, atomically.
	PutFetched(ctx context.Context, figi string, bars []tvbridge.Bar, fetched tvbridge.Range) (int, error)
	// Fetched returns the parts of [from, to) fetched early.
	Fetched(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Range, error)
}

// Config configures the service.
type Config struct {
	Upstream    tvbridge.MarketData
	Store       Store
	Tape        tvbridge.Tape
	Instruments []bars.InstrumentSpec
	Clock       clock.Clock
	Logger      *slog.Logger

	BackfillDepth time.Duration // how far back history is kept complete; default 30 days
	FlushInterval time.Duration // how often closed minutes are committed; default 1s
	CloseGrace    time.Duration // passed to the bar engine; default 3s
	// CoverageLag delays marking streamed minutes as complete, so a silent
	// upstream stall that is detected late still leaves a gap to backfill.
	// It must exceed the stream's stall timeout; default 2 minutes.
	CoverageLag time.Duration
	// RESTLag is how long after a minute ends the upstream REST candles are
	// complete for it (the real service lags 1-2 minutes); default 2 minutes.
	RESTLag time.Duration
	// RecentDepth is how far back the minutes TradingView asks for first
	// (a day of 1-minute bars) are fetched early, ahead of the backfill, when
	// the store lacks them; default 24 hours.
	RecentDepth time.Duration
	// HoleWait bounds how long a /history request waits for the early fetch
	// of minutes it would otherwise serve as a hole; default 3 s.
	HoleWait time.Duration
	// SilenceMin is the least time without any data frame after which an
	// instrument in session that was recently active counts as silent
	// (its usual gap between frames may make it longer, up to
	// CoverageLag - 30 s); default 30 s.
	SilenceMin time.Duration
	// BookPolls is how many order books a minute are polled from REST, in
	// turn, for the instruments in session without a live stream, so they
	// still get quotes; default 30, negative: none.
	BookPolls int
	BookDepth int  // order-book depth subscribed for quotes; default 5
	DailyBars bool // stream "d" messages
	// Trades subscribes the exchange's trades too (upstreams that have
	// them, T-Invest API v2): /streaming then carries them (see bars).
	Trades bool
	// NoArchive makes the backfill ask Candles for every day even when the
	// upstream is an Archiver (see archive.go).
	NoArchive bool

	// HistoryFollows decides what /history keeps for a minute whose bar as
	// streamed differs from the upstream's final REST candle: FollowStream
	// (the default) or FollowExchange; see audit.go.
	HistoryFollows Follow
	// AuditInterval is how often streamed minutes are compared with the
	// REST candles once final; default 5 minutes, negative: never (not
	// allowed with FollowExchange).
	AuditInterval time.Duration
	// SummaryInterval is how often the counters are logged; default 10
	// minutes, negative: never.
	SummaryInterval time.Duration

	// Observe, when set, sees every upstream market-data event after the
	// bar engine, on the event loop: it must be quick and must not keep the
	// event. The live market view for trading is fed this way.
	Observe func(tvbridge.Event)
	// MinutesClosed, when set, sees every closed 1-minute bar the bar
	// engine hands over (the ones this service flushes to the store), on
	// the event loop with the instrument's state locked: it must be quick,
	// must not call back into the engine and must not keep the slice. The
	// cluster's ingester publishes them to the other nodes this way.
	MinutesClosed func(figi string, closed []bars.Closed)
	// ResumeOpen, when set, gives an instrument's forming minute as another
	// process already streamed it (the cluster's previous ingester, whose
	// /streaming lines every node kept serving). The engine continues that
	// minute instead of streaming its trades a second time.
	ResumeOpen func(figi string) (tvbridge.Bar, bool)
}

func (c *Config) defaults() {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.BackfillDepth <= 0 {
		c.BackfillDepth = 30 * 24 * time.Hour
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.CloseGrace <= 0 {
		c.CloseGrace = 3 * time.Second
	}
	if c.CoverageLag <= 0 {
		c.CoverageLag = 2 * time.Minute
	}
	if c.RESTLag <= 0 {
		c.RESTLag = 2 * time.Minute
	}
	if c.RecentDepth <= 0 {
		c.RecentDepth = 24 * time.Hour
	}
	if c.HoleWait <= 0 {
		c.HoleWait = 3 * time.Second
	}
	if c.SilenceMin <= 0 {
		c.SilenceMin = 30 * time.Second
	}
	if c.BookPolls == 0 {
		c.BookPolls = 30
	}
	if c.BookDepth <= 0 {
		c.BookDepth = 5
	}
	if c.HistoryFollows == "" {
		c.HistoryFollows = FollowStream
	}
	if c.AuditInterval == 0 {
		c.AuditInterval = 5 * time.Minute
	}
	if c.SummaryInterval == 0 {
		c.SummaryInterval = 10 * time.Minute
	}
}

// Service is the ingest pipeline. Create it with New and start it with Run.
type Service struct {
	cfg    Config
	log    *slog.Logger
	engine *bars.Engine
	specs  map[string]bars.InstrumentSpec
	order  []string // FIGIs in catalogue order
	start  time.Time

	archive archiveCache // the deep backfill's last yearly archive

	mu       sync.Mutex
	pending  map[string][]tvbridge.Bar // closed in the engine, not yet flushed
	inflight map[string][]tvbridge.Bar // being committed right now
	pendCov  []tvbridge.Range          // streamed ranges waiting to be marked covered
	flushCov []tvbridge.Range          // streamed ranges being committed right now
	// streamFrom mirrors coverFrom for the backfill: the stream is
	// responsible for everything from here on, for each instrument from
	// the later of this and its restartFrom (see streams.go).
	streamFrom  time.Time
	restartFrom map[string]time.Time // per FIGI: its stream's last restart; never while down
	streams     map[string]streamState
	sealed      map[string]time.Time // per FIGI: daily bars stored for trading days before this
	closed      map[string]time.Time // per FIGI: everything before is covered and durable
	// unstreamed lists the FIGIs whose candle subscription the upstream
	// refused: the stream covers none of their minutes, so they are left to
	// the backfill.
	unstreamed map[string]bool
	flushErr   error

	kick        chan struct{}          // wakes recentLoop after a stream restart
	recentUntil map[string]time.Time   // guarded by mu: fetched early up to here
	fetching    map[string]*sync.Mutex // per FIGI: one early fetch at a time (recent.go)

	// Silence (streams.go), owned by the event loop: when each instrument's
	// last data frame arrived and its usual gap between frames.
	lastData map[string]time.Time
	usualGap map[string]time.Duration
	// updated mirrors lastData for readers on other goroutines (/readyz,
	// the console): Unix nanoseconds, per FIGI, fixed at New.
	updated map[string]*atomic.Int64
	silent  map[string]bool // guarded by mu: live, but no data while it should have some
	// fetchFailed, guarded by mu: when an early fetch of each FIGI last failed.
	fetchFailed map[string]time.Time

	// The audit (audit.go): per FIGI, the stream's ranges waiting to be
	// compared with the exchange, and whether each streamed minute since
	// the last pass had its final state.
	auditQueue map[string][]tvbridge.Range
	finals     map[string]map[int64]bool
	auditedTo  time.Time

	coverFrom time.Time // owned by the event loop

	progress  Progress
	uncovered map[string]int64 // per FIGI, owned by the backfill goroutine (uncovered.go)
	warner    limitedWarner
	polled    chan tvbridge.Event // books polled from REST, for the event loop
	pollKick  chan struct{}       // wakes the poll loop
}

// Progress reports the backfill's advance; all fields are read atomically.
type Progress struct {
	Instruments     atomic.Int64 // instruments in the catalogue
	InitialDone     atomic.Int64 // instruments whose initial backfill finished
	Requests        atomic.Int64 // REST candle requests made
	BarsBackfilled  atomic.Int64
	GapsFilled      atomic.Int64
	Errors          atomic.Int64
	FlushErrors     atomic.Int64
	StoreConflicts  atomic.Int64
	MinutesFlushed  atomic.Int64
	RecentBars      atomic.Int64 // bars fetched ahead of the REST lag (see recent.go)
	LastFlushMillis atomic.Int64
	Unstreamed      atomic.Int64 // instruments whose candle stream the upstream refused
	Silences        atomic.Int64 // times an instrument in session went silent on a live stream
	HolesCut        atomic.Int64 // /history answers cut short before a minute REST could not provide in time
	BooksPolled     atomic.Int64 // order books polled from REST for instruments without a live stream
	ArchiveYears    atomic.Int64 // instrument-years taken from the upstream's yearly archive (archive.go)

	// History against the exchange (audit.go).
	AuditedMinutes       atomic.Int64 // streamed minutes compared with final REST candles
	ExchangeDiffers      atomic.Int64 // minutes whose /history bar differed from the exchange's final candle
	ExchangeDiffersFinal atomic.Int64 // of those, minutes whose final state the stream had carried (defects)
	ExchangeReplaced     atomic.Int64 // bars replaced (or removed) to follow the exchange

	// The backfill window in minutes over every instrument, and the part of
	// it not yet known complete (uncovered.go).
	WindowMinutes    atomic.Int64
	UncoveredMinutes atomic.Int64
}

// New builds the service and its bar engine.
func New(cfg Config) (*Service, error) {
	cfg.defaults()
	if cfg.Upstream == nil || cfg.Store == nil || cfg.Tape == nil {
		return nil, errors.New("ingest: Upstream, Store and Tape are required")
	}
	switch cfg.HistoryFollows {
	case FollowStream:
	case FollowExchange:
		if _, ok := cfg.Store.(ReplacingStore); !ok {
			return nil, errors.New("ingest: following the exchange needs a store that can replace minutes")
		}
		if cfg.AuditInterval < 0 {
			return nil, errors.New("ingest: following the exchange needs the audit (AuditInterval >= 0)")
		}
	default:
		return nil, fmt.Errorf("ingest: HistoryFollows %q: want %q or %q", cfg.HistoryFollows, FollowStream, FollowExchange)
	}
	s := &Service{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "ingest"),
		specs:    make(map[string]bars.InstrumentSpec, len(cfg.Instruments)),
		pending:  make(map[string][]tvbridge.Bar),
		closed:   make(map[string]time.Time),
		sealed:   make(map[string]time.Time),
		kick:     make(chan struct{}, 1),
		polled:   make(chan tvbridge.Event),
		pollKick: make(chan struct{}, 1),

		recentUntil: make(map[string]time.Time),
		fetching:    make(map[string]*sync.Mutex),
		lastData:    make(map[string]time.Time),
		updated:     make(map[string]*atomic.Int64),
		usualGap:    make(map[string]time.Duration),
		silent:      make(map[string]bool),
		fetchFailed: make(map[string]time.Time),
		restartFrom: make(map[string]time.Time),
		streams:     make(map[string]streamState),
		auditQueue:  make(map[string][]tvbridge.Range),
		finals:      make(map[string]map[int64]bool),
	}
	s.engine = bars.New(bars.Config{
		Clock:      cfg.Clock,
		CloseGrace: cfg.CloseGrace,
		DailyBars:  cfg.DailyBars,
		Logger:     cfg.Logger,
	}, sink{s})
	for _, spec := range cfg.Instruments {
		figi := spec.Instrument.FIGI
		if _, dup := s.specs[figi]; dup {
			return nil, fmt.Errorf("ingest: instrument %s listed twice", figi)
		}
		s.specs[figi] = spec
		s.order = append(s.order, figi)
		s.fetching[figi] = new(sync.Mutex)
		s.updated[figi] = new(atomic.Int64)
		s.engine.Add(spec)
	}
	s.progress.Instruments.Store(int64(len(s.order)))
	s.initUncovered()
	return s, nil
}

// Engine returns the bar engine (for its statistics).
func (s *Service) Engine() *bars.Engine { return s.engine }

// Progress returns the live backfill and flush counters.
func (s *Service) Progress() *Progress { return &s.progress }

// sink receives the bar engine's output on the event-loop goroutine.
type sink struct{ s *Service }

func (k sink) Ticks(ticks []tvbridge.Tick) { k.s.cfg.Tape.Append(ticks...) }

func (k sink) MinutesClosed(figi string, closed []bars.Closed) {
	if f := k.s.cfg.MinutesClosed; f != nil {
		f(figi, closed)
	}
	k.s.mu.Lock()
	for _, c := range closed {
		k.s.pending[figi] = append(k.s.pending[figi], c.Bar)
		k.s.noteClosedLocked(figi, c.Time, c.Final)
	}
	k.s.mu.Unlock()
}

// Run restores state, subscribes, and runs the event loop, the flusher and
// the backfill until ctx is done. It flushes what is pending before it returns.
func (s *Service) Run(ctx context.Context) error {
	s.start = s.cfg.Clock.Now()
	if err := s.restore(ctx); err != nil {
		return err
	}
	s.subscribe()

	var wg sync.WaitGroup
	flushCtx, stopFlush := context.WithCancel(context.Background())
	recentDone := make(chan struct{})
	wg.Add(3)
	if s.cfg.AuditInterval > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.auditLoop(ctx) }()
	}
	if s.cfg.SummaryInterval > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.summaryLoop(ctx) }()
	}
	if s.cfg.BookPolls > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.pollLoop(ctx) }()
	}
	go func() { defer wg.Done(); s.flushLoop(flushCtx) }()
	go func() { defer wg.Done(); s.recentLoop(ctx, recentDone) }()
	go func() {
		defer wg.Done()
		select {
		case <-recentDone: // the minutes just before the start come first
		case <-ctx.Done():
			return
		}
		s.backfillLoop(ctx)
	}()

	err := s.eventLoop(ctx)
	// The flusher outlives the event loop by one final flush, so a clean
	// shutdown loses nothing that was closed.
	stopFlush()
	wg.Wait()
	s.flush(context.Background())
	s.logSummary()
	return err
}

func (s *Service) subscribe() {
	subs := make([]tvbridge.Subscription, 0, 4*len(s.order))
	for _, figi := range s.order {
		subs = append(subs,
			tvbridge.Subscription{Kind: tvbridge.SubCandle, FIGI: figi, Interval: tvbridge.Interval1Min},
			tvbridge.Subscription{Kind: tvbridge.SubOrderBook, FIGI: figi, Depth: s.cfg.BookDepth},
			tvbridge.Subscription{Kind: tvbridge.SubInstrumentInfo, FIGI: figi},
		)
		if s.cfg.Trades {
			subs = append(subs, tvbridge.Subscription{Kind: tvbridge.SubTrade, FIGI: figi})
		}
	}
	s.cfg.Upstream.Subscribe(subs...)
}

// restore tells the engine, per instrument, which minutes are already closed
// and durable, so a restart never streams or stores a minute twice.
func (s *Service) restore(ctx context.Context) error {
	now := s.cfg.Clock.Now()
	for _, figi := range s.order {
		spec := s.specs[figi]
		dayStart := now.Add(-36 * time.Hour)
		stored, err := s.cfg.Store.Minutes(ctx, figi, dayStart, now.Add(time.Minute))
		if err != nil {
			return fmt.Errorf("restore %s: %w", figi, err)
		}
		var last time.Time
		if n := len(stored); n > 0 {
			last = stored[n-1].Time
		}
		today := s.todaysBars(spec, stored, now)
		s.engine.Restore(figi, last, today)
		s.resumeOpen(figi, now)
		if err := s.refreshClosed(ctx, figi); err != nil {
			return err
		}
	}
	s.setCoverFrom(nextMinute(now))
	s.initStreams()
	return nil
}

// resumeOpen continues the forming minute another process streamed, when
// it is the current minute or the one before (which may still be in its
// close grace); older ones were closed by the clock.
func (s *Service) resumeOpen(figi string, now time.Time) {
	if s.cfg.ResumeOpen == nil {
		return
	}
	b, ok := s.cfg.ResumeOpen(figi)
	if !ok || b.Time.Before(now.Truncate(time.Minute).Add(-time.Minute)) {
		return
	}
	s.engine.ResumeOpen(figi, b, now)
}

// todaysBars picks the stored minutes of the trading day that contains now.
func (s *Service) todaysBars(spec bars.InstrumentSpec, stored []tvbridge.Bar, now time.Time) []tvbridge.Bar {
	if spec.Schedule == nil {
		return nil
	}
	day, ok := spec.Schedule.TradingDay(now)
	if !ok {
		return nil
	}
	var out []tvbridge.Bar
	for _, b := range stored {
		if d, ok := spec.Schedule.TradingDay(b.Time); ok && d.Equal(day) {
			out = append(out, b)
		}
	}
	return out
}

func nextMinute(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) }

// eventLoop is the only goroutine that talks to the bar engine's write side.
func (s *Service) eventLoop(ctx context.Context) error {
	sweep := s.cfg.Clock.NewTicker(250 * time.Millisecond)
	defer sweep.Stop()
	events := s.cfg.Upstream.Events()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return s.eventsClosed(ctx)
			}
			s.handle(ev)
		case ev := <-s.polled:
			s.handlePolled(ev)
		case <-sweep.C():
			if !s.sweep(events) {
				return s.eventsClosed(ctx)
			}
		}
	}
}

// eventsClosed is the event loop's end when the upstream closed its event
// channel: normal when the upstream stopped because ctx is done (the two
// see the cancellation in either order), an error otherwise.
func (s *Service) eventsClosed(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("ingest: upstream event channel closed")
}

// sweep does the clock-driven work. Events received before it are handled
// first: a minute closes on the clock only once every update received in
// its grace has been applied, whichever channel select happened to pick.
// It returns false when the event channel was closed.
func (s *Service) sweep(events <-chan tvbridge.Event) bool {
	for range len(events) {
		ev, ok := <-events
		if !ok {
			return false
		}
		s.handle(ev)
	}
	s.engine.Sweep()
	s.markCoverage()
	return true
}

// handlePolled handles an event polled from REST: like a streamed one, but
// it is no sign of life of the stream.
func (s *Service) handlePolled(ev tvbridge.Event) {
	s.engine.Handle(ev)
	if s.cfg.Observe != nil {
		s.cfg.Observe(ev)
	}
}

func (s *Service) handle(ev tvbridge.Event) {
	switch e := ev.(type) {
	case *tvbridge.CandleEvent:
		s.noteData(e.Candle.FIGI, e.Received)
	case *tvbridge.OrderBookEvent:
		s.noteData(e.Book.FIGI, e.Received)
	case *tvbridge.InstrumentInfoEvent:
		s.noteData(e.Info.FIGI, e.Received)
	case *tvbridge.TradeEvent:
		s.noteData(e.Trade.FIGI, e.Received)
	}
	if e, ok := ev.(*tvbridge.ErrorEvent); ok {
		s.log.Warn("upstream error event", "message", e.Message, "request_id", e.RequestID)
		if sub := e.Subscription; sub != nil && sub.Kind == tvbridge.SubCandle {
			s.markUnstreamed(sub.FIGI)
		}
		return
	}
	s.engine.Handle(ev)
	if s.cfg.Observe != nil {
		s.cfg.Observe(ev)
	}
}

// markCoverage records the streamed minutes that are now known complete:
// closed for longer than CoverageLag. The range is marked for every
// streamed instrument at flush, from the instrument's last stream restart
// on (see streams.go): the minutes around a restart are left as a gap for
// the backfill, for the instruments concerned only.
func (s *Service) markCoverage() {
	now := s.cfg.Clock.Now()
	s.trackStreams(now)
	end := now.Add(-s.cfg.CloseGrace - s.cfg.CoverageLag).Truncate(time.Minute)
	if !end.After(s.coverFrom) {
		return
	}
	s.mu.Lock()
	s.pendCov = append(s.pendCov, tvbridge.Range{From: s.coverFrom, To: end})
	s.mu.Unlock()
	s.setCoverFrom(end)
}

// markUnstreamed records that the upstream refused figi's candle stream.
func (s *Service) markUnstreamed(figi string) {
	if _, known := s.specs[figi]; !known {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unstreamed[figi] {
		return
	}
	if s.unstreamed == nil {
		s.unstreamed = make(map[string]bool)
	}
	s.unstreamed[figi] = true
	s.progress.Unstreamed.Add(1)
	s.log.Warn("upstream refused the candle stream; its minutes will come from REST backfill", "figi", figi)
	s.kickPoll()
}

func (s *Service) isUnstreamed(figi string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unstreamed[figi]
}

func (s *Service) setCoverFrom(t time.Time) {
	s.coverFrom = t
	s.mu.Lock()
	s.streamFrom = t
	s.mu.Unlock()
}

func (s *Service) flushLoop(ctx context.Context) {
	t := s.cfg.Clock.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.flush(ctx)
		}
	}
}

// flush commits the pending closed minutes and coverage in one transaction.
// Until the commit returns, History still serves them from memory.
func (s *Service) flush(ctx context.Context) {
	s.mu.Lock()
	if len(s.pending) == 0 && len(s.pendCov) == 0 {
		s.mu.Unlock()
		return
	}
	batch := s.pending
	covRanges := s.pendCov
	s.flushCov = covRanges
	s.inflight = batch
	s.pending = make(map[string][]tvbridge.Bar)
	s.pendCov = nil
	s.mu.Unlock()

	covered := make(map[string][]tvbridge.Range, len(s.order))
	if len(covRanges) > 0 {
		s.mu.Lock()
		for _, figi := range s.order {
			if s.unstreamed[figi] {
				continue
			}
			if rs := clipRanges(covRanges, s.restartFrom[figi]); len(rs) > 0 {
				covered[figi] = rs
			}
		}
		s.mu.Unlock()
	}
	audited := covered
	if s.cfg.HistoryFollows == FollowExchange {
		// The stream's minutes become immutable only once audited.
		covered = nil
	}
	began := time.Now()
	conflicts, err := s.cfg.Store.PutMinutesBatch(ctx, batch, covered)
	s.progress.LastFlushMillis.Store(time.Since(began).Milliseconds())

	s.mu.Lock()
	s.inflight = nil
	s.flushCov = nil
	if err == nil {
		for figi, rs := range audited {
			s.queueAuditLocked(figi, rs)
		}
	}
	if err != nil {
		// Put everything back; the next flush retries. Nothing is lost
		// unless the process dies, and then the backfill refills it.
		for figi, bs := range batch {
			s.pending[figi] = append(bs, s.pending[figi]...)
		}
		s.pendCov = append(covRanges, s.pendCov...)
		s.flushErr = err
	}
	s.mu.Unlock()
	if err != nil {
		s.progress.FlushErrors.Add(1)
		s.log.Error("flush closed minutes", "err", err)
		return
	}
	n := 0
	for _, bs := range batch {
		n += len(bs)
	}
	s.progress.MinutesFlushed.Add(int64(n))
	s.progress.StoreConflicts.Add(int64(conflicts))
	if conflicts > 0 {
		s.log.Warn("store kept earlier bars for some streamed minutes", "conflicts", conflicts)
	}
	if len(covRanges) > 0 {
		for _, figi := range s.order {
			if err := s.refreshClosed(ctx, figi); err != nil {
				s.log.Warn("refresh closed watermark", "figi", figi, "err", err)
			}
		}
	}
}

// refreshClosed recomputes the instant before which an instrument's minutes
// are complete and durable: the end of its first covered range.
func (s *Service) refreshClosed(ctx context.Context, figi string) error {
	ranges, err := s.cfg.Store.Covered(ctx, figi, time.Unix(0, 0).UTC(), s.cfg.Clock.Now().Add(24*time.Hour))
	if err != nil {
		return fmt.Errorf("coverage of %s: %w", figi, err)
	}
	var closed time.Time
	if len(ranges) > 0 {
		closed = ranges[0].To
	}
	s.mu.Lock()
	s.closed[figi] = closed
	s.mu.Unlock()
	return nil
}

// memoryBars returns copies of the closed-but-not-durable bars of figi in [from, to).
func (s *Service) memoryBars(figi string, from, to time.Time) []tvbridge.Bar {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tvbridge.Bar
	for _, src := range [][]tvbridge.Bar{s.inflight[figi], s.pending[figi]} {
		for _, b := range src {
			if !b.Time.Before(from) && b.Time.Before(to) {
				out = append(out, b)
			}
		}
	}
	return out
}

// Minutes returns the 1-minute bars with from <= Time < to: stored, closed in
// memory, and the open minute as streamed so far. It never returns a bar
// after a recent minute that is still a hole (see recent.go).
func (s *Service) Minutes(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	upTo, err := s.fillHole(ctx, figi, to)
	if err != nil {
		return nil, err
	}
	bars, err := s.minutes(ctx, figi, from, to)
	if err != nil || !upTo.Before(to) {
		return bars, err
	}
	n := sort.Search(len(bars), func(i int) bool { return !bars[i].Time.Before(upTo) })
	return bars[:n], nil
}

// minutes is Minutes without the hole check.
func (s *Service) minutes(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	// Read memory before the store: a bar that moves from memory to the
	// store in between is then seen at least once (duplicates are merged).
	open, hasOpen := s.engine.OpenMinute(figi)
	mem := s.memoryBars(figi, from, to)
	stored, err := s.cfg.Store.Minutes(ctx, figi, from, to)
	if err != nil {
		return nil, fmt.Errorf("minutes of %s: %w", figi, err)
	}
	if hasOpen && !open.Time.Before(from) && open.Time.Before(to) && open.Volume > 0 {
		mem = append(mem, open)
	}
	return mergeBars(stored, mem), nil
}

// mergeBars merges two bar lists by time; on equal times the first list
// (the store, which is authoritative for closed bars) wins.
func mergeBars(primary, extra []tvbridge.Bar) []tvbridge.Bar {
	if len(extra) == 0 {
		return primary
	}
	seen := make(map[int64]bool, len(primary))
	out := append([]tvbridge.Bar(nil), primary...)
	for _, b := range primary {
		seen[b.Time.Unix()] = true
	}
	for _, b := range extra {
		if !seen[b.Time.Unix()] {
			seen[b.Time.Unix()] = true
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// FirstBar returns the instrument's first-bar watermark.
func (s *Service) FirstBar(ctx context.Context, figi string) (time.Time, bool, error) {
	return s.cfg.Store.FirstBar(ctx, figi)
}

// ClosedBefore returns the instant before which the instrument's bars are
// immutable: covered, durable, and closed.
func (s *Service) ClosedBefore(figi string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed[figi]
}

package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"tvbridge/clock"
	"tvbridge/openapi"
)

// Config is one run of the checker.
type Config struct {
	// URL is the base URL of the server's Broker REST API, e.g.
	// https://broker.example/api; endpoint paths are appended to it.
	URL string

	// Credentials. Login and Password log in through POST /authorize, JWT
	// requests a token with a signed assertion, Token is used as given (it
	// wins over the others for data requests). Any of them means the
	// server claims auth, so requests without a token must get HTTP 401.
	Login, Password string
	JWT             *JWT
	Token           string

	// Duration is how long /streaming is read; default 2 minutes. The
	// stream-vs-history test needs one whole minute covered by the stream:
	// 2m5s always has one, shorter runs may not.
	Duration time.Duration
	// Connections is how many parallel /streaming connections are read;
	// TradingView opens up to 4. Default 4.
	Connections int

	// Symbols to run the /history tests on (names or tickers). Empty: up
	// to Sample symbols with recent bars, in session ones first. Sample
	// defaults to 5.
	Symbols []string
	Sample  int
	// Left is the declared left boundary of the data (no bar before it);
	// zero when unknown, and then 1970-01-01 is used as "surely before".
	Left time.Time

	// Only and Skip select checks by name, name prefix or glob.
	Only, Skip []string

	// Trading enables the trading smoke scenario; nil skips it.
	Trading *Trading

	// Spec validates responses against TradingView's OpenAPI schemas; when
	// nil the schema checks are skipped with SpecMissing as the reason.
	Spec        *openapi.Spec
	SpecMissing string

	// HTTPClient sends every request; it must not set an overall Timeout,
	// which would cut /streaming (per-request timeouts are applied here).
	HTTPClient *http.Client
	// Concurrency bounds the requests in flight, streams aside; default 4.
	Concurrency int
	// RequestTimeout bounds each request; default 30s.
	RequestTimeout time.Duration
	// Clock times ticks, waits and "now"; default clock.Real{}.
	Clock clock.Clock
	// Logger reports progress; default discards.
	Logger *slog.Logger
	// Progress, when set, is called with the run's progress each time a
	// check gets its result (from the goroutine recording it; it must be
	// quick). A terminal front end draws a progress bar with it.
	Progress func(Progress)
}

// Progress is how far a run is: checks with a result of those selected,
// failures so far, and the streaming phase's planned length.
type Progress struct {
	Done, Total, Failed int
	Streaming           time.Duration
}

// ErrConfig marks a configuration Run cannot start with.
var ErrConfig = errors.New("check: bad configuration")

func (cfg *Config) setDefaults() error {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: URL %q: want http(s)://host[:port][/base]", ErrConfig, cfg.URL)
	}
	if (cfg.Login == "") != (cfg.Password == "") {
		return fmt.Errorf("%w: give both a login and a password, or neither", ErrConfig)
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 2 * time.Minute
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 4
	}
	if cfg.Sample <= 0 {
		cfg.Sample = 5
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Spec == nil && cfg.SpecMissing == "" {
		cfg.SpecMissing = "no OpenAPI spec given"
	}
	return nil
}

// runner is the state of one run.
type runner struct {
	cfg Config
	sel selection
	c   *client
	clk clock.Clock
	log *slog.Logger
	obs *observer

	mu      sync.Mutex
	results map[string]Result

	authClaimed bool
	symbols     *symbolSet // nil when /symbol_info could not be read
	symbolsErr  string     // why symbols is nil
}

// Run checks the server at cfg.URL and returns the report. The error is
// ErrConfig for a configuration it cannot start with, or the context's
// error when the run was interrupted; the report then holds what ran.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	sel, err := newSelection(cfg.Only, cfg.Skip)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.JWT != nil {
		if err := cfg.JWT.validate(cfg.URL); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	r := &runner{
		cfg:     cfg,
		sel:     sel,
		c:       newClient(cfg.URL, cfg.HTTPClient, cfg.Concurrency, cfg.RequestTimeout),
		clk:     cfg.Clock,
		log:     cfg.Logger,
		results: make(map[string]Result),
	}
	r.obs = newObserver(r.c, cfg.Spec, cfg.SpecMissing)
	r.c.addSecret(cfg.Password)
	r.c.addSecret(cfg.Token)
	if cfg.JWT != nil {
		r.c.addSecret(cfg.JWT.ClientSecret)
	}
	started := r.clk.Now()
	r.run(ctx)
	rep := r.report(started)
	return rep, ctx.Err()
}

// run runs the phases in order (see the package documentation). An
// interrupted run stops after the phase it was in; the checks not reached
// are reported as not run.
func (r *runner) run(ctx context.Context) {
	r.authenticate(ctx)
	var stream *streamRun
	streamEnd := r.clk.Now().Add(r.cfg.Duration)
	if r.sel.anyEnabled("streaming") || r.sel.enabled("schema/streaming") {
		stream = r.startStreaming(ctx)
		streamEnd = stream.plannedStop
	}
	phases := []func(context.Context){
		r.checkSymbols,
		r.checkUnauthorized,
		func(ctx context.Context) { r.checkHistory(ctx, streamEnd) },
		r.checkTrading,
	}
	for _, phase := range phases {
		if ctx.Err() == nil {
			phase(ctx)
		}
	}
	if stream != nil {
		r.log.Info("waiting for the streaming tests to finish", "until", streamEnd.Format(time.TimeOnly))
		stream.wait()
		if ctx.Err() == nil {
			r.checkStreaming(ctx, stream)
		}
	}
	r.obs.results(r)
}

// set records a result, if its check was selected.
func (r *runner) set(res Result) {
	if !r.sel.enabled(res.Name) {
		return
	}
	r.mu.Lock()
	r.results[res.Name] = res
	p := r.progressLocked()
	r.mu.Unlock()
	if r.cfg.Progress != nil {
		r.cfg.Progress(p)
	}
}

// progressLocked counts the results so far; callers hold r.mu.
func (r *runner) progressLocked() Progress {
	p := Progress{Done: len(r.results), Streaming: r.cfg.Duration}
	for _, c := range catalogue {
		if r.sel.enabled(c.Name) {
			p.Total++
		}
	}
	for _, res := range r.results {
		if res.Status == Fail {
			p.Failed++
		}
	}
	return p
}

func (r *runner) setTally(name string, t *tally) { r.set(t.result(r.c, name)) }

func (r *runner) pass(name, format string, args ...any) {
	r.set(Result{Name: name, Status: Pass, Reason: r.c.redact(fmt.Sprintf(format, args...))})
}

func (r *runner) skip(name, format string, args ...any) {
	r.set(Result{Name: name, Status: Skip, Reason: r.c.redact(fmt.Sprintf(format, args...))})
}

// skipAll skips every selected check under prefix that has no result yet.
func (r *runner) skipAll(prefix, format string, args ...any) {
	for _, c := range catalogue {
		if matches(prefix, c.Name) && !r.has(c.Name) {
			r.skip(c.Name, format, args...)
		}
	}
}

// fail records a failure with its evidence.
func (r *runner) fail(name string, ex *exchange, format string, args ...any) {
	res := Result{Name: name, Status: Fail, Reason: r.c.redact(fmt.Sprintf(format, args...))}
	res.Request, res.Response = r.c.evidence(ex)
	r.set(res)
}

func (r *runner) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.results[name]
	return ok
}

// report orders the results as the catalogue does; a selected check that
// never got a result (an interrupted run) is skipped with that reason.
func (r *runner) report(started time.Time) *Report {
	rep := &Report{URL: r.cfg.URL, Started: started, ElapsedSeconds: r.clk.Since(started).Seconds()}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range catalogue {
		if !r.sel.enabled(c.Name) {
			continue
		}
		res, ok := r.results[c.Name]
		if !ok {
			res = Result{Name: c.Name, Status: Skip, Reason: "not run: the run was interrupted"}
		}
		rep.Results = append(rep.Results, res)
	}
	rep.summarize()
	return rep
}

// describe names a symbol in reasons: "SBER" or "SBER (ticker BBG004730N88)".
func describe(s *symbolRef) string {
	if s.Ticker != s.Name {
		return s.Name + " (ticker " + s.Ticker + ")"
	}
	return s.Name
}

// plural is "1 symbol", "2 symbols".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// joinLimited joins at most n items, saying how many were left out.
func joinLimited(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// each calls fn(i) for i in [0, count), at most n at a time: enough to keep
// the client's request slots busy without a goroutine per symbol.
func each(n, count int, fn func(i int)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, max(n, 1))
	for i := range count {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			fn(i)
		})
	}
	wg.Wait()
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // sessions need IANA zones even on hosts without a zoneinfo database

	"tvbridge"
	"tvbridge/admin"
	"tvbridge/api"
	"tvbridge/bars"
	"tvbridge/bolt"
	"tvbridge/ingest"
	"tvbridge/live"
	"tvbridge/metrics"
	"tvbridge/tape"
	"tvbridge/tinkoff"
	"tvbridge/tinkoff/stream"
	"tvbridge/tinkoff/wire"
	"tvbridge/tinvest"
	v2stream "tvbridge/tinvest/stream"
)

type serveOptions struct {
	listen, dataDir, wsURL, restURL, tokenFile, groupPrefix, logLevel *string
	protocol, kinds, appName                                          *string
	archive                                                           *bool
	historyFollows                                                    *string
	closeGrace, auditInterval                                         *time.Duration
	restRate, backfillDays, maxConns, perConn, bookDepth, gcPercent   *int
	legacyNoData, dailyBars                                           *bool
	heartbeat                                                         *time.Duration
	sim                                                               simOptions
	cluster                                                           clusterOptions
	front                                                             frontOptions
	admin                                                             adminOptions
}

func serveFlags(fs *flagSet) serveOptions {
	return serveOptions{
		listen:  fs.String("listen", "127.0.0.1:8080", "address to serve TradingView's API on"),
		dataDir: fs.String("data-dir", "./data", "directory of the embedded bar store"),
		protocol: fs.String("upstream", "v1", "upstream protocol: \"v1\" (Tinkoff Invest OpenAPI v1, switched off by Tinkoff in 2023; the\n"+
			"      simulator's default personality) or \"v2\" (T-Invest API v2, Tinkoff's current API, for live and sandbox accounts)"),
		wsURL: fs.String("upstream-ws-url", "", "market-data WebSocket URL, e.g. wss://api-invest.tinkoff.ru/openapi/md/v1/md-openapi/ws (v1)\n"+
			"      (empty, with --upstream-rest-url empty: run the embedded simulator; empty alone: derived from the REST URL)"),
		restURL: fs.String("upstream-rest-url", "", "REST base URL (empty: the embedded simulator). v1: e.g. https://api-invest.tinkoff.ru/openapi.\n"+
			"      v2: a URL such as https://invest-public-api.tinkoff.ru/rest/, or a preset: tinkoff, tinkoff-sandbox, tbank,\n"+
			"      tbank-sandbox (the sandbox presets trade sandbox accounts; the archive is always production's)"),
		tokenFile: fs.String("token-file", "", "file holding the upstream token; otherwise it is read from $TINKOFF_TOKEN (never from a flag)"),
		restRate: fs.Int("upstream-rest-rate", 0, "market-data REST requests per minute: v1 /market (0: 120, 6000 for the embedded simulator);\n"+
			"      v2 MarketDataService (0: 600, the service's limit; 6000 for the embedded simulator)"),
		maxConns: fs.Int("upstream-max-connections", 0, "upstream stream connections at most (0: the service's limit, 6 per user for v1, 16 per token for v2)"),
		perConn:  fs.Int("upstream-per-connection", 0, "subscriptions per upstream stream connection at most (0: 30 instruments for v1, 300 for v2)"),
		kinds: fs.String("upstream-kinds", "shares,etfs,bonds,currencies,futures", "v2: the instrument lists in the catalogue, comma-separated, of shares, etfs, bonds,\n"+
			"      currencies, futures"),
		appName: fs.String("upstream-app-name", "", "v2: sent as x-app-name, the application's name in Tinkoff's statistics"),
		archive: fs.Bool("backfill-archive", true, "v2: take days before the last two from the yearly archive (one request per instrument and\n"+
			"      year) instead of one GetCandles a day; makes --backfill-days 365 practical"),
		bookDepth:    fs.Int("book-depth", 5, "order-book depth subscribed for quotes (1..20)"),
		backfillDays: fs.Int("backfill-days", 30, "days of 1-minute history kept complete, backfilled from upstream REST at startup"),
		groupPrefix:  fs.String("group-prefix", "tvbridge_", "prefix of every /groups id (lowercase letters and _, ending in _)"),
		legacyNoData: fs.Bool("legacy-no-data", false, "answer empty /history ranges with the pre-1.3.26 {\"s\":\"no_data\",\"nb\":...} form"),
		dailyBars:    fs.Bool("daily-bars", true, "stream daily-bar (\"d\") messages and serve daily history"),
		heartbeat: fs.Duration("heartbeat-interval", 5*time.Second, "interval of /streaming's {\"heartbeat\":t} lines, sent however busy the stream\n"+
			"      (TradingView expects one every 5s; 'tvbridge check' fails a stream without one for more than 7s)"),
		logLevel: fs.String("log-level", "info", "log level: debug, info, warn or error"),
		closeGrace: fs.Duration("close-grace", 3*time.Second, "how long after its end a minute waits for the upstream's final state when no newer update came;\n"+
			"      a later final is not streamed. Late trades reach TradingView up to 1s + this after their time,\n"+
			"      and TradingView's streaming test fails a tick more than 5s late"),
		historyFollows: fs.String("history-follows", string(ingest.FollowStream), "what /history keeps for a minute whose streamed bar differs from the upstream's final REST\n"+
			"      candle (its last trades never reached the stream): \"stream\" (stream and history always agree;\n"+
			"      the chart differs from the exchange in those minutes) or \"exchange\" (history equals the exchange's\n"+
			"      candles once audited; each such minute is a mismatch in TradingView's 5 % stream-vs-history test)"),
		auditInterval: fs.Duration("audit-interval", 5*time.Minute, "how often streamed minutes are compared with the upstream's final REST candles (one request\n"+
			"      per instrument per pass; differences are counted and logged); 0 disables it (not with --history-follows exchange)"),
		gcPercent: fs.Int("gc-percent", 400, "Go garbage-collector target (as GOGC): a larger value trades memory for fewer collections,\n"+
			"      which keeps /streaming's latency tail short under load; -1 leaves the runtime's setting"),
		sim:     simFlags(fs),
		cluster: clusterFlags(fs),
		front:   frontFlags(fs),
		admin:   adminFlags(fs),
	}
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "Serves TradingView's Broker REST API (data integration: /symbol_info, /groups,\n"+
		"/history, /streaming) and the trading integration on top of a Tinkoff upstream: Invest\n"+
		"OpenAPI v1 or T-Invest API v2 (--upstream). With no upstream URL it runs the built-in\n"+
		"simulated exchange in-process, speaking that protocol: no credentials needed.", stderr).withConfig(stdout)
	o := serveFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	var status *statusLine
	logOut := stderr
	if isTerminal(stderr) {
		status = &statusLine{w: stderr}
		logOut = status
	}
	log, ring, err := newRingLogger(*o.logLevel, logOut)
	if err != nil {
		return err
	}
	started := time.Now()
	if *o.gcPercent >= 0 {
		// The live heap is tens of megabytes; collecting at 5x instead of
		// 2x it cut /streaming p99 at 104 connections from ~11 to ~4.5 ms
		// (BENCHMARKS.md).
		defer debug.SetGCPercent(debug.SetGCPercent(*o.gcPercent))
	}
	if *o.bookDepth < 1 || *o.bookDepth > 20 {
		return fmt.Errorf("--book-depth %d: want 1..20", *o.bookDepth)
	}
	if err := o.front.validate(); err != nil {
		return err
	}
	if err := o.admin.validate(); err != nil {
		return err
	}
	if *o.backfillDays < 1 {
		return fmt.Errorf("--backfill-days %d: want at least 1", *o.backfillDays)
	}
	follows, audit, err := o.auditSettings()
	if err != nil {
		return err
	}
	if *o.heartbeat <= 0 {
		return fmt.Errorf("--heartbeat-interval %s: want a positive duration", *o.heartbeat)
	}
	if on, err := o.cluster.enabled(); err != nil {
		return err
	} else if on {
		return o.serveCluster(ctx, clusterStart{fs: fs, log: log, ring: ring, started: started, follows: follows, audit: audit})
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	sessions := &sessionIndex{}
	up, stopSim, err := o.upstream(log, sessions.inSession)
	if err != nil {
		return err
	}
	defer stopSim()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := up.Run(ctx); err != nil {
			cancel(fmt.Errorf("upstream stream: %w", err))
		}
	}()

	store, err := bolt.Open(filepath.Join(*o.dataDir, "bars.db"), bolt.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("bar store: %w", err)
	}
	defer store.Close()
	cat := &catalogueSource{up: up, store: store, log: log}
	insts, err := cat.load(ctx)
	if err != nil {
		return errors.Join(err, context.Cause(ctx))
	}
	if cat.stale() {
		wg.Add(1)
		go func() { defer wg.Done(); cat.refresh(ctx, insts) }()
	}
	catalog, err := buildCatalog(ctx, insts, store, *o.groupPrefix, log)
	if err != nil {
		return err
	}
	tp := tape.New(tape.Config{})
	market := live.New()
	specs := instrumentSpecs(catalog)
	sessions.set(specs)
	svc, err := ingest.New(o.ingestConfig(up, store, tp, specs, market.Observe, follows, audit, log))
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := svc.Run(ctx); err != nil {
			cancel(fmt.Errorf("ingest: %w", err))
		}
	}()
	if status != nil {
		wg.Add(1)
		go func() { defer wg.Done(); backfillProgress(ctx, status, svc.Progress()) }()
	}

	dataCfg := o.dataConfig(catalog, svc, tp, log)
	dataCfg.Health = func() map[string]any {
		h := svc.Health()
		cat.report(h)
		return h
	}
	data := api.NewHandler(dataCfg)
	fr, err := o.front.build(*o.dataDir, catalog, data, market, tp, up, log)
	if err != nil {
		return err
	}
	reg := o.metrics(up, svc, tp, data, store, fr, insts)
	fr.handler = reg.HTTP(fr.handler)
	adminCfg, err := o.admin.config(adminParts{fs: fs, started: started, ring: ring, svc: svc, up: up,
		store: store, catalog: catalog, cat: cat, front: fr, metrics: reg.Handler(), streams: func() int { return int(data.Stats().StreamsOpen) }})
	if err != nil {
		fr.Close()
		return err
	}
	stop, err := startBackground(ctx, cancel, &wg, fr, *o.admin.listen, adminCfg, log)
	if err != nil {
		return err
	}
	defer stop()
	ln, err := net.Listen("tcp", *o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	scheme := "http://"
	if fr.tls != nil {
		scheme = "https://"
	}
	log.Info("tvbridge serving TradingView's API", "url", scheme+ln.Addr().String(),
		"symbols", len(catalog.Symbols()), "data_dir", *o.dataDir, "auth", *o.front.authMode, "trading", *o.front.tradingBackend)
	err = serveFront(ctx, ln, fr, log)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// ingestConfig is the ingest service's configuration from the serve flags.
func (o serveOptions) ingestConfig(up marketUpstream, store ingest.Store, tp tvbridge.Tape, specs []bars.InstrumentSpec,
	observe func(tvbridge.Event), follows ingest.Follow, audit time.Duration, log *slog.Logger) ingest.Config {
	return ingest.Config{
		Observe:        observe,
		Upstream:       up,
		Store:          store,
		Tape:           tp,
		Instruments:    specs,
		Logger:         log,
		BackfillDepth:  time.Duration(*o.backfillDays) * 24 * time.Hour,
		BookDepth:      *o.bookDepth,
		DailyBars:      *o.dailyBars,
		CloseGrace:     *o.closeGrace,
		HistoryFollows: follows,
		AuditInterval:  audit,
		// v2 streams the exchange's trades; v1 has candles only.
		Trades:    up.Protocol() == "v2",
		NoArchive: !*o.archive,
	}
}

// startBackground starts the admin listener (under wg) and the front's
// trading loops; a failure of either cancels ctx. stop ends them on the way
// out: the trading loops stop before their stores close (fr.Close). On an
// error fr is closed already.
func startBackground(ctx context.Context, cancel context.CancelCauseFunc, wg *sync.WaitGroup, fr *front,
	adminListen string, adminCfg admin.Config, log *slog.Logger) (stop func(), err error) {
	runAdmin, err := serveAdmin(ctx, adminListen, adminCfg, log)
	if err != nil {
		fr.Close()
		return nil, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := runAdmin(); err != nil {
			cancel(fmt.Errorf("admin listener: %w", err))
		}
	}()
	var trades sync.WaitGroup
	for _, run := range fr.run {
		trades.Add(1)
		go func() {
			defer trades.Done()
			if err := run(ctx); err != nil {
				cancel(fmt.Errorf("trading: %w", err))
			}
		}()
	}
	return func() { cancel(nil); trades.Wait(); fr.Close() }, nil
}

// dataConfig wires the data endpoints and their serve flags.
func (o serveOptions) dataConfig(catalog *api.Catalog, history api.History, tp tvbridge.Tape, log *slog.Logger) api.Config {
	return api.Config{
		Catalog:      catalog,
		History:      history,
		Tape:         tp,
		Logger:       log,
		LegacyNoData: *o.legacyNoData,
		Heartbeat:    *o.heartbeat,
	}
}

// upstream builds the upstream adapter of --upstream: to the given URLs,
// or to an embedded simulator on a loopback port, so the same client code
// runs either way.
func (o serveOptions) upstream(log *slog.Logger, active func(string, time.Time) bool) (marketUpstream, func(), error) {
	switch *o.protocol {
	case "v1":
		return o.upstreamV1(log, active)
	case "v2":
		return o.upstreamV2(log, active)
	}
	return nil, nil, fmt.Errorf("--upstream %q: want v1 or v2", *o.protocol)
}

// embeddedSim serves a simulator's handler on a loopback port until stop.
func embeddedSim(h http.Handler, closeSim func(), log *slog.Logger) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeSim()
		return "", nil, fmt.Errorf("embedded simulator: %w", err)
	}
	simCtx, cancel := context.WithCancel(context.Background())
	go serveHTTP(simCtx, ln, h, log.With("component", "sim"))
	return ln.Addr().String(), func() { cancel(); closeSim() }, nil
}

func (o serveOptions) upstreamV1(log *slog.Logger, active func(string, time.Time) bool) (marketUpstream, func(), error) {
	restURL, wsURL, rate := *o.restURL, *o.wsURL, *o.restRate
	stop := func() {}
	var token string
	if restURL == "" && wsURL == "" {
		srv, err := o.sim.start(log)
		if err != nil {
			return nil, nil, err
		}
		addr, stopSim, err := embeddedSim(srv.Handler(), srv.Close, log)
		if err != nil {
			return nil, nil, err
		}
		stop = stopSim
		restURL, wsURL = "http://"+addr+wire.RESTPrefix, "ws://"+addr+wire.StreamPath
		token = randomToken()
		if rate == 0 {
			rate = 6000
		}
		log.Info("running the embedded simulated exchange", "protocol", "v1", "rest", restURL)
	} else {
		if restURL == "" {
			return nil, nil, errors.New("--upstream-rest-url is required with --upstream-ws-url")
		}
		var err error
		if token, err = upstreamToken(*o.tokenFile); err != nil {
			return nil, nil, err
		}
		if wsURL == "" {
			if wsURL, err = tinkoff.StreamURL(restURL); err != nil {
				return nil, nil, err
			}
		}
	}
	if rate == 0 {
		rate = 120
	}
	return &v1Upstream{perMinute: rate, Upstream: tinkoff.NewUpstream(tinkoff.UpstreamConfig{
		REST: tinkoff.ClientConfig{BaseURL: restURL, Token: token, MarketPerMinute: rate, Logger: log},
		Stream: stream.Config{
			URL: wsURL, Token: token, Logger: log,
			MaxConnections: orDefault(*o.maxConns, 6), MaxPerConnection: orDefault(*o.perConn, 30),
			Active: active,
		},
	})}, stop, nil
}

// orDefault is v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// v2Presets are the --upstream-rest-url names of T-Invest API v2's
// deployments; a sandbox preset trades sandbox accounts.
var v2Presets = map[string]struct {
	e       tinvest.Endpoints
	sandbox bool
}{
	"tinkoff":         {tinvest.ProductionTinkoff, false},
	"tinkoff-sandbox": {tinvest.SandboxTinkoff, true},
	"tbank":           {tinvest.ProductionTBank, false},
	"tbank-sandbox":   {tinvest.SandboxTBank, true},
}

func (o serveOptions) upstreamV2(log *slog.Logger, active func(string, time.Time) bool) (marketUpstream, func(), error) {
	kinds, err := parseKinds(*o.kinds)
	if err != nil {
		return nil, nil, err
	}
	restURL, rate := *o.restURL, *o.restRate
	cfg := tinvest.UpstreamConfig{Kinds: kinds}
	stop := func() {}
	var token string
	var e tinvest.Endpoints
	switch p, preset := v2Presets[restURL]; {
	case restURL == "" && *o.wsURL == "":
		srv, err := o.sim.startV2(log)
		if err != nil {
			return nil, nil, err
		}
		addr, stopSim, err := embeddedSim(srv.Handler(), srv.Close, log)
		if err != nil {
			return nil, nil, err
		}
		stop = stopSim
		if e, err = tinvest.EndpointsFor("http://" + addr + "/rest/"); err != nil {
			stopSim()
			return nil, nil, err
		}
		cfg.Timezones = srv.ScheduleTimezones()
		// Its sandbox, as with the sandbox presets: demo accounts, which
		// 'tvbridge check --trading' and TradingView's tests place orders on.
		cfg.REST.Sandbox = true
		token = randomToken()
		log.Info("running the embedded simulated exchange", "protocol", "v2", "rest", e.REST)
	case restURL == "":
		return nil, nil, errors.New("--upstream-rest-url is required with --upstream-ws-url")
	case preset:
		e, cfg.REST.Sandbox = p.e, p.sandbox
	default:
		if e, err = tinvest.EndpointsFor(restURL); err != nil {
			return nil, nil, fmt.Errorf("--upstream-rest-url: %w", err)
		}
		cfg.REST.Sandbox = strings.Contains(e.REST, "://sandbox-")
	}
	if token == "" {
		if token, err = upstreamToken(*o.tokenFile); err != nil {
			return nil, nil, err
		}
	}
	if *o.wsURL != "" {
		e.Stream = *o.wsURL
	}
	limits := map[string]int{}
	if restURL == "" && rate == 0 {
		// The embedded simulator has no limits: backfill as fast as v1's.
		rate, limits[tinvest.BucketHistory] = 6000, 1000
	}
	if rate == 0 {
		rate = tinvest.DefaultLimits[tinvest.BucketMarketData]
	}
	limits[tinvest.BucketMarketData] = rate
	cfg.REST = tinvest.Config{BaseURL: e.REST, HistoryURL: e.History, Token: token, AppName: *o.appName,
		Sandbox: cfg.REST.Sandbox, Limits: limits, Logger: log}
	cfg.Stream = v2stream.Config{URL: e.Stream, MaxStreams: *o.maxConns, MaxSubscriptionsPerStream: *o.perConn, Active: active}
	return &v2Upstream{perMinute: rate, Upstream: tinvest.NewUpstream(cfg), embedded: restURL == "", sandbox: cfg.REST.Sandbox}, stop, nil
}

// parseKinds reads --upstream-kinds.
func parseKinds(v string) ([]tinvest.Kind, error) {
	var kinds []tinvest.Kind
	for _, k := range strings.Split(v, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(tinvest.AllKinds, tinvest.Kind(k)) {
			return nil, fmt.Errorf("--upstream-kinds: unknown list %q; want shares, etfs, bonds, currencies or futures", k)
		}
		kinds = append(kinds, tinvest.Kind(k))
	}
	if len(kinds) == 0 {
		return nil, errors.New("--upstream-kinds: name at least one list")
	}
	return kinds, nil
}

// upstreamToken reads the token from a file or $TINKOFF_TOKEN; it is never a
// flag, so it stays out of process listings and shell history.
func upstreamToken(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("token file %s is empty", file)
	}
	if t := strings.TrimSpace(os.Getenv("TINKOFF_TOKEN")); t != "" {
		return t, nil
	}
	return "", errors.New("an upstream URL is set but no token: set $TINKOFF_TOKEN or --token-file")
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// instrumentSpecs gives the bar engine each symbol with the instrument's
// own session (breaks included), which decides trading days.
func instrumentSpecs(c *api.Catalog) []bars.InstrumentSpec {
	specs := make([]bars.InstrumentSpec, 0, len(c.Symbols()))
	for _, sym := range c.Symbols() {
		sched := sym.Schedule
		if s, err := tvbridge.ParseSchedule(sym.Instrument.Session, sym.Timezone); err == nil {
			sched = s
		}
		specs = append(specs, bars.InstrumentSpec{Instrument: sym.Instrument, Symbol: sym.Ticker, Schedule: sched})
	}
	return specs
}

// buildCatalog publishes the instruments as symbols, keeping the names
// published by earlier runs (TradingView forbids renames), and records the
// names of this run.
func buildCatalog(ctx context.Context, insts []tvbridge.Instrument, store symbolNames, prefix string, log *slog.Logger) (*api.Catalog, error) {
	names, err := store.SymbolNames(ctx)
	if err != nil {
		return nil, err
	}
	catalog, err := api.BuildCatalog(insts, api.CatalogOptions{GroupPrefix: prefix, Logger: log, Names: names})
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	if err := store.PutSymbolNames(ctx, catalog.Names()); err != nil {
		return nil, err
	}
	return catalog, nil
}

// symbolNames stores the TradingView names published for each FIGI: the
// bbolt store, or PostgreSQL in cluster mode.
type symbolNames interface {
	SymbolNames(ctx context.Context) (map[string]string, error)
	PutSymbolNames(ctx context.Context, names map[string]string) error
}

// auditSettings validates --close-grace, --history-follows and --audit-interval.
func (o serveOptions) auditSettings() (ingest.Follow, time.Duration, error) {
	if g := *o.closeGrace; g <= 0 || g > time.Minute {
		return "", 0, fmt.Errorf("--close-grace %v: want more than 0 and at most 1m", g)
	}
	follows := ingest.Follow(*o.historyFollows)
	if follows != ingest.FollowStream && follows != ingest.FollowExchange {
		return "", 0, fmt.Errorf("--history-follows %q: want stream or exchange", *o.historyFollows)
	}
	audit := *o.auditInterval
	switch {
	case audit < 0:
		return "", 0, fmt.Errorf("--audit-interval %v: want 0 (off) or more", audit)
	case audit == 0 && follows == ingest.FollowExchange:
		return "", 0, errors.New("--history-follows exchange needs the audit: set --audit-interval above 0")
	case audit == 0:
		audit = -1 // ingest: never
	}
	return follows, audit, nil
}

// sessionIndex tells the stream pool whether an instrument is in session,
// from the trading schedules of the catalogue (known only after the pool
// was built): the pool's silence watchdogs expect data only then.
type sessionIndex struct {
	scheds atomic.Pointer[map[string]*tvbridge.Schedule]
}

func (x *sessionIndex) set(specs []bars.InstrumentSpec) {
	m := make(map[string]*tvbridge.Schedule, len(specs))
	for _, s := range specs {
		m[s.Instrument.FIGI] = s.Schedule
	}
	x.scheds.Store(&m)
}

// inSession reports whether figi trades at t; an instrument without a
// known schedule is taken to trade around the clock.
func (x *sessionIndex) inSession(figi string, t time.Time) bool {
	m := x.scheds.Load()
	if m == nil {
		return false // the catalogue is not loaded yet: expect nothing
	}
	sched := (*m)[figi]
	return sched == nil || sched.InSession(t)
}

// metrics builds the Prometheus registry over the running services; its
// middleware measures the TradingView-facing handler, its handler is the
// admin listener's /metrics.
func (o serveOptions) metrics(up marketUpstream, svc *ingest.Service, tp *tape.Tape, data *api.Handler,
	store *bolt.Store, fr *front, insts []tvbridge.Instrument) *metrics.Registry {
	src := metrics.Sources{Ingest: svc, Engine: svc.Engine(), Tape: tp,
		API: data, Store: store, Venue: *o.front.tradingBackend, Instruments: insts}
	up.Metrics(&src)
	if t, ok := fr.broker.(metrics.Trading); ok {
		src.Trading = t
	}
	if fr.auth != nil {
		src.Auth = fr.auth
	}
	return metrics.New(src)
}

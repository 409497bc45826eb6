package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"

	"tvbridge/sim"
	"tvbridge/sim/market"
	v2sim "tvbridge/sim/v2"
)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sim", "Runs the simulated exchange alone, so 'tvbridge serve' can be pointed at it by URL.\n"+
		"With --protocol v1 (the default) it speaks Tinkoff Invest OpenAPI v1: the market-data\n"+
		"WebSocket at /openapi/md/v1/md-openapi/ws and REST under /openapi/ (and /openapi/sandbox/).\n"+
		"With --protocol v2 it speaks T-Invest API v2: the REST gateway under /rest/, the\n"+
		"WebSocket streams under /ws/ and the yearly archive at /history-data.", stderr).withConfig(stdout)
	listen := fs.String("listen", "127.0.0.1:9180", "address to listen on (9090 is serve's admin listener)")
	protocol := fs.String("protocol", "v1", "protocol spoken: v1 (Tinkoff Invest OpenAPI v1) or v2 (T-Invest API v2)")
	opts := simFlags(fs)
	faults := simFaultFlags(fs)
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.parse(args); err != nil {
		return err
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		return err
	}
	switch *protocol {
	case "v1":
	case "v2":
		return runSimV2(ctx, *listen, opts, faults, log)
	default:
		return fmt.Errorf("--protocol %q: want v1 or v2", *protocol)
	}
	if err := faults.validate(); err != nil {
		return err
	}
	if faults.v2Set() {
		return errors.New("--fault-late-trades, --fault-corrective-candles and --fault-rest-429-every are for --protocol v2")
	}
	srv, m, err := opts.build(log, faults.configure)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := faults.apply(srv, m, log); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("simulated exchange listening",
		"stream", "ws://"+ln.Addr().String()+"/openapi/md/v1/md-openapi/ws",
		"rest", "http://"+ln.Addr().String()+"/openapi")
	return serveHTTP(ctx, ln, srv.Handler(), log)
}

// runSimV2 runs the T-Invest API v2 simulator.
func runSimV2(ctx context.Context, listen string, opts simOptions, faults simFaultOptions, log *slog.Logger) error {
	if err := faults.validateV2(); err != nil {
		return err
	}
	srv, err := opts.startV2(log)
	if err != nil {
		return err
	}
	defer srv.Close()
	faults.applyV2(srv, log)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()
	log.Info("simulated exchange listening", "protocol", "v2",
		"rest", "http://"+addr+"/rest/", "stream", "ws://"+addr+"/ws/", "archive", "http://"+addr+"/history-data")
	return serveHTTP(ctx, ln, srv.Handler(), log)
}

// simOptions are the simulator's flags, shared by 'sim' and the embedded
// simulator of 'serve'.
type simOptions struct {
	seed        *int64
	instruments *int
	tokensFile  *string
	maxConns    *int
	restRate    *int
}

func simFlags(fs *flagSet) simOptions {
	return simOptions{
		seed:        fs.Int64("sim-seed", 1, "simulator seed: the same seed gives the same instruments and prices forever"),
		instruments: fs.Int("sim-instruments", 0, "number of simulated instruments (0: the default universe of about 100; up to 10000)"),
		tokensFile:  fs.String("sim-tokens-file", "", "file listing the bearer tokens the simulator accepts, one per line (default: any non-empty token)"),
		maxConns: fs.Int("sim-max-connections", 0, "market-data stream connections the simulator allows per token (0: the service's limit, 6 for v1,\n"+
			"      the next handshake getting 423; 16 for v2, the next stream closed with 4008)"),
		restRate: fs.Int("sim-rest-rate", 0, "REST requests per minute the simulator allows per token: v1 /market, v2 each service (0: unlimited)"),
	}
}

// startV2 creates the T-Invest API v2 simulator on the same market model.
func (o simOptions) startV2(log *slog.Logger) (*v2sim.Server, error) {
	m, tokens, err := o.market()
	if err != nil {
		return nil, err
	}
	return v2sim.New(v2sim.Config{
		Market:        m,
		Tokens:        tokens,
		MaxStreams:    *o.maxConns,
		RESTRateLimit: *o.restRate,
		Commission:    0.0005,
		Logger:        log.With("component", "sim/v2"),
	}), nil
}

func (o simOptions) start(log *slog.Logger) (*sim.Server, error) {
	srv, _, err := o.build(log, nil)
	return srv, err
}

// build creates the simulator and its market; configure, if not nil, may
// change the configuration first.
func (o simOptions) build(log *slog.Logger, configure func(*sim.Config)) (*sim.Server, *market.Market, error) {
	m, tokens, err := o.market()
	if err != nil {
		return nil, nil, err
	}
	cfg := sim.Config{
		Market:         m,
		Tokens:         tokens,
		MaxConnections: orDefault(*o.maxConns, sim.DefaultMaxConnections),
		RESTRateLimit:  *o.restRate,
		Commission:     0.0005,
		Logger:         log.With("component", "sim"),
	}
	if configure != nil {
		configure(&cfg)
	}
	return sim.New(cfg), m, nil
}

// market builds the simulated market and reads the accepted tokens.
func (o simOptions) market() (*market.Market, []string, error) {
	if *o.instruments < 0 || *o.instruments > 10000 {
		return nil, nil, fmt.Errorf("--sim-instruments %d: want 0..10000", *o.instruments)
	}
	var tokens []string
	if *o.tokensFile != "" {
		b, err := os.ReadFile(*o.tokensFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tokens file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				tokens = append(tokens, t)
			}
		}
		if len(tokens) == 0 {
			return nil, nil, fmt.Errorf("tokens file %s lists no token", *o.tokensFile)
		}
	}
	return market.New(market.Config{Seed: *o.seed, Instruments: *o.instruments}), tokens, nil
}

// simFaultOptions are the fault-injection flags of 'sim' (not of 'serve'):
// they switch the simulator's faults (sim.Faults) on from the start, for
// trying a client against them by hand.
type simFaultOptions struct {
	candleThrottle     *time.Duration
	lateFinals         *time.Duration
	loseFinals         *int
	duplicate          *bool
	reorder            *bool
	connectionCap      *int
	silenceEvery       *time.Duration
	silenceFor         *time.Duration
	silenceInstruments *string

	lateTrades        *time.Duration // v2
	correctiveCandles *bool          // v2
	rest429Every      *int           // v2
}

func simFaultFlags(fs *flagSet) simFaultOptions {
	return simFaultOptions{
		candleThrottle: fs.Duration("fault-candle-throttle", 0,
			"least time between two updates of one candle stream (0: 1s; the real service sent one about every 5s); final states are not throttled"),
		lateFinals: fs.Duration("fault-late-finals", 0,
			"send the final state of each candle this long after its interval ended, holding the next interval's updates back until then (0: at the rollover)"),
		loseFinals: fs.Int("fault-lose-finals", 0,
			"never send about one final candle state in N, a fixed choice per instrument, interval and start (0: none)"),
		duplicate: fs.Bool("fault-duplicate", false, "send every candle frame twice"),
		reorder: fs.Bool("fault-reorder", false,
			"re-send older candle states after newer ones: the previous update after every third, the previous final after the next interval's first update, the last update after the final"),
		connectionCap: fs.Int("fault-connection-cap", 0,
			"stream connections allowed per token, in place of --sim-max-connections, e.g. below what the client is configured for; connections beyond it get 423 (0: --sim-max-connections)"),
		silenceEvery: fs.Duration("fault-silence-every", 0,
			"go silent at the start of every period of this length, periods aligned on the clock (10m: at :00, :10, ...): connections stay open and pinged, pings are answered, requests applied, but no data is sent (0: never)"),
		silenceFor: fs.Duration("fault-silence-for", 0,
			"how long each silence of --fault-silence-every lasts"),
		silenceInstruments: fs.String("fault-silence-instruments", "",
			"comma-separated tickers or FIGIs whose data --fault-silence-every silences (default: every instrument, and error events too)"),
		lateTrades: fs.Duration("fault-late-trades", 0,
			"v2: hold the last trade of every minute back this long, into the next minute, then send a corrective candle (0: none)"),
		correctiveCandles: fs.Bool("fault-corrective-candles", false,
			"v2: make every other update of a forming candle wrong, corrected by the next one"),
		rest429Every: fs.Int("fault-rest-429-every", 0,
			"v2: answer one REST request in N with 429 RESOURCE_EXHAUSTED (0: none)"),
	}
}

// v2Set reports whether a v2-only fault is set.
func (o simFaultOptions) v2Set() bool {
	return *o.lateTrades != 0 || *o.correctiveCandles || *o.rest429Every != 0
}

// validateV2 refuses the v1-only faults and bad v2 values.
func (o simFaultOptions) validateV2() error {
	if *o.candleThrottle != 0 || *o.lateFinals != 0 || *o.loseFinals != 0 || *o.reorder || *o.connectionCap != 0 ||
		*o.silenceEvery != 0 || *o.silenceFor != 0 || *o.silenceInstruments != "" {
		return errors.New("--fault-candle-throttle, -late-finals, -lose-finals, -reorder, -connection-cap and -silence-* are for --protocol v1 " +
			"(v2: --fault-duplicate, --fault-late-trades, --fault-corrective-candles, --fault-rest-429-every; --sim-max-connections caps the streams)")
	}
	if *o.lateTrades < 0 || *o.lateTrades >= time.Minute {
		return fmt.Errorf("--fault-late-trades %v: want 0 up to a minute", *o.lateTrades)
	}
	if *o.rest429Every < 0 {
		return fmt.Errorf("--fault-rest-429-every %d: want 0 or more", *o.rest429Every)
	}
	return nil
}

// applyV2 switches the v2 simulator's faults on and logs what is on.
func (o simFaultOptions) applyV2(srv *v2sim.Server, log *slog.Logger) {
	f := srv.Faults()
	f.Duplicate(*o.duplicate)
	f.LateTrades(*o.lateTrades)
	f.CorrectiveCandles(*o.correctiveCandles)
	f.REST429Every(*o.rest429Every)
	if *o.duplicate || o.v2Set() {
		log.Warn("simulator fault injection on", "duplicate", *o.duplicate, "late_trades", *o.lateTrades,
			"corrective_candles", *o.correctiveCandles, "rest_429_every", *o.rest429Every)
	}
}

func (o simFaultOptions) validate() error {
	switch {
	case *o.candleThrottle < 0:
		return fmt.Errorf("--fault-candle-throttle %v: want 0 or more", *o.candleThrottle)
	case *o.lateFinals < 0:
		return fmt.Errorf("--fault-late-finals %v: want 0 or more", *o.lateFinals)
	case *o.loseFinals < 0:
		return fmt.Errorf("--fault-lose-finals %d: want 0 or more", *o.loseFinals)
	case *o.connectionCap < 0:
		return fmt.Errorf("--fault-connection-cap %d: want 0 or more", *o.connectionCap)
	case *o.silenceEvery < 0 || *o.silenceFor < 0:
		return fmt.Errorf("--fault-silence-every %v --fault-silence-for %v: want 0 or more", *o.silenceEvery, *o.silenceFor)
	case (*o.silenceEvery == 0) != (*o.silenceFor == 0):
		return fmt.Errorf("--fault-silence-every and --fault-silence-for go together")
	case *o.silenceFor >= *o.silenceEvery && *o.silenceEvery > 0:
		return fmt.Errorf("--fault-silence-for %v: want less than --fault-silence-every %v", *o.silenceFor, *o.silenceEvery)
	case *o.silenceInstruments != "" && *o.silenceEvery == 0:
		return fmt.Errorf("--fault-silence-instruments needs --fault-silence-every and --fault-silence-for")
	}
	return nil
}

// configure applies the flags that are configuration rather than faults.
func (o simFaultOptions) configure(cfg *sim.Config) {
	if *o.candleThrottle > 0 {
		cfg.CandleThrottle = *o.candleThrottle
	}
}

// apply switches the faults on and logs what is on.
func (o simFaultOptions) apply(srv *sim.Server, m *market.Market, log *slog.Logger) error {
	var figis []string
	for _, name := range strings.Split(*o.silenceInstruments, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if in, ok := m.Instrument(name); ok {
			figis = append(figis, in.FIGI)
			continue
		}
		found := m.ByTicker(name)
		if len(found) == 0 {
			return fmt.Errorf("--fault-silence-instruments: no instrument %q", name)
		}
		for _, in := range found {
			figis = append(figis, in.FIGI)
		}
	}
	f := srv.Faults()
	f.LateFinals(*o.lateFinals)
	f.LoseFinals(*o.loseFinals)
	f.Duplicate(*o.duplicate)
	f.Reorder(*o.reorder)
	f.StaleAfterFinal(*o.reorder)
	f.ConnectionCap(*o.connectionCap)
	f.SilenceSchedule(*o.silenceEvery, *o.silenceFor, figis...)
	if s := f.Settings(); !reflect.DeepEqual(s, sim.FaultSettings{}) || *o.candleThrottle > 0 {
		log.Warn("simulator fault injection on",
			"candle_throttle", *o.candleThrottle, "late_finals", s.LateFinals, "lose_finals_one_in", s.LoseFinals,
			"duplicate", s.Duplicate, "reorder", s.Reorder, "connection_cap", s.ConnectionCap,
			"silence_every", s.SilenceEvery, "silence_for", s.SilenceFor, "silence_instruments", s.SilenceScheduleInstruments)
	}
	return nil
}

// serveHTTP serves h on ln until ctx is done, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		// Streams never end by themselves; close what is left.
		srv.Close()
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"tvbridge/sim"
	"tvbridge/sim/market"
)

func runSim(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("sim", "Runs the simulated exchange alone. It speaks Tinkoff Invest OpenAPI v1: the\n"+
		"market-data WebSocket at /openapi/md/v1/md-openapi/ws and REST under /openapi/\n"+
		"(and /openapi/sandbox/), so 'tvbridge serve' can be pointed at it by URL.", stderr)
	listen := fs.String("listen", "127.0.0.1:9090", "address to listen on")
	opts := simFlags(fs)
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.parse(args); err != nil {
		return err
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		return err
	}
	srv, err := opts.start(log)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("simulated exchange listening",
		"stream", "ws://"+ln.Addr().String()+"/openapi/md/v1/md-openapi/ws",
		"rest", "http://"+ln.Addr().String()+"/openapi")
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
		maxConns:    fs.Int("sim-max-connections", 6, "stream connections the simulator allows per token; the next handshake gets 423"),
		restRate:    fs.Int("sim-rest-rate", 0, "/market REST requests per minute the simulator allows per token (0: unlimited)"),
	}
}

func (o simOptions) start(log *slog.Logger) (*sim.Server, error) {
	if *o.instruments < 0 || *o.instruments > 10000 {
		return nil, fmt.Errorf("--sim-instruments %d: want 0..10000", *o.instruments)
	}
	var tokens []string
	if *o.tokensFile != "" {
		b, err := os.ReadFile(*o.tokensFile)
		if err != nil {
			return nil, fmt.Errorf("tokens file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				tokens = append(tokens, t)
			}
		}
		if len(tokens) == 0 {
			return nil, fmt.Errorf("tokens file %s lists no token", *o.tokensFile)
		}
	}
	m := market.New(market.Config{Seed: *o.seed, Instruments: *o.instruments})
	return sim.New(sim.Config{
		Market:         m,
		Tokens:         tokens,
		MaxConnections: *o.maxConns,
		RESTRateLimit:  *o.restRate,
		Commission:     0.0005,
		Logger:         log.With("component", "sim"),
	}), nil
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

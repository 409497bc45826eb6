package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/admin"
	"tvbridge/api"
	"tvbridge/auth"
	"tvbridge/bolt"
	"tvbridge/ingest"
	"tvbridge/web"
)

// The admin listener: /metrics, /healthz, /readyz and the operator console
// (package admin), on a second address that is never the TradingView port.

type adminOptions struct {
	listen, tokenFile, user, passwordFile, consoleUser *string
	staleAfter                                         *time.Duration
	maxStale                                           *float64
}

func adminFlags(fs *flagSet) adminOptions {
	return adminOptions{
		listen: fs.String("admin-listen", "127.0.0.1:9090", "address of the admin listener: /metrics, /healthz, /readyz and the operator console\n"+
			"      (empty: none). Off loopback it needs --admin-token-file or --admin-password-file"),
		tokenFile:    fs.String("admin-token-file", "", "file holding the admin bearer token (also accepted as the basic-auth password)"),
		user:         fs.String("admin-user", "admin", "basic-auth user of the admin listener, with --admin-password-file"),
		passwordFile: fs.String("admin-password-file", "", "file holding the admin listener's basic-auth password (a browser asks for it)"),
		consoleUser: fs.String("admin-console-user", "demo", "the user the console's chart and order ticket act as (with --auth on, a user of the\n"+
			"      auth store; the admin listener's credentials stand in for theirs)"),
		staleAfter: fs.Duration("ready-stale-after", 2*time.Minute, "/readyz: an instrument in session without stream data for this long is stale"),
		maxStale:   fs.Float64("ready-max-stale", 0.2, "/readyz: the share of instruments in session that may be stale (0: none)"),
	}
}

func (o adminOptions) validate() error {
	if *o.staleAfter <= 0 {
		return fmt.Errorf("--ready-stale-after %v: want a positive duration", *o.staleAfter)
	}
	if v := *o.maxStale; v < 0 || v > 1 {
		return fmt.Errorf("--ready-max-stale %v: want 0 to 1", v)
	}
	return nil
}

// secretFile reads a secret from a file; "" gives "".
func secretFile(path, what string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s %s is empty", what, path)
	}
	return s, nil
}

// adminParts is what the admin listener shows, from the running services.
type adminParts struct {
	fs      *flagSet
	started time.Time
	ring    *admin.LogRing
	svc     *ingest.Service
	up      marketUpstream
	store   *bolt.Store
	catalog *api.Catalog
	cat     *catalogueSource
	front   *front
	metrics http.Handler
	streams func() int // TradingView /streaming connections open
}

// config builds the admin handler's configuration.
func (o adminOptions) config(p adminParts) (admin.Config, error) {
	token, err := secretFile(*o.tokenFile, "--admin-token-file")
	if err != nil {
		return admin.Config{}, err
	}
	password, err := secretFile(*o.passwordFile, "--admin-password-file")
	if err != nil {
		return admin.Config{}, err
	}
	cfg := admin.Config{
		Status:   p.status,
		Log:      p.ring,
		Metrics:  p.metrics,
		API:      asUser(*o.consoleUser, p.front.console),
		Token:    token,
		User:     *o.user,
		Password: password,
		Checks:   p.checks(*o.staleAfter, *o.maxStale, *o.consoleUser),
	}
	if *o.listen != "" && !admin.IsLoopback(*o.listen) && !cfg.Protected() {
		return admin.Config{}, errors.New("--admin-listen off loopback needs --admin-token-file or --admin-password-file")
	}
	return cfg, nil
}

// asUser runs the console's API requests as user.
func asUser(user string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := tvbridge.Principal{User: user, Scheme: auth.SchemeNone}
		next.ServeHTTP(w, r.WithContext(tvbridge.WithPrincipal(r.Context(), p)))
	})
}

// checks are /readyz's: the catalogue, the store, the upstream stream and
// the trading venue.
func (p adminParts) checks(staleAfter time.Duration, maxStale float64, user string) []admin.Check {
	if maxStale == 0 {
		maxStale = -1 // admin: none allowed
	}
	checks := []admin.Check{
		{Name: "catalogue", Run: func(context.Context) error {
			if len(p.catalog.Symbols()) == 0 {
				return errors.New("no symbols")
			}
			return nil
		}},
		{Name: "store", Run: func(ctx context.Context) error {
			_, _, _, err := p.store.Catalogue(ctx) // a read transaction of the bar store
			return err
		}},
		admin.StreamCheck("upstream", p.streamState, admin.StreamThresholds{MaxAge: staleAfter, MaxStale: maxStale}, nil),
	}
	if b := p.front.broker; b != nil {
		checks = append(checks, admin.Check{Name: "trading", CacheFor: 10 * time.Second, Run: func(ctx context.Context) error {
			_, err := b.Accounts(ctx, user)
			return err
		}})
	}
	return checks
}

// streamState is the upstream's state for the readiness check.
func (p adminParts) streamState() admin.StreamState {
	s := admin.StreamState{InSession: map[string]time.Time{}}
	s.ConnectionsUp, s.Connections = p.up.Streams().up()
	now := time.Now()
	for _, sym := range p.catalog.Symbols() {
		if figi := sym.Instrument.FIGI; p.svc.InSession(figi, now) && sym.Schedule != nil {
			s.InSession[sym.Name] = p.svc.LastUpdate(figi)
		}
	}
	return s
}

// status is the console's snapshot.
func (p adminParts) status() admin.Status {
	h := p.svc.Health()
	p.cat.report(h)
	streams := p.up.Streams()
	prog := p.svc.Progress()
	names := map[string]string{}
	for _, sym := range p.catalog.Symbols() {
		names[sym.Instrument.FIGI] = sym.Name
	}
	st := admin.Status{
		Version: version(), Started: p.started, Flags: p.flags(),
		Upstream: admin.Upstream{
			State: fmt.Sprint(h["upstream"]), Catalogue: fmt.Sprint(h["catalogue"]),
			Instruments: len(p.catalog.Symbols()), Streaming: intOf(h["instruments_streaming"]),
			ConnectionCap: streams.Cap,
		},
		Backfill: []admin.Progress{
			{Name: "initial backfill", Done: prog.InitialDone.Load(), Total: prog.Instruments.Load(), Unit: "instruments"},
			{Name: "history complete (covered)", Done: prog.WindowMinutes.Load() - prog.UncoveredMinutes.Load(),
				Total: prog.WindowMinutes.Load(), Unit: "instrument-minutes"},
		},
		REST:  p.up.REST(),
		Facts: p.facts(prog),
	}
	if p.streams != nil {
		st.Streaming = p.streams()
	}
	for _, c := range streams.Connections {
		for i, f := range c.Instruments {
			c.Instruments[i] = names[f]
		}
		st.Upstream.Connections = append(st.Upstream.Connections, c)
	}
	st.Stale = p.stale(names)
	return st
}

// stale lists the instruments in session without recent stream data.
func (p adminParts) stale(names map[string]string) []admin.StaleInstrument {
	now := time.Now()
	var out []admin.StaleInstrument
	for _, sym := range p.catalog.Symbols() {
		figi := sym.Instrument.FIGI
		if sym.Schedule == nil || !p.svc.InSession(figi, now) {
			continue
		}
		last := p.svc.LastUpdate(figi)
		if !last.IsZero() && now.Sub(last) < time.Minute {
			continue
		}
		reason := "no stream data for a minute"
		if last.IsZero() {
			reason = "no stream data since the start"
		}
		out = append(out, admin.StaleInstrument{Symbol: names[figi], LastUpdate: last, Reason: reason})
	}
	return out
}

func (p adminParts) facts(prog *ingest.Progress) []admin.Fact {
	e := p.svc.Engine().Stats()
	f := func(name string, v any) admin.Fact { return admin.Fact{Name: name, Value: fmt.Sprint(v)} }
	return []admin.Fact{
		f("trades streamed", e.Trades),
		f("quotes streamed", e.Quotes),
		f("minutes closed", e.MinutesClosed),
		f("corrections (updates of closed minutes, not applied)", e.Corrections),
		f("minutes audited against the exchange", prog.AuditedMinutes.Load()),
		f("minutes differing from the exchange", prog.ExchangeDiffers.Load()),
		f("  of which the stream had the final state", prog.ExchangeDiffersFinal.Load()),
		f("bars replaced to follow the exchange", prog.ExchangeReplaced.Load()),
		f("silences noticed", prog.Silences.Load()),
		f("/history answers cut before a hole", prog.HolesCut.Load()),
		f("books polled from REST", prog.BooksPolled.Load()),
		f("bars backfilled", prog.BarsBackfilled.Load()),
	}
}

// flags lists the settings in effect, secrets redacted.
func (p adminParts) flags() []admin.Flag {
	var out []admin.Flag
	p.fs.VisitAll(func(fl *flag.Flag) {
		v := fl.Value.String()
		if secretSetting(fl.Name) && v != "" {
			v = "<redacted>"
		}
		out = append(out, admin.Flag{Name: fl.Name, Value: v})
	})
	return out
}

func intOf(v any) int {
	if n, ok := v.(int); ok {
		return n
	}
	return 0
}

// version is the module version or VCS revision of the binary.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return bi.Main.Version
}

// serveAdmin runs the admin listener until ctx ends; it logs the console's
// URL. An empty address runs nothing.
func serveAdmin(ctx context.Context, addr string, cfg admin.Config, log *slog.Logger) (func() error, error) {
	if addr == "" {
		return func() error { return nil }, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	log.Info("operator console, metrics and health", "console", "http://"+ln.Addr().String()+"/",
		"metrics", "/metrics", "health", "/healthz, /readyz", "protected", cfg.Protected())
	return func() error { return web.Serve(ctx, ln, admin.New(cfg), web.Options{Logger: log}) }, nil
}

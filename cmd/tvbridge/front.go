package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/auth"
	"tvbridge/bolt"
	"tvbridge/live"
	"tvbridge/paper"
	"tvbridge/tinkoff"
	"tvbridge/tinvest"
	"tvbridge/tradeapi"
	"tvbridge/tradeowner"
	"tvbridge/trading"
	"tvbridge/web"
)

// frontOptions are the serve flags of the HTTP front: authentication, CORS,
// TLS and the trading backend.
type frontOptions struct {
	authMode, corsOrigins, tlsCert, tlsKey, tradingBackend, tinkoffAccounts, paperCurrency, paperCash *string
	tinvestAccounts                                                                                   *string
	dataPublic, endStreams, corsStaging                                                               *bool
	tokenLifetime                                                                                     *time.Duration
	paperCommission                                                                                   *float64
	maxHeaderBytes, corsMaxAge                                                                        *int

	// cluster, set by the serve wiring in cluster mode (not a flag), runs
	// trading through the trading owner (tradecluster.go).
	cluster *tradeCluster
}

func frontFlags(fs *flagSet) frontOptions {
	return frontOptions{
		authMode: fs.String("auth", "none", "authentication: \"none\" (every request acts as the local user \"demo\"; for trying tvbridge on\n"+
			"      loopback only) or \"on\" (PasswordBearer, OAuth2 and JWT-bearer; create users with 'tvbridge auth')"),
		dataPublic:    fs.Bool("data-public", false, "with --auth on: serve /symbol_info, /groups, /history and /streaming without a token"),
		tokenLifetime: fs.Duration("token-lifetime", 20*time.Minute, "life of access tokens (TradingView recommends 15 to 30 minutes)"),
		endStreams:    fs.Bool("end-streams-on-expiry", false, "end an open /streaming response when its token expires (revoked tokens always end it)"),
		corsOrigins:   fs.String("cors-origins", strings.Join(web.DefaultOrigins, ","), "comma-separated origins allowed by CORS; \"*.\" matches subdomains"),
		corsStaging:   fs.Bool("cors-staging", false, "also allow TradingView's staging origins (https://*.xstaging.tv, http://localhost:6285)"),
		corsMaxAge: fs.Int("cors-max-age", 600, "seconds browsers may reuse a CORS preflight answer (Access-Control-Max-Age), so that\n"+
			"      polling the trading endpoints is not preflighted every time; 0 sends no Access-Control-Max-Age"),
		tlsCert: fs.String("tls-cert-file", "", "PEM certificate chain; with --tls-key-file serves HTTPS, reloading both when they change"),
		tlsKey:  fs.String("tls-key-file", "", "PEM private key of --tls-cert-file"),
		maxHeaderBytes: fs.Int("max-header-bytes", web.DefaultMaxHeaderBytes, "largest request line and headers accepted, in bytes (room for TradingView's bearer\n"+
			"      tokens and cookies); a larger request gets HTTP 431 with {\"s\":\"error\",\"errmsg\":...}"),
		tradingBackend: fs.String("trading-backend", "paper", "trading backend: \"paper\" (paper trading against the live book), \"tinkoff\" (the upstream's\n"+
			"      v1 order API; needs --tinkoff-accounts), \"tinvest\" (T-Invest API v2's orders, with --upstream v2; a\n"+
			"      sandbox preset trades sandbox accounts; needs --tinvest-accounts) or \"off\""),
		tinkoffAccounts: fs.String("tinkoff-accounts", "", "with --trading-backend tinkoff: which upstream brokerAccountIds each user may trade,\n"+
			"      e.g. \"alice=2000012345,2000067890;bob=2000011111\""),
		tinvestAccounts: fs.String("tinvest-accounts", "", "with --trading-backend tinvest: which T-Invest account ids (GetAccounts) each user may trade,\n"+
			"      e.g. \"alice=2000012345;bob=2000011111\"; empty with the embedded simulator or a sandbox: every account\n"+
			"      of the token, for \"demo\" (a sandbox without one gets one, funded)"),
		paperCash: fs.String("paper-cash", formatCash(paper.DefaultCash()), "starting cash of each new paper account, per currency, e.g. \"RUB=1000000,USD=10000\"\n"+
			"      (a bare amount is in --paper-currency alone). The account trades instruments quoted in these currencies,\n"+
			"      each order paid for in its instrument's currency"),
		paperCurrency: fs.String("paper-currency", paper.DefaultCurrency, "currency of paper accounts: /state totals are in it, other currencies converted at the live\n"+
			"      price of their currency pair (e.g. USD000UTSTOM); it is always held, with 0 when --paper-cash does not list it"),
		paperCommission: fs.Float64("paper-commission", paper.DefaultCommissionRate, "paper commission as a fraction of the traded value, in the instrument's currency"),
	}
}

func (o frontOptions) validate() error {
	switch *o.authMode {
	case "none", "on":
	default:
		return fmt.Errorf("--auth %q: want none or on", *o.authMode)
	}
	switch *o.tradingBackend {
	case "paper", "tinkoff", "tinvest", "off":
	default:
		return fmt.Errorf("--trading-backend %q: want paper, tinkoff, tinvest or off", *o.tradingBackend)
	}
	if (*o.tlsCert == "") != (*o.tlsKey == "") {
		return errors.New("--tls-cert-file and --tls-key-file go together")
	}
	if !currencyCode(*o.paperCurrency) {
		return fmt.Errorf("--paper-currency %q: want an ISO code such as RUB", *o.paperCurrency)
	}
	if _, err := parseCash(*o.paperCash, *o.paperCurrency); err != nil {
		return fmt.Errorf("--paper-cash: %w", err)
	}
	if n := *o.maxHeaderBytes; n < minHeaderBytes || n > maxHeaderBytes {
		return fmt.Errorf("--max-header-bytes %d: want %d to %d", n, minHeaderBytes, maxHeaderBytes)
	}
	if *o.corsMaxAge < 0 {
		return fmt.Errorf("--cors-max-age %d: want 0 (none) or more seconds", *o.corsMaxAge)
	}
	return nil
}

// parseCash reads --paper-cash: "CUR=AMOUNT[,CUR=AMOUNT...]", or a bare
// amount in the account currency (the flag's earlier form).
func parseCash(v, currency string) ([]tvbridge.Money, error) {
	if amount, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
		if !validAmount(amount) {
			return nil, fmt.Errorf("%q: want a non-negative amount", v)
		}
		return []tvbridge.Money{{Currency: currency, Amount: amount}}, nil
	}
	var out []tvbridge.Money
	for _, part := range strings.Split(v, ",") {
		cur, amt, ok := strings.Cut(strings.TrimSpace(part), "=")
		cur = strings.ToUpper(strings.TrimSpace(cur))
		amount, err := strconv.ParseFloat(strings.TrimSpace(amt), 64)
		switch {
		case !ok || !currencyCode(cur) || err != nil || !validAmount(amount):
			return nil, fmt.Errorf("%q: want CUR=AMOUNT[,CUR=AMOUNT...] with ISO codes and non-negative amounts, e.g. RUB=1000000,USD=10000", part)
		case slices.ContainsFunc(out, func(m tvbridge.Money) bool { return m.Currency == cur }):
			return nil, fmt.Errorf("%s is given twice", cur)
		}
		out = append(out, tvbridge.Money{Currency: cur, Amount: amount})
	}
	return out, nil
}

// formatCash writes cash the way parseCash reads it.
func formatCash(cash []tvbridge.Money) string {
	parts := make([]string, len(cash))
	for i, m := range cash {
		parts[i] = m.Currency + "=" + strconv.FormatFloat(m.Amount, 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

func validAmount(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }

// currencyCode reports whether v looks like an ISO 4217 code.
func currencyCode(v string) bool {
	if len(v) != 3 {
		return false
	}
	for _, c := range v {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// Bounds of --max-header-bytes: below 4 KiB a bearer token may not fit; the
// server reads up to 4 times the limit per connection, so 1 MiB is plenty.
const (
	minHeaderBytes = 4 << 10
	maxHeaderBytes = 1 << 20
)

// front is the HTTP side of serve: routes, authentication and trading.
type front struct {
	handler http.Handler
	// console is the same API without authentication, for the operator
	// console on the admin listener (which sets the user itself).
	console http.Handler
	broker  tvbridge.Broker // nil with --trading-backend off, and in cluster mode
	// tradeOwner is cluster-mode trading's node (nil otherwise): whether
	// this node owns trading, the lease, forwarding counts.
	tradeOwner *tradeowner.Node
	auth       *auth.Service // nil with --auth none
	tls        *web.TLSConfig
	opts       web.Options                   // everything but TLS and the logger
	run        []func(context.Context) error // background loops (the trading manager)
	closers    []func() error
}

func (f *front) Close() {
	for i := len(f.closers) - 1; i >= 0; i-- {
		f.closers[i]()
	}
}

// build routes every endpoint: the data API behind auth.Data, the
// trading API behind auth.Trading, /mapping and /healthz open, the auth
// endpoints themselves, and CORS around all of it.
func (o frontOptions) build(dataDir string, catalog *api.Catalog, data http.Handler,
	market *live.Market, tp tvbridge.Tape, up marketUpstream, log *slog.Logger) (*front, error) {
	f := &front{}
	protectData, protectTrading := noAuth, noAuth
	mux := http.NewServeMux()
	if *o.authMode == "on" {
		cfg := auth.Config{DataDir: dataDir, Logger: log, TokenLifetime: *o.tokenLifetime,
			DataPublic: *o.dataPublic, EndStreamsOnExpiry: *o.endStreams, Groups: catalog.Groups}
		if o.cluster != nil {
			// Users, tokens and failed logins in the cluster's database: a
			// token issued by one node works on every node, a revocation
			// reaches them within the cache bound (and ends their open
			// streams within a poll), the limits count every node's
			// failures (auth/README.md).
			be := authOnDB(o.cluster.DB)
			cfg.Store, cfg.Failures = be, be.Failures
			// A revocation on another node ends this node's streams too.
			cfg.RevocationPoll = time.Second
		}
		svc, err := auth.New(cfg)
		if err != nil {
			return nil, err
		}
		f.closers = append(f.closers, svc.Close)
		f.auth = svc
		svc.Register(mux)
		protectData = func(h http.Handler) http.Handler { return svc.Protect(auth.Data, h) }
		protectTrading = func(h http.Handler) http.Handler { return svc.Protect(auth.Trading, h) }
	} else {
		log.Warn("authentication is off (--auth none): every request acts as user \"demo\"; do not expose this port")
	}
	var tradingAPI http.Handler // nil with --trading-backend off
	console := http.NewServeMux()
	for _, p := range []string{"/symbol_info", "/groups", "/history", "/streaming"} {
		mux.Handle(p, protectData(data))
		console.Handle(p, data)
	}
	mux.Handle("/healthz", data)
	f.console = console
	if *o.tradingBackend != "off" && o.cluster != nil {
		rates := live.NewRates(market, catalog.CurrencyPairs())
		ct, err := o.clusterTrading(*o.cluster, catalog, market, rates, tp, up, log, protectTrading)
		if err != nil {
			f.Close()
			return nil, err
		}
		mux.Handle("/mapping", ct.mapping)
		tradingAPI = ct.handler
		mux.Handle("/", tradingAPI)
		console.Handle("/mapping", ct.mapping)
		console.Handle("/", ct.console)
		f.run = append(f.run, ct.run)
		f.tradeOwner = ct.node
	} else if *o.tradingBackend != "off" {
		// One set of exchange rates for the broker's totals and the pip values.
		rates := live.NewRates(market, catalog.CurrencyPairs())
		broker, err := o.trading(dataDir, catalog, market, rates, tp, up, log, f)
		if err != nil {
			f.Close()
			return nil, err
		}
		trade := tradeapi.New(tradeapi.Config{Broker: broker, Catalog: catalog, Market: market, Rates: rates, Logger: log})
		mux.Handle("/mapping", trade.Mapping())
		tradingAPI = protectTrading(trade)
		mux.Handle("/", tradingAPI)
		console.Handle("/mapping", trade.Mapping())
		console.Handle("/", trade)
		f.broker = broker
	}
	cors, err := o.cors()
	if err != nil {
		f.Close()
		return nil, err
	}
	f.handler = web.CORS(cors, tradingFirst(mux, tradingAPI))
	f.opts = web.Options{MaxHeaderBytes: *o.maxHeaderBytes}
	if *o.tlsCert != "" {
		f.tls = &web.TLSConfig{CertFile: *o.tlsCert, KeyFile: *o.tlsKey, Logger: log}
	}
	return f, nil
}

// cors is the CORS configuration of the flags.
func (o frontOptions) cors() (web.CORSConfig, error) {
	var origins []string
	for _, s := range strings.Split(*o.corsOrigins, ",") {
		if s = strings.TrimSpace(s); s != "" {
			origins = append(origins, s)
		}
	}
	cors := web.CORSConfig{Origins: origins, Staging: *o.corsStaging, MaxAge: time.Duration(*o.corsMaxAge) * time.Second}
	if *o.corsMaxAge == 0 {
		cors.MaxAge = -1 // none; a zero MaxAge is the default
	}
	if err := cors.Validate(); err != nil {
		return web.CORSConfig{}, fmt.Errorf("--cors-origins: %w", err)
	}
	return cors, nil
}

// noAuth is the --auth none mode: every request acts as the local demo user.
func noAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := tvbridge.Principal{User: "demo", Scheme: auth.SchemeNone}
		next.ServeHTTP(w, r.WithContext(tvbridge.WithPrincipal(r.Context(), p)))
	})
}

// trading builds the trading manager on the chosen venue, with its own
// crash-safe store in the data dir.
func (o frontOptions) trading(dataDir string, catalog *api.Catalog, market *live.Market, rates tvbridge.Rates,
	tp tvbridge.Tape, up marketUpstream, log *slog.Logger, f *front) (tvbridge.Broker, error) {
	store, err := bolt.OpenTrading(filepath.Join(dataDir, "trading.db"), bolt.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("trading store: %w", err)
	}
	f.closers = append(f.closers, store.Close)
	m, err := o.tradingManager(dataDir, catalog, market, rates, tp, nil, up, log, store)
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, m.Close)
	f.run = append(f.run, m.Run)
	return m, nil
}

// tradingManager builds the venue of --trading-backend and a trading
// manager on it and on store, loading the state. The single-process mode
// calls it once, on the bolt store; cluster mode calls it each time this
// node becomes the trading owner, on the fenced PostgreSQL store and with
// the shared market-data log (see tradecluster.go). The caller runs and
// closes the manager.
func (o frontOptions) tradingManager(dataDir string, catalog *api.Catalog, market *live.Market, rates tvbridge.Rates,
	tp tvbridge.Tape, shared trading.SharedTape, up marketUpstream, log *slog.Logger, store trading.Store) (*trading.Manager, error) {
	lookup := catalog.Instrument
	var venue tvbridge.Venue
	switch *o.tradingBackend {
	case "paper":
		cash, err := parseCash(*o.paperCash, *o.paperCurrency)
		if err != nil {
			return nil, fmt.Errorf("--paper-cash: %w", err)
		}
		// In a cluster the trading core feeds the venue its trades, with
		// their log positions, so a new owner replays them to it too.
		venue = paper.New(paper.Config{Market: market, Tape: tp, TradesFromCore: shared != nil, Instrument: lookup, Logger: log,
			Cash: cash, Currency: *o.paperCurrency, CommissionRate: *o.paperCommission})
	case "tinkoff":
		users, err := parseAccounts(*o.tinkoffAccounts)
		if err != nil {
			return nil, err
		}
		v1, ok := up.(*v1Upstream)
		if !ok {
			return nil, fmt.Errorf("--trading-backend tinkoff needs the v1 upstream, not %s", up.Protocol())
		}
		v, err := tinkoff.NewVenue(tinkoff.VenueConfig{Client: v1.Client(), Users: users, Instrument: lookup, Logger: log})
		if err != nil {
			return nil, err
		}
		venue = v
	case "tinvest":
		v, err := o.tinvestVenue(dataDir, up, lookup, log)
		if err != nil {
			return nil, err
		}
		venue = v
	}
	return trading.New(trading.Config{Venue: venue, Market: market, Tape: tp, Shared: shared, Store: store, Instrument: lookup,
		Rates: rates, Logger: log, CommissionRate: *o.paperCommission})
}

// tinvestVenue is T-Invest API v2's order API on the v2 upstream's client.
// Its idempotency-key namespace lives beside the trading database (see
// tinvest.LoadKeyNamespace), so keys stay unique across restarts and
// across deployments sharing an account.
func (o frontOptions) tinvestVenue(dataDir string, up marketUpstream, lookup func(string) (tvbridge.Instrument, bool),
	log *slog.Logger) (*tinvest.Venue, error) {
	v2, ok := up.(*v2Upstream)
	if !ok {
		return nil, fmt.Errorf("--trading-backend tinvest needs --upstream v2, not %s", up.Protocol())
	}
	var users map[string][]string
	if *o.tinvestAccounts == "" && (v2.embedded || v2.sandbox) {
		ids, err := v2.accounts(context.Background())
		if err != nil {
			return nil, err
		}
		users = map[string][]string{"demo": ids}
	} else {
		var err error
		if users, err = parseAccounts(*o.tinvestAccounts); err != nil {
			return nil, fmt.Errorf("--tinvest-accounts: %w", err)
		}
	}
	ns, err := o.tinvestKeyNamespace(dataDir)
	if err != nil {
		return nil, err
	}
	return tinvest.NewVenue(tinvest.VenueConfig{Client: v2.Client(), Users: users, Instrument: lookup,
		KeyNamespace: ns, Logger: log})
}

// tinvestKeyNamespace is the namespace of the venue's idempotency keys:
// kept beside the trading database, or in a cluster in PostgreSQL, since
// any node may own trading and a key must mean the same order on each.
func (o frontOptions) tinvestKeyNamespace(dataDir string) (string, error) {
	if o.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return o.cluster.DB.Setting(ctx, "tinvest-key-namespace", tinvest.NewKeyNamespace)
	}
	return tinvest.LoadKeyNamespace(filepath.Join(dataDir, "tinvest-keys"))
}

// parseAccounts reads "user=acc1,acc2;user2=acc3".
func parseAccounts(v string) (map[string][]string, error) {
	users := make(map[string][]string)
	for _, part := range strings.Split(v, ";") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		user, list, ok := strings.Cut(part, "=")
		user = strings.TrimSpace(user)
		if !ok || user == "" {
			return nil, fmt.Errorf("--tinkoff-accounts %q: want user=account[,account...]", part)
		}
		for _, acc := range strings.Split(list, ",") {
			if acc = strings.TrimSpace(acc); acc != "" {
				users[user] = append(users[user], acc)
			}
		}
		if len(users[user]) == 0 {
			return nil, fmt.Errorf("--tinkoff-accounts: user %q has no account", user)
		}
	}
	if len(users) == 0 {
		return nil, errors.New("--trading-backend tinkoff needs --tinkoff-accounts")
	}
	return users, nil
}

// serveFront serves the front on ln until ctx ends.
func serveFront(ctx context.Context, ln net.Listener, f *front, log *slog.Logger) error {
	opts := f.opts
	opts.TLS, opts.Logger = f.tls, log
	return web.Serve(ctx, ln, f.handler, opts)
}

// tradingFirst sends the trading endpoints browsers poll every second
// (/accounts/..., /quotes, /depth, /config) straight to the trading API.
// Through the mux, whose catch-all "/" takes them, net/http matched every
// such path twice (the second time for its trailing-slash redirect): a
// microsecond and three allocations a poll. Everything else goes to mux.
func tradingFirst(mux *http.ServeMux, trading http.Handler) http.Handler {
	if trading == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tradingPath(r.URL.Path) {
			trading.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// tradingPath reports whether the trading API owns path: what the outer
// mux would give it anyway, as its catch-all.
func tradingPath(path string) bool {
	switch path {
	case "/accounts", "/quotes", "/depth", "/config":
		return true
	}
	return strings.HasPrefix(path, "/accounts/")
}

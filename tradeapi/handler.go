package tradeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/clock"
	"tvbridge/live"
)

// Config wires a Handler. Broker, Catalog and Market are required.
type Config struct {
	Broker  tvbridge.Broker
	Catalog *api.Catalog // TradingView names <-> FIGIs; the trading instrument name is Symbol.Name
	// Market serves /quotes and /depth.
	Market tvbridge.LiveMarket
	// Rates convert pip values of instruments quoted in another currency
	// than the account's; nil means the live prices of the catalog's
	// currency pairs on Market (live.NewRates), as the Broker's totals use.
	Rates  tvbridge.Rates
	Clock  clock.Clock  // default clock.Real{}
	Logger *slog.Logger // default slog.Default()

	// Flags are every account's feature flags; nil means
	// DefaultAccountFlags().
	Flags *AccountFlags
	// Durations offered in the order ticket; nil means DefaultDurations().
	Durations []Duration
	// PullingInterval advertised in /config; see PullingInterval.
	PullingInterval PullingInterval
	// MaxListCount caps /executions and /ordersHistory (and is their size
	// when TradingView sends no maxCount); default 1000.
	MaxListCount int
	// MappedName is the TradingView full name ("EXCHANGE:TICKER") of a
	// symbol in /mapping, or "" to leave it out. Default: the symbol's
	// exchange and its upstream ticker, e.g. "MOEX:SBER".
	MappedName func(*api.Symbol) string
}

// Handler serves TradingView's trading endpoints on a Broker.
//
// Every endpoint but /mapping needs the principal that the auth middleware
// stores in the request context (tvbridge.WithPrincipal); without one it
// answers HTTP 401. /mapping never needs one: TradingView calls it without
// a token. Request errors are HTTP 200 {"s":"error","errmsg":...} as the
// spec wants, in English or Russian after the locale parameter.
type Handler struct {
	broker    tvbridge.Broker
	cat       *api.Catalog
	market    tvbridge.LiveMarket
	clock     clock.Clock
	log       *slog.Logger
	flags     *AccountFlags
	durations []Duration
	maxList   int
	rates     tvbridge.Rates

	mux     *http.ServeMux
	config  [2][]byte // /config per language
	mapping []byte    // /mapping

	// polled are the endpoints TradingView polls, routed without the mux
	// (see fastRoute): /accounts/{accountId}/<name>, and /quotes.
	polled map[string]routed
	quotes routed

	bodies      bodyCache       // see cached
	versions    marketVersioner // market, when it versions its prices
	quoteBodies quotesCache     // see getQuotes
}

// routed serves a request routed to its endpoint, with its {accountId}.
type routed func(w http.ResponseWriter, r *http.Request, account string)

// New builds the handler. It panics on a wiring mistake (a missing Broker,
// Catalog or Market, or invalid durations), found at startup.
func New(cfg Config) *Handler {
	if cfg.Broker == nil || cfg.Catalog == nil || cfg.Market == nil {
		panic("tradeapi.New: Broker, Catalog and Market are required")
	}
	setDefaults(&cfg)
	if err := validateDurations(cfg.Durations); err != nil {
		panic("tradeapi.New: " + err.Error())
	}
	h := &Handler{
		broker: cfg.Broker, cat: cfg.Catalog, market: cfg.Market, clock: cfg.Clock, log: cfg.Logger,
		flags: cfg.Flags, durations: cfg.Durations, maxList: cfg.MaxListCount,
		rates:  cfg.Rates,
		mux:    http.NewServeMux(),
		polled: map[string]routed{},
	}
	if v, ok := cfg.Market.(marketVersioner); ok {
		h.versions = v
	}
	pulling := cfg.PullingInterval.withLimits()
	for _, l := range []lang{english, russian} {
		h.config[l] = mustJSON(okResponse{S: "ok", D: configJSON(l, cfg.Durations, pulling)})
	}
	h.mapping = mustJSON(mappingOf(cfg.Catalog, cfg.MappedName))
	h.routes()
	return h
}

func setDefaults(cfg *Config) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Flags == nil {
		f := DefaultAccountFlags()
		cfg.Flags = &f
	}
	if cfg.Durations == nil {
		cfg.Durations = DefaultDurations()
	}
	if cfg.MaxListCount <= 0 {
		cfg.MaxListCount = 1000
	}
	if cfg.MappedName == nil {
		cfg.MappedName = defaultMappedName
	}
	if cfg.Rates == nil {
		cfg.Rates = live.NewRates(cfg.Market, cfg.Catalog.CurrencyPairs())
	}
}

func (h *Handler) routes() {
	h.handle("GET /config", h.getConfig)
	h.handle("GET /accounts", h.getAccounts)
	h.handle("GET /accounts/{accountId}/instruments", h.getInstruments)
	h.polled["state"] = h.handle("GET /accounts/{accountId}/state", h.getState)
	h.handle("GET /accounts/{accountId}/balances", h.getBalances)
	h.polled["orders"] = h.handle("GET /accounts/{accountId}/orders", h.getOrders)
	h.handle("POST /accounts/{accountId}/orders", h.placeOrder)
	h.handle("PUT /accounts/{accountId}/orders/{orderId}", h.modifyOrder)
	h.handle("DELETE /accounts/{accountId}/orders/{orderId}", h.cancelOrder)
	h.handle("GET /accounts/{accountId}/ordersHistory", h.getOrdersHistory)
	h.handle("POST /accounts/{accountId}/previewOrder", h.previewOrder)
	h.polled["positions"] = h.handle("GET /accounts/{accountId}/positions", h.getPositions)
	h.handle("PUT /accounts/{accountId}/positions/{positionId}", h.modifyPosition)
	h.handle("DELETE /accounts/{accountId}/positions/{positionId}", h.closePosition)
	h.handle("GET /accounts/{accountId}/executions", h.getExecutions)
	h.quotes = h.handle("GET /quotes", h.getQuotes)
	h.handle("GET /depth", h.getDepth)
	h.mux.Handle("GET /mapping", h.Mapping())
}

// ServeHTTP routes a request. Requests no route takes get the mux's status
// (404, or 405 with Allow) with the spec's error body instead of plain text.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if serve, account, ok := h.fastRoute(r); ok {
		serve(w, r, account)
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.serveNoRoute(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// fastRoute routes the endpoints TradingView polls every second or so
// (/accounts/{accountId}/orders|positions|state and /quotes) without the
// mux's two passes (one to tell a route from a 404 or 405, one to serve).
// It takes only what the mux would route to the same endpoint with the
// same accountId: GET or HEAD, a path that is clean and has no escapes
// (so that its segments are the mux's unescaped ones); anything else goes
// through the mux as before.
func (h *Handler) fastRoute(r *http.Request) (routed, string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || r.URL.RawPath != "" {
		return nil, "", false
	}
	p := r.URL.Path
	if p == "/quotes" {
		return h.quotes, "", true
	}
	rest, ok := strings.CutPrefix(p, "/accounts/")
	if !ok {
		return nil, "", false
	}
	account, name, ok := strings.Cut(rest, "/")
	if !ok || account == "" || account == "." || account == ".." {
		return nil, "", false
	}
	serve, ok := h.polled[name]
	return serve, account, ok
}

func (h *Handler) serveNoRoute(w http.ResponseWriter, r *http.Request) {
	probe := &statusProbe{header: http.Header{}}
	h.mux.ServeHTTP(probe, r)
	l := pickLang(r.URL.Query().Get("locale"))
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, plainError(msgMethod, quoteInput(r.Method)).render(l))
		return
	}
	writeError(w, http.StatusNotFound, plainError(msgNoEndpoint, quoteInput(r.URL.Path)).render(l))
}

// statusProbe records the status and headers the mux's own 404 or 405
// handler would send, and discards its plain-text body.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(status int)      { p.status = status }

// Mapping is the /mapping endpoint alone. It needs no principal, so the
// lead may also mount it outside the auth middleware. It checks the method
// itself for that reason: mounted on a bare path, nothing else would, and
// a POST must be refused like a wrong method anywhere else (405, Allow,
// TradingView's error body) rather than answered with the mapping.
func (h *Handler) Mapping() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			l := pickLang(r.URL.Query().Get("locale"))
			writeError(w, http.StatusMethodNotAllowed, plainError(msgMethod, quoteInput(r.Method)).render(l))
			return
		}
		writeJSON(w, http.StatusOK, h.mapping)
	})
}

// call is one request to an endpoint.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	query     fields // read only: it may be shared with other requests (parseQuery)
	lang      lang
	principal tvbridge.Principal
	account   string // the {accountId} path value, if any

	// sym is the instrument the request is about, once known: it makes
	// quantity and price errors name the lot and price step.
	sym *api.Symbol
	// wrote is set once a response has started.
	wrote bool
}

func (c *call) ctx() context.Context { return c.r.Context() }
func (c *call) user() string         { return c.principal.User }

// endpoint serves a call: its payload becomes {"s":"ok","d":payload}
// (noData{}: {"s":"ok"}; rawBody: that body), its error the spec's error
// envelope.
type endpoint func(c *call) (any, error)

// rawBody is a complete response encoded in advance.
type rawBody []byte

// handle registers an endpoint behind the principal check and a recover
// that turns a panic into a logged error response: no stack trace and no
// 500 ever reach TradingView. It returns the endpoint for fastRoute.
func (h *Handler) handle(pattern string, serve endpoint) routed {
	f := func(w http.ResponseWriter, r *http.Request, account string) {
		query, qerr := parseQuery(r.URL.RawQuery)
		c := &call{w: w, r: r, query: fields(query), lang: pickLang(query.Get("locale")),
			account: account}
		defer h.recoverPanic(c)
		p, ok := tvbridge.PrincipalFrom(r.Context())
		if !ok || p.User == "" {
			c.wrote = true
			writeError(w, http.StatusUnauthorized, msgUnauthorized.in(c.lang))
			return
		}
		c.principal = p
		if qerr != nil {
			h.fail(c, plainError(msgBadQuery))
			return
		}
		d, err := serve(c)
		if err != nil {
			h.fail(c, err)
			return
		}
		h.ok(c, d)
	}
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { f(w, r, r.PathValue("accountId")) })
	return f
}

// parseQuery is url.ParseQuery for a request's query string, which is
// read only: nil (no map) for the usual empty query, and the parse of an
// earlier request with the same query string, since TradingView polls the
// same URLs again and again. At most maxCachedQueries short queries are
// kept; the cache starts again empty when full.
func parseQuery(raw string) (url.Values, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxCachedQueryLen {
		return url.ParseQuery(raw)
	}
	if v, ok := queries.Load(raw); ok {
		p := v.(*parsedQuery)
		return p.values, p.err
	}
	values, err := url.ParseQuery(raw)
	if queriesKept.Add(1) > maxCachedQueries {
		queries.Clear()
		queriesKept.Store(1)
	}
	queries.Store(raw, &parsedQuery{values, err})
	return values, err
}

var (
	queries     sync.Map // query string -> *parsedQuery
	queriesKept atomic.Int64
)

const (
	maxCachedQueries  = 4096
	maxCachedQueryLen = 512
)

type parsedQuery struct {
	values url.Values // never modified
	err    error
}

func (h *Handler) recoverPanic(c *call) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	h.log.Error("tradeapi: panic serving request", "method", c.r.Method, "path", c.r.URL.Path,
		"user", c.principal.User, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	if !c.wrote {
		writeError(c.w, http.StatusOK, msgInternal.in(c.lang))
	}
}

func (h *Handler) ok(c *call, d any) {
	c.wrote = true
	switch d := d.(type) {
	case noData:
		writeJSON(c.w, http.StatusOK, []byte(`{"s":"ok"}`+"\n"))
		return
	case rawBody:
		writeJSON(c.w, http.StatusOK, d)
		return
	case jsonAppender:
		e := bodies.Get().(*encoder)
		e.b, e.err = append(e.b[:0], `{"s":"ok","d":`...), nil
		d.appendJSON(e)
		if e.err == nil {
			e.b = append(e.b, "}\n"...)
			writeJSON(c.w, http.StatusOK, e.b)
		} else {
			h.encodeFailed(c, e.err)
		}
		if cap(e.b) <= maxPooledBody {
			bodies.Put(e)
		}
		return
	}
	body, err := json.Marshal(okResponse{S: "ok", D: d})
	if err != nil {
		h.encodeFailed(c, err)
		return
	}
	writeJSON(c.w, http.StatusOK, append(body, '\n'))
}

// encodeFailed answers a payload that cannot be encoded. Only a non-finite
// number from the broker can get here.
func (h *Handler) encodeFailed(c *call, err error) {
	h.log.Error("tradeapi: encode response", "path", c.r.URL.Path, "user", c.user(), "err", err)
	writeError(c.w, http.StatusOK, msgInternal.in(c.lang))
}

// fail answers an error in the caller's language. Malformed requests and
// trading errors are explained; anything else is logged and answered with
// a generic message, so no internal detail reaches a client.
func (h *Handler) fail(c *call, err error) {
	c.wrote = true
	var in *inputError
	var te *tvbridge.TradingError
	switch {
	case errors.As(err, &in):
		h.log.Debug("tradeapi: malformed request", "method", c.r.Method, "path", c.r.URL.Path,
			"user", c.user(), "err", in.Error())
		writeError(c.w, http.StatusOK, in.render(c.lang))
	case errors.As(err, &te):
		h.log.Info("tradeapi: request refused", "method", c.r.Method, "path", c.r.URL.Path,
			"user", c.user(), "code", te.Code, "field", te.Field, "detail", te.Detail, "err", te.Err)
		writeError(c.w, http.StatusOK, h.tradingMessage(c.lang, te, c.sym))
	default:
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			level = slog.LevelDebug // the client went away
		}
		h.log.Log(c.ctx(), level, "tradeapi: request failed", "method", c.r.Method, "path", c.r.URL.Path,
			"user", c.user(), "err", err)
		writeError(c.w, http.StatusOK, msgInternal.in(c.lang))
	}
}

// maxBody bounds request bodies; an order form is a few hundred bytes.
const maxBody = 64 << 10

// form reads the request body as a form. It reads the body itself because
// net/http parses bodies of POST, PUT and PATCH only, and a close-position
// DELETE carries its amount in the body.
func (c *call) form() (fields, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, plainError(msgBodyTooLarge)
		}
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(body) == 0 {
		return fields{}, nil
	}
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, plainError(msgBodyType, quoteInput(ct))
		}
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, plainError(msgBadBody)
	}
	return fields(vals), nil
}

// parser returns the form parser for this caller.
func (h *Handler) parser(c *call) *parser {
	return &parser{cat: h.cat, groups: c.principal.Groups, durations: h.durations, now: h.clock.Now()}
}

// ownAccount finds one of the caller's accounts. Another user's account is
// as unknown as one that does not exist.
func (h *Handler) ownAccount(c *call, id string) (tvbridge.Account, error) {
	accounts, err := h.broker.Accounts(c.ctx(), c.user())
	if err != nil {
		return tvbridge.Account{}, err
	}
	for _, a := range accounts {
		if a.ID == id {
			return a, nil
		}
	}
	return tvbridge.Account{}, &tvbridge.TradingError{Code: tvbridge.ErrUnknownAccount}
}

// instrumentName is the TradingView name of an instrument. An instrument
// that has left the catalog keeps its orders visible under its FIGI.
func (h *Handler) instrumentName(figi string) string {
	if sym, ok := h.cat.ByFIGI(figi); ok {
		return sym.Name
	}
	return figi
}

// listCount reads maxCount, capped at MaxListCount (its default).
func (h *Handler) listCount(c *call) (int, error) {
	n, ok, err := c.query.integer("maxCount", math.Inf(1))
	if err != nil {
		return 0, err
	}
	if !ok || n > float64(h.maxList) {
		return h.maxList, nil
	}
	return int(n), nil
}

func (h *Handler) getConfig(c *call) (any, error) {
	return rawBody(h.config[c.lang]), nil
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = contentLength(len(body))
	// Per-user answers that change every poll: no cache may keep them.
	hdr["Cache-Control"] = noStore
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing to do
}

var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// contentLengths are the Content-Length values of bodies shorter than 8 KB,
// made on first use and shared (header values are never written to): a
// polled endpoint answers with the same few lengths again and again.
var contentLengths [8 << 10]atomic.Pointer[[]string]

func contentLength(n int) []string {
	if n >= len(contentLengths) {
		return []string{strconv.Itoa(n)}
	}
	if v := contentLengths[n].Load(); v != nil {
		return *v
	}
	v := []string{strconv.Itoa(n)}
	contentLengths[n].Store(&v)
	return v
}

// writeError answers with TradingView's error envelope. The spec reports
// every request error on HTTP 200; 401, 404 and 405 are for what is not a
// request error (no session, no such endpoint).
func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		S      string `json:"s"`
		Errmsg string `json:"errmsg"`
	}{"error", msg}) // strings always encode
	writeJSON(w, status, append(body, '\n'))
}

// mustJSON encodes what is built at startup from configuration.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("tradeapi: encode static response: " + err.Error())
	}
	return append(b, '\n')
}

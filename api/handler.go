package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// History is the bar data behind /history. The ingest service implements it
// over the bar store and the bar engine's open bar.
type History interface {
	// Minutes returns the 1-minute bars with from <= Time < to, ascending,
	// closed bars and the open one.
	Minutes(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error)
	// Daily returns the daily bars (stamped 00:00 UTC of the trading day)
	// with from <= Time < to: closed days and today so far.
	Daily(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error)
	// FirstBar is the time of the instrument's first bar ever; ok is false
	// while it is unknown.
	FirstBar(ctx context.Context, figi string) (t time.Time, ok bool, err error)
	// ClosedBefore is the watermark of immutability: minutes (and days)
	// ending at or before it never change again. It never moves backwards
	// and never passes the clock's now.
	ClosedBefore(figi string) time.Time
}

// Config wires a Handler. Catalog, History and Tape are required.
type Config struct {
	Catalog *Catalog
	History History
	Tape    tvbridge.Tape
	Clock   clock.Clock  // default clock.Real{}
	Logger  *slog.Logger // default slog.Default()

	// Auth checks every data request; nil makes the endpoints public. A
	// request it rejects gets HTTP 401 with {"s":"error","errmsg":err}.
	Auth func(*http.Request) error

	// LegacyNoData answers an empty /history range with the pre-1.3.26
	// {"s":"no_data"[,"nb":...]} instead of empty ok arrays.
	LegacyNoData bool

	Heartbeat    time.Duration // /streaming heartbeat interval, busy or idle; default 5s
	WriteTimeout time.Duration // per write on /streaming; default 10s
	// FlushWindow coalesces /streaming output: each connection reads the
	// tape and flushes at most this often (and always within it). Zero means
	// adaptive: 1ms plus 10µs per open /streaming connection, at most 2ms, so
	// TradingView's usual 4 connections get ~1ms and a hundred share the
	// machine's syscalls without starving ingest. Negative flushes every batch.
	FlushWindow time.Duration

	// MaxHistoryRange is the longest from..to accepted for intraday
	// resolutions; default 31 days. Daily and longer are not limited.
	MaxHistoryRange time.Duration
	// MaxCountback is the largest countback accepted; default 2500.
	MaxCountback int
	// CacheBytes bounds each of the two /history caches (exact responses and
	// encoded days of 1-minute bars); default 64 MiB.
	CacheBytes int64

	// Health, when set, adds fields to /healthz: the state of the upstream
	// and the data, for operators. Its keys must not be "s", "symbols" or
	// "tape_seq".
	Health func() map[string]any
}

// Handler is the http.Handler of the data endpoints.
type Handler struct {
	cfg   Config
	cat   *Catalog
	clock clock.Clock
	log   *slog.Logger
	mux   *http.ServeMux

	responses *lru[responseKey, []byte]
	seen      *lru[responseKey, struct{}] // closed ranges asked for once
	days      *lru[dayKey, *fragment]

	streams atomic.Int64 // open /streaming connections
	stats   *stats
}

// seenKeys is how many closed /history ranges are remembered as asked for
// once, to cache them when they are asked for again.
const seenKeys = 16384

// NewHandler builds the handler. It panics when Catalog, History or Tape is
// nil: that is a wiring mistake, found at startup.
func NewHandler(cfg Config) *Handler {
	if cfg.Catalog == nil || cfg.History == nil || cfg.Tape == nil {
		panic("api.NewHandler: Catalog, History and Tape are required")
	}
	setDefaults(&cfg)
	h := &Handler{
		cfg:       cfg,
		cat:       cfg.Catalog,
		clock:     cfg.Clock,
		log:       cfg.Logger,
		mux:       http.NewServeMux(),
		responses: newLRU[responseKey, []byte](cfg.CacheBytes),
		seen:      newLRU[responseKey, struct{}](seenKeys),
		days:      newLRU[dayKey, *fragment](cfg.CacheBytes),
		stats:     newStats(),
	}
	h.mux.Handle("/symbol_info", h.dataEndpoint(h.serveSymbolInfo, true))
	h.mux.Handle("/groups", h.dataEndpoint(h.serveGroups, true))
	h.mux.Handle("/history", h.dataEndpoint(h.serveHistory, true))
	h.mux.Handle("/streaming", h.dataEndpoint(h.serveStreaming, false))
	h.mux.HandleFunc("/healthz", h.serveHealth)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrorStatus(w, http.StatusNotFound, "no such endpoint: "+quoteForMessage(r.URL.Path))
	})
	return h
}

func setDefaults(cfg *Config) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxHistoryRange <= 0 {
		cfg.MaxHistoryRange = 31 * 24 * time.Hour
	}
	if cfg.MaxCountback <= 0 {
		cfg.MaxCountback = 2500
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 64 << 20
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// dataHandler serves a data endpoint with its query, already parsed.
type dataHandler func(w http.ResponseWriter, r *http.Request, q url.Values)

// dataEndpoint wraps a TradingView data endpoint: GET only, the auth hook,
// the query parsed once, and a recover that turns a panic into a logged
// error response, so no stack trace or 500 ever reaches TradingView.
// Streaming responses have already started when a panic could happen, so
// they are only logged and closed.
//
// A query that does not parse (a malformed %-escape, a ';' separator) is
// refused: r.URL.Query would drop the broken pair silently, and
// /symbol_info?group=%zz would answer every symbol as if no group was asked.
func (h *Handler) dataEndpoint(serve dataHandler, errorBody bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.log.Error("api: panic serving request", "path", r.URL.Path, "query", r.URL.RawQuery,
					"remote", r.RemoteAddr, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if errorBody {
					h.writeError(w, "internal error; please retry later")
				}
			}
		}()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeErrorStatus(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use GET")
			return
		}
		if h.cfg.Auth != nil {
			if err := h.cfg.Auth(r); err != nil {
				writeErrorStatus(w, http.StatusUnauthorized, err.Error())
				return
			}
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			h.writeError(w, "malformed query string: "+err.Error()+"; percent-encode parameters as %XX")
			return
		}
		serve(w, r, q)
	})
}

// serveHealth answers /healthz: the process is up and serving ("s":"ok"),
// whatever the upstream does; the fields Config.Health adds say how the
// upstream and the data are.
func (h *Handler) serveHealth(w http.ResponseWriter, _ *http.Request) {
	fields := map[string]any{"s": "ok", "symbols": len(h.cat.symbols), "tape_seq": h.cfg.Tape.LastSeq()}
	if h.cfg.Health != nil {
		for k, v := range h.cfg.Health() {
			if _, taken := fields[k]; !taken {
				fields[k] = v
			}
		}
	}
	body, err := json.Marshal(fields)
	if err != nil {
		h.log.Error("encode /healthz", "err", err)
		writeErrorStatus(w, http.StatusInternalServerError, "health report unavailable")
		return
	}
	writeJSON(w, append(body, '\n'))
}

// writeJSON writes a complete JSON body with its length, so keep-alive
// clients need no chunk parsing.
func writeJSON(w http.ResponseWriter, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // the client went away; nothing to do
}

var jsonContentType = []string{"application/json"}

// writeError answers with TradingView's error envelope on HTTP 200, which is
// how the spec reports every request error; errmsg is shown to users.
func (h *Handler) writeError(w http.ResponseWriter, msg string) {
	writeErrorStatus(w, http.StatusOK, msg)
}

func writeErrorStatus(w http.ResponseWriter, status int, msg string) {
	body := append([]byte(`{"s":"error","errmsg":`), appendJSONString(nil, msg)...)
	body = append(body, "}\n"...)
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// quoteForMessage quotes client input for an error message, cut short so a
// huge parameter cannot make a huge response.
func quoteForMessage(v string) string {
	const max = 40
	if len(v) > max {
		v = v[:max] + "..."
	}
	return strconv.Quote(v)
}

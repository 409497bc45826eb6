package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strings"
	"time"
)

// Config wires the admin handler. Every field is optional.
type Config struct {
	// Status is the snapshot of /api/status, called on each request (the
	// console polls every 2 seconds). Nil serves an empty snapshot.
	Status func() Status
	// Log fills Status.Log when Status leaves it nil.
	Log *LogRing
	// Checks are the conditions of /readyz, run concurrently on each call.
	Checks []Check
	// CheckTimeout bounds a /readyz call: a check that has not answered by
	// then fails; default 2 seconds.
	CheckTimeout time.Duration
	// Metrics serves /metrics (the Prometheus handler); nil answers 404.
	Metrics http.Handler
	// API is the TradingView API the console uses (the data endpoints and
	// the trading endpoints, already acting as the console's user), mounted
	// at /tv/ with the prefix stripped: /tv/history reaches API as
	// /history. Nil answers 404 there, and the chart page has no data.
	API http.Handler

	// Token, when set, admits requests with "Authorization: Bearer
	// <Token>" (Prometheus' bearer_token), and browsers that give it as the
	// basic-auth password with any user name.
	Token string
	// User and Password, when Password is set, admit requests with these
	// basic-auth credentials (a browser prompts for them).
	User, Password string
	// ProtectProbes requires the credentials on /healthz and /readyz too;
	// by default they are open, as orchestrators' probes rarely carry any.
	ProtectProbes bool

	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now; the time of /api/status and /readyz caching
}

// Protected reports whether cfg asks for credentials (a Token or a
// Password). Unprotected, the handler must listen on loopback only: the
// wiring should refuse a non-loopback address without protection
// (IsLoopback says which is which).
func (cfg Config) Protected() bool { return cfg.Token != "" || cfg.Password != "" }

// IsLoopback reports whether a listen address ("host:port") is on the
// loopback interface: "localhost", 127.0.0.0/8 or ::1. An empty host
// (every interface) is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

//go:embed static
var staticFS embed.FS

// handler is the admin listener's http.Handler.
type handler struct {
	cfg    Config
	log    *slog.Logger
	checks []*checker
	mux    *http.ServeMux
	static http.Handler
	etags  map[string]string // static path -> ETag

	tokenSum, userSum, passSum [sha256.Size]byte
}

// New returns the admin listener's handler: /healthz, /readyz, /metrics,
// /api/status, the console pages (/ and /chart, assets under /static/) and
// the TradingView API for the console under /tv/. With credentials
// configured, everything but the probes asks for them; without, only
// requests addressed to localhost or an IP address are answered (a
// defence against DNS rebinding). Cross-origin browser requests that
// change state are refused (http.CrossOriginProtection).
func New(cfg Config) http.Handler {
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		tokenSum: sha256.Sum256([]byte(cfg.Token)),
		userSum:  sha256.Sum256([]byte(cfg.User)),
		passSum:  sha256.Sum256([]byte(cfg.Password)),
	}
	for _, c := range cfg.Checks {
		h.checks = append(h.checks, &checker{Check: c})
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("admin: embedded static files: " + err.Error())
	}
	h.static = http.StripPrefix("/static", http.FileServerFS(sub))
	h.etags = etags(sub)

	probe := func(f http.HandlerFunc) http.Handler {
		if cfg.ProtectProbes {
			return h.protect(f)
		}
		return f
	}
	h.mux.Handle("GET /healthz", probe(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"s": "ok"})
	}))
	h.mux.Handle("GET /readyz", probe(h.serveReady))
	h.mux.Handle("/metrics", h.protect(orNotFound(cfg.Metrics, "metrics are not enabled")))
	h.mux.Handle("GET /api/status", h.protect(http.HandlerFunc(h.serveStatus)))
	h.mux.Handle("/tv/", h.protect(http.StripPrefix("/tv", orNotFound(cfg.API, "the TradingView API is not wired to the console"))))
	h.mux.Handle("GET /{$}", h.protect(h.page("index.html")))
	h.mux.Handle("GET /chart", h.protect(h.page("chart.html")))
	h.mux.Handle("GET /static/", h.protect(http.HandlerFunc(h.serveStatic)))
	// Go's profiler, for an operator chasing CPU or memory in production
	// (go tool pprof http://ADMIN/debug/pprof/profile?seconds=30).
	h.mux.Handle("/debug/pprof/", h.protect(http.HandlerFunc(pprof.Index)))
	h.mux.Handle("/debug/pprof/profile", h.protect(http.HandlerFunc(pprof.Profile)))
	h.mux.Handle("/debug/pprof/trace", h.protect(http.HandlerFunc(pprof.Trace)))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
	return http.NewCrossOriginProtection().Handler(h.mux)
}

// protect admits a request with valid credentials, or any request when
// none are configured and it is addressed to localhost or an IP address.
// Credentials are compared as SHA-256 sums in constant time, so neither
// their length nor their content leaks through timing.
func (h *handler) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !h.cfg.Protected():
			if !localHost(r.Host) {
				writeError(w, http.StatusForbidden, "the admin listener has no credentials configured and answers only requests "+
					"to localhost or an IP address; configure a token or a password to reach it by name")
				return
			}
		case !h.authorized(r):
			w.Header().Add("WWW-Authenticate", `Basic realm="tvbridge admin", charset="UTF-8"`)
			if h.cfg.Token != "" {
				w.Header().Add("WWW-Authenticate", `Bearer realm="tvbridge admin"`)
			}
			writeError(w, http.StatusUnauthorized, "authentication required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized checks the request's bearer token or basic-auth credentials.
func (h *handler) authorized(r *http.Request) bool {
	if h.cfg.Token != "" {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			return same(tok, h.tokenSum) == 1
		}
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if h.cfg.Password != "" && same(user, h.userSum)&same(pass, h.passSum) == 1 {
		return true
	}
	return h.cfg.Token != "" && same(pass, h.tokenSum) == 1
}

// same is 1 when v's SHA-256 sum is sum, in constant time.
func same(v string, sum [sha256.Size]byte) int {
	got := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(got[:], sum[:])
}

// localHost reports whether a request's Host names localhost or an IP
// address: a page served from another name that resolves to 127.0.0.1
// (DNS rebinding) is refused.
func localHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil
}

// serveStatus answers the console's snapshot.
func (h *handler) serveStatus(w http.ResponseWriter, _ *http.Request) {
	var s Status
	if h.cfg.Status != nil {
		var ok bool
		if s, ok = h.status(); !ok {
			writeError(w, http.StatusInternalServerError, "the status snapshot failed; see the log")
			return
		}
	}
	if s.Time.IsZero() {
		s.Time = h.cfg.Now()
	}
	if s.Log == nil && h.cfg.Log != nil {
		s.Log = h.cfg.Log.Entries()
	}
	writeJSON(w, http.StatusOK, s)
}

// status calls Config.Status, turning a panic into a logged failure.
func (h *handler) status() (s Status, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("admin: status snapshot panicked", "panic", p, "stack", string(debug.Stack()))
			ok = false
		}
	}()
	return h.cfg.Status(), true
}

// page serves one of the console's HTML pages.
func (h *handler) page(name string) http.Handler {
	body, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		panic("admin: embedded page: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Cache-Control", "no-cache")
		securityHeaders(hdr)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

// serveStatic serves the embedded assets with an ETag, so a browser
// revalidates the chart library instead of downloading it again.
func (h *handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/") {
		writeError(w, http.StatusNotFound, "no such page: "+r.URL.Path) // no directory listings
		return
	}
	hdr := w.Header()
	if tag, ok := h.etags[strings.TrimPrefix(r.URL.Path, "/static/")]; ok {
		hdr.Set("ETag", tag)
	}
	hdr.Set("Cache-Control", "no-cache")
	securityHeaders(hdr)
	h.static.ServeHTTP(w, r)
}

// securityHeaders keep the console's pages to their own origin: scripts,
// styles and connections from the admin listener only, no framing.
func securityHeaders(hdr http.Header) {
	hdr.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
}

// etags computes an ETag per embedded file.
func etags(fsys fs.FS) map[string]string {
	out := map[string]string{}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	return out
}

// orNotFound is h, or a 404 saying why when h is nil.
func orNotFound(h http.Handler, why string) http.Handler {
	if h != nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, why)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"s":"error","errmsg":"cannot encode the answer"}`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"s": "error", "errmsg": msg})
}

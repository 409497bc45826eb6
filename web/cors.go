// Package web holds the HTTP plumbing in front of TradingView's API: the
// CORS middleware browsers need to call the trading endpoints, and the
// server (plain HTTP or TLS with certificate hot reload, graceful shutdown).
package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultOrigins are the browser origins allowed when CORSConfig.Origins
// is nil: TradingView's sites.
var DefaultOrigins = []string{"https://*.tradingview.com"}

// StagingOrigins are added by CORSConfig.Staging: TradingView's staging
// sites and its local development page.
var StagingOrigins = []string{"https://*.xstaging.tv", "http://localhost:6285"}

// CORSConfig configures CORS.
type CORSConfig struct {
	// Origins are the allowed origins, each scheme://host[:port]; a host
	// "*.example.com" matches any subdomain of example.com (not example.com
	// itself). nil means DefaultOrigins.
	Origins []string
	// Staging also allows StagingOrigins.
	Staging bool
	// MaxAge is how long browsers may cache a preflight answer
	// (Access-Control-Max-Age, whole seconds), so that a page polling the
	// trading endpoints is not preflighted before every request. Zero
	// means 10 minutes; negative sends no Max-Age, and browsers then keep
	// a preflight for 5 seconds. Chrome caps it at 2 hours, Firefox at 24.
	MaxAge time.Duration
}

// Validate reports a malformed origin pattern.
func (c CORSConfig) Validate() error {
	_, err := c.patterns()
	return err
}

func (c CORSConfig) patterns() ([]originPattern, error) {
	list := c.Origins
	if list == nil {
		list = DefaultOrigins
	}
	if c.Staging {
		list = append(list[:len(list):len(list)], StagingOrigins...)
	}
	out := make([]originPattern, 0, len(list))
	for _, s := range list {
		p, err := parsePattern(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// originPattern is a parsed allowed origin.
type originPattern struct {
	scheme, host, port string
	subdomains         bool // host is a parent domain: match strict subdomains
}

func (p originPattern) matches(o origin) bool {
	if o.scheme != p.scheme || o.port != p.port {
		return false
	}
	if !p.subdomains {
		return o.host == p.host
	}
	return len(o.host) > len(p.host)+1 && strings.HasSuffix(o.host, "."+p.host)
}

func parsePattern(s string) (originPattern, error) {
	wild := strings.Contains(s, "://*.")
	o, ok := parseOrigin(strings.Replace(s, "://*.", "://", 1))
	if !ok {
		return originPattern{}, fmt.Errorf("web: CORS origin %q: want scheme://host[:port], host optionally starting with \"*.\"", s)
	}
	return originPattern{scheme: o.scheme, host: o.host, port: o.port, subdomains: wild}, nil
}

// origin is a parsed Origin header, lower-cased, default port removed.
type origin struct{ scheme, host, port string }

// parseOrigin parses a serialized origin: scheme://host[:port] and nothing
// else. Hosts are DNS names or IP literals; anything odd fails, so a
// crafted Origin can never match a pattern by accident.
func parseOrigin(s string) (origin, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || len(s) > 256 || strings.Trim(strings.ToLower(rest), "abcdefghijklmnopqrstuvwxyz0123456789.-:[]") != "" {
		return origin{}, false // a path, query, fragment, user info or escape
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil || u.Opaque != "" || u.Host != rest {
		return origin{}, false
	}
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if (o.scheme != "https" && o.scheme != "http") || !validHost(o.host) {
		return origin{}, false
	}
	if p, err := strconv.Atoi(o.port); o.port != "" && (err != nil || p < 1 || p > 65535) {
		return origin{}, false
	}
	if o.scheme == "https" && o.port == "443" || o.scheme == "http" && o.port == "80" {
		o.port = ""
	}
	return o, true
}

func validHost(h string) bool {
	if h == "" || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// corsMethods are the methods TradingView's API uses.
const corsMethods = "GET, POST, PUT, DELETE, OPTIONS"

// CORS lets browsers on the allowed origins call next. An allowed origin
// is echoed exactly in Access-Control-Allow-Origin (never "*"), with
// Access-Control-Allow-Credentials, on every response whatever its status,
// because the headers are set before next runs. Other origins get no CORS
// headers at all. Preflight requests (OPTIONS with
// Access-Control-Request-Method) are answered here: 204 for allowed
// origins, 403 for others. CORS panics on a malformed origin pattern: call
// Validate on configuration first.
func CORS(cfg CORSConfig, next http.Handler) http.Handler {
	patterns, err := cfg.patterns()
	if err != nil {
		panic(err)
	}
	maxAge := preflightMaxAge(cfg.MaxAge)
	allowed := func(raw string) bool {
		o, ok := parseOrigin(raw)
		if !ok {
			return false
		}
		for _, p := range patterns {
			if p.matches(o) {
				return true
			}
		}
		return false
	}
	// Browsers send the same few origins with every poll: each verdict is
	// kept, as the header value to send (nil: not allowed), for at most
	// maxOriginVerdicts origins, so that junk origins cannot grow it.
	var verdicts sync.Map
	var kept atomic.Int64
	verdict := func(raw string) []string {
		if v, ok := verdicts.Load(raw); ok {
			return v.([]string)
		}
		var v []string
		if allowed(raw) {
			v = []string{raw}
		}
		if kept.Add(1) <= maxOriginVerdicts {
			verdicts.Store(raw, v)
		}
		return v
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if v := h["Vary"]; v == nil {
			h["Vary"] = varyOrigin
		} else {
			h["Vary"] = append(v, "Origin")
		}
		raw := r.Header.Get("Origin")
		var allow []string
		if raw != "" {
			allow = verdict(raw)
		}
		if r.Method == http.MethodOptions && raw != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			preflight(w, r, raw, allow != nil, maxAge)
			return
		}
		if allow != nil {
			// Shared, never modified: header values are replaced, not written to.
			h["Access-Control-Allow-Origin"] = allow
			h["Access-Control-Allow-Credentials"] = allowCredentials
			h["Access-Control-Expose-Headers"] = exposeHeaders
		}
		next.ServeHTTP(w, r)
	})
}

// maxOriginVerdicts bounds the origins CORS remembers.
const maxOriginVerdicts = 1024

var (
	varyOrigin       = []string{"Origin"}
	allowCredentials = []string{"true"}
	exposeHeaders    = []string{"Retry-After, WWW-Authenticate"}
)

func preflight(w http.ResponseWriter, r *http.Request, origin string, ok bool, maxAge string) {
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !ok {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"s":"error","errmsg":"origin not allowed"}` + "\n"))
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Allow-Methods", corsMethods)
	if hdrs := requestedHeaders(r.Header.Get("Access-Control-Request-Headers")); hdrs != "" {
		h.Set("Access-Control-Allow-Headers", hdrs)
	}
	// Chrome's Private Network Access: a public page calling a broker on
	// a private address (a local test setup) asks first.
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	if maxAge != "" {
		h.Set("Access-Control-Max-Age", maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// preflightMaxAge is the Access-Control-Max-Age value for CORSConfig.MaxAge,
// or "" for none.
func preflightMaxAge(d time.Duration) string {
	switch {
	case d == 0:
		d = 10 * time.Minute
	case d < 0:
		return ""
	}
	return strconv.Itoa(int(d / time.Second))
}

// requestedHeaders echoes the header names a preflight asks for, keeping
// only well-formed names: the origin is trusted, so whatever headers its
// scripts send are allowed.
func requestedHeaders(v string) string {
	if len(v) > 2048 {
		return ""
	}
	var out []string
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if name != "" && isToken(name) {
			out = append(out, name)
		}
	}
	return strings.Join(out, ", ")
}

func isToken(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

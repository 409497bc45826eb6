package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

// Error codes of the REST error envelope, as the real service spells them.
const (
	codeValidation     = "VALIDATION_ERROR"
	codeMalformedQuery = "MALFORMED_QUERY_PARAMETER"
	codeNotFound       = "NOT_FOUND"
	codeOrder          = "ORDER_ERROR"
	codeNotEnough      = "NOT_ENOUGH_BALANCE"
	codeInstrument     = "INSTRUMENT_ERROR"
	codeUnknownAccount = "GATEWAY_REQUEST_DATA_ERROR"
	codeUser           = "USER_ERROR"
	codeInternal       = "INTERNAL_ERROR"
	codeUndefinedRoute = "UNDEFINED_ROUTE"
	codeForbidden      = "FORBIDDEN"
)

// maxBody bounds a REST request body; real ones are tiny.
const maxBody = 1 << 20

// apiError is an error the client gets as an error envelope.
type apiError struct {
	status  int // HTTP status; the real service uses 500 for all business errors
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusInternalServerError, code: code, message: fmt.Sprintf(format, args...)}
}

// restCtx is one REST request after routing and authentication.
type restCtx struct {
	r       *http.Request
	query   url.Values
	token   string
	sandbox bool // under /openapi/sandbox/
	now     time.Time
}

type route struct {
	method      string
	sandboxOnly bool // the /sandbox/... management routes
	market      bool // counts against Config.RESTRateLimit
	handle      func(*restCtx) (any, error)
}

// restAPI serves the REST API under /openapi/ and its sandbox mirror.
type restAPI struct {
	srv    *Server
	routes map[string]route // by path relative to the production or sandbox base

	salt uint64
	seq  atomic.Uint64

	mu      sync.Mutex
	windows map[string]*rateWindow // per token
}

type rateWindow struct {
	start time.Time
	count int
}

func newRESTAPI(s *Server) *restAPI {
	a := &restAPI{
		srv:     s,
		salt:    uint64(s.clock.Now().UnixNano()),
		windows: make(map[string]*rateWindow),
	}
	a.routes = a.routeTable()
	return a
}

func (a *restAPI) routeTable() map[string]route {
	get := func(h func(*restCtx) (any, error)) route { return route{method: http.MethodGet, handle: h} }
	market := func(h func(*restCtx) (any, error)) route {
		return route{method: http.MethodGet, market: true, handle: h}
	}
	post := func(h func(*restCtx) (any, error)) route { return route{method: http.MethodPost, handle: h} }
	sandbox := func(h func(*restCtx) (any, error)) route {
		return route{method: http.MethodPost, sandboxOnly: true, handle: h}
	}
	return map[string]route{
		"/market/stocks":           market(a.instrumentsOf(tvbridge.Stock)),
		"/market/bonds":            market(a.instrumentsOf(tvbridge.Bond)),
		"/market/etfs":             market(a.instrumentsOf(tvbridge.ETF)),
		"/market/currencies":       market(a.instrumentsOf(tvbridge.Currency)),
		"/market/search/by-figi":   market(a.searchByFIGI),
		"/market/search/by-ticker": market(a.searchByTicker),
		"/market/orderbook":        market(a.orderbook),
		"/market/candles":          market(a.candles),

		"/orders":               get(a.orders),
		"/orders/limit-order":   post(a.limitOrder),
		"/orders/market-order":  post(a.marketOrder),
		"/orders/cancel":        post(a.cancelOrder),
		"/portfolio":            get(a.portfolio),
		"/portfolio/currencies": get(a.portfolioCurrencies),
		"/operations":           get(a.operations),
		"/user/accounts":        get(a.userAccounts),

		"/sandbox/register":           sandbox(a.sandboxRegister),
		"/sandbox/currencies/balance": sandbox(a.sandboxCurrencyBalance),
		"/sandbox/positions/balance":  sandbox(a.sandboxPositionBalance),
		"/sandbox/remove":             sandbox(a.sandboxRemove),
		"/sandbox/clear":              sandbox(a.sandboxClear),
	}
}

// ServeHTTP routes, authenticates, rate-limits and answers in the envelope.
//
// Unknown routes and wrong methods get 404 UNDEFINED_ROUTE before the token
// is looked at. A missing token gets 401 with an empty body; a token not in
// Config.Tokens gets 403 with an error envelope (code FORBIDDEN). The real
// service was inconsistent here, so clients must cope with both shapes.
func (a *restAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.srv.stats.restRequests.Add(1)
	defer func() {
		if p := recover(); p != nil {
			a.srv.log.Error("REST handler panicked", "path", r.URL.Path, "panic", p)
			a.writeError(w, errorf(codeInternal, "internal error"))
		}
	}()
	if take(&a.srv.faults.rest429) {
		a.srv.stats.rest429.Add(1)
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	rt, sandbox, ok := a.match(r)
	if !ok {
		a.writeError(w, &apiError{status: http.StatusNotFound, code: codeUndefinedRoute, message: "Cannot find route " + r.Method + " " + r.URL.Path})
		return
	}
	token, ok := bearer(r)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !a.srv.acceptToken(token) {
		a.writeError(w, &apiError{status: http.StatusForbidden, code: codeForbidden, message: "Invalid token"})
		return
	}
	now := a.srv.clock.Now()
	if rt.market && !a.allow(token, now) {
		a.srv.stats.restRateLimited.Add(1)
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	payload, err := rt.handle(&restCtx{r: r, query: r.URL.Query(), token: token, sandbox: sandbox, now: now})
	if err != nil {
		a.writeError(w, asAPIError(err))
		return
	}
	a.writeJSON(w, http.StatusOK, "Ok", payload)
}

// match finds the route of a request: the path relative to the sandbox base
// (/openapi/sandbox) or the production base (/openapi).
func (a *restAPI) match(r *http.Request) (route, bool, bool) {
	rel, sandbox := "", false
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, wire.SandboxBase+"/"):
		rel, sandbox = strings.TrimPrefix(p, wire.SandboxBase), true
	case strings.HasPrefix(p, wire.RESTPrefix+"/"):
		rel = strings.TrimPrefix(p, wire.RESTPrefix)
	default:
		return route{}, false, false
	}
	rt, ok := a.routes[rel]
	if !ok || rt.method != r.Method || (rt.sandboxOnly && !sandbox) {
		return route{}, false, false
	}
	return rt, sandbox, true
}

// allow counts a /market request against the token's per-minute budget
// (a fixed window aligned to the clock's minutes).
func (a *restAPI) allow(token string, now time.Time) bool {
	limit := a.srv.cfg.RESTRateLimit
	if limit <= 0 {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	start := now.Truncate(time.Minute)
	w := a.windows[token]
	if w == nil || !w.start.Equal(start) {
		w = &rateWindow{start: start}
		a.windows[token] = w
	}
	if w.count >= limit {
		return false
	}
	w.count++
	return true
}

func asAPIError(err error) *apiError {
	if ae, ok := err.(*apiError); ok {
		return ae
	}
	return errorf(codeInternal, "%v", err)
}

func (a *restAPI) writeError(w http.ResponseWriter, e *apiError) {
	a.writeJSON(w, e.status, "Error", wire.ErrorBody{Message: e.message, Code: e.code})
}

func (a *restAPI) writeJSON(w http.ResponseWriter, status int, result string, payload any) {
	body, err := json.Marshal(struct {
		TrackingID string `json:"trackingId"`
		Status     string `json:"status"`
		Payload    any    `json:"payload"`
	}{a.trackingID(), result, payload})
	if err != nil {
		a.srv.log.Error("encoding REST response", "err", err)
		status = http.StatusInternalServerError
		body = []byte(`{"trackingId":"` + a.trackingID() + `","status":"Error","payload":{"message":"internal error","code":"INTERNAL_ERROR"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// trackingID returns an id unique within this server's lifetime.
func (a *restAPI) trackingID() string {
	return fmt.Sprintf("%08x%08x", uint32(a.salt), a.seq.Add(1))
}

// Request helpers.

// requireQuery returns a mandatory query parameter.
func (c *restCtx) requireQuery(name string) (string, error) {
	v := c.query.Get(name)
	if v == "" {
		return "", errorf(codeValidation, "[%s]: must not be empty", name)
	}
	return v, nil
}

// queryTime parses an ISO 8601 date-time with an explicit offset. An
// unencoded "+03:00" arrives as " 03:00" and is rejected, like on the real
// service.
func (c *restCtx) queryTime(name string) (time.Time, error) {
	v, err := c.requireQuery(name)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errorf(codeMalformedQuery, "Invalid format of field '%s': %s", name, v)
	}
	return t, nil
}

// queryInt parses a mandatory integer query parameter.
func (c *restCtx) queryInt(name string) (int, error) {
	v, err := c.requireQuery(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errorf(codeMalformedQuery, "Invalid format of field '%s': %s", name, v)
	}
	return n, nil
}

// decodeBody decodes the JSON request body into v.
func (c *restCtx) decodeBody(v any) error {
	return c.decode(v, false)
}

// decodeOptionalBody is decodeBody for a body that may be absent.
func (c *restCtx) decodeOptionalBody(v any) error {
	return c.decode(v, true)
}

func (c *restCtx) decode(v any, optional bool) error {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading request body: %w", err)
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(codeValidation, "Invalid request body: %v", err)
	}
	return nil
}

package v2sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"tvbridge/tinvest/wire"
)

// maxBody bounds a REST request body; real ones are small.
const maxBody = 1 << 20

// Service error codes the simulator answers with (the docs' "tracking
// codes"; the client's wire and venue tables name the same ones).
const (
	codeBadRequest         = "30001" // malformed body or a required field missing
	codeLimitTooLarge      = "30013" // GetCandles' limit above the interval's maximum
	codeQtyPositive        = "30080"
	codeNotEnoughBalance   = "30034" // sandbox
	codeNotEnoughMargin    = "30042" // production
	codeCancelError        = "30059"
	codeNotAvailable       = "30079"
	codePricePositive      = "30100"
	codeOutsideLimits      = "30099"
	codeDepthInvalid       = "30009"
	codeScheduleRange      = "30010"
	codeLastTradesRange    = "30011"
	codeInstrumentNotFound = "50002"
	codeAccountNotFound    = "50004"
	codeOrderNotFound      = "50005"
	codeInternal           = "70001"
)

// apiError is an error answer: a gRPC code, its HTTP status, the service
// code and a message.
type apiError struct {
	code    wire.Code
	service string
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s %s: %s", e.code, e.service, e.message) }

func newErr(code wire.Code, service, format string, args ...any) *apiError {
	return &apiError{code: code, service: service, message: fmt.Sprintf(format, args...)}
}

func invalid(service, format string, args ...any) *apiError {
	return newErr(wire.CodeInvalidArgument, service, format, args...)
}

func notFound(service, format string, args ...any) *apiError {
	return newErr(wire.CodeNotFound, service, format, args...)
}

// httpStatus is the HTTP status the gateway gives a gRPC code.
func httpStatus(c wire.Code) int {
	switch c {
	case wire.CodeOK:
		return http.StatusOK
	case wire.CodeInvalidArgument, wire.CodeFailedPrecondition, wire.CodeOutOfRange:
		return http.StatusBadRequest
	case wire.CodeUnauthenticated:
		return http.StatusUnauthorized
	case wire.CodePermissionDenied:
		return http.StatusForbidden
	case wire.CodeNotFound:
		return http.StatusNotFound
	case wire.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case wire.CodeUnimplemented:
		return http.StatusNotImplemented
	case wire.CodeUnavailable:
		return http.StatusServiceUnavailable
	case wire.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	case wire.CodeAlreadyExists, wire.CodeAborted:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// writeError answers with the v2 error body and an x-tracking-id.
func (s *Server) writeError(w http.ResponseWriter, status int, code wire.Code, service, message string) {
	s.stats.restErrors.Add(1)
	h := w.Header()
	if h.Get(wire.HeaderTrackingID) == "" {
		h.Set(wire.HeaderTrackingID, s.trackingID())
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := json.Marshal(wire.ErrorBody{Code: int(code), Message: message, Description: service})
	w.Write(body)
}

func (s *Server) writeAPIError(w http.ResponseWriter, e *apiError) {
	s.writeError(w, httpStatus(e.code), e.code, e.service, e.message)
}

// restCtx is one REST request after authentication.
type restCtx struct {
	r        *http.Request
	token    string
	method   string
	tracking string // the answer's x-tracking-id
	now      time.Time
}

type handler func(rc *restCtx, body []byte) (any, error)

// unary wraps a typed handler with the body's decoding.
func unary[Req any](h func(*restCtx, *Req) (any, error)) handler {
	return func(rc *restCtx, body []byte) (any, error) {
		var req Req
		if err := decodeRequest(body, &req); err != nil {
			return nil, invalid(codeBadRequest, "%s: bad request body: %v", wire.MethodName(rc.method), err)
		}
		return h(rc, &req)
	}
}

// decodeRequest decodes a request body: a JSON object (or nothing, the
// empty message) into the wire type, whose decoders refuse wrong types,
// bad decimals and overflow. Unknown members are ignored, as the gateway
// ignores them.
func decodeRequest(body []byte, out any) error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil
	}
	if t[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	if err := dec.Decode(out); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the object")
	}
	return nil
}

// restAPI is the REST gateway: POST /rest/<full method name>.
type restAPI struct {
	srv     *Server
	routes  map[string]handler
	windows *windows
}

func newRESTAPI(s *Server) *restAPI {
	a := &restAPI{srv: s, windows: newWindows()}
	a.routes = a.routeTable()
	return a
}

func (a *restAPI) routeTable() map[string]handler {
	r := map[string]handler{}
	a.marketRoutes(r)
	a.tradingRoutes(r)
	return r
}

// ServeHTTP authenticates, rate-limits, decodes and answers. Unknown
// methods get 404 with the gRPC body (code NOT_FOUND), like the gateway's
// unknown routes; a bad token 401 UNAUTHENTICATED (40003).
func (a *restAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := a.srv
	s.stats.restRequests.Add(1)
	tracking := s.trackingID()
	w.Header().Set(wire.HeaderTrackingID, tracking)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("REST handler panicked", "path", r.URL.Path, "panic", p)
			s.writeError(w, http.StatusInternalServerError, wire.CodeInternal, codeInternal, "internal error")
		}
	}()
	method := strings.TrimPrefix(r.URL.Path, wire.RESTPath)
	h, ok := a.routes[method]
	if !ok || r.Method != http.MethodPost {
		s.writeError(w, http.StatusNotFound, wire.CodeNotFound, "", "Not Found")
		return
	}
	token, ok := bearer(r)
	if !ok || !s.acceptToken(token) {
		s.writeError(w, http.StatusUnauthorized, wire.CodeUnauthenticated, wire.ErrUnauthenticated,
			"authentication token is missing or invalid")
		return
	}
	now := s.clock.Now()
	if !a.admit(w, token, method, now) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		s.writeError(w, http.StatusBadRequest, wire.CodeInvalidArgument, codeBadRequest, "request body unreadable or too large")
		return
	}
	resp, err := h(&restCtx{r: r, token: token, method: method, tracking: tracking, now: now}, body)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = newErr(wire.CodeInternal, codeInternal, "%v", err)
		}
		s.writeAPIError(w, ae)
		return
	}
	out, err := json.Marshal(resp)
	if err != nil {
		s.log.Error("REST answer not encodable", "method", method, "err", err)
		s.writeError(w, http.StatusInternalServerError, wire.CodeInternal, codeInternal, "answer not encodable")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// admit applies the REST429 faults and Config.RESTRateLimit (a fixed window
// per token and service per clock minute), setting the x-ratelimit headers;
// it answers 429 and reports false when the request is refused.
func (a *restAPI) admit(w http.ResponseWriter, token, method string, now time.Time) bool {
	s := a.srv
	reset := resetSeconds(now)
	if s.faults.rest429Due() {
		s.stats.rest429.Add(1)
		setRateHeaders(w, max(s.cfg.RESTRateLimit, 1), 0, reset)
		s.writeError(w, http.StatusTooManyRequests, wire.CodeResourceExhausted, wire.ErrRequestLimit,
			"request limit exceeded (injected fault)")
		return false
	}
	limit := s.cfg.RESTRateLimit
	if limit <= 0 {
		return true
	}
	ok, remaining := a.windows.take(token+"|"+wire.ServiceOf(method), limit, now)
	setRateHeaders(w, limit, remaining, reset)
	if !ok {
		s.stats.restRateLimited.Add(1)
		s.writeError(w, http.StatusTooManyRequests, wire.CodeResourceExhausted, wire.ErrRequestLimit,
			"request limit exceeded for "+wire.MethodName(wire.ServiceOf(method)))
		return false
	}
	return true
}

func setRateHeaders(w http.ResponseWriter, limit, remaining, reset int) {
	h := w.Header()
	h.Set(wire.HeaderRateLimitLimit, strconv.Itoa(limit))
	h.Set(wire.HeaderRateLimitRemaining, strconv.Itoa(remaining))
	h.Set(wire.HeaderRateLimitReset, strconv.Itoa(reset))
}

// resetSeconds is the whole seconds until the next clock minute, at least 1.
func resetSeconds(now time.Time) int {
	left := now.Truncate(time.Minute).Add(time.Minute).Sub(now)
	return max(1, int((left+time.Second-1)/time.Second))
}

// windows are fixed per-minute request windows by key.
type windows struct {
	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	start time.Time
	count int
}

func newWindows() *windows { return &windows{m: make(map[string]*window)} }

// take counts a request in key's window of the current clock minute and
// reports whether it is within limit, and how many remain.
func (ws *windows) take(key string, limit int, now time.Time) (bool, int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	start := now.Truncate(time.Minute)
	w := ws.m[key]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start}
		ws.m[key] = w
	}
	if w.count >= limit {
		return false, 0
	}
	w.count++
	return true, limit - w.count
}

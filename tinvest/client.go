// Package tinvest connects tvbridge to T-Invest API v2, Tinkoff's current
// API: Client is the REST gateway client (catalogue, trading schedules,
// candles, order books, trading statuses, last prices, the yearly candle
// archive, accounts, orders, stop orders, operations, portfolio, positions
// and the sandbox), and Upstream combines it with the WebSocket market-data
// stream pool of package tinvest/stream into a tvbridge.MarketData.
//
// The JSON shapes live in package tinvest/wire. Prices arrive as exact
// decimals (wire.Quotation) and become the float64 nearest to them; prices
// sent (orders) go back to exact decimals without rounding error when they
// lie on the instrument's tick (see wire.QuotationFromFloat and
// wire.SnapToTick).
//
// Rate limits. Each call waits for its service's bucket (DefaultLimits: the
// documented per-minute limits, with PostOrder, GetOrders, CancelOrder and
// PostOrderAsync counted apart as the service does) and for the token's
// total of 50 a second. The buckets are package tinkoff's priority-aware
// sliding-window limiter: when a budget is spent, waiting calls are served
// by the priority in their context (tvbridge.WithPriority), so the minutes
// TradingView is about to ask for overtake a deep backfill. The service's
// own word wins: x-ratelimit-remaining 0 holds the bucket until
// x-ratelimit-reset, and a 429 (RESOURCE_EXHAUSTED) holds it that long and
// is retried (MaxRetries times).
//
// Errors are *APIError: the gRPC code, message, description, the service's
// five-digit code ("30014") and the x-tracking-id, which every error log
// line carries. Token errors (UNAUTHENTICATED / 40003, PERMISSION_DENIED /
// 40002, 40004) are final: IsAuth tells, and the error says what to do.
// 5xx, UNAVAILABLE, INTERNAL and DEADLINE_EXCEEDED are retried with
// exponential backoff and jitter for calls that are safe to repeat (reads,
// and orders, whose idempotency key makes a repeat return the same order);
// SandboxPayIn and OpenSandboxAccount are never repeated.
//
// # Trading
//
// Venue is a tvbridge.Venue on the trading calls: the accounts of
// GetAccounts mapped to TradingView users by configuration, their cash per
// currency from GetPositions (Holdings adds GetPortfolio), market and
// limit orders through PostOrder, CancelOrder, and order states from
// OrderStateStream, with GetOrders/GetOrderState polls as the fallback
// while the stream is down, after every reconnect, and as a periodic
// safety net. With Config.Sandbox the same venue trades sandbox accounts
// (as demo accounts) through the SandboxService calls.
//
// Every order generation the trading core sends has an idempotency key
// derived from the account, the core's order id and generation (which the
// core keeps one-to-one with TradingView's requestId, durably) and the
// deployment's VenueConfig.KeyNamespace: a pure function of the request,
// so a retried Submit, by this process or the next, gets the order the
// service already has. Fills come from the order states' trades (the
// stream's, and the polls' stages), deduplicated by trade id, so a fill
// seen twice is reported once; their ExecID is the trade id.
//
// Stops, stop-limits and brackets are not T-Invest stop orders: the
// trading core holds them, as for the paper and v1 venues, and sends a
// market or limit order here when one triggers on the live trades. That
// keeps the OCO link between a stop loss and a take profit, the OSO link
// with the parent, trailing stops in pips and the same behaviour in the
// sandbox, which T-Invest's stop orders do not give (no OCO, trailing only
// for take profits, other sandbox behaviour, a 50-a-minute limit). The
// price: held orders trigger only while tvbridge runs and sees the
// market-data stream (after a restart or a gap they are checked against
// the last prices, so a stop crossed meanwhile triggers late, at the
// market), and a triggered stop is a market order with its slippage.
// README.md has the details and the other failure modes.
package tinvest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge/clock"
	"tvbridge/tinvest/wire"
)

// Endpoints are the three base URLs of one deployment of the service.
type Endpoints struct {
	REST    string // e.g. https://invest-public-api.tinkoff.ru/rest/
	Stream  string // e.g. wss://invest-public-api.tinkoff.ru/ws/
	History string // e.g. https://invest-public-api.tinkoff.ru/history-data
}

// Presets. The sandbox has no archive of its own: its History is the
// production one (market data is the same), reached with the same token.
var (
	ProductionTinkoff = Endpoints{wire.ProductionRESTTinkoff, wire.ProductionStreamTinkoff, wire.ProductionHistoryTinkoff}
	SandboxTinkoff    = Endpoints{wire.SandboxRESTTinkoff, wire.SandboxStreamTinkoff, wire.ProductionHistoryTinkoff}
	ProductionTBank   = Endpoints{wire.ProductionRESTTBank, wire.ProductionStreamTBank, wire.ProductionHistoryTBank}
	SandboxTBank      = Endpoints{wire.SandboxRESTTBank, wire.SandboxStreamTBank, wire.ProductionHistoryTBank}
)

// EndpointsFor derives all three URLs from a REST base such as
// https://host/rest/ or http://127.0.0.1:8080/rest/ (a simulator): the
// stream on the same host with ws/wss and /ws/, the archive on the same
// host at /history-data, except that a "sandbox-" host prefix is dropped
// for the archive.
func EndpointsFor(restBase string) (Endpoints, error) {
	u, err := url.Parse(restBase)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return Endpoints{}, fmt.Errorf("tinvest: REST base %q is not an http(s) URL", restBase)
	}
	e := Endpoints{REST: restBase}
	ws := *u
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	ws.Path = wire.StreamPath
	ws.RawQuery, ws.Fragment = "", ""
	e.Stream = ws.String()
	h := *u
	h.Host = strings.TrimPrefix(h.Host, "sandbox-")
	h.Path = wire.HistoryPath
	h.RawQuery, h.Fragment = "", ""
	e.History = h.String()
	return e, nil
}

// Rate-limit buckets.
const (
	BucketInstruments    = "instruments"
	BucketMarketData     = "marketdata"
	BucketUsers          = "users"
	BucketOperations     = "operations"
	BucketStopOrders     = "stoporders"
	BucketSandbox        = "sandbox"
	BucketOrders         = "orders"
	BucketGetOrders      = "orders/GetOrders"
	BucketPostOrder      = "orders/PostOrder"
	BucketCancelOrder    = "orders/CancelOrder"
	BucketPostOrderAsync = "orders/PostOrderAsync"
	BucketHistory        = "history"
)

// DefaultLimits are the documented per-minute limits per token.
var DefaultLimits = map[string]int{
	BucketInstruments:    200,
	BucketMarketData:     600,
	BucketUsers:          100,
	BucketOperations:     200,
	BucketStopOrders:     50,
	BucketSandbox:        200,
	BucketOrders:         100,
	BucketGetOrders:      200,
	BucketPostOrder:      300,
	BucketCancelOrder:    100,
	BucketPostOrderAsync: 450,
	BucketHistory:        30,
}

// DefaultTotalPerSecond is the token's total request rate the client keeps
// under (the service asks for at most 50 a second).
const DefaultTotalPerSecond = 50

// BucketOf returns the rate-limit bucket of a full method name.
func BucketOf(method string) string {
	switch method {
	case wire.MethodGetOrders:
		return BucketGetOrders
	case wire.MethodPostOrder:
		return BucketPostOrder
	case wire.MethodCancelOrder:
		return BucketCancelOrder
	case wire.MethodPostOrderAsync:
		return BucketPostOrderAsync
	}
	switch wire.ServiceOf(method) {
	case wire.InstrumentsService:
		return BucketInstruments
	case wire.MarketDataService:
		return BucketMarketData
	case wire.UsersService:
		return BucketUsers
	case wire.OperationsService:
		return BucketOperations
	case wire.StopOrdersService:
		return BucketStopOrders
	case wire.SandboxService:
		return BucketSandbox
	case wire.OrdersService:
		return BucketOrders
	}
	return BucketMarketData
}

// notRepeatable lists the methods a 5xx or a lost answer must not repeat:
// they have no idempotency key and a repeat would do the work twice.
var notRepeatable = map[string]bool{
	wire.MethodSandboxPayIn:       true,
	wire.MethodOpenSandboxAccount: true,
}

// Config configures a Client. Zero values take the defaults documented on
// the fields.
type Config struct {
	// BaseURL is the REST base including /rest/; default
	// ProductionTinkoff.REST. Use a preset's REST or a simulator's URL.
	BaseURL string
	// HistoryURL is the yearly archive's URL; default derived from BaseURL
	// (see EndpointsFor).
	HistoryURL string
	// Token is sent as "Authorization: Bearer"; never logged.
	Token string
	// AppName is sent as x-app-name when set.
	AppName    string
	HTTPClient *http.Client // nil: timeouts for connect, TLS, headers and the whole call
	// Limits overrides per-minute limits by bucket (the Bucket* constants);
	// values <= 0 are ignored.
	Limits map[string]int
	// TotalPerSecond bounds all requests together; default 50.
	TotalPerSecond int
	// MaxRetries is how often a rate-limited or failed (5xx, network) call
	// is repeated; 0 means 3, negative never.
	MaxRetries int
	// RetryBase is the first backoff of a 5xx or network retry, doubling
	// up to RetryMax, with full jitter; defaults 500ms and 30s.
	RetryBase, RetryMax time.Duration
	// RateLimitWait is how long a 429 waits when it has no
	// x-ratelimit-reset; default 5s. A reset beyond 2 minutes is capped.
	RateLimitWait time.Duration
	// Sandbox routes the trading calls (orders, stop orders, portfolio,
	// positions, operations, accounts) to their SandboxService equivalents.
	Sandbox bool
	// CandleSource is GetCandles' candleSourceType; default
	// CANDLE_SOURCE_EXCHANGE (the exchange's candles, as the stream's).
	CandleSource wire.CandleSource
	Clock        clock.Clock  // nil: clock.Real{}
	Logger       *slog.Logger // nil: slog.Default()
}

const (
	maxBodyBytes    = 64 << 20
	maxArchiveBytes = 256 << 20
	maxResetWait    = 2 * time.Minute
)

// Client is a T-Invest API v2 REST client, safe for concurrent use.
type Client struct {
	cfg      Config
	base     string
	history  string
	http     *http.Client
	clock    clock.Clock
	log      *slog.Logger
	limiters map[string]*limiter
	total    *limiter
	jitter   func(n int64) int64

	authOnce sync.Once
	stats    struct {
		requests, retries, rateLimited, errors atomic.Uint64
	}
}

// ClientStats counts the client's traffic since it was created.
type ClientStats struct {
	Requests    uint64 // HTTP requests sent, retries included
	Retries     uint64 // requests repeated
	RateLimited uint64 // 429 / RESOURCE_EXHAUSTED answers
	Errors      uint64 // calls that returned an error
}

// NewClient returns a client for cfg.
func NewClient(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = ProductionTinkoff.REST
	}
	if cfg.HistoryURL == "" {
		if e, err := EndpointsFor(cfg.BaseURL); err == nil {
			cfg.HistoryURL = e.History
		}
	}
	if cfg.TotalPerSecond <= 0 {
		cfg.TotalPerSecond = DefaultTotalPerSecond
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 3
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 500 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.RateLimitWait <= 0 {
		cfg.RateLimitWait = 5 * time.Second
	}
	if cfg.CandleSource == "" {
		cfg.CandleSource = wire.CandleSourceExchange
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{
		cfg:      cfg,
		base:     strings.TrimRight(cfg.BaseURL, "/") + "/",
		history:  cfg.HistoryURL,
		http:     cfg.HTTPClient,
		clock:    cfg.Clock,
		log:      cfg.Logger.With("component", "tinvest"),
		limiters: make(map[string]*limiter, len(DefaultLimits)),
		total:    newLimiter(cfg.Clock, cfg.TotalPerSecond, time.Second),
		jitter:   rand.Int64N,
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	for bucket, limit := range DefaultLimits {
		if l := cfg.Limits[bucket]; l > 0 {
			limit = l
		}
		c.limiters[bucket] = newLimiter(c.clock, limit, time.Minute)
	}
	return c
}

func defaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute, // an archive of a busy year is tens of megabytes
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
			ForceAttemptHTTP2:     true,
		},
	}
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Requests:    c.stats.requests.Load(),
		Retries:     c.stats.retries.Load(),
		RateLimited: c.stats.rateLimited.Load(),
		Errors:      c.stats.errors.Load(),
	}
}

// Call invokes a unary method (a wire.Method* constant) with req as the JSON
// body and decodes the answer into resp (nil: ignore it). The typed methods
// of Client are built on it; it is exported for methods they do not cover.
func (c *Client) Call(ctx context.Context, method string, req, resp any) error {
	if req == nil {
		req = struct{}{}
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("tinvest: %s: encode request: %w", wire.MethodName(method), err)
	}
	rq := request{
		name: method, bucket: BucketOf(method), httpMethod: http.MethodPost,
		url: c.base + method, body: payload, repeatable: !notRepeatable[method], maxBody: maxBodyBytes,
	}
	body, err := c.do(ctx, rq)
	if err != nil {
		return err
	}
	if resp == nil {
		return nil
	}
	if err := decodeBody(body, resp); err != nil {
		c.stats.errors.Add(1)
		return fmt.Errorf("tinvest: %s: decode answer: %w", wire.MethodName(method), err)
	}
	return nil
}

// decodeBody decodes a success body strictly (wire types refuse wrong
// types, bad decimals and overflow; unknown members are ignored, as the
// service adds fields). An empty body is an empty message.
func decodeBody(body []byte, out any) error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		t = []byte("{}")
	}
	if t[0] != '{' {
		return fmt.Errorf("answer is not a JSON object: %s", snippet(t))
	}
	return json.Unmarshal(t, out)
}

// request is one HTTP exchange and its policy.
type request struct {
	name       string // method name, for errors and logs
	bucket     string
	httpMethod string
	url        string
	body       []byte // nil for GET
	repeatable bool   // safe to repeat after a 5xx or a lost answer
	maxBody    int64
	// notFoundOK: a 404 is an answer, not an error (the archive's "no
	// data for that year"); do returns errNotFound404.
	notFoundOK bool
}

var errNotFound404 = &APIError{HTTPStatus: http.StatusNotFound, Code: wire.CodeNotFound}

// do sends rq, retrying as the policy allows, and returns the body of a
// 2xx answer.
func (c *Client) do(ctx context.Context, rq request) ([]byte, error) {
	body, err := c.doRetrying(ctx, rq)
	if err != nil && err != errNotFound404 {
		c.stats.errors.Add(1)
	}
	return body, err
}

func (c *Client) doRetrying(ctx context.Context, rq request) ([]byte, error) {
	lim := c.limiters[rq.bucket]
	if lim == nil {
		return nil, fmt.Errorf("tinvest: %s: unknown rate-limit bucket %q", rq.name, rq.bucket)
	}
	for attempt := 1; ; attempt++ {
		if err := lim.wait(ctx); err != nil {
			return nil, fmt.Errorf("tinvest: %s: waiting for rate limit %q: %w", wire.MethodName(rq.name), rq.bucket, err)
		}
		if err := c.total.wait(ctx); err != nil {
			return nil, fmt.Errorf("tinvest: %s: waiting for the total rate limit: %w", wire.MethodName(rq.name), err)
		}
		status, header, body, err := c.roundTrip(ctx, rq)
		if err != nil {
			if ctx.Err() != nil || !rq.repeatable || attempt > c.cfg.MaxRetries {
				return nil, err
			}
			delay := c.backoff(attempt)
			c.log.Warn("tinvest request failed without an answer; retrying", "method", rq.name, "attempt", attempt,
				"retry_in", delay.String(), "err", err)
			if err := c.sleep(ctx, delay); err != nil {
				return nil, err
			}
			c.stats.retries.Add(1)
			continue
		}
		c.honourHeaders(lim, header)
		if status >= 200 && status <= 299 {
			return body, nil
		}
		apiErr := parseError(rq.name, status, header, body)
		apiErr.Attempts = attempt
		if status == http.StatusNotFound && rq.notFoundOK {
			return nil, errNotFound404
		}
		switch {
		case errorsIs(apiErr, ErrRateLimited):
			c.stats.rateLimited.Add(1)
			wait := c.resetWait(header)
			lim.holdUntil(c.clock.Now().Add(wait))
			if attempt > c.cfg.MaxRetries {
				c.log.Warn("tinvest request rate limited; giving up", "method", rq.name, "attempts", attempt,
					"x_tracking_id", apiErr.TrackingID, "err", apiErr)
				return nil, apiErr
			}
			c.log.Warn("tinvest request rate limited; waiting for x-ratelimit-reset", "method", rq.name,
				"attempt", attempt, "wait", wait.String(), "x_tracking_id", apiErr.TrackingID)
			c.stats.retries.Add(1)
			continue // the bucket's hold makes the next wait last until the reset
		case IsAuth(apiErr):
			c.authOnce.Do(func() {
				c.log.Error("tinvest: the service refused the token; fix the token, retrying cannot help",
					"method", rq.name, "x_tracking_id", apiErr.TrackingID, "err", apiErr)
			})
			c.log.Warn("tinvest request refused", "method", rq.name, "x_tracking_id", apiErr.TrackingID, "err", apiErr)
			return nil, apiErr
		case errorsIs(apiErr, ErrUnavailable) && rq.repeatable && attempt <= c.cfg.MaxRetries:
			delay := c.backoff(attempt)
			c.log.Warn("tinvest request failed; retrying", "method", rq.name, "attempt", attempt,
				"retry_in", delay.String(), "x_tracking_id", apiErr.TrackingID, "err", apiErr)
			if err := c.sleep(ctx, delay); err != nil {
				return nil, err
			}
			c.stats.retries.Add(1)
			continue
		}
		c.log.Warn("tinvest request failed", "method", rq.name, "status", status, "x_tracking_id", apiErr.TrackingID,
			"err", apiErr)
		return nil, apiErr
	}
}

// roundTrip sends one request and reads the whole body (so the connection
// is reused).
func (c *Client) roundTrip(ctx context.Context, rq request) (int, http.Header, []byte, error) {
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.httpMethod, rq.url, body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("tinvest: %s: build request: %w", wire.MethodName(rq.name), err)
	}
	req.Header.Set("Accept", "application/json")
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	if c.cfg.AppName != "" {
		req.Header.Set(wire.HeaderAppName, c.cfg.AppName)
	}
	c.stats.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("tinvest: %s: %w", wire.MethodName(rq.name), redactErr(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, rq.maxBody+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("tinvest: %s: HTTP %d: read body: %w", wire.MethodName(rq.name), resp.StatusCode, err)
	}
	if int64(len(data)) > rq.maxBody {
		return 0, nil, nil, fmt.Errorf("tinvest: %s: HTTP %d: body larger than %d bytes", wire.MethodName(rq.name), resp.StatusCode, rq.maxBody)
	}
	return resp.StatusCode, resp.Header, data, nil
}

// redactErr drops the URL's query from a transport error (the archive's
// query names nothing secret, but keep the habit: no URL with parameters
// in logs).
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}

// parseError builds the *APIError of a non-2xx answer from the gRPC error
// body when there is one, and from the status alone otherwise.
func parseError(name string, status int, header http.Header, body []byte) *APIError {
	e := &APIError{Method: name, HTTPStatus: status, TrackingID: header.Get(wire.HeaderTrackingID)}
	var eb struct {
		Code        *json.RawMessage `json:"code"`
		Message     string           `json:"message"`
		Description string           `json:"description"`
	}
	if err := json.Unmarshal(body, &eb); err == nil && eb.Code != nil {
		if n, err := wire.ParseIntJSON(*eb.Code, 32); err == nil && n >= 0 && n <= 16 {
			e.Code, e.bodyHadCode = wire.Code(n), true
		}
		e.Message, e.Description = eb.Message, eb.Description
		e.ServiceCode = wire.ErrorBody{Message: eb.Message, Description: eb.Description}.TrackingCode()
	}
	if !e.bodyHadCode {
		e.Code = codeFromStatus(status)
		if t := bytes.TrimSpace(body); len(t) > 0 && e.Message == "" {
			e.Message = "unexpected body: " + snippet(t)
		}
	}
	return e
}

// honourHeaders holds the bucket when the service says its window is spent.
func (c *Client) honourHeaders(lim *limiter, h http.Header) {
	rem, ok := leadingInt(h.Get(wire.HeaderRateLimitRemaining))
	if !ok || rem > 0 {
		return
	}
	if reset, ok := leadingInt(h.Get(wire.HeaderRateLimitReset)); ok && reset > 0 {
		lim.holdUntil(c.clock.Now().Add(min(time.Duration(reset)*time.Second, maxResetWait)))
	}
}

// resetWait is how long a 429 waits: x-ratelimit-reset, or RateLimitWait.
func (c *Client) resetWait(h http.Header) time.Duration {
	if reset, ok := leadingInt(h.Get(wire.HeaderRateLimitReset)); ok && reset > 0 {
		return min(time.Duration(reset)*time.Second, maxResetWait)
	}
	return c.cfg.RateLimitWait
}

// leadingInt reads the integer a rate-limit header starts with ("599",
// "600, 600;w=60").
func leadingInt(s string) (int, bool) {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:end])
	return n, err == nil
}

// backoff is the wait before retry number attempt (1 is the first): full
// "equal jitter": uniform in [ceil/2, ceil], ceil = RetryBase * 2^(attempt-1)
// capped at RetryMax.
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.cfg.RetryBase << min(attempt-1, 16)
	ceil = min(ceil, c.cfg.RetryMax)
	return ceil/2 + time.Duration(c.jitter(int64(ceil/2)+1))
}

// sleep waits d on the client's clock, or until ctx is done.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}

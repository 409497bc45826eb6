// Package tinkoff connects tvbridge to the Tinkoff Invest OpenAPI v1: Client
// is the REST client (catalogue, candles, order books, orders, portfolio,
// sandbox), and Upstream combines it with the market-data stream pool of
// package tinkoff/stream into a tvbridge.MarketData.
//
// The client avoids the official v1 Go SDK's known faults (see
// shared/docs/tinkoff-openapi-v1.md, 3.4): every query parameter is escaped,
// every body is drained and closed, 429s with empty or non-JSON bodies keep
// their status, errors are typed (*APIError, errors.As/errors.Is), requests
// are throttled per rate-limit bucket, and candle requests are split to the
// ranges the service accepts.
//
// When a bucket's budget is spent, waiting calls are served by the priority
// in their context (tvbridge.WithPriority): an urgent call, such as the
// minutes TradingView is about to ask for, takes the next free slot before
// any queued normal or background call (the deep backfill). Calls without a
// priority are normal.
package tinkoff

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"tvbridge/clock"
)

// Rate-limit buckets, named after the service's resource table (doc 2.5).
const (
	BucketMarket      = "market"
	BucketOrders      = "orders"
	BucketLimitOrder  = "orders/limit-order"
	BucketMarketOrder = "orders/market-order"
	BucketCancel      = "orders/cancel"
	BucketPortfolio   = "portfolio"
	BucketOperations  = "operations"
	BucketSandbox     = "sandbox"
	BucketUser        = "user"
)

// DefaultLimits are the per-minute request limits used when ClientConfig does
// not override them: the documented per-user limits, except /market, which
// is documented at 240 but answers 429 from about 100 a minute after a
// burst; /user is undocumented and gets the 2019 "120 for everything".
var DefaultLimits = map[string]int{
	BucketMarket:      120,
	BucketOrders:      100,
	BucketLimitOrder:  100,
	BucketMarketOrder: 100,
	BucketCancel:      50,
	BucketPortfolio:   120,
	BucketOperations:  120,
	BucketSandbox:     120,
	BucketUser:        120,
}

const (
	defaultMaxRetries429 = 3
	// maxBodyBytes bounds what one response may hold; the whole stock
	// catalogue is a few megabytes.
	maxBodyBytes = 64 << 20
	// backoffBase doubles per 429 retry (1s, 2s, 4s, ...) up to backoffMax.
	// No jitter: the bucket limiter already spreads concurrent callers.
	backoffBase = time.Second
	backoffMax  = 30 * time.Second
	// retryAfterMax caps a server-sent Retry-After.
	retryAfterMax = 2 * time.Minute
)

// ClientConfig configures a Client. Zero values take the documented defaults.
type ClientConfig struct {
	// BaseURL is the service root including /openapi, e.g.
	// https://api-invest.tinkoff.ru/openapi, or .../openapi/sandbox for the
	// sandbox (whose management paths then become .../sandbox/sandbox/...).
	BaseURL string
	// Token is sent as "Authorization: Bearer"; never logged. Empty sends no header.
	Token string
	// HTTPClient nil => a client with connect, TLS, header and overall timeouts.
	HTTPClient *http.Client
	// MarketPerMinute limits /market requests; default 120.
	MarketPerMinute int
	// Limits overrides per-minute limits by bucket name (the Bucket*
	// constants); values <= 0 are ignored. It wins over MarketPerMinute.
	Limits map[string]int
	// Venues fills Exchange/Timezone/Session of catalogue entries that do not
	// carry them; the zero value means DefaultVenueRules().
	Venues VenueRules
	Clock  clock.Clock  // nil => clock.Real{}
	Logger *slog.Logger // nil => slog.Default()
	// MaxRetries429 is how often a 429 (or 421) is retried after a backoff;
	// 0 => 3, negative => never.
	MaxRetries429 int
}

// Client is a Tinkoff v1 REST client. It is safe for concurrent use.
type Client struct {
	base       string
	token      string
	http       *http.Client
	clock      clock.Clock
	log        *slog.Logger
	maxRetries int
	venues     VenueRules
	limiters   map[string]*limiter // fixed at construction, read-only after
	endpoints  endpoints

	stats struct {
		requests, retries, rateLimited, errors atomic.Uint64
	}
}

// ClientStats counts the client's HTTP traffic since it was created.
type ClientStats struct {
	Requests    uint64 // HTTP requests sent, retries included
	Retries     uint64 // requests repeated after a 429/421
	RateLimited uint64 // 429/421 answers received
	Errors      uint64 // calls that returned an error
}

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) *Client {
	c := &Client{
		base:       strings.TrimRight(cfg.BaseURL, "/"),
		token:      cfg.Token,
		http:       cfg.HTTPClient,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		maxRetries: cfg.MaxRetries429,
		venues:     cfg.Venues,
		limiters:   make(map[string]*limiter, len(DefaultLimits)),
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	if c.clock == nil {
		c.clock = clock.Real{}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries429
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.venues.isZero() {
		c.venues = DefaultVenueRules()
	}
	for bucket, limit := range DefaultLimits {
		if bucket == BucketMarket && cfg.MarketPerMinute > 0 {
			limit = cfg.MarketPerMinute
		}
		if l := cfg.Limits[bucket]; l > 0 {
			limit = l
		}
		c.limiters[bucket] = newLimiter(c.clock, limit, time.Minute)
	}
	return c
}

func defaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
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

// call is one REST call: where it goes and what it sends.
type call struct {
	bucket string
	method string
	path   string     // relative to BaseURL, e.g. "/market/candles"
	query  url.Values // every value escaped, see encodeQuery
	body   any        // JSON-encoded when non-nil
}

// get and post are the shorthands the endpoint methods use.
func (c *Client) get(ctx context.Context, bucket, path string, q url.Values, out any) error {
	return c.do(ctx, call{bucket: bucket, method: http.MethodGet, path: path, query: q}, out)
}

func (c *Client) post(ctx context.Context, bucket, path string, q url.Values, body, out any) error {
	return c.do(ctx, call{bucket: bucket, method: http.MethodPost, path: path, query: q, body: body}, out)
}

// do performs a call: it waits for the bucket's limiter, sends the request,
// retries 429/421 after a backoff, and decodes the envelope into out.
func (c *Client) do(ctx context.Context, cl call, out any) error {
	ep := c.endpoints.get(cl.path, cl.bucket)
	err := c.doRetrying(ctx, cl, out, ep)
	if err != nil {
		c.stats.errors.Add(1)
		ep.errors.Add(1)
	}
	return err
}

func (c *Client) doRetrying(ctx context.Context, cl call, out any, ep *endpointCounters) error {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("tinkoff: %s %s: encode body: %w", cl.method, cl.path, err)
		}
	}
	lim := c.limiters[cl.bucket]
	if lim == nil {
		// A programming error in this package, not a caller's.
		return fmt.Errorf("tinkoff: %s %s: unknown rate-limit bucket %q", cl.method, cl.path, cl.bucket)
	}
	for attempt := 0; ; attempt++ {
		if err := lim.wait(ctx); err != nil {
			return fmt.Errorf("tinkoff: %s %s: waiting for rate limit %q: %w", cl.method, cl.path, cl.bucket, err)
		}
		ep.requests.Add(1)
		status, header, body, err := c.roundTrip(ctx, cl, payload)
		if err != nil {
			return err
		}
		if !retryableStatus(status) {
			return c.finish(cl, status, body, out)
		}
		c.stats.rateLimited.Add(1)
		ep.rateLimited.Add(1)
		if attempt >= c.maxRetries {
			return c.giveUp(cl, status, body, attempt+1)
		}
		delay := backoff(attempt, header.Get("Retry-After"))
		c.log.Warn("tinkoff request rate limited, retrying", "method", cl.method, "path", cl.path,
			"status", status, "attempt", attempt+1, "delay", delay)
		if err := c.sleep(ctx, delay); err != nil {
			return fmt.Errorf("tinkoff: %s %s: backing off after HTTP %d: %w", cl.method, cl.path, status, err)
		}
		c.stats.retries.Add(1)
	}
}

// giveUp builds the error for a call still rate limited after its retries.
func (c *Client) giveUp(cl call, status int, body []byte, attempts int) error {
	apiErr := &APIError{HTTPStatus: status}
	if _, err := decodeResponse(status, body, nil); err != nil {
		errors.As(err, &apiErr) // always an *APIError for a non-2xx status
	}
	apiErr.Method, apiErr.Path = cl.method, cl.path
	msg := fmt.Sprintf("still rate limited after %d attempts", attempts)
	if apiErr.Message != "" {
		msg += ": " + apiErr.Message
	}
	apiErr.Message = msg
	c.log.Warn("tinkoff request rate limited, giving up", "method", cl.method, "path", cl.path,
		"status", status, "attempts", attempts, "trackingId", apiErr.TrackingID)
	return apiErr
}

// roundTrip sends one request and returns the whole body. The body is read
// to the end and closed on every path, so the connection is reused.
func (c *Client) roundTrip(ctx context.Context, cl call, payload []byte) (int, http.Header, []byte, error) {
	target := c.base + cl.path
	if len(cl.query) > 0 {
		target += "?" + encodeQuery(cl.query)
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target, body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("tinkoff: %s %s: build request: %w", cl.method, cl.path, err)
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.stats.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("tinkoff: %s %s: %w", cl.method, cl.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("tinkoff: %s %s: HTTP %d: read body: %w", cl.method, cl.path, resp.StatusCode, err)
	}
	if len(data) > maxBodyBytes {
		return 0, nil, nil, fmt.Errorf("tinkoff: %s %s: HTTP %d: body larger than %d bytes", cl.method, cl.path, resp.StatusCode, maxBodyBytes)
	}
	return resp.StatusCode, resp.Header, data, nil
}

// finish decodes a final (non-retried) response and logs its trackingId.
func (c *Client) finish(cl call, status int, body []byte, out any) error {
	trackingID, err := decodeResponse(status, body, out)
	if err == nil {
		c.log.Debug("tinkoff request", "method", cl.method, "path", cl.path, "status", status, "trackingId", trackingID)
		return nil
	}
	c.log.Warn("tinkoff request failed", "method", cl.method, "path", cl.path, "status", status,
		"trackingId", trackingID, "err", err)
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		apiErr.Method, apiErr.Path = cl.method, cl.path
		return apiErr
	}
	return fmt.Errorf("tinkoff: %s %s: %w", cl.method, cl.path, err)
}

// encodeQuery escapes every parameter. url.Values writes a literal "+" as
// %2B but a space as "+", which only form decoders read back as a space;
// %20 means a space to every server.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "+", "%20")
}

// backoff is the delay before retry number attempt+1: exponential from
// backoffBase, or the server's Retry-After (in seconds) when that is longer.
func backoff(attempt int, retryAfter string) time.Duration {
	d := backoffBase << min(attempt, 10)
	d = min(d, backoffMax)
	if secs, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && secs > 0 {
		d = max(d, min(time.Duration(secs)*time.Second, retryAfterMax))
	}
	return d
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

// accountQuery is the brokerAccountId parameter every account-scoped call
// takes; an empty id leaves it out, which means the main "Tinkoff" account.
func accountQuery(accountID string) url.Values {
	q := url.Values{}
	if accountID != "" {
		q.Set("brokerAccountId", accountID)
	}
	return q
}

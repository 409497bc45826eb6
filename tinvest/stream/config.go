package stream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tvbridge/clock"
	"tvbridge/tinvest/wire"
)

// Config configures a Pool. Zero fields take the defaults documented on them.
type Config struct {
	// URL is the WebSocket base (wss://invest-public-api.tinkoff.ru/ws/) or
	// the full MarketDataStream URL; the method path is appended to a base.
	URL   string
	Token string // sent as "Authorization: Bearer"; never logged
	// AuthSubprotocol sends the token as the second WebSocket subprotocol
	// ("Sec-WebSocket-Protocol: json, <token>") instead of the header, for
	// environments that cannot set headers. The header is the default.
	AuthSubprotocol bool
	AppName         string // sent as x-app-name when set

	// MaxStreams is the token's market-data stream limit; default 16.
	MaxStreams int
	// SpareStreams are kept unused, so that a reconnect never meets the
	// limit while the service still counts a dropped stream (it refreshes
	// its count every 2 minutes); default 1, negative for none.
	SpareStreams int
	// MaxSubscriptionsPerStream bounds the candle, order-book and trade
	// subscriptions of one stream (trading-status subscriptions do not
	// count); default 300, the service's limit.
	MaxSubscriptionsPerStream int
	// RequestsPerMinute bounds subscribe and unsubscribe requests over all
	// streams in any 60 s; default 100, the service's limit. Each request
	// carries up to MaxInstrumentsPerRequest instruments of one kind.
	RequestsPerMinute        int
	MaxInstrumentsPerRequest int // default 300
	// RefusedRetry is how long a subscription the service refused with
	// TOO_MANY_REQUESTS or INTERNAL_ERROR (or LIMIT_IS_EXCEEDED with nowhere
	// else to go) waits before it is sent again, jittered by up to a half;
	// default 1m.
	RefusedRetry time.Duration
	// InstrumentID maps a FIGI to the id subscriptions name it by (its
	// uid, which is unambiguous); nil or "" sends the FIGI itself.
	InstrumentID func(figi string) string
	TradeSource  wire.TradeSourceType // default TRADE_SOURCE_EXCHANGE
	CandleSource wire.CandleSource    // default CANDLE_SOURCE_EXCHANGE

	// PingDelay is the ping period asked of the server (pingSettings,
	// 5s..180s); default 15s.
	PingDelay time.Duration
	// StallTimeout: a stream that received no frame at all (pings
	// included) for this long is closed and reopened; default 3 x
	// PingDelay. Measured on Clock.
	StallTimeout time.Duration
	// ReadTimeout is the socket read deadline, extended on every frame;
	// default StallTimeout + 15s. Enforced by the OS in real time.
	ReadTimeout time.Duration

	// The silence watchdogs, as in package tinkoff/stream: see there and
	// silence.go. InstrumentStall default 5m, InstrumentSilenceMin 30s,
	// DataSilence 30s, ActiveWindow 10m. Active tells whether figi's market
	// is in session (nil: its latest trading status is a trading one).
	InstrumentStall      time.Duration
	InstrumentSilenceMin time.Duration
	DataSilence          time.Duration
	Active               func(figi string, now time.Time) bool
	ActiveWindow         time.Duration

	// CapRetry: after a refusal (80001) taught the pool that the service
	// accepts fewer streams than it has slots, one more stream is tried
	// this long after; default 10m. Measured on Clock.
	CapRetry         time.Duration
	BackoffMin       time.Duration // first reconnect delay bound; default 500ms
	BackoffMax       time.Duration // largest reconnect delay; default 30s
	HandshakeTimeout time.Duration // default 10s
	EventBuffer      int           // capacity of the Events channel; default 65536
	// MaxQueued bounds the events waiting beyond EventBuffer while the
	// consumer lags (candles, books and statuses coalesce, so it is trades
	// that pile up); past it trades are dropped, counted, and the
	// instrument's epoch changes (StreamState), so its minutes are
	// refetched. Default 1,000,000.
	MaxQueued int
	Clock     clock.Clock  // nil: clock.Real{}
	Logger    *slog.Logger // nil: slog.Default()
	TLSConfig *tls.Config
}

// Defaults, see Config.
const (
	DefaultMaxStreams                = 16
	DefaultSpareStreams              = 1
	DefaultMaxSubscriptionsPerStream = 300
	DefaultRequestsPerMinute         = 100
	DefaultMaxInstrumentsPerRequest  = 300
	DefaultRefusedRetry              = time.Minute
	DefaultPingDelay                 = 15 * time.Second
	DefaultInstrumentStall           = 5 * time.Minute
	DefaultInstrumentSilenceMin      = 30 * time.Second
	DefaultDataSilence               = 30 * time.Second
	DefaultActiveWindow              = 10 * time.Minute
	DefaultCapRetry                  = 10 * time.Minute
	DefaultBackoffMin                = 500 * time.Millisecond
	DefaultBackoffMax                = 30 * time.Second
	DefaultHandshakeTimeout          = 10 * time.Second
	DefaultEventBuffer               = 65536
	DefaultMaxQueued                 = 1_000_000
)

func (c Config) withDefaults() Config {
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&c.MaxStreams, DefaultMaxStreams)
	switch {
	case c.SpareStreams == 0:
		c.SpareStreams = DefaultSpareStreams
	case c.SpareStreams < 0:
		c.SpareStreams = 0
	}
	c.SpareStreams = min(c.SpareStreams, c.MaxStreams-1)
	setInt(&c.MaxSubscriptionsPerStream, DefaultMaxSubscriptionsPerStream)
	setInt(&c.RequestsPerMinute, DefaultRequestsPerMinute)
	setInt(&c.MaxInstrumentsPerRequest, DefaultMaxInstrumentsPerRequest)
	setInt(&c.EventBuffer, DefaultEventBuffer)
	setInt(&c.MaxQueued, DefaultMaxQueued)
	setDur(&c.RefusedRetry, DefaultRefusedRetry)
	setDur(&c.PingDelay, DefaultPingDelay)
	c.PingDelay = min(max(c.PingDelay, 5*time.Second), 180*time.Second)
	setDur(&c.StallTimeout, 3*c.PingDelay)
	setDur(&c.ReadTimeout, c.StallTimeout+15*time.Second)
	setDur(&c.InstrumentStall, DefaultInstrumentStall)
	setDur(&c.InstrumentSilenceMin, DefaultInstrumentSilenceMin)
	c.InstrumentSilenceMin = min(c.InstrumentSilenceMin, c.InstrumentStall)
	setDur(&c.DataSilence, DefaultDataSilence)
	setDur(&c.ActiveWindow, DefaultActiveWindow)
	setDur(&c.CapRetry, DefaultCapRetry)
	setDur(&c.BackoffMin, DefaultBackoffMin)
	setDur(&c.BackoffMax, DefaultBackoffMax)
	c.BackoffMax = max(c.BackoffMax, c.BackoffMin)
	setDur(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	if c.TradeSource == "" {
		c.TradeSource = wire.TradeSourceExchange
	}
	if c.CandleSource == "" {
		c.CandleSource = wire.CandleSourceExchange
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// streamURL returns the MarketDataStream URL for a base or full URL.
func streamURL(u string) string {
	if strings.HasSuffix(u, wire.MethodMarketDataStream) {
		return u
	}
	return strings.TrimRight(u, "/") + "/" + wire.MethodMarketDataStream
}

// Failures that retrying cannot fix: Run stops and returns them.
var (
	ErrUnauthenticated = errors.New("stream: unauthenticated (HTTP 401 or close 4016): the token is missing, invalid, " +
		"revoked or expired (tokens expire 3 months after their last use); issue a new one in the T-Invest settings")
	ErrPermissionDenied = errors.New("stream: permission denied (HTTP 403): the token may not read market data")
)

// HandshakeError is a refused WebSocket upgrade other than 401 and 403;
// the pool retries it with backoff (429: all streams wait).
type HandshakeError struct {
	StatusCode int
	TrackingID string
	Body       string
}

func (e *HandshakeError) Error() string {
	msg := fmt.Sprintf("stream: handshake refused: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.StatusCode == http.StatusTooManyRequests {
		msg += " (too many streams or requests for this token)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	if e.TrackingID != "" {
		msg += " (x-tracking-id " + e.TrackingID + ")"
	}
	return msg
}

// CloseError is a stream the service closed with one of its codes: 4000
// plus a gRPC code (4003 INVALID_ARGUMENT, 4004 DEADLINE_EXCEEDED, 4008
// RESOURCE_EXHAUSTED, 4016 UNAUTHENTICATED); Text often holds a service
// code such as 80001 or 80004.
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	name := "closed"
	if e.Code >= 4000 && e.Code < 4100 {
		name = wire.Code(e.Code - 4000).String()
	}
	return fmt.Sprintf("stream: closed by the service: %d %s: %s", e.Code, name, e.Text)
}

// Unwrap lets errors.Is(err, ErrUnauthenticated) match a 4016.
func (e *CloseError) Unwrap() error {
	if e.Code == wire.CloseUnauthenticated {
		return ErrUnauthenticated
	}
	return nil
}

// redactURL drops user info, query and fragment, for logs.
func redactURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	parsed.User = nil
	parsed.RawQuery = ""
	parsed.Fragment = ""
	return parsed.String()
}

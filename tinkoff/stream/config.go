package stream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"tvbridge/clock"
)

// Config configures a Pool. Zero fields take the defaults documented on them.
type Config struct {
	URL              string        // e.g. wss://api-invest.tinkoff.ru/openapi/md/v1/md-openapi/ws
	Token            string        // sent as Authorization: Bearer; never logged
	MaxConnections   int           // sockets open or dialing at once; default 6 (the service's per-user limit)
	MaxPerConnection int           // distinct instruments per connection; default 30 (the service's advice)
	PingInterval     time.Duration // client pings; default 10s
	// ReadTimeout is the socket read deadline, extended on every inbound
	// frame including pings and pongs; default 30s. It is enforced by the
	// operating system in real time, whatever Clock says.
	ReadTimeout time.Duration
	// StallTimeout: a connection that received no frame at all for this long
	// is closed and reopened; default 45s. Measured on Clock.
	StallTimeout time.Duration
	// InstrumentStall: an instrument whose last known trade status is a
	// trading one but which sent nothing for this long is counted, logged
	// and resubscribed; default 5m. Measured on Clock.
	InstrumentStall  time.Duration
	BackoffMin       time.Duration // first reconnect delay bound; default 500ms
	BackoffMax       time.Duration // largest reconnect delay; default 30s
	HandshakeTimeout time.Duration // default 5s
	EventBuffer      int           // capacity of the Events channel; default 65536
	Clock            clock.Clock   // nil means clock.Real{}
	Logger           *slog.Logger  // nil means slog.Default()
	TLSConfig        *tls.Config   // optional, e.g. for wss with a test CA
}

// Defaults, see Config.
const (
	DefaultMaxConnections   = 6
	DefaultMaxPerConnection = 30
	DefaultPingInterval     = 10 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultStallTimeout     = 45 * time.Second
	DefaultInstrumentStall  = 5 * time.Minute
	DefaultBackoffMin       = 500 * time.Millisecond
	DefaultBackoffMax       = 30 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultEventBuffer      = 65536
)

// withDefaults fills zero fields.
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
	setInt(&c.MaxConnections, DefaultMaxConnections)
	setInt(&c.MaxPerConnection, DefaultMaxPerConnection)
	setInt(&c.EventBuffer, DefaultEventBuffer)
	setDur(&c.PingInterval, DefaultPingInterval)
	setDur(&c.ReadTimeout, DefaultReadTimeout)
	setDur(&c.StallTimeout, DefaultStallTimeout)
	setDur(&c.InstrumentStall, DefaultInstrumentStall)
	setDur(&c.BackoffMin, DefaultBackoffMin)
	setDur(&c.BackoffMax, DefaultBackoffMax)
	setDur(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Handshake failures that retrying cannot fix: Run stops and returns them.
var (
	ErrUnauthorized = errors.New("stream: HTTP 401 Unauthorized: the service got no token; set Config.Token")
	ErrForbidden    = errors.New("stream: HTTP 403 Forbidden: the token is invalid, expired or revoked; issue a new one")
)

// HandshakeError is a refused WebSocket upgrade other than 401 and 403, such
// as 423 Locked (too many connections for this user), 429 Too Many Requests
// or a 5xx. The pool retries these with backoff.
type HandshakeError struct {
	StatusCode int
	Body       string // the start of the response body, for the log
}

func (e *HandshakeError) Error() string {
	msg := fmt.Sprintf("stream: handshake refused: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	switch e.StatusCode {
	case http.StatusLocked:
		msg += " (too many connections for this user: another client may hold the quota)"
	case http.StatusTooManyRequests:
		msg += " (connecting too often)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// redactURL returns u without user info, query or fragment, for logs: a
// token must never reach a log line, wherever someone put it.
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

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
	URL            string // e.g. wss://api-invest.tinkoff.ru/openapi/md/v1/md-openapi/ws
	Token          string // sent as Authorization: Bearer; never logged
	MaxConnections int    // sockets open or dialing at once; default 6 (the service's per-user limit)
	// MaxPerConnection is the distinct instruments per connection; default
	// 30 (the service's advice). While the service accepts fewer connections
	// than MaxConnections (see CapRetry) it is exceeded, so that the
	// instruments of the connections refused still have a live one.
	MaxPerConnection int
	PingInterval     time.Duration // client pings; default 10s
	// ReadTimeout is the socket read deadline, extended on every inbound
	// frame including pings and pongs; default 30s. It is enforced by the
	// operating system in real time, whatever Clock says.
	ReadTimeout time.Duration
	// StallTimeout: a connection that received no frame at all for this long
	// is closed and reopened; default 45s. Measured on Clock.
	StallTimeout time.Duration
	// InstrumentStall is the longest an instrument expected to be active
	// (see Active) may stay quiet before it is resubscribed, however rarely
	// it trades; default 5m. Measured on Clock.
	InstrumentStall time.Duration
	// InstrumentSilenceMin is the shortest: an instrument expected to be
	// active is resubscribed once quiet for 10 times its typical gap between
	// updates, clamped to [InstrumentSilenceMin, InstrumentStall], or for
	// InstrumentStall while its gap is not known yet; default 30s. Each
	// resubscription that brings nothing but the snapshot doubles the
	// instrument's threshold, up to InstrumentStall, until it sends updates
	// again.
	InstrumentSilenceMin time.Duration
	// DataSilence: a connection that answers pings but delivered no data
	// update for this long, while at least one of its instruments is
	// expected to be active and quiet past its own threshold (see
	// InstrumentSilenceMin), is closed and reopened; default 30s. Each
	// further reconnect of the same episode waits twice as long, up to
	// ActiveWindow. Measured on Clock.
	DataSilence time.Duration
	// Active tells whether figi's market is in session at now (for example
	// from its trading schedule). The silence watchdogs only expect data from
	// instruments in session that were also recently active (see
	// ActiveWindow). nil: in session means the latest instrument_info status
	// is a trading one (tvbridge.TradeStatus.Trading), and an instrument
	// without a status is never expected to be active. It is called from the
	// watchdog goroutine without the pool's locks; it must not block or call
	// the Pool.
	Active func(figi string, now time.Time) bool
	// ActiveWindow: an instrument counts as recently active if it sent a
	// real update (not a subscription snapshot) within this long, or joined
	// the desired set less than this long ago; default 10m. It keeps a
	// connection carrying only markets that stopped trading from being
	// reconnected all night.
	ActiveWindow time.Duration
	// CapRetry: after a 423 taught the pool that the service accepts fewer
	// connections than MaxConnections, one more connection is tried this long
	// after; default 10m. Measured on Clock.
	CapRetry         time.Duration
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
	DefaultMaxConnections       = 6
	DefaultMaxPerConnection     = 30
	DefaultPingInterval         = 10 * time.Second
	DefaultReadTimeout          = 30 * time.Second
	DefaultStallTimeout         = 45 * time.Second
	DefaultInstrumentStall      = 5 * time.Minute
	DefaultInstrumentSilenceMin = 30 * time.Second
	DefaultDataSilence          = 30 * time.Second
	DefaultActiveWindow         = 10 * time.Minute
	DefaultCapRetry             = 10 * time.Minute
	DefaultBackoffMin           = 500 * time.Millisecond
	DefaultBackoffMax           = 30 * time.Second
	DefaultHandshakeTimeout     = 5 * time.Second
	DefaultEventBuffer          = 65536
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
	setDur(&c.InstrumentSilenceMin, DefaultInstrumentSilenceMin)
	setDur(&c.DataSilence, DefaultDataSilence)
	setDur(&c.ActiveWindow, DefaultActiveWindow)
	setDur(&c.CapRetry, DefaultCapRetry)
	c.InstrumentSilenceMin = min(c.InstrumentSilenceMin, c.InstrumentStall)
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

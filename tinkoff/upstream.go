package tinkoff

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinkoff/stream"
	"tvbridge/tinkoff/wire"
)

// UpstreamConfig configures an Upstream: the REST client and the stream
// pool. Stream fields left empty are taken from REST: the token, the clock,
// the logger, and the URL (derived from REST.BaseURL, see StreamURL).
type UpstreamConfig struct {
	REST   ClientConfig
	Stream stream.Config
}

// Upstream is the Tinkoff v1 service as a tvbridge.MarketData: history,
// catalogue and book snapshots over REST, live data over the stream pool.
type Upstream struct {
	client *Client
	pool   *stream.Pool
	clock  clock.Clock
}

var _ tvbridge.MarketData = (*Upstream)(nil)

// NewUpstream builds the client and the pool; nothing connects until Run.
func NewUpstream(cfg UpstreamConfig) *Upstream {
	rest, sc := cfg.REST, cfg.Stream
	if rest.Clock == nil {
		rest.Clock = sc.Clock
	}
	if rest.Clock == nil {
		rest.Clock = clock.Real{}
	}
	if sc.Clock == nil {
		sc.Clock = rest.Clock
	}
	if rest.Logger == nil {
		rest.Logger = sc.Logger
	}
	if sc.Logger == nil {
		sc.Logger = rest.Logger
	}
	if sc.Token == "" {
		sc.Token = rest.Token
	}
	if sc.URL == "" {
		// An unusable BaseURL leaves URL empty; the pool's dials then fail
		// with an error that says so, and REST calls fail the same way.
		sc.URL, _ = StreamURL(rest.BaseURL)
	}
	return &Upstream{client: NewClient(rest), pool: stream.New(sc), clock: rest.Clock}
}

// StreamURL derives the market-data stream URL from a REST BaseURL: the same
// host, ws or wss for http or https, and the stream path. Sandbox and
// production share the stream, so a sandbox BaseURL gives the same URL.
func StreamURL(restBase string) (string, error) {
	u, err := url.Parse(restBase)
	if err != nil {
		return "", fmt.Errorf("tinkoff: stream URL from %q: %w", restBase, err)
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	case "http":
		u.Scheme = "ws"
	default:
		return "", fmt.Errorf("tinkoff: stream URL from %q: scheme is not http or https", restBase)
	}
	if u.Host == "" {
		return "", fmt.Errorf("tinkoff: stream URL from %q: no host", restBase)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: wire.StreamPath}).String(), nil
}

// Run runs the stream pool until ctx is done (nil) or the service refuses
// the token (an error wrapping stream.ErrUnauthorized or stream.ErrForbidden).
func (u *Upstream) Run(ctx context.Context) error { return u.pool.Run(ctx) }

// Client returns the REST client, for calls beyond tvbridge.MarketData
// (orders, portfolio, sandbox).
func (u *Upstream) Client() *Client { return u.client }

// Pool returns the stream pool, e.g. for its Stats.
func (u *Upstream) Pool() *stream.Pool { return u.pool }

// Instruments returns the whole REST catalogue with venues filled.
func (u *Upstream) Instruments(ctx context.Context) ([]tvbridge.Instrument, error) {
	return u.client.Instruments(ctx)
}

// Candles returns the closed candles that start in [from, to). REST may
// include the candle still forming (the stream's business), so candles
// whose interval has not ended by now are dropped, and the part of the
// range after now is not requested at all.
func (u *Upstream) Candles(ctx context.Context, figi string, from, to time.Time, interval tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	if _, err := checkCandleRequest(figi, from, to, interval); err != nil {
		return nil, err
	}
	now := u.clock.Now()
	if to.After(now) {
		to = now
	}
	if !from.Before(to) {
		return nil, nil // the whole range is in the future: nothing closed there yet
	}
	candles, err := u.client.Candles(ctx, figi, from, to, interval)
	if err != nil {
		return nil, err
	}
	return closedCandles(candles, now), nil
}

// closedCandles keeps the candles whose interval ended at or before now.
func closedCandles(candles []tvbridge.Candle, now time.Time) []tvbridge.Candle {
	kept := candles[:0]
	for _, c := range candles {
		if !candleEnd(c).After(now) {
			kept = append(kept, c)
		}
	}
	return kept
}

// candleEnd is when a candle's interval ends.
func candleEnd(c tvbridge.Candle) time.Time {
	switch c.Interval {
	case tvbridge.IntervalDay:
		return c.Time.Add(day)
	case tvbridge.IntervalWeek:
		return c.Time.Add(7 * day)
	case tvbridge.IntervalMonth:
		return c.Time.AddDate(0, 1, 0)
	}
	return c.Time.Add(c.Interval.Duration())
}

// OrderBook returns a REST snapshot of the book.
func (u *Upstream) OrderBook(ctx context.Context, figi string, depth int) (tvbridge.OrderBook, error) {
	return u.client.OrderBook(ctx, figi, depth)
}

// Subscribe adds to the pool's desired subscriptions.
func (u *Upstream) Subscribe(subs ...tvbridge.Subscription) { u.pool.Subscribe(subs...) }

// Unsubscribe removes from the pool's desired subscriptions.
func (u *Upstream) Unsubscribe(subs ...tvbridge.Subscription) { u.pool.Unsubscribe(subs...) }

// Events delivers the stream's events; see stream.Pool.Events.
func (u *Upstream) Events() <-chan tvbridge.Event { return u.pool.Events() }

// StreamState tells whether figi's candle stream is live and a counter that
// changes whenever it was re-established; see stream.Pool.StreamState.
// Package ingest uses it to backfill the minutes the stream may have missed,
// for the instruments concerned only.
func (u *Upstream) StreamState(figi string) (epoch uint64, live bool) {
	return u.pool.StreamState(figi)
}

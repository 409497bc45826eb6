package tinvest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinvest/stream"
	"tvbridge/tinvest/wire"
)

// UpstreamConfig configures an Upstream.
type UpstreamConfig struct {
	// REST configures the client. Stream fields left empty are taken from
	// it: the token, the app name, the clock, the logger, and the URL
	// (derived from REST.BaseURL, see EndpointsFor).
	REST   Config
	Stream stream.Config
	// Kinds are the instrument lists of the catalogue; nil means all.
	Kinds []Kind
	// Status filters the lists; default INSTRUMENT_STATUS_BASE (tradable
	// through the API).
	Status wire.InstrumentStatus
	// Timezones maps schedule exchange names (an instrument's "exchange",
	// e.g. "MOEX_PLUS") to IANA zones for their sessions; Timezone is the
	// default, "Europe/Moscow".
	Timezones map[string]string
	Timezone  string
	// FallbackSession is the session of instruments whose exchange has no
	// trading schedule; default "24x7" (no data is ever out of session).
	FallbackSession string
	// ScheduleDays is how many days of schedules are sampled; default 14
	// (the service's maximum range).
	ScheduleDays int
}

// Upstream is T-Invest API v2 as a tvbridge.MarketData: catalogue,
// history and book snapshots over REST, live data over the stream pool.
type Upstream struct {
	cfg    UpstreamConfig
	client *Client
	pool   *stream.Pool
	clock  clock.Clock
	log    *slog.Logger

	mu   sync.RWMutex
	uids map[string]string // FIGI -> uid, from the last catalogue
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
	if rest.Logger == nil {
		rest.Logger = slog.Default()
	}
	if sc.Logger == nil {
		sc.Logger = rest.Logger
	}
	if sc.Token == "" {
		sc.Token = rest.Token
	}
	if sc.AppName == "" {
		sc.AppName = rest.AppName
	}
	if rest.BaseURL == "" {
		rest.BaseURL = ProductionTinkoff.REST
	}
	if sc.URL == "" {
		if e, err := EndpointsFor(rest.BaseURL); err == nil {
			sc.URL = e.Stream
		}
	}
	if cfg.Timezone == "" {
		cfg.Timezone = "Europe/Moscow"
	}
	if cfg.FallbackSession == "" {
		cfg.FallbackSession = "24x7"
	}
	if cfg.ScheduleDays <= 0 || cfg.ScheduleDays > 14 {
		cfg.ScheduleDays = 14
	}
	u := &Upstream{cfg: cfg, client: NewClient(rest), clock: rest.Clock, log: rest.Logger, uids: map[string]string{}}
	if sc.InstrumentID == nil {
		sc.InstrumentID = u.instrumentID
	}
	u.pool = stream.New(sc)
	return u
}

// instrumentID is the uid the catalogue gave figi, or figi itself.
func (u *Upstream) instrumentID(figi string) string {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if uid := u.uids[figi]; uid != "" {
		return uid
	}
	return figi
}

// Run runs the stream pool until ctx is done (nil) or the service refuses
// the token (an error matching stream.ErrUnauthenticated or
// stream.ErrPermissionDenied).
func (u *Upstream) Run(ctx context.Context) error { return u.pool.Run(ctx) }

// Client returns the REST client, for the trading calls.
func (u *Upstream) Client() *Client { return u.client }

// Pool returns the stream pool, e.g. for its Stats.
func (u *Upstream) Pool() *stream.Pool { return u.pool }

// Instruments returns the catalogue of the configured kinds, each with its
// uid, FIGI, ticker, class code, lot, tick, currency, venue, first 1-minute
// candle, and the session and timezone of its exchange's trading schedule.
// An instrument without a FIGI is keyed by its uid; of two with the same
// FIGI the first listed is kept.
func (u *Upstream) Instruments(ctx context.Context) ([]tvbridge.Instrument, error) {
	entries, err := u.client.Catalogue(ctx, u.cfg.Kinds, u.cfg.Status)
	if err != nil {
		return nil, err
	}
	sessions := u.sessions(ctx)
	out := make([]tvbridge.Instrument, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	uids := make(map[string]string, len(entries))
	dups, unscheduled := 0, 0
	for _, e := range entries {
		inst := instrumentFrom(e)
		if inst.FIGI == "" {
			continue
		}
		if seen[inst.FIGI] {
			dups++
			continue
		}
		seen[inst.FIGI] = true
		inst.Timezone = u.timezone(e.Exchange)
		if s, ok := sessions[e.Exchange]; ok {
			inst.Session = s
		} else {
			inst.Session = u.cfg.FallbackSession
			unscheduled++
		}
		if inst.UID != "" {
			uids[inst.FIGI] = inst.UID
		}
		out = append(out, inst)
	}
	u.mu.Lock()
	u.uids = uids
	u.mu.Unlock()
	if dups > 0 || unscheduled > 0 {
		u.log.Warn("tinvest catalogue", "instruments", len(out), "duplicate_figis_skipped", dups,
			"without_schedule", unscheduled, "fallback_session", u.cfg.FallbackSession)
	}
	return out, nil
}

// timezone is the IANA zone of a schedule exchange.
func (u *Upstream) timezone(exchange string) string {
	if tz := u.cfg.Timezones[exchange]; tz != "" {
		return tz
	}
	return u.cfg.Timezone
}

// sessions fetches every exchange's schedule for the next ScheduleDays and
// turns each into a session. A failure is logged and leaves instruments on
// the fallback session: the catalogue matters more.
func (u *Upstream) sessions(ctx context.Context) map[string]string {
	from := u.clock.Now().UTC().Truncate(day)
	to := from.Add(time.Duration(u.cfg.ScheduleDays)*day - time.Second)
	scheds, err := u.client.TradingSchedules(ctx, "", from, to)
	if err != nil {
		u.log.Warn("tinvest: trading schedules unavailable; instruments get the fallback session", "err", err,
			"fallback_session", u.cfg.FallbackSession)
		return nil
	}
	out := make(map[string]string, len(scheds))
	for _, s := range scheds {
		tz := u.timezone(s.Exchange)
		loc, err := time.LoadLocation(tz)
		if err != nil {
			u.log.Warn("tinvest: unknown timezone for an exchange", "exchange", s.Exchange, "timezone", tz, "err", err)
			continue
		}
		sess, ok := SessionFromSchedule(s.Days, loc)
		if !ok {
			continue
		}
		if err := checkSession(sess, tz); err != nil {
			u.log.Warn("tinvest: schedule gave an unusable session", "exchange", s.Exchange, "session", sess, "err", err)
			continue
		}
		out[s.Exchange] = sess
	}
	return out
}

// Candles returns the closed candles of figi that start in [from, to): the
// part of the range after now is not requested, and candles whose interval
// has not ended by now are dropped (the stream's business).
func (u *Upstream) Candles(ctx context.Context, figi string, from, to time.Time, interval tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	if _, err := checkCandles(figi, "", from, to, interval); err != nil {
		return nil, err
	}
	now := u.clock.Now()
	if to.After(now) {
		to = now
	}
	if !from.Before(to) {
		return nil, nil
	}
	candles, err := u.client.Candles(ctx, figi, u.instrumentID(figi), from, to, interval)
	if err != nil {
		return nil, err
	}
	kept := candles[:0]
	for _, c := range candles {
		if !candleEnd(c).After(now) {
			kept = append(kept, c)
		}
	}
	return slices.Clip(kept), nil
}

// Archive returns figi's 1-minute candles of one year from the yearly
// archive (see Client.ArchiveYear), for deep backfill: one request in the
// history bucket (30 a minute) instead of up to 366 GetCandles.
func (u *Upstream) Archive(ctx context.Context, figi string, year int) ([]tvbridge.Candle, error) {
	cs, err := u.client.ArchiveYear(ctx, figi, u.instrumentID(figi), year)
	if err != nil {
		return nil, fmt.Errorf("tinvest: archive %s %d: %w", figi, year, err)
	}
	return cs, nil
}

// OrderBook returns a REST snapshot of the book, depth 1..50.
func (u *Upstream) OrderBook(ctx context.Context, figi string, depth int) (tvbridge.OrderBook, error) {
	return u.client.OrderBook(ctx, figi, u.instrumentID(figi), depth)
}

// Subscribe adds to the pool's desired subscriptions (see stream.Pool).
func (u *Upstream) Subscribe(subs ...tvbridge.Subscription) { u.pool.Subscribe(subs...) }

// Unsubscribe removes from the pool's desired subscriptions.
func (u *Upstream) Unsubscribe(subs ...tvbridge.Subscription) { u.pool.Unsubscribe(subs...) }

// Events delivers the stream's events; see stream.Pool.Events.
func (u *Upstream) Events() <-chan tvbridge.Event { return u.pool.Events() }

// StreamState tells whether figi's candle subscription is live and a
// counter that changes whenever it was re-established; see
// stream.Pool.StreamState.
func (u *Upstream) StreamState(figi string) (epoch uint64, live bool) {
	return u.pool.StreamState(figi)
}

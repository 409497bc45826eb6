package trading

import (
	"errors"
	"log/slog"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// Defaults.
const (
	// MinFinalOrderRetention is TradingView's rule: a final order stays in
	// /orders for at least a minute after its last change.
	MinFinalOrderRetention = time.Minute
	DefaultVenueTimeout    = 10 * time.Second
	DefaultMaxHistory      = 1000
	DefaultMaxExecutions   = 1000
)

// Config configures a Manager.
type Config struct {
	// Venue executes market and limit orders. The Manager runs it: Run
	// calls Venue.Run, so nothing else should.
	Venue tvbridge.Venue
	// Market prices positions, market orders and previews.
	Market tvbridge.LiveMarket
	// Tape carries the trades held stops and brackets trigger on.
	Tape tvbridge.Tape
	// Shared, in cluster mode, places Tape's entries in the market-data
	// log every node follows, so that a new trading owner replays the
	// trades its predecessor did not evaluate (shared.go). The Store must
	// then keep the tape mark (TapeMarks). nil in a single process.
	Shared SharedTape
	// MarkEvery is how often the tape mark is saved with Shared; default
	// DefaultMarkEvery.
	MarkEvery time.Duration
	// Store keeps the state durably (bolt.OpenTrading, or a MemoryStore).
	// The Manager does not close it.
	Store Store
	// Instrument looks an instrument up by FIGI: lot, price increment,
	// currency, session and timezone.
	Instrument func(figi string) (tvbridge.Instrument, bool)
	// Rates converts each currency's money into the account currency for
	// the totals of State and positions' UnrealizedPL; nil knows no rates,
	// so totals then count the account currency alone.
	Rates tvbridge.Rates

	Clock  clock.Clock  // nil means clock.Real{}
	Logger *slog.Logger // nil means slog.Default()

	// FinalOrderRetention is how long at least a final order stays in
	// Orders; it also stays for the rest of its trading day. Values below
	// MinFinalOrderRetention are raised to it.
	FinalOrderRetention time.Duration
	// VenueTimeout bounds each venue call and each wait for a venue
	// confirmation (a cancel before a replace, say). Default 10 s.
	VenueTimeout time.Duration
	// CommissionRate estimates commissions in previews, as a fraction of the
	// order value; fills carry the venue's actual commission.
	CommissionRate float64
	// MaxHistory is how many final orders per account are kept in memory
	// for OrdersHistory and idempotent replays; the store keeps all.
	// Default DefaultMaxHistory.
	MaxHistory int
	// MaxExecutions is how many executions per account are kept in memory
	// for Executions; the store keeps all. Default DefaultMaxExecutions.
	MaxExecutions int
	// OnChange, if set, is called after every committed change of an
	// account, without locks held. It must not block; it is the hook for
	// streaming endpoints and tests.
	OnChange func(accountID string)
}

func (c *Config) setDefaults() error {
	switch {
	case c.Venue == nil:
		return errors.New("trading: Config.Venue is required")
	case c.Market == nil:
		return errors.New("trading: Config.Market is required")
	case c.Tape == nil:
		return errors.New("trading: Config.Tape is required")
	case c.Store == nil:
		return errors.New("trading: Config.Store is required")
	case c.Instrument == nil:
		return errors.New("trading: Config.Instrument is required")
	}
	if c.MarkEvery <= 0 {
		c.MarkEvery = DefaultMarkEvery
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.FinalOrderRetention = max(c.FinalOrderRetention, MinFinalOrderRetention)
	if c.VenueTimeout <= 0 {
		c.VenueTimeout = DefaultVenueTimeout
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = DefaultMaxHistory
	}
	if c.MaxExecutions <= 0 {
		c.MaxExecutions = DefaultMaxExecutions
	}
	return nil
}

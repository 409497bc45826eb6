// Package paper is the paper-trading tvbridge.Venue: it executes market and
// limit orders against the live market without any money changing hands.
//
// A market order walks the live order book, best level first, and what the
// book cannot absorb is cancelled. A limit order takes what the book offers
// at its limit or better at once (as the taker, at the levels' prices) and
// rests with the rest. A resting order is a maker: it fills at its limit when
// a trade on the tape goes strictly through it (up to the trade's size), or
// when a fresh book's opposite side crosses it (up to those levels' size).
//
// Paper orders never move the real market, so two of them could fill against
// the same visible lots. To prevent that the venue remembers, per book
// snapshot, how many lots of each level it has already handed out.
//
// The venue is stateless across restarts: the trading core persists accounts,
// orders and fills, and hands working orders back through Restore.
package paper

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// Defaults for the zero values of Config.
const (
	DefaultStartingCash   = 10_000_000 // in DefaultCurrency
	DefaultUSDCash        = 100_000    // the default account's dollars
	DefaultCurrency       = "RUB"
	DefaultCommissionRate = 0.0005
	DefaultMaxBookAge     = 10 * time.Second
	DefaultSweepInterval  = time.Second
)

// Config configures a Venue.
type Config struct {
	// Market is the live book, status and last price per instrument. Required.
	Market tvbridge.LiveMarket
	// Tape carries the trades resting orders fill on, and quotes that make
	// the venue look at a new book at once. nil: resting orders are checked
	// against the books only, every SweepInterval.
	Tape tvbridge.Tape
	// TradesFromCore: the trading core hands the venue the tape's trades
	// with their market-data log positions (tvbridge.TradeFeed; cluster
	// mode, so that a new trading owner can replay them). The venue's own
	// tape reader then looks at quotes only.
	TradesFromCore bool
	// Instrument returns an instrument's lot and price increment. Required.
	Instrument func(figi string) (tvbridge.Instrument, bool)
	Clock      clock.Clock  // default clock.Real{}
	Logger     *slog.Logger // default slog.Default()

	// Cash is a new account's starting cash per currency: the account
	// trades instruments quoted in these currencies, each order paid for
	// in its instrument's currency. Currency is always among them (with 0
	// when not listed). Without Cash, a new account holds StartingCash in
	// Currency alone, or, when that is 0 too, DefaultCash().
	Cash         []tvbridge.Money
	StartingCash float64
	// Currency is the account currency, the one its totals are shown in;
	// "" means DefaultCurrency.
	Currency string
	// CommissionRate is the commission as a fraction of a fill's value;
	// 0 means DefaultCommissionRate and a negative value means none.
	CommissionRate float64
	MinCommission  float64 // the least commission charged per fill

	// MaxBookAge is how old a book may be and still be filled against;
	// 0 means DefaultMaxBookAge.
	MaxBookAge time.Duration
	// SweepInterval is how often every resting order is checked against the
	// latest book, catching books no quote on the tape announced; 0 means
	// DefaultSweepInterval.
	SweepInterval time.Duration
}

// Venue is the paper-trading venue. It is safe for concurrent use.
type Venue struct {
	cfg        Config
	clk        clock.Clock
	log        *slog.Logger
	execPrefix string // makes ExecIDs unique across restarts

	// mu guards the resting orders and the liquidity already taken. Events
	// are queued while it is held, so the events of one order keep their
	// order whichever goroutine produced them.
	mu        sync.Mutex
	books     map[string]*book    // FIGI -> resting orders; no empty books
	byID      map[string]*resting // VenueOrder.ID -> resting order
	liquidity map[string]*taken   // FIGI -> lots taken from its latest book
	nextSeq   uint64              // time priority of resting orders
	execSeq   uint64

	events  *queue
	out     chan tvbridge.VenueEvent
	running atomic.Bool
}

var _ tvbridge.Venue = (*Venue)(nil)

// New returns a paper venue. It panics when Market or Instrument is nil,
// which is a wiring bug.
var _ tvbridge.TradeFeed = (*Venue)(nil)

func New(cfg Config) *Venue {
	if cfg.Market == nil || cfg.Instrument == nil {
		panic("paper: Config.Market and Config.Instrument are required")
	}
	cfg = withDefaults(cfg)
	return &Venue{
		cfg:        cfg,
		clk:        cfg.Clock,
		log:        cfg.Logger.With("component", "paper"),
		execPrefix: "px" + randomID(),
		books:      map[string]*book{},
		byID:       map[string]*resting{},
		liquidity:  map[string]*taken{},
		events:     newQueue(),
		out:        make(chan tvbridge.VenueEvent, 256),
	}
}

func withDefaults(cfg Config) Config {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Currency == "" {
		cfg.Currency = DefaultCurrency
	}
	cfg.Cash = startingCash(cfg)
	switch {
	case cfg.CommissionRate == 0:
		cfg.CommissionRate = DefaultCommissionRate
	case cfg.CommissionRate < 0:
		cfg.CommissionRate = 0
	}
	if cfg.MaxBookAge <= 0 {
		cfg.MaxBookAge = DefaultMaxBookAge
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	return cfg
}

// randomID returns 8 random base32 characters.
func randomID() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base32.StdEncoding.EncodeToString(b[:])
}

// AccountID is the paper account id of a user: derived from the user so it
// is stable, but hashed so the id does not reveal the user name.
func AccountID(user string) string {
	sum := sha256.Sum256([]byte(user))
	return "P" + base32.StdEncoding.EncodeToString(sum[:])[:10]
}

func validAccountID(id string) bool { return len(id) == 11 && id[0] == 'P' }

// DefaultCash is the starting cash of a paper account when Config sets
// none: roubles and dollars, so that every instrument of the simulated
// exchange (MOEX in roubles, US stocks and some coins in dollars) can be
// traded out of the box; about $100,000 in each, as TradingView's own
// paper trading gives, which buys a lot of the dearest default
// instrument (a bitcoin, over 5,000,000 roubles).
func DefaultCash() []tvbridge.Money {
	return []tvbridge.Money{{Currency: DefaultCurrency, Amount: DefaultStartingCash}, {Currency: "USD", Amount: DefaultUSDCash}}
}

// startingCash is the cash of a new account, the account currency first.
func startingCash(cfg Config) []tvbridge.Money {
	cash := cfg.Cash
	switch {
	case len(cash) > 0:
	case cfg.StartingCash != 0:
		cash = []tvbridge.Money{{Currency: cfg.Currency, Amount: cfg.StartingCash}}
	default:
		cash = DefaultCash()
	}
	out := []tvbridge.Money{{Currency: cfg.Currency}}
	for _, m := range cash {
		if m.Currency == cfg.Currency {
			out[0].Amount += m.Amount
		} else {
			out = append(out, m)
		}
	}
	return out
}

// Accounts returns the user's one demo account, with its starting cash.
func (v *Venue) Accounts(ctx context.Context, user string) ([]tvbridge.VenueAccount, error) {
	if user == "" {
		return nil, tvbridge.Errorf(tvbridge.ErrUnknownAccount, "", "no user")
	}
	return []tvbridge.VenueAccount{{
		ID:       AccountID(user),
		Name:     "Paper",
		Type:     tvbridge.DemoAccount,
		Currency: v.cfg.Currency,
		Cash:     slices.Clone(v.cfg.Cash),
	}}, nil
}

// Submit executes a market order at once, or fills the marketable part of
// a limit order and rests the rest. The events of the immediate fills are
// queued before Submit returns. Submitting the ID of an order that is
// still resting returns its reference and changes nothing.
func (v *Venue) Submit(ctx context.Context, venueAccount string, o tvbridge.VenueOrder) (ref string, err error) {
	defer recoverError(v.log, "submit", &err)
	r, err := v.validate(venueAccount, o)
	if err != nil {
		return "", err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.byID[o.ID]; ok {
		return venueRef(o.ID), nil
	}
	var evs []tvbridge.VenueEvent
	if o.Type == tvbridge.MarketOrder {
		evs, err = v.executeMarket(r)
	} else {
		evs = v.executeLimit(r)
	}
	if err != nil {
		return "", err
	}
	v.events.push(evs...)
	return venueRef(o.ID), nil
}

func venueRef(orderID string) string { return "paper:" + orderID }

// Cancel cancels a resting order and queues its VenueCancelled event. An
// order the venue does not hold (finished, or never rested) is no error.
func (v *Venue) Cancel(ctx context.Context, venueAccount string, o tvbridge.VenueOrder) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.byID[o.ID]
	if !ok {
		return nil
	}
	if r.account != venueAccount {
		return tvbridge.Errorf(tvbridge.ErrUnknownOrder, "", "order %s is not in account %s", o.ID, venueAccount)
	}
	v.unrest(r)
	v.events.push(v.cancelled(r.ID, r.units(), "cancelled on request"))
	return nil
}

// Restore rests again the limit orders that were working before a restart;
// each order's Qty is taken as its remaining quantity. A market order cannot
// have survived a restart, and an order that no longer validates cannot
// rest: both are cancelled with an event saying why.
func (v *Venue) Restore(ctx context.Context, venueAccount string, orders []tvbridge.VenueOrder) error {
	var evs []tvbridge.VenueEvent
	var restored []*resting
	for _, o := range orders {
		r, err := v.validate(venueAccount, o)
		switch {
		case err != nil:
			v.log.Warn("cannot restore paper order", "order", o.ID, "err", err)
			evs = append(evs, v.cancelled(o.ID, o.Qty, "could not be restored after a restart: "+err.Error()))
		case o.Type == tvbridge.MarketOrder:
			evs = append(evs, v.cancelled(o.ID, o.Qty, "market order interrupted by a restart"))
		default:
			restored = append(restored, r)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range restored {
		if _, ok := v.byID[r.ID]; !ok {
			v.rest(r)
		}
	}
	v.events.push(evs...)
	return nil
}

// Events delivers fills and cancellations. It is never closed; events wait
// in an unbounded queue while Run is not running or nobody reads.
func (v *Venue) Events() <-chan tvbridge.VenueEvent { return v.out }

// Run matches resting orders against the tape's trades and the latest books
// until ctx ends, and delivers queued events to Events. It returns nil when
// ctx ends.
func (v *Venue) Run(ctx context.Context) error {
	if !v.running.CompareAndSwap(false, true) {
		return errors.New("paper: Run is already running")
	}
	defer v.running.Store(false)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { v.events.pump(ctx, v.out) })
	defer wg.Wait()
	defer cancel()
	return v.match(ctx)
}

// recoverError turns a panic into an ErrVenue error, so a bug never takes a
// caller's goroutine (an HTTP request) down with it.
func recoverError(log *slog.Logger, op string, err *error) {
	if p := recover(); p != nil {
		log.Error("paper: panic", "op", op, "panic", p)
		*err = &tvbridge.TradingError{Code: tvbridge.ErrVenue, Err: fmt.Errorf("paper %s: internal error: %v", op, p)}
	}
}

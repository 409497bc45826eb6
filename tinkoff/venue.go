package tinkoff

// The order venue: tvbridge.Venue on the Tinkoff v1 REST order API.
//
// v1 has no order-event stream and no client order ids, so the venue keeps
// the orders it placed (or was handed by Restore) and polls /orders and
// /operations for the accounts that have some. Fills come from the trades of
// the operation that belongs to an order; because v1 operations do not name
// their order, the venue matches them (see venue_match.go). Reconciliation
// is in venue_poll.go, the event queue in venue_queue.go and the mapping of
// upstream errors in venue_errors.go.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/internal/venueq"
	"tvbridge/tinkoff/wire"
)

// Defaults of VenueConfig.
const (
	DefaultPollInterval    = time.Second
	DefaultClockSkew       = time.Minute
	DefaultRestoreLookback = 7 * 24 * time.Hour
	// defaultGracePolls is VanishGrace in poll intervals.
	defaultGracePolls = 3
	defaultCurrency   = "RUB"
)

// VenueConfig configures the order venue. Client, Instrument and Users are
// required; the rest have defaults.
type VenueConfig struct {
	Client *Client
	// Users maps a TradingView user (tvbridge.Principal.User) to the
	// brokerAccountIds the user may trade. An account belongs to one user.
	Users map[string][]string
	// Currencies is the cash currency of an account, by brokerAccountId;
	// accounts not listed use RUB.
	Currencies map[string]string
	// Instrument returns an instrument by FIGI: its lot converts units to
	// lots, its increment checks limit prices.
	Instrument func(figi string) (tvbridge.Instrument, bool)
	Clock      clock.Clock  // nil => clock.Real{}
	Logger     *slog.Logger // nil => slog.Default()
	// PollInterval is how often accounts with working orders are polled.
	// Default 1s: two requests per account per poll stay within the
	// /orders and /operations limits (100 and 120 a minute) for one
	// account; more accounts make the client's rate limiter slow polls down.
	PollInterval time.Duration
	// Sandbox marks the accounts as demo accounts (else live).
	Sandbox bool
	// Applied, when set, reports whether the core has already applied (and
	// persisted) the fill with this ExecID. After a restart the venue uses
	// it to skip the fills of restored orders it reported before; without
	// it those fills are reported again and only the core's ExecID
	// de-duplication keeps them from being applied twice.
	Applied func(execID string) bool
	// VanishGrace is how long an order may be missing from /orders, with
	// its fills not all found in /operations, before it is reported
	// cancelled: operations may lag behind orders. An order cancelled
	// through Cancel, or whose operation is closed, does not wait.
	// Default 3 poll intervals.
	VanishGrace time.Duration
	// ClockSkew is how far the upstream's operation dates may be from this
	// clock. Default 1 minute.
	ClockSkew time.Duration
	// RestoreLookback is how far back operations are searched for a
	// restored order whose submit time is unknown. Default 7 days.
	RestoreLookback time.Duration
}

// OrderVenue executes market and limit orders on Tinkoff accounts. (The
// name Venue is taken in this package by the exchange of an instrument.)
type OrderVenue struct {
	cfg    VenueConfig
	client *Client
	clock  clock.Clock
	log    *slog.Logger
	owner  map[string]string // brokerAccountId -> user

	queue   *venueq.Queue
	kick    chan struct{} // asks Run for a poll now; holds at most one
	running atomic.Bool
	pollMu  sync.Mutex // one poll at a time, from Run or Poll

	mu       sync.Mutex
	seq      uint64                   // registration order of tracked orders
	accounts map[string]*venueAccount // by brokerAccountId, on first order
}

var _ tvbridge.Venue = (*OrderVenue)(nil)

// NewVenue returns the order venue for cfg.
func NewVenue(cfg VenueConfig) (*OrderVenue, error) {
	if err := checkVenueConfig(&cfg); err != nil {
		return nil, fmt.Errorf("tinkoff venue: %w", err)
	}
	v := &OrderVenue{
		cfg:      cfg,
		client:   cfg.Client,
		clock:    cfg.Clock,
		log:      cfg.Logger.With("component", "tinkoff-venue"),
		owner:    make(map[string]string),
		queue:    venueq.New(),
		kick:     make(chan struct{}, 1),
		accounts: make(map[string]*venueAccount),
	}
	for user, ids := range cfg.Users {
		for _, id := range ids {
			if prev, dup := v.owner[id]; dup && prev != user {
				return nil, fmt.Errorf("tinkoff venue: account %s is configured for both %q and %q", id, prev, user)
			}
			v.owner[id] = user
		}
	}
	return v, nil
}

// checkVenueConfig validates cfg and fills its defaults.
func checkVenueConfig(cfg *VenueConfig) error {
	switch {
	case cfg.Client == nil:
		return errors.New("tinkoff venue: client is required")
	case cfg.Instrument == nil:
		return errors.New("tinkoff venue: instrument lookup is required")
	case cfg.PollInterval < 0 || cfg.VanishGrace < 0 || cfg.ClockSkew < 0 || cfg.RestoreLookback < 0:
		return errors.New("durations must not be negative")
	}
	for user, ids := range cfg.Users {
		if user == "" {
			return errors.New("tinkoff venue: a user with an empty name in the account list")
		}
		for _, id := range ids {
			if strings.TrimSpace(id) == "" {
				return fmt.Errorf("user %q has an empty account id", user)
			}
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.VanishGrace == 0 {
		cfg.VanishGrace = defaultGracePolls * cfg.PollInterval
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.RestoreLookback == 0 {
		cfg.RestoreLookback = DefaultRestoreLookback
	}
	return nil
}

// Accounts returns the user's configured accounts that the upstream lists,
// with their cash in the account's currency. A user without configured
// accounts has none; that is not an error.
func (v *OrderVenue) Accounts(ctx context.Context, user string) ([]tvbridge.VenueAccount, error) {
	ids := v.cfg.Users[user]
	out := []tvbridge.VenueAccount{}
	if len(ids) == 0 {
		return out, nil
	}
	listed, err := v.client.Accounts(ctx)
	if err != nil {
		return nil, venueError("list accounts", err)
	}
	types := make(map[string]string, len(listed))
	for _, a := range listed {
		types[a.BrokerAccountID] = a.BrokerAccountType
	}
	for _, id := range ids {
		typ, ok := types[id]
		if !ok {
			v.log.Warn("configured account is not listed by Tinkoff; leaving it out", "user", user, "account", id)
			continue
		}
		acc, err := v.account(ctx, id, typ)
		if err != nil {
			return nil, err
		}
		out = append(out, acc)
	}
	return out, nil
}

// account describes one upstream account with its cash.
func (v *OrderVenue) account(ctx context.Context, id, upstreamType string) (tvbridge.VenueAccount, error) {
	currency := v.cfg.Currencies[id]
	if currency == "" {
		currency = defaultCurrency
	}
	cur, err := v.client.PortfolioCurrencies(ctx, id)
	if err != nil {
		return tvbridge.VenueAccount{}, venueError("read cash of account "+id, err)
	}
	var cash float64
	for _, c := range cur.Currencies {
		if strings.EqualFold(c.Currency, currency) {
			cash = c.Balance
		}
	}
	acc := tvbridge.VenueAccount{ID: id, Name: "Tinkoff " + id, Type: tvbridge.LiveAccount, Currency: currency,
		Cash: []tvbridge.Money{{Currency: currency, Amount: cash}}}
	if upstreamType == "TinkoffIis" {
		acc.Name = "Tinkoff IIS " + id
	}
	if v.cfg.Sandbox {
		acc.Type = tvbridge.DemoAccount
	}
	return acc, nil
}

// Submit places a market or limit order and starts following it.
func (v *OrderVenue) Submit(ctx context.Context, venueAccount string, o tvbridge.VenueOrder) (string, error) {
	if err := v.checkAccount(venueAccount); err != nil {
		return "", err
	}
	inst, lots, err := v.checkOrder(o)
	if err != nil {
		return "", err
	}
	if ref, ok := v.placedBefore(venueAccount, o.ID); ok {
		// A retried Submit must not place a second order: v1 has no
		// client order id to make the upstream refuse it.
		return ref, nil
	}
	started := v.beginSubmit(venueAccount)
	placed, err := v.place(ctx, venueAccount, o, inst, lots)
	if err != nil {
		v.endSubmit(venueAccount, nil)
		return "", err
	}
	t := &trackedOrder{order: o, ref: placed.OrderID, pieces: lots * inst.Lot, lot: inst.Lot,
		executed: min(placed.ExecutedLots, lots) * inst.Lot, increment: inst.MinPriceIncrement,
		submitted: started, notBefore: started.Add(-v.cfg.ClockSkew)}
	t.order.VenueRef = formatVenueRef(placed.OrderID, started)
	v.endSubmit(venueAccount, t)
	v.log.Info("order placed", "order", o.ID, "account", venueAccount, "tinkoffOrder", placed.OrderID,
		"figi", o.FIGI, "side", o.Side, "type", o.Type, "lots", lots, "status", placed.Status)
	if placed.ExecutedLots > 0 || o.Type == tvbridge.MarketOrder {
		v.pollSoon() // its fills are already in /operations
	}
	return t.order.VenueRef, nil
}

// checkOrder validates an order before it costs an upstream request (the
// exchange counts error answers too) and returns its instrument and lots.
func (v *OrderVenue) checkOrder(o tvbridge.VenueOrder) (tvbridge.Instrument, int, error) {
	if o.Type != tvbridge.MarketOrder && o.Type != tvbridge.LimitOrder {
		return tvbridge.Instrument{}, 0, tvbridge.Errorf(tvbridge.ErrUnsupported, "type", "Tinkoff takes market and limit orders only, not %q", o.Type)
	}
	if !o.Side.Valid() {
		return tvbridge.Instrument{}, 0, tvbridge.Errorf(tvbridge.ErrInvalidRequest, "side", "side %q is neither buy nor sell", o.Side)
	}
	inst, ok := v.cfg.Instrument(o.FIGI)
	if !ok {
		return tvbridge.Instrument{}, 0, tvbridge.Errorf(tvbridge.ErrUnknownInstrument, "instrument", "unknown FIGI %q", o.FIGI)
	}
	lot := max(inst.Lot, 1)
	inst.Lot = lot
	lots, ok := wholeLots(o.Qty, lot)
	if !ok {
		return tvbridge.Instrument{}, 0, tvbridge.Errorf(tvbridge.ErrInvalidQty, "qty", "%v is not a positive multiple of the lot of %d", o.Qty, lot)
	}
	if o.Type == tvbridge.LimitOrder {
		if o.Limit <= 0 || math.IsInf(o.Limit, 0) || math.IsNaN(o.Limit) || !onPriceGrid(o.Limit, inst.MinPriceIncrement) {
			return tvbridge.Instrument{}, 0, tvbridge.Errorf(tvbridge.ErrInvalidPrice, "limitPrice", "%v is not a positive multiple of the price increment %v", o.Limit, inst.MinPriceIncrement)
		}
	}
	return inst, lots, nil
}

// place sends the order and turns every refusal into a *tvbridge.TradingError.
func (v *OrderVenue) place(ctx context.Context, account string, o tvbridge.VenueOrder, inst tvbridge.Instrument, lots int) (wire.PlacedOrder, error) {
	op := Buy
	if o.Side == tvbridge.Sell {
		op = Sell
	}
	var p wire.PlacedOrder
	var err error
	if o.Type == tvbridge.LimitOrder {
		p, err = v.client.LimitOrder(ctx, account, o.FIGI, lots, op, snapToGrid(o.Limit, inst.MinPriceIncrement))
	} else {
		p, err = v.client.MarketOrder(ctx, account, o.FIGI, lots, op)
	}
	if err != nil {
		return p, orderError(err)
	}
	if strings.EqualFold(p.Status, "Rejected") {
		return p, rejectedError(p)
	}
	if p.OrderID == "" {
		return p, tvbridge.Errorf(tvbridge.ErrVenue, "", "Tinkoff accepted the order without an order id (status %q)", p.Status)
	}
	return p, nil
}

// Cancel cancels the rest of an order. An order that has meanwhile filled
// or been cancelled is not an error: the next poll reports what happened.
func (v *OrderVenue) Cancel(ctx context.Context, venueAccount string, o tvbridge.VenueOrder) error {
	if err := v.checkAccount(venueAccount); err != nil {
		return err
	}
	ref, submitted := parseVenueRef(o.VenueRef)
	if ref == "" {
		return tvbridge.Errorf(tvbridge.ErrUnknownOrder, "", "order %s has no Tinkoff order id", o.ID)
	}
	err := v.client.CancelOrder(ctx, venueAccount, ref)
	final := isOrderFinalError(err)
	if err != nil && !final {
		return venueError("cancel order "+o.ID, err)
	}
	// Follow the order even if this process did not place it, so its
	// outcome is reported.
	if t, ok := v.adopt(venueAccount, o, ref, submitted); ok && err == nil {
		v.mu.Lock()
		t.cancelAcked = true
		v.mu.Unlock()
	}
	if final {
		v.log.Info("cancel: order already final on Tinkoff", "order", o.ID, "tinkoffOrder", ref, "err", err)
	}
	v.pollSoon()
	return nil
}

// Restore resumes following the orders that were working when the core
// stopped; the next poll reports what happened to them meanwhile.
func (v *OrderVenue) Restore(ctx context.Context, venueAccount string, orders []tvbridge.VenueOrder) error {
	if err := v.checkAccount(venueAccount); err != nil {
		return err
	}
	for _, o := range orders {
		ref, submitted := parseVenueRef(o.VenueRef)
		if ref == "" {
			// Never acknowledged, so never tracked: nothing can tell
			// what became of it.
			v.log.Warn("restored order has no Tinkoff order id; reporting it rejected", "order", o.ID, "account", venueAccount)
			v.queue.Push(tvbridge.VenueEvent{Kind: tvbridge.VenueRejected, OrderID: o.ID, Time: v.clock.Now(),
				Reason: "the order has no Tinkoff order id; check the account for an order tvbridge does not know"})
			continue
		}
		if o.Qty <= 0 {
			v.log.Error("restored order has no quantity; not following it", "order", o.ID, "tinkoffOrder", ref, "qty", o.Qty)
			continue
		}
		if _, ok := v.adopt(venueAccount, o, ref, submitted); !ok {
			v.log.Info("restored order is already final here; its events were delivered", "order", o.ID, "tinkoffOrder", ref)
		}
	}
	v.log.Info("orders restored", "account", venueAccount, "count", len(orders))
	v.pollSoon()
	return nil
}

// Events delivers fills, cancellations and rejections. The channel is
// never closed; events queue up while nobody reads and while Run is not
// running.
func (v *OrderVenue) Events() <-chan tvbridge.VenueEvent { return v.queue.Out() }

// Run polls the accounts with working orders every PollInterval (and soon
// after an order fills at once, or is cancelled or restored), and delivers
// events, until ctx ends. It returns nil then.
func (v *OrderVenue) Run(ctx context.Context) error {
	if !v.running.CompareAndSwap(false, true) {
		return errors.New("tinkoff venue: Run is already running")
	}
	defer v.running.Store(false)
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		v.queue.Pump(ctx)
	}()
	defer func() { <-pumped }()
	ticker := v.clock.NewTicker(v.cfg.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		case <-v.kick:
		}
		if err := v.Poll(ctx); err != nil && ctx.Err() == nil {
			v.log.Warn("poll failed; retrying at the next interval", "err", err)
		}
	}
}

// pollSoon asks Run for a poll without waiting for the ticker.
func (v *OrderVenue) pollSoon() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

// checkAccount refuses accounts that no user is configured for.
func (v *OrderVenue) checkAccount(id string) error {
	if _, ok := v.owner[id]; !ok {
		return tvbridge.Errorf(tvbridge.ErrUnknownAccount, "", "account %s is not configured for Tinkoff trading", id)
	}
	return nil
}

// placedBefore returns the VenueRef of a followed order with this core id.
func (v *OrderVenue) placedBefore(account, orderID string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if a := v.accounts[account]; a != nil {
		for _, t := range a.orders {
			if t.order.ID == orderID && t.order.VenueRef != "" {
				return t.order.VenueRef, true
			}
		}
	}
	return "", false
}

// beginSubmit counts a Submit in flight: while one is, polls do not match
// operations to orders, as the new order's operation could be taken for
// another's (see venueAccount.bind).
func (v *OrderVenue) beginSubmit(account string) time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.accountState(account)
	a.inflight++
	a.changes++
	return v.clock.Now()
}

// endSubmit ends a Submit, tracking its order if it was placed.
func (v *OrderVenue) endSubmit(account string, t *trackedOrder) {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.accountState(account)
	a.inflight--
	if t != nil {
		v.trackLocked(a, t)
	}
}

// adopt returns the tracked order with this Tinkoff id, tracking it first
// if needed, and refreshes the core's id on it. It returns false for an
// order this venue already reported final.
func (v *OrderVenue) adopt(account string, o tvbridge.VenueOrder, ref string, submitted time.Time) (*trackedOrder, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.accountState(account)
	if t := a.orders[ref]; t != nil {
		t.order.ID = o.ID
		return t, true
	}
	if _, over := a.done[ref]; over {
		return nil, false
	}
	// o.Qty is the whole order's quantity, as Submit was given it.
	t := &trackedOrder{order: o, ref: ref, pieces: int(math.Round(o.Qty)), submitted: submitted}
	if inst, ok := v.cfg.Instrument(o.FIGI); ok {
		t.increment, t.lot = inst.MinPriceIncrement, max(inst.Lot, 1)
	}
	if submitted.IsZero() {
		t.notBefore = v.clock.Now().Add(-v.cfg.RestoreLookback)
	} else {
		t.notBefore = submitted.Add(-v.cfg.ClockSkew)
	}
	a.changes++
	v.trackLocked(a, t)
	return t, true
}

func (v *OrderVenue) trackLocked(a *venueAccount, t *trackedOrder) {
	v.seq++
	t.seq = v.seq
	t.seen = make(map[string]bool)
	a.orders[t.ref] = t
}

func (v *OrderVenue) accountState(id string) *venueAccount {
	a := v.accounts[id]
	if a == nil {
		a = &venueAccount{id: id, orders: make(map[string]*trackedOrder),
			claimed: make(map[string]time.Time), done: make(map[string]time.Time)}
		v.accounts[id] = a
	}
	return a
}

// A VenueRef is the Tinkoff order id, "@", and the submit time: v1
// operations do not name their order, so after a restart the submit time
// is what tells an order's operation from older ones.
const refTimeLayout = time.RFC3339Nano

func formatVenueRef(orderID string, submitted time.Time) string {
	return orderID + "@" + submitted.UTC().Format(refTimeLayout)
}

// parseVenueRef splits a VenueRef; a ref without a valid time is all order
// id (the submit time is then zero, i.e. unknown).
func parseVenueRef(ref string) (orderID string, submitted time.Time) {
	i := strings.LastIndexByte(ref, '@')
	if i < 0 {
		return ref, time.Time{}
	}
	t, err := time.Parse(refTimeLayout, ref[i+1:])
	if err != nil || ref[:i] == "" {
		return ref, time.Time{}
	}
	return ref[:i], t
}

// wholeLots converts units to lots; ok is false unless qty is a positive
// whole number of lots that fits the API's int32.
func wholeLots(qty float64, lot int) (int, bool) {
	if qty <= 0 || math.IsInf(qty, 0) || math.IsNaN(qty) {
		return 0, false
	}
	lots := math.Round(qty / float64(lot))
	if lots < 1 || lots > math.MaxInt32 || math.Abs(lots*float64(lot)-qty) > 1e-9*max(1, qty) {
		return 0, false
	}
	return int(lots), true
}

// onPriceGrid reports whether price is a whole multiple of the increment
// (0 means unknown: anything goes).
func onPriceGrid(price, increment float64) bool {
	if increment <= 0 {
		return true
	}
	q := price / increment
	return math.Abs(q-math.Round(q)) < 1e-6
}

// snapToGrid rounds price to the increment and to the increment's decimals,
// so the request carries 123.45 and not 123.45000000000002.
func snapToGrid(price, increment float64) float64 {
	if increment <= 0 {
		return price
	}
	p := math.Round(price/increment) * increment
	s := strconv.FormatFloat(increment, 'f', -1, 64)
	decimals := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		decimals = min(len(s)-i-1, 9)
	}
	scale := math.Pow10(decimals)
	return math.Round(p*scale) / scale
}

// sortedOrders returns orders in registration order.
func sortedOrders(m map[string]*trackedOrder) []*trackedOrder {
	out := make([]*trackedOrder, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *trackedOrder) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

package tinvest

// The order venue: tvbridge.Venue on T-Invest API v2 (see the package doc,
// "Trading"). This file holds the configuration and the Venue's calls;
// venue_state.go turns order states (from the stream and from polls) into
// events, venue_poll.go reconciles with GetOrders/GetOrderState,
// venue_stream.go is the OrderStateStream client, venue_errors.go maps the
// service's errors and venue_queue.go is the event queue.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/internal/venueq"
	"tvbridge/tinvest/wire"
)

// Defaults of VenueConfig.
const (
	DefaultVenuePollInterval      = 2 * time.Second
	DefaultVenueReconcileInterval = time.Minute
	DefaultOrderStreamPing        = 30 * time.Second
	DefaultNotFoundGrace          = time.Minute
	DefaultRestoreGrace           = 10 * time.Second
	defaultVenueCurrency          = "RUB"
	// doneRetention is how long orders reported final are remembered, so
	// that late stream frames about them are recognised and ignored.
	doneRetention = 24 * time.Hour
)

// VenueConfig configures a Venue. Client, Instrument and KeyNamespace are
// required; the rest have defaults.
type VenueConfig struct {
	// Client is the REST client; with its Config.Sandbox set the venue
	// trades the token's sandbox accounts (as demo accounts), through the
	// SandboxService calls, the same way.
	Client *Client
	// Users maps a TradingView user (tvbridge.Principal.User) to the T-Invest
	// account ids the user may trade. An account belongs to one user.
	Users map[string][]string
	// Currencies is an account's currency (its totals are shown in it), by
	// account id; accounts not listed use RUB.
	Currencies map[string]string
	// Instrument returns an instrument by FIGI: its lot converts units to
	// lots, its tick checks prices, its UID names it to the service.
	Instrument func(figi string) (tvbridge.Instrument, bool)
	// KeyNamespace makes the idempotency keys of this deployment its own.
	// An order's key is IdempotencyKey(namespace, account, order id and
	// generation); the trading core's order ids are a sequence per trading
	// database, so two databases (a wiped one and its successor, or two
	// deployments on one account) would derive the same key for different
	// orders, and the service, which remembers keys about a month, would
	// answer the second with the first. Give each trading database its
	// own namespace, kept with it (see LoadKeyNamespace).
	KeyNamespace string
	// StreamURL is the OrderStateStream URL or the WebSocket base (the
	// method path is appended to a base); default derived from the
	// client's BaseURL (see EndpointsFor).
	StreamURL string
	// PollOnly turns the order stream off: order states come from polls
	// every PollInterval (for a service or sandbox without the stream).
	PollOnly bool
	// PollInterval is how often accounts with working orders are polled
	// (GetOrders, and GetOrderState for orders no longer active) while the
	// order stream is down; default 2s (each poll costs one GetOrders per
	// account, whose limit is 200 a minute).
	PollInterval time.Duration
	// ReconcileInterval is how often they are polled while the stream is
	// up, as a safety net; default 1m. Every (re)connect of the stream is
	// followed by a poll, for the states missed meanwhile.
	ReconcileInterval time.Duration
	// NotFoundGrace is how long the service may answer NOT_FOUND for an
	// order it acknowledged (or that a Submit without an answer may have
	// placed) before the order is reported cancelled (rejected); default 1m.
	NotFoundGrace time.Duration
	// RestoreGrace is the same for an order the previous process was
	// placing when it stopped, counted from the restart: its PostOrder may
	// still be in flight (a process killed mid-request) and reach the
	// service after the restarted one first asks. Default 10s; meanwhile
	// the order shows working.
	RestoreGrace time.Duration
	// PingDelay is the ping period asked of the stream (1s..120s); default
	// 30s. StallTimeout: a stream without any frame that long is reopened;
	// default 3 x PingDelay.
	PingDelay, StallTimeout time.Duration
	// BackoffMin and BackoffMax bound the stream's reconnect delays (full
	// jitter); defaults 500ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// HandshakeTimeout bounds the stream's WebSocket handshake; default 10s.
	HandshakeTimeout time.Duration
	Clock            clock.Clock  // nil: the client's clock
	Logger           *slog.Logger // nil: the client's logger
}

// Venue executes market and limit orders on T-Invest accounts through API
// v2: PostOrder with an idempotency key, CancelOrder, OrderStateStream and
// polls. Stops, stop-limits and brackets are held by the trading core, as
// for the paper and v1 venues (see the package doc).
type Venue struct {
	cfg    VenueConfig
	client *Client
	clock  clock.Clock
	log    *slog.Logger
	owner  map[string]string // account id -> user
	url    string            // OrderStateStream URL

	queue    *venueq.Queue
	kick     chan struct{} // asks the poller for a round now; holds at most one
	running  atomic.Bool
	streamUp atomic.Bool
	pollMu   sync.Mutex // one poll at a time

	mu         sync.Mutex
	seq        uint64
	orders     map[string]*tracked   // by idempotency key
	byExchange map[string]*tracked   // by the service's order id
	done       map[string]finalOrder // keys and order ids reported final
	urgent     map[string]bool       // keys whose state is to be fetched now
	full       bool                  // a full reconcile is due
	lastFull   time.Time
}

var _ tvbridge.Venue = (*Venue)(nil)

// NewVenue returns the venue for cfg. Nothing connects until Run.
func NewVenue(cfg VenueConfig) (*Venue, error) {
	if err := checkVenueConfig(&cfg); err != nil {
		return nil, fmt.Errorf("tinvest venue: %w", err)
	}
	v := &Venue{
		cfg:        cfg,
		client:     cfg.Client,
		clock:      cfg.Clock,
		log:        cfg.Logger.With("component", "tinvest-venue"),
		owner:      make(map[string]string),
		queue:      venueq.New(),
		kick:       make(chan struct{}, 1),
		orders:     make(map[string]*tracked),
		byExchange: make(map[string]*tracked),
		done:       make(map[string]finalOrder),
		urgent:     make(map[string]bool),
	}
	for user, ids := range cfg.Users {
		for _, id := range ids {
			if prev, dup := v.owner[id]; dup && prev != user {
				return nil, fmt.Errorf("tinvest venue: account %s is configured for both %q and %q", id, prev, user)
			}
			v.owner[id] = user
		}
	}
	v.url = cfg.StreamURL
	if v.url == "" {
		e, err := EndpointsFor(cfg.Client.cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("tinvest venue: %w", err)
		}
		v.url = e.Stream
	}
	if !strings.HasSuffix(v.url, wire.MethodOrderStateStream) {
		v.url = strings.TrimRight(v.url, "/") + "/" + wire.MethodOrderStateStream
	}
	return v, nil
}

// checkVenueConfig validates cfg and fills its defaults.
func checkVenueConfig(cfg *VenueConfig) error {
	switch {
	case cfg.Client == nil:
		return errors.New("client is required")
	case cfg.Instrument == nil:
		return errors.New("instrument lookup is required")
	case strings.TrimSpace(cfg.KeyNamespace) == "":
		return errors.New("KeyNamespace is required: idempotency keys must not repeat across trading databases (see LoadKeyNamespace)")
	case cfg.PollInterval < 0 || cfg.ReconcileInterval < 0 || cfg.NotFoundGrace < 0 || cfg.RestoreGrace < 0 || cfg.PingDelay < 0 ||
		cfg.StallTimeout < 0 || cfg.BackoffMin < 0 || cfg.BackoffMax < 0 || cfg.HandshakeTimeout < 0:
		return errors.New("durations must not be negative")
	}
	for user, ids := range cfg.Users {
		if user == "" {
			return errors.New("a user with an empty name in the account list")
		}
		for _, id := range ids {
			if strings.TrimSpace(id) == "" {
				return fmt.Errorf("user %q has an empty account id", user)
			}
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = cfg.Client.clock
	}
	if cfg.Logger == nil {
		cfg.Logger = cfg.Client.cfg.Logger
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{
		{&cfg.PollInterval, DefaultVenuePollInterval},
		{&cfg.ReconcileInterval, DefaultVenueReconcileInterval},
		{&cfg.NotFoundGrace, DefaultNotFoundGrace},
		{&cfg.RestoreGrace, DefaultRestoreGrace},
		{&cfg.PingDelay, DefaultOrderStreamPing},
		{&cfg.BackoffMin, 500 * time.Millisecond},
		{&cfg.BackoffMax, 30 * time.Second},
		{&cfg.HandshakeTimeout, 10 * time.Second},
	}
	for _, d := range defaults {
		if *d.d == 0 {
			*d.d = d.def
		}
	}
	cfg.PingDelay = min(max(cfg.PingDelay, time.Second), 120*time.Second)
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = 3 * cfg.PingDelay
	}
	cfg.BackoffMax = max(cfg.BackoffMax, cfg.BackoffMin)
	return nil
}

// key is the idempotency key of one generation of a core order (the
// VenueOrder.ID, which names the generation) in an account.
func (v *Venue) key(account, orderID string) string {
	return IdempotencyKey("tvbridge venue order", v.cfg.KeyNamespace, account, orderID)
}

// Accounts returns the user's configured accounts that the service lists
// as open and tradable by the token, each with its cash per currency
// (GetPositions), the account currency first. A user without configured
// accounts has none; that is not an error.
func (v *Venue) Accounts(ctx context.Context, user string) ([]tvbridge.VenueAccount, error) {
	ids := v.cfg.Users[user]
	out := []tvbridge.VenueAccount{}
	if len(ids) == 0 {
		return out, nil
	}
	listed, err := v.client.Accounts(ctx, "")
	if err != nil {
		v.logErr("listing accounts failed", err)
		return nil, venueError("list the accounts", err)
	}
	byID := make(map[string]wire.Account, len(listed))
	for _, a := range listed {
		byID[a.ID] = a
	}
	for _, id := range ids {
		a, ok := byID[id]
		switch {
		case !ok:
			v.log.Warn("configured account is not listed by T-Invest for this token; leaving it out", "user", user, "account", id)
			continue
		case a.Status == wire.AccountStatusClosed:
			v.log.Warn("configured account is closed; leaving it out", "user", user, "account", id)
			continue
		case a.AccessLevel == wire.AccessLevelReadOnly || a.AccessLevel == wire.AccessLevelNoAccess:
			v.log.Warn("the token may not trade this account; leaving it out (issue a full-access token)",
				"user", user, "account", id, "access", a.AccessLevel)
			continue
		}
		acc, err := v.account(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, acc)
	}
	return out, nil
}

// account describes one upstream account with its cash.
func (v *Venue) account(ctx context.Context, a wire.Account) (tvbridge.VenueAccount, error) {
	h, err := v.cash(ctx, a.ID)
	if err != nil {
		return tvbridge.VenueAccount{}, err
	}
	name := "T-Invest " + a.ID
	if n := strings.TrimSpace(a.Name); n != "" {
		name = "T-Invest " + n
	}
	acc := tvbridge.VenueAccount{ID: a.ID, Name: name, Type: tvbridge.LiveAccount, Currency: h.Currency}
	if v.client.cfg.Sandbox {
		acc.Type = tvbridge.DemoAccount
	}
	for _, c := range h.Cash {
		acc.Cash = append(acc.Cash, tvbridge.Money{Currency: c.Currency, Amount: c.Available})
	}
	return acc, nil
}

// Holdings is an account's money and securities as T-Invest reports them.
type Holdings struct {
	Currency string         // the account currency (VenueConfig.Currencies, default RUB)
	Cash     []CashHolding  // per currency, the account currency first
	Position []HeldPosition // securities and futures, by FIGI
}

// CashHolding is the money of one currency: Available (GetPositions'
// money) and Blocked (reserved for working orders).
type CashHolding struct {
	Currency           string
	Available, Blocked float64
}

// HeldPosition is one position of the portfolio, in units (not lots); Qty
// is negative for a short.
type HeldPosition struct {
	FIGI     string
	UID      string
	Qty      float64
	AvgPrice float64 // per unit, in Currency
	Price    float64 // the current price per unit, in Currency
	Currency string
}

// Holdings reads an account's cash (GetPositions) and positions
// (GetPortfolio). The trading core keeps its own positions from the fills
// it is told about; Holdings is the upstream's view, for the cash an
// account starts with and for checking the two against each other.
func (v *Venue) Holdings(ctx context.Context, accountID string) (Holdings, error) {
	if err := v.checkAccount(accountID); err != nil {
		return Holdings{}, err
	}
	h, err := v.cash(ctx, accountID)
	if err != nil {
		return Holdings{}, err
	}
	pf, err := v.client.Portfolio(ctx, accountID)
	if err != nil {
		v.logErr("reading the portfolio failed", err, "account", accountID)
		return Holdings{}, venueError("read the portfolio of account "+accountID, err)
	}
	for _, p := range pf.Positions {
		if p.InstrumentType == "currency" || p.Quantity.IsZero() {
			continue // money is in Cash
		}
		h.Position = append(h.Position, HeldPosition{FIGI: p.FIGI, UID: p.InstrumentUID, Qty: p.Quantity.Float64(),
			AvgPrice: p.AveragePositionPrice.Float64(), Price: p.CurrentPrice.Float64(),
			Currency: strings.ToUpper(cmp.Or(p.AveragePositionPrice.Currency, p.CurrentPrice.Currency))})
	}
	return h, nil
}

// cash reads an account's money per currency (GetPositions), the account
// currency first.
func (v *Venue) cash(ctx context.Context, accountID string) (Holdings, error) {
	h := Holdings{Currency: strings.ToUpper(v.cfg.Currencies[accountID])}
	if h.Currency == "" {
		h.Currency = defaultVenueCurrency
	}
	pos, err := v.client.Positions(ctx, accountID)
	if err != nil {
		v.logErr("reading positions failed", err, "account", accountID)
		return Holdings{}, venueError("read the cash of account "+accountID, err)
	}
	cash := map[string]*CashHolding{h.Currency: {Currency: h.Currency}}
	get := func(cur string) *CashHolding {
		cur = strings.ToUpper(strings.TrimSpace(cur))
		if cash[cur] == nil {
			cash[cur] = &CashHolding{Currency: cur}
		}
		return cash[cur]
	}
	for _, m := range pos.Money {
		if m.Currency != "" {
			get(m.Currency).Available += m.Float64()
		}
	}
	for _, m := range pos.Blocked {
		if m.Currency != "" {
			get(m.Currency).Blocked += m.Float64()
		}
	}
	for _, c := range cash {
		h.Cash = append(h.Cash, *c)
	}
	slices.SortFunc(h.Cash, func(a, b CashHolding) int {
		if (a.Currency == h.Currency) != (b.Currency == h.Currency) {
			if a.Currency == h.Currency {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Currency, b.Currency)
	})
	return h, nil
}

// Submit places a market or limit order with PostOrder under the order's
// idempotency key and starts following it. A retried Submit (even by
// another process after a restart) sends the same key, and the service
// answers with the order it already has.
func (v *Venue) Submit(ctx context.Context, venueAccount string, o tvbridge.VenueOrder) (string, error) {
	if err := v.checkAccount(venueAccount); err != nil {
		return "", err
	}
	inst, lots, err := v.checkOrder(o)
	if err != nil {
		return "", err
	}
	key := v.key(venueAccount, o.ID)
	if ref, ok := v.finalRef(key); ok {
		return ref, nil // a retried Submit of an order reported final: its events said it all
	}
	t := v.beginSubmit(venueAccount, o, key, inst, lots)
	p := OrderParams{AccountID: venueAccount, InstrumentID: instrumentRef(inst), Lots: lots, Direction: direction(o.Side),
		Type: wire.OrderTypeMarket, Key: key}
	if o.Type == tvbridge.LimitOrder {
		p.Type, p.Price, p.Tick, p.TimeInForce = wire.OrderTypeLimit, o.Limit, inst.MinPriceIncrement, wire.TimeInForceDay
	}
	resp, err := v.client.PostOrder(ctx, p)
	if err != nil && hasServiceCode(err, wire.ErrDuplicateOrder) {
		// 30057: the key is known but its report is not: look the order
		// up by its key before calling the order lost.
		resp, err = v.lookUpByKey(ctx, venueAccount, key, err)
	}
	if err != nil {
		te, maybePlaced := placeError(err, o, inst)
		v.endSubmit(t, maybePlaced)
		v.logErr("order refused", err, "order", o.ID, "account", venueAccount, "figi", o.FIGI, "maybe_placed", maybePlaced)
		return "", te
	}
	if te := v.checkAnswer(resp, o, inst, lots, key); te != nil {
		v.endSubmit(t, false)
		v.log.Error("order refused", "order", o.ID, "account", venueAccount, "err", te)
		return "", te
	}
	ref := v.placed(t, resp)
	v.log.Info("order placed", "order", o.ID, "account", venueAccount, "tinvest_order", resp.OrderID, "key", key,
		"figi", o.FIGI, "side", o.Side, "type", o.Type, "lots", lots, "status", resp.ExecutionReportStatus)
	return ref, nil
}

// lookUpByKey finds an order by its idempotency key after a 30057.
func (v *Venue) lookUpByKey(ctx context.Context, account, key string, cause error) (wire.PostOrderResponse, error) {
	st, err := v.client.OrderState(ctx, account, key, wire.OrderIDTypeRequest)
	if err != nil {
		v.logErr("looking up a duplicate order by its key failed", err, "account", account, "key", key)
		return wire.PostOrderResponse{}, cause
	}
	return wire.PostOrderResponse{OrderID: st.OrderID, ExecutionReportStatus: st.ExecutionReportStatus,
		LotsRequested: st.LotsRequested, LotsExecuted: st.LotsExecuted, FIGI: st.FIGI, Direction: st.Direction,
		OrderType: st.OrderType, InstrumentUID: st.InstrumentUID, OrderRequestID: key}, nil
}

// checkAnswer refuses an answer that describes another order than the one
// sent: the key was used before for a different order (another trading
// database with the same namespace), and the service returned that one.
func (v *Venue) checkAnswer(r wire.PostOrderResponse, o tvbridge.VenueOrder, inst tvbridge.Instrument, lots int64, key string) *tvbridge.TradingError {
	var differs string
	switch {
	case r.OrderRequestID != "" && r.OrderRequestID != key:
		differs = "idempotency key " + r.OrderRequestID
	case r.Direction != "" && r.Direction != direction(o.Side):
		differs = "direction " + string(r.Direction)
	case r.LotsRequested != 0 && int64(r.LotsRequested) != lots:
		differs = fmt.Sprintf("%d lots", r.LotsRequested)
	case r.FIGI != "" && r.FIGI != o.FIGI && (inst.UID == "" || r.InstrumentUID != inst.UID):
		differs = "instrument " + r.FIGI
	case r.OrderType != "" && r.OrderType != orderType(o.Type):
		differs = "type " + string(r.OrderType)
	}
	switch {
	case differs != "":
		return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: fmt.Sprintf("T-Invest answered with another order "+
			"(%s, %s) for this order's idempotency key: the key was used before, by another trading database with "+
			"the same key namespace; give each database its own", r.OrderID, differs)}
	case r.ExecutionReportStatus == wire.ExecutionReportStatusRejected:
		detail := "T-Invest rejected the order"
		if m := strings.TrimSpace(r.Message); m != "" {
			detail += ": " + m
		}
		return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: detail}
	case r.OrderID == "":
		return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: fmt.Sprintf(
			"T-Invest accepted the order without an order id (status %q)", r.ExecutionReportStatus)}
	}
	return nil
}

// checkOrder validates an order before it costs a request (the service
// counts refused ones too) and returns its instrument and lots.
func (v *Venue) checkOrder(o tvbridge.VenueOrder) (tvbridge.Instrument, int64, error) {
	if o.Type != tvbridge.MarketOrder && o.Type != tvbridge.LimitOrder {
		return tvbridge.Instrument{}, 0, tvbridge.Refusef(tvbridge.ErrUnsupported, tvbridge.ReasonOrderType, "type",
			tvbridge.ErrorParams{OrderType: o.Type}, "T-Invest takes market and limit orders here, not %q", o.Type)
	}
	if !o.Side.Valid() {
		return tvbridge.Instrument{}, 0, tvbridge.Refusef(tvbridge.ErrInvalidRequest, tvbridge.ReasonSide, "side",
			tvbridge.ErrorParams{}, "side %q is neither buy nor sell", o.Side)
	}
	inst, ok := v.cfg.Instrument(o.FIGI)
	if !ok {
		return tvbridge.Instrument{}, 0, tvbridge.Errorf(tvbridge.ErrUnknownInstrument, "instrument", "unknown FIGI %q", o.FIGI)
	}
	inst.Lot = max(inst.Lot, 1)
	lots, ok := wholeLots(o.Qty, inst.Lot)
	if !ok {
		return tvbridge.Instrument{}, 0, tvbridge.Refusef(tvbridge.ErrInvalidQty, tvbridge.ReasonQtyLot, "qty",
			tvbridge.ErrorParams{FIGI: o.FIGI, Value: o.Qty, Lot: float64(inst.Lot)},
			"%v is not a positive whole number of lots of %d", o.Qty, inst.Lot)
	}
	if o.Type == tvbridge.LimitOrder {
		if !(o.Limit > 0) || math.IsInf(o.Limit, 0) {
			return tvbridge.Instrument{}, 0, tvbridge.Refusef(tvbridge.ErrInvalidPrice, tvbridge.ReasonPricePositive, "limitPrice",
				tvbridge.ErrorParams{}, "limit price %v is not a positive number", o.Limit)
		}
		if _, err := Price(o.Limit, inst.MinPriceIncrement); err != nil {
			return tvbridge.Instrument{}, 0, offTick(o, inst, err)
		}
	}
	return inst, lots, nil
}

// offTick refuses a limit price that is not a multiple of the tick.
func offTick(o tvbridge.VenueOrder, inst tvbridge.Instrument, err error) *tvbridge.TradingError {
	return &tvbridge.TradingError{Code: tvbridge.ErrInvalidPrice, Field: "limitPrice", Reason: tvbridge.ReasonPriceStep,
		Params: tvbridge.ErrorParams{FIGI: o.FIGI, Value: o.Limit, Step: inst.MinPriceIncrement},
		Detail: fmt.Sprintf("limit price %v is not a multiple of the price step %v", o.Limit, inst.MinPriceIncrement), Err: err}
}

// Cancel cancels the rest of an order, by the service's order id or, for
// an order whose placing had no answer, by its idempotency key. An order
// that has meanwhile filled or been cancelled is not an error: its events
// say so. The final state comes from the stream or a poll made at once.
func (v *Venue) Cancel(ctx context.Context, venueAccount string, o tvbridge.VenueOrder) error {
	if err := v.checkAccount(venueAccount); err != nil {
		return err
	}
	if v.reportedFinal(venueAccount, o) {
		return nil // its events said how it ended
	}
	t := v.adopt(venueAccount, o, false)
	id, idType, _ := v.idsOf(t)
	_, err := v.client.CancelOrder(ctx, venueAccount, id, idType)
	if err != nil {
		if !cancelMayBeFinal(err) {
			v.logErr("cancel failed", err, "order", o.ID, "account", venueAccount, "tinvest_order", id)
			return venueError("cancel order "+o.ID, err)
		}
		// Already filled, cancelled or unknown? The order's state says.
		st, serr := v.client.OrderState(ctx, venueAccount, id, idType)
		switch {
		case serr == nil && !st.ExecutionReportStatus.Final():
			v.logErr("cancel refused for a working order", err, "order", o.ID, "tinvest_order", id)
			return venueError("cancel order "+o.ID, err)
		case serr != nil && !IsNotFound(serr):
			v.logErr("cancel failed", err, "order", o.ID, "tinvest_order", id)
			return venueError("cancel order "+o.ID, err)
		}
		v.log.Info("cancel: the order is already final or unknown on T-Invest", "order", o.ID, "tinvest_order", id,
			"x_tracking_id", trackingID(err))
	}
	v.mu.Lock()
	t.cancelSent = true
	v.mu.Unlock()
	v.fetchSoon(t.key)
	return nil
}

// reportedFinal reports whether the venue has reported o final.
func (v *Venue) reportedFinal(account string, o tvbridge.VenueOrder) bool {
	key := v.key(account, o.ID)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.orders[key] != nil {
		return false
	}
	_, byKey := v.done[key]
	_, byID := v.done[o.VenueRef]
	return byKey || (o.VenueRef != "" && byID)
}

// finalRef returns the order id of the order placed under key, if the
// venue has reported it final.
func (v *Venue) finalRef(key string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, ok := v.done[key]
	return f.ref, ok && f.ref != "" && v.orders[key] == nil
}

// Restore resumes following the orders that were working when the core
// stopped: those with a VenueRef by the service's order id, those the core
// was still placing by their idempotency key (the service tells whether
// they were placed). The next poll, made at once, reports what happened
// meanwhile; fills reported before the restart come again with the same
// ExecID, which the core applies once.
func (v *Venue) Restore(ctx context.Context, venueAccount string, orders []tvbridge.VenueOrder) error {
	if err := v.checkAccount(venueAccount); err != nil {
		return err
	}
	for _, o := range orders {
		if o.Qty <= 0 {
			v.log.Error("restored order has no quantity; not following it", "order", o.ID, "tinvest_order", o.VenueRef)
			continue
		}
		t := v.adopt(venueAccount, o, true)
		v.fetchSoon(t.key)
	}
	v.log.Info("orders restored", "account", venueAccount, "count", len(orders))
	return nil
}

// Replace changes the quantity and limit price of a working limit order in
// one call (ReplaceOrder) and returns the new order's VenueRef. next is the
// new generation of the order (its ID names it and derives the new
// idempotency key, so a retried Replace never places a second order);
// next.Qty is what it is to buy or sell from now on. The old generation
// ends with a cancellation event. The trading core's ModifyOrder cancels
// and resubmits instead (Cancel, then Submit of the new generation), which
// ends the same way; Replace is for a core that replaces in one call.
func (v *Venue) Replace(ctx context.Context, venueAccount string, old, next tvbridge.VenueOrder) (string, error) {
	if err := v.checkAccount(venueAccount); err != nil {
		return "", err
	}
	if next.Type != tvbridge.LimitOrder || old.FIGI != next.FIGI || old.Side != next.Side {
		return "", tvbridge.Errorf(tvbridge.ErrUnsupported, "", "only a limit order's quantity and price can be replaced")
	}
	inst, lots, err := v.checkOrder(next)
	if err != nil {
		return "", err
	}
	var prev *tracked // nil: the old generation was reported final (a retried Replace)
	oldID := old.VenueRef
	if !v.reportedFinal(venueAccount, old) {
		prev = v.adopt(venueAccount, old, false)
		_, _, oldID = v.idsOf(prev)
	}
	if oldID == "" {
		return "", tvbridge.Errorf(tvbridge.ErrVenue, "", "order %s has no T-Invest order id yet", old.ID)
	}
	key := v.key(venueAccount, next.ID)
	if ref, ok := v.finalRef(key); ok {
		return ref, nil
	}
	t := v.beginSubmit(venueAccount, next, key, inst, lots)
	resp, err := v.client.ReplaceOrder(ctx, venueAccount, oldID, key, lots, next.Limit, inst.MinPriceIncrement)
	if err != nil {
		te, maybePlaced := placeError(err, next, inst)
		v.endSubmit(t, maybePlaced)
		v.logErr("replace refused", err, "order", next.ID, "account", venueAccount, "tinvest_order", oldID)
		return "", te
	}
	if te := v.checkAnswer(resp, next, inst, lots, key); te != nil {
		v.endSubmit(t, false)
		return "", te
	}
	ref := v.placed(t, resp)
	if prev != nil {
		v.mu.Lock()
		prev.cancelSent = true
		v.mu.Unlock()
		v.fetchSoon(prev.key) // the old order's end, and fills that raced the replace
	}
	v.log.Info("order replaced", "order", next.ID, "account", venueAccount, "old_tinvest_order", oldID,
		"tinvest_order", resp.OrderID, "lots", lots, "limit", next.Limit)
	return ref, nil
}

// Events delivers fills, cancellations and rejections, in order per order.
// The channel is never closed; events queue up while nobody reads and
// while Run is not running.
func (v *Venue) Events() <-chan tvbridge.VenueEvent { return v.queue.Out() }

// Run follows the orders until ctx ends (then it returns nil) or the
// service refuses the token (then it returns the error, which says what to
// do): the order stream, with reconnects, and the polls.
func (v *Venue) Run(ctx context.Context) error {
	if !v.running.CompareAndSwap(false, true) {
		return errors.New("tinvest venue: Run is already running")
	}
	defer v.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.queue.Pump(ctx)
	}()
	fatal := make(chan error, 2)
	if !v.cfg.PollOnly && len(v.owner) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := v.runStream(ctx); err != nil {
				fatal <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := v.runPolls(ctx); err != nil {
			fatal <- err
		}
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-fatal:
		v.log.Error("tinvest venue stopped: the service refused the token; fix the token, retrying cannot help", "err", err)
		return fmt.Errorf("tinvest venue: %w", err)
	}
}

// StreamUp reports whether the order stream is subscribed now.
func (v *Venue) StreamUp() bool { return v.streamUp.Load() }

// checkAccount refuses accounts that no user is configured for.
func (v *Venue) checkAccount(id string) error {
	if _, ok := v.owner[id]; !ok {
		return tvbridge.Errorf(tvbridge.ErrUnknownAccount, "", "account %s is not configured for T-Invest trading", id)
	}
	return nil
}

// logErr logs a failed call with its x-tracking-id.
func (v *Venue) logErr(msg string, err error, args ...any) {
	args = append(args, "x_tracking_id", trackingID(err), "err", err)
	level := slog.LevelWarn
	if IsAuth(err) {
		level = slog.LevelError
	}
	v.log.Log(context.Background(), level, msg, args...)
}

// trackingID is the x-tracking-id of a service error, "" for others.
func trackingID(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.TrackingID
	}
	return ""
}

// instrumentRef names an instrument to the service: its uid, else FIGI.
func instrumentRef(inst tvbridge.Instrument) string {
	return cmp.Or(inst.UID, inst.FIGI)
}

func direction(s tvbridge.Side) wire.OrderDirection {
	if s == tvbridge.Sell {
		return wire.OrderDirectionSell
	}
	return wire.OrderDirectionBuy
}

func orderType(t tvbridge.OrderType) wire.OrderType {
	if t == tvbridge.LimitOrder {
		return wire.OrderTypeLimit
	}
	return wire.OrderTypeMarket
}

// wholeLots converts units to lots; ok is false unless qty is a positive
// whole number of lots.
func wholeLots(qty float64, lot int) (int64, bool) {
	if !(qty > 0) || math.IsInf(qty, 0) {
		return 0, false
	}
	lots := math.Round(qty / float64(lot))
	if lots < 1 || lots > 1e15 || math.Abs(lots*float64(lot)-qty) > 1e-9*max(1, qty) {
		return 0, false
	}
	return int64(lots), true
}

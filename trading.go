package tvbridge

import (
	"context"
	"fmt"
	"time"
)

// This file holds the trading domain: accounts, orders, positions and
// executions as TradingView's trading integration sees them, the Broker that
// the HTTP layer calls, and the Venue that executes orders for it.
//
// Quantities are in the instrument's units (shares, bonds, currency units),
// never in lots: a venue that trades lots converts. Prices are in the
// instrument's currency. Instruments are identified by FIGI; the HTTP layer
// maps TradingView symbol names to FIGIs.

// Side is the direction of an order, position or execution.
type Side string

// Sides, spelled as TradingView spells them.
const (
	Buy  Side = "buy"
	Sell Side = "sell"
)

// Opposite returns the other side.
func (s Side) Opposite() Side {
	if s == Buy {
		return Sell
	}
	return Buy
}

// Sign is +1 for buy and -1 for sell.
func (s Side) Sign() float64 {
	if s == Buy {
		return 1
	}
	return -1
}

// Valid reports whether s is buy or sell.
func (s Side) Valid() bool { return s == Buy || s == Sell }

// OrderType is the execution instruction of an order.
type OrderType string

// Order types, spelled as TradingView spells them.
const (
	MarketOrder    OrderType = "market"
	LimitOrder     OrderType = "limit"
	StopOrder      OrderType = "stop"
	StopLimitOrder OrderType = "stoplimit"
)

// Valid reports whether t is a known order type.
func (t OrderType) Valid() bool {
	switch t {
	case MarketOrder, LimitOrder, StopOrder, StopLimitOrder:
		return true
	}
	return false
}

// OrderStatus is where an order is in its life. Transitions go from the
// transitional statuses (placing, inactive, working) to a final one
// (filled, cancelled, rejected) and never out of a final one.
type OrderStatus string

// Order statuses, spelled as TradingView spells them.
const (
	OrderPlacing   OrderStatus = "placing"   // not yet acknowledged by the venue
	OrderInactive  OrderStatus = "inactive"  // a bracket waiting for its parent to fill
	OrderWorking   OrderStatus = "working"   // live, not fully filled
	OrderFilled    OrderStatus = "filled"    // final
	OrderCancelled OrderStatus = "cancelled" // final
	OrderRejected  OrderStatus = "rejected"  // final
)

// Final reports whether no further transition is possible.
func (s OrderStatus) Final() bool {
	return s == OrderFilled || s == OrderCancelled || s == OrderRejected
}

// ParentKind says what a bracket order protects.
type ParentKind string

// Parent kinds, spelled as TradingView spells them.
const (
	ParentOrder    ParentKind = "order"
	ParentPosition ParentKind = "position"
)

// Durations offered by every backend. DurationDay orders are cancelled at
// the end of the instrument's trading day; DurationGTC ones stay until
// cancelled.
const (
	DurationDay = "DAY"
	DurationGTC = "GTC"
)

// OrderDuration is an order's time in force.
type OrderDuration struct {
	Type  string    // DurationDay, DurationGTC, or another id from /config
	Until time.Time // for good-till-date types; zero otherwise
}

// Brackets are the protective orders attached to an order or a position.
// A zero price means no such bracket.
type Brackets struct {
	StopLoss   float64
	TakeProfit float64
	// TrailingStopPips > 0 makes the stop loss a trailing stop that keeps
	// this distance, in pips (price increments), from the best price since
	// it started working.
	TrailingStopPips float64
}

// Empty reports whether no bracket is set.
func (b Brackets) Empty() bool {
	return b.StopLoss == 0 && b.TakeProfit == 0 && b.TrailingStopPips == 0
}

// OrderRequest is a new order, or the new parameters of a working one.
type OrderRequest struct {
	// RequestID makes placing idempotent: a second request with the same id
	// from the same account returns the first result and places nothing.
	RequestID string
	FIGI      string
	Side      Side
	Type      OrderType
	Qty       float64 // units, a positive multiple of the instrument's lot
	// LimitPrice is required for limit and stop-limit orders, StopPrice for
	// stop and stop-limit orders; both are multiples of the price increment.
	LimitPrice float64
	StopPrice  float64
	Duration   OrderDuration
	Brackets   Brackets
}

// Order is an order and its current state.
type Order struct {
	ID        string
	AccountID string
	RequestID string
	FIGI      string
	Side      Side
	Type      OrderType
	Status    OrderStatus

	Qty        float64
	FilledQty  float64
	AvgPrice   float64 // average fill price; 0 before the first fill
	LimitPrice float64
	StopPrice  float64

	TrailingStopPips float64 // > 0 only for trailing stops
	Duration         OrderDuration

	// ParentID and ParentKind are set on brackets: the order or position
	// they protect. A bracket's OCO sibling, if any, is in SiblingID.
	ParentID   string
	ParentKind ParentKind
	SiblingID  string
	// Brackets requested on this (parent) order, created when it is placed.
	Brackets Brackets

	Created time.Time
	Updated time.Time // last change of any field

	// Message explains the latest status, e.g. why it was rejected or
	// cancelled. MessageKind is "information", "warning" or "error".
	Message     string
	MessageKind string
	// Refusal says why a rejected order was refused, when the reason is
	// known, so the HTTP layer can word Message in the trader's language.
	Refusal *Refusal
}

// Refusal is why an order was rejected: a TradingError's code, reason and
// params, without its cause, so it can be stored with the order.
type Refusal struct {
	Code   ErrorCode
	Field  string
	Reason Reason
	Params ErrorParams
}

// Position is the net holding of one instrument in an account. Its ID is
// stable for the life of the account and instrument.
type Position struct {
	ID        string
	AccountID string
	FIGI      string
	Side      Side
	Qty       float64 // > 0; a flat position is not listed
	AvgPrice  float64 // in Currency
	// Currency is the instrument's: the position settles in it, and its
	// P/L is booked in it.
	Currency string
	// CurrencyPL is the unrealized P/L in Currency, at the live bid (long)
	// or ask (short); UnrealizedPL is the same in the account currency at
	// the live exchange rate, as TradingView shows P/L (like an
	// instrument's pipValue), or CurrencyPL itself when no rate is known.
	CurrencyPL   float64
	UnrealizedPL float64
	// StopLossID and TakeProfitID are the position's bracket orders, if any.
	StopLossID   string
	TakeProfitID string
}

// Execution is one fill.
type Execution struct {
	ID         string
	AccountID  string
	OrderID    string
	PositionID string
	FIGI       string
	Side       Side
	Qty        float64
	Price      float64
	Commission float64 // in the instrument's currency
	Time       time.Time
	// IsClose reports that the fill reduced an existing position.
	IsClose bool
}

// AccountType is live or demo, as TradingView shows it.
type AccountType string

// Account types.
const (
	LiveAccount AccountType = "live"
	DemoAccount AccountType = "demo"
)

// Account is a trading account of one user.
type Account struct {
	ID       string
	Owner    string // Principal.User
	Name     string
	Type     AccountType
	Currency string // ISO code, e.g. "RUB": the currency totals are shown in
	// Currencies are the currencies the account holds cash in, Currency
	// first: it trades the instruments quoted in them, each settling in
	// its own. Not stored: the Broker fills it in from the balances.
	Currencies []string `json:"-"`
}

// AccountState is an account's money at one moment, consistent with its
// positions at that moment. The totals are in the account currency: each
// currency's figures converted at its Rate, leaving out currencies without
// one.
type AccountState struct {
	Balance      float64 // cash: deposits + realized P/L - commissions
	UnrealizedPL float64 // sum over open positions
	Equity       float64 // Balance + UnrealizedPL
	RealizedPL   float64 // since the account was opened
	Commissions  float64 // paid since the account was opened
	// MarginUsed is the value of open positions and of cash reserved for
	// working buy orders; MarginAvailable is what is left to trade with.
	MarginUsed      float64
	MarginAvailable float64
	// Currencies are the same figures per currency, in that currency, the
	// account currency first.
	Currencies []CurrencyState
}

// CurrencyState is an account's money in one currency. An order is paid
// for in its instrument's currency: it needs MarginAvailable there.
type CurrencyState struct {
	Currency        string
	Balance         float64
	UnrealizedPL    float64
	Equity          float64
	RealizedPL      float64
	Commissions     float64
	MarginUsed      float64
	MarginAvailable float64
	// Rate is the price of one unit of Currency in the account currency
	// the totals were converted at (1 for the account currency); 0 when
	// no rate is known, and then the totals leave this currency out.
	Rate float64
}

// Money is an amount in a currency.
type Money struct {
	Currency string // ISO code
	Amount   float64
}

// Rates converts between currencies at live exchange rates.
type Rates interface {
	// Rate returns the price of one unit of from in to; ok is false when
	// no rate is known. The rate of a currency to itself is 1.
	Rate(from, to string) (rate float64, ok bool)
}

// CurrencyPair is an instrument that prices one currency in another, such
// as USD000UTSTOM (Base USD, Quote RUB): its live price is an exchange rate.
type CurrencyPair struct {
	Base, Quote string
	FIGI        string
}

// OrderPreview estimates what placing an order would cost.
type OrderPreview struct {
	Price      float64 // estimated average fill price
	Cost       float64 // Qty * Price, in Currency
	Commission float64 // in Currency
	Currency   string  // the instrument's: the order is paid for in it
	// Warnings a trader should see before confirming, e.g. no liquidity.
	Warnings []string
}

// Broker is the trading side of tvbridge, one call per TradingView trading
// endpoint. Every method takes the authenticated user and refuses accounts
// that user does not own with ErrUnknownAccount, so one user can never read
// or change another's data. State changes are durable when they return.
type Broker interface {
	Accounts(ctx context.Context, user string) ([]Account, error)
	State(ctx context.Context, user, accountID string) (AccountState, error)

	// Orders lists working orders, and final ones from the current trading
	// session (at least the last minute).
	Orders(ctx context.Context, user, accountID string) ([]Order, error)
	// OrdersHistory lists final orders, newest first, at most maxCount.
	OrdersHistory(ctx context.Context, user, accountID string, maxCount int) ([]Order, error)
	PlaceOrder(ctx context.Context, user, accountID string, req OrderRequest) (Order, error)
	// ModifyOrder changes a working order's qty, prices, duration and
	// brackets; req.FIGI, Side and Type must match the order.
	ModifyOrder(ctx context.Context, user, accountID, orderID string, req OrderRequest) (Order, error)
	CancelOrder(ctx context.Context, user, accountID, orderID string) error
	PreviewOrder(ctx context.Context, user, accountID string, req OrderRequest) (OrderPreview, error)

	Positions(ctx context.Context, user, accountID string) ([]Position, error)
	// ModifyPosition sets (or, with zero prices, removes) a position's
	// brackets.
	ModifyPosition(ctx context.Context, user, accountID, positionID string, b Brackets) (Position, error)
	// ReversePosition turns a position into one of the same size on the
	// other side with a single market order.
	ReversePosition(ctx context.Context, user, accountID, positionID string) error
	// ClosePosition closes qty units of a position at market; qty 0 closes
	// all of it.
	ClosePosition(ctx context.Context, user, accountID, positionID string, qty float64) error

	// Executions lists fills, newest first, optionally of one instrument
	// (figi "" for all), at most maxCount.
	Executions(ctx context.Context, user, accountID, figi string, maxCount int) ([]Execution, error)
}

// ErrorCode classifies trading errors, so the HTTP layer can explain them in
// the trader's language.
type ErrorCode string

// Trading error codes.
const (
	ErrUnknownAccount    ErrorCode = "unknown_account"
	ErrUnknownInstrument ErrorCode = "unknown_instrument"
	ErrUnknownOrder      ErrorCode = "unknown_order"
	ErrUnknownPosition   ErrorCode = "unknown_position"
	ErrInvalidRequest    ErrorCode = "invalid_request"    // a field missing or malformed
	ErrInvalidQty        ErrorCode = "invalid_qty"        // not a positive multiple of the lot
	ErrInvalidPrice      ErrorCode = "invalid_price"      // missing, <= 0, or off the price grid
	ErrUnsupported       ErrorCode = "unsupported"        // order type, duration or feature not offered
	ErrOrderFinal        ErrorCode = "order_final"        // the order is already filled or cancelled
	ErrInsufficientFunds ErrorCode = "insufficient_funds" // not enough cash or position
	ErrMarketClosed      ErrorCode = "market_closed"      // the instrument is not trading now
	ErrNoMarketData      ErrorCode = "no_market_data"     // no live book to price or fill against
	ErrVenue             ErrorCode = "venue_error"        // the upstream broker refused or failed
	// ErrRequestReused is a requestId sent again with different order
	// parameters: it is neither a retry nor a new order.
	ErrRequestReused ErrorCode = "request_reused"
)

// TradingError is an error a trader can act on. Code is its broad class and
// Field names the offending request field, if any. Reason, when set, says
// exactly what is wrong and Params hold the values its explanation needs,
// so the HTTP layer can state the problem in the trader's language and
// terms (the instrument as TradingView names it). Detail is the same in
// English for logs, or, without a Reason, extra context such as a venue's
// message; Err is the cause, never shown to traders.
type TradingError struct {
	Code   ErrorCode
	Field  string
	Detail string
	Err    error
	Reason Reason
	Params ErrorParams
}

func (e *TradingError) Error() string {
	msg := string(e.Code)
	if e.Field != "" {
		msg += " (" + e.Field + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *TradingError) Unwrap() error { return e.Err }

// Errorf returns a TradingError with a formatted detail.
func Errorf(code ErrorCode, field, format string, args ...any) *TradingError {
	return &TradingError{Code: code, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Refusef returns a TradingError with a reason, its params and an English
// detail for logs.
func Refusef(code ErrorCode, reason Reason, field string, p ErrorParams, format string, args ...any) *TradingError {
	return &TradingError{Code: code, Field: field, Reason: reason, Params: p, Detail: fmt.Sprintf(format, args...)}
}

// LiveMarket is the latest market state the trading side prices and fills
// against. Trades come from the Tape (TickTrade entries).
type LiveMarket interface {
	// Book returns the latest order-book snapshot (quantities in lots) and
	// when it was received; ok is false when none has arrived.
	Book(figi string) (book OrderBook, at time.Time, ok bool)
	// Status returns the latest trading status (StatusUnknown when none).
	Status(figi string) TradeStatus
	// LastPrice returns the latest traded price.
	LastPrice(figi string) (price float64, at time.Time, ok bool)
}

// VenueOrder is a market or limit order as a Venue executes it. Stops,
// stop-limits and brackets never reach a venue: the trading core holds them
// and sends a market or limit order when they trigger.
type VenueOrder struct {
	ID        string // the core's order id; venues use it as their client order id
	AccountID string // the core's account id
	FIGI      string
	Side      Side
	Type      OrderType // MarketOrder or LimitOrder
	Qty       float64   // units
	Limit     float64   // LimitOrder only
	// VenueRef is the venue's own id for the order, returned by Submit and
	// kept by the core so Cancel and Restore can find it after a restart.
	VenueRef string
	// TapeSeen (cluster mode, TradeFeed venues) is the market-data log
	// position up to which trades have acted on the order: those before it
	// was sent, and those that filled it. Replayed trades up to it never
	// fill it again.
	TapeSeen uint64
}

// VenueEventKind says what happened to a venue order.
type VenueEventKind string

// Venue event kinds.
const (
	VenueFill      VenueEventKind = "fill"      // Qty at Price; more fills may follow
	VenueCancelled VenueEventKind = "cancelled" // no more fills; remaining qty is void
	VenueRejected  VenueEventKind = "rejected"  // the venue refused the order
)

// VenueEvent reports a change of a venue order. Fills carry an ExecID
// unique per venue, so a fill reported twice (after a reconnect or a
// restart) is applied once.
type VenueEvent struct {
	Kind       VenueEventKind
	OrderID    string // VenueOrder.ID
	ExecID     string // fills only
	Qty        float64
	Price      float64
	Commission float64
	Time       time.Time
	Reason     string // cancelled and rejected: why, in English
	// TapePos (TradeFeed venues) is the log position of the trade that
	// made a fill; 0 when unknown or not a trade's.
	TapePos uint64
}

// VenueAccount is an account a venue offers to a user.
type VenueAccount struct {
	ID       string // the venue's account id
	Name     string
	Type     AccountType
	Currency string
	// Cash is the starting cash per currency when the core first opens
	// the account. The account trades instruments quoted in these
	// currencies (and in Currency, even when it is not listed).
	Cash []Money
}

// Venue executes market and limit orders: the paper-trading engine, or a
// real broker's order API. It reports fills and venue-side cancellations
// through the events channel, in order per order.
type Venue interface {
	// Accounts returns the venue accounts the user may trade; a paper venue
	// opens one on first use.
	Accounts(ctx context.Context, user string) ([]VenueAccount, error)
	// Submit sends an order and returns the venue's reference once the
	// venue acknowledged it. A rejection is an error (a *TradingError with
	// ErrVenue, ErrInsufficientFunds, ErrMarketClosed, ...).
	Submit(ctx context.Context, venueAccount string, o VenueOrder) (venueRef string, err error)
	// Cancel cancels the rest of an order. Cancelling an order that has
	// meanwhile filled or been cancelled is not an error: its events say so.
	Cancel(ctx context.Context, venueAccount string, o VenueOrder) error
	// Restore hands back, after a restart, the orders that were working
	// when the core stopped; the venue resumes them (a paper venue rests
	// them again, a broker venue reconciles with its upstream and reports
	// fills it missed).
	Restore(ctx context.Context, venueAccount string, orders []VenueOrder) error
	// Events delivers fills and final states of submitted orders.
	Events() <-chan VenueEvent
	// Run runs the venue until ctx ends.
	Run(ctx context.Context) error
}

// TradeFeed is a Venue that matches the trades the trading core hands it,
// with their positions in the market-data log, rather than reading them
// from the tape itself. In a cluster the trading owner feeds it, so that a
// new owner can replay the trades its predecessor did not get to against
// the resting orders too (VenueOrder.TapeSeen keeps a replay from filling
// an order twice with one trade).
type TradeFeed interface {
	Trade(figi string, price, sizeLots float64, pos uint64)
}

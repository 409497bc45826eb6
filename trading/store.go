package trading

import (
	"context"
	"slices"
	"time"

	"tvbridge"
)

// Store keeps the trading state durably. The Manager loads it once, in New,
// and from then on commits every change as one Change. A Commit that
// returned nil must survive a crash (kill -9, power loss if the disk honours
// fsync); one that failed must leave no trace. Commits for different
// accounts may arrive concurrently.
type Store interface {
	Load(ctx context.Context) (Snapshot, error)
	Commit(ctx context.Context, c Change) error
}

// Snapshot is everything a Store holds.
type Snapshot struct {
	Seq        uint64 // the highest id sequence number ever committed
	Accounts   []AccountRecord
	Orders     []OrderRecord // any order; the Manager sorts them by Seq
	Positions  []PositionRecord
	Executions []ExecutionRecord
}

// Change is one atomic update: records to insert or overwrite, keyed by
// (AccountID, ID) for accounts and orders, (AccountID, FIGI) for positions
// and (AccountID, Seq) for executions. Nothing is ever deleted: final orders
// and flat positions stay, so ids stay unique and history stays complete.
type Change struct {
	// Seq is the id sequence after this change. Concurrent commits may
	// arrive out of order, so a store keeps the maximum it has seen.
	Seq        uint64
	Accounts   []AccountRecord
	Orders     []OrderRecord
	Positions  []PositionRecord
	Executions []ExecutionRecord
}

// Empty reports whether the change writes nothing.
func (c Change) Empty() bool {
	return len(c.Accounts) == 0 && len(c.Orders) == 0 && len(c.Positions) == 0 && len(c.Executions) == 0
}

// AccountRecord is an account and its money, per currency.
type AccountRecord struct {
	tvbridge.Account
	VenueAccount string // the venue's id for the account
	// Balances is the money per currency, the account currency first.
	Balances []CashRecord `json:",omitempty"`
	// Cash, RealizedPL and Commissions are the money of records written
	// when an account had one currency; loading moves them into Balances
	// (see migrateMoney), and records written since leave them out.
	Cash        float64 `json:",omitempty"`
	RealizedPL  float64 `json:",omitempty"`
	Commissions float64 `json:",omitempty"`
}

// CashRecord is an account's money in one currency: its cash balance is
// Deposit + RealizedPL - Commissions; positions are valued separately.
type CashRecord struct {
	Currency    string
	Deposit     float64 // starting cash the venue gave the account
	RealizedPL  float64 // realized P/L of the reducing fills of instruments in Currency
	Commissions float64 // commissions of the fills of instruments in Currency
}

// balance is the cash balance.
func (c CashRecord) balance() float64 { return c.Deposit + c.RealizedPL - c.Commissions }

// migrateMoney moves the money of a single-currency record into Balances.
func migrateMoney(rec *AccountRecord) {
	if len(rec.Balances) > 0 {
		return
	}
	rec.Balances = []CashRecord{{Currency: rec.Currency, Deposit: rec.Cash, RealizedPL: rec.RealizedPL, Commissions: rec.Commissions}}
	rec.Cash, rec.RealizedPL, rec.Commissions = 0, 0, 0
}

// OrderRecord is an order with the Manager's bookkeeping.
type OrderRecord struct {
	tvbridge.Order
	Seq uint64 // creation sequence; orders list in this order

	// StopLossID and TakeProfitID are the bracket orders created for this
	// (parent) order; they stay set after the brackets end, for history.
	StopLossID   string
	TakeProfitID string

	// Venue side. Gen counts submissions to the venue: a stop that
	// triggers, or a modified limit order (cancel/replace), is submitted
	// again under a new generation. VenueLive says the current generation
	// may still fill; VenueType, VenueQty and VenueLimit describe it.
	Gen        int
	VenueRef   string
	VenueLive  bool
	VenueType  tvbridge.OrderType
	VenueQty   float64
	VenueLimit float64
	// Replacing is set while a modification waits for the venue to confirm
	// the cancel of the current generation.
	Replacing bool
	// CancelRequested is when the Manager last asked the venue, on its own
	// account (OCO), to cancel the current generation.
	CancelRequested time.Time

	// Triggered is set, and committed, before a held stop or bracket is
	// submitted, so a trigger happens once even across a restart.
	Triggered bool
	// TrailBest is the best trade price since a trailing stop started
	// working: the highest for a sell stop, the lowest for a buy stop.
	TrailBest float64
	// TapeSeen (cluster mode) is the market-data log position the Manager
	// had reached when it last wrote the order: trades up to it never act
	// on the order again when a new owner replays the log (shared.go).
	TapeSeen uint64 `json:",omitempty"`

	ExpiresAt time.Time // DAY orders: end of the trading day; zero otherwise
	ListUntil time.Time // final orders: listed by Orders until then
	FinalSeq  uint64    // final orders: sequence when they became final

	ExecIDs    []string           // venue fills applied, for deduplication
	RejectCode tvbridge.ErrorCode // why placing failed, for idempotent replays
	// Request is the validated request that placed the order, kept when it
	// had a RequestID so that a retry (the same request again) can be told
	// from a reuse of the id for another order, also after modifications.
	// Orders stored before it was kept have none and are replayed unchecked.
	Request *tvbridge.OrderRequest `json:",omitempty"`
}

// Clone returns a copy that shares no mutable memory with r. Request and
// Refusal are shared: they are set once and never changed.
func (r OrderRecord) Clone() OrderRecord {
	r.ExecIDs = slices.Clone(r.ExecIDs)
	return r
}

// PositionRecord is the net holding of one instrument. It is kept when flat
// so the position id stays the same for the life of the account.
type PositionRecord struct {
	ID        string
	AccountID string
	FIGI      string
	// Currency is the instrument's, which the position settles in; set
	// when it is first opened (and, for records older than the field, on
	// load), so it stays right if the instrument leaves the catalogue.
	Currency string  `json:",omitempty"`
	Qty      float64 // signed units: > 0 long, < 0 short, 0 flat
	AvgPrice float64
	// StopLossID and TakeProfitID are the position's working brackets.
	StopLossID   string
	TakeProfitID string
}

// ExecutionRecord is a fill; Seq orders executions and keys them in a store.
type ExecutionRecord struct {
	tvbridge.Execution
	Seq uint64
}

package tvbridge

// Reason says exactly what is wrong with a trading request, so that the
// HTTP layer can say it in the trader's language and terms rather than
// give the broad ErrorCode's headline. Each constant's comment names the
// ErrorParams it sets; TradingError.Field names the request field where it
// matters.
type Reason string

// Reasons about the request's own fields.
const (
	ReasonSide          Reason = "side"           // side is neither buy nor sell
	ReasonOrderType     Reason = "order_type"     // type is not a known order type
	ReasonQtyPositive   Reason = "qty_positive"   // the quantity is not a positive number
	ReasonQtyTooLarge   Reason = "qty_too_large"  // Value: the quantity
	ReasonQtyLot        Reason = "qty_lot"        // FIGI; Value: the quantity; Lot
	ReasonPricePositive Reason = "price_positive" // Field: the price that is not a positive number
	ReasonPriceStep     Reason = "price_step"     // Field; FIGI; Value: the price; Step
	ReasonPriceRequired Reason = "price_required" // Field: the missing price; OrderType
	ReasonDuration      Reason = "duration"       // Text: the duration id asked for
	ReasonTrailingPips  Reason = "trailing_pips"  // the trailing distance is not a positive number
	ReasonTrailingStep  Reason = "trailing_step"  // FIGI: trailing needs its price step, which is unknown
)

// Reasons about prices against the market, and the market itself.
const (
	// ReasonStopSide is a stop on the wrong side of the market, which would
	// trigger at once. Side: the order's; Price: the market price.
	ReasonStopSide Reason = "stop_side"
	// ReasonStopLossSide and ReasonTakeProfitSide are brackets on the wrong
	// side of what they protect. Side: the order's, or the position's (buy
	// for a long); Ref: what Price is.
	ReasonStopLossSide   Reason = "stop_loss_side"
	ReasonTakeProfitSide Reason = "take_profit_side"
	ReasonMarketClosed   Reason = "market_closed" // FIGI: not trading now
	ReasonNoPrice        Reason = "no_price"      // FIGI: no live price for a market order
	ReasonStaleBook      Reason = "stale_book"    // FIGI: the order book is too old to fill against
	ReasonNoLiquidity    Reason = "no_liquidity"  // FIGI: the book's other side is empty
)

// Reasons about money and positions.
const (
	// ReasonCurrency is an instrument quoted in a currency the account
	// holds no cash in. FIGI; Currency: the instrument's.
	ReasonCurrency Reason = "currency"
	// ReasonFunds is an order that needs more cash than is available in
	// the instrument's currency. Currency; Need; Have.
	ReasonFunds Reason = "funds"
	// ReasonCloseAmount is an amount to close that is not positive or
	// larger than the position. Value: the position's quantity.
	ReasonCloseAmount Reason = "close_amount"
)

// Reasons about changing orders, and repeating requests.
const (
	ReasonOrderFinal       Reason = "order_final"       // Status: the order's final status
	ReasonFixedField       Reason = "fixed_field"       // Field: instrument, side or type, which cannot change
	ReasonBelowFilled      Reason = "below_filled"      // Value: the quantity already filled
	ReasonTriggered        Reason = "triggered"         // a triggered stop's stop price cannot change
	ReasonAtMarket         Reason = "at_market"         // the quantity of an order executing at market cannot change
	ReasonBusy             Reason = "busy"              // a modification of the order is still under way
	ReasonPending          Reason = "pending"           // the venue has not confirmed the order yet
	ReasonNotReplaced      Reason = "not_replaced"      // the venue did not confirm the cancel of the old order
	ReasonBracketQty       Reason = "bracket_qty"       // Value: the parent's quantity, which a bracket's follows
	ReasonBracketExecuting Reason = "bracket_executing" // Field: stopLoss, takeProfit, or "" for the bracket itself
	ReasonBracketDuration  Reason = "bracket_duration"  // brackets are good till cancelled
	// ReasonRequestReused is a requestId seen before with other order
	// parameters. Field: the first that differs; Text: the requestId.
	ReasonRequestReused Reason = "request_reused"
)

// PriceRef says what price a bracket must be on the right side of.
type PriceRef string

// Price references.
const (
	RefLimit    PriceRef = "limit"    // the order's limit price
	RefStop     PriceRef = "stop"     // the order's stop price
	RefMarket   PriceRef = "market"   // the price a market order is expected to fill at
	RefCurrent  PriceRef = "current"  // the market price now, for an order already partly filled
	RefPosition PriceRef = "position" // the market price now, for a position's brackets
)

// ErrorParams are the values a Reason's explanation refers to; each Reason
// says which it sets. Money is in Currency, prices in the instrument's.
type ErrorParams struct {
	FIGI      string // the instrument, shown under its TradingView name
	Side      Side
	Ref       PriceRef
	Price     float64 // a price the request must respect
	Value     float64 // the number at fault, or the limit it broke
	Lot       float64 // units per lot
	Step      float64 // price increment
	Currency  string
	Need      float64
	Have      float64
	OrderType OrderType
	Status    OrderStatus
	Text      string // an identifier as the request gave it
}

// Package tvbridge holds the domain types of the bridge: instruments, candles,
// order books, trading status and the market-data events an upstream delivers.
//
// Subpackages implement these types for one technology each (tinkoff for the
// upstream protocol, sim for the simulated exchange, and so on) and talk to each
// other only through what is defined here. cmd/tvbridge wires them together.
package tvbridge

import (
	"context"
	"fmt"
	"time"
)

// InstrumentType is the kind of security, as the upstream catalogue names it.
type InstrumentType string

// Instrument types. The values match the Tinkoff v1 catalogue.
const (
	Stock    InstrumentType = "Stock"
	Bond     InstrumentType = "Bond"
	ETF      InstrumentType = "Etf"
	Currency InstrumentType = "Currency"
)

// Instrument is one tradable security.
//
// Exchange, Timezone and Session are not part of the Tinkoff v1 catalogue; the
// upstream adapter fills them from extension fields when the upstream provides
// them (the simulator does) and from configured defaults otherwise.
type Instrument struct {
	FIGI              string
	Ticker            string
	ISIN              string
	Name              string
	Type              InstrumentType
	Currency          string  // ISO code, e.g. "RUB"
	Lot               int     // securities per lot
	MinPriceIncrement float64 // price step; 0 when unknown
	MinQuantity       int

	Exchange string // venue name, uppercase, e.g. "MOEX"
	Timezone string // IANA name, e.g. "Europe/Moscow"
	Session  string // TradingView session string in Timezone, e.g. "1000-1840:23456" or "24x7"

	// Identifiers and facts only some upstreams give (T-Invest API v2);
	// empty or zero elsewhere.
	UID         string    // the upstream's own instrument id
	ClassCode   string    // the exchange's board, e.g. "TQBR"
	FirstMinute time.Time // the first 1-minute candle the upstream has; zero when unknown
}

// CandleInterval names a candle length using the upstream's spelling.
type CandleInterval string

// Candle intervals. Interval2Hour and Interval4Hour exist on the stream only.
const (
	Interval1Min  CandleInterval = "1min"
	Interval2Min  CandleInterval = "2min"
	Interval3Min  CandleInterval = "3min"
	Interval5Min  CandleInterval = "5min"
	Interval10Min CandleInterval = "10min"
	Interval15Min CandleInterval = "15min"
	Interval30Min CandleInterval = "30min"
	IntervalHour  CandleInterval = "hour"
	Interval2Hour CandleInterval = "2hour"
	Interval4Hour CandleInterval = "4hour"
	IntervalDay   CandleInterval = "day"
	IntervalWeek  CandleInterval = "week"
	IntervalMonth CandleInterval = "month"
)

// Duration returns the fixed length of intraday intervals, and 0 for day,
// week and month, whose length depends on the calendar.
func (i CandleInterval) Duration() time.Duration {
	switch i {
	case Interval1Min:
		return time.Minute
	case Interval2Min:
		return 2 * time.Minute
	case Interval3Min:
		return 3 * time.Minute
	case Interval5Min:
		return 5 * time.Minute
	case Interval10Min:
		return 10 * time.Minute
	case Interval15Min:
		return 15 * time.Minute
	case Interval30Min:
		return 30 * time.Minute
	case IntervalHour:
		return time.Hour
	case Interval2Hour:
		return 2 * time.Hour
	case Interval4Hour:
		return 4 * time.Hour
	}
	return 0
}

// Valid reports whether i is one of the known intervals.
func (i CandleInterval) Valid() bool {
	switch i {
	case IntervalDay, IntervalWeek, IntervalMonth:
		return true
	}
	return i.Duration() > 0
}

// Candle is an OHLCV candle. Time is the start of the interval, in UTC.
// Volume is in lots, as the upstream reports it.
type Candle struct {
	FIGI     string
	Interval CandleInterval
	Time     time.Time
	Open     float64
	High     float64
	Low      float64
	Close    float64
	Volume   float64
}

// PriceLevel is one level of an order book.
type PriceLevel struct {
	Price    float64
	Quantity float64 // in lots
}

// OrderBook is a full snapshot of the book up to Depth levels, best first.
type OrderBook struct {
	FIGI  string
	Depth int
	Bids  []PriceLevel
	Asks  []PriceLevel

	// REST snapshots carry these; stream snapshots leave them zero.
	TradeStatus       TradeStatus
	MinPriceIncrement float64
	LastPrice         float64
	ClosePrice        float64
}

// TradeStatus is an instrument's trading status, normalised to the stream's
// snake_case spelling whichever API it came from.
type TradeStatus string

// Trading statuses, as the Tinkoff v1 stream spells them.
const (
	StatusUnknown                 TradeStatus = ""
	StatusBreakInTrading          TradeStatus = "break_in_trading"
	StatusNormalTrading           TradeStatus = "normal_trading"
	StatusNotAvailableForTrading  TradeStatus = "not_available_for_trading"
	StatusClosingAuction          TradeStatus = "closing_auction"
	StatusClosingPeriod           TradeStatus = "closing_period"
	StatusDiscreteAuction         TradeStatus = "discrete_auction"
	StatusOpeningPeriod           TradeStatus = "opening_period"
	StatusTradingAtClosingAuction TradeStatus = "trading_at_closing_auction_price"
	StatusDealerNormalTrading     TradeStatus = "dealer_normal_trading"
	StatusDealerBreakInTrading    TradeStatus = "dealer_break_in_trading"
	StatusDealerNotAvailable      TradeStatus = "dealer_not_available_for_trading"
	StatusOpeningAuction          TradeStatus = "opening_auction"
	StatusSessionAssigned         TradeStatus = "session_assigned"
	StatusSessionClose            TradeStatus = "session_close"
	StatusSessionOpen             TradeStatus = "session_open"
)

// Trading reports whether trades are expected in this status. A quiet
// instrument in any other status is not an outage.
func (s TradeStatus) Trading() bool {
	switch s {
	case StatusNormalTrading, StatusDealerNormalTrading, StatusClosingAuction,
		StatusOpeningAuction, StatusDiscreteAuction, StatusTradingAtClosingAuction,
		StatusClosingPeriod, StatusOpeningPeriod:
		return true
	}
	return false
}

// InstrumentInfo is the upstream's instrument_info event.
type InstrumentInfo struct {
	FIGI              string
	TradeStatus       TradeStatus
	MinPriceIncrement float64
	Lot               float64
	AccruedInterest   float64 // 0 when absent
	LimitUp           float64 // 0 when absent
	LimitDown         float64 // 0 when absent
}

// Subscription identifies one upstream stream subscription.
type Subscription struct {
	Kind     SubscriptionKind
	FIGI     string
	Interval CandleInterval // candles only
	Depth    int            // order books only, 1..20
}

// SubscriptionKind is the data type of a subscription.
type SubscriptionKind string

// Subscription kinds, named as the Tinkoff v1 events.
const (
	SubCandle         SubscriptionKind = "candle"
	SubOrderBook      SubscriptionKind = "orderbook"
	SubInstrumentInfo SubscriptionKind = "instrument_info"
	SubTrade          SubscriptionKind = "trade" // the exchange's trades (upstreams that have them)
)

func (s Subscription) String() string {
	switch s.Kind {
	case SubCandle:
		return fmt.Sprintf("candle:%s:%s", s.FIGI, s.Interval)
	case SubOrderBook:
		return fmt.Sprintf("orderbook:%s:%d", s.FIGI, s.Depth)
	}
	return fmt.Sprintf("%s:%s", s.Kind, s.FIGI)
}

// EventMeta is what every market-data event carries besides its payload.
type EventMeta struct {
	ServerTime time.Time // upstream send time; zero when the frame had none
	Received   time.Time // when the frame was read off the socket (tvbridge clock)
}

// Event is a market-data event from an upstream: one of *CandleEvent,
// *OrderBookEvent, *InstrumentInfoEvent, *TradeEvent or *ErrorEvent.
type Event interface {
	Meta() EventMeta
}

// CandleEvent is an update of a (usually still forming) candle.
type CandleEvent struct {
	EventMeta
	Candle Candle
}

// OrderBookEvent is an order-book snapshot.
type OrderBookEvent struct {
	EventMeta
	Book OrderBook
}

// InstrumentInfoEvent carries trading status and instrument parameters.
type InstrumentInfoEvent struct {
	EventMeta
	Info InstrumentInfo
}

// Trade is one trade on the exchange. Quantity is in lots, as the upstream
// reports volumes; Time is the exchange's.
type Trade struct {
	FIGI     string
	Time     time.Time
	Price    float64
	Quantity float64
}

// TradeEvent is a trade from an upstream that streams the exchange's trades.
type TradeEvent struct {
	EventMeta
	Trade Trade
}

// ErrorEvent is an upstream error matched back, where possible, to the
// subscription whose request caused it.
type ErrorEvent struct {
	EventMeta
	Message      string
	RequestID    string
	Subscription *Subscription // nil when it could not be matched
}

func (e *CandleEvent) Meta() EventMeta         { return e.EventMeta }
func (e *OrderBookEvent) Meta() EventMeta      { return e.EventMeta }
func (e *InstrumentInfoEvent) Meta() EventMeta { return e.EventMeta }
func (e *ErrorEvent) Meta() EventMeta          { return e.EventMeta }
func (e *TradeEvent) Meta() EventMeta          { return e.EventMeta }

// MarketData is what the bridge needs from an upstream market-data provider.
type MarketData interface {
	// Instruments returns the whole catalogue.
	Instruments(ctx context.Context) ([]Instrument, error)
	// Candles returns the closed candles that start in [from, to).
	Candles(ctx context.Context, figi string, from, to time.Time, interval CandleInterval) ([]Candle, error)
	// OrderBook returns a snapshot of the book.
	OrderBook(ctx context.Context, figi string, depth int) (OrderBook, error)

	// Subscribe and Unsubscribe change the desired set of stream
	// subscriptions; the provider keeps it established across reconnects.
	Subscribe(subs ...Subscription)
	Unsubscribe(subs ...Subscription)
	// Events delivers stream events. It is never closed while the provider runs.
	Events() <-chan Event
}

// Package wire holds the JSON shapes of the Tinkoff Invest OpenAPI v1
// protocol, shared by the client (package tinkoff) and the simulated exchange
// (package sim) so both sides agree on one definition of the wire format.
//
// Field names follow the protocol exactly: snake_case on the stream, camelCase
// on REST. Counts the swagger types as int32 in market data (lot,
// minQuantity, total, candle volume, book quantity and depth) are float64
// here: the service was seen writing them as 12.0 or 1.2E+2, which
// encoding/json refuses to put into an int. Whole values still encode as
// plain integers. Reference: ../shared/docs/tinkoff-openapi-v1.md.
package wire

import "encoding/json"

// Paths of the protocol, relative to the service root.
const (
	StreamPath  = "/openapi/md/v1/md-openapi/ws"
	RESTPrefix  = "/openapi"
	SandboxBase = "/openapi/sandbox"
)

// Stream event names.
const (
	EventCandle         = "candle"
	EventOrderBook      = "orderbook"
	EventInstrumentInfo = "instrument_info"
	EventError          = "error"
)

// StreamRequest is a client-to-server frame, e.g.
// {"event":"orderbook:unsubscribe","figi":"BBG...","depth":20,"request_id":"7"}.
// Depth is an integer on the wire: the server rejects a quoted depth.
type StreamRequest struct {
	Event     string `json:"event"`
	FIGI      string `json:"figi"`
	Interval  string `json:"interval,omitempty"`
	Depth     int    `json:"depth,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// StreamEnvelope is a server-to-client frame. Time is the server's send
// time in RFC3339 with (possibly trimmed) nanoseconds; old servers omit it.
type StreamEnvelope struct {
	Event   string          `json:"event"`
	Time    string          `json:"time,omitempty"`
	Payload json.RawMessage `json:"payload"`
}

// CandlePayload is the payload of a candle event. Time is the interval start.
type CandlePayload struct {
	O        float64 `json:"o"`
	C        float64 `json:"c"`
	H        float64 `json:"h"`
	L        float64 `json:"l"`
	V        float64 `json:"v"`
	Time     string  `json:"time"`
	Interval string  `json:"interval"`
	FIGI     string  `json:"figi"`
}

// OrderBookPayload is a full book snapshot; levels are [price, quantity].
type OrderBookPayload struct {
	FIGI  string       `json:"figi"`
	Depth int          `json:"depth"`
	Bids  [][2]float64 `json:"bids"`
	Asks  [][2]float64 `json:"asks"`
}

// InstrumentInfoPayload carries the snake_case trade status.
type InstrumentInfoPayload struct {
	FIGI              string   `json:"figi"`
	TradeStatus       string   `json:"trade_status"`
	MinPriceIncrement float64  `json:"min_price_increment"`
	Lot               float64  `json:"lot"`
	AccruedInterest   *float64 `json:"accrued_interest,omitempty"`
	LimitUp           *float64 `json:"limit_up,omitempty"`
	LimitDown         *float64 `json:"limit_down,omitempty"`
}

// ErrorPayload is the payload of an error event.
type ErrorPayload struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// Envelope is every REST response: {"trackingId","status","payload"}.
// Status is "Ok" or "Error"; compare it case-insensitively.
type Envelope struct {
	TrackingID string          `json:"trackingId"`
	Status     string          `json:"status"`
	Payload    json.RawMessage `json:"payload"`
}

// ErrorBody is the payload of an error envelope.
type ErrorBody struct {
	Message string `json:"message"`
	Code    string `json:"code"`
}

// MarketInstrument is one catalogue entry. Exchange, Timezone and Session
// are tvbridge extensions the simulator sends; the real service never did,
// and other clients ignore them as unknown fields.
type MarketInstrument struct {
	FIGI              string  `json:"figi"`
	Ticker            string  `json:"ticker"`
	ISIN              string  `json:"isin,omitempty"`
	MinPriceIncrement float64 `json:"minPriceIncrement,omitempty"`
	Lot               float64 `json:"lot"`
	MinQuantity       float64 `json:"minQuantity,omitempty"`
	Currency          string  `json:"currency,omitempty"`
	Name              string  `json:"name"`
	Type              string  `json:"type"`

	Exchange string `json:"exchange,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Session  string `json:"session,omitempty"`
}

// MarketInstrumentList is the payload of /market/stocks|bonds|etfs|currencies
// and /market/search/by-ticker.
type MarketInstrumentList struct {
	Total       float64            `json:"total"`
	Instruments []MarketInstrument `json:"instruments"`
}

// Candle is one REST candle.
type Candle struct {
	FIGI     string  `json:"figi"`
	Interval string  `json:"interval"`
	O        float64 `json:"o"`
	C        float64 `json:"c"`
	H        float64 `json:"h"`
	L        float64 `json:"l"`
	V        float64 `json:"v"`
	Time     string  `json:"time"`
}

// Candles is the payload of /market/candles.
type Candles struct {
	FIGI     string   `json:"figi"`
	Interval string   `json:"interval"`
	Candles  []Candle `json:"candles"`
}

// OrderResponse is one level of a REST order book.
type OrderResponse struct {
	Price    float64 `json:"price"`
	Quantity float64 `json:"quantity"`
}

// Orderbook is the payload of /market/orderbook. TradeStatus is CamelCase
// here ("NormalTrading"), unlike the stream.
type Orderbook struct {
	FIGI              string          `json:"figi"`
	Depth             float64         `json:"depth"`
	Bids              []OrderResponse `json:"bids"`
	Asks              []OrderResponse `json:"asks"`
	TradeStatus       string          `json:"tradeStatus"`
	MinPriceIncrement float64         `json:"minPriceIncrement"`
	FaceValue         *float64        `json:"faceValue,omitempty"`
	LastPrice         *float64        `json:"lastPrice,omitempty"`
	ClosePrice        *float64        `json:"closePrice,omitempty"`
	LimitUp           *float64        `json:"limitUp,omitempty"`
	LimitDown         *float64        `json:"limitDown,omitempty"`
}

// MoneyAmount is a value in a currency.
type MoneyAmount struct {
	Currency string  `json:"currency"`
	Value    float64 `json:"value"`
}

// LimitOrderRequest is the body of /orders/limit-order.
type LimitOrderRequest struct {
	Lots      int     `json:"lots"`
	Operation string  `json:"operation"` // Buy | Sell
	Price     float64 `json:"price"`
}

// MarketOrderRequest is the body of /orders/market-order.
type MarketOrderRequest struct {
	Lots      int    `json:"lots"`
	Operation string `json:"operation"`
}

// PlacedOrder is the payload of limit-order and market-order.
type PlacedOrder struct {
	OrderID       string       `json:"orderId"`
	Operation     string       `json:"operation"`
	Status        string       `json:"status"`
	RejectReason  string       `json:"rejectReason,omitempty"`
	Message       string       `json:"message,omitempty"`
	RequestedLots int          `json:"requestedLots"`
	ExecutedLots  int          `json:"executedLots"`
	Commission    *MoneyAmount `json:"commission,omitempty"`
}

// Order is one entry of GET /orders (whose payload is a bare array).
type Order struct {
	OrderID       string  `json:"orderId"`
	FIGI          string  `json:"figi"`
	Operation     string  `json:"operation"`
	Status        string  `json:"status"`
	RequestedLots int     `json:"requestedLots"`
	ExecutedLots  int     `json:"executedLots"`
	Type          string  `json:"type"` // Limit | Market
	Price         float64 `json:"price"`
}

// PortfolioPosition is one position of GET /portfolio.
type PortfolioPosition struct {
	FIGI                      string       `json:"figi"`
	Ticker                    string       `json:"ticker,omitempty"`
	ISIN                      string       `json:"isin,omitempty"`
	InstrumentType            string       `json:"instrumentType"`
	Balance                   float64      `json:"balance"`
	Blocked                   float64      `json:"blocked,omitempty"`
	ExpectedYield             *MoneyAmount `json:"expectedYield,omitempty"`
	Lots                      int          `json:"lots"`
	AveragePositionPrice      *MoneyAmount `json:"averagePositionPrice,omitempty"`
	AveragePositionPriceNoNkd *MoneyAmount `json:"averagePositionPriceNoNkd,omitempty"`
	Name                      string       `json:"name"`
}

// Portfolio is the payload of GET /portfolio.
type Portfolio struct {
	Positions []PortfolioPosition `json:"positions"`
}

// CurrencyPosition is one entry of GET /portfolio/currencies.
type CurrencyPosition struct {
	Currency string  `json:"currency"`
	Balance  float64 `json:"balance"`
	Blocked  float64 `json:"blocked,omitempty"`
}

// Currencies is the payload of GET /portfolio/currencies.
type Currencies struct {
	Currencies []CurrencyPosition `json:"currencies"`
}

// OperationTrade is one fill of an operation.
type OperationTrade struct {
	TradeID  string  `json:"tradeId"`
	Date     string  `json:"date"`
	Price    float64 `json:"price"`
	Quantity int     `json:"quantity"`
}

// Operation is one entry of GET /operations.
type Operation struct {
	ID               string           `json:"id"`
	Status           string           `json:"status"` // Done | Decline | Progress
	Trades           []OperationTrade `json:"trades,omitempty"`
	Commission       *MoneyAmount     `json:"commission,omitempty"`
	Currency         string           `json:"currency"`
	Payment          float64          `json:"payment"`
	Price            float64          `json:"price,omitempty"`
	Quantity         int              `json:"quantity,omitempty"`
	QuantityExecuted int              `json:"quantityExecuted,omitempty"`
	FIGI             string           `json:"figi,omitempty"`
	InstrumentType   string           `json:"instrumentType,omitempty"`
	IsMarginCall     bool             `json:"isMarginCall"`
	Date             string           `json:"date"`
	OperationType    string           `json:"operationType,omitempty"`
}

// Operations is the payload of GET /operations.
type Operations struct {
	Operations []Operation `json:"operations"`
}

// UserAccount is one entry of GET /user/accounts.
type UserAccount struct {
	BrokerAccountType string `json:"brokerAccountType"`
	BrokerAccountID   string `json:"brokerAccountId"`
}

// UserAccounts is the payload of GET /user/accounts.
type UserAccounts struct {
	Accounts []UserAccount `json:"accounts"`
}

// SandboxRegisterRequest is the optional body of /sandbox/register.
type SandboxRegisterRequest struct {
	BrokerAccountType string `json:"brokerAccountType,omitempty"`
}

// SandboxAccount is the payload of /sandbox/register.
type SandboxAccount = UserAccount

// SandboxSetCurrencyBalanceRequest is the body of /sandbox/currencies/balance.
type SandboxSetCurrencyBalanceRequest struct {
	Currency string  `json:"currency"`
	Balance  float64 `json:"balance"`
}

// SandboxSetPositionBalanceRequest is the body of /sandbox/positions/balance.
type SandboxSetPositionBalanceRequest struct {
	FIGI    string  `json:"figi"`
	Balance float64 `json:"balance"`
}

// TimeLayout is how REST and stream times are written: RFC3339 with
// nanoseconds, trailing zeros trimmed, in UTC with a Z suffix.
const TimeLayout = "2006-01-02T15:04:05.999999999Z07:00"

// RESTTradeStatus maps the stream's snake_case trade status to REST's
// CamelCase spelling (REST only documents NormalTrading and NotAvailableForTrading).
func RESTTradeStatus(stream string) string {
	if stream == "normal_trading" || stream == "dealer_normal_trading" {
		return "NormalTrading"
	}
	return "NotAvailableForTrading"
}

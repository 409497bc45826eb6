package wire

// MarketDataRequest is one client frame of MarketDataStream: exactly one
// member is set, e.g.
//
//	{"subscribeCandlesRequest":{"subscriptionAction":"SUBSCRIPTION_ACTION_SUBSCRIBE",
//	  "instruments":[{"instrumentId":"<uid>","interval":"SUBSCRIPTION_INTERVAL_ONE_MINUTE"}],
//	  "waitingClose":false}}
//
// Each subscribe request takes a list of instruments; the service answers
// it with one subscribe...Response carrying a status per instrument.
type MarketDataRequest struct {
	SubscribeCandlesRequest   *SubscribeCandlesRequest   `json:"subscribeCandlesRequest,omitempty"`
	SubscribeOrderBookRequest *SubscribeOrderBookRequest `json:"subscribeOrderBookRequest,omitempty"`
	SubscribeTradesRequest    *SubscribeTradesRequest    `json:"subscribeTradesRequest,omitempty"`
	SubscribeInfoRequest      *SubscribeInfoRequest      `json:"subscribeInfoRequest,omitempty"`
	SubscribeLastPriceRequest *SubscribeLastPriceRequest `json:"subscribeLastPriceRequest,omitempty"`
	GetMySubscriptions        *struct{}                  `json:"getMySubscriptions,omitempty"`
	Ping                      *PingRequest               `json:"ping,omitempty"`
	PingSettings              *PingDelaySettings         `json:"pingSettings,omitempty"`
}

// SubscribeCandlesRequest (un)subscribes candles.
type SubscribeCandlesRequest struct {
	SubscriptionAction SubscriptionAction `json:"subscriptionAction"`
	Instruments        []CandleInstrument `json:"instruments"`
	WaitingClose       bool               `json:"waitingClose"`
	CandleSourceType   CandleSource       `json:"candleSourceType,omitempty"`
}

// CandleInstrument is one instrument of a candle request; InstrumentID is a
// uid or a FIGI.
type CandleInstrument struct {
	InstrumentID string               `json:"instrumentId"`
	Interval     SubscriptionInterval `json:"interval"`
}

// SubscribeOrderBookRequest (un)subscribes order books.
type SubscribeOrderBookRequest struct {
	SubscriptionAction SubscriptionAction    `json:"subscriptionAction"`
	Instruments        []OrderBookInstrument `json:"instruments"`
}

// OrderBookInstrument is one instrument of a book request; Depth is 1, 10,
// 20, 30, 40 or 50.
type OrderBookInstrument struct {
	InstrumentID  string        `json:"instrumentId"`
	Depth         int32         `json:"depth"`
	OrderBookType OrderBookType `json:"orderBookType,omitempty"`
}

// SubscribeTradesRequest (un)subscribes trades.
type SubscribeTradesRequest struct {
	SubscriptionAction SubscriptionAction `json:"subscriptionAction"`
	Instruments        []InstrumentRef    `json:"instruments"`
	TradeSource        TradeSourceType    `json:"tradeSource,omitempty"`
	WithOpenInterest   bool               `json:"withOpenInterest,omitempty"`
}

// SubscribeInfoRequest (un)subscribes trading statuses.
type SubscribeInfoRequest struct {
	SubscriptionAction SubscriptionAction `json:"subscriptionAction"`
	Instruments        []InstrumentRef    `json:"instruments"`
}

// SubscribeLastPriceRequest (un)subscribes last prices.
type SubscribeLastPriceRequest struct {
	SubscriptionAction SubscriptionAction `json:"subscriptionAction"`
	Instruments        []InstrumentRef    `json:"instruments"`
}

// InstrumentRef names an instrument by uid or FIGI.
type InstrumentRef struct {
	InstrumentID string `json:"instrumentId"`
}

// PingRequest asks the server for a ping (not needed: it pings anyway).
type PingRequest struct {
	Time Timestamp `json:"time,omitzero"`
}

// PingDelaySettings sets the server's ping period: 5,000..180,000 ms,
// default 120,000.
type PingDelaySettings struct {
	PingDelayMs int32 `json:"pingDelayMs,omitempty"`
}

// MarketDataResponse is one server frame of MarketDataStream: exactly one
// member is set.
type MarketDataResponse struct {
	SubscribeCandlesResponse   *SubscribeCandlesResponse   `json:"subscribeCandlesResponse,omitempty"`
	SubscribeOrderBookResponse *SubscribeOrderBookResponse `json:"subscribeOrderBookResponse,omitempty"`
	SubscribeTradesResponse    *SubscribeTradesResponse    `json:"subscribeTradesResponse,omitempty"`
	SubscribeInfoResponse      *SubscribeInfoResponse      `json:"subscribeInfoResponse,omitempty"`
	SubscribeLastPriceResponse *SubscribeLastPriceResponse `json:"subscribeLastPriceResponse,omitempty"`
	Candle                     *Candle                     `json:"candle,omitempty"`
	Trade                      *Trade                      `json:"trade,omitempty"`
	Orderbook                  *OrderBook                  `json:"orderbook,omitempty"`
	TradingStatus              *TradingStatus              `json:"tradingStatus,omitempty"`
	Ping                       *Ping                       `json:"ping,omitempty"`
	LastPrice                  *LastPrice                  `json:"lastPrice,omitempty"`
	OpenInterest               *OpenInterest               `json:"openInterest,omitempty"`
}

// SubscribeCandlesResponse answers a candle request.
type SubscribeCandlesResponse struct {
	TrackingID           string               `json:"trackingId,omitempty"`
	CandlesSubscriptions []CandleSubscription `json:"candlesSubscriptions,omitempty"`
}

// CandleSubscription is one instrument's status.
type CandleSubscription struct {
	FIGI               string               `json:"figi,omitempty"`
	Interval           SubscriptionInterval `json:"interval,omitempty"`
	SubscriptionStatus SubscriptionStatus   `json:"subscriptionStatus,omitempty"`
	InstrumentUID      string               `json:"instrumentUid,omitempty"`
	WaitingClose       bool                 `json:"waitingClose,omitempty"`
	StreamID           string               `json:"streamId,omitempty"`
	SubscriptionID     string               `json:"subscriptionId,omitempty"`
	SubscriptionAction SubscriptionAction   `json:"subscriptionAction,omitempty"`
	CandleSourceType   CandleSource         `json:"candleSourceType,omitempty"`
}

// SubscribeOrderBookResponse answers a book request.
type SubscribeOrderBookResponse struct {
	TrackingID             string                  `json:"trackingId,omitempty"`
	OrderBookSubscriptions []OrderBookSubscription `json:"orderBookSubscriptions,omitempty"`
}

// OrderBookSubscription is one instrument's status.
type OrderBookSubscription struct {
	FIGI               string             `json:"figi,omitempty"`
	Depth              int32              `json:"depth,omitempty"`
	SubscriptionStatus SubscriptionStatus `json:"subscriptionStatus,omitempty"`
	InstrumentUID      string             `json:"instrumentUid,omitempty"`
	StreamID           string             `json:"streamId,omitempty"`
	SubscriptionID     string             `json:"subscriptionId,omitempty"`
	OrderBookType      OrderBookType      `json:"orderBookType,omitempty"`
	SubscriptionAction SubscriptionAction `json:"subscriptionAction,omitempty"`
}

// SubscribeTradesResponse answers a trades request.
type SubscribeTradesResponse struct {
	TrackingID         string              `json:"trackingId,omitempty"`
	TradeSubscriptions []TradeSubscription `json:"tradeSubscriptions,omitempty"`
	TradeSource        TradeSourceType     `json:"tradeSource,omitempty"`
}

// TradeSubscription is one instrument's status.
type TradeSubscription struct {
	FIGI               string             `json:"figi,omitempty"`
	SubscriptionStatus SubscriptionStatus `json:"subscriptionStatus,omitempty"`
	InstrumentUID      string             `json:"instrumentUid,omitempty"`
	StreamID           string             `json:"streamId,omitempty"`
	SubscriptionID     string             `json:"subscriptionId,omitempty"`
	WithOpenInterest   bool               `json:"withOpenInterest,omitempty"`
	SubscriptionAction SubscriptionAction `json:"subscriptionAction,omitempty"`
}

// SubscribeInfoResponse answers an info request.
type SubscribeInfoResponse struct {
	TrackingID        string             `json:"trackingId,omitempty"`
	InfoSubscriptions []InfoSubscription `json:"infoSubscriptions,omitempty"`
}

// InfoSubscription is one instrument's status (also used for last prices).
type InfoSubscription struct {
	FIGI               string             `json:"figi,omitempty"`
	SubscriptionStatus SubscriptionStatus `json:"subscriptionStatus,omitempty"`
	InstrumentUID      string             `json:"instrumentUid,omitempty"`
	StreamID           string             `json:"streamId,omitempty"`
	SubscriptionID     string             `json:"subscriptionId,omitempty"`
	SubscriptionAction SubscriptionAction `json:"subscriptionAction,omitempty"`
}

// SubscribeLastPriceResponse answers a last-price request.
type SubscribeLastPriceResponse struct {
	TrackingID             string             `json:"trackingId,omitempty"`
	LastPriceSubscriptions []InfoSubscription `json:"lastPriceSubscriptions,omitempty"`
}

// Candle is a stream candle update: prices per security, volume in lots,
// Time the interval's start, LastTradeTS the last trade in it.
type Candle struct {
	FIGI             string               `json:"figi,omitempty"`
	Interval         SubscriptionInterval `json:"interval,omitempty"`
	Open             Quotation            `json:"open"`
	High             Quotation            `json:"high"`
	Low              Quotation            `json:"low"`
	Close            Quotation            `json:"close"`
	Volume           Int64                `json:"volume"`
	Time             Timestamp            `json:"time"`
	LastTradeTS      Timestamp            `json:"lastTradeTs,omitzero"`
	InstrumentUID    string               `json:"instrumentUid,omitempty"`
	CandleSourceType CandleSource         `json:"candleSourceType,omitempty"`
}

// OrderBook is a stream book snapshot; an empty side is left out.
type OrderBook struct {
	FIGI          string        `json:"figi,omitempty"`
	Depth         int32         `json:"depth,omitempty"`
	IsConsistent  bool          `json:"isConsistent,omitempty"`
	Bids          []Order       `json:"bids,omitempty"`
	Asks          []Order       `json:"asks,omitempty"`
	Time          Timestamp     `json:"time,omitzero"`
	LimitUp       Quotation     `json:"limitUp,omitzero"`
	LimitDown     Quotation     `json:"limitDown,omitzero"`
	InstrumentUID string        `json:"instrumentUid,omitempty"`
	OrderBookType OrderBookType `json:"orderBookType,omitempty"`
}

// TradingStatus is a stream trading-status change.
type TradingStatus struct {
	FIGI                     string                `json:"figi,omitempty"`
	TradingStatus            SecurityTradingStatus `json:"tradingStatus,omitempty"`
	Time                     Timestamp             `json:"time,omitzero"`
	LimitOrderAvailableFlag  bool                  `json:"limitOrderAvailableFlag,omitempty"`
	MarketOrderAvailableFlag bool                  `json:"marketOrderAvailableFlag,omitempty"`
	InstrumentUID            string                `json:"instrumentUid,omitempty"`
}

// Ping is the server's keep-alive.
type Ping struct {
	Time            Timestamp `json:"time,omitzero"`
	StreamID        string    `json:"streamId,omitempty"`
	PingRequestTime Timestamp `json:"pingRequestTime,omitzero"`
}

// OpenInterest is a futures' open interest.
type OpenInterest struct {
	InstrumentUID string    `json:"instrumentUid,omitempty"`
	Time          Timestamp `json:"time,omitzero"`
	OpenInterest  Int64     `json:"openInterest"`
}

// OrderStateStreamRequest opens OrderStateStream (a server-side stream: the
// first and only client frame). PingDelayMillis is 1,000..120,000.
type OrderStateStreamRequest struct {
	Accounts        []string `json:"accounts,omitempty"`
	PingDelayMillis int32    `json:"pingDelayMillis,omitempty"`
}

// OrderStateStreamResponse is one frame of OrderStateStream.
type OrderStateStreamResponse struct {
	OrderState   *StreamOrderState     `json:"orderState,omitempty"`
	Ping         *Ping                 `json:"ping,omitempty"`
	Subscription *SubscriptionResponse `json:"subscription,omitempty"`
}

// SubscriptionResponse answers an OrderStateStream request.
type SubscriptionResponse struct {
	TrackingID string                   `json:"trackingId,omitempty"`
	Status     ResultSubscriptionStatus `json:"status,omitempty"`
	StreamID   string                   `json:"streamId,omitempty"`
	Accounts   []string                 `json:"accounts,omitempty"`
	Error      *ErrorDetail             `json:"error,omitempty"`
}

// ErrorDetail is a stream subscription's error.
type ErrorDetail struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// StreamOrderState is an order's state on OrderStateStream.
type StreamOrderState struct {
	OrderID               string                     `json:"orderId,omitempty"`
	OrderRequestID        string                     `json:"orderRequestId,omitempty"`
	ClientCode            string                     `json:"clientCode,omitempty"`
	CreatedAt             Timestamp                  `json:"createdAt,omitzero"`
	ExecutionReportStatus OrderExecutionReportStatus `json:"executionReportStatus,omitempty"`
	StatusInfo            string                     `json:"statusInfo,omitempty"` // e.g. CAUSE_CANCELLED_BY_CLIENT
	Ticker                string                     `json:"ticker,omitempty"`
	ClassCode             string                     `json:"classCode,omitempty"`
	LotSize               int32                      `json:"lotSize,omitempty"`
	Direction             OrderDirection             `json:"direction,omitempty"`
	TimeInForce           TimeInForceType            `json:"timeInForce,omitempty"`
	OrderType             OrderType                  `json:"orderType,omitempty"`
	AccountID             string                     `json:"accountId,omitempty"`
	InitialOrderPrice     MoneyValue                 `json:"initialOrderPrice,omitzero"`
	OrderPrice            MoneyValue                 `json:"orderPrice,omitzero"`
	Amount                *MoneyValue                `json:"amount,omitempty"`
	ExecutedOrderPrice    MoneyValue                 `json:"executedOrderPrice,omitzero"`
	Currency              string                     `json:"currency,omitempty"`
	LotsRequested         Int64                      `json:"lotsRequested,omitempty"`
	LotsExecuted          Int64                      `json:"lotsExecuted,omitempty"`
	LotsLeft              Int64                      `json:"lotsLeft,omitempty"`
	LotsCancelled         Int64                      `json:"lotsCancelled,omitempty"`
	Marker                string                     `json:"marker,omitempty"`
	Trades                []OrderTrade               `json:"trades,omitempty"`
	CompletionTime        Timestamp                  `json:"completionTime,omitzero"`
	Exchange              string                     `json:"exchange,omitempty"`
	InstrumentUID         string                     `json:"instrumentUid,omitempty"`
}

// OrderTrade is one fill of an order on the order streams; Quantity is in
// securities, not lots.
type OrderTrade struct {
	DateTime Timestamp `json:"dateTime,omitzero"`
	Price    Quotation `json:"price"`
	Quantity Int64     `json:"quantity"`
	TradeID  string    `json:"tradeId,omitempty"`
}

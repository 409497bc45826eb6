package wire

// GetCandlesRequest is the body of GetCandles. From/To are required; Limit
// caps the candles returned (see the interval table in the package tinvest
// docs).
type GetCandlesRequest struct {
	InstrumentID     string         `json:"instrumentId"`
	From             Timestamp      `json:"from"`
	To               Timestamp      `json:"to"`
	Interval         CandleInterval `json:"interval"`
	CandleSourceType CandleSource   `json:"candleSourceType,omitempty"`
	Limit            int32          `json:"limit,omitempty"`
}

// GetCandlesResponse is GetCandles' answer.
type GetCandlesResponse struct {
	Candles []HistoricCandle `json:"candles,omitempty"`
}

// HistoricCandle is a REST candle; prices per one security, volume in lots,
// Time the interval's start.
type HistoricCandle struct {
	Open         Quotation    `json:"open"`
	High         Quotation    `json:"high"`
	Low          Quotation    `json:"low"`
	Close        Quotation    `json:"close"`
	Volume       Int64        `json:"volume"`
	Time         Timestamp    `json:"time"`
	IsComplete   bool         `json:"isComplete,omitempty"`
	CandleSource CandleSource `json:"candleSource,omitempty"`
}

// GetOrderBookRequest is the body of GetOrderBook (depth 1..50).
type GetOrderBookRequest struct {
	InstrumentID string `json:"instrumentId"`
	Depth        int32  `json:"depth"`
}

// Order is one level of a book: price per security, quantity in lots.
type Order struct {
	Price    Quotation `json:"price"`
	Quantity Int64     `json:"quantity"`
}

// GetOrderBookResponse is GetOrderBook's answer.
type GetOrderBookResponse struct {
	FIGI          string    `json:"figi,omitempty"`
	Depth         int32     `json:"depth,omitempty"`
	Bids          []Order   `json:"bids,omitempty"`
	Asks          []Order   `json:"asks,omitempty"`
	LastPrice     Quotation `json:"lastPrice,omitzero"`
	ClosePrice    Quotation `json:"closePrice,omitzero"`
	LimitUp       Quotation `json:"limitUp,omitzero"`
	LimitDown     Quotation `json:"limitDown,omitzero"`
	LastPriceTS   Timestamp `json:"lastPriceTs,omitzero"`
	ClosePriceTS  Timestamp `json:"closePriceTs,omitzero"`
	OrderbookTS   Timestamp `json:"orderbookTs,omitzero"`
	InstrumentUID string    `json:"instrumentUid,omitempty"`
}

// GetTradingStatusRequest is the body of GetTradingStatus.
type GetTradingStatusRequest struct {
	InstrumentID string `json:"instrumentId"`
}

// GetTradingStatusesRequest is the body of GetTradingStatuses.
type GetTradingStatusesRequest struct {
	InstrumentID []string `json:"instrumentId"`
}

// GetTradingStatusResponse is one instrument's status.
type GetTradingStatusResponse struct {
	FIGI                        string                `json:"figi,omitempty"`
	TradingStatus               SecurityTradingStatus `json:"tradingStatus,omitempty"`
	LimitOrderAvailableFlag     bool                  `json:"limitOrderAvailableFlag,omitempty"`
	MarketOrderAvailableFlag    bool                  `json:"marketOrderAvailableFlag,omitempty"`
	APITradeAvailableFlag       bool                  `json:"apiTradeAvailableFlag,omitempty"`
	InstrumentUID               string                `json:"instrumentUid,omitempty"`
	BestpriceOrderAvailableFlag bool                  `json:"bestpriceOrderAvailableFlag,omitempty"`
	OnlyBestPrice               bool                  `json:"onlyBestPrice,omitempty"`
}

// GetTradingStatusesResponse is GetTradingStatuses' answer.
type GetTradingStatusesResponse struct {
	TradingStatuses []GetTradingStatusResponse `json:"tradingStatuses,omitempty"`
}

// GetLastPricesRequest is the body of GetLastPrices.
type GetLastPricesRequest struct {
	InstrumentID     []string         `json:"instrumentId"`
	LastPriceType    LastPriceType    `json:"lastPriceType,omitempty"`
	InstrumentStatus InstrumentStatus `json:"instrumentStatus,omitempty"`
}

// LastPrice is the price of an instrument's last trade (REST and stream).
type LastPrice struct {
	FIGI          string        `json:"figi,omitempty"`
	Price         Quotation     `json:"price"`
	Time          Timestamp     `json:"time,omitzero"`
	InstrumentUID string        `json:"instrumentUid,omitempty"`
	LastPriceType LastPriceType `json:"lastPriceType,omitempty"`
}

// GetLastPricesResponse is GetLastPrices' answer.
type GetLastPricesResponse struct {
	LastPrices []LastPrice `json:"lastPrices,omitempty"`
}

// GetLastTradesRequest is the body of GetLastTrades (the last hour only).
type GetLastTradesRequest struct {
	InstrumentID string          `json:"instrumentId"`
	From         Timestamp       `json:"from"`
	To           Timestamp       `json:"to"`
	TradeSource  TradeSourceType `json:"tradeSource,omitempty"`
}

// GetLastTradesResponse is GetLastTrades' answer.
type GetLastTradesResponse struct {
	Trades []Trade `json:"trades,omitempty"`
}

// Trade is one of the exchange's trades (REST and stream): price per
// security, quantity in lots, Time the exchange's.
type Trade struct {
	FIGI          string          `json:"figi,omitempty"`
	Direction     TradeDirection  `json:"direction,omitempty"`
	Price         Quotation       `json:"price"`
	Quantity      Int64           `json:"quantity"`
	Time          Timestamp       `json:"time"`
	InstrumentUID string          `json:"instrumentUid,omitempty"`
	TradeSource   TradeSourceType `json:"tradeSource,omitempty"`
}

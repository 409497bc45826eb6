package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Enums travel as their names. Each enum is a string type with its known
// values as constants; a name this package does not know decodes as itself
// (the service adds values over time), a JSON number is refused.

// decodeEnum reads a JSON string (or null, which is "").
func decodeEnum(data []byte, what string) (string, error) {
	d := bytes.TrimSpace(data)
	if string(d) == "null" {
		return "", nil
	}
	if len(d) == 0 || d[0] != '"' {
		return "", fmt.Errorf("wire: %s %s is not an enum name", what, snippet(d))
	}
	var s string
	if err := json.Unmarshal(d, &s); err != nil {
		return "", fmt.Errorf("wire: %s: %w", what, err)
	}
	return s, nil
}

// InstrumentStatus filters the instrument lists.
type InstrumentStatus string

const (
	InstrumentStatusUnspecified InstrumentStatus = "INSTRUMENT_STATUS_UNSPECIFIED"
	InstrumentStatusBase        InstrumentStatus = "INSTRUMENT_STATUS_BASE" // tradable through the API
	InstrumentStatusAll         InstrumentStatus = "INSTRUMENT_STATUS_ALL"
)

// InstrumentIDType says what GetInstrumentBy's id is.
type InstrumentIDType string

const (
	InstrumentIDUnspecified     InstrumentIDType = "INSTRUMENT_ID_UNSPECIFIED"
	InstrumentIDTypeFIGI        InstrumentIDType = "INSTRUMENT_ID_TYPE_FIGI"
	InstrumentIDTypeTicker      InstrumentIDType = "INSTRUMENT_ID_TYPE_TICKER" // needs classCode
	InstrumentIDTypeUID         InstrumentIDType = "INSTRUMENT_ID_TYPE_UID"
	InstrumentIDTypePositionUID InstrumentIDType = "INSTRUMENT_ID_TYPE_POSITION_UID"
)

// InstrumentType is the kind of instrument (GetInstrumentBy's instrumentKind).
type InstrumentType string

const (
	InstrumentTypeUnspecified InstrumentType = "INSTRUMENT_TYPE_UNSPECIFIED"
	InstrumentTypeBond        InstrumentType = "INSTRUMENT_TYPE_BOND"
	InstrumentTypeShare       InstrumentType = "INSTRUMENT_TYPE_SHARE"
	InstrumentTypeCurrency    InstrumentType = "INSTRUMENT_TYPE_CURRENCY"
	InstrumentTypeETF         InstrumentType = "INSTRUMENT_TYPE_ETF"
	InstrumentTypeFutures     InstrumentType = "INSTRUMENT_TYPE_FUTURES"
	InstrumentTypeSP          InstrumentType = "INSTRUMENT_TYPE_SP"
	InstrumentTypeOption      InstrumentType = "INSTRUMENT_TYPE_OPTION"
	InstrumentTypeIndex       InstrumentType = "INSTRUMENT_TYPE_INDEX"
	InstrumentTypeCommodity   InstrumentType = "INSTRUMENT_TYPE_COMMODITY"
)

// RealExchange is where an instrument is really traded.
type RealExchange string

const (
	RealExchangeUnspecified RealExchange = "REAL_EXCHANGE_UNSPECIFIED"
	RealExchangeMOEX        RealExchange = "REAL_EXCHANGE_MOEX"
	RealExchangeRTS         RealExchange = "REAL_EXCHANGE_RTS"
	RealExchangeOTC         RealExchange = "REAL_EXCHANGE_OTC"
	RealExchangeDealer      RealExchange = "REAL_EXCHANGE_DEALER"
)

// SecurityTradingStatus is an instrument's trading status.
type SecurityTradingStatus string

const (
	TradingStatusUnspecified                  SecurityTradingStatus = "SECURITY_TRADING_STATUS_UNSPECIFIED"
	TradingStatusNotAvailableForTrading       SecurityTradingStatus = "SECURITY_TRADING_STATUS_NOT_AVAILABLE_FOR_TRADING"
	TradingStatusOpeningPeriod                SecurityTradingStatus = "SECURITY_TRADING_STATUS_OPENING_PERIOD"
	TradingStatusClosingPeriod                SecurityTradingStatus = "SECURITY_TRADING_STATUS_CLOSING_PERIOD"
	TradingStatusBreakInTrading               SecurityTradingStatus = "SECURITY_TRADING_STATUS_BREAK_IN_TRADING"
	TradingStatusNormalTrading                SecurityTradingStatus = "SECURITY_TRADING_STATUS_NORMAL_TRADING"
	TradingStatusClosingAuction               SecurityTradingStatus = "SECURITY_TRADING_STATUS_CLOSING_AUCTION"
	TradingStatusDarkPoolAuction              SecurityTradingStatus = "SECURITY_TRADING_STATUS_DARK_POOL_AUCTION"
	TradingStatusDiscreteAuction              SecurityTradingStatus = "SECURITY_TRADING_STATUS_DISCRETE_AUCTION"
	TradingStatusOpeningAuctionPeriod         SecurityTradingStatus = "SECURITY_TRADING_STATUS_OPENING_AUCTION_PERIOD"
	TradingStatusTradingAtClosingAuctionPrice SecurityTradingStatus = "SECURITY_TRADING_STATUS_TRADING_AT_CLOSING_AUCTION_PRICE"
	TradingStatusSessionAssigned              SecurityTradingStatus = "SECURITY_TRADING_STATUS_SESSION_ASSIGNED"
	TradingStatusSessionClose                 SecurityTradingStatus = "SECURITY_TRADING_STATUS_SESSION_CLOSE"
	TradingStatusSessionOpen                  SecurityTradingStatus = "SECURITY_TRADING_STATUS_SESSION_OPEN"
	TradingStatusDealerNormalTrading          SecurityTradingStatus = "SECURITY_TRADING_STATUS_DEALER_NORMAL_TRADING"
	TradingStatusDealerBreakInTrading         SecurityTradingStatus = "SECURITY_TRADING_STATUS_DEALER_BREAK_IN_TRADING"
	TradingStatusDealerNotAvailableForTrading SecurityTradingStatus = "SECURITY_TRADING_STATUS_DEALER_NOT_AVAILABLE_FOR_TRADING"
)

// CandleInterval is a REST candle interval.
type CandleInterval string

const (
	CandleIntervalUnspecified CandleInterval = "CANDLE_INTERVAL_UNSPECIFIED"
	CandleInterval5Sec        CandleInterval = "CANDLE_INTERVAL_5_SEC"
	CandleInterval10Sec       CandleInterval = "CANDLE_INTERVAL_10_SEC"
	CandleInterval30Sec       CandleInterval = "CANDLE_INTERVAL_30_SEC"
	CandleInterval1Min        CandleInterval = "CANDLE_INTERVAL_1_MIN"
	CandleInterval2Min        CandleInterval = "CANDLE_INTERVAL_2_MIN"
	CandleInterval3Min        CandleInterval = "CANDLE_INTERVAL_3_MIN"
	CandleInterval5Min        CandleInterval = "CANDLE_INTERVAL_5_MIN"
	CandleInterval10Min       CandleInterval = "CANDLE_INTERVAL_10_MIN"
	CandleInterval15Min       CandleInterval = "CANDLE_INTERVAL_15_MIN"
	CandleInterval30Min       CandleInterval = "CANDLE_INTERVAL_30_MIN"
	CandleIntervalHour        CandleInterval = "CANDLE_INTERVAL_HOUR"
	CandleInterval2Hour       CandleInterval = "CANDLE_INTERVAL_2_HOUR"
	CandleInterval4Hour       CandleInterval = "CANDLE_INTERVAL_4_HOUR"
	CandleIntervalDay         CandleInterval = "CANDLE_INTERVAL_DAY"
	CandleIntervalWeek        CandleInterval = "CANDLE_INTERVAL_WEEK"
	CandleIntervalMonth       CandleInterval = "CANDLE_INTERVAL_MONTH"
)

// CandleSource selects which candles GetCandles and the stream return.
type CandleSource string

const (
	CandleSourceUnspecified    CandleSource = "CANDLE_SOURCE_UNSPECIFIED" // all candles
	CandleSourceExchange       CandleSource = "CANDLE_SOURCE_EXCHANGE"
	CandleSourceIncludeWeekend CandleSource = "CANDLE_SOURCE_INCLUDE_WEEKEND" // requests only
	CandleSourceDealerWeekend  CandleSource = "CANDLE_SOURCE_DEALER_WEEKEND"  // responses only
)

// SubscriptionAction subscribes or unsubscribes.
type SubscriptionAction string

const (
	SubscriptionActionUnspecified SubscriptionAction = "SUBSCRIPTION_ACTION_UNSPECIFIED"
	SubscriptionActionSubscribe   SubscriptionAction = "SUBSCRIPTION_ACTION_SUBSCRIBE"
	SubscriptionActionUnsubscribe SubscriptionAction = "SUBSCRIPTION_ACTION_UNSUBSCRIBE"
)

// SubscriptionInterval is a stream candle interval.
type SubscriptionInterval string

const (
	SubscriptionIntervalUnspecified    SubscriptionInterval = "SUBSCRIPTION_INTERVAL_UNSPECIFIED"
	SubscriptionIntervalOneMinute      SubscriptionInterval = "SUBSCRIPTION_INTERVAL_ONE_MINUTE"
	SubscriptionIntervalFiveMinutes    SubscriptionInterval = "SUBSCRIPTION_INTERVAL_FIVE_MINUTES"
	SubscriptionIntervalFifteenMinutes SubscriptionInterval = "SUBSCRIPTION_INTERVAL_FIFTEEN_MINUTES"
	SubscriptionIntervalOneHour        SubscriptionInterval = "SUBSCRIPTION_INTERVAL_ONE_HOUR"
	SubscriptionIntervalOneDay         SubscriptionInterval = "SUBSCRIPTION_INTERVAL_ONE_DAY"
	SubscriptionInterval2Min           SubscriptionInterval = "SUBSCRIPTION_INTERVAL_2_MIN"
	SubscriptionInterval3Min           SubscriptionInterval = "SUBSCRIPTION_INTERVAL_3_MIN"
	SubscriptionInterval10Min          SubscriptionInterval = "SUBSCRIPTION_INTERVAL_10_MIN"
	SubscriptionInterval30Min          SubscriptionInterval = "SUBSCRIPTION_INTERVAL_30_MIN"
	SubscriptionInterval2Hour          SubscriptionInterval = "SUBSCRIPTION_INTERVAL_2_HOUR"
	SubscriptionInterval4Hour          SubscriptionInterval = "SUBSCRIPTION_INTERVAL_4_HOUR"
	SubscriptionIntervalWeek           SubscriptionInterval = "SUBSCRIPTION_INTERVAL_WEEK"
	SubscriptionIntervalMonth          SubscriptionInterval = "SUBSCRIPTION_INTERVAL_MONTH"
)

// SubscriptionStatus is the service's answer per instrument of a
// subscription request.
type SubscriptionStatus string

const (
	SubscriptionStatusUnspecified               SubscriptionStatus = "SUBSCRIPTION_STATUS_UNSPECIFIED"
	SubscriptionStatusSuccess                   SubscriptionStatus = "SUBSCRIPTION_STATUS_SUCCESS"
	SubscriptionStatusInstrumentNotFound        SubscriptionStatus = "SUBSCRIPTION_STATUS_INSTRUMENT_NOT_FOUND"
	SubscriptionStatusSubscriptionActionInvalid SubscriptionStatus = "SUBSCRIPTION_STATUS_SUBSCRIPTION_ACTION_IS_INVALID"
	SubscriptionStatusDepthInvalid              SubscriptionStatus = "SUBSCRIPTION_STATUS_DEPTH_IS_INVALID"
	SubscriptionStatusIntervalInvalid           SubscriptionStatus = "SUBSCRIPTION_STATUS_INTERVAL_IS_INVALID"
	SubscriptionStatusLimitExceeded             SubscriptionStatus = "SUBSCRIPTION_STATUS_LIMIT_IS_EXCEEDED"
	SubscriptionStatusInternalError             SubscriptionStatus = "SUBSCRIPTION_STATUS_INTERNAL_ERROR"
	SubscriptionStatusTooManyRequests           SubscriptionStatus = "SUBSCRIPTION_STATUS_TOO_MANY_REQUESTS"
	SubscriptionStatusSubscriptionNotFound      SubscriptionStatus = "SUBSCRIPTION_STATUS_SUBSCRIPTION_NOT_FOUND"
	SubscriptionStatusSourceInvalid             SubscriptionStatus = "SUBSCRIPTION_STATUS_SOURCE_IS_INVALID"
)

// TradeSourceType selects exchange or dealer trades.
type TradeSourceType string

const (
	TradeSourceUnspecified TradeSourceType = "TRADE_SOURCE_UNSPECIFIED"
	TradeSourceExchange    TradeSourceType = "TRADE_SOURCE_EXCHANGE"
	TradeSourceDealer      TradeSourceType = "TRADE_SOURCE_DEALER"
	TradeSourceAll         TradeSourceType = "TRADE_SOURCE_ALL"
)

// TradeDirection is the aggressor side of a trade.
type TradeDirection string

const (
	TradeDirectionUnspecified TradeDirection = "TRADE_DIRECTION_UNSPECIFIED"
	TradeDirectionBuy         TradeDirection = "TRADE_DIRECTION_BUY"
	TradeDirectionSell        TradeDirection = "TRADE_DIRECTION_SELL"
)

// OrderBookType selects the exchange's or the dealer's book.
type OrderBookType string

const (
	OrderBookTypeUnspecified OrderBookType = "ORDERBOOK_TYPE_UNSPECIFIED"
	OrderBookTypeExchange    OrderBookType = "ORDERBOOK_TYPE_EXCHANGE"
	OrderBookTypeDealer      OrderBookType = "ORDERBOOK_TYPE_DEALER"
	OrderBookTypeAll         OrderBookType = "ORDERBOOK_TYPE_ALL"
)

// LastPriceType says whose last price it is.
type LastPriceType string

const (
	LastPriceUnspecified LastPriceType = "LAST_PRICE_UNSPECIFIED"
	LastPriceExchange    LastPriceType = "LAST_PRICE_EXCHANGE"
	LastPriceDealer      LastPriceType = "LAST_PRICE_DEALER"
)

// OrderDirection is buy or sell.
type OrderDirection string

const (
	OrderDirectionUnspecified OrderDirection = "ORDER_DIRECTION_UNSPECIFIED"
	OrderDirectionBuy         OrderDirection = "ORDER_DIRECTION_BUY"
	OrderDirectionSell        OrderDirection = "ORDER_DIRECTION_SELL"
)

// OrderType is the exchange order type.
type OrderType string

const (
	OrderTypeUnspecified OrderType = "ORDER_TYPE_UNSPECIFIED"
	OrderTypeLimit       OrderType = "ORDER_TYPE_LIMIT"
	OrderTypeMarket      OrderType = "ORDER_TYPE_MARKET"
	OrderTypeBestPrice   OrderType = "ORDER_TYPE_BESTPRICE"
)

// OrderExecutionReportStatus is an order's state.
type OrderExecutionReportStatus string

const (
	ExecutionReportStatusUnspecified   OrderExecutionReportStatus = "EXECUTION_REPORT_STATUS_UNSPECIFIED"
	ExecutionReportStatusFill          OrderExecutionReportStatus = "EXECUTION_REPORT_STATUS_FILL"
	ExecutionReportStatusRejected      OrderExecutionReportStatus = "EXECUTION_REPORT_STATUS_REJECTED"
	ExecutionReportStatusCancelled     OrderExecutionReportStatus = "EXECUTION_REPORT_STATUS_CANCELLED"
	ExecutionReportStatusNew           OrderExecutionReportStatus = "EXECUTION_REPORT_STATUS_NEW"
	ExecutionReportStatusPartiallyFill OrderExecutionReportStatus = "EXECUTION_REPORT_STATUS_PARTIALLYFILL"
)

// Final reports whether no further change can come: filled, rejected or
// cancelled.
func (s OrderExecutionReportStatus) Final() bool {
	return s == ExecutionReportStatusFill || s == ExecutionReportStatusRejected || s == ExecutionReportStatusCancelled
}

// TimeInForceType is a limit order's time in force.
type TimeInForceType string

const (
	TimeInForceUnspecified TimeInForceType = "TIME_IN_FORCE_UNSPECIFIED"
	TimeInForceDay         TimeInForceType = "TIME_IN_FORCE_DAY"
	TimeInForceFillAndKill TimeInForceType = "TIME_IN_FORCE_FILL_AND_KILL"
	TimeInForceFillOrKill  TimeInForceType = "TIME_IN_FORCE_FILL_OR_KILL"
)

// PriceType says whether a price is in points or in currency.
type PriceType string

const (
	PriceTypeUnspecified PriceType = "PRICE_TYPE_UNSPECIFIED"
	PriceTypePoint       PriceType = "PRICE_TYPE_POINT"
	PriceTypeCurrency    PriceType = "PRICE_TYPE_CURRENCY"
)

// OrderIDType says which id an order call names.
type OrderIDType string

const (
	OrderIDTypeUnspecified OrderIDType = "ORDER_ID_TYPE_UNSPECIFIED"
	OrderIDTypeExchange    OrderIDType = "ORDER_ID_TYPE_EXCHANGE"
	OrderIDTypeRequest     OrderIDType = "ORDER_ID_TYPE_REQUEST" // the idempotency key
)

// StopOrderDirection is buy or sell.
type StopOrderDirection string

const (
	StopOrderDirectionUnspecified StopOrderDirection = "STOP_ORDER_DIRECTION_UNSPECIFIED"
	StopOrderDirectionBuy         StopOrderDirection = "STOP_ORDER_DIRECTION_BUY"
	StopOrderDirectionSell        StopOrderDirection = "STOP_ORDER_DIRECTION_SELL"
)

// StopOrderExpirationType is GTC or GTD.
type StopOrderExpirationType string

const (
	StopOrderExpirationUnspecified    StopOrderExpirationType = "STOP_ORDER_EXPIRATION_TYPE_UNSPECIFIED"
	StopOrderExpirationGoodTillCancel StopOrderExpirationType = "STOP_ORDER_EXPIRATION_TYPE_GOOD_TILL_CANCEL"
	StopOrderExpirationGoodTillDate   StopOrderExpirationType = "STOP_ORDER_EXPIRATION_TYPE_GOOD_TILL_DATE"
)

// StopOrderType is take-profit, stop-loss or stop-limit.
type StopOrderType string

const (
	StopOrderTypeUnspecified StopOrderType = "STOP_ORDER_TYPE_UNSPECIFIED"
	StopOrderTypeTakeProfit  StopOrderType = "STOP_ORDER_TYPE_TAKE_PROFIT"
	StopOrderTypeStopLoss    StopOrderType = "STOP_ORDER_TYPE_STOP_LOSS"
	StopOrderTypeStopLimit   StopOrderType = "STOP_ORDER_TYPE_STOP_LIMIT"
)

// StopOrderStatusOption filters and reports stop orders.
type StopOrderStatusOption string

const (
	StopOrderStatusUnspecified StopOrderStatusOption = "STOP_ORDER_STATUS_UNSPECIFIED"
	StopOrderStatusAll         StopOrderStatusOption = "STOP_ORDER_STATUS_ALL"
	StopOrderStatusActive      StopOrderStatusOption = "STOP_ORDER_STATUS_ACTIVE"
	StopOrderStatusExecuted    StopOrderStatusOption = "STOP_ORDER_STATUS_EXECUTED"
	StopOrderStatusCanceled    StopOrderStatusOption = "STOP_ORDER_STATUS_CANCELED"
	StopOrderStatusExpired     StopOrderStatusOption = "STOP_ORDER_STATUS_EXPIRED"
)

// ExchangeOrderType is the type of the order a take-profit places.
type ExchangeOrderType string

const (
	ExchangeOrderTypeUnspecified ExchangeOrderType = "EXCHANGE_ORDER_TYPE_UNSPECIFIED"
	ExchangeOrderTypeMarket      ExchangeOrderType = "EXCHANGE_ORDER_TYPE_MARKET"
	ExchangeOrderTypeLimit       ExchangeOrderType = "EXCHANGE_ORDER_TYPE_LIMIT"
)

// TakeProfitType is regular or trailing.
type TakeProfitType string

const (
	TakeProfitTypeUnspecified TakeProfitType = "TAKE_PROFIT_TYPE_UNSPECIFIED"
	TakeProfitTypeRegular     TakeProfitType = "TAKE_PROFIT_TYPE_REGULAR"
	TakeProfitTypeTrailing    TakeProfitType = "TAKE_PROFIT_TYPE_TRAILING"
)

// TrailingValueType is absolute or relative (percent).
type TrailingValueType string

const (
	TrailingValueUnspecified TrailingValueType = "TRAILING_VALUE_UNSPECIFIED"
	TrailingValueAbsolute    TrailingValueType = "TRAILING_VALUE_ABSOLUTE"
	TrailingValueRelative    TrailingValueType = "TRAILING_VALUE_RELATIVE"
)

// TrailingStopStatus is a trailing stop's state.
type TrailingStopStatus string

const (
	TrailingStopUnspecified TrailingStopStatus = "TRAILING_STOP_UNSPECIFIED"
	TrailingStopActive      TrailingStopStatus = "TRAILING_STOP_ACTIVE"
	TrailingStopActivated   TrailingStopStatus = "TRAILING_STOP_ACTIVATED"
)

// OperationState is an operation's state.
type OperationState string

const (
	OperationStateUnspecified OperationState = "OPERATION_STATE_UNSPECIFIED"
	OperationStateExecuted    OperationState = "OPERATION_STATE_EXECUTED"
	OperationStateCanceled    OperationState = "OPERATION_STATE_CANCELED"
	OperationStateProgress    OperationState = "OPERATION_STATE_PROGRESS"
)

// OperationType is an operation's type; the service defines some 60, these
// are the ones a trading venue meets most.
type OperationType string

const (
	OperationTypeUnspecified         OperationType = "OPERATION_TYPE_UNSPECIFIED"
	OperationTypeInput               OperationType = "OPERATION_TYPE_INPUT"
	OperationTypeOutput              OperationType = "OPERATION_TYPE_OUTPUT"
	OperationTypeBuy                 OperationType = "OPERATION_TYPE_BUY"
	OperationTypeBuyCard             OperationType = "OPERATION_TYPE_BUY_CARD"
	OperationTypeBuyMargin           OperationType = "OPERATION_TYPE_BUY_MARGIN"
	OperationTypeSell                OperationType = "OPERATION_TYPE_SELL"
	OperationTypeSellCard            OperationType = "OPERATION_TYPE_SELL_CARD"
	OperationTypeSellMargin          OperationType = "OPERATION_TYPE_SELL_MARGIN"
	OperationTypeBrokerFee           OperationType = "OPERATION_TYPE_BROKER_FEE"
	OperationTypeServiceFee          OperationType = "OPERATION_TYPE_SERVICE_FEE"
	OperationTypeMarginFee           OperationType = "OPERATION_TYPE_MARGIN_FEE"
	OperationTypeDividend            OperationType = "OPERATION_TYPE_DIVIDEND"
	OperationTypeDividendTax         OperationType = "OPERATION_TYPE_DIVIDEND_TAX"
	OperationTypeCoupon              OperationType = "OPERATION_TYPE_COUPON"
	OperationTypeTax                 OperationType = "OPERATION_TYPE_TAX"
	OperationTypeDeliveryBuy         OperationType = "OPERATION_TYPE_DELIVERY_BUY"
	OperationTypeDeliverySell        OperationType = "OPERATION_TYPE_DELIVERY_SELL"
	OperationTypeAccruingVarMargin   OperationType = "OPERATION_TYPE_ACCRUING_VARMARGIN"
	OperationTypeWritingOffVarMargin OperationType = "OPERATION_TYPE_WRITING_OFF_VARMARGIN"
)

// AccountType is the kind of brokerage account.
type AccountType string

const (
	AccountTypeUnspecified AccountType = "ACCOUNT_TYPE_UNSPECIFIED"
	AccountTypeTinkoff     AccountType = "ACCOUNT_TYPE_TINKOFF"
	AccountTypeTinkoffIIS  AccountType = "ACCOUNT_TYPE_TINKOFF_IIS"
	AccountTypeInvestBox   AccountType = "ACCOUNT_TYPE_INVEST_BOX"
	AccountTypeInvestFund  AccountType = "ACCOUNT_TYPE_INVEST_FUND"
)

// AccountStatus is an account's state (and GetAccounts' filter).
type AccountStatus string

const (
	AccountStatusUnspecified AccountStatus = "ACCOUNT_STATUS_UNSPECIFIED"
	AccountStatusNew         AccountStatus = "ACCOUNT_STATUS_NEW"
	AccountStatusOpen        AccountStatus = "ACCOUNT_STATUS_OPEN"
	AccountStatusClosed      AccountStatus = "ACCOUNT_STATUS_CLOSED"
	AccountStatusAll         AccountStatus = "ACCOUNT_STATUS_ALL"
)

// AccessLevel is what the token may do with an account.
type AccessLevel string

const (
	AccessLevelUnspecified AccessLevel = "ACCOUNT_ACCESS_LEVEL_UNSPECIFIED"
	AccessLevelFullAccess  AccessLevel = "ACCOUNT_ACCESS_LEVEL_FULL_ACCESS"
	AccessLevelReadOnly    AccessLevel = "ACCOUNT_ACCESS_LEVEL_READ_ONLY"
	AccessLevelNoAccess    AccessLevel = "ACCOUNT_ACCESS_LEVEL_NO_ACCESS"
)

// ResultSubscriptionStatus answers an OrderStateStream subscription.
type ResultSubscriptionStatus string

const (
	ResultSubscriptionStatusUnspecified ResultSubscriptionStatus = "RESULT_SUBSCRIPTION_STATUS_UNSPECIFIED"
	ResultSubscriptionStatusOK          ResultSubscriptionStatus = "RESULT_SUBSCRIPTION_STATUS_OK"
	ResultSubscriptionStatusError       ResultSubscriptionStatus = "RESULT_SUBSCRIPTION_STATUS_ERROR"
)

// PortfolioCurrency is the currency GetPortfolio values the portfolio in.
type PortfolioCurrency string

const (
	PortfolioCurrencyRUB PortfolioCurrency = "RUB"
	PortfolioCurrencyUSD PortfolioCurrency = "USD"
	PortfolioCurrencyEUR PortfolioCurrency = "EUR"
)

// UnmarshalJSON methods: each enum takes a JSON string (or null) only.

func (e *InstrumentStatus) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "InstrumentStatus")
	*e = InstrumentStatus(s)
	return err
}

func (e *InstrumentIDType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "InstrumentIDType")
	*e = InstrumentIDType(s)
	return err
}

func (e *InstrumentType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "InstrumentType")
	*e = InstrumentType(s)
	return err
}

func (e *RealExchange) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "RealExchange")
	*e = RealExchange(s)
	return err
}

func (e *SecurityTradingStatus) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "SecurityTradingStatus")
	*e = SecurityTradingStatus(s)
	return err
}

func (e *CandleInterval) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "CandleInterval")
	*e = CandleInterval(s)
	return err
}

func (e *CandleSource) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "CandleSource")
	*e = CandleSource(s)
	return err
}

func (e *SubscriptionAction) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "SubscriptionAction")
	*e = SubscriptionAction(s)
	return err
}

func (e *SubscriptionInterval) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "SubscriptionInterval")
	*e = SubscriptionInterval(s)
	return err
}

func (e *SubscriptionStatus) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "SubscriptionStatus")
	*e = SubscriptionStatus(s)
	return err
}

func (e *TradeSourceType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "TradeSourceType")
	*e = TradeSourceType(s)
	return err
}

func (e *TradeDirection) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "TradeDirection")
	*e = TradeDirection(s)
	return err
}

func (e *OrderBookType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "OrderBookType")
	*e = OrderBookType(s)
	return err
}

func (e *LastPriceType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "LastPriceType")
	*e = LastPriceType(s)
	return err
}

func (e *OrderDirection) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "OrderDirection")
	*e = OrderDirection(s)
	return err
}

func (e *OrderType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "OrderType")
	*e = OrderType(s)
	return err
}

func (e *OrderExecutionReportStatus) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "OrderExecutionReportStatus")
	*e = OrderExecutionReportStatus(s)
	return err
}

func (e *TimeInForceType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "TimeInForceType")
	*e = TimeInForceType(s)
	return err
}

func (e *PriceType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "PriceType")
	*e = PriceType(s)
	return err
}

func (e *OrderIDType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "OrderIDType")
	*e = OrderIDType(s)
	return err
}

func (e *StopOrderDirection) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "StopOrderDirection")
	*e = StopOrderDirection(s)
	return err
}

func (e *StopOrderExpirationType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "StopOrderExpirationType")
	*e = StopOrderExpirationType(s)
	return err
}

func (e *StopOrderType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "StopOrderType")
	*e = StopOrderType(s)
	return err
}

func (e *StopOrderStatusOption) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "StopOrderStatusOption")
	*e = StopOrderStatusOption(s)
	return err
}

func (e *ExchangeOrderType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "ExchangeOrderType")
	*e = ExchangeOrderType(s)
	return err
}

func (e *TakeProfitType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "TakeProfitType")
	*e = TakeProfitType(s)
	return err
}

func (e *TrailingValueType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "TrailingValueType")
	*e = TrailingValueType(s)
	return err
}

func (e *TrailingStopStatus) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "TrailingStopStatus")
	*e = TrailingStopStatus(s)
	return err
}

func (e *OperationState) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "OperationState")
	*e = OperationState(s)
	return err
}

func (e *OperationType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "OperationType")
	*e = OperationType(s)
	return err
}

func (e *AccountType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "AccountType")
	*e = AccountType(s)
	return err
}

func (e *AccountStatus) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "AccountStatus")
	*e = AccountStatus(s)
	return err
}

func (e *AccessLevel) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "AccessLevel")
	*e = AccessLevel(s)
	return err
}

func (e *ResultSubscriptionStatus) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "ResultSubscriptionStatus")
	*e = ResultSubscriptionStatus(s)
	return err
}

func (e *PortfolioCurrency) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "PortfolioCurrency")
	*e = PortfolioCurrency(s)
	return err
}

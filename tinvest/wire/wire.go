// Package wire holds the JSON shapes of T-Invest API v2 (Tinkoff's current
// API) as its REST gateway and its WebSocket interface carry them: the
// request and response messages of the methods tvbridge uses, the
// market-data and order-state stream messages, the error body, and the
// yearly archive's CSV rows. The client (package tinvest and tinvest/stream)
// and the simulator share these definitions, so both sides agree on one
// wire format. Reference: ../shared/docs/tinkoff-invest-api-v2.md.
//
// The shapes follow the proto3 JSON mapping the gateway uses:
//
//   - Names are lowerCamelCase ("instrumentId", "first1minCandleDate").
//   - int64 values (quantities, volumes, Quotation units) travel as JSON
//     strings: type Int64. Decoding also takes a JSON integer, as every
//     proto3 JSON parser must, but never a fraction, an exponent, a quoted
//     number with spaces or signs other than a leading minus, or a value
//     out of range.
//   - int32 values (lot, depth, nano) are JSON numbers.
//   - Prices are Quotation ({"units":"195","nano":200000000} = 195.2) and
//     MoneyValue (the same with "currency"): exact decimals with nine
//     fractional digits. See decimal.go for the exact conversions to and
//     from float64 and for snapping a price to an instrument's tick.
//   - Timestamps are RFC 3339 strings in UTC with up to nine fractional
//     digits: type Timestamp.
//   - Enums travel as their names and are typed string constants here
//     (enums.go). An unknown name decodes as itself; a number is refused.
//   - Fields holding their zero value may be left out, and empty arrays are
//     left out: every field is optional when decoding.
//
// Encoding (json.Marshal) produces what the gateway accepts: camelCase
// names, int64 as strings, enum names, and no zero-valued optional fields
// where the field is a pointer or tagged omitempty/omitzero.
package wire

import "strings"

// Base URLs of the service. Both the tinkoff.ru and the tbank.ru hosts
// appear in Tinkoff's files; clients take the base as configuration.
const (
	ProductionRESTTinkoff    = "https://invest-public-api.tinkoff.ru/rest/"
	SandboxRESTTinkoff       = "https://sandbox-invest-public-api.tinkoff.ru/rest/"
	ProductionStreamTinkoff  = "wss://invest-public-api.tinkoff.ru/ws/"
	SandboxStreamTinkoff     = "wss://sandbox-invest-public-api.tinkoff.ru/ws/"
	ProductionHistoryTinkoff = "https://invest-public-api.tinkoff.ru/history-data"

	ProductionRESTTBank    = "https://invest-public-api.tbank.ru/rest/"
	SandboxRESTTBank       = "https://sandbox-invest-public-api.tbank.ru/rest/"
	ProductionStreamTBank  = "wss://invest-public-api.tbank.ru/ws/"
	SandboxStreamTBank     = "wss://sandbox-invest-public-api.tbank.ru/ws/"
	ProductionHistoryTBank = "https://invest-public-api.tbank.ru/history-data"
)

// Paths relative to the host: REST methods are POST {RESTPath}{method},
// streams are WebSocket {StreamPath}{method}, the archive is GET
// {HistoryPath}?instrument_id=...&year=YYYY.
const (
	RESTPath    = "/rest/"
	StreamPath  = "/ws/"
	HistoryPath = "/history-data"
)

// ServicePrefix is the package part of every method's full name.
const ServicePrefix = "tinkoff.public.invest.api.contract.v1."

// Services, as the rate limits group methods.
const (
	InstrumentsService      = ServicePrefix + "InstrumentsService"
	MarketDataService       = ServicePrefix + "MarketDataService"
	MarketDataStreamService = ServicePrefix + "MarketDataStreamService"
	OrdersService           = ServicePrefix + "OrdersService"
	OrdersStreamService     = ServicePrefix + "OrdersStreamService"
	StopOrdersService       = ServicePrefix + "StopOrdersService"
	OperationsService       = ServicePrefix + "OperationsService"
	OperationsStreamService = ServicePrefix + "OperationsStreamService"
	UsersService            = ServicePrefix + "UsersService"
	SandboxService          = ServicePrefix + "SandboxService"
)

// Unary methods: the path after RESTPath, e.g.
// POST https://invest-public-api.tinkoff.ru/rest/tinkoff.public.invest.api.contract.v1.MarketDataService/GetCandles
const (
	MethodShares           = InstrumentsService + "/Shares"
	MethodBonds            = InstrumentsService + "/Bonds"
	MethodEtfs             = InstrumentsService + "/Etfs"
	MethodCurrencies       = InstrumentsService + "/Currencies"
	MethodFutures          = InstrumentsService + "/Futures"
	MethodGetInstrumentBy  = InstrumentsService + "/GetInstrumentBy"
	MethodTradingSchedules = InstrumentsService + "/TradingSchedules"
	MethodFindInstrument   = InstrumentsService + "/FindInstrument"

	MethodGetCandles         = MarketDataService + "/GetCandles"
	MethodGetOrderBook       = MarketDataService + "/GetOrderBook"
	MethodGetTradingStatus   = MarketDataService + "/GetTradingStatus"
	MethodGetTradingStatuses = MarketDataService + "/GetTradingStatuses"
	MethodGetLastPrices      = MarketDataService + "/GetLastPrices"
	MethodGetLastTrades      = MarketDataService + "/GetLastTrades"

	MethodGetAccounts   = UsersService + "/GetAccounts"
	MethodGetUserTariff = UsersService + "/GetUserTariff"
	MethodGetInfo       = UsersService + "/GetInfo"

	MethodPostOrder      = OrdersService + "/PostOrder"
	MethodPostOrderAsync = OrdersService + "/PostOrderAsync"
	MethodReplaceOrder   = OrdersService + "/ReplaceOrder"
	MethodCancelOrder    = OrdersService + "/CancelOrder"
	MethodGetOrderState  = OrdersService + "/GetOrderState"
	MethodGetOrders      = OrdersService + "/GetOrders"
	MethodGetMaxLots     = OrdersService + "/GetMaxLots"

	MethodPostStopOrder   = StopOrdersService + "/PostStopOrder"
	MethodGetStopOrders   = StopOrdersService + "/GetStopOrders"
	MethodCancelStopOrder = StopOrdersService + "/CancelStopOrder"

	MethodGetPortfolio          = OperationsService + "/GetPortfolio"
	MethodGetPositions          = OperationsService + "/GetPositions"
	MethodGetOperations         = OperationsService + "/GetOperations"
	MethodGetOperationsByCursor = OperationsService + "/GetOperationsByCursor"

	MethodOpenSandboxAccount           = SandboxService + "/OpenSandboxAccount"
	MethodGetSandboxAccounts           = SandboxService + "/GetSandboxAccounts"
	MethodCloseSandboxAccount          = SandboxService + "/CloseSandboxAccount"
	MethodSandboxPayIn                 = SandboxService + "/SandboxPayIn"
	MethodPostSandboxOrder             = SandboxService + "/PostSandboxOrder"
	MethodReplaceSandboxOrder          = SandboxService + "/ReplaceSandboxOrder"
	MethodCancelSandboxOrder           = SandboxService + "/CancelSandboxOrder"
	MethodGetSandboxOrders             = SandboxService + "/GetSandboxOrders"
	MethodGetSandboxOrderState         = SandboxService + "/GetSandboxOrderState"
	MethodGetSandboxPositions          = SandboxService + "/GetSandboxPositions"
	MethodGetSandboxPortfolio          = SandboxService + "/GetSandboxPortfolio"
	MethodGetSandboxOperations         = SandboxService + "/GetSandboxOperations"
	MethodGetSandboxOperationsByCursor = SandboxService + "/GetSandboxOperationsByCursor"
	MethodPostSandboxStopOrder         = SandboxService + "/PostSandboxStopOrder"
	MethodGetSandboxStopOrders         = SandboxService + "/GetSandboxStopOrders"
	MethodCancelSandboxStopOrder       = SandboxService + "/CancelSandboxStopOrder"
)

// Streams: the path after StreamPath.
const (
	MethodMarketDataStream = MarketDataStreamService + "/MarketDataStream"
	MethodOrderStateStream = OrdersStreamService + "/OrderStateStream"
)

// WebSocket subprotocols. "json" gives camelCase names; the token may be
// sent as a second subprotocol instead of the Authorization header.
const (
	SubprotocolJSON      = "json"
	SubprotocolJSONProto = "json-proto"
)

// ServiceOf returns the service part of a full method name
// ("...MarketDataService/GetCandles" gives "...MarketDataService").
func ServiceOf(method string) string {
	svc, _, _ := strings.Cut(method, "/")
	return svc
}

// MethodName returns the short method name ("GetCandles").
func MethodName(method string) string {
	if i := strings.LastIndexByte(method, '/'); i >= 0 {
		return method[i+1:]
	}
	return method
}

// Response headers of the REST gateway.
const (
	HeaderTrackingID         = "x-tracking-id"
	HeaderRateLimitLimit     = "x-ratelimit-limit"
	HeaderRateLimitRemaining = "x-ratelimit-remaining"
	HeaderRateLimitReset     = "x-ratelimit-reset"
	HeaderAppName            = "x-app-name"
)

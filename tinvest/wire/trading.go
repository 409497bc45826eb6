package wire

// PostOrderRequest is the body of PostOrder and PostSandboxOrder. OrderID is
// the idempotency key (at most 36 characters, unique per account,
// remembered about a month): the same key again returns the same order.
// Price is per security, ignored for market orders; Quantity is in lots.
type PostOrderRequest struct {
	InstrumentID string          `json:"instrumentId"`
	Quantity     Int64           `json:"quantity"`
	Price        *Quotation      `json:"price,omitempty"`
	Direction    OrderDirection  `json:"direction"`
	AccountID    string          `json:"accountId"`
	OrderType    OrderType       `json:"orderType"`
	OrderID      string          `json:"orderId"`
	TimeInForce  TimeInForceType `json:"timeInForce,omitempty"`
	PriceType    PriceType       `json:"priceType,omitempty"`
}

// PostOrderResponse answers PostOrder and ReplaceOrder. OrderID is the
// exchange's id; OrderRequestID echoes the idempotency key.
type PostOrderResponse struct {
	OrderID               string                     `json:"orderId,omitempty"`
	ExecutionReportStatus OrderExecutionReportStatus `json:"executionReportStatus,omitempty"`
	LotsRequested         Int64                      `json:"lotsRequested,omitempty"`
	LotsExecuted          Int64                      `json:"lotsExecuted,omitempty"`
	InitialOrderPrice     MoneyValue                 `json:"initialOrderPrice,omitzero"`
	ExecutedOrderPrice    MoneyValue                 `json:"executedOrderPrice,omitzero"`
	TotalOrderAmount      MoneyValue                 `json:"totalOrderAmount,omitzero"`
	InitialCommission     MoneyValue                 `json:"initialCommission,omitzero"`
	ExecutedCommission    MoneyValue                 `json:"executedCommission,omitzero"`
	ACIValue              MoneyValue                 `json:"aciValue,omitzero"`
	FIGI                  string                     `json:"figi,omitempty"`
	Direction             OrderDirection             `json:"direction,omitempty"`
	InitialSecurityPrice  MoneyValue                 `json:"initialSecurityPrice,omitzero"`
	OrderType             OrderType                  `json:"orderType,omitempty"`
	Message               string                     `json:"message,omitempty"`
	InitialOrderPricePt   Quotation                  `json:"initialOrderPricePt,omitzero"`
	InstrumentUID         string                     `json:"instrumentUid,omitempty"`
	OrderRequestID        string                     `json:"orderRequestId,omitempty"`
	ResponseMetadata      *ResponseMetadata          `json:"responseMetadata,omitempty"`
}

// ResponseMetadata carries the tracking id and server time.
type ResponseMetadata struct {
	TrackingID string    `json:"trackingId,omitempty"`
	ServerTime Timestamp `json:"serverTime,omitzero"`
}

// ReplaceOrderRequest is the body of ReplaceOrder; IdempotencyKey is a new
// key that replaces the order's old one.
type ReplaceOrderRequest struct {
	AccountID      string     `json:"accountId"`
	OrderID        string     `json:"orderId"`
	IdempotencyKey string     `json:"idempotencyKey"`
	Quantity       Int64      `json:"quantity"`
	Price          *Quotation `json:"price,omitempty"`
	PriceType      PriceType  `json:"priceType,omitempty"`
}

// CancelOrderRequest is the body of CancelOrder.
type CancelOrderRequest struct {
	AccountID   string      `json:"accountId"`
	OrderID     string      `json:"orderId"`
	OrderIDType OrderIDType `json:"orderIdType,omitempty"`
}

// CancelOrderResponse answers CancelOrder.
type CancelOrderResponse struct {
	Time             Timestamp         `json:"time,omitzero"`
	ResponseMetadata *ResponseMetadata `json:"responseMetadata,omitempty"`
}

// GetOrderStateRequest is the body of GetOrderState.
type GetOrderStateRequest struct {
	AccountID   string      `json:"accountId"`
	OrderID     string      `json:"orderId"`
	PriceType   PriceType   `json:"priceType,omitempty"`
	OrderIDType OrderIDType `json:"orderIdType,omitempty"`
}

// GetOrdersRequest is the body of GetOrders.
type GetOrdersRequest struct {
	AccountID string `json:"accountId"`
}

// GetOrdersResponse lists the account's active orders.
type GetOrdersResponse struct {
	Orders []OrderState `json:"orders,omitempty"`
}

// OrderState is an order as GetOrderState and GetOrders report it.
type OrderState struct {
	OrderID               string                     `json:"orderId,omitempty"`
	ExecutionReportStatus OrderExecutionReportStatus `json:"executionReportStatus,omitempty"`
	LotsRequested         Int64                      `json:"lotsRequested,omitempty"`
	LotsExecuted          Int64                      `json:"lotsExecuted,omitempty"`
	InitialOrderPrice     MoneyValue                 `json:"initialOrderPrice,omitzero"`
	ExecutedOrderPrice    MoneyValue                 `json:"executedOrderPrice,omitzero"`
	TotalOrderAmount      MoneyValue                 `json:"totalOrderAmount,omitzero"`
	AveragePositionPrice  MoneyValue                 `json:"averagePositionPrice,omitzero"`
	InitialCommission     MoneyValue                 `json:"initialCommission,omitzero"`
	ExecutedCommission    MoneyValue                 `json:"executedCommission,omitzero"`
	FIGI                  string                     `json:"figi,omitempty"`
	Direction             OrderDirection             `json:"direction,omitempty"`
	InitialSecurityPrice  MoneyValue                 `json:"initialSecurityPrice,omitzero"`
	Stages                []OrderStage               `json:"stages,omitempty"`
	ServiceCommission     MoneyValue                 `json:"serviceCommission,omitzero"`
	Currency              string                     `json:"currency,omitempty"`
	OrderType             OrderType                  `json:"orderType,omitempty"`
	OrderDate             Timestamp                  `json:"orderDate,omitzero"`
	InstrumentUID         string                     `json:"instrumentUid,omitempty"`
	OrderRequestID        string                     `json:"orderRequestId,omitempty"`
}

// OrderStage is one fill of an order; Quantity is in lots.
type OrderStage struct {
	Price         MoneyValue `json:"price"`
	Quantity      Int64      `json:"quantity"`
	TradeID       string     `json:"tradeId,omitempty"`
	ExecutionTime Timestamp  `json:"executionTime,omitzero"`
}

// PostStopOrderRequest is the body of PostStopOrder (and the sandbox's).
// OrderID is the idempotency key.
type PostStopOrderRequest struct {
	InstrumentID      string                  `json:"instrumentId"`
	Quantity          Int64                   `json:"quantity"`
	Price             *Quotation              `json:"price,omitempty"`
	StopPrice         *Quotation              `json:"stopPrice,omitempty"`
	Direction         StopOrderDirection      `json:"direction"`
	AccountID         string                  `json:"accountId"`
	ExpirationType    StopOrderExpirationType `json:"expirationType"`
	StopOrderType     StopOrderType           `json:"stopOrderType"`
	ExpireDate        Timestamp               `json:"expireDate,omitzero"`
	ExchangeOrderType ExchangeOrderType       `json:"exchangeOrderType,omitempty"`
	TakeProfitType    TakeProfitType          `json:"takeProfitType,omitempty"`
	TrailingData      *TrailingData           `json:"trailingData,omitempty"`
	PriceType         PriceType               `json:"priceType,omitempty"`
	OrderID           string                  `json:"orderId"`
}

// TrailingData parameterises a trailing take-profit.
type TrailingData struct {
	Indent     Quotation          `json:"indent"`
	IndentType TrailingValueType  `json:"indentType,omitempty"`
	Spread     Quotation          `json:"spread"`
	SpreadType TrailingValueType  `json:"spreadType,omitempty"`
	Status     TrailingStopStatus `json:"status,omitempty"` // responses only
	Price      Quotation          `json:"price,omitzero"`   // responses only
	Extr       Quotation          `json:"extr,omitzero"`    // responses only
}

// PostStopOrderResponse answers PostStopOrder.
type PostStopOrderResponse struct {
	StopOrderID      string            `json:"stopOrderId,omitempty"`
	OrderRequestID   string            `json:"orderRequestId,omitempty"`
	ResponseMetadata *ResponseMetadata `json:"responseMetadata,omitempty"`
}

// GetStopOrdersRequest is the body of GetStopOrders.
type GetStopOrdersRequest struct {
	AccountID string                `json:"accountId"`
	Status    StopOrderStatusOption `json:"status,omitempty"`
	From      Timestamp             `json:"from,omitzero"`
	To        Timestamp             `json:"to,omitzero"`
}

// GetStopOrdersResponse lists stop orders.
type GetStopOrdersResponse struct {
	StopOrders []StopOrder `json:"stopOrders,omitempty"`
}

// StopOrder is one stop order.
type StopOrder struct {
	StopOrderID        string                `json:"stopOrderId,omitempty"`
	LotsRequested      Int64                 `json:"lotsRequested,omitempty"`
	FIGI               string                `json:"figi,omitempty"`
	Direction          StopOrderDirection    `json:"direction,omitempty"`
	Currency           string                `json:"currency,omitempty"`
	OrderType          StopOrderType         `json:"orderType,omitempty"`
	CreateDate         Timestamp             `json:"createDate,omitzero"`
	ActivationDateTime Timestamp             `json:"activationDateTime,omitzero"`
	ExpirationTime     Timestamp             `json:"expirationTime,omitzero"`
	Price              MoneyValue            `json:"price,omitzero"`
	StopPrice          MoneyValue            `json:"stopPrice,omitzero"`
	InstrumentUID      string                `json:"instrumentUid,omitempty"`
	TakeProfitType     TakeProfitType        `json:"takeProfitType,omitempty"`
	TrailingData       *TrailingData         `json:"trailingData,omitempty"`
	Status             StopOrderStatusOption `json:"status,omitempty"`
	ExchangeOrderType  ExchangeOrderType     `json:"exchangeOrderType,omitempty"`
	ExchangeOrderID    string                `json:"exchangeOrderId,omitempty"`
}

// CancelStopOrderRequest is the body of CancelStopOrder.
type CancelStopOrderRequest struct {
	AccountID   string `json:"accountId"`
	StopOrderID string `json:"stopOrderId"`
}

// CancelStopOrderResponse answers CancelStopOrder.
type CancelStopOrderResponse struct {
	Time Timestamp `json:"time,omitzero"`
}

// GetAccountsRequest is the body of GetAccounts and GetSandboxAccounts.
type GetAccountsRequest struct {
	Status AccountStatus `json:"status,omitempty"`
}

// GetAccountsResponse lists accounts.
type GetAccountsResponse struct {
	Accounts []Account `json:"accounts,omitempty"`
}

// Account is one brokerage account.
type Account struct {
	ID          string        `json:"id"`
	Type        AccountType   `json:"type,omitempty"`
	Name        string        `json:"name,omitempty"`
	Status      AccountStatus `json:"status,omitempty"`
	OpenedDate  Timestamp     `json:"openedDate,omitzero"`
	ClosedDate  Timestamp     `json:"closedDate,omitzero"`
	AccessLevel AccessLevel   `json:"accessLevel,omitempty"`
}

// GetInfoResponse is UsersService/GetInfo's answer (the body is empty):
// the user's qualification and tariff.
type GetInfoResponse struct {
	PremStatus           bool     `json:"premStatus,omitempty"`
	QualStatus           bool     `json:"qualStatus,omitempty"`
	QualifiedForWorkWith []string `json:"qualifiedForWorkWith,omitempty"`
	Tariff               string   `json:"tariff,omitempty"`
	UserID               string   `json:"userId,omitempty"`
	RiskLevelCode        string   `json:"riskLevelCode,omitempty"`
}

// PortfolioRequest is the body of GetPortfolio.
type PortfolioRequest struct {
	AccountID string            `json:"accountId"`
	Currency  PortfolioCurrency `json:"currency,omitempty"`
}

// PortfolioResponse is an account's portfolio.
type PortfolioResponse struct {
	TotalAmountShares     MoneyValue          `json:"totalAmountShares,omitzero"`
	TotalAmountBonds      MoneyValue          `json:"totalAmountBonds,omitzero"`
	TotalAmountEtf        MoneyValue          `json:"totalAmountEtf,omitzero"`
	TotalAmountCurrencies MoneyValue          `json:"totalAmountCurrencies,omitzero"`
	TotalAmountFutures    MoneyValue          `json:"totalAmountFutures,omitzero"`
	ExpectedYield         Quotation           `json:"expectedYield,omitzero"`
	Positions             []PortfolioPosition `json:"positions,omitempty"`
	AccountID             string              `json:"accountId,omitempty"`
	TotalAmountOptions    MoneyValue          `json:"totalAmountOptions,omitzero"`
	TotalAmountSp         MoneyValue          `json:"totalAmountSp,omitzero"`
	TotalAmountPortfolio  MoneyValue          `json:"totalAmountPortfolio,omitzero"`
	DailyYield            MoneyValue          `json:"dailyYield,omitzero"`
	DailyYieldRelative    Quotation           `json:"dailyYieldRelative,omitzero"`
}

// PortfolioPosition is one position; Quantity is in securities.
type PortfolioPosition struct {
	FIGI                     string     `json:"figi,omitempty"`
	InstrumentType           string     `json:"instrumentType,omitempty"`
	Quantity                 Quotation  `json:"quantity"`
	AveragePositionPrice     MoneyValue `json:"averagePositionPrice,omitzero"`
	ExpectedYield            Quotation  `json:"expectedYield,omitzero"`
	CurrentNkd               MoneyValue `json:"currentNkd,omitzero"`
	CurrentPrice             MoneyValue `json:"currentPrice,omitzero"`
	AveragePositionPriceFifo MoneyValue `json:"averagePositionPriceFifo,omitzero"`
	Blocked                  bool       `json:"blocked,omitempty"`
	BlockedLots              Quotation  `json:"blockedLots,omitzero"`
	PositionUID              string     `json:"positionUid,omitempty"`
	InstrumentUID            string     `json:"instrumentUid,omitempty"`
	VarMargin                MoneyValue `json:"varMargin,omitzero"`
	ExpectedYieldFifo        Quotation  `json:"expectedYieldFifo,omitzero"`
	DailyYield               MoneyValue `json:"dailyYield,omitzero"`
}

// PositionsRequest is the body of GetPositions.
type PositionsRequest struct {
	AccountID string `json:"accountId"`
}

// PositionsResponse lists money and security balances.
type PositionsResponse struct {
	Money                   []MoneyValue          `json:"money,omitempty"`
	Blocked                 []MoneyValue          `json:"blocked,omitempty"`
	Securities              []PositionsSecurities `json:"securities,omitempty"`
	LimitsLoadingInProgress bool                  `json:"limitsLoadingInProgress,omitempty"`
	Futures                 []PositionsFutures    `json:"futures,omitempty"`
	AccountID               string                `json:"accountId,omitempty"`
}

// PositionsSecurities is a security balance, in securities.
type PositionsSecurities struct {
	FIGI            string `json:"figi,omitempty"`
	Blocked         Int64  `json:"blocked,omitempty"`
	Balance         Int64  `json:"balance,omitempty"`
	PositionUID     string `json:"positionUid,omitempty"`
	InstrumentUID   string `json:"instrumentUid,omitempty"`
	ExchangeBlocked bool   `json:"exchangeBlocked,omitempty"`
	InstrumentType  string `json:"instrumentType,omitempty"`
}

// PositionsFutures is a futures balance.
type PositionsFutures struct {
	FIGI          string `json:"figi,omitempty"`
	Blocked       Int64  `json:"blocked,omitempty"`
	Balance       Int64  `json:"balance,omitempty"`
	PositionUID   string `json:"positionUid,omitempty"`
	InstrumentUID string `json:"instrumentUid,omitempty"`
}

// OperationsRequest is the body of GetOperations and GetSandboxOperations.
type OperationsRequest struct {
	AccountID string         `json:"accountId"`
	From      Timestamp      `json:"from,omitzero"`
	To        Timestamp      `json:"to,omitzero"`
	State     OperationState `json:"state,omitempty"`
	FIGI      string         `json:"figi,omitempty"`
}

// OperationsResponse lists operations.
type OperationsResponse struct {
	Operations []Operation `json:"operations,omitempty"`
}

// Operation is one operation of GetOperations.
type Operation struct {
	ID                string           `json:"id,omitempty"`
	ParentOperationID string           `json:"parentOperationId,omitempty"`
	Currency          string           `json:"currency,omitempty"`
	Payment           MoneyValue       `json:"payment,omitzero"`
	Price             MoneyValue       `json:"price,omitzero"`
	State             OperationState   `json:"state,omitempty"`
	Quantity          Int64            `json:"quantity,omitempty"`
	QuantityRest      Int64            `json:"quantityRest,omitempty"`
	FIGI              string           `json:"figi,omitempty"`
	InstrumentType    string           `json:"instrumentType,omitempty"`
	Date              Timestamp        `json:"date,omitzero"`
	Type              string           `json:"type,omitempty"`
	OperationType     OperationType    `json:"operationType,omitempty"`
	Trades            []OperationTrade `json:"trades,omitempty"`
	AssetUID          string           `json:"assetUid,omitempty"`
	PositionUID       string           `json:"positionUid,omitempty"`
	InstrumentUID     string           `json:"instrumentUid,omitempty"`
}

// OperationTrade is one fill of an operation, in securities.
type OperationTrade struct {
	TradeID  string     `json:"tradeId,omitempty"`
	DateTime Timestamp  `json:"dateTime,omitzero"`
	Quantity Int64      `json:"quantity,omitempty"`
	Price    MoneyValue `json:"price,omitzero"`
}

// GetOperationsByCursorRequest is the body of GetOperationsByCursor.
type GetOperationsByCursorRequest struct {
	AccountID          string          `json:"accountId"`
	InstrumentID       string          `json:"instrumentId,omitempty"`
	From               Timestamp       `json:"from,omitzero"`
	To                 Timestamp       `json:"to,omitzero"`
	Cursor             string          `json:"cursor,omitempty"`
	Limit              int32           `json:"limit,omitempty"` // default 100, at most 1000
	OperationTypes     []OperationType `json:"operationTypes,omitempty"`
	State              OperationState  `json:"state,omitempty"`
	WithoutCommissions bool            `json:"withoutCommissions,omitempty"`
	WithoutTrades      bool            `json:"withoutTrades,omitempty"`
	WithoutOvernights  bool            `json:"withoutOvernights,omitempty"`
}

// GetOperationsByCursorResponse is one page of operations.
type GetOperationsByCursorResponse struct {
	HasNext    bool            `json:"hasNext,omitempty"`
	NextCursor string          `json:"nextCursor,omitempty"`
	Items      []OperationItem `json:"items,omitempty"`
}

// OperationItem is one operation of GetOperationsByCursor.
type OperationItem struct {
	Cursor            string               `json:"cursor,omitempty"`
	BrokerAccountID   string               `json:"brokerAccountId,omitempty"`
	ID                string               `json:"id,omitempty"`
	ParentOperationID string               `json:"parentOperationId,omitempty"`
	Name              string               `json:"name,omitempty"`
	Date              Timestamp            `json:"date,omitzero"`
	Type              OperationType        `json:"type,omitempty"`
	Description       string               `json:"description,omitempty"`
	State             OperationState       `json:"state,omitempty"`
	InstrumentUID     string               `json:"instrumentUid,omitempty"`
	FIGI              string               `json:"figi,omitempty"`
	InstrumentType    string               `json:"instrumentType,omitempty"`
	InstrumentKind    InstrumentType       `json:"instrumentKind,omitempty"`
	PositionUID       string               `json:"positionUid,omitempty"`
	Payment           MoneyValue           `json:"payment,omitzero"`
	Price             MoneyValue           `json:"price,omitzero"`
	Commission        MoneyValue           `json:"commission,omitzero"`
	Yield             MoneyValue           `json:"yield,omitzero"`
	YieldRelative     Quotation            `json:"yieldRelative,omitzero"`
	AccruedInt        MoneyValue           `json:"accruedInt,omitzero"`
	Quantity          Int64                `json:"quantity,omitempty"`
	QuantityRest      Int64                `json:"quantityRest,omitempty"`
	QuantityDone      Int64                `json:"quantityDone,omitempty"`
	CancelDateTime    Timestamp            `json:"cancelDateTime,omitzero"`
	CancelReason      string               `json:"cancelReason,omitempty"`
	TradesInfo        *OperationItemTrades `json:"tradesInfo,omitempty"`
	AssetUID          string               `json:"assetUid,omitempty"`
}

// OperationItemTrades wraps an operation's fills.
type OperationItemTrades struct {
	Trades []OperationItemTrade `json:"trades,omitempty"`
}

// OperationItemTrade is one fill, in securities.
type OperationItemTrade struct {
	Num           string     `json:"num,omitempty"`
	Date          Timestamp  `json:"date,omitzero"`
	Quantity      Int64      `json:"quantity,omitempty"`
	Price         MoneyValue `json:"price,omitzero"`
	Yield         MoneyValue `json:"yield,omitzero"`
	YieldRelative Quotation  `json:"yieldRelative,omitzero"`
}

// OpenSandboxAccountRequest is the body of OpenSandboxAccount.
type OpenSandboxAccountRequest struct {
	Name string `json:"name,omitempty"`
}

// OpenSandboxAccountResponse answers OpenSandboxAccount.
type OpenSandboxAccountResponse struct {
	AccountID string `json:"accountId"`
}

// CloseSandboxAccountRequest is the body of CloseSandboxAccount.
type CloseSandboxAccountRequest struct {
	AccountID string `json:"accountId"`
}

// SandboxPayInRequest is the body of SandboxPayIn (roubles).
type SandboxPayInRequest struct {
	AccountID string     `json:"accountId"`
	Amount    MoneyValue `json:"amount"`
}

// SandboxPayInResponse is the balance after the pay-in.
type SandboxPayInResponse struct {
	Balance MoneyValue `json:"balance"`
}

// Empty is a message without members (e.g. CloseSandboxAccount's answer).
type Empty struct{}

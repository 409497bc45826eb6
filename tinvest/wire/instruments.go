package wire

// InstrumentsRequest is the body of Shares, Bonds, Etfs, Currencies and
// Futures.
type InstrumentsRequest struct {
	InstrumentStatus InstrumentStatus `json:"instrumentStatus,omitempty"`
}

// InstrumentFields are the members every instrument kind has.
type InstrumentFields struct {
	FIGI                  string                `json:"figi,omitempty"`
	Ticker                string                `json:"ticker,omitempty"`
	ClassCode             string                `json:"classCode,omitempty"`
	ISIN                  string                `json:"isin,omitempty"`
	Lot                   int32                 `json:"lot,omitempty"`
	Currency              string                `json:"currency,omitempty"` // lower case, e.g. "rub"
	Name                  string                `json:"name,omitempty"`
	Exchange              string                `json:"exchange,omitempty"` // the trading schedule's name, e.g. "MOEX_PLUS"
	CountryOfRisk         string                `json:"countryOfRisk,omitempty"`
	TradingStatus         SecurityTradingStatus `json:"tradingStatus,omitempty"`
	MinPriceIncrement     Quotation             `json:"minPriceIncrement,omitzero"`
	ShortEnabledFlag      bool                  `json:"shortEnabledFlag,omitempty"`
	OTCFlag               bool                  `json:"otcFlag,omitempty"`
	BuyAvailableFlag      bool                  `json:"buyAvailableFlag,omitempty"`
	SellAvailableFlag     bool                  `json:"sellAvailableFlag,omitempty"`
	APITradeAvailableFlag bool                  `json:"apiTradeAvailableFlag,omitempty"`
	UID                   string                `json:"uid,omitempty"`
	PositionUID           string                `json:"positionUid,omitempty"`
	AssetUID              string                `json:"assetUid,omitempty"`
	RealExchange          RealExchange          `json:"realExchange,omitempty"`
	ForIISFlag            bool                  `json:"forIisFlag,omitempty"`
	ForQualInvestorFlag   bool                  `json:"forQualInvestorFlag,omitempty"`
	WeekendFlag           bool                  `json:"weekendFlag,omitempty"`
	BlockedTCAFlag        bool                  `json:"blockedTcaFlag,omitempty"`
	First1MinCandleDate   Timestamp             `json:"first1minCandleDate,omitzero"`
	First1DayCandleDate   Timestamp             `json:"first1dayCandleDate,omitzero"`
}

// Share is one entry of Shares.
type Share struct {
	InstrumentFields
	IPODate   Timestamp  `json:"ipoDate,omitzero"`
	IssueSize Int64      `json:"issueSize,omitempty"`
	Sector    string     `json:"sector,omitempty"`
	Nominal   MoneyValue `json:"nominal,omitzero"`
	ShareType string     `json:"shareType,omitempty"`
}

// Bond is one entry of Bonds.
type Bond struct {
	InstrumentFields
	MaturityDate Timestamp  `json:"maturityDate,omitzero"`
	Nominal      MoneyValue `json:"nominal,omitzero"`
	ACIValue     MoneyValue `json:"aciValue,omitzero"`
	Sector       string     `json:"sector,omitempty"`
}

// Etf is one entry of Etfs.
type Etf struct {
	InstrumentFields
	FocusType string `json:"focusType,omitempty"`
	Sector    string `json:"sector,omitempty"`
}

// Currency is one entry of Currencies.
type Currency struct {
	InstrumentFields
	Nominal         MoneyValue `json:"nominal,omitzero"`
	ISOCurrencyName string     `json:"isoCurrencyName,omitempty"`
}

// Future is one entry of Futures.
type Future struct {
	InstrumentFields
	FirstTradeDate          Timestamp `json:"firstTradeDate,omitzero"`
	LastTradeDate           Timestamp `json:"lastTradeDate,omitzero"`
	ExpirationDate          Timestamp `json:"expirationDate,omitzero"`
	FuturesType             string    `json:"futuresType,omitempty"`
	AssetType               string    `json:"assetType,omitempty"`
	BasicAsset              string    `json:"basicAsset,omitempty"`
	BasicAssetSize          Quotation `json:"basicAssetSize,omitzero"`
	MinPriceIncrementAmount Quotation `json:"minPriceIncrementAmount,omitzero"`
}

// SharesResponse and its siblings are the lists' answers.
type SharesResponse struct {
	Instruments []Share `json:"instruments,omitempty"`
}

type BondsResponse struct {
	Instruments []Bond `json:"instruments,omitempty"`
}

type EtfsResponse struct {
	Instruments []Etf `json:"instruments,omitempty"`
}

type CurrenciesResponse struct {
	Instruments []Currency `json:"instruments,omitempty"`
}

type FuturesResponse struct {
	Instruments []Future `json:"instruments,omitempty"`
}

// InstrumentRequest is the body of GetInstrumentBy.
type InstrumentRequest struct {
	IDType    InstrumentIDType `json:"idType"`
	ClassCode string           `json:"classCode,omitempty"` // required with INSTRUMENT_ID_TYPE_TICKER
	ID        string           `json:"id"`
}

// Instrument is GetInstrumentBy's instrument.
type Instrument struct {
	InstrumentFields
	InstrumentType string         `json:"instrumentType,omitempty"` // "share", "bond", ...
	InstrumentKind InstrumentType `json:"instrumentKind,omitempty"`
}

// InstrumentResponse is GetInstrumentBy's answer.
type InstrumentResponse struct {
	Instrument Instrument `json:"instrument"`
}

// TradingSchedulesRequest is the body of TradingSchedules; an empty
// exchange asks for every exchange. The range is at most 14 days.
type TradingSchedulesRequest struct {
	Exchange string    `json:"exchange,omitempty"`
	From     Timestamp `json:"from,omitzero"`
	To       Timestamp `json:"to,omitzero"`
}

// TradingSchedulesResponse lists schedules per exchange.
type TradingSchedulesResponse struct {
	Exchanges []TradingSchedule `json:"exchanges,omitempty"`
}

// TradingSchedule is one exchange's calendar.
type TradingSchedule struct {
	Exchange string       `json:"exchange"`
	Days     []TradingDay `json:"days,omitempty"`
}

// TradingDay is one calendar day of a schedule; times are UTC and absent
// (zero) where the day has no such period.
type TradingDay struct {
	Date                           Timestamp         `json:"date"`
	IsTradingDay                   bool              `json:"isTradingDay,omitempty"`
	StartTime                      Timestamp         `json:"startTime,omitzero"`
	EndTime                        Timestamp         `json:"endTime,omitzero"`
	OpeningAuctionStartTime        Timestamp         `json:"openingAuctionStartTime,omitzero"`
	OpeningAuctionEndTime          Timestamp         `json:"openingAuctionEndTime,omitzero"`
	ClosingAuctionStartTime        Timestamp         `json:"closingAuctionStartTime,omitzero"`
	ClosingAuctionEndTime          Timestamp         `json:"closingAuctionEndTime,omitzero"`
	EveningOpeningAuctionStartTime Timestamp         `json:"eveningOpeningAuctionStartTime,omitzero"`
	EveningStartTime               Timestamp         `json:"eveningStartTime,omitzero"`
	EveningEndTime                 Timestamp         `json:"eveningEndTime,omitzero"`
	ClearingStartTime              Timestamp         `json:"clearingStartTime,omitzero"`
	ClearingEndTime                Timestamp         `json:"clearingEndTime,omitzero"`
	PremarketStartTime             Timestamp         `json:"premarketStartTime,omitzero"`
	PremarketEndTime               Timestamp         `json:"premarketEndTime,omitzero"`
	Intervals                      []TradingInterval `json:"intervals,omitempty"`
}

// TradingInterval is a named period of a trading day.
type TradingInterval struct {
	Type     string       `json:"type,omitempty"`
	Interval TimeInterval `json:"interval"`
}

// TimeInterval is [StartTS, EndTS).
type TimeInterval struct {
	StartTS Timestamp `json:"startTs,omitzero"`
	EndTS   Timestamp `json:"endTs,omitzero"`
}

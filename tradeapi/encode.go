package tradeapi

import (
	"math"
	"strconv"
	"time"

	"tvbridge"
)

// The JSON shapes of the spec's payloads. Optional fields the spec wants
// left out when they do not apply are omitempty; every list is non-nil so it
// encodes as [] rather than null.

type okResponse struct {
	S string `json:"s"`
	D any    `json:"d"`
}

// noData is the payload of endpoints that answer {"s":"ok"} alone.
type noData struct{}

type configData struct {
	AccountManager  []tableJSON    `json:"accountManager"`
	Durations       []durationJSON `json:"durations"`
	PullingInterval pullingJSON    `json:"pullingInterval"`
}

type tableJSON struct {
	ID      string       `json:"id"`
	Title   string       `json:"title,omitempty"`
	Columns []columnJSON `json:"columns"`
}

type columnJSON struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Alignment string `json:"alignment,omitempty"`
}

type durationJSON struct {
	ID                  string   `json:"id"`
	Title               string   `json:"title"`
	HasDatePicker       bool     `json:"hasDatePicker,omitempty"`
	HasTimePicker       bool     `json:"hasTimePicker,omitempty"`
	Default             bool     `json:"default,omitempty"`
	SupportedOrderTypes []string `json:"supportedOrderTypes"`
}

type pullingJSON struct {
	Quotes         int64 `json:"quotes"`
	Orders         int64 `json:"orders"`
	Positions      int64 `json:"positions"`
	AccountManager int64 `json:"accountManager"`
	Balances       int64 `json:"balances"`
}

type accountJSON struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Type         string        `json:"type"`
	Currency     string        `json:"currency,omitempty"`
	CurrencySign string        `json:"currencySign,omitempty"`
	Config       *AccountFlags `json:"config"`
}

type instrumentJSON struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	MinQty      float64 `json:"minQty"`
	QtyStep     float64 `json:"qtyStep"`
	PipSize     float64 `json:"pipSize"`
	PipValue    float64 `json:"pipValue"`
	MinTick     float64 `json:"minTick"`
	Type        string  `json:"type"`
}

type balanceJSON struct {
	Symbol        string   `json:"symbol"`
	Total         float64  `json:"total"`
	Available     float64  `json:"available"`
	Reserved      float64  `json:"reserved"`
	Value         *float64 `json:"value,omitempty"`
	ValueCurrency string   `json:"valueCurrency,omitempty"`
}

type stateJSON struct {
	Balance         float64      `json:"balance"`
	UnrealizedPL    float64      `json:"unrealizedPl"`
	Equity          float64      `json:"equity"`
	AMData          [][][]string `json:"amData"`
	MarginAvailable float64      `json:"marginAvailable"`
}

type orderJSON struct {
	ID               string       `json:"id"`
	Instrument       string       `json:"instrument"`
	Qty              float64      `json:"qty"`
	Side             string       `json:"side"`
	Type             string       `json:"type"`
	Status           string       `json:"status"`
	FilledQty        float64      `json:"filledQty,omitempty"`
	AvgPrice         float64      `json:"avgPrice,omitempty"`
	LimitPrice       float64      `json:"limitPrice,omitempty"`
	StopPrice        float64      `json:"stopPrice,omitempty"`
	TrailingStopPips float64      `json:"trailingStopPips,omitempty"`
	IsTrailingStop   bool         `json:"isTrailingStop,omitempty"`
	ParentID         string       `json:"parentId,omitempty"`
	ParentType       string       `json:"parentType,omitempty"`
	Duration         *durationRef `json:"duration,omitempty"`
	LastModified     int64        `json:"lastModified,omitempty"`
	Message          *messageJSON `json:"message,omitempty"`
}

type durationRef struct {
	Type     string `json:"type"`
	Datetime int64  `json:"datetime,omitempty"`
}

type messageJSON struct {
	Text string `json:"text"`
	Type string `json:"type"`
}

type positionJSON struct {
	ID           string  `json:"id"`
	Instrument   string  `json:"instrument"`
	Qty          float64 `json:"qty"`
	Side         string  `json:"side"`
	AvgPrice     float64 `json:"avgPrice"`
	UnrealizedPL float64 `json:"unrealizedPl"`
}

type executionJSON struct {
	ID         string  `json:"id"`
	Instrument string  `json:"instrument"`
	Price      float64 `json:"price"`
	Time       int64   `json:"time"`
	Qty        float64 `json:"qty"`
	Side       string  `json:"side"`
	OrderID    string  `json:"orderId"`
	IsClose    bool    `json:"isClose"`
	PositionID string  `json:"positionId,omitempty"`
	Commission float64 `json:"commission"`
}

type postOrderJSON struct {
	OrderID string `json:"orderId"`
}

type previewJSON struct {
	Sections []sectionJSON `json:"sections"`
	Warnings []string      `json:"warnings,omitempty"`
}

type sectionJSON struct {
	Header string    `json:"header,omitempty"`
	Rows   []rowJSON `json:"rows"`
}

type rowJSON struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type quoteJSON struct {
	S string    `json:"s"`
	N string    `json:"n"`
	V quoteData `json:"v"`
}

type quoteData struct {
	Ask          float64 `json:"ask"`
	Bid          float64 `json:"bid"`
	BuyPipValue  float64 `json:"buyPipValue,omitempty"`
	SellPipValue float64 `json:"sellPipValue,omitempty"`
	Halted       bool    `json:"halted,omitempty"`
}

type depthJSON struct {
	Asks [][2]float64 `json:"asks"`
	Bids [][2]float64 `json:"bids"`
}

type mappingJSON struct {
	Symbols []mappingEntry `json:"symbols"`
	Fields  []string       `json:"fields"`
}

type mappingEntry struct {
	F []string `json:"f"`
	S string   `json:"s"`
}

// clean rounds v to 12 significant digits, so float noise such as
// 0.30000000000000004 never reaches a trader's screen. Non-finite values
// pass through and make encoding fail loudly: they are bugs upstream.
func clean(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) >= 1e15 {
		return v
	}
	scale := pow10(11 - math.Floor(math.Log10(math.Abs(v))))
	if math.IsInf(scale, 0) {
		return v
	}
	return math.Round(v*scale) / scale
}

// pow10 is math.Pow(10, e) for a whole e, from a table of its own values
// over the exponents clean meets (math.Pow is most of clean's time).
func pow10(e float64) float64 {
	if e >= minPow10 && e < minPow10+float64(len(pow10s)) && e == math.Trunc(e) {
		return pow10s[int(e)-minPow10]
	}
	return math.Pow(10, e)
}

const minPow10 = -4

var pow10s = func() (t [340]float64) {
	for i := range t {
		t[i] = math.Pow(10, float64(i+minPow10))
	}
	return t
}()

// formatMoney formats an amount with two decimals for account manager
// cells, which TradingView shows as they are.
func formatMoney(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	if s == "-0.00" {
		return "0.00"
	}
	return s
}

// unix is a time in Unix seconds, or 0 (omitted) for the zero time.
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// messageKinds are the message types the spec allows.
var messageKinds = map[string]bool{"information": true, "warning": true, "error": true}

// orderJSONOf converts an order. Only limit and stop-limit orders carry
// limitPrice, only stop and stop-limit orders stopPrice, only trailing
// stops trailingStopPips, and only (partly) filled orders filledQty and
// avgPrice, as the spec asks.
func orderJSONOf(o tvbridge.Order, instrument string) orderJSON {
	j := orderJSON{
		ID: o.ID, Instrument: instrument, Qty: clean(o.Qty), Side: string(o.Side),
		Type: string(o.Type), Status: string(o.Status),
		ParentID: o.ParentID, ParentType: string(o.ParentKind),
		LastModified: unix(o.Updated),
	}
	if j.ParentID == "" {
		j.ParentType = ""
	}
	if j.LastModified == 0 {
		j.LastModified = unix(o.Created)
	}
	if o.FilledQty > 0 {
		j.FilledQty, j.AvgPrice = clean(o.FilledQty), clean(o.AvgPrice)
	}
	if o.Type == tvbridge.LimitOrder || o.Type == tvbridge.StopLimitOrder {
		j.LimitPrice = clean(o.LimitPrice)
	}
	if o.Type == tvbridge.StopOrder || o.Type == tvbridge.StopLimitOrder {
		j.StopPrice = clean(o.StopPrice)
	}
	if o.TrailingStopPips > 0 {
		j.TrailingStopPips, j.IsTrailingStop = clean(o.TrailingStopPips), true
	}
	if o.Duration.Type != "" {
		j.Duration = &durationRef{Type: o.Duration.Type, Datetime: unix(o.Duration.Until)}
	}
	if o.Message != "" {
		kind := o.MessageKind
		if !messageKinds[kind] {
			kind = "information"
		}
		j.Message = &messageJSON{Text: o.Message, Type: kind}
	}
	return j
}

func positionJSONOf(p tvbridge.Position, instrument string) positionJSON {
	return positionJSON{ID: p.ID, Instrument: instrument, Qty: clean(p.Qty), Side: string(p.Side),
		AvgPrice: clean(p.AvgPrice), UnrealizedPL: clean(p.UnrealizedPL)}
}

func executionJSONOf(e tvbridge.Execution, instrument string) executionJSON {
	return executionJSON{ID: e.ID, Instrument: instrument, Price: clean(e.Price), Time: e.Time.Unix(),
		Qty: clean(e.Qty), Side: string(e.Side), OrderID: e.OrderID, IsClose: e.IsClose,
		PositionID: e.PositionID, Commission: clean(e.Commission)}
}

func stateJSONOf(l lang, s tvbridge.AccountState) stateJSON {
	return stateJSON{Balance: clean(s.Balance), UnrealizedPL: clean(s.UnrealizedPL), Equity: clean(s.Equity),
		AMData: amData(l, s), MarginAvailable: clean(s.MarginAvailable)}
}

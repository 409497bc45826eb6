package tradeapi

import (
	"fmt"
	"slices"
	"time"

	"tvbridge"
)

// AccountFlags are the feature flags of every account (Account.config in
// the spec). Every flag is sent explicitly, so what TradingView assumes
// never depends on the spec's defaults. Deprecated flags (supportBrackets,
// supportModifyOrder) are left out.
type AccountFlags struct {
	SupportOrderBrackets                   bool `json:"supportOrderBrackets"`
	SupportAddBracketsToExistingOrder      bool `json:"supportAddBracketsToExistingOrder"`
	SupportMarketBrackets                  bool `json:"supportMarketBrackets"`
	SupportPositionBrackets                bool `json:"supportPositionBrackets"`
	SupportPositions                       bool `json:"supportPositions"`
	SupportMultiposition                   bool `json:"supportMultiposition"`
	SupportClosePosition                   bool `json:"supportClosePosition"`
	SupportPartialClosePosition            bool `json:"supportPartialClosePosition"`
	SupportReversePosition                 bool `json:"supportReversePosition"`
	SupportNativeReversePosition           bool `json:"supportNativeReversePosition"`
	SupportMarketOrders                    bool `json:"supportMarketOrders"`
	SupportLimitOrders                     bool `json:"supportLimitOrders"`
	SupportStopOrders                      bool `json:"supportStopOrders"`
	SupportStopLimitOrders                 bool `json:"supportStopLimitOrders"`
	SupportTrailingStop                    bool `json:"supportTrailingStop"`
	SupportGuaranteedStop                  bool `json:"supportGuaranteedStop"`
	SupportStopOrdersInBothDirections      bool `json:"supportStopOrdersInBothDirections"`
	SupportStopLimitOrdersInBothDirections bool `json:"supportStopLimitOrdersInBothDirections"`
	SupportPartialOrderExecution           bool `json:"supportPartialOrderExecution"`
	SupportModifyOrderPrice                bool `json:"supportModifyOrderPrice"`
	SupportEditAmount                      bool `json:"supportEditAmount"`
	SupportModifyBrackets                  bool `json:"supportModifyBrackets"`
	SupportModifyDuration                  bool `json:"supportModifyDuration"`
	SupportCryptoExchangeOrderTicket       bool `json:"supportCryptoExchangeOrderTicket"`
	SupportDigitalSignature                bool `json:"supportDigitalSignature"`
	SupportPlaceOrderPreview               bool `json:"supportPlaceOrderPreview"`
	SupportModifyOrderPreview              bool `json:"supportModifyOrderPreview"`
	ShowQuantityInsteadOfAmount            bool `json:"showQuantityInsteadOfAmount"`
	SupportBalances                        bool `json:"supportBalances"`
	SupportOrdersHistory                   bool `json:"supportOrdersHistory"`
	SupportExecutions                      bool `json:"supportExecutions"`
	SupportLeverage                        bool `json:"supportLeverage"`
	SupportLeverageButton                  bool `json:"supportLeverageButton"`
	SupportDOM                             bool `json:"supportDOM"`
	SupportLevel2Data                      bool `json:"supportLevel2Data"`
	SupportPLUpdate                        bool `json:"supportPLUpdate"`
	SupportDisplayBrokerNameInSymbolSearch bool `json:"supportDisplayBrokerNameInSymbolSearch"`
	SupportLogout                          bool `json:"supportLogout"`
	SupportCustomAccountSummaryRow         bool `json:"supportCustomAccountSummaryRow"`
	SupportPositionCustomFields            bool `json:"supportPositionCustomFields"`
	SupportOrderCustomFields               bool `json:"supportOrderCustomFields"`
	SupportOrderHistoryCustomFields        bool `json:"supportOrderHistoryCustomFields"`
	SupportTrackLatency                    bool `json:"supportTrackLatency"`
	SupportPositionNetting                 bool `json:"supportPositionNetting"`
	SupportIndividualPositionBrackets      bool `json:"supportIndividualPositionBrackets"`
	SupportPartialCloseIndividualPosition  bool `json:"supportPartialCloseIndividualPosition"`
	SupportStrictCheckingLimitOrderPrice   bool `json:"supportStrictCheckingLimitOrderPrice"`
}

// DefaultAccountFlags describe what the trading core and this handler do:
// market, limit, stop and stop-limit orders; order and position brackets
// with trailing stops; partial fills; modifying price, quantity, brackets
// and duration; close, partial close and native reverse of positions;
// executions, orders history, place-order preview, DOM with level 2 data
// from /depth, and unrealized P/L computed by the broker. Balances (crypto),
// leverage, guaranteed stops, netting, multiposition, custom fields,
// digital signatures and latency tracking are not offered. Stops keep the
// ticket's direction check; logout is the auth layer's to enable.
func DefaultAccountFlags() AccountFlags {
	return AccountFlags{
		SupportOrderBrackets:                   true,
		SupportAddBracketsToExistingOrder:      true,
		SupportMarketBrackets:                  true,
		SupportPositionBrackets:                true,
		SupportPositions:                       true,
		SupportClosePosition:                   true,
		SupportPartialClosePosition:            true,
		SupportReversePosition:                 true,
		SupportNativeReversePosition:           true,
		SupportMarketOrders:                    true,
		SupportLimitOrders:                     true,
		SupportStopOrders:                      true,
		SupportStopLimitOrders:                 true,
		SupportTrailingStop:                    true,
		SupportPartialOrderExecution:           true,
		SupportModifyOrderPrice:                true,
		SupportEditAmount:                      true,
		SupportModifyBrackets:                  true,
		SupportModifyDuration:                  true,
		SupportPlaceOrderPreview:               true,
		SupportOrdersHistory:                   true,
		SupportExecutions:                      true,
		SupportDOM:                             true,
		SupportLevel2Data:                      true,
		SupportPLUpdate:                        true,
		SupportDisplayBrokerNameInSymbolSearch: true,
	}
}

// Duration is a time in force offered in the order ticket. Its ID is what
// TradingView sends back as durationType and what the core receives as
// OrderDuration.Type.
type Duration struct {
	ID    string
	Title Text
	// DatePicker and TimePicker make the ticket ask for an expiry, sent as
	// durationDateTime and passed on as OrderDuration.Until.
	DatePicker, TimePicker bool
	// Default marks the duration used for instant orders; at most one.
	Default bool
	// OrderTypes are the order types the duration applies to; at least one.
	OrderTypes []tvbridge.OrderType
}

// DefaultDurations are the durations every backend offers: DAY for every
// order type (the default) and GTC for orders that rest.
func DefaultDurations() []Duration {
	return []Duration{
		{ID: tvbridge.DurationDay, Title: Text{"Day", "День"}, Default: true,
			OrderTypes: []tvbridge.OrderType{tvbridge.MarketOrder, tvbridge.LimitOrder, tvbridge.StopOrder, tvbridge.StopLimitOrder}},
		{ID: tvbridge.DurationGTC, Title: Text{"Good till cancelled", "До отмены"},
			OrderTypes: []tvbridge.OrderType{tvbridge.LimitOrder, tvbridge.StopOrder, tvbridge.StopLimitOrder}},
	}
}

func validateDurations(ds []Duration) error {
	if len(ds) == 0 {
		return fmt.Errorf("no durations")
	}
	seen := map[string]bool{}
	defaults := 0
	for _, d := range ds {
		if d.ID == "" || d.Title.EN == "" || seen[d.ID] {
			return fmt.Errorf("duration %q: empty or repeated id, or no English title", d.ID)
		}
		seen[d.ID] = true
		if len(d.OrderTypes) == 0 || slices.ContainsFunc(d.OrderTypes, func(t tvbridge.OrderType) bool { return !t.Valid() }) {
			return fmt.Errorf("duration %q: order types %v", d.ID, d.OrderTypes)
		}
		if d.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return fmt.Errorf("%d default durations, want at most one", defaults)
	}
	return nil
}

// PullingInterval is how often TradingView polls. Zero fields take the
// spec's defaults; values above the spec's maximums are lowered to them,
// as TradingView would.
type PullingInterval struct {
	Quotes, Orders, Positions, AccountManager, Balances time.Duration
}

var (
	defaultPulling = PullingInterval{Quotes: 500 * time.Millisecond, Orders: 500 * time.Millisecond,
		Positions: time.Second, AccountManager: 500 * time.Millisecond, Balances: time.Second}
	maxPulling = PullingInterval{Quotes: time.Second, Orders: time.Second,
		Positions: 1500 * time.Millisecond, AccountManager: 1500 * time.Millisecond, Balances: 1500 * time.Millisecond}
)

func (p PullingInterval) withLimits() PullingInterval {
	fix := func(v, def, max time.Duration) time.Duration {
		if v <= 0 {
			return def
		}
		return min(v, max)
	}
	return PullingInterval{
		Quotes:         fix(p.Quotes, defaultPulling.Quotes, maxPulling.Quotes),
		Orders:         fix(p.Orders, defaultPulling.Orders, maxPulling.Orders),
		Positions:      fix(p.Positions, defaultPulling.Positions, maxPulling.Positions),
		AccountManager: fix(p.AccountManager, defaultPulling.AccountManager, maxPulling.AccountManager),
		Balances:       fix(p.Balances, defaultPulling.Balances, maxPulling.Balances),
	}
}

// summaryColumn is one column of the account manager's summary table: its
// title in /config and its cell in every /state row.
type summaryColumn struct {
	id    string
	title Text
	value func(tvbridge.CurrencyState) string
	// amount, for the money columns, is the number value formats; /state
	// appends it as formatMoney would (appendMoney).
	amount func(tvbridge.CurrencyState) float64
}

func moneyColumn(id string, title Text, f func(tvbridge.CurrencyState) float64) summaryColumn {
	return summaryColumn{id: id, title: title, value: func(s tvbridge.CurrencyState) string { return formatMoney(f(s)) }, amount: f}
}

var summaryColumns = []summaryColumn{
	{id: "currency", title: Text{"Currency", "Валюта"}, value: func(s tvbridge.CurrencyState) string { return s.Currency }},
	moneyColumn("balance", Text{"Balance", "Баланс"}, func(s tvbridge.CurrencyState) float64 { return s.Balance }),
	moneyColumn("equity", Text{"Equity", "Капитал"}, func(s tvbridge.CurrencyState) float64 { return s.Equity }),
	moneyColumn("unrealizedPl", Text{"Unrealized P&L", "Нереализованная прибыль"}, func(s tvbridge.CurrencyState) float64 { return s.UnrealizedPL }),
	moneyColumn("realizedPl", Text{"Realized P&L", "Реализованная прибыль"}, func(s tvbridge.CurrencyState) float64 { return s.RealizedPL }),
	moneyColumn("commissions", Text{"Commissions", "Комиссии"}, func(s tvbridge.CurrencyState) float64 { return s.Commissions }),
	moneyColumn("marginUsed", Text{"Margin used", "Задействовано"}, func(s tvbridge.CurrencyState) float64 { return s.MarginUsed }),
	moneyColumn("marginAvailable", Text{"Available", "Доступно"}, func(s tvbridge.CurrencyState) float64 { return s.MarginAvailable }),
	{id: "rate", title: Text{"Rate", "Курс"}, value: formatRate},
}

var (
	summaryTitle = Text{"Account summary", "Сводка по счёту"}
	// totalRow labels the row of totals in the account currency.
	totalRow = Text{"Total, %s", "Итого, %s"}
)

// formatRate shows the exchange rate a currency's row was converted at
// into the account currency, or "—" when none is known (its money is then
// left out of the totals).
func formatRate(s tvbridge.CurrencyState) string {
	if s.Rate > 0 {
		return formatNumber(s.Rate)
	}
	return "—"
}

// configJSON is the /config payload in one language.
func configJSON(l lang, durations []Duration, p PullingInterval) configData {
	cols := make([]columnJSON, len(summaryColumns))
	for i, c := range summaryColumns {
		align := "right" // numbers
		if c.id == "currency" {
			align = "left"
		}
		cols[i] = columnJSON{ID: c.id, Title: c.title.in(l), Alignment: align}
	}
	ds := make([]durationJSON, len(durations))
	for i, d := range durations {
		types := make([]string, len(d.OrderTypes))
		for j, t := range d.OrderTypes {
			types[j] = string(t)
		}
		ds[i] = durationJSON{ID: d.ID, Title: d.Title.in(l), HasDatePicker: d.DatePicker,
			HasTimePicker: d.TimePicker, Default: d.Default, SupportedOrderTypes: types}
	}
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	return configData{
		AccountManager: []tableJSON{{ID: "accountSummary", Title: summaryTitle.in(l), Columns: cols}},
		Durations:      ds,
		PullingInterval: pullingJSON{Quotes: ms(p.Quotes), Orders: ms(p.Orders), Positions: ms(p.Positions),
			AccountManager: ms(p.AccountManager), Balances: ms(p.Balances)},
	}
}

// amData is the /state account manager data: one table, the summary
// columns in /config order, a row per currency in that currency with the
// rate it converts at, and, when there are several, a first row of the
// totals in the account currency (s.Currencies[0]).
func amData(l lang, s tvbridge.AccountState) [][][]string {
	rows := make([][]string, 0, len(s.Currencies)+1)
	if len(s.Currencies) > 1 {
		total := tvbridge.CurrencyState{Currency: fmt.Sprintf(totalRow.in(l), s.Currencies[0].Currency),
			Balance: s.Balance, UnrealizedPL: s.UnrealizedPL, Equity: s.Equity, RealizedPL: s.RealizedPL,
			Commissions: s.Commissions, MarginUsed: s.MarginUsed, MarginAvailable: s.MarginAvailable}
		row := summaryRow(total)
		row[len(row)-1] = "" // the totals are in the account currency: no rate
		rows = append(rows, row)
	}
	for _, cs := range s.Currencies {
		rows = append(rows, summaryRow(cs))
	}
	return [][][]string{rows}
}

func summaryRow(s tvbridge.CurrencyState) []string {
	row := make([]string, len(summaryColumns))
	for i, c := range summaryColumns {
		row[i] = c.value(s)
	}
	return row
}

// currencySigns are the signs TradingView shows next to account currencies.
var currencySigns = map[string]string{
	"RUB": "₽", "USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "JPY": "¥",
	"HKD": "HK$", "CHF": "₣", "TRY": "₺", "KZT": "₸",
}

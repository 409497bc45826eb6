package tradeapi

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"tvbridge"
	"tvbridge/api"
)

// Yandex trades on two venues; TradingView knows them as MOEX_YNDX and
// SPB_YNDX, never as the ticker YNDX.
const (
	yndxMOEX = "BBG006L8G4H1"
	yndxSPB  = "BBG001NVJ6W4"
)

func withYandex(c *Config) {
	insts := append(fixtureInstruments(),
		tvbridge.Instrument{FIGI: yndxMOEX, Ticker: "YNDX", Name: "Яндекс", Type: tvbridge.Stock, Currency: "RUB", Lot: 1,
			MinPriceIncrement: 0.2, Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "1000-1840:23456"},
		tvbridge.Instrument{FIGI: yndxSPB, Ticker: "YNDX", Name: "Yandex N.V.", Type: tvbridge.Stock, Currency: "USD", Lot: 1,
			MinPriceIncrement: 0.01, Exchange: "SPB", Timezone: "America/New_York", Session: "0930-1600:23456"})
	cat, err := api.BuildCatalog(insts, api.CatalogOptions{Logger: discardLogger()})
	if err != nil {
		panic(err)
	}
	c.Catalog = cat
}

// TestReasonMessages: every reason a refusal can carry reads, in English
// and in Russian, as what is wrong in the trader's terms, with the
// instrument under its TradingView name.
func TestReasonMessages(t *testing.T) {
	f := newFixture(t, withYandex)
	refuse := func(code tvbridge.ErrorCode, r tvbridge.Reason, field string, p tvbridge.ErrorParams) *tvbridge.TradingError {
		return &tvbridge.TradingError{Code: code, Reason: r, Field: field, Params: p, Detail: "English detail, never shown"}
	}
	buySL := func(ref tvbridge.PriceRef, side tvbridge.Side) tvbridge.ErrorParams {
		return tvbridge.ErrorParams{Side: side, Ref: ref, Price: 250.5}
	}
	cases := []struct {
		err    *tvbridge.TradingError
		en, ru string
	}{
		{refuse(tvbridge.ErrInvalidRequest, tvbridge.ReasonSide, "side", tvbridge.ErrorParams{}),
			"Side must be buy or sell.", "Направление заявки должно быть «покупка» или «продажа»."},
		{refuse(tvbridge.ErrInvalidRequest, tvbridge.ReasonOrderType, "type", tvbridge.ErrorParams{}),
			"Order type must be market, limit, stop or stop-limit.", "Тип заявки должен быть рыночный, лимитный, стоп или стоп-лимит."},
		{refuse(tvbridge.ErrInvalidQty, tvbridge.ReasonQtyPositive, "qty", tvbridge.ErrorParams{}),
			"The quantity must be greater than zero.", "Количество должно быть больше нуля."},
		{refuse(tvbridge.ErrInvalidQty, tvbridge.ReasonQtyTooLarge, "qty", tvbridge.ErrorParams{Value: 1e13}),
			"The quantity 10000000000000 is too large.", "Количество 10000000000000 слишком велико."},
		{refuse(tvbridge.ErrInvalidQty, tvbridge.ReasonQtyLot, "qty", tvbridge.ErrorParams{FIGI: sberFIGI, Value: 15, Lot: 10}),
			"The quantity 15 is not a whole number of lots: SBER trades in lots of 10.",
			"Количество 15 не кратно лоту: SBER торгуется лотами по 10 шт."},
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonPricePositive, "limitPrice", tvbridge.ErrorParams{}),
			"Limit price must be greater than zero.", "Поле «Лимитная цена»: цена должна быть больше нуля."},
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonPriceStep, "stopLoss", tvbridge.ErrorParams{FIGI: yndxSPB, Value: 35.005, Step: 0.01}),
			"Stop loss 35.005 is not a multiple of the price step of SPB_YNDX, 0.01.",
			"Поле «Стоп-лосс»: цена 35.005 не кратна шагу цены SPB_YNDX (0.01)."},
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonPriceRequired, "stopPrice", tvbridge.ErrorParams{OrderType: tvbridge.StopLimitOrder}),
			"Stop price is required for stop-limit orders.", "Для заявки типа «стоп-лимит» нужно заполнить поле «Стоп-цена»."},
		{refuse(tvbridge.ErrUnsupported, tvbridge.ReasonDuration, "durationType", tvbridge.ErrorParams{Text: "GTT"}),
			`Duration "GTT" is not offered: choose Day or Good till cancelled.`, `Срок "GTT" недоступен: выберите «День» или «До отмены».`},
		{refuse(tvbridge.ErrInvalidRequest, tvbridge.ReasonTrailingPips, "trailingStopPips", tvbridge.ErrorParams{}),
			"The trailing stop distance must be a positive number of pips.", "Отступ трейлинг-стопа должен быть положительным числом пунктов."},
		{refuse(tvbridge.ErrUnsupported, tvbridge.ReasonTrailingStep, "trailingStopPips", tvbridge.ErrorParams{FIGI: yndxMOEX}),
			"Trailing stops are not available for MOEX_YNDX: its price step is unknown.",
			"Трейлинг-стоп для MOEX_YNDX недоступен: шаг цены неизвестен."},

		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonStopSide, "stopPrice", tvbridge.ErrorParams{Side: tvbridge.Buy, Price: 250.5}),
			"A buy stop must be above the market price (250.5), or it would trigger at once.",
			"Стоп-цена заявки на покупку должна быть выше рыночной цены (250.5), иначе заявка сработает сразу."},
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonStopSide, "stopPrice", tvbridge.ErrorParams{Side: tvbridge.Sell, Price: 250.5}),
			"A sell stop must be below the market price (250.5), or it would trigger at once.",
			"Стоп-цена заявки на продажу должна быть ниже рыночной цены (250.5), иначе заявка сработает сразу."},
		// The case: a stop loss above the limit price of a buy.
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonStopLossSide, "stopLoss", buySL(tvbridge.RefLimit, tvbridge.Buy)),
			"The stop loss must be below the limit price (250.5) for a buy order.",
			"Стоп-лосс должен быть ниже лимитной цены (250.5) для заявки на покупку."},
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonStopLossSide, "stopLoss", buySL(tvbridge.RefStop, tvbridge.Sell)),
			"The stop loss must be above the stop price (250.5) for a sell order.",
			"Стоп-лосс должен быть выше стоп-цены (250.5) для заявки на продажу."},
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonStopLossSide, "stopLoss", buySL(tvbridge.RefPosition, tvbridge.Sell)),
			"The stop loss must be above the current price (250.5) for a short position.",
			"Стоп-лосс должен быть выше текущей цены (250.5) для короткой позиции."},
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonTakeProfitSide, "takeProfit", buySL(tvbridge.RefMarket, tvbridge.Buy)),
			"The take profit must be above the market price (250.5) for a buy order.",
			"Тейк-профит должен быть выше рыночной цены (250.5) для заявки на покупку."},
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonTakeProfitSide, "takeProfit", buySL(tvbridge.RefCurrent, tvbridge.Sell)),
			"The take profit must be below the current price (250.5) for a sell order.",
			"Тейк-профит должен быть ниже текущей цены (250.5) для заявки на продажу."},
		{refuse(tvbridge.ErrInvalidPrice, tvbridge.ReasonTakeProfitSide, "takeProfit", buySL(tvbridge.RefPosition, tvbridge.Buy)),
			"The take profit must be above the current price (250.5) for a long position.",
			"Тейк-профит должен быть выше текущей цены (250.5) для длинной позиции."},
		{refuse(tvbridge.ErrMarketClosed, tvbridge.ReasonMarketClosed, "", tvbridge.ErrorParams{FIGI: yndxSPB}),
			"SPB_YNDX is not trading now, so a market order cannot be executed.",
			"SPB_YNDX сейчас не торгуется, рыночную заявку исполнить нельзя."},
		{refuse(tvbridge.ErrNoMarketData, tvbridge.ReasonNoPrice, "", tvbridge.ErrorParams{FIGI: yndxSPB}),
			"There is no live price of SPB_YNDX to execute a market order at. Please try again shortly.",
			"Сейчас нет цены SPB_YNDX, по которой можно исполнить рыночную заявку. Попробуйте чуть позже."},
		{refuse(tvbridge.ErrNoMarketData, tvbridge.ReasonStaleBook, "", tvbridge.ErrorParams{FIGI: yndxMOEX}),
			"The order book of MOEX_YNDX is out of date, so a market order cannot be executed. Please try again shortly.",
			"Стакан MOEX_YNDX устарел, рыночную заявку исполнить нельзя. Попробуйте чуть позже."},
		{refuse(tvbridge.ErrNoMarketData, tvbridge.ReasonNoLiquidity, "", tvbridge.ErrorParams{FIGI: yndxMOEX, Side: tvbridge.Buy}),
			"The order book of MOEX_YNDX has no offers to fill a market order against.",
			"В стакане MOEX_YNDX нет встречных заявок, рыночную заявку исполнить нельзя."},

		{refuse(tvbridge.ErrUnsupported, tvbridge.ReasonCurrency, "instrument", tvbridge.ErrorParams{FIGI: yndxSPB, Currency: "USD"}),
			"This account cannot trade SPB_YNDX: it trades in USD, and the account holds no USD.",
			"Этим счётом нельзя торговать SPB_YNDX: инструмент торгуется в USD, а на счёте нет USD."},
		{refuse(tvbridge.ErrInsufficientFunds, tvbridge.ReasonFunds, "qty", tvbridge.ErrorParams{Currency: "USD", Need: 3500.5, Have: 1000}),
			"Not enough USD for this order: it needs 3500.50 USD, and 1000.00 USD is available.",
			"Недостаточно USD для заявки: нужно 3500.50 USD, доступно 1000.00 USD."},
		{refuse(tvbridge.ErrInvalidQty, tvbridge.ReasonCloseAmount, "amount", tvbridge.ErrorParams{Value: 30}),
			"The amount to close must be greater than zero and at most the position's 30.",
			"Закрываемое количество должно быть больше нуля и не больше размера позиции (30)."},

		{refuse(tvbridge.ErrOrderFinal, tvbridge.ReasonOrderFinal, "", tvbridge.ErrorParams{Status: tvbridge.OrderFilled}),
			"The order is already filled.", "Заявка уже исполнена."},
		{refuse(tvbridge.ErrOrderFinal, tvbridge.ReasonOrderFinal, "", tvbridge.ErrorParams{Status: tvbridge.OrderCancelled}),
			"The order is already cancelled.", "Заявка уже отменена."},
		{refuse(tvbridge.ErrInvalidRequest, tvbridge.ReasonFixedField, "side", tvbridge.ErrorParams{}),
			"Side of a placed order cannot be changed.", "Поле «Направление» у выставленной заявки изменить нельзя."},
		{refuse(tvbridge.ErrInvalidQty, tvbridge.ReasonBelowFilled, "qty", tvbridge.ErrorParams{Value: 40}),
			"The quantity cannot be less than the 40 already filled.", "Количество не может быть меньше уже исполненного (40)."},
		{refuse(tvbridge.ErrUnsupported, tvbridge.ReasonTriggered, "stopPrice", tvbridge.ErrorParams{}),
			"The stop has already triggered; its stop price can no longer be changed.", "Стоп уже сработал, его стоп-цену изменить нельзя."},
		{refuse(tvbridge.ErrUnsupported, tvbridge.ReasonAtMarket, "qty", tvbridge.ErrorParams{}),
			"The order is executing at market; its quantity can no longer be changed.", "Заявка исполняется по рынку, её количество изменить нельзя."},
		{refuse(tvbridge.ErrVenue, tvbridge.ReasonBusy, "", tvbridge.ErrorParams{}),
			"The order is being modified. Please try again in a moment.", "Заявка сейчас изменяется. Попробуйте чуть позже."},
		{refuse(tvbridge.ErrVenue, tvbridge.ReasonPending, "", tvbridge.ErrorParams{}),
			"The broker has not confirmed the order yet. Please check the order list in a moment.",
			"Брокер ещё не подтвердил заявку. Проверьте список заявок чуть позже."},
		{refuse(tvbridge.ErrVenue, tvbridge.ReasonNotReplaced, "", tvbridge.ErrorParams{}),
			"The order was not modified: the broker did not confirm the cancellation of the old order.",
			"Заявка не изменена: брокер не подтвердил отмену прежней заявки."},
		{refuse(tvbridge.ErrInvalidQty, tvbridge.ReasonBracketQty, "qty", tvbridge.ErrorParams{Value: 100}),
			"A bracket's quantity follows its parent's (100) and cannot be set.",
			"Количество защитной заявки равно количеству основной (100) и отдельно не меняется."},
		{refuse(tvbridge.ErrUnsupported, tvbridge.ReasonBracketExecuting, "takeProfit", tvbridge.ErrorParams{}),
			"Take profit is already executing and can no longer be changed.", "«Тейк-профит» уже исполняется, изменить нельзя."},
		{refuse(tvbridge.ErrUnsupported, tvbridge.ReasonBracketDuration, "durationType", tvbridge.ErrorParams{}),
			"Brackets are good till cancelled; their duration cannot be changed.",
			"Защитные заявки действуют до отмены, их срок изменить нельзя."},
		{refuse(tvbridge.ErrRequestReused, tvbridge.ReasonRequestReused, "qty", tvbridge.ErrorParams{Text: "r-1"}),
			`Request id "r-1" was already used for a different order (Quantity differs). Use a new request id for a new order.`,
			`Идентификатор запроса "r-1" уже использован для другой заявки (отличается поле «Количество»). Для новой заявки нужен новый идентификатор.`},
	}
	covered := map[tvbridge.Reason]bool{}
	for _, tc := range cases {
		covered[tc.err.Reason] = true
		f.broker.fail["PlaceOrder"] = tc.err
		for _, l := range []struct{ locale, want string }{{"en", tc.en}, {"ru", tc.ru}} {
			got := f.do("POST", "/accounts/A1/orders?locale="+l.locale, "alice", placeBase()).errmsg(t, http.StatusOK)
			if got != l.want {
				t.Errorf("%s (%s):\n got %q\nwant %q", tc.err.Reason, l.locale, got, l.want)
			}
		}
	}
	for _, r := range allReasons {
		if !covered[r] {
			t.Errorf("reason %s has no case here", r)
		}
	}
}

// A reason's instrument defaults to the one the request was about.
func TestReasonNamesTheRequestedSymbol(t *testing.T) {
	f := newFixture(t, withYandex)
	f.broker.fail["PlaceOrder"] = &tvbridge.TradingError{Code: tvbridge.ErrMarketClosed, Reason: tvbridge.ReasonMarketClosed}
	got := f.do("POST", "/accounts/A1/orders", "alice", placeBase("instrument", "SPB_YNDX", "limitPrice", "35")).errmsg(t, http.StatusOK)
	if got != "SPB_YNDX is not trading now, so a market order cannot be executed." {
		t.Errorf("errmsg %q", got)
	}
}

// A rejected order's message is worded by its reason too, in the locale.
func TestRejectedOrderMessage(t *testing.T) {
	f := newFixture(t, withYandex)
	f.broker.orders = []tvbridge.Order{{ID: "o1", FIGI: yndxSPB, Side: tvbridge.Buy, Type: tvbridge.MarketOrder,
		Status: tvbridge.OrderRejected, Qty: 1, Message: "rejected: BBG001NVJ6W4 is not trading", MessageKind: "error",
		Created: fixtureNow, Refusal: &tvbridge.Refusal{Code: tvbridge.ErrMarketClosed, Reason: tvbridge.ReasonMarketClosed,
			Params: tvbridge.ErrorParams{FIGI: yndxSPB}}}}
	for locale, want := range map[string]string{
		"en": "Rejected: SPB_YNDX is not trading now, so a market order cannot be executed.",
		"ru": "Отклонена: SPB_YNDX сейчас не торгуется, рыночную заявку исполнить нельзя.",
	} {
		var orders []orderJSON
		f.get("/accounts/A1/orders?locale="+locale, "alice").ok(t, "OrdersResponse", &orders)
		if len(orders) != 1 || orders[0].Message == nil || orders[0].Message.Text != want || orders[0].Message.Type != "error" {
			t.Errorf("%s: %+v, want message %q", locale, orders, want)
		}
	}
}

// allReasons lists every Reason of the root package.
var allReasons = []tvbridge.Reason{
	tvbridge.ReasonSide, tvbridge.ReasonOrderType, tvbridge.ReasonQtyPositive, tvbridge.ReasonQtyTooLarge,
	tvbridge.ReasonQtyLot, tvbridge.ReasonPricePositive, tvbridge.ReasonPriceStep, tvbridge.ReasonPriceRequired,
	tvbridge.ReasonDuration, tvbridge.ReasonTrailingPips, tvbridge.ReasonTrailingStep,
	tvbridge.ReasonStopSide, tvbridge.ReasonStopLossSide, tvbridge.ReasonTakeProfitSide, tvbridge.ReasonMarketClosed,
	tvbridge.ReasonNoPrice, tvbridge.ReasonStaleBook, tvbridge.ReasonNoLiquidity,
	tvbridge.ReasonCurrency, tvbridge.ReasonFunds, tvbridge.ReasonCloseAmount,
	tvbridge.ReasonOrderFinal, tvbridge.ReasonFixedField, tvbridge.ReasonBelowFilled, tvbridge.ReasonTriggered,
	tvbridge.ReasonAtMarket, tvbridge.ReasonBusy, tvbridge.ReasonPending, tvbridge.ReasonNotReplaced,
	tvbridge.ReasonBracketQty, tvbridge.ReasonBracketExecuting, tvbridge.ReasonBracketDuration, tvbridge.ReasonRequestReused,
}

var placeholderRE = regexp.MustCompile(`\{[a-z]+\}`)

// Every reason is worded in both languages, with the same placeholders,
// each one reasonReplacer fills.
func TestEveryReasonIsTranslated(t *testing.T) {
	texts := map[string]Text{}
	for r, tx := range reasonTexts {
		texts[string(r)] = tx
	}
	for s, tx := range stopSideTexts {
		texts["stop side "+string(s)] = tx
	}
	if len(reasonTexts)+1 != len(allReasons) {
		t.Errorf("reasonTexts has %d reasons (and stop sides), the root package %d", len(reasonTexts)+1, len(allReasons))
	}
	for name, tx := range texts {
		checkTranslated(t, name, tx)
		en, ru := placeholderRE.FindAllString(tx.EN, -1), placeholderRE.FindAllString(tx.RU, -1)
		slices.Sort(en)
		slices.Sort(ru)
		en, ru = slices.Compact(en), slices.Compact(ru)
		if !slices.Equal(en, ru) {
			t.Errorf("%s: English takes %v, Russian %v", name, en, ru)
		}
		for _, p := range en {
			if !slices.Contains(placeholders, p) {
				t.Errorf("%s: unknown placeholder %s", name, p)
			}
		}
		if strings.Contains(tx.EN, "%") || strings.Contains(tx.RU, "%") {
			t.Errorf("%s: reason texts take {placeholders}, not verbs", name)
		}
	}
	for _, pieces := range []map[tvbridge.PriceRef]Text{refTexts} {
		for k, tx := range pieces {
			checkTranslated(t, string(k), tx)
		}
	}
	for _, m := range []map[tvbridge.Side]Text{orderSideTexts, positionSideTexts} {
		for k, tx := range m {
			checkTranslated(t, string(k), tx)
		}
	}
	for k, tx := range orderTypeTexts {
		checkTranslated(t, string(k), tx)
	}
	for k, tx := range statusTexts {
		checkTranslated(t, string(k), tx)
	}
	for name, tx := range map[string]Text{"below": textBelow, "above": textAbove, "instrument": textInstrument, "rejected": msgRejected} {
		checkTranslated(t, name, tx)
	}
}

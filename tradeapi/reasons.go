package tradeapi

import (
	"strings"

	"tvbridge"
)

// reasonTexts word each trading error Reason. A text names what is wrong
// in the trader's terms; its {placeholders} take the error's params (see
// reasonReplacer), with the instrument always under its TradingView name.
// Russian texts that name a field put it in «», as the other messages do.
var reasonTexts = map[tvbridge.Reason]Text{
	tvbridge.ReasonSide: {"Side must be buy or sell.",
		"Направление заявки должно быть «покупка» или «продажа»."},
	tvbridge.ReasonOrderType: {"Order type must be market, limit, stop or stop-limit.",
		"Тип заявки должен быть рыночный, лимитный, стоп или стоп-лимит."},
	tvbridge.ReasonQtyPositive: {"The quantity must be greater than zero.",
		"Количество должно быть больше нуля."},
	tvbridge.ReasonQtyTooLarge: {"The quantity {value} is too large.",
		"Количество {value} слишком велико."},
	tvbridge.ReasonQtyLot: {"The quantity {value} is not a whole number of lots: {symbol} trades in lots of {lot}.",
		"Количество {value} не кратно лоту: {symbol} торгуется лотами по {lot} шт."},
	tvbridge.ReasonPricePositive: {"{field} must be greater than zero.",
		"Поле «{field}»: цена должна быть больше нуля."},
	tvbridge.ReasonPriceStep: {"{field} {value} is not a multiple of the price step of {symbol}, {step}.",
		"Поле «{field}»: цена {value} не кратна шагу цены {symbol} ({step})."},
	tvbridge.ReasonPriceRequired: {"{field} is required for {type} orders.",
		"Для заявки типа «{type}» нужно заполнить поле «{field}»."},
	tvbridge.ReasonDuration: {"Duration {text} is not offered: choose Day or Good till cancelled.",
		"Срок {text} недоступен: выберите «День» или «До отмены»."},
	tvbridge.ReasonTrailingPips: {"The trailing stop distance must be a positive number of pips.",
		"Отступ трейлинг-стопа должен быть положительным числом пунктов."},
	tvbridge.ReasonTrailingStep: {"Trailing stops are not available for {symbol}: its price step is unknown.",
		"Трейлинг-стоп для {symbol} недоступен: шаг цены неизвестен."},

	tvbridge.ReasonStopLossSide: {"The stop loss must be {dir} {ref} ({price}) for {what}.",
		"Стоп-лосс должен быть {dir} {ref} ({price}) для {what}."},
	tvbridge.ReasonTakeProfitSide: {"The take profit must be {dir} {ref} ({price}) for {what}.",
		"Тейк-профит должен быть {dir} {ref} ({price}) для {what}."},
	tvbridge.ReasonMarketClosed: {"{symbol} is not trading now, so a market order cannot be executed.",
		"{symbol} сейчас не торгуется, рыночную заявку исполнить нельзя."},
	tvbridge.ReasonNoPrice: {"There is no live price of {symbol} to execute a market order at. Please try again shortly.",
		"Сейчас нет цены {symbol}, по которой можно исполнить рыночную заявку. Попробуйте чуть позже."},
	tvbridge.ReasonStaleBook: {"The order book of {symbol} is out of date, so a market order cannot be executed. Please try again shortly.",
		"Стакан {symbol} устарел, рыночную заявку исполнить нельзя. Попробуйте чуть позже."},
	tvbridge.ReasonNoLiquidity: {"The order book of {symbol} has no offers to fill a market order against.",
		"В стакане {symbol} нет встречных заявок, рыночную заявку исполнить нельзя."},

	tvbridge.ReasonCurrency: {"This account cannot trade {symbol}: it trades in {currency}, and the account holds no {currency}.",
		"Этим счётом нельзя торговать {symbol}: инструмент торгуется в {currency}, а на счёте нет {currency}."},
	tvbridge.ReasonFunds: {"Not enough {currency} for this order: it needs {need} {currency}, and {have} {currency} is available.",
		"Недостаточно {currency} для заявки: нужно {need} {currency}, доступно {have} {currency}."},
	tvbridge.ReasonCloseAmount: {"The amount to close must be greater than zero and at most the position's {value}.",
		"Закрываемое количество должно быть больше нуля и не больше размера позиции ({value})."},

	tvbridge.ReasonOrderFinal: {"The order is already {status}.", "Заявка уже {status}."},
	tvbridge.ReasonFixedField: {"{field} of a placed order cannot be changed.",
		"Поле «{field}» у выставленной заявки изменить нельзя."},
	tvbridge.ReasonBelowFilled: {"The quantity cannot be less than the {value} already filled.",
		"Количество не может быть меньше уже исполненного ({value})."},
	tvbridge.ReasonTriggered: {"The stop has already triggered; its stop price can no longer be changed.",
		"Стоп уже сработал, его стоп-цену изменить нельзя."},
	tvbridge.ReasonAtMarket: {"The order is executing at market; its quantity can no longer be changed.",
		"Заявка исполняется по рынку, её количество изменить нельзя."},
	tvbridge.ReasonBusy: {"The order is being modified. Please try again in a moment.",
		"Заявка сейчас изменяется. Попробуйте чуть позже."},
	tvbridge.ReasonPending: {"The broker has not confirmed the order yet. Please check the order list in a moment.",
		"Брокер ещё не подтвердил заявку. Проверьте список заявок чуть позже."},
	tvbridge.ReasonNotReplaced: {"The order was not modified: the broker did not confirm the cancellation of the old order.",
		"Заявка не изменена: брокер не подтвердил отмену прежней заявки."},
	tvbridge.ReasonBracketQty: {"A bracket's quantity follows its parent's ({value}) and cannot be set.",
		"Количество защитной заявки равно количеству основной ({value}) и отдельно не меняется."},
	tvbridge.ReasonBracketExecuting: {"{field} is already executing and can no longer be changed.",
		"«{field}» уже исполняется, изменить нельзя."},
	tvbridge.ReasonBracketDuration: {"Brackets are good till cancelled; their duration cannot be changed.",
		"Защитные заявки действуют до отмены, их срок изменить нельзя."},
	tvbridge.ReasonRequestReused: {"Request id {text} was already used for a different order ({field} differs). Use a new request id for a new order.",
		"Идентификатор запроса {text} уже использован для другой заявки (отличается поле «{field}»). Для новой заявки нужен новый идентификатор."},
}

// stopSideTexts word ReasonStopSide by the order's side.
var stopSideTexts = map[tvbridge.Side]Text{
	tvbridge.Buy: {"A buy stop must be above the market price ({price}), or it would trigger at once.",
		"Стоп-цена заявки на покупку должна быть выше рыночной цены ({price}), иначе заявка сработает сразу."},
	tvbridge.Sell: {"A sell stop must be below the market price ({price}), or it would trigger at once.",
		"Стоп-цена заявки на продажу должна быть ниже рыночной цены ({price}), иначе заявка сработает сразу."},
}

// Pieces of the bracket texts. Russian takes them in the genitive, after
// «ниже», «выше» and «для».
var (
	textBelow = Text{"below", "ниже"}
	textAbove = Text{"above", "выше"}
	refTexts  = map[tvbridge.PriceRef]Text{
		tvbridge.RefLimit:    {"the limit price", "лимитной цены"},
		tvbridge.RefStop:     {"the stop price", "стоп-цены"},
		tvbridge.RefMarket:   {"the market price", "рыночной цены"},
		tvbridge.RefCurrent:  {"the current price", "текущей цены"},
		tvbridge.RefPosition: {"the current price", "текущей цены"},
	}
	orderSideTexts = map[tvbridge.Side]Text{
		tvbridge.Buy:  {"a buy order", "заявки на покупку"},
		tvbridge.Sell: {"a sell order", "заявки на продажу"},
	}
	positionSideTexts = map[tvbridge.Side]Text{
		tvbridge.Buy:  {"a long position", "длинной позиции"},
		tvbridge.Sell: {"a short position", "короткой позиции"},
	}
	orderTypeTexts = map[tvbridge.OrderType]Text{
		tvbridge.MarketOrder:    {"market", "рыночная"},
		tvbridge.LimitOrder:     {"limit", "лимитная"},
		tvbridge.StopOrder:      {"stop", "стоп"},
		tvbridge.StopLimitOrder: {"stop-limit", "стоп-лимит"},
	}
	statusTexts = map[tvbridge.OrderStatus]Text{
		tvbridge.OrderFilled:    {"filled", "исполнена"},
		tvbridge.OrderCancelled: {"cancelled", "отменена"},
		tvbridge.OrderRejected:  {"rejected", "отклонена"},
	}
	// textInstrument stands in for a symbol the error does not name.
	textInstrument = Text{"the instrument", "инструмент"}
	// msgRejected prefixes a rejected order's message.
	msgRejected = Text{"Rejected: %s", "Отклонена: %s"}
)

// reasonText returns the text of e's reason, if it has one.
func reasonText(e *tvbridge.TradingError) (Text, bool) {
	if e.Reason == tvbridge.ReasonStopSide {
		t, ok := stopSideTexts[e.Params.Side]
		return t, ok
	}
	t, ok := reasonTexts[e.Reason]
	return t, ok
}

// explainReason words e by its reason in language l; ok is false for an
// error without a known reason. symbol is the TradingView name of the
// instrument the error is about.
func explainReason(l lang, e *tvbridge.TradingError, symbol string) (string, bool) {
	t, ok := reasonText(e)
	if !ok {
		return "", false
	}
	return reasonReplacer(l, e, symbol).Replace(t.in(l)), true
}

// reasonReplacer fills a reason text's placeholders from e.
func reasonReplacer(l lang, e *tvbridge.TradingError, symbol string) *strings.Replacer {
	p := e.Params
	if symbol == "" {
		symbol = textInstrument.in(l)
	}
	dir := textBelow
	if (e.Reason == tvbridge.ReasonStopLossSide) != (p.Side == tvbridge.Buy) {
		dir = textAbove // a take profit of a long, or a stop loss of a short
	}
	what := orderSideTexts[p.Side]
	if p.Ref == tvbridge.RefPosition {
		what = positionSideTexts[p.Side]
	}
	return strings.NewReplacer(
		"{symbol}", symbol,
		"{field}", label(e.Field, l),
		"{price}", formatNumber(p.Price),
		"{value}", formatNumber(p.Value),
		"{lot}", formatNumber(p.Lot),
		"{step}", formatNumber(p.Step),
		"{currency}", p.Currency,
		"{need}", formatMoney(p.Need),
		"{have}", formatMoney(p.Have),
		"{type}", textOr(orderTypeTexts[p.OrderType], string(p.OrderType)).in(l),
		"{status}", textOr(statusTexts[p.Status], string(p.Status)).in(l),
		"{text}", quoteInput(p.Text),
		"{dir}", dir.in(l),
		"{ref}", refTexts[p.Ref].in(l),
		"{what}", what.in(l),
	)
}

// textOr is t, or v in every language when t is empty.
func textOr(t Text, v string) Text {
	if t.EN == "" {
		return Text{v, v}
	}
	return t
}

// placeholders lists what reasonReplacer fills, for the tests.
var placeholders = []string{"{symbol}", "{field}", "{price}", "{value}", "{lot}", "{step}", "{currency}",
	"{need}", "{have}", "{type}", "{status}", "{text}", "{dir}", "{ref}", "{what}"}

package tradeapi

import (
	"fmt"
	"strconv"
	"strings"

	"tvbridge"
	"tvbridge/api"
)

// lang is the language of a response's texts.
type lang int

const (
	english lang = iota
	russian
)

// pickLang chooses the language from TradingView's locale parameter: Russian
// for "ru" (and regional spellings such as ru_RU), English for everything
// else, including an absent or unknown locale. The spec marks locale
// required, but refusing a request for lack of it would help nobody.
func pickLang(locale string) lang {
	l := strings.ToLower(locale)
	if l == "ru" || strings.HasPrefix(l, "ru_") || strings.HasPrefix(l, "ru-") {
		return russian
	}
	return english
}

// Text is a text in every language tvbridge answers in.
type Text struct {
	EN, RU string
}

func (t Text) in(l lang) string {
	if l == russian && t.RU != "" {
		return t.RU
	}
	return t.EN
}

// Messages for request errors. Those about a field take the field's label as
// their first argument. Russian messages name the field in «» so that the
// sentence needs no agreement with the label's gender.
var (
	msgUnauthorized = Text{"Please log in again: this request has no valid session.",
		"Войдите снова: у запроса нет действующей сессии."}
	msgNoEndpoint = Text{"No such endpoint: %s.", "Такого адреса нет: %s."}
	msgMethod     = Text{"Method %s is not allowed here.", "Метод %s здесь не поддерживается."}
	msgInternal   = Text{"The server could not complete the request. Please try again.",
		"Сервер не смог выполнить запрос. Попробуйте ещё раз."}
	msgBadQuery     = Text{"The query string is malformed.", "Параметры запроса повреждены."}
	msgBadBody      = Text{"The request body is not a valid form.", "Тело запроса не является корректной формой."}
	msgBodyTooLarge = Text{"The request body is too large.", "Тело запроса слишком большое."}
	msgBodyType     = Text{"The request body must be application/x-www-form-urlencoded, not %s.",
		"Тело запроса должно быть в формате application/x-www-form-urlencoded, а не %s."}

	msgRequired    = Text{"%s is required.", "Не заполнено поле «%s»."}
	msgTwice       = Text{"%s is given more than once.", "Поле «%s» указано несколько раз."}
	msgNotNumber   = Text{"%s must be a number, not %s.", "Поле «%s»: нужно число, получено %s."}
	msgNotInteger  = Text{"%s must be a whole number, not %s.", "Поле «%s»: нужно целое число, получено %s."}
	msgPositive    = Text{"%s must be greater than zero.", "Поле «%s»: значение должно быть больше нуля."}
	msgNotNegative = Text{"%s must not be negative.", "Поле «%s»: значение не может быть отрицательным."}
	msgTooLarge    = Text{"%s is too large: at most %s.", "Поле «%s»: слишком большое значение, максимум %s."}
	msgOneOf       = Text{"%s must be one of %s, not %s.", "Поле «%s»: допустимые значения %s, получено %s."}
	msgTooLong     = Text{"%s is too long: at most %d characters.", "Поле «%s»: не длиннее %d символов."}
	msgPrintable   = Text{"%s may hold only printable ASCII characters.", "Поле «%s»: допустимы только печатные символы ASCII."}
	msgPast        = Text{"%s is in the past.", "Поле «%s»: это время уже прошло."}

	msgUnknownSymbol = Text{"Unknown instrument %s.", "Неизвестный инструмент %s."}
	msgDurationType  = Text{"Duration %s is not available for %s orders.", "Срок %s недоступен для заявок типа %s."}
	msgNoGuaranteed  = Text{"Guaranteed stops are not supported.", "Гарантированный стоп не поддерживается."}
	msgTooMany       = Text{"Too many symbols: at most %d per request.", "Слишком много инструментов: не больше %d за запрос."}
	msgNoAccounts    = Text{"You have no trading account.", "У вас нет торгового счёта."}

	// Additions to trading errors.
	msgField  = Text{"Field: %s.", "Поле: «%s»."}
	msgLot    = Text{"The lot of %s is %s units.", "Лот %s: %s шт."}
	msgStep   = Text{"The price step of %s is %s.", "Шаг цены %s: %s."}
	msgDetail = Text{"Details: %s.", "Подробности: %s."}
)

// codeText explains every trading error code.
var codeText = map[tvbridge.ErrorCode]Text{
	tvbridge.ErrUnknownAccount:    {"Account not found.", "Счёт не найден."},
	tvbridge.ErrUnknownInstrument: {"Instrument not found.", "Инструмент не найден."},
	tvbridge.ErrUnknownOrder:      {"Order not found.", "Заявка не найдена."},
	tvbridge.ErrUnknownPosition:   {"Position not found.", "Позиция не найдена."},
	tvbridge.ErrInvalidRequest:    {"The request is invalid.", "Некорректный запрос."},
	tvbridge.ErrInvalidQty: {"The quantity must be a positive multiple of the lot.",
		"Количество должно быть больше нуля и кратно лоту."},
	tvbridge.ErrInvalidPrice: {"The price must be positive and a multiple of the price step.",
		"Цена должна быть больше нуля и кратна шагу цены."},
	tvbridge.ErrUnsupported: {"This order type, duration or feature is not supported.",
		"Этот тип заявки, срок или функция не поддерживаются."},
	tvbridge.ErrOrderFinal: {"The order is already filled, cancelled or rejected.",
		"Заявка уже исполнена, отменена или отклонена."},
	tvbridge.ErrInsufficientFunds: {"Not enough funds or position.", "Недостаточно средств или позиции."},
	tvbridge.ErrMarketClosed: {"The market is closed for this instrument.",
		"Торги по этому инструменту сейчас не идут."},
	tvbridge.ErrNoMarketData: {"No market data for this instrument right now. Please try again shortly.",
		"Сейчас нет рыночных данных по инструменту. Попробуйте чуть позже."},
	tvbridge.ErrVenue: {"The broker rejected the request.", "Брокер отклонил запрос."},
	tvbridge.ErrRequestReused: {"This request id was already used for a different order.",
		"Этот идентификатор запроса уже использован для другой заявки."},
}

// unknownCode explains a code this package does not know yet.
var unknownCode = Text{"The request was rejected.", "Запрос отклонён."}

// fieldLabels name request fields as the order ticket shows them. Keys are
// lower case: trading errors may spell field names either way.
var fieldLabels = map[string]Text{
	"instrument":       {"Instrument", "Инструмент"},
	"qty":              {"Quantity", "Количество"},
	"side":             {"Side", "Направление"},
	"type":             {"Order type", "Тип заявки"},
	"limitprice":       {"Limit price", "Лимитная цена"},
	"stopprice":        {"Stop price", "Стоп-цена"},
	"stoploss":         {"Stop loss", "Стоп-лосс"},
	"takeprofit":       {"Take profit", "Тейк-профит"},
	"trailingstoppips": {"Trailing stop distance", "Отступ трейлинг-стопа"},
	"guaranteedstop":   {"Guaranteed stop", "Гарантированный стоп"},
	"durationtype":     {"Duration", "Срок действия"},
	"duration":         {"Duration", "Срок действия"},
	"durationdatetime": {"Expiry time", "Время истечения"},
	"currentask":       {"Current ask", "Текущая цена ask"},
	"currentbid":       {"Current bid", "Текущая цена bid"},
	"amount":           {"Amount", "Количество"},
	"requestid":        {"Request id", "Идентификатор запроса"},
	"maxcount":         {"Maximum count", "Максимальное количество"},
	"symbols":          {"Symbols", "Инструменты"},
	"symbol":           {"Symbol", "Инструмент"},
	"accountid":        {"Account", "Счёт"},
	"figi":             {"Instrument", "Инструмент"},
}

// label is a field's name for traders; a field without one is named as is.
func label(field string, l lang) string {
	if t, ok := fieldLabels[strings.ToLower(field)]; ok {
		return t.in(l)
	}
	return field
}

// inputError is a malformed request, explained in the trader's language.
type inputError struct {
	msg   Text
	field string // when set, its label is the message's first argument
	args  []any
}

func (e *inputError) Error() string { return e.render(english) }

func (e *inputError) render(l lang) string {
	args := e.args
	if e.field != "" {
		args = append([]any{label(e.field, l)}, args...)
	}
	return fmt.Sprintf(e.msg.in(l), args...)
}

func fieldError(field string, msg Text, args ...any) *inputError {
	return &inputError{msg: msg, field: field, args: args}
}

func plainError(msg Text, args ...any) *inputError {
	return &inputError{msg: msg, args: args}
}

// tradingMessage explains a trading error. An error with a Reason is
// worded by it, naming the instrument as TradingView shows it (the error's
// own, else sym, the one the request was about). Without one, the code's
// headline is followed by the field, the lot or price step of sym, which
// make quantity and price errors actionable, and Detail, English context
// from the core or the venue, shown in every language because it is the
// part a trader can act on. Err is never shown.
func (h *Handler) tradingMessage(l lang, e *tvbridge.TradingError, sym *api.Symbol) string {
	if msg, ok := explainReason(l, e, h.symbolName(e.Params.FIGI, sym)); ok {
		return msg
	}
	return codeMessage(l, e, sym)
}

// symbolName is the TradingView name of figi, else of sym; "" when
// neither is known. An instrument that has left the catalog is named by
// its FIGI.
func (h *Handler) symbolName(figi string, sym *api.Symbol) string {
	if figi != "" {
		return h.instrumentName(figi)
	}
	if sym != nil {
		return sym.Name
	}
	return ""
}

// codeMessage explains an error without a reason by its code.
func codeMessage(l lang, e *tvbridge.TradingError, sym *api.Symbol) string {
	t, ok := codeText[e.Code]
	if !ok {
		t = unknownCode
	}
	parts := []string{t.in(l)}
	if e.Field != "" {
		parts = append(parts, fmt.Sprintf(msgField.in(l), label(e.Field, l)))
	}
	if sym != nil {
		switch e.Code {
		case tvbridge.ErrInvalidQty:
			parts = append(parts, fmt.Sprintf(msgLot.in(l), sym.Name, strconv.Itoa(sym.Instrument.Lot)))
		case tvbridge.ErrInvalidPrice:
			parts = append(parts, fmt.Sprintf(msgStep.in(l), sym.Name, formatNumber(sym.Instrument.MinPriceIncrement)))
		}
	}
	if d := strings.TrimRight(strings.TrimSpace(e.Detail), "."); d != "" {
		parts = append(parts, fmt.Sprintf(msgDetail.in(l), d))
	}
	return strings.Join(parts, " ")
}

// quoteInput quotes client input for a message, cut short so that a huge
// value cannot make a huge response.
func quoteInput(v string) string {
	const max = 40
	if len(v) > max {
		v = v[:max] + "..."
	}
	return strconv.Quote(v)
}

// formatNumber prints a number the shortest way that reads back the same.
func formatNumber(v float64) string {
	return strconv.FormatFloat(clean(v), 'f', -1, 64)
}

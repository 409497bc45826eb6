package tradeapi

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

func cannedOrders() []tvbridge.Order {
	at := fixtureNow.Add(-time.Minute)
	return []tvbridge.Order{
		{ID: "o1", AccountID: "A1", FIGI: sberFIGI, Side: tvbridge.Buy, Type: tvbridge.LimitOrder,
			Status: tvbridge.OrderWorking, Qty: 100, LimitPrice: 250.5, StopPrice: 7,
			Duration: tvbridge.OrderDuration{Type: "GTC"}, Brackets: tvbridge.Brackets{StopLoss: 240, TakeProfit: 260},
			Created: at, Updated: at.Add(time.Second)},
		{ID: "o2", AccountID: "A1", FIGI: sberFIGI, Side: tvbridge.Sell, Type: tvbridge.StopOrder,
			Status: tvbridge.OrderInactive, Qty: 100, StopPrice: 240, ParentID: "o1", ParentKind: tvbridge.ParentOrder,
			SiblingID: "o3", Created: at},
		{ID: "o3", AccountID: "A1", FIGI: sberFIGI, Side: tvbridge.Sell, Type: tvbridge.StopOrder,
			Status: tvbridge.OrderWorking, Qty: 30, StopPrice: 245, TrailingStopPips: 50,
			ParentID: "p1", ParentKind: tvbridge.ParentPosition, Created: at},
		{ID: "o4", AccountID: "A1", FIGI: sberFIGI, Side: tvbridge.Buy, Type: tvbridge.MarketOrder,
			Status: tvbridge.OrderFilled, Qty: 10, FilledQty: 10, AvgPrice: 251.1 + 0.02, LimitPrice: 999,
			Message: "Filled at 251.12", Created: at, Updated: at},
		{ID: "o5", AccountID: "A1", FIGI: aaplFIGI, Side: tvbridge.Sell, Type: tvbridge.StopLimitOrder,
			Status: tvbridge.OrderWorking, Qty: 20, FilledQty: 10, AvgPrice: 170.25, LimitPrice: 169, StopPrice: 169.5,
			Duration: tvbridge.OrderDuration{Type: "GTD", Until: fixtureNow.Add(time.Hour)},
			Message:  "Partly filled", MessageKind: "warning", Created: at},
		{ID: "o6", AccountID: "A1", FIGI: "BBG000DELIST", Side: tvbridge.Buy, Type: tvbridge.LimitOrder,
			Status: tvbridge.OrderRejected, Qty: 1, LimitPrice: 5, Message: "no such instrument",
			MessageKind: "error", Created: at},
	}
}

func TestOrdersList(t *testing.T) {
	f := newFixture(t)
	f.broker.orders = cannedOrders()
	r := f.get("/accounts/A1/orders?locale=en", "alice")
	r.ok(t, "OrdersResponse", nil)
	d := raw(t, r.body)["d"].([]any)
	got := map[string]map[string]any{}
	for _, o := range d {
		m := o.(map[string]any)
		got[m["id"].(string)] = m
	}
	at := float64(fixtureNow.Add(-time.Minute).Unix())
	want := map[string]map[string]any{
		"o1": {"id": "o1", "instrument": "SBER", "qty": 100.0, "side": "buy", "type": "limit", "status": "working",
			"limitPrice": 250.5, "duration": map[string]any{"type": "GTC"}, "lastModified": at + 1},
		"o2": {"id": "o2", "instrument": "SBER", "qty": 100.0, "side": "sell", "type": "stop", "status": "inactive",
			"stopPrice": 240.0, "parentId": "o1", "parentType": "order", "lastModified": at},
		"o3": {"id": "o3", "instrument": "SBER", "qty": 30.0, "side": "sell", "type": "stop", "status": "working",
			"stopPrice": 245.0, "trailingStopPips": 50.0, "isTrailingStop": true, "parentId": "p1",
			"parentType": "position", "lastModified": at},
		"o4": {"id": "o4", "instrument": "SBER", "qty": 10.0, "side": "buy", "type": "market", "status": "filled",
			"filledQty": 10.0, "avgPrice": 251.12, "lastModified": at,
			"message": map[string]any{"text": "Filled at 251.12", "type": "information"}},
		"o5": {"id": "o5", "instrument": "AAPL", "qty": 20.0, "side": "sell", "type": "stoplimit", "status": "working",
			"filledQty": 10.0, "avgPrice": 170.25, "limitPrice": 169.0, "stopPrice": 169.5, "lastModified": at,
			"duration": map[string]any{"type": "GTD", "datetime": float64(fixtureNow.Add(time.Hour).Unix())},
			"message":  map[string]any{"text": "Partly filled", "type": "warning"}},
		"o6": {"id": "o6", "instrument": "BBG000DELIST", "qty": 1.0, "side": "buy", "type": "limit", "status": "rejected",
			"limitPrice": 5.0, "lastModified": at, "message": map[string]any{"text": "no such instrument", "type": "error"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d orders: %s", len(got), r.body)
	}
	for id, w := range want {
		if !reflect.DeepEqual(got[id], w) {
			t.Errorf("%s:\n got %v\nwant %v", id, got[id], w)
		}
	}
	if c := f.broker.Called("Orders"); len(c) != 1 || c[0].User != "alice" || c[0].Account != "A1" {
		t.Errorf("broker calls %+v", c)
	}

	// An empty list is [], not null.
	f.broker.orders = nil
	r = f.get("/accounts/A1/orders", "alice")
	r.ok(t, "OrdersResponse", nil)
	if !strings.Contains(string(r.body), `"d":[]`) {
		t.Errorf("empty list: %s", r.body)
	}
}

func TestOrdersHistory(t *testing.T) {
	f := newFixture(t)
	f.broker.history = cannedOrders() // a history with working orders in it: they are left out
	r := f.get("/accounts/A1/ordersHistory?locale=en", "alice")
	var hist []orderJSON
	r.ok(t, "OrdersHistoryResponse", &hist)
	if len(hist) != 2 || hist[0].ID != "o4" || hist[1].ID != "o6" {
		t.Errorf("history %+v", hist)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{{"", 1000}, {"&maxCount=5", 5}, {"&maxCount=5.0", 5}, {"&maxCount=5000", 1000}, {"&maxCount=1e300", 1000}} {
		f.get("/accounts/A1/ordersHistory?locale=en"+tc.query, "alice").ok(t, "OrdersHistoryResponse", nil)
		calls := f.broker.Called("OrdersHistory")
		if got := calls[len(calls)-1].Max; got != tc.want {
			t.Errorf("%q: maxCount %d, want %d", tc.query, got, tc.want)
		}
	}
	for query, want := range map[string]string{
		"maxCount=abc":          `Maximum count must be a whole number, not "abc".`,
		"maxCount=2.5":          `Maximum count must be a whole number, not "2.5".`,
		"maxCount=0":            `Maximum count must be greater than zero.`,
		"maxCount=-3":           `Maximum count must be greater than zero.`,
		"maxCount=1&maxCount=2": `Maximum count is given more than once.`,
	} {
		if got := f.get("/accounts/A1/ordersHistory?"+query, "alice").errmsg(t, http.StatusOK); got != want {
			t.Errorf("%s: %q, want %q", query, got, want)
		}
	}
}

func TestPlaceOrder(t *testing.T) {
	f := newFixture(t)
	f.broker.placed = tvbridge.Order{ID: "ord-42", Status: tvbridge.OrderWorking}
	for _, tc := range []struct {
		name  string
		query string
		form  url.Values
		want  tvbridge.OrderRequest
	}{
		{"limit with brackets", "requestId=r-1",
			form("instrument", "SBER", "qty", "100", "side", "buy", "type", "limit", "limitPrice", "250.5",
				"durationType", "GTC", "stopLoss", "240", "takeProfit", "260", "currentAsk", "250.6", "currentBid", "250.4"),
			tvbridge.OrderRequest{RequestID: "r-1", FIGI: sberFIGI, Side: tvbridge.Buy, Type: tvbridge.LimitOrder,
				Qty: 100, LimitPrice: 250.5, Duration: tvbridge.OrderDuration{Type: "GTC"},
				Brackets: tvbridge.Brackets{StopLoss: 240, TakeProfit: 260}}},
		{"market with trailing stop; unused prices ignored", "",
			form("instrument", "SBER", "qty", "10", "side", "sell", "type", "market", "limitPrice", "",
				"stopPrice", "1", "durationType", "DAY", "stopLoss", "260", "trailingStopPips", "50", "requestId", "body-id"),
			tvbridge.OrderRequest{RequestID: "body-id", FIGI: sberFIGI, Side: tvbridge.Sell, Type: tvbridge.MarketOrder,
				Qty: 10, Duration: tvbridge.OrderDuration{Type: "DAY"},
				Brackets: tvbridge.Brackets{StopLoss: 260, TrailingStopPips: 50}}},
		{"stop-limit; query requestId wins over the body's", "requestId=q",
			form("instrument", "AAPL", "qty", "3", "side", "sell", "type", "stoplimit", "limitPrice", "169",
				"stopPrice", "169.5e0", "requestId", "b"),
			tvbridge.OrderRequest{RequestID: "q", FIGI: aaplFIGI, Side: tvbridge.Sell, Type: tvbridge.StopLimitOrder,
				Qty: 3, LimitPrice: 169, StopPrice: 169.5}},
		{"stop, custom dialog fields ignored", "",
			form("instrument", "SU26238RMFS4", "qty", "1", "side", "buy", "type", "stop", "stopPrice", "98.5",
				"myCheckbox", "true"),
			tvbridge.OrderRequest{FIGI: bondFIGI, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 1, StopPrice: 98.5}},
	} {
		r := f.do("POST", "/accounts/A1/orders?locale=en&"+tc.query, "alice", tc.form)
		var d postOrderJSON
		r.ok(t, "PostOrderResponse", &d)
		if d.OrderID != "ord-42" {
			t.Errorf("%s: order id %q", tc.name, d.OrderID)
		}
		calls := f.broker.Called("PlaceOrder")
		last := calls[len(calls)-1]
		if last.User != "alice" || last.Account != "A1" || !reflect.DeepEqual(last.Req, tc.want) {
			t.Errorf("%s: placed %+v for %s/%s\nwant %+v", tc.name, last.Req, last.User, last.Account, tc.want)
		}
	}
}

// placeBase is a valid limit order; cases change one field.
func placeBase(kv ...string) url.Values {
	v := form("instrument", "SBER", "qty", "100", "side", "buy", "type", "limit", "limitPrice", "250.5")
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<absent>" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

var malformedOrders = []struct {
	name   string
	query  string
	form   url.Values
	en, ru string
}{
	{"no instrument", "", placeBase("instrument", "<absent>"),
		"Instrument is required.", "Не заполнено поле «Инструмент»."},
	{"empty instrument", "", placeBase("instrument", ""),
		"Instrument is required.", "Не заполнено поле «Инструмент»."},
	{"unknown instrument", "", placeBase("instrument", "GAZP"),
		`Unknown instrument "GAZP".`, `Неизвестный инструмент "GAZP".`},
	{"no qty", "", placeBase("qty", "<absent>"),
		"Quantity is required.", "Не заполнено поле «Количество»."},
	{"qty not a number", "", placeBase("qty", "ten"),
		`Quantity must be a number, not "ten".`, `Поле «Количество»: нужно число, получено "ten".`},
	{"qty NaN", "", placeBase("qty", "NaN"),
		`Quantity must be a number, not "NaN".`, `Поле «Количество»: нужно число, получено "NaN".`},
	{"qty Infinity", "", placeBase("qty", "Infinity"),
		`Quantity must be a number, not "Infinity".`, `Поле «Количество»: нужно число, получено "Infinity".`},
	{"qty hex", "", placeBase("qty", "0x10"),
		`Quantity must be a number, not "0x10".`, `Поле «Количество»: нужно число, получено "0x10".`},
	{"qty with spaces", "", placeBase("qty", " 10"),
		`Quantity must be a number, not " 10".`, `Поле «Количество»: нужно число, получено " 10".`},
	{"qty negative", "", placeBase("qty", "-10"),
		"Quantity must be greater than zero.", "Поле «Количество»: значение должно быть больше нуля."},
	{"qty zero", "", placeBase("qty", "0"),
		"Quantity must be greater than zero.", "Поле «Количество»: значение должно быть больше нуля."},
	{"qty huge", "", placeBase("qty", "1e10"),
		"Quantity is too large: at most 1000000000.", "Поле «Количество»: слишком большое значение, максимум 1000000000."},
	{"qty beyond float64", "", placeBase("qty", "1e400"),
		"Quantity is too large: at most 1000000000.", "Поле «Количество»: слишком большое значение, максимум 1000000000."},
	{"qty twice", "", func() url.Values { v := placeBase(); v.Add("qty", "200"); return v }(),
		"Quantity is given more than once.", "Поле «Количество» указано несколько раз."},
	{"no side", "", placeBase("side", "<absent>"),
		"Side is required.", "Не заполнено поле «Направление»."},
	{"bad side", "", placeBase("side", "long"),
		`Side must be one of buy, sell, not "long".`, `Поле «Направление»: допустимые значения buy, sell, получено "long".`},
	{"side in capitals", "", placeBase("side", "BUY"),
		`Side must be one of buy, sell, not "BUY".`, `Поле «Направление»: допустимые значения buy, sell, получено "BUY".`},
	{"no type", "", placeBase("type", "<absent>"),
		"Order type is required.", "Не заполнено поле «Тип заявки»."},
	{"bad type", "", placeBase("type", "iceberg"),
		`Order type must be one of market, limit, stop, stoplimit, not "iceberg".`,
		`Поле «Тип заявки»: допустимые значения market, limit, stop, stoplimit, получено "iceberg".`},
	{"limit without price", "", placeBase("limitPrice", "<absent>"),
		"Limit price is required.", "Не заполнено поле «Лимитная цена»."},
	{"limit price negative", "", placeBase("limitPrice", "-250"),
		"Limit price must be greater than zero.", "Поле «Лимитная цена»: значение должно быть больше нуля."},
	{"stop-limit without stop price", "", placeBase("type", "stoplimit"),
		"Stop price is required.", "Не заполнено поле «Стоп-цена»."},
	{"stop price huge", "", placeBase("type", "stop", "stopPrice", "5e12"),
		"Stop price is too large: at most 1000000000000.", "Поле «Стоп-цена»: слишком большое значение, максимум 1000000000000."},
	{"stop loss negative", "", placeBase("stopLoss", "-1"),
		"Stop loss must not be negative.", "Поле «Стоп-лосс»: значение не может быть отрицательным."},
	{"take profit garbage", "", placeBase("takeProfit", "1,5"),
		`Take profit must be a number, not "1,5".`, `Поле «Тейк-профит»: нужно число, получено "1,5".`},
	{"trailing stop garbage", "", placeBase("trailingStopPips", "inf"),
		`Trailing stop distance must be a number, not "inf".`, `Поле «Отступ трейлинг-стопа»: нужно число, получено "inf".`},
	{"guaranteed stop", "", placeBase("guaranteedStop", "240"),
		"Guaranteed stops are not supported.", "Гарантированный стоп не поддерживается."},
	{"unknown duration", "", placeBase("durationType", "GTD"),
		`Duration must be one of DAY, GTC, not "GTD".`, `Поле «Срок действия»: допустимые значения DAY, GTC, получено "GTD".`},
	{"duration not for the type", "", placeBase("type", "market", "durationType", "GTC"),
		`Duration GTC is not available for market orders.`, `Срок GTC недоступен для заявок типа market.`},
	{"current ask garbage", "", placeBase("currentAsk", "n/a"),
		`Current ask must be a number, not "n/a".`, `Поле «Текущая цена ask»: нужно число, получено "n/a".`},
	{"request id too long", "requestId=" + strings.Repeat("x", 65), placeBase(),
		"Request id is too long: at most 64 characters.", "Поле «Идентификатор запроса»: не длиннее 64 символов."},
	{"request id with a space", "requestId=a%20b", placeBase(),
		"Request id may hold only printable ASCII characters.", "Поле «Идентификатор запроса»: допустимы только печатные символы ASCII."},
	{"request id twice", "requestId=a&requestId=b", placeBase(),
		"Request id is given more than once.", "Поле «Идентификатор запроса» указано несколько раз."},
}

func TestPlaceOrderMalformed(t *testing.T) {
	f := newFixture(t)
	for _, tc := range malformedOrders {
		for _, l := range []struct{ locale, want string }{{"en", tc.en}, {"ru", tc.ru}, {"fr", tc.en}} {
			r := f.do("POST", "/accounts/A1/orders?locale="+l.locale+"&"+tc.query, "alice", tc.form)
			if got := r.errmsg(t, http.StatusOK); got != l.want {
				t.Errorf("%s (%s):\n got %q\nwant %q", tc.name, l.locale, got, l.want)
			}
		}
	}
	// The same checks guard the preview.
	for _, tc := range malformedOrders[:10] {
		r := f.do("POST", "/accounts/A1/previewOrder?locale=ru", "alice", tc.form)
		if got := r.errmsg(t, http.StatusOK); got != tc.ru {
			t.Errorf("preview %s: %q, want %q", tc.name, got, tc.ru)
		}
	}
	if c := f.broker.Calls(); len(c) != 0 {
		t.Errorf("the broker was called with malformed orders: %+v", c)
	}
}

func TestPlaceOrderBadBodies(t *testing.T) {
	f := newFixture(t)
	send := func(contentType, body string) string {
		req, _ := http.NewRequest("POST", f.srv.URL+"/accounts/A1/orders?locale=ru", strings.NewReader(body))
		req.Header.Set(userHeader, "alice")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return f.send(req).errmsg(t, http.StatusOK)
	}
	if got := send("application/json", `{"qty":1}`); got != `Тело запроса должно быть в формате application/x-www-form-urlencoded, а не "application/json".` {
		t.Errorf("JSON body: %q", got)
	}
	if got := send("application/x-www-form-urlencoded; charset=UTF-8", "qty=%zz"); got != msgBadBody.RU {
		t.Errorf("bad escape: %q", got)
	}
	if got := send("application/x-www-form-urlencoded", "qty="+strings.Repeat("1", maxBody)); got != msgBodyTooLarge.RU {
		t.Errorf("huge body: %q", got)
	}
	if got := send("", ""); got != "Не заполнено поле «Инструмент»." {
		t.Errorf("empty body: %q", got)
	}
	// Without a Content-Type, a form body is still read.
	f.broker.placed = tvbridge.Order{ID: "x"}
	req, _ := http.NewRequest("POST", f.srv.URL+"/accounts/A1/orders", strings.NewReader(placeBase().Encode()))
	req.Header.Set(userHeader, "alice")
	f.send(req).ok(t, "PostOrderResponse", nil)
}

func TestPlaceOrderOutsideGroupsIsUnknown(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("POST", f.srv.URL+"/accounts/A1/orders", strings.NewReader(placeBase().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(userHeader, "alice")
	req.Header.Set("X-Test-Groups", "tvbridge_bonds")
	if got := f.send(req).errmsg(t, http.StatusOK); got != `Unknown instrument "SBER".` {
		t.Errorf("errmsg %q", got)
	}
}

func TestPlaceOrderTradingErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		err    error
		en, ru string
	}{
		{&tvbridge.TradingError{Code: tvbridge.ErrInvalidQty, Field: "qty", Err: errors.New("internal: 105 % 10")},
			"The quantity must be a positive multiple of the lot. Field: Quantity. The lot of SBER is 10 units.",
			"Количество должно быть больше нуля и кратно лоту. Поле: «Количество». Лот SBER: 10 шт."},
		{&tvbridge.TradingError{Code: tvbridge.ErrInvalidPrice, Field: "LimitPrice", Detail: "250.505 is off the grid."},
			"The price must be positive and a multiple of the price step. Field: Limit price. The price step of SBER is 0.01. Details: 250.505 is off the grid.",
			"Цена должна быть больше нуля и кратна шагу цены. Поле: «Лимитная цена». Шаг цены SBER: 0.01. Подробности: 250.505 is off the grid."},
		{tvbridge.Errorf(tvbridge.ErrInsufficientFunds, "", "need 25050 RUB, have 100 RUB"),
			"Not enough funds or position. Details: need 25050 RUB, have 100 RUB.",
			"Недостаточно средств или позиции. Подробности: need 25050 RUB, have 100 RUB."},
		{&tvbridge.TradingError{Code: tvbridge.ErrMarketClosed},
			"The market is closed for this instrument.", "Торги по этому инструменту сейчас не идут."},
		{&tvbridge.TradingError{Code: "brand_new_code"}, "The request was rejected.", "Запрос отклонён."},
		// Wrapped by the core: still explained.
		{errors.Join(errors.New("place"), &tvbridge.TradingError{Code: tvbridge.ErrUnsupported, Field: "durationType"}),
			"This order type, duration or feature is not supported. Field: Duration.",
			"Этот тип заявки, срок или функция не поддерживаются. Поле: «Срок действия»."},
	} {
		f.broker.fail["PlaceOrder"] = tc.err
		for _, l := range []struct{ locale, want string }{{"en", tc.en}, {"ru", tc.ru}} {
			got := f.do("POST", "/accounts/A1/orders?locale="+l.locale, "alice", placeBase()).errmsg(t, http.StatusOK)
			if got != l.want {
				t.Errorf("%v (%s):\n got %q\nwant %q", tc.err, l.locale, got, l.want)
			}
		}
	}
	// Another user's account.
	delete(f.broker.fail, "PlaceOrder")
	got := f.do("POST", "/accounts/B1/orders", "alice", placeBase()).errmsg(t, http.StatusOK)
	if !strings.HasPrefix(got, "Account not found.") {
		t.Errorf("another user's account: %q", got)
	}
}

func TestModifyOrder(t *testing.T) {
	f := newFixture(t)
	f.broker.orders = cannedOrders()
	r := f.do("PUT", "/accounts/A1/orders/o1?locale=en", "alice",
		form("qty", "200", "limitPrice", "251", "stopLoss", "240", "currentAsk", "251", "currentBid", "250.9"))
	r.ok(t, "SuccessResponse", nil)
	want := tvbridge.OrderRequest{FIGI: sberFIGI, Side: tvbridge.Buy, Type: tvbridge.LimitOrder, Qty: 200,
		LimitPrice: 251, Brackets: tvbridge.Brackets{StopLoss: 240}}
	calls := f.broker.Called("ModifyOrder")
	if len(calls) != 1 || calls[0].ID != "o1" || !reflect.DeepEqual(calls[0].Req, want) {
		t.Fatalf("modify calls %+v, want %+v", calls, want)
	}

	// Instrument, side and type, when sent, are passed on for the core to
	// check against the order.
	f.do("PUT", "/accounts/A1/orders/o1", "alice",
		form("instrument", "AAPL", "side", "sell", "type", "stop", "qty", "5", "stopPrice", "100")).ok(t, "SuccessResponse", nil)
	calls = f.broker.Called("ModifyOrder")
	if got := calls[len(calls)-1].Req; got.FIGI != aaplFIGI || got.Side != tvbridge.Sell || got.Type != tvbridge.StopOrder || got.StopPrice != 100 {
		t.Errorf("explicit identity: %+v", got)
	}

	for _, tc := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/accounts/A1/orders/nope", form("qty", "1"), "Заявка не найдена."},
		{"/accounts/A1/orders/o1", form("limitPrice", "251"), "Не заполнено поле «Количество»."},
		{"/accounts/A1/orders/o2", form("qty", "100"), "Не заполнено поле «Стоп-цена»."},
		{"/accounts/A1/orders/o1", form("qty", "100", "limitPrice", "x"), `Поле «Лимитная цена»: нужно число, получено "x".`},
		{"/accounts/B1/orders/o1", form("qty", "1"), "Счёт не найден. Подробности: no such account B1."},
	} {
		if got := f.do("PUT", tc.path+"?locale=ru", "alice", tc.form).errmsg(t, http.StatusOK); got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.path, tc.form, got, tc.want)
		}
	}
	if n := len(f.broker.Called("ModifyOrder")); n != 2 {
		t.Errorf("%d modify calls, want 2", n)
	}

	f.broker.fail["ModifyOrder"] = &tvbridge.TradingError{Code: tvbridge.ErrOrderFinal}
	got := f.do("PUT", "/accounts/A1/orders/o1", "alice", form("qty", "1", "limitPrice", "1")).errmsg(t, http.StatusOK)
	if got != codeText[tvbridge.ErrOrderFinal].EN {
		t.Errorf("final order: %q", got)
	}
}

func TestCancelOrder(t *testing.T) {
	f := newFixture(t)
	f.do("DELETE", "/accounts/A1/orders/o1?locale=en", "alice", nil).ok(t, "SuccessResponse", nil)
	if c := f.broker.Called("CancelOrder"); len(c) != 1 || c[0].ID != "o1" || c[0].Account != "A1" || c[0].User != "alice" {
		t.Errorf("cancel calls %+v", c)
	}
	f.broker.fail["CancelOrder"] = &tvbridge.TradingError{Code: tvbridge.ErrUnknownOrder}
	if got := f.do("DELETE", "/accounts/A1/orders/o9?locale=ru", "alice", nil).errmsg(t, http.StatusOK); got != "Заявка не найдена." {
		t.Errorf("unknown order: %q", got)
	}
}

func TestPreviewOrder(t *testing.T) {
	f := newFixture(t)
	f.broker.preview = tvbridge.OrderPreview{Price: 250.5, Cost: 25050, Commission: 12.5, Warnings: []string{"Thin book"}}
	r := f.do("POST", "/accounts/A1/previewOrder?locale=ru", "alice", placeBase())
	var pv previewJSON
	r.ok(t, "PreviewOrderResponse", &pv)
	want := previewJSON{
		Sections: []sectionJSON{{Header: "Оценка", Rows: []rowJSON{
			{"Ожидаемая цена", "250.50 RUB"}, {"Лотов", "10"},
			{"Ожидаемая стоимость", "25050.00 RUB"}, {"Ожидаемая комиссия", "12.50 RUB"},
		}}},
		Warnings: []string{"Thin book"},
	}
	if !reflect.DeepEqual(pv, want) {
		t.Errorf("preview %+v\nwant %+v", pv, want)
	}
	if c := f.broker.Called("PreviewOrder"); len(c) != 1 || c[0].Req.Qty != 100 || c[0].Req.FIGI != sberFIGI {
		t.Errorf("preview calls %+v", c)
	}
	if len(f.broker.Called("PlaceOrder")) != 0 {
		t.Error("a preview placed an order")
	}
	// A dollar stock is paid for in dollars, whatever the account's currency.
	f.broker.preview = tvbridge.OrderPreview{Price: 190.5, Cost: 1905, Commission: 0.95, Currency: "USD"}
	f.do("POST", "/accounts/A1/previewOrder", "alice", placeBase("instrument", "AAPL", "qty", "10", "limitPrice", "190.5")).
		ok(t, "PreviewOrderResponse", &pv)
	if rows := pv.Sections[0].Rows; rows[0].Value != "190.50 USD" || rows[2].Value != "1905.00 USD" || rows[3].Value != "0.95 USD" {
		t.Errorf("dollar preview %+v", rows)
	}
}

func TestPlaceOrderWithExpiry(t *testing.T) {
	gtd := Duration{ID: "GTD", Title: Text{"Good till date", "До даты"}, DatePicker: true, TimePicker: true,
		OrderTypes: []tvbridge.OrderType{tvbridge.LimitOrder}}
	f := newFixture(t, func(c *Config) { c.Durations = append(DefaultDurations(), gtd) })
	f.broker.placed = tvbridge.Order{ID: "x"}
	until := fixtureNow.Add(48 * time.Hour)
	f.do("POST", "/accounts/A1/orders", "alice",
		placeBase("durationType", "GTD", "durationDateTime", strconv.FormatInt(until.Unix(), 10))).ok(t, "PostOrderResponse", nil)
	if got := f.broker.Called("PlaceOrder")[0].Req.Duration; got.Type != "GTD" || !got.Until.Equal(until) {
		t.Errorf("duration %+v", got)
	}
	var cfg configData
	f.get("/config?locale=ru", "alice").ok(t, "ConfigResponse", &cfg)
	if d := cfg.Durations[2]; d.ID != "GTD" || d.Title != "До даты" || !d.HasDatePicker || !d.HasTimePicker {
		t.Errorf("GTD in /config: %+v", d)
	}

	for _, tc := range []struct{ value, want string }{
		{"<absent>", "Не заполнено поле «Время истечения»."},
		{strconv.FormatInt(fixtureNow.Unix(), 10), "Поле «Время истечения»: это время уже прошло."},
		{"1709900000.5", `Поле «Время истечения»: нужно целое число, получено "1709900000.5".`},
		{"1e20", "Поле «Время истечения»: слишком большое значение, максимум 253402300799."},
	} {
		r := f.do("POST", "/accounts/A1/orders?locale=ru", "alice", placeBase("durationType", "GTD", "durationDateTime", tc.value))
		if got := r.errmsg(t, http.StatusOK); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.value, got, tc.want)
		}
	}
}

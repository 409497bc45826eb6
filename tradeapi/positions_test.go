package tradeapi

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

func cannedPositions() []tvbridge.Position {
	return []tvbridge.Position{
		{ID: "p1", AccountID: "A1", FIGI: sberFIGI, Side: tvbridge.Buy, Qty: 30, AvgPrice: 250.1 + 0.2,
			UnrealizedPL: -12.3, StopLossID: "o3"},
		{ID: "p2", AccountID: "A1", FIGI: aaplFIGI, Side: tvbridge.Sell, Qty: 5, AvgPrice: 170, UnrealizedPL: 0},
	}
}

func TestPositions(t *testing.T) {
	f := newFixture(t)
	f.broker.positions = cannedPositions()
	r := f.get("/accounts/A1/positions?locale=en", "alice")
	var ps []positionJSON
	r.ok(t, "PositionsResponse", &ps)
	want := []positionJSON{
		{ID: "p1", Instrument: "SBER", Qty: 30, Side: "buy", AvgPrice: 250.3, UnrealizedPL: -12.3},
		{ID: "p2", Instrument: "AAPL", Qty: 5, Side: "sell", AvgPrice: 170, UnrealizedPL: 0},
	}
	if !reflect.DeepEqual(ps, want) {
		t.Errorf("positions %+v\nwant %+v", ps, want)
	}
	// unrealizedPl is sent even when zero: supportPLUpdate says the broker computes it.
	if !strings.Contains(string(r.body), `"unrealizedPl":0}`) {
		t.Errorf("zero P/L left out: %s", r.body)
	}
}

func TestModifyPositionBrackets(t *testing.T) {
	f := newFixture(t)
	f.broker.positions = cannedPositions()
	f.do("PUT", "/accounts/A1/positions/p1?locale=en", "alice",
		form("stopLoss", "240", "takeProfit", "265.5", "trailingStopPips", "20", "currentAsk", "250.4", "currentBid", "250.3")).
		ok(t, "SuccessResponse", nil)
	// The same side as the position's is not a reverse.
	f.do("PUT", "/accounts/A1/positions/p1", "alice", form("side", "buy", "takeProfit", "270")).ok(t, "SuccessResponse", nil)
	// No brackets at all removes them.
	f.do("PUT", "/accounts/A1/positions/p1", "alice", form("currentAsk", "250.4")).ok(t, "SuccessResponse", nil)
	calls := f.broker.Called("ModifyPosition")
	want := []tvbridge.Brackets{{StopLoss: 240, TakeProfit: 265.5, TrailingStopPips: 20}, {TakeProfit: 270}, {}}
	if len(calls) != len(want) {
		t.Fatalf("modify calls %+v", calls)
	}
	for i, c := range calls {
		if c.ID != "p1" || c.Brackets != want[i] {
			t.Errorf("call %d: %+v, want brackets %+v", i, c, want[i])
		}
	}
	if len(f.broker.Called("ReversePosition")) != 0 {
		t.Error("reversed")
	}
}

func TestModifyPositionNativeReverse(t *testing.T) {
	f := newFixture(t)
	f.broker.positions = cannedPositions()
	f.do("PUT", "/accounts/A1/positions/p1", "alice", form("side", "sell")).ok(t, "SuccessResponse", nil)
	if c := f.broker.Called("ReversePosition"); len(c) != 1 || c[0].ID != "p1" || c[0].Account != "A1" {
		t.Errorf("reverse calls %+v", c)
	}
	if len(f.broker.Called("ModifyPosition")) != 0 {
		t.Error("brackets modified on a reverse")
	}
}

func TestModifyPositionMalformed(t *testing.T) {
	f := newFixture(t)
	f.broker.positions = cannedPositions()
	for _, tc := range []struct {
		id, body, en, ru string
	}{
		{"p1", "stopLoss=abc", `Stop loss must be a number, not "abc".`, `Поле «Стоп-лосс»: нужно число, получено "abc".`},
		{"p1", "stopLoss=-5", "Stop loss must not be negative.", "Поле «Стоп-лосс»: значение не может быть отрицательным."},
		{"p1", "side=flat", `Side must be one of buy, sell, not "flat".`, `Поле «Направление»: допустимые значения buy, sell, получено "flat".`},
		{"p1", "takeProfit=1&takeProfit=2", "Take profit is given more than once.", "Поле «Тейк-профит» указано несколько раз."},
		{"p1", "guaranteedStop=200", "Guaranteed stops are not supported.", "Гарантированный стоп не поддерживается."},
		{"p1", "currentBid=NaN", `Current bid must be a number, not "NaN".`, `Поле «Текущая цена bid»: нужно число, получено "NaN".`},
		{"p9", "stopLoss=240", "Position not found.", "Позиция не найдена."},
	} {
		for _, l := range []struct{ locale, want string }{{"en", tc.en}, {"ru", tc.ru}} {
			req, _ := http.NewRequest("PUT", f.srv.URL+"/accounts/A1/positions/"+tc.id+"?locale="+l.locale, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(userHeader, "alice")
			if got := f.send(req).errmsg(t, http.StatusOK); got != l.want {
				t.Errorf("%s %q (%s): %q, want %q", tc.id, tc.body, l.locale, got, l.want)
			}
		}
	}
	if n := len(f.broker.Called("ModifyPosition")) + len(f.broker.Called("ReversePosition")); n != 0 {
		t.Errorf("%d position changes for malformed requests", n)
	}
	f.broker.fail["ModifyPosition"] = tvbridge.Errorf(tvbridge.ErrInvalidPrice, "stopLoss", "")
	got := f.do("PUT", "/accounts/A1/positions/p1?locale=en", "alice", form("stopLoss", "240.001")).errmsg(t, http.StatusOK)
	if got != "The price must be positive and a multiple of the price step. Field: Stop loss. The price step of SBER is 0.01." {
		t.Errorf("price error: %q", got)
	}
}

func TestClosePosition(t *testing.T) {
	f := newFixture(t)
	f.broker.positions = cannedPositions()
	f.do("DELETE", "/accounts/A1/positions/p1?locale=en", "alice", nil).ok(t, "SuccessResponse", nil)
	f.do("DELETE", "/accounts/A1/positions/p1", "alice", form("amount", "10")).ok(t, "SuccessResponse", nil)
	// A client that drops DELETE bodies sends the amount in the query.
	f.do("DELETE", "/accounts/A1/positions/p1?amount=20", "alice", nil).ok(t, "SuccessResponse", nil)
	// The body wins over the query.
	f.do("DELETE", "/accounts/A1/positions/p1?amount=20", "alice", form("amount", "10")).ok(t, "SuccessResponse", nil)
	var got []float64
	for _, c := range f.broker.Called("ClosePosition") {
		got = append(got, c.Qty)
	}
	if !reflect.DeepEqual(got, []float64{0, 10, 20, 10}) {
		t.Errorf("closed quantities %v", got)
	}

	for _, tc := range []struct{ path, body, want string }{
		{"/accounts/A1/positions/p1", "amount=ten", `Поле «Количество»: нужно число, получено "ten".`},
		{"/accounts/A1/positions/p1", "amount=-1", "Поле «Количество»: значение должно быть больше нуля."},
		{"/accounts/A1/positions/p1", "amount=0", "Поле «Количество»: значение должно быть больше нуля."},
		{"/accounts/A1/positions/p9", "amount=10", "Позиция не найдена."},
		{"/accounts/B1/positions/p1", "", "Счёт не найден. Подробности: no such account B1."},
	} {
		req, _ := http.NewRequest("DELETE", f.srv.URL+tc.path+"?locale=ru", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(userHeader, "alice")
		if got := f.send(req).errmsg(t, http.StatusOK); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.path, tc.body, got, tc.want)
		}
	}

	f.broker.fail["ClosePosition"] = tvbridge.Errorf(tvbridge.ErrInvalidQty, "qty", "")
	got2 := f.do("DELETE", "/accounts/A1/positions/p1?locale=en", "alice", form("amount", "15")).errmsg(t, http.StatusOK)
	if got2 != "The quantity must be a positive multiple of the lot. Field: Quantity. The lot of SBER is 10 units." {
		t.Errorf("partial close off the lot: %q", got2)
	}
}

func TestExecutions(t *testing.T) {
	f := newFixture(t)
	at := fixtureNow.Add(-time.Hour)
	f.broker.execs = []tvbridge.Execution{
		{ID: "e2", AccountID: "A1", OrderID: "o4", PositionID: "p1", FIGI: sberFIGI, Side: tvbridge.Sell, Qty: 10,
			Price: 251.2, Commission: 1.25, Time: at.Add(time.Minute), IsClose: true},
		{ID: "e1", AccountID: "A1", OrderID: "o4", FIGI: sberFIGI, Side: tvbridge.Buy, Qty: 10, Price: 250.9,
			Time: at},
	}
	r := f.get("/accounts/A1/executions?locale=en&instrument=SBER&maxCount=50", "alice")
	var execs []executionJSON
	r.ok(t, "ExecutionsResponse", &execs)
	want := []executionJSON{
		{ID: "e2", Instrument: "SBER", Price: 251.2, Time: at.Add(time.Minute).Unix(), Qty: 10, Side: "sell",
			OrderID: "o4", IsClose: true, PositionID: "p1", Commission: 1.25},
		{ID: "e1", Instrument: "SBER", Price: 250.9, Time: at.Unix(), Qty: 10, Side: "buy", OrderID: "o4"},
	}
	if !reflect.DeepEqual(execs, want) {
		t.Errorf("executions %+v\nwant %+v", execs, want)
	}
	if c := f.broker.Called("Executions"); len(c) != 1 || c[0].FIGI != sberFIGI || c[0].Max != 50 {
		t.Errorf("executions calls %+v", c)
	}
	for query, want := range map[string]string{
		"":                             "Не заполнено поле «Инструмент».",
		"&instrument=GAZP":             `Неизвестный инструмент "GAZP".`,
		"&instrument=SBER&maxCount=-1": "Поле «Максимальное количество»: значение должно быть больше нуля.",
	} {
		if got := f.get("/accounts/A1/executions?locale=ru"+query, "alice").errmsg(t, http.StatusOK); got != want {
			t.Errorf("%q: %q, want %q", query, got, want)
		}
	}
}

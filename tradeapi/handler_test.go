package tradeapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

// Every endpoint but /mapping, by method and path.
var protectedEndpoints = []struct{ method, path string }{
	{"GET", "/config"},
	{"GET", "/accounts"},
	{"GET", "/accounts/A1/instruments"},
	{"GET", "/accounts/A1/state"},
	{"GET", "/accounts/A1/balances"},
	{"GET", "/accounts/A1/orders"},
	{"POST", "/accounts/A1/orders"},
	{"PUT", "/accounts/A1/orders/o1"},
	{"DELETE", "/accounts/A1/orders/o1"},
	{"GET", "/accounts/A1/ordersHistory"},
	{"POST", "/accounts/A1/previewOrder"},
	{"GET", "/accounts/A1/positions"},
	{"PUT", "/accounts/A1/positions/p1"},
	{"DELETE", "/accounts/A1/positions/p1"},
	{"GET", "/accounts/A1/executions?instrument=SBER"},
	{"GET", "/quotes?accountId=A1&symbols=SBER"},
	{"GET", "/depth?accountId=A1&symbol=SBER"},
}

func TestNoPrincipalIs401(t *testing.T) {
	f := newFixture(t)
	for _, ep := range protectedEndpoints {
		for _, tc := range []struct{ locale, want string }{
			{"en", msgUnauthorized.EN}, {"ru", msgUnauthorized.RU},
		} {
			sep := "?"
			if strings.Contains(ep.path, "?") {
				sep = "&"
			}
			r := f.do(ep.method, ep.path+sep+"locale="+tc.locale, "", form("qty", "1"))
			if got := r.errmsg(t, http.StatusUnauthorized); got != tc.want {
				t.Errorf("%s %s: errmsg %q, want %q", ep.method, ep.path, got, tc.want)
			}
		}
	}
	if calls := f.broker.Calls(); len(calls) != 0 {
		t.Errorf("broker called without a principal: %+v", calls)
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	f := newFixture(t)
	r := f.get("/accounts/A1/nothing?locale=ru", "alice")
	if got := r.errmsg(t, http.StatusNotFound); got != `Такого адреса нет: "/accounts/A1/nothing".` {
		t.Errorf("404 errmsg %q", got)
	}
	r = f.do("PATCH", "/accounts/A1/orders", "alice", nil)
	if got := r.errmsg(t, http.StatusMethodNotAllowed); got != `Method "PATCH" is not allowed here.` {
		t.Errorf("405 errmsg %q", got)
	}
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow %q", allow)
	}
}

func TestPanicBecomesErrorResponse(t *testing.T) {
	f := newFixture(t)
	f.broker.panics = "Orders"
	r := f.get("/accounts/A1/orders?locale=ru", "alice")
	if got := r.errmsg(t, http.StatusOK); got != msgInternal.RU {
		t.Errorf("errmsg %q", got)
	}
	// The server is still serving.
	f.broker.panics = ""
	f.get("/accounts/A1/orders", "alice").ok(t, "OrdersResponse", nil)
}

func TestInternalErrorsAreNotLeaked(t *testing.T) {
	f := newFixture(t)
	f.broker.fail["State"] = fmt.Errorf("bolt: open /var/lib/tvbridge/trading.db: %w", errors.New("secret detail"))
	got := f.get("/accounts/A1/state", "alice").errmsg(t, http.StatusOK)
	if got != msgInternal.EN {
		t.Errorf("errmsg %q", got)
	}
	// Nor is a trading error's cause.
	f.broker.fail["State"] = &tvbridge.TradingError{Code: tvbridge.ErrVenue, Err: errors.New("token t.SECRET rejected")}
	got = f.get("/accounts/A1/state", "alice").errmsg(t, http.StatusOK)
	if got != codeText[tvbridge.ErrVenue].EN || strings.Contains(got, "SECRET") {
		t.Errorf("errmsg %q", got)
	}
}

func TestMalformedQueryString(t *testing.T) {
	f := newFixture(t)
	got := f.get("/accounts/A1/orders?locale=ru&x=%zz", "alice").errmsg(t, http.StatusOK)
	if got != msgBadQuery.RU {
		t.Errorf("errmsg %q", got)
	}
}

func TestPickLang(t *testing.T) {
	for locale, want := range map[string]lang{
		"ru": russian, "RU": russian, "ru_RU": russian, "ru-RU": russian,
		"en": english, "": english, "de_DE": english, "uk": english, "rus": english, "xx\x00": english,
	} {
		if got := pickLang(locale); got != want {
			t.Errorf("pickLang(%q) = %v, want %v", locale, got, want)
		}
	}
}

// Every trading error code and every request message has a distinct
// English and Russian text.
func TestEveryMessageIsTranslated(t *testing.T) {
	codes := []tvbridge.ErrorCode{
		tvbridge.ErrUnknownAccount, tvbridge.ErrUnknownInstrument, tvbridge.ErrUnknownOrder,
		tvbridge.ErrUnknownPosition, tvbridge.ErrInvalidRequest, tvbridge.ErrInvalidQty,
		tvbridge.ErrInvalidPrice, tvbridge.ErrUnsupported, tvbridge.ErrOrderFinal,
		tvbridge.ErrInsufficientFunds, tvbridge.ErrMarketClosed, tvbridge.ErrNoMarketData, tvbridge.ErrVenue,
		tvbridge.ErrRequestReused,
	}
	if len(codeText) != len(codes) {
		t.Errorf("codeText has %d codes, trading.go %d", len(codeText), len(codes))
	}
	for _, c := range codes {
		checkTranslated(t, string(c), codeText[c])
	}
	for name, m := range map[string]Text{
		"unauthorized": msgUnauthorized, "noEndpoint": msgNoEndpoint, "method": msgMethod,
		"internal": msgInternal, "badQuery": msgBadQuery, "badBody": msgBadBody, "tooLarge": msgBodyTooLarge,
		"bodyType": msgBodyType, "required": msgRequired, "twice": msgTwice, "notNumber": msgNotNumber,
		"notInteger": msgNotInteger, "positive": msgPositive, "notNegative": msgNotNegative,
		"tooLargeValue": msgTooLarge, "oneOf": msgOneOf, "tooLong": msgTooLong, "printable": msgPrintable,
		"past": msgPast, "unknownSymbol": msgUnknownSymbol, "durationType": msgDurationType,
		"noGuaranteed": msgNoGuaranteed, "tooMany": msgTooMany, "noAccounts": msgNoAccounts,
		"field": msgField, "lot": msgLot, "step": msgStep, "detail": msgDetail,
		"unknownCode": unknownCode,
	} {
		checkTranslated(t, name, m)
	}
	for name, l := range fieldLabels {
		checkTranslated(t, "label "+name, l)
	}
}

func checkTranslated(t *testing.T, name string, m Text) {
	t.Helper()
	if m.EN == "" || m.RU == "" || m.EN == m.RU {
		t.Errorf("%s: not translated: %+v", name, m)
	}
	if strings.Count(m.EN, "%") != strings.Count(m.RU, "%") {
		t.Errorf("%s: English and Russian take different arguments: %+v", name, m)
	}
}

func TestConfig(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.PullingInterval = PullingInterval{Quotes: 5 * time.Second, Positions: 700 * time.Millisecond}
	})
	var en, ru configData
	f.get("/config?locale=en", "alice").ok(t, "ConfigResponse", &en)
	f.get("/config?locale=ru", "alice").ok(t, "ConfigResponse", &ru)

	want := pullingJSON{Quotes: 1000, Orders: 500, Positions: 700, AccountManager: 500, Balances: 1000}
	if en.PullingInterval != want {
		t.Errorf("pulling intervals %+v, want %+v (clamped and defaulted)", en.PullingInterval, want)
	}
	if len(en.Durations) != 2 || en.Durations[0].ID != "DAY" || !en.Durations[0].Default ||
		en.Durations[1].ID != "GTC" || en.Durations[1].Default {
		t.Errorf("durations %+v", en.Durations)
	}
	if strings.Join(en.Durations[1].SupportedOrderTypes, ",") != "limit,stop,stoplimit" {
		t.Errorf("GTC order types %v", en.Durations[1].SupportedOrderTypes)
	}
	if ru.Durations[1].Title != "До отмены" || en.Durations[1].Title != "Good till cancelled" {
		t.Errorf("duration titles %q / %q", en.Durations[1].Title, ru.Durations[1].Title)
	}
	cols := en.AccountManager[0].Columns
	var ids []string
	for _, c := range cols {
		ids = append(ids, c.ID)
	}
	if strings.Join(ids, ",") != "currency,balance,equity,unrealizedPl,realizedPl,commissions,marginUsed,marginAvailable,rate" ||
		cols[1].Title != "Balance" || ru.AccountManager[0].Columns[1].Title != "Баланс" ||
		cols[0].Alignment != "left" || cols[1].Alignment != "right" {
		t.Errorf("account manager columns %+v", en.AccountManager)
	}
}

func TestNewRejectsBadDurations(t *testing.T) {
	for name, ds := range map[string][]Duration{
		"empty":       {},
		"no types":    {{ID: "DAY", Title: Text{EN: "Day"}}},
		"bad type":    {{ID: "DAY", Title: Text{EN: "Day"}, OrderTypes: []tvbridge.OrderType{"iceberg"}}},
		"two default": {{ID: "A", Title: Text{EN: "A"}, Default: true, OrderTypes: []tvbridge.OrderType{"limit"}}, {ID: "B", Title: Text{EN: "B"}, Default: true, OrderTypes: []tvbridge.OrderType{"limit"}}},
		"repeated":    {{ID: "A", Title: Text{EN: "A"}, OrderTypes: []tvbridge.OrderType{"limit"}}, {ID: "A", Title: Text{EN: "A"}, OrderTypes: []tvbridge.OrderType{"limit"}}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New accepted %+v", name, ds)
				}
			}()
			New(Config{Broker: newFakeBroker(), Catalog: fixtureCatalog(t), Market: newFakeMarket(), Durations: ds})
		}()
	}
}

func TestAccounts(t *testing.T) {
	f := newFixture(t)
	r := f.get("/accounts?locale=en", "alice")
	var accts []struct {
		ID, Name, Type, Currency, CurrencySign string
		Config                                 map[string]bool
	}
	r.ok(t, "AccountResponse", &accts)
	if len(accts) != 1 || accts[0].ID != "A1" || accts[0].Type != "demo" || accts[0].Currency != "RUB" ||
		accts[0].CurrencySign != "₽" || accts[0].Name != "Paper" {
		t.Fatalf("accounts %+v", accts)
	}
	cfg := accts[0].Config
	for _, flag := range []string{"supportOrderBrackets", "supportPositionBrackets", "supportTrailingStop",
		"supportStopLimitOrders", "supportClosePosition", "supportPartialClosePosition",
		"supportNativeReversePosition", "supportExecutions", "supportOrdersHistory", "supportLevel2Data",
		"supportPlaceOrderPreview", "supportPartialOrderExecution", "supportModifyDuration"} {
		if !cfg[flag] {
			t.Errorf("%s is off", flag)
		}
	}
	for _, flag := range []string{"supportBalances", "supportLeverage", "supportGuaranteedStop",
		"supportPositionNetting", "supportMultiposition", "supportModifyOrderPreview"} {
		if v, ok := cfg[flag]; !ok || v {
			t.Errorf("%s = %v, present %v; want an explicit false", flag, v, ok)
		}
	}

	f.broker.accounts["carol"] = nil
	if got := f.get("/accounts?locale=ru", "carol").errmsg(t, http.StatusOK); got != msgNoAccounts.RU {
		t.Errorf("no accounts: %q", got)
	}
}

func TestInstruments(t *testing.T) {
	f := newFixture(t)
	// Dollars at 90.0 to 90.01 RUB: one cent of AAPL is worth 0.90005 RUB.
	f.market.setBook(usdFIGI, []tvbridge.PriceLevel{{Price: 90, Quantity: 5}}, []tvbridge.PriceLevel{{Price: 90.01, Quantity: 3}})
	var insts []instrumentJSON
	f.get("/accounts/A1/instruments?locale=en", "alice").ok(t, "InstrumentsResponse", &insts)
	byName := map[string]instrumentJSON{}
	for _, i := range insts {
		byName[i.Name] = i
	}
	want := map[string]instrumentJSON{
		"SBER":         {Name: "SBER", Description: "Сбер Банк", MinQty: 10, QtyStep: 10, PipSize: 0.01, PipValue: 0.01, MinTick: 0.01, Type: "stock"},
		"AAPL":         {Name: "AAPL", Description: "Apple", MinQty: 1, QtyStep: 1, PipSize: 0.01, PipValue: 0.90005, MinTick: 0.01, Type: "stock"},
		"USD000UTSTOM": {Name: "USD000UTSTOM", Description: "Доллар США", MinQty: 1000, QtyStep: 1000, PipSize: 0.0025, PipValue: 0.0025, MinTick: 0.0025, Type: "forex"},
		"SU26238RMFS4": {Name: "SU26238RMFS4", Description: "ОФЗ 26238", MinQty: 1, QtyStep: 1, PipSize: 0.005, PipValue: 0.005, MinTick: 0.005, Type: "bond"},
	}
	if len(byName) != len(want) {
		t.Fatalf("instruments %+v", insts)
	}
	for name, w := range want {
		if byName[name] != w {
			t.Errorf("%s: %+v, want %+v", name, byName[name], w)
		}
	}
	// Bob's USD account: SBER's kopeck is 0.01/90.005 dollars.
	f.get("/accounts/B1/instruments", "bob").ok(t, "InstrumentsResponse", &insts)
	for _, i := range insts {
		if i.Name == "SBER" && math.Abs(i.PipValue-0.01/90.005) > 1e-12 {
			t.Errorf("SBER pip value in USD %v", i.PipValue)
		}
	}

	// A user limited to some groups sees only those.
	req, _ := http.NewRequest("GET", f.srv.URL+"/accounts/A1/instruments", nil)
	req.Header.Set(userHeader, "alice")
	req.Header.Set("X-Test-Groups", "tvbridge_bonds")
	var bonds []instrumentJSON
	f.send(req).ok(t, "InstrumentsResponse", &bonds)
	if len(bonds) != 1 || bonds[0].Name != "SU26238RMFS4" {
		t.Errorf("bonds only: %+v", bonds)
	}

	// An account that names its currencies lists only what it can trade:
	// roubles alone leave AAPL (in dollars) out; with dollars it is back.
	f.broker.accounts["alice"][0].Currencies = []string{"RUB"}
	f.get("/accounts/A1/instruments", "alice").ok(t, "InstrumentsResponse", &insts)
	if len(insts) != 3 || slices.ContainsFunc(insts, func(i instrumentJSON) bool { return i.Name == "AAPL" }) {
		t.Errorf("rouble account's instruments %+v", insts)
	}
	f.broker.accounts["alice"][0].Currencies = []string{"RUB", "USD"}
	f.get("/accounts/A1/instruments", "alice").ok(t, "InstrumentsResponse", &insts)
	if len(insts) != 4 {
		t.Errorf("rouble and dollar account's instruments %+v", insts)
	}

	// Another user's account is unknown.
	got := f.get("/accounts/B1/instruments?locale=ru", "alice").errmsg(t, http.StatusOK)
	if got != "Счёт не найден." {
		t.Errorf("another user's account: %q", got)
	}
}

func TestState(t *testing.T) {
	f := newFixture(t)
	f.broker.state = tvbridge.AccountState{Balance: 100000.1 + 0.2, UnrealizedPL: -250.5, Equity: 99749.8,
		RealizedPL: 1200, Commissions: 35.25, MarginUsed: 50000, MarginAvailable: 49749.8}
	r := f.get("/accounts/A1/state", "alice")
	var s stateJSON
	r.ok(t, "AccountStateResponse", &s)
	// A broker without per-currency figures: one row, the account's currency.
	want := stateJSON{Balance: 100000.3, UnrealizedPL: -250.5, Equity: 99749.8, MarginAvailable: 49749.8,
		AMData: [][][]string{{{"RUB", "100000.30", "99749.80", "-250.50", "1200.00", "35.25", "50000.00", "49749.80", "1"}}}}
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Errorf("state %+v, want %+v", s, want)
	}
	if !strings.Contains(string(r.body), `"balance":100000.3,`) {
		t.Errorf("float noise in %s", r.body)
	}
	got := f.get("/accounts/B1/state?locale=ru", "alice").errmsg(t, http.StatusOK)
	if got != "Счёт не найден. Подробности: no such account B1." {
		t.Errorf("another user's account: %q", got)
	}
}

func TestNonFiniteNumbersFailLoudly(t *testing.T) {
	f := newFixture(t)
	f.broker.state = tvbridge.AccountState{Balance: math.NaN()}
	if got := f.get("/accounts/A1/state", "alice").errmsg(t, http.StatusOK); got != msgInternal.EN {
		t.Errorf("errmsg %q", got)
	}
}

// multiCurrencyState is a rouble account holding dollars too, at 90.
func multiCurrencyState() tvbridge.AccountState {
	return tvbridge.AccountState{Balance: 1_090_000, UnrealizedPL: -450, Equity: 1_089_550, RealizedPL: 900, Commissions: 22.5,
		MarginUsed: 45_000, MarginAvailable: 1_044_550,
		Currencies: []tvbridge.CurrencyState{
			{Currency: "RUB", Balance: 1_000_000, Equity: 1_000_000, MarginAvailable: 1_000_000, Rate: 1},
			{Currency: "USD", Balance: 1_000, UnrealizedPL: -5, Equity: 995, RealizedPL: 10, Commissions: 0.25,
				MarginUsed: 500, MarginAvailable: 495, Rate: 90},
			{Currency: "EUR", Balance: 100, Equity: 100, MarginAvailable: 100}, // no rate known
		}}
}

// /state shows the totals in the account currency and, in the account
// manager, a row of totals and one per currency with its rate.
func TestStateMultiCurrency(t *testing.T) {
	f := newFixture(t)
	f.broker.state = multiCurrencyState()
	for locale, total := range map[string]string{"en": "Total, RUB", "ru": "Итого, RUB"} {
		var s stateJSON
		f.get("/accounts/A1/state?locale="+locale, "alice").ok(t, "AccountStateResponse", &s)
		want := stateJSON{Balance: 1_090_000, UnrealizedPL: -450, Equity: 1_089_550, MarginAvailable: 1_044_550,
			AMData: [][][]string{{
				{total, "1090000.00", "1089550.00", "-450.00", "900.00", "22.50", "45000.00", "1044550.00", ""},
				{"RUB", "1000000.00", "1000000.00", "0.00", "0.00", "0.00", "0.00", "1000000.00", "1"},
				{"USD", "1000.00", "995.00", "-5.00", "10.00", "0.25", "500.00", "495.00", "90"},
				{"EUR", "100.00", "100.00", "0.00", "0.00", "0.00", "0.00", "100.00", "—"},
			}}}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("%s: state\n got %+v\nwant %+v", locale, s, want)
		}
	}
}

// /balances lists the money per currency in the spec's CryptoBalance form,
// valued in the account currency where a rate is known.
func TestBalances(t *testing.T) {
	f := newFixture(t)
	f.broker.state = multiCurrencyState()
	r := f.get("/accounts/A1/balances?locale=ru", "alice")
	r.ok(t, "CryptoBalancesResponse", nil)
	want := `{"s":"ok","d":[{"symbol":"RUB","total":1000000,"available":1000000,"reserved":0,"value":1000000,"valueCurrency":"RUB"},` +
		`{"symbol":"USD","total":995,"available":495,"reserved":500,"value":89550,"valueCurrency":"RUB"},` +
		`{"symbol":"EUR","total":100,"available":100,"reserved":0}]}` + "\n"
	if string(r.body) != want {
		t.Errorf("balances\n got %s\nwant %s", r.body, want)
	}
	// A broker without per-currency figures: the account currency's totals.
	f.broker.state = tvbridge.AccountState{Balance: 10, Equity: 12, UnrealizedPL: 2, MarginUsed: 5, MarginAvailable: 7}
	r = f.get("/accounts/B1/balances", "bob")
	want = `{"s":"ok","d":[{"symbol":"USD","total":12,"available":7,"reserved":5,"value":12,"valueCurrency":"USD"}]}` + "\n"
	if string(r.body) != want {
		t.Errorf("single-currency balances\n got %s\nwant %s", r.body, want)
	}
	if got := f.get("/accounts/B1/balances", "alice").errmsg(t, http.StatusOK); !strings.HasPrefix(got, "Account not found.") {
		t.Errorf("another user's account: %q", got)
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0.1 + 0.2, 0.3}, {100000.1 + 0.2, 100000.3}, {0, 0}, {-1.005, -1.005},
		{123456789.123, 123456789.123}, {1e20, 1e20}, {2.5e-7, 2.5e-7},
	} {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(clean(math.NaN())) || !math.IsInf(clean(math.Inf(1)), 1) {
		t.Error("non-finite values must pass through")
	}
}

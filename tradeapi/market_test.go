package tradeapi

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/live"
	"tvbridge/openapi/openapitest"
)

func TestQuotes(t *testing.T) {
	f := newFixture(t)
	f.market.setBook(sberFIGI, []tvbridge.PriceLevel{{Price: 250.1, Quantity: 5}, {Price: 250, Quantity: 9}},
		[]tvbridge.PriceLevel{{Price: 250.2, Quantity: 3}})
	f.market.setBook(usdFIGI, []tvbridge.PriceLevel{{Price: 90, Quantity: 5}}, []tvbridge.PriceLevel{{Price: 90.01, Quantity: 3}})
	f.market.setBook(aaplFIGI, []tvbridge.PriceLevel{{Price: 170, Quantity: 1}}, nil) // one-sided
	f.market.status[usdFIGI] = tvbridge.StatusBreakInTrading
	f.market.status[sberFIGI] = tvbridge.StatusNormalTrading

	r := f.get("/quotes?locale=en&accountId=A1&symbols=SBER,GAZP,USD000UTSTOM,AAPL,SU26238RMFS4", "alice")
	var qs []quoteJSON
	r.ok(t, "QuotesResponse", &qs)
	want := []quoteJSON{
		{S: "ok", N: "SBER", V: quoteData{Ask: 250.2, Bid: 250.1, BuyPipValue: 0.01, SellPipValue: 0.01}},
		{S: "error", N: "GAZP"},
		{S: "ok", N: "USD000UTSTOM", V: quoteData{Ask: 90.01, Bid: 90, BuyPipValue: 0.0025, SellPipValue: 0.0025, Halted: true}},
		// AAPL in a RUB account: its cent is worth 0.90005 RUB.
		{S: "error", N: "AAPL", V: quoteData{Bid: 170, BuyPipValue: 0.90005, SellPipValue: 0.90005}},
		{S: "error", N: "SU26238RMFS4", V: quoteData{BuyPipValue: 0.005, SellPipValue: 0.005}},
	}
	if !reflect.DeepEqual(qs, want) {
		t.Errorf("quotes\n got %+v\nwant %+v", qs, want)
	}
	// The error entries still carry the required bid and ask.
	if !strings.Contains(string(r.body), `{"s":"error","n":"GAZP","v":{"ask":0,"bid":0}}`) {
		t.Errorf("unknown symbol entry: %s", r.body)
	}

	for _, tc := range []struct{ query, want string }{
		{"symbols=SBER", "Не заполнено поле «Счёт»."},
		{"accountId=B1&symbols=SBER", "Счёт не найден."},
		{"accountId=A1", "Не заполнено поле «Инструменты»."},
		{"accountId=A1&symbols=,,", "Не заполнено поле «Инструменты»."},
		{"accountId=A1&symbols=" + strings.Repeat("SBER,", maxQuoteSymbols+1), "Слишком много инструментов: не больше 200 за запрос."},
	} {
		if got := f.get("/quotes?locale=ru&"+tc.query, "alice").errmsg(t, http.StatusOK); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
		}
	}
}

func TestDepth(t *testing.T) {
	f := newFixture(t)
	f.market.setBook(sberFIGI,
		[]tvbridge.PriceLevel{{Price: 250.1, Quantity: 5}, {Price: 250, Quantity: 9}},
		[]tvbridge.PriceLevel{{Price: 250.2, Quantity: 3}, {Price: 250.3, Quantity: 1}})
	var d depthJSON
	f.get("/depth?locale=en&accountId=A1&symbol=SBER", "alice").ok(t, "DepthResponse", &d)
	// Lots of 10 become units; both sides ascending by price.
	want := depthJSON{Asks: [][2]float64{{250.2, 30}, {250.3, 10}}, Bids: [][2]float64{{250, 90}, {250.1, 50}}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("depth %+v, want %+v", d, want)
	}

	// An empty book is two empty lists.
	f.market.setBook(bondFIGI, nil, nil)
	r := f.get("/depth?accountId=A1&symbol=SU26238RMFS4", "alice")
	r.ok(t, "DepthResponse", nil)
	if !strings.Contains(string(r.body), `{"asks":[],"bids":[]}`) {
		t.Errorf("empty book: %s", r.body)
	}

	for _, tc := range []struct{ query, want string }{
		{"accountId=A1&symbol=AAPL", codeText[tvbridge.ErrNoMarketData].RU},
		{"accountId=A1&symbol=GAZP", `Неизвестный инструмент "GAZP".`},
		{"accountId=A1", "Не заполнено поле «Инструмент»."},
		{"symbol=SBER", "Не заполнено поле «Счёт»."},
		{"accountId=A1&symbol=SBER&symbol=AAPL", "Поле «Инструмент» указано несколько раз."},
	} {
		if got := f.get("/depth?locale=ru&"+tc.query, "alice").errmsg(t, http.StatusOK); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
		}
	}
}

func TestMappingNeedsNoPrincipal(t *testing.T) {
	f := newFixture(t)
	r := f.get("/mapping", "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	openapitest.Check(t, "MappingResponse", r.body)
	want := `{"symbols":[{"f":["AAPL"],"s":"SPB:AAPL"},{"f":["SBER"],"s":"MOEX:SBER"},` +
		`{"f":["SU26238RMFS4"],"s":"MOEX:SU26238RMFS4"},{"f":["USD000UTSTOM"],"s":"MOEX:USD000UTSTOM"}],"fields":["brokerSymbol"]}` + "\n"
	if string(r.body) != want {
		t.Errorf("mapping\n got %s\nwant %s", r.body, want)
	}

	// The standalone handler, with a custom naming that leaves bonds out.
	h := New(Config{Broker: newFakeBroker(), Catalog: fixtureCatalog(t), Market: newFakeMarket(), Logger: discardLogger(),
		MappedName: func(s *api.Symbol) string {
			if s.Type == "bond" {
				return ""
			}
			return "TV:" + s.Name
		}})
	rec := httptest.NewRecorder()
	h.Mapping().ServeHTTP(rec, httptest.NewRequest("GET", "/anything", nil))
	if !strings.Contains(rec.Body.String(), `{"f":["SBER"],"s":"TV:SBER"}`) || strings.Contains(rec.Body.String(), "SU26238") {
		t.Errorf("custom mapping %s", rec.Body)
	}
}

// /mapping answers GET (and HEAD) only, whether it is reached through the
// handler or mounted alone on a bare path as serve mounts it: any other
// method gets 405 with Allow and TradingView's error body, in the locale.
func TestMappingRefusesOtherMethods(t *testing.T) {
	f := newFixture(t)
	alone := httptest.NewServer(f.h.Mapping())
	t.Cleanup(alone.Close)
	for _, base := range []string{f.srv.URL, alone.URL} {
		for _, tc := range []struct{ method, locale, want string }{
			{"POST", "en", `Method "POST" is not allowed here.`},
			{"PUT", "ru", `Метод "PUT" здесь не поддерживается.`},
			{"DELETE", "", `Method "DELETE" is not allowed here.`},
		} {
			req, _ := http.NewRequest(tc.method, base+"/mapping?locale="+tc.locale, strings.NewReader("a=b"))
			r := f.send(req)
			if got := r.errmsg(t, http.StatusMethodNotAllowed); got != tc.want {
				t.Errorf("%s %s: errmsg %q, want %q", base, tc.method, got, tc.want)
			}
			if allow := r.header.Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", base, tc.method, allow)
			}
		}
		req, _ := http.NewRequest("HEAD", base+"/mapping", nil)
		if r := f.send(req); r.status != http.StatusOK {
			t.Errorf("%s HEAD: status %d", base, r.status)
		}
	}
}

func TestDefaultMappedName(t *testing.T) {
	sym := &api.Symbol{Exchange: "SPB", Instrument: tvbridge.Instrument{Ticker: "brk/b"}}
	if got := defaultMappedName(sym); got != "SPB:BRK.B" {
		t.Errorf("got %q", got)
	}
	sym.Instrument.Ticker = "EUR_RUB__TOM"
	if got := defaultMappedName(sym); got != "SPB:EUR_RUB__TOM" {
		t.Errorf("got %q", got)
	}
}

// plainMarket hides live.Market's versions: the handler then keeps nothing.
type plainMarket struct{ tvbridge.LiveMarket }

// /quotes is answered from the last response while the prices of the
// quoted symbols and of the currency pairs stand, with the same bytes as
// without the cache and without asking the broker again; any of those
// prices moving makes it anew, other instruments' do not.
func TestQuotesCache(t *testing.T) {
	lm := live.New()
	book := func(figi string, bid, ask float64) {
		lm.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: fixtureNow}, Book: tvbridge.OrderBook{FIGI: figi,
			Depth: 1, Bids: []tvbridge.PriceLevel{{Price: bid, Quantity: 1}}, Asks: []tvbridge.PriceLevel{{Price: ask, Quantity: 1}}}})
	}
	book(sberFIGI, 250.1, 250.2)
	book(usdFIGI, 90, 90.01)
	book(aaplFIGI, 170, 170.5)
	book(bondFIGI, 99, 99.5)
	f := newFixture(t, func(c *Config) { c.Market = lm })
	plain := newFixture(t, func(c *Config) { c.Market = plainMarket{lm} })
	const path = "/quotes?accountId=A1&symbols=SBER,AAPL,GAZP"
	accounts := func() int { return len(f.broker.Called("Accounts")) }
	same := func(what, user string) []byte {
		t.Helper()
		r := f.get(path, user)
		if want := plain.get(path, user); string(r.body) != string(want.body) {
			t.Fatalf("%s: %s\nwant %s", what, r.body, want.body)
		}
		return r.body
	}
	first := same("first", "alice")
	n := accounts()
	if again := same("again", "alice"); string(again) != string(first) || accounts() != n {
		t.Errorf("unchanged prices: %d more broker calls", accounts()-n)
	}
	book(bondFIGI, 98, 99) // not quoted, not a currency pair
	same("after another instrument moved", "alice")
	if accounts() != n {
		t.Errorf("an unquoted instrument's price made the answer anew")
	}
	book(sberFIGI, 250.2, 250.3)
	if r := same("after SBER moved", "alice"); string(r) == string(first) || accounts() != n+1 {
		t.Errorf("SBER moved: %s (%d broker calls)", r, accounts()-n)
	}
	n = accounts()
	book(usdFIGI, 91, 91.01) // AAPL's pip value in the RUB account
	if r := same("after USD/RUB moved", "alice"); accounts() != n+1 || !strings.Contains(string(r), "0.91") {
		t.Errorf("USD/RUB moved: %s (%d broker calls)", r, accounts()-n)
	}
	// Bob is refused alice's account as before, cached or not.
	for range 2 {
		same("bob", "bob")
	}
}

package tinkoff

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

func TestCatalogueDecodingAndVenues(t *testing.T) {
	f := newFakeService(t)
	// Raw JSON so number notation is exactly as the service wrote it.
	f.raw("GET", "/openapi/market/stocks", 200, "application/json", `{"trackingId":"s","status":"Ok","payload":{"total":4,"instruments":[
		{"figi":"BBG004730N88","ticker":"SBER","isin":"RU0009029540","minPriceIncrement":0.01,"lot":1E+1,"minQuantity":1.0,"currency":"RUB","name":"Сбербанк","type":"Stock"},
		{"figi":"BBG000B9XRY4","ticker":"AAPL","minPriceIncrement":1e-2,"lot":1,"currency":"USD","name":"Apple","type":"Stock","futureField":{"x":1}},
		{"figi":"SIM0000TEST1","ticker":"TEST","lot":1,"currency":"RUB","name":"Sim","type":"Stock","exchange":"sim","timezone":"America/New_York","session":"0930-1600:23456"},
		{"figi":"SIM0000BAD01","ticker":"BAD","lot":1,"currency":"RUB","name":"Bad session","type":"Stock","timezone":"Mars/Olympus","session":"whenever"},
		{"figi":"","ticker":"NOFIGI","lot":1,"currency":"RUB","name":"skipped","type":"Stock"},
		{"figi":"BBG00CHF0001","ticker":"NESN","lot":1,"currency":"CHF","name":"Nestle","type":"Stock"}
	]}}`)
	f.ok("GET", "/openapi/market/bonds", map[string]any{"total": 1, "instruments": []map[string]any{
		{"figi": "BBG00T22WKV5", "ticker": "SU29013RMFS8", "lot": 1, "currency": "RUB", "name": "ОФЗ", "type": "Bond"}}})
	f.ok("GET", "/openapi/market/etfs", map[string]any{"total": 1, "instruments": []map[string]any{
		{"figi": "BBG005HLSZ23", "ticker": "FXUS", "lot": 1, "currency": "USD", "name": "FinEx US", "type": "Etf"}}})
	f.ok("GET", "/openapi/market/currencies", map[string]any{"total": 1, "instruments": []map[string]any{
		{"figi": "BBG0013HGFT4", "ticker": "USD000UTSTOM", "lot": 1000, "currency": "RUB", "name": "Доллар США", "type": "Currency"}}})
	c, tr := f.client(ClientConfig{}, false)

	all, err := c.Instruments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byFIGI := map[string]tvbridge.Instrument{}
	for _, in := range all {
		byFIGI[in.FIGI] = in
	}
	if len(all) != 8 || len(byFIGI) != 8 {
		t.Fatalf("got %d instruments: %+v", len(all), all)
	}
	want := map[string]tvbridge.Instrument{
		"BBG004730N88": {FIGI: "BBG004730N88", Ticker: "SBER", ISIN: "RU0009029540", Name: "Сбербанк", Type: tvbridge.Stock,
			Currency: "RUB", Lot: 10, MinPriceIncrement: 0.01, MinQuantity: 1,
			Exchange: "MOEX", Timezone: "Europe/Moscow", Session: SessionMOEXMain},
		"BBG000B9XRY4": {FIGI: "BBG000B9XRY4", Ticker: "AAPL", Name: "Apple", Type: tvbridge.Stock, Currency: "USD", Lot: 1,
			MinPriceIncrement: 0.01, Exchange: "SPB", Timezone: "Etc/UTC", Session: SessionSPB},
		// Extension fields win over the rules; the exchange is upper-cased.
		"SIM0000TEST1": {FIGI: "SIM0000TEST1", Ticker: "TEST", Name: "Sim", Type: tvbridge.Stock, Currency: "RUB", Lot: 1,
			Exchange: "SIM", Timezone: "America/New_York", Session: "0930-1600:23456"},
		// An extension session that does not parse falls back to the rule's.
		"SIM0000BAD01": {FIGI: "SIM0000BAD01", Ticker: "BAD", Name: "Bad session", Type: tvbridge.Stock, Currency: "RUB", Lot: 1,
			Exchange: "MOEX", Timezone: "Europe/Moscow", Session: SessionMOEXMain},
		"BBG00CHF0001": {FIGI: "BBG00CHF0001", Ticker: "NESN", Name: "Nestle", Type: tvbridge.Stock, Currency: "CHF", Lot: 1,
			Exchange: "TINKOFF", Timezone: "Europe/Moscow", Session: "24x7"},
		"BBG00T22WKV5": {FIGI: "BBG00T22WKV5", Ticker: "SU29013RMFS8", Name: "ОФЗ", Type: tvbridge.Bond, Currency: "RUB", Lot: 1,
			Exchange: "MOEX", Timezone: "Europe/Moscow", Session: SessionMOEXMain},
		"BBG005HLSZ23": {FIGI: "BBG005HLSZ23", Ticker: "FXUS", Name: "FinEx US", Type: tvbridge.ETF, Currency: "USD", Lot: 1,
			Exchange: "MOEX", Timezone: "Europe/Moscow", Session: SessionMOEXMain},
		"BBG0013HGFT4": {FIGI: "BBG0013HGFT4", Ticker: "USD000UTSTOM", Name: "Доллар США", Type: tvbridge.Currency, Currency: "RUB", Lot: 1000,
			Exchange: "MOEX", Timezone: "Europe/Moscow", Session: SessionMOEXFX},
	}
	for figi, w := range want {
		if got := byFIGI[figi]; got != w {
			t.Errorf("%s:\n got  %+v\n want %+v", figi, got, w)
		}
	}
	tr.check(t)
}

func TestCustomVenueRules(t *testing.T) {
	f := newFakeService(t)
	f.ok("GET", "/openapi/market/search/by-ticker", map[string]any{"total": 2, "instruments": []map[string]any{
		{"figi": "A", "ticker": "X", "lot": 1, "currency": "USD", "name": "x", "type": "Stock"},
		{"figi": "B", "ticker": "X", "lot": 1, "currency": "RUB", "name": "x", "type": "Stock"}}})
	rules := VenueRules{
		Rules:    []VenueRule{{Currency: "usd", Venue: Venue{Exchange: "NYSE", Timezone: "America/New_York", Session: "0930-1600:23456"}}},
		Fallback: Venue{Exchange: "ANY", Timezone: "UTC", Session: "24x7"},
	}
	if err := rules.Validate(); err != nil {
		t.Fatal(err)
	}
	c, _ := f.client(ClientConfig{Venues: rules}, false)
	got, err := c.InstrumentsByTicker(context.Background(), "X")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Exchange != "NYSE" || got[1].Exchange != "ANY" || got[1].Session != "24x7" {
		t.Fatalf("got %+v", got)
	}
}

func TestInvalidVenueRuleIsAnError(t *testing.T) {
	bad := VenueRules{Fallback: Venue{Exchange: "X", Timezone: "Europe/Moscow", Session: "25:00"}}
	if err := bad.Validate(); err == nil {
		t.Fatal("Validate accepted a bad session")
	}
	if err := (VenueRules{Fallback: Venue{Timezone: "UTC", Session: "24x7"}}).Validate(); err == nil {
		t.Fatal("Validate accepted an empty exchange")
	}
	if err := DefaultVenueRules().Validate(); err != nil {
		t.Fatalf("default rules: %v", err)
	}
	f := newFakeService(t)
	f.ok("GET", "/openapi/market/stocks", map[string]any{"instruments": []map[string]any{
		{"figi": "A", "ticker": "X", "lot": 1, "currency": "RUB", "name": "x", "type": "Stock"}}})
	c, _ := f.client(ClientConfig{Venues: bad}, false)
	if _, err := c.Stocks(context.Background()); err == nil || !strings.Contains(err.Error(), "venue rule") {
		t.Fatalf("err = %v, want a venue rule error", err)
	}
}

func TestSPBSessionIsOneTradingDay(t *testing.T) {
	// 07:00 Moscow Monday to 01:45 Moscow Tuesday is one trading day: Monday.
	s := tvbridge.MustSchedule(SessionSPB, "Etc/UTC")
	mon0700 := time.Date(2021, 6, 7, 7, 0, 0, 0, msk)
	tue0140 := time.Date(2021, 6, 8, 1, 40, 0, 0, msk)
	for _, ts := range []time.Time{mon0700, tue0140} {
		d, ok := s.TradingDay(ts)
		if !ok || !d.Equal(time.Date(2021, 6, 7, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: trading day %s, %v", ts, d, ok)
		}
	}
	if s.InSession(time.Date(2021, 6, 8, 1, 50, 0, 0, msk)) {
		t.Error("01:50 Moscow is in session")
	}
}

func TestInstrumentByFIGIAndQueryEscaping(t *testing.T) {
	const figi = "BBG&x+y z=1/%;#?"
	f := newFakeService(t)
	f.handle("GET", "/openapi/market/search/by-figi", func(w http.ResponseWriter, r *http.Request) {
		got := r.URL.Query().Get("figi")
		if got != figi {
			writeEnvelope(w, 500, "t", "Error", map[string]string{"code": "NOT_FOUND", "message": "no " + got})
			return
		}
		writeEnvelope(w, 200, "t", "Ok", map[string]any{"figi": got, "ticker": "T", "lot": 1, "currency": "RUB", "name": "n", "type": "Stock"})
	})
	f.handle("GET", "/openapi/market/search/by-ticker", func(w http.ResponseWriter, r *http.Request) {
		writeEnvelope(w, 200, "t", "Ok", map[string]any{"instruments": []map[string]any{
			{"figi": "F", "ticker": r.URL.Query().Get("ticker"), "lot": 1, "currency": "RUB", "name": "n", "type": "Stock"}}})
	})
	c, _ := f.client(ClientConfig{}, false)
	inst, err := c.InstrumentByFIGI(context.Background(), figi)
	if err != nil || inst.FIGI != figi {
		t.Fatalf("InstrumentByFIGI: %+v, %v", inst, err)
	}
	if _, err := c.InstrumentByFIGI(context.Background(), "other"); !IsNotFound(err) {
		t.Fatalf("unknown FIGI: err = %v, want IsNotFound", err)
	}
	list, err := c.InstrumentsByTicker(context.Background(), figi)
	if err != nil || len(list) != 1 || list[0].Ticker != figi {
		t.Fatalf("InstrumentsByTicker: %+v, %v", list, err)
	}
	// Every query is one parameter, fully percent-encoded.
	for _, r := range f.recorded() {
		if len(r.Query) != 1 || strings.ContainsAny(r.RawQuery, " &+#;/?") {
			t.Errorf("raw query %q is not escaped", r.RawQuery)
		}
	}
}

func TestOrderBook(t *testing.T) {
	cases := []struct {
		status string
		want   tvbridge.TradeStatus
	}{
		{"NormalTrading", tvbridge.StatusNormalTrading},
		{"NotAvailableForTrading", tvbridge.StatusNotAvailableForTrading},
		{"BreakInTrading", tvbridge.StatusBreakInTrading},
		{"normal_trading", tvbridge.StatusNormalTrading},
		{"DarkPoolAuction", tvbridge.StatusUnknown},
		{"", tvbridge.StatusUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.status, func(t *testing.T) {
			f := newFakeService(t)
			f.handle("GET", "/openapi/market/orderbook", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("depth") != "3" || r.URL.Query().Get("figi") != "F+1" {
					w.WriteHeader(400)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"trackingId":"ob","status":"Ok","payload":{"figi":"F+1","depth":3,
					"bids":[{"price":1.2E+2,"quantity":12.0},{"price":119.99,"quantity":3}],
					"asks":[{"price":120.01,"quantity":1}],
					"tradeStatus":"` + tc.status + `","minPriceIncrement":0.01,"lastPrice":120,"closePrice":118.5,"faceValue":1000}}`))
			})
			c, tr := f.client(ClientConfig{}, false)
			book, err := c.OrderBook(context.Background(), "F+1", 3)
			if err != nil {
				t.Fatal(err)
			}
			if book.TradeStatus != tc.want || book.FIGI != "F+1" || book.Depth != 3 || len(book.Bids) != 2 || len(book.Asks) != 1 ||
				book.Bids[0] != (tvbridge.PriceLevel{Price: 120, Quantity: 12}) || book.LastPrice != 120 || book.ClosePrice != 118.5 ||
				book.MinPriceIncrement != 0.01 {
				t.Fatalf("got %+v", book)
			}
			tr.check(t)
		})
	}
}

func TestOrderBookValidatesDepth(t *testing.T) {
	f := newFakeService(t)
	c, _ := f.client(ClientConfig{}, false)
	for _, d := range []int{0, -1, 21} {
		if _, err := c.OrderBook(context.Background(), "F", d); err == nil {
			t.Errorf("depth %d accepted", d)
		}
	}
	if len(f.recorded()) != 0 {
		t.Fatal("invalid depth reached the server")
	}
}

func TestParseTradeStatus(t *testing.T) {
	for st := range knownStatuses {
		if got := ParseTradeStatus(string(st)); got != st {
			t.Errorf("ParseTradeStatus(%q) = %q", st, got)
		}
	}
	cases := map[string]tvbridge.TradeStatus{
		"NormalTrading":                tvbridge.StatusNormalTrading,
		" NotAvailableForTrading ":     tvbridge.StatusNotAvailableForTrading,
		"DealerNormalTrading":          tvbridge.StatusDealerNormalTrading,
		"TradingAtClosingAuctionPrice": tvbridge.StatusTradingAtClosingAuction,
		"SessionOpen":                  tvbridge.StatusSessionOpen,
		"Normal_Trading":               tvbridge.StatusNormalTrading,
		"NORMALTRADING":                tvbridge.StatusUnknown,
		"trading":                      tvbridge.StatusUnknown,
	}
	for in, want := range cases {
		if got := ParseTradeStatus(in); got != want {
			t.Errorf("ParseTradeStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

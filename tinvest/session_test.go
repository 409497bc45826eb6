package tinvest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

func ts(s string) wire.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return wire.At(t)
}

// moexDay is a MOEX equities day in UTC: opening auction 06:50, main
// session to 15:39:59, closing auction to 15:50, evening 16:05-20:50.
func moexDay(date string) wire.TradingDay {
	return wire.TradingDay{
		Date: ts(date + "T00:00:00Z"), IsTradingDay: true,
		OpeningAuctionStartTime: ts(date + "T06:50:00Z"), StartTime: ts(date + "T07:00:00Z"),
		EndTime: ts(date + "T15:39:59Z"), ClosingAuctionEndTime: ts(date + "T15:50:00Z"),
		EveningStartTime: ts(date + "T16:05:00Z"), EveningEndTime: ts(date + "T20:50:00Z"),
	}
}

func TestSessionFromSchedule(t *testing.T) {
	msk, _ := time.LoadLocation("Europe/Moscow")
	var days []wire.TradingDay
	// Two weeks from Monday 2026-03-02; Sunday and Saturday closed; one
	// shortened Friday (a pre-holiday day) does not define Fridays.
	for d := range 14 {
		date := time.Date(2026, 3, 2+d, 0, 0, 0, 0, time.UTC)
		day := moexDay(date.Format("2006-01-02"))
		switch date.Weekday() {
		case time.Saturday, time.Sunday:
			day = wire.TradingDay{Date: wire.At(date)}
		}
		if d == 4 {
			day.EveningStartTime, day.EveningEndTime = wire.Timestamp{}, wire.Timestamp{}
		}
		days = append(days, day)
	}
	got, ok := SessionFromSchedule(days, msk)
	if want := "0950-1850,1905-2350:23456"; !ok || got != want {
		t.Fatalf("session %q, want %q", got, want)
	}
	if _, err := tvbridge.ParseSchedule(got, "Europe/Moscow"); err != nil {
		t.Fatal(err)
	}

	// Around the clock: 24x7.
	var all []wire.TradingDay
	for d := range 7 {
		date := time.Date(2026, 3, 2+d, 0, 0, 0, 0, time.UTC)
		all = append(all, wire.TradingDay{Date: wire.At(date), IsTradingDay: true, StartTime: wire.At(date.Add(-3 * time.Hour)),
			EndTime: wire.At(date.Add(21 * time.Hour))})
	}
	if got, _ := SessionFromSchedule(all, msk); got != "24x7" {
		t.Fatalf("24x7: %q", got)
	}

	// An overnight session (opens the evening before, in this zone).
	ny, _ := time.LoadLocation("America/New_York")
	var night []wire.TradingDay
	for d := range 5 {
		date := time.Date(2026, 3, 2+d, 0, 0, 0, 0, time.UTC)
		night = append(night, wire.TradingDay{Date: wire.At(date), IsTradingDay: true,
			StartTime: wire.At(date.Add(-2 * time.Hour)), EndTime: wire.At(date.Add(20 * time.Hour))})
	}
	got, _ = SessionFromSchedule(night, ny)
	if _, err := tvbridge.ParseSchedule(got, "America/New_York"); err != nil || got != "1700-1500:23456" {
		t.Fatalf("overnight %q, %v", got, err)
	}
	if _, ok := SessionFromSchedule([]wire.TradingDay{{Date: ts("2026-03-07T00:00:00Z")}}, msk); ok {
		t.Fatal("a sample without trading days gave a session")
	}
}

// Upstream.Instruments: every configured kind, sessions from the
// schedules, the uid used to subscribe and to fetch candles and books.
func TestUpstreamInstruments(t *testing.T) {
	f := newFakeREST(t)
	share := map[string]any{"figi": "BBG004730N88", "ticker": "SBER", "classCode": "TQBR", "lot": 10, "currency": "rub",
		"exchange": "MOEX_EVENING_WEEKEND", "uid": "u-sber", "realExchange": "REAL_EXCHANGE_MOEX",
		"minPriceIncrement": map[string]any{"nano": 10000000}}
	fut := map[string]any{"figi": "FUTSI0326000", "ticker": "SiH6", "classCode": "SPBFUT", "lot": 1, "currency": "rub",
		"exchange": "FORTS_EVENING", "uid": "u-si", "minPriceIncrement": map[string]any{"units": "1"}}
	dup := map[string]any{"figi": "BBG004730N88", "ticker": "SBER", "classCode": "SMAL", "uid": "u-dup", "exchange": "MOEX"}
	f.ok(wire.MethodShares, map[string]any{"instruments": []any{share, dup}})
	f.ok(wire.MethodFutures, map[string]any{"instruments": []any{fut}})
	var days []wire.TradingDay
	for d := range 14 {
		date := time.Date(2026, 3, 2+d, 0, 0, 0, 0, time.UTC)
		if wd := date.Weekday(); wd != time.Saturday && wd != time.Sunday {
			days = append(days, moexDay(date.Format("2006-01-02")))
		}
	}
	f.ok(wire.MethodTradingSchedules, wire.TradingSchedulesResponse{Exchanges: []wire.TradingSchedule{{Exchange: "MOEX_EVENING_WEEKEND", Days: days}}})
	f.ok(wire.MethodGetOrderBook, wire.GetOrderBookResponse{FIGI: "BBG004730N88", Depth: 10,
		Bids: []wire.Order{{Price: wire.Quotation{Units: 300, Nano: 10000000}, Quantity: 5}, {Price: wire.Quotation{Units: 300}, Quantity: 1}}})
	c, _ := f.client(t, Config{})
	u := NewUpstream(UpstreamConfig{REST: c.cfg, Kinds: []Kind{KindShares, KindFutures}})
	u.client = c
	got, err := u.Instruments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Session != "0950-1850,1905-2350:23456" || got[0].Timezone != "Europe/Moscow" ||
		got[1].Type != Futures || got[1].Session != "24x7" || got[1].MinPriceIncrement != 1 || got[1].Exchange != "FORTS" {
		t.Fatalf("%+v", got)
	}
	if u.instrumentID("BBG004730N88") != "u-sber" {
		t.Fatal("uid not kept for subscriptions")
	}
	book, err := u.OrderBook(context.Background(), "BBG004730N88", 1)
	if err != nil || len(book.Bids) != 1 || book.Bids[0].Price != 300.01 || book.Depth != 1 {
		t.Fatalf("book %+v %v", book, err)
	}
	for _, r := range f.recorded() {
		if r.Path == wire.MethodGetOrderBook && r.Body != `{"instrumentId":"u-sber","depth":1}` {
			t.Fatalf("book request %s", r.Body)
		}
	}
	var _ = http.MethodPost
}

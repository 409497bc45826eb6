package market

import (
	"regexp"
	"testing"

	"tvbridge"
)

var figiPattern = regexp.MustCompile(`^BBG[0-9A-Z]{9}$`)

// checkUniverse asserts what every catalogue must satisfy.
func checkUniverse(t *testing.T, insts []*Instrument) {
	t.Helper()
	figis := make(map[string]bool)
	tickers := make(map[string]bool) // exchange + ticker
	for _, in := range insts {
		if !figiPattern.MatchString(in.FIGI) || figis[in.FIGI] {
			t.Fatalf("%s: FIGI %q malformed or duplicated", in.Ticker, in.FIGI)
		}
		figis[in.FIGI] = true
		if key := in.Exchange + ":" + in.Ticker; tickers[key] || in.Ticker == "" {
			t.Fatalf("ticker %q empty or duplicated on its exchange", key)
		} else {
			tickers[key] = true
		}
		if in.Lot <= 0 || !(in.MinPriceIncrement > 0) || !(in.BasePrice > 0) || in.Name == "" {
			t.Fatalf("%s: bad lot %d, increment %v, base %v or name %q", in.Ticker, in.Lot, in.MinPriceIncrement, in.BasePrice, in.Name)
		}
		if _, err := newPriceStep(in.MinPriceIncrement); err != nil {
			t.Fatalf("%s: %v", in.Ticker, err)
		}
		if ticks := in.BasePrice / in.MinPriceIncrement; ticks < 500 {
			t.Fatalf("%s: price %v is only %.0f increments of %v", in.Ticker, in.BasePrice, ticks, in.MinPriceIncrement)
		}
		if s, err := tvbridge.ParseSchedule(in.Session, in.Timezone); err != nil || in.Schedule == nil || in.Schedule.String() != s.String() {
			t.Fatalf("%s: session %q in %q: %v", in.Ticker, in.Session, in.Timezone, err)
		}
		if in.Schedule.Location().String() != in.Timezone {
			t.Fatalf("%s: schedule in %s, instrument in %s", in.Ticker, in.Schedule.Location(), in.Timezone)
		}
		if (in.Type == tvbridge.Bond) != (in.FaceValue > 0) {
			t.Fatalf("%s: type %s with face value %v", in.Ticker, in.Type, in.FaceValue)
		}
		if in.ISIN != "" && (len(in.ISIN) != 12 || in.ISIN[11] != isinCheckDigit(in.ISIN[:11]) && in.ISIN != in.Ticker) {
			t.Fatalf("%s: bad ISIN %q", in.Ticker, in.ISIN)
		}
		switch in.Currency {
		case "RUB", "USD", "EUR":
		default:
			t.Fatalf("%s: currency %q", in.Ticker, in.Currency)
		}
		if in.Listed.IsZero() || in.Listed.Location().String() != "UTC" {
			t.Fatalf("%s: listed %v", in.Ticker, in.Listed)
		}
	}
}

func TestDefaultUniverse(t *testing.T) {
	insts := testMarket.Instruments()
	if len(insts) < 90 || len(insts) > 120 {
		t.Fatalf("default universe has %d instruments, want about 100", len(insts))
	}
	checkUniverse(t, insts)

	types := make(map[tvbridge.InstrumentType]int)
	roundTheClock, withBreak, oddIncrements := 0, 0, 0
	for _, in := range insts {
		types[in.Type]++
		if in.Session == "24x7" {
			roundTheClock++
		}
		if len(in.Schedule.Periods(mustDate("2026-03-10"))) > 1 {
			withBreak++
		}
		switch d := mustPriceStep(in.MinPriceIncrement).units % 10; d {
		case 2, 5:
			oddIncrements++
		}
	}
	for _, typ := range []tvbridge.InstrumentType{tvbridge.Stock, tvbridge.Bond, tvbridge.ETF, tvbridge.Currency} {
		if types[typ] < 5 {
			t.Errorf("%d instruments of type %s, want several", types[typ], typ)
		}
	}
	if roundTheClock < 5 {
		t.Errorf("%d round-the-clock instruments, want at least 5", roundTheClock)
	}
	if withBreak == 0 {
		t.Error("no instrument has a break in its session")
	}
	if oddIncrements < 5 {
		t.Errorf("%d increments like 0.0025, 0.05 or 0.5, want several", oddIncrements)
	}
}

func TestKnownInstruments(t *testing.T) {
	for ticker, want := range map[string]string{"SBER": "BBG004730N88", "USD000UTSTOM": "BBG0013HGFT4"} {
		if got := figi(t, testMarket, ticker); got != want {
			t.Errorf("%s FIGI = %s, want %s", ticker, got, want)
		}
	}
	in, ok := testMarket.Instrument("BBG004730N88")
	if !ok || in.Ticker != "SBER" || in.Exchange != "MOEX" || in.Timezone != "Europe/Moscow" || in.Lot != 10 {
		t.Errorf("SBER = %+v", in)
	}
	usd, _ := testMarket.Instrument("BBG0013HGFT4")
	if usd.Lot != 1000 || usd.MinPriceIncrement != 0.0025 || usd.Type != tvbridge.Currency {
		t.Errorf("USD000UTSTOM = %+v", usd)
	}
	if _, ok := testMarket.Instrument("BBG000000000"); ok {
		t.Error("an unknown FIGI was found")
	}
	// One ticker on two venues.
	yndx := testMarket.ByTicker("YNDX")
	if len(yndx) != 2 || yndx[0].Exchange == yndx[1].Exchange {
		t.Errorf("ByTicker(YNDX) = %d instruments, want one on MOEX and one on SPB", len(yndx))
	}
	if got := testMarket.ByTicker("NOPE"); len(got) != 0 {
		t.Errorf("ByTicker(NOPE) = %v", got)
	}
}

func TestUniverseSizes(t *testing.T) {
	def := testMarket.Instruments()
	small := New(Config{Seed: 42, Instruments: 7}).Instruments()
	if len(small) != 7 {
		t.Fatalf("Instruments: 7 gave %d", len(small))
	}
	kinds := make(map[string]bool)
	for i, in := range small {
		if in.FIGI != def[i].FIGI {
			t.Errorf("small universe instrument %d is %s, want %s", i, in.FIGI, def[i].FIGI)
		}
		kinds[string(in.Type)+in.Session] = true
	}
	if len(kinds) < 6 {
		t.Errorf("the first 7 instruments cover %d behaviours, want a varied set", len(kinds))
	}
	if n := len(New(Config{Instruments: -3}).Instruments()); n != len(def) {
		t.Errorf("a negative size gave %d instruments, want the default %d", n, len(def))
	}
}

func TestTenThousandInstruments(t *testing.T) {
	big := New(Config{Seed: 7, Instruments: 10_000}).Instruments()
	if len(big) != 10_000 {
		t.Fatalf("got %d instruments", len(big))
	}
	checkUniverse(t, big)
	def := testMarket.Instruments()
	for i, in := range def {
		if big[i].FIGI != in.FIGI {
			t.Fatalf("instrument %d: %s in the big universe, %s in the default", i, big[i].FIGI, in.FIGI)
		}
	}
	again := New(Config{Seed: 7, Instruments: 10_000}).Instruments()
	for i := range big {
		a, b := *big[i], *again[i]
		if a.Schedule.String() != b.Schedule.String() {
			t.Fatalf("instrument %d: schedules differ", i)
		}
		a.Schedule, b.Schedule = nil, nil
		if a != b {
			t.Fatalf("instrument %d differs between two builds: %+v vs %+v", i, big[i], again[i])
		}
	}
	// Generated instruments trade too.
	m := New(Config{Seed: 7, Instruments: 10_000})
	traded := 0
	at := mustDate("2026-03-10").Add(13 * 3600e9) // 13:00 UTC on a Tuesday
	for _, in := range big[len(def):][:200] {
		if _, ok := m.LastTrade(in.FIGI, at); ok {
			traded++
		}
	}
	if traded < 150 {
		t.Errorf("only %d of 200 generated instruments have traded by a weekday afternoon", traded)
	}
}

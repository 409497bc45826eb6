package api

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"tvbridge"
)

func TestPriceScale(t *testing.T) {
	cases := []struct {
		inc         float64
		scale, move int
		exact       bool
	}{
		{0.01, 100, 1, true},
		{0.0025, 10000, 25, true},
		{0.5, 10, 5, true},
		{1, 1, 1, true},
		{5, 1, 5, true},
		{0.05, 100, 5, true},
		{0.005, 1000, 5, true},
		{12.5, 10, 125, true},
		{1e-8, 100000000, 1, true},
		{0.1 + 0.2, 10, 3, true}, // 0.30000000000000004, rounded to 12 decimals
		{0, DefaultPriceScale, DefaultMinMovement, false},
		{-0.01, DefaultPriceScale, DefaultMinMovement, false},
		{1e-13, DefaultPriceScale, DefaultMinMovement, false},
	}
	for _, c := range cases {
		scale, move, exact := PriceScale(c.inc)
		if scale != c.scale || move != c.move || exact != c.exact {
			t.Errorf("PriceScale(%v) = %d/%d %v, want %d/%d %v", c.inc, scale, move, exact, c.scale, c.move, c.exact)
		}
	}
}

// FuzzPriceScale checks that an exact result reproduces the increment:
// minmovement/pricescale written as a decimal parses back to inc.
func FuzzPriceScale(f *testing.F) {
	for _, v := range []float64{0.01, 0.0025, 0.5, 1, 5, 0.05, 123.456, 1e-7, 0.3, 0} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, inc float64) {
		scale, move, exact := PriceScale(inc)
		if scale <= 0 || move <= 0 || !isPowerOfTen(scale) {
			t.Fatalf("PriceScale(%v) = %d/%d", inc, scale, move)
		}
		if !exact {
			return
		}
		decimals := len(strconv.Itoa(scale)) - 1
		s := strconv.Itoa(move)
		for len(s) <= decimals {
			s = "0" + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
		back, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		// Exact when the shortest decimal form fits in maxPriceDecimals,
		// otherwise rounded to that many decimals.
		_, frac, _ := strings.Cut(strconv.FormatFloat(inc, 'f', -1, 64), ".")
		if len(frac) <= maxPriceDecimals && back != inc || math.Abs(back-inc) > 1e-12*max(1, inc) {
			t.Fatalf("PriceScale(%v) = %d/%d, which is %v", inc, move, scale, back)
		}
	})
}

func isPowerOfTen(n int) bool {
	for n > 1 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

func TestMergeSession(t *testing.T) {
	cases := map[string]string{
		"0930-1400,1415-1600":                  "0930-1600",
		"1000-1400,1415-1840:23456":            "1000-1840:23456",
		"0930-1400:23456|1415-1600:23456":      "0930-1600:23456",
		"0900-1700:23456|1000-1400:17":         "0900-1700:23456|1000-1400:17",
		"24x7":                                 "24x7",
		"0000-0000":                            "24x7",
		"0000-0000:23456":                      "0000-0000:23456",
		"1700-0900:23456":                      "1700-0900:23456",
		"1900-2359,0000-0500:23456":            "0000-2359:23456",
		"1900-0000,0000-0500:3456|1900-0000:2": "0000-0000:3456|1900-0000:2",
		"1000-1840:2|1000-1840:3":              "1000-1840:23",
	}
	for in, want := range cases {
		got, err := MergeSession(in)
		if err != nil || got != want {
			t.Errorf("MergeSession(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "1000", "1000-2500", "1000-1100:8", "1000-1100:", "1700-0900,1000-1800"} {
		if got, err := MergeSession(bad); err == nil {
			t.Errorf("MergeSession(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzMergeSession feeds upstream session strings: a merged session must
// parse, and merging it again must change nothing.
func FuzzMergeSession(f *testing.F) {
	for _, s := range []string{"0930-1400,1415-1600", "1000-1840:23456", "24x7", "1700-0900:23456",
		"0900-1700:23456|1000-1400:17", "0000-0000", "1900-0000,0000-0500:3456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		merged, err := MergeSession(s)
		if err != nil {
			return
		}
		if _, err := tvbridge.ParseSchedule(merged, "Europe/Moscow"); err != nil {
			t.Fatalf("MergeSession(%q) = %q, which does not parse: %v", s, merged, err)
		}
		again, err := MergeSession(merged)
		if err != nil || again != merged {
			t.Fatalf("MergeSession(%q) = %q, merged again %q, %v", s, merged, again, err)
		}
	})
}

func TestTradingViewZone(t *testing.T) {
	cases := map[string]string{
		"Europe/Moscow":    "Europe/Moscow",
		"UTC":              "Etc/UTC",
		"Etc/GMT":          "Etc/UTC",
		"Europe/Minsk":     "Europe/Moscow", // +3 all year, like Moscow since 2014
		"US/Eastern":       "America/New_York",
		"Asia/Calcutta":    "Asia/Kolkata",
		"America/Montreal": "America/New_York", // same offsets; the first match wins
	}
	for in, want := range cases {
		if got, err := tradingViewZone(in); err != nil || got != want {
			t.Errorf("tradingViewZone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Mars/Olympus", "Asia/Kabul"} {
		if got, err := tradingViewZone(bad); err == nil {
			t.Errorf("tradingViewZone(%q) = %q, want an error", bad, got)
		}
	}
}

func TestCatalogNamesAndTickers(t *testing.T) {
	cat := fixtureCatalog(t)
	want := map[string]struct{ ticker, group, typ string }{
		"SBER":         {"SBER", "tvbridge_stocks", "stock"},
		"EUR_RUB__TOM": {"EUR_RUB__TOM", "tvbridge_currencies", "forex"},
		"SU26238RMFS4": {"SU26238RMFS4", "tvbridge_bonds", "bond"},
		"FXUS":         {"FXUS", "tvbridge_etfs", "stock"},
		"BRK_B":        {"brk/b", "tvbridge_stocks", "stock"},
	}
	if len(cat.Symbols()) != len(want) {
		t.Fatalf("%d symbols, want %d", len(cat.Symbols()), len(want))
	}
	for name, w := range want {
		s, ok := cat.Lookup(name)
		if !ok || s.Name != name || s.Ticker != w.ticker || s.Group != w.group || s.Type != w.typ {
			t.Errorf("symbol %s = %+v, want %+v", name, s, w)
			continue
		}
		if byTicker, _ := cat.Lookup(w.ticker); byTicker != s {
			t.Errorf("lookup by ticker %q did not find %s", w.ticker, name)
		}
		if byFIGI, _ := cat.ByFIGI(s.Instrument.FIGI); byFIGI != s {
			t.Errorf("lookup by FIGI %q did not find %s", s.Instrument.FIGI, name)
		}
	}
	if eur, _ := cat.Lookup("EUR_RUB__TOM"); eur.BaseCurrency != "EUR" {
		t.Errorf("EUR_RUB__TOM base currency %q, want EUR", eur.BaseCurrency)
	}
}

func TestCatalogCollisionsAreStable(t *testing.T) {
	insts := []tvbridge.Instrument{
		{FIGI: "F1", Ticker: "AAPL", Type: tvbridge.Stock, Exchange: "SPB", Timezone: "America/New_York", Session: "0930-1600:23456"},
		{FIGI: "F2", Ticker: "AAPL", Type: tvbridge.Stock, Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "1000-1840:23456"},
		{FIGI: "F3", Ticker: "T.A", Type: tvbridge.Stock, Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "1000-1840:23456"},
		{FIGI: "F4", Ticker: "t-a", Type: tvbridge.Stock, Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "1000-1840:23456"},
		{FIGI: "F7", Ticker: "t_a", Type: tvbridge.Stock, Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "1000-1840:23456"},
		{FIGI: "F8", Ticker: "T_a", Type: tvbridge.Stock, Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "1000-1840:23456"},
		{FIGI: "F5", Ticker: "X", Type: "Futures", Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "1000-1840"},
		{FIGI: "F6", Ticker: "BAD", Type: tvbridge.Stock, Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "25:00"},
	}
	want := map[string]string{"F1": "SPB_AAPL", "F2": "MOEX_AAPL", "F3": "T.A", "F4": "MOEX_T_A_F4", "F7": "MOEX_T_A_F7", "F8": "MOEX_T_A_F8"}
	rng := rand.New(rand.NewPCG(1, 2))
	var first []byte
	for round := range 5 {
		rng.Shuffle(len(insts), func(i, j int) { insts[i], insts[j] = insts[j], insts[i] })
		cat, err := BuildCatalog(insts, CatalogOptions{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range cat.Symbols() {
			if want[s.Instrument.FIGI] != s.Name {
				t.Errorf("%s named %q, want %q", s.Instrument.FIGI, s.Name, want[s.Instrument.FIGI])
			}
		}
		if len(cat.Skipped()) != 2 {
			t.Errorf("skipped %+v, want F5 and F6", cat.Skipped())
		}
		if round == 0 {
			first = cat.allInfo
		} else if string(first) != string(cat.allInfo) {
			t.Fatal("/symbol_info differs with the instruments' order")
		}
	}
	if _, err := BuildCatalog(append(insts, insts[0]), CatalogOptions{Logger: discardLogger()}); err == nil {
		t.Error("duplicate FIGI accepted")
	}
	if _, err := BuildCatalog(insts, CatalogOptions{GroupPrefix: "Bad-", Logger: discardLogger()}); err == nil {
		t.Error("invalid group prefix accepted")
	}
}

func TestSymbolInfo(t *testing.T) {
	env := newTestEnv(t, nil)
	code, body := env.get(t, "/symbol_info")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	checkSchema(t, "SymbolInfoResponse", body)
	var si map[string][]any
	var full map[string]any
	if err := json.Unmarshal(body, &full); err != nil {
		t.Fatal(err)
	}
	delete(full, "s")
	raw, _ := json.Marshal(full)
	if err := json.Unmarshal(raw, &si); err != nil {
		t.Fatalf("every column should be an array: %v", err)
	}
	n := len(si["symbol"])
	nameRE := regexp.MustCompile(`^[A-Z0-9._]+$`)
	for col, vals := range si {
		if len(vals) != n {
			t.Errorf("column %s has %d entries, want %d", col, len(vals), n)
		}
	}
	for i := range n {
		name := si["symbol"][i].(string)
		if !nameRE.MatchString(name) {
			t.Errorf("symbol %q breaks [A-Z0-9._]", name)
		}
		if ex := si["exchange-listed"][i].(string); ex != strings.ToUpper(ex) {
			t.Errorf("exchange %q not uppercase", ex)
		}
		if strings.Contains(si["ticker"][i].(string), ",") {
			t.Errorf("ticker %q has a comma", si["ticker"][i])
		}
		if ps := si["pricescale"][i].(float64); !isPowerOfTen(int(ps)) {
			t.Errorf("pricescale %v not a power of ten", ps)
		}
	}
	row := func(name string) map[string]any {
		for i := range n {
			if si["symbol"][i] == name {
				r := map[string]any{}
				for col, vals := range si {
					r[col] = vals[i]
				}
				return r
			}
		}
		t.Fatalf("no row %s", name)
		return nil
	}
	sber := row("SBER")
	if sber["session-regular"] != "1000-1840:23456" || sber["pricescale"] != 100.0 || sber["minmovement"] != 1.0 ||
		sber["exchange-listed"] != "MOEX" || sber["isin"] != "RU0009029540" || sber["base-currency"] != nil {
		t.Errorf("SBER row %v", sber)
	}
	eur := row("EUR_RUB__TOM")
	if eur["type"] != "forex" || eur["base-currency"] != "EUR" || eur["currency"] != "RUB" ||
		eur["pricescale"] != 10000.0 || eur["minmovement"] != 25.0 {
		t.Errorf("EUR_RUB__TOM row %v", eur)
	}
	if brk := row("BRK_B"); brk["ticker"] != "brk/b" || brk["timezone"] != "America/New_York" {
		t.Errorf("BRK_B row %v", brk)
	}
}

func TestGroups(t *testing.T) {
	env := newTestEnv(t, nil)
	_, body := env.get(t, "/groups")
	checkSchema(t, "GroupListResponse", body)
	var gl groupList
	if err := json.Unmarshal(body, &gl); err != nil {
		t.Fatal(err)
	}
	idRE := regexp.MustCompile(`^tvbridge_[a-z_]+$`)
	seen := map[string]bool{}
	total := 0
	for _, g := range gl.D.Groups {
		if !idRE.MatchString(g.ID) {
			t.Errorf("group id %q", g.ID)
		}
		_, gbody := env.get(t, "/symbol_info?group="+g.ID)
		checkSchema(t, "SymbolInfoResponse", gbody)
		var si struct{ Symbol []string }
		if err := json.Unmarshal(gbody, &si); err != nil {
			t.Fatal(err)
		}
		for _, s := range si.Symbol {
			if seen[s] {
				t.Errorf("symbol %s in two groups", s)
			}
			seen[s] = true
			if sym, _ := env.cat.Lookup(s); sym.Group != g.ID {
				t.Errorf("symbol %s listed in %s, belongs to %s", s, g.ID, sym.Group)
			}
		}
		total += len(si.Symbol)
	}
	if len(gl.D.Groups) != 4 || total != len(env.cat.Symbols()) {
		t.Errorf("%d groups with %d symbols, want 4 with %d", len(gl.D.Groups), total, len(env.cat.Symbols()))
	}
	_, bad := env.get(t, "/symbol_info?group=tvbridge_futures")
	checkSchema(t, "ErrorResponse", bad)
}

// A symbol once published keeps its name when a newer instrument with the
// same ticker appears (TradingView forbids renames); the newcomer is the
// one that gets the exchange-qualified name.
func TestCatalogKeepsPublishedNames(t *testing.T) {
	sber := tvbridge.Instrument{FIGI: "F1", Ticker: "SBER", Type: tvbridge.Stock, Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "1000-1840:23456"}
	before, err := BuildCatalog([]tvbridge.Instrument{sber}, CatalogOptions{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := before.ByFIGI("F1"); s.Name != "SBER" || s.Ticker != "SBER" {
		t.Fatalf("first catalogue: %+v", s)
	}
	twin := sber
	twin.FIGI, twin.Exchange, twin.Timezone, twin.Session = "F2", "SPB", "America/New_York", "0930-1600:23456"
	after, err := BuildCatalog([]tvbridge.Instrument{twin, sber}, CatalogOptions{Logger: discardLogger(), Names: before.Names()})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := after.ByFIGI("F1"); s.Name != "SBER" || s.Ticker != "SBER" {
		t.Errorf("published symbol renamed: %+v", s)
	}
	if s, _ := after.ByFIGI("F2"); s.Name != "SPB_SBER" || s.Ticker != "SPB_SBER" {
		t.Errorf("newcomer: name %q ticker %q, want SPB_SBER", s.Name, s.Ticker)
	}
	// Without the published names both would be qualified: the old rule.
	fresh, _ := BuildCatalog([]tvbridge.Instrument{twin, sber}, CatalogOptions{Logger: discardLogger()})
	if s, _ := fresh.ByFIGI("F1"); s.Name != "MOEX_SBER" {
		t.Errorf("fresh catalogue named F1 %q", s.Name)
	}
	// A published name that is no longer valid or is claimed twice is ignored.
	bad, _ := BuildCatalog([]tvbridge.Instrument{twin, sber}, CatalogOptions{Logger: discardLogger(),
		Names: map[string]string{"F1": "X", "F2": "X"}})
	if s, _ := bad.ByFIGI("F1"); s.Name != "MOEX_SBER" {
		t.Errorf("doubly claimed name kept: %q", s.Name)
	}
}

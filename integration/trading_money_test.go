package integration

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/auth"
	"tvbridge/check"
	"tvbridge/openapi/openapitest"
	"tvbridge/paper"
)

// TestTradingMultiCurrency runs a paper account the way serve sets it up,
// over loopback HTTP against the simulated exchange while Moscow and New
// York both trade: the account holds roubles and dollars, lists the dollar
// instruments, pays for a US stock in dollars, shows each currency and the
// rouble total at the live dollar rate in /state and /balances, refuses an
// order beyond its dollars with a message that says so, and keeps it all
// across a restart. An account holding roubles only lists no dollar
// instrument and explains the refusal of one, naming it as TradingView
// does (SPB_YNDX).
func TestTradingMultiCurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end trading scenario; skipped with -short")
	}
	start := time.Date(2026, 11, 18, 15, 0, 0, 0, time.UTC) // 18:00 in Moscow, 10:00 in New York
	ex := newExchange(t, start, 0)
	dir := t.TempDir()
	b := startBridge(t, ex, dir, time.Hour)
	defer b.stop(t)
	users, err := auth.OpenStore(filepath.Join(dir, "auth.db"), auth.StoreOptions{NoSync: true, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer users.Close()
	if err := users.AddUser("alice", []byte("alice-secret-pw"), nil); err != nil {
		t.Fatal(err)
	}
	aapl, _ := b.catalog.Lookup("AAPL")
	usdrub, _ := b.catalog.Lookup("USD000UTSTOM")
	for _, figi := range []string{aapl.Instrument.FIGI, usdrub.Instrument.FIGI} {
		advanceUntil(t, ex, func() bool { _, _, ok := b.market.Book(figi); return ok })
	}
	tr := startTrader(t, ex, b, dir, users)
	alice := login(t, tr.http.URL, "alice", "alice-secret-pw")
	acc := alice.ok("GET", "/accounts", nil, "AccountResponse")["d"].([]any)[0].(map[string]any)["id"].(string)

	names := instrumentNames(alice, acc)
	for _, want := range []string{"AAPL", "SPB_YNDX", "SBER", "MOEX_YNDX"} {
		if !slices.Contains(names, want) {
			t.Errorf("instruments lack %s: %v", want, names)
		}
	}

	// A market buy of AAPL is paid for in dollars.
	alice.ok("POST", "/accounts/"+acc+"/orders", url.Values{"instrument": {"AAPL"}, "qty": {"10"}, "side": {"buy"},
		"type": {"market"}}, "PostOrderResponse")
	advanceUntil(t, ex, func() bool { return len(positionsOf(alice, acc)) == 1 })
	rows := amRows(alice, acc, "en")
	if len(rows) != 3 || rows[0][0] != "Total, RUB" || rows[1][0] != "RUB" || rows[2][0] != "USD" {
		t.Fatalf("account manager rows %v", rows)
	}
	if rows[1][6] != "0.00" || rows[2][6] == "0.00" || rows[1][1] != "10000000.00" {
		t.Errorf("the dollar stock should use dollars only: %v", rows)
	}
	rate := parseNum(t, rows[2][8])
	if book, _, _ := b.market.Book(usdrub.Instrument.FIGI); math.Abs(rate-(book.Bids[0].Price+book.Asks[0].Price)/2) > 1e-6 {
		t.Errorf("USD rate %v, USD000UTSTOM book %+v", rate, book)
	}
	if total, usdUsed := parseNum(t, rows[0][6]), parseNum(t, rows[2][6]); math.Abs(total-usdUsed*rate) > 0.01 {
		t.Errorf("total margin used %v, dollars %v at %v", total, usdUsed, rate)
	}
	bal := alice.ok("GET", "/accounts/"+acc+"/balances", nil, "CryptoBalancesResponse")["d"].([]any)
	if len(bal) != 2 || bal[1].(map[string]any)["symbol"] != "USD" || bal[1].(map[string]any)["reserved"].(float64) <= 0 ||
		bal[1].(map[string]any)["valueCurrency"] != "RUB" {
		t.Errorf("balances %v", bal)
	}

	// Far more AAPL than 100,000 dollars buy: refused, in dollars, in both languages.
	huge := url.Values{"instrument": {"AAPL"}, "qty": {"10000"}, "side": {"buy"}, "type": {"market"}}
	alice.fails("POST", "/accounts/"+acc+"/orders", huge, "Not enough USD for this order: it needs")
	alice.fails("POST", "/accounts/"+acc+"/orders?locale=ru", huge, "Недостаточно USD для заявки")

	// The message: a stop loss above the limit price of a buy.
	sber, _ := b.catalog.Lookup("SBER")
	sbook, _, _ := b.market.Book(sber.Instrument.FIGI)
	limit := price(sbook.Bids[0].Price*0.9, sber)
	stop := price(sbook.Bids[0].Price*0.95, sber)
	bad := url.Values{"instrument": {"SBER"}, "qty": {fmt.Sprint(sber.Instrument.Lot)}, "side": {"buy"}, "type": {"limit"},
		"limitPrice": {limit}, "stopLoss": {stop}}
	alice.fails("POST", "/accounts/"+acc+"/orders", bad, "The stop loss must be below the limit price ("+trimZeros(limit)+") for a buy order.")
	alice.fails("POST", "/accounts/"+acc+"/orders?locale=ru", bad, "Стоп-лосс должен быть ниже лимитной цены ("+trimZeros(limit)+") для заявки на покупку.")

	before := amRows(alice, acc, "en")
	tr.stop(t)
	tr = startTrader(t, ex, b, dir, users)
	alice = login(t, tr.http.URL, "alice", "alice-secret-pw")
	if after := amRows(alice, acc, "en"); !sameMoney(before, after) {
		t.Errorf("money changed across the restart:\n%v\n%v", before, after)
	}
	tr.stop(t)

	// Roubles only: no dollar instrument is listed, and one is refused by name.
	rubDir := t.TempDir()
	tr = startTrader(t, ex, b, rubDir, users, func(c *paper.Config) { c.Cash = []tvbridge.Money{{Currency: "RUB", Amount: 1e6}} })
	defer tr.stop(t)
	alice = login(t, tr.http.URL, "alice", "alice-secret-pw")
	acc = alice.ok("GET", "/accounts", nil, "AccountResponse")["d"].([]any)[0].(map[string]any)["id"].(string)
	if names := instrumentNames(alice, acc); slices.Contains(names, "AAPL") || slices.Contains(names, "SPB_YNDX") || !slices.Contains(names, "SBER") {
		t.Errorf("a rouble account lists %v", names)
	}
	yndx := url.Values{"instrument": {"SPB_YNDX"}, "qty": {"1"}, "side": {"buy"}, "type": {"market"}}
	alice.fails("POST", "/accounts/"+acc+"/orders", yndx, "This account cannot trade SPB_YNDX: it trades in USD, and the account holds no USD.")
	alice.fails("POST", "/accounts/"+acc+"/orders?locale=ru", yndx, "Этим счётом нельзя торговать SPB_YNDX: инструмент торгуется в USD, а на счёте нет USD.")
}

func instrumentNames(c *tvTrader, acc string) []string {
	var names []string
	for _, i := range c.ok("GET", "/accounts/"+acc+"/instruments", nil, "InstrumentsResponse")["d"].([]any) {
		names = append(names, i.(map[string]any)["name"].(string))
	}
	return names
}

func positionsOf(c *tvTrader, acc string) []any {
	return c.ok("GET", "/accounts/"+acc+"/positions", nil, "PositionsResponse")["d"].([]any)
}

// amRows returns the account manager's summary rows from /state.
func amRows(c *tvTrader, acc, locale string) [][]string {
	d := c.ok("GET", "/accounts/"+acc+"/state?locale="+locale, nil, "AccountStateResponse")["d"].(map[string]any)
	var rows [][]string
	for _, r := range d["amData"].([]any)[0].([]any) {
		var row []string
		for _, cell := range r.([]any) {
			row = append(row, cell.(string))
		}
		rows = append(rows, row)
	}
	return rows
}

// sameMoney compares the rows' cash and realized figures, which a restart
// must keep (P/L and rates move with the market).
func sameMoney(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 1; i < len(a); i++ {
		if a[i][0] != b[i][0] || a[i][1] != b[i][1] || a[i][4] != b[i][4] || a[i][5] != b[i][5] {
			return false
		}
	}
	return true
}

func parseNum(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}

// trimZeros prints a price as the messages do: the shortest form.
func trimZeros(p string) string {
	v, err := strconv.ParseFloat(p, 64)
	if err != nil {
		return p
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// TestCheckTradingOnPaper runs tvbridge check's trading scenario, with its
// default choice of instrument, against the paper backend wired as serve
// wires it, at three hours of a simulated week: while New York trades it
// picks AAPL (the first instrument) and trades it in dollars; while only
// Moscow does, the first Moscow stock; on a Sunday night, when only the
// round-the-clock instruments trade, the first of those (a bitcoin, which
// the default paper cash must afford). All must pass.
func TestCheckTradingOnPaper(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end trading scenario; skipped with -short")
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 18, 15, 0, 0, 0, time.UTC), "trading AAPL, the first with a live quote"},
		{time.Date(2026, 11, 18, 8, 0, 0, 0, time.UTC), "trading AFKS, the first with a live quote"},    // Moscow only
		{time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC), "trading BTC_RUB, the first with a live quote"}, // a Sunday night
	} {
		t.Run(tc.at.Format(time.DateTime), func(t *testing.T) {
			ex := newExchange(t, tc.at, 0)
			dir := t.TempDir()
			b := startBridge(t, ex, dir, time.Hour)
			defer b.stop(t)
			users, err := auth.OpenStore(filepath.Join(dir, "auth.db"), auth.StoreOptions{NoSync: true, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			defer users.Close()
			if err := users.AddUser("checker", []byte("checker-secret-pw"), nil); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"AAPL", "AFKS", "BTC_RUB", "USD000UTSTOM"} {
				sym, _ := b.catalog.Lookup(name)
				advanceUntil(t, ex, func() bool { _, _, ok := b.market.Book(sym.Instrument.FIGI); return ok })
			}
			tr := startTrader(t, ex, b, dir, users)
			defer tr.stop(t)
			token := login(t, tr.http.URL, "checker", "checker-secret-pw").token
			rep, err := check.Run(context.Background(), check.Config{URL: tr.http.URL, Token: token,
				Only: []string{"trading", "schema/trading"}, Trading: &check.Trading{FillTimeout: 5 * time.Second},
				Spec: openapitest.Spec(t), SpecMissing: "no spec in this checkout"})
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			_ = rep.WriteText(&text)
			if rep.Failed() {
				t.Fatalf("check --trading failed:\n%s", text.String())
			}
			if res, _ := rep.Result("trading/instruments"); !strings.Contains(res.Reason, tc.want) {
				t.Errorf("instrument choice %q, want %q", res.Reason, tc.want)
			}
			if res, _ := rep.Result("trading/market-order"); res.Status != check.Pass {
				t.Errorf("market order: %s %s\n%s", res.Status, res.Reason, text.String())
			}
		})
	}
}

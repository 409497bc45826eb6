package main

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"strings"
	"testing"

	"tvbridge"
	"tvbridge/auth"
	"tvbridge/paper"
)

func TestParseCash(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []tvbridge.Money
	}{
		{"RUB=1000000,USD=10000", []tvbridge.Money{{Currency: "RUB", Amount: 1e6}, {Currency: "USD", Amount: 1e4}}},
		{" usd = 2500.5 ", []tvbridge.Money{{Currency: "USD", Amount: 2500.5}}},
		{"500000", []tvbridge.Money{{Currency: "EUR", Amount: 5e5}}}, // the old form: in --paper-currency
		{"RUB=0", []tvbridge.Money{{Currency: "RUB"}}},
		{formatCash(paper.DefaultCash()), paper.DefaultCash()},
	} {
		got, err := parseCash(tc.in, "EUR")
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseCash(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-5", "RUB", "RUB=", "RUB=-1", "RUBL=5", "R1B=5", "RUB=5,RUB=6", "RUB=5,", "RUB=Inf", "NaN"} {
		if got, err := parseCash(bad, "RUB"); err == nil {
			t.Errorf("parseCash(%q) = %+v, want an error", bad, got)
		}
	}
}

// serve refuses bad paper cash and currencies before starting anything.
func TestServeRejectsBadPaperCash(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--paper-cash", "RUB=lots"},
		{"serve", "--paper-currency", "rouble"},
	} {
		var out bytes.Buffer
		if code := run(context.Background(), args, io.Discard, &out); code != 1 || !strings.Contains(out.String(), args[1]) {
			t.Errorf("%v: exit %d, %q", args, code, out.String())
		}
	}
}

// tradingFirst takes only paths the outer mux would give the trading API
// anyway: never a data, health, mapping or authentication endpoint.
func TestTradingFirstTakesOnlyTradingPaths(t *testing.T) {
	for _, p := range []string{"/accounts", "/accounts/A1/orders", "/accounts/A1/state", "/accounts/A1/orders/7", "/quotes", "/depth", "/config"} {
		if !tradingPath(p) {
			t.Errorf("%s not sent straight to the trading API", p)
		}
	}
	for _, p := range []string{"/symbol_info", "/groups", "/history", "/streaming", "/healthz", "/mapping",
		auth.PathAuthorize, auth.PathLogout, auth.PathPermissions, auth.PathOAuthAuthorize, auth.PathOAuthToken,
		auth.PathOAuthLogout, "/accountsX", "/", "/nope"} {
		if tradingPath(p) {
			t.Errorf("%s taken from the outer mux", p)
		}
	}
}

package tradeapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"tvbridge"
)

var orderSeeds = []string{
	"instrument=SBER&qty=100&side=buy&type=limit&limitPrice=250.5&currentAsk=250.6&currentBid=250.4",
	"instrument=SBER&qty=100&side=buy&type=limit&limitPrice=250.5&durationType=GTC&stopLoss=240&takeProfit=260",
	"instrument=AAPL&qty=3&side=sell&type=stoplimit&limitPrice=169&stopPrice=169.5&durationType=DAY",
	"instrument=SBER&qty=10&side=sell&type=market&stopLoss=260&trailingStopPips=50&requestId=r1",
	"instrument=SU26238RMFS4&qty=1&side=buy&type=stop&stopPrice=98.5&guaranteedStop=90",
	"instrument=SBER&qty=NaN&side=buy&type=market",
	"instrument=SBER&qty=1e400&side=buy&type=market",
	"instrument=SBER&qty=-0&side=buy&type=market",
	"instrument=SBER&qty=0x1p3&side=buy&type=market",
	"instrument=SBER&qty=1&qty=2&side=buy&type=market",
	"instrument=GAZP&qty=1&side=long&type=iceberg",
	"qty=200&limitPrice=251",
	"qty=5&durationType=GTC&type=market",
	"qty=%zz",
	"",
}

// FuzzOrderForm checks that any place or modify body either parses into a
// request the broker may receive or is refused with a message in both
// languages.
func FuzzOrderForm(f *testing.F) {
	for _, s := range orderSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	cat := fixtureCatalog(f)
	current := cannedOrders()[0]
	f.Fuzz(func(t *testing.T, body string, modify bool) {
		vals, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		p := &parser{cat: cat, durations: DefaultDurations(), now: fixtureNow}
		var cur *tvbridge.Order
		if modify {
			cur = &current
		}
		req, _, err := p.order(fields(vals), cur)
		if err != nil {
			checkInputError(t, err)
			return
		}
		checkOrderRequest(t, p, req)
		if _, err := requestID(fields{}, fields(vals)); err != nil {
			checkInputError(t, err)
		}
	})
}

func checkOrderRequest(t *testing.T, p *parser, req tvbridge.OrderRequest) {
	t.Helper()
	if _, ok := p.cat.ByFIGI(req.FIGI); !ok || !req.Side.Valid() || !req.Type.Valid() {
		t.Fatalf("bad identity: %+v", req)
	}
	inRange := func(v, lo, hi float64) bool { return !math.IsNaN(v) && v >= lo && v <= hi }
	if !inRange(req.Qty, math.SmallestNonzeroFloat64, maxQty) {
		t.Fatalf("qty %v", req.Qty)
	}
	needsLimit := req.Type == tvbridge.LimitOrder || req.Type == tvbridge.StopLimitOrder
	needsStop := req.Type == tvbridge.StopOrder || req.Type == tvbridge.StopLimitOrder
	if needsLimit != (req.LimitPrice > 0) || !inRange(req.LimitPrice, 0, maxPrice) {
		t.Fatalf("limit price %v for %s", req.LimitPrice, req.Type)
	}
	if needsStop != (req.StopPrice > 0) || !inRange(req.StopPrice, 0, maxPrice) {
		t.Fatalf("stop price %v for %s", req.StopPrice, req.Type)
	}
	b := req.Brackets
	if !inRange(b.StopLoss, 0, maxPrice) || !inRange(b.TakeProfit, 0, maxPrice) || !inRange(b.TrailingStopPips, 0, maxPips) {
		t.Fatalf("brackets %+v", b)
	}
	if d := req.Duration.Type; d != "" {
		i := slices.IndexFunc(p.durations, func(x Duration) bool { return x.ID == d })
		if i < 0 || !slices.Contains(p.durations[i].OrderTypes, req.Type) {
			t.Fatalf("duration %q for %s", d, req.Type)
		}
	}
}

// FuzzPositionForm does the same for modify-position and close-position
// bodies.
func FuzzPositionForm(f *testing.F) {
	for _, s := range []string{
		"stopLoss=240&takeProfit=265.5&trailingStopPips=20&currentAsk=250.4&currentBid=250.3",
		"side=sell", "side=buy&takeProfit=270", "side=flat", "stopLoss=-5", "guaranteedStop=1",
		"takeProfit=1&takeProfit=2", "amount=10", "amount=0", "amount=1e999", "amount=ten", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		vals, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		change, err := parsePositionChange(fields(vals))
		if err != nil {
			checkInputError(t, err)
		} else {
			b := change.Brackets
			if b.StopLoss < 0 || b.TakeProfit < 0 || b.TrailingStopPips < 0 || b.StopLoss > maxPrice ||
				math.IsNaN(b.StopLoss+b.TakeProfit+b.TrailingStopPips) {
				t.Fatalf("brackets %+v", b)
			}
			if change.Side != "" && !change.Side.Valid() {
				t.Fatalf("side %q", change.Side)
			}
		}
		amount, err := parseCloseAmount(fields(vals))
		if err != nil {
			checkInputError(t, err)
		} else if math.IsNaN(amount) || amount < 0 || amount > maxQty {
			t.Fatalf("amount %v", amount)
		}
	})
}

// checkInputError requires a request error that renders cleanly in both
// languages (no fmt mistakes such as %!s(MISSING)).
func checkInputError(t *testing.T, err error) {
	t.Helper()
	var in *inputError
	if !errors.As(err, &in) {
		t.Fatalf("not an input error: %v", err)
	}
	for _, l := range []lang{english, russian} {
		if msg := in.render(l); msg == "" || strings.Contains(msg, "%!") {
			t.Fatalf("message %q", msg)
		}
	}
}

// FuzzHandler sends arbitrary requests through the whole handler: every
// answer is one of the spec's envelopes, and nothing panics.
func FuzzHandler(f *testing.F) {
	for _, s := range orderSeeds[:5] {
		f.Add("POST", "/accounts/A1/orders?locale=ru&requestId=r", s)
		f.Add("POST", "/accounts/A1/previewOrder?locale=en", s)
	}
	f.Add("PUT", "/accounts/A1/orders/o1?locale=ru", "qty=200&limitPrice=251&stopLoss=240")
	f.Add("PUT", "/accounts/A1/positions/p1", "side=sell")
	f.Add("DELETE", "/accounts/A1/positions/p1?amount=5", "amount=10")
	f.Add("GET", "/accounts/A1/executions?instrument=SBER&maxCount=5", "")
	f.Add("GET", "/quotes?accountId=A1&symbols=SBER,GAZP", "")
	f.Add("GET", "/depth?accountId=A1&symbol=SBER", "")
	f.Add("GET", "/accounts/A1/ordersHistory?maxCount=1e999", "")
	f.Add("PATCH", "/nope", "x")

	fx := newFixture(f)
	fx.broker.orders = cannedOrders()
	fx.broker.positions = cannedPositions()
	fx.market.setBook(sberFIGI, []tvbridge.PriceLevel{{Price: 250, Quantity: 1}}, []tvbridge.PriceLevel{{Price: 251, Quantity: 1}})
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n#") || strings.ContainsAny(method, " \r\n/") || method == "" {
			return
		}
		req, err := newRequestSafely(method, target, body)
		if err != nil {
			return
		}
		req = req.WithContext(tvbridge.WithPrincipal(req.Context(), tvbridge.Principal{User: "alice"}))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		var env struct {
			S      string          `json:"s"`
			Errmsg string          `json:"errmsg"`
			D      json.RawMessage `json:"d"`
		}
		if req.URL.Path == "/mapping" {
			return
		}
		if rec.Code >= 300 && rec.Code < 400 {
			// The mux redirects unclean paths ("//x", "/x/../y") to clean ones.
			if rec.Header().Get("Location") == "" {
				t.Fatalf("%s %s: redirect without Location", method, target)
			}
			return
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, target, rec.Body)
		}
		if (env.S != "ok" && env.S != "error") || (env.S == "error" && (env.Errmsg == "" || strings.Contains(env.Errmsg, "%!"))) {
			t.Fatalf("%s %s: %s", method, target, rec.Body)
		}
		if env.S == "ok" && rec.Code != 200 {
			t.Fatalf("ok with status %d", rec.Code)
		}
	})
}

// newRequestSafely is httptest.NewRequest without its panic on targets it
// cannot parse.
func newRequestSafely(method, target, body string) (req *http.Request, err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("unparsable request")
		}
	}()
	return httptest.NewRequest(method, target, strings.NewReader(body)), nil
}

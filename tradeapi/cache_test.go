package tradeapi

import (
	"context"
	"sync"
	"testing"

	"tvbridge"
)

// versionedBroker is a fakeBroker that versions its order list like
// trading.Manager: the test sets version and listed.
type versionedBroker struct {
	*fakeBroker
	vmu      sync.Mutex
	version  uint64
	listed   int
	versions int // OrdersVersion calls
	// during, when set, runs inside Orders (a change racing the listing).
	during func()
}

func (b *versionedBroker) OrdersVersion(_ context.Context, user, acct string) (uint64, int, error) {
	if err := b.enter(brokerCall{Method: "OrdersVersion", User: user, Account: acct}); err != nil {
		return 0, 0, err
	}
	b.vmu.Lock()
	defer b.vmu.Unlock()
	b.versions++
	return b.version, b.listed, nil
}

func (b *versionedBroker) Orders(ctx context.Context, user, acct string) ([]tvbridge.Order, error) {
	out, err := b.fakeBroker.Orders(ctx, user, acct)
	if b.during != nil {
		b.during()
	}
	return out, err
}

func (b *versionedBroker) set(orders []tvbridge.Order, version uint64) {
	b.mu.Lock()
	b.orders = orders
	b.mu.Unlock()
	b.vmu.Lock()
	b.version, b.listed = version, len(orders)
	b.vmu.Unlock()
}

// /orders is answered from the last response while the broker's version
// and count are unchanged, per user, account and language, and is the
// same as without the cache.
func TestOrdersCache(t *testing.T) {
	vb := &versionedBroker{fakeBroker: newFakeBroker()}
	f := newFixture(t, func(c *Config) { c.Broker = vb })
	plain := newFixture(t) // no versions: no cache
	plain.broker.orders = cannedOrders()
	vb.set(cannedOrders(), 1)

	orders := func() int { return len(vb.Called("Orders")) }
	first := f.get("/accounts/A1/orders", "alice")
	first.ok(t, "OrdersResponse", nil)
	if want := plain.get("/accounts/A1/orders", "alice"); string(first.body) != string(want.body) {
		t.Fatalf("cached path answers\n%s\nnot\n%s", first.body, want.body)
	}
	if orders() != 1 {
		t.Fatalf("%d Orders calls", orders())
	}
	for range 3 {
		if r := f.get("/accounts/A1/orders", "alice"); string(r.body) != string(first.body) {
			t.Fatalf("cached answer differs: %s", r.body)
		}
	}
	if orders() != 1 {
		t.Errorf("unchanged list listed again: %d Orders calls", orders())
	}
	// Another language is another answer (rejections are explained in it).
	ru := f.get("/accounts/A1/orders?locale=ru", "alice")
	if want := plain.get("/accounts/A1/orders?locale=ru", "alice"); string(ru.body) != string(want.body) {
		t.Errorf("ru: %s, want %s", ru.body, want.body)
	}
	// Another user, another account: refused as before, not served alice's.
	if r := f.get("/accounts/A1/orders", "bob"); string(r.body) == string(first.body) {
		t.Errorf("bob got alice's orders")
	} else if want := plain.get("/accounts/A1/orders", "bob"); string(r.body) != string(want.body) {
		t.Errorf("bob: %s, want %s", r.body, want.body)
	}
	// A new version or count lists again.
	vb.set(cannedOrders()[:2], 2)
	plain.broker.orders = cannedOrders()[:2]
	n := orders()
	r := f.get("/accounts/A1/orders", "alice")
	if want := plain.get("/accounts/A1/orders", "alice"); string(r.body) != string(want.body) || orders() != n+1 {
		t.Errorf("after a change: %s (%d Orders calls), want %s", r.body, orders()-n, want.body)
	}
	vb.vmu.Lock()
	vb.listed = 1 // same version, one order fewer listed (time passed)
	vb.vmu.Unlock()
	vb.mu.Lock()
	vb.orders = cannedOrders()[:1]
	vb.mu.Unlock()
	plain.broker.orders = cannedOrders()[:1]
	r = f.get("/accounts/A1/orders", "alice")
	if want := plain.get("/accounts/A1/orders", "alice"); string(r.body) != string(want.body) {
		t.Errorf("after a final order left: %s, want %s", r.body, want.body)
	}

	// A change while the list is made: answered, not kept.
	vb.set(cannedOrders()[:3], 3)
	vb.during = func() {
		vb.during = nil
		vb.set(cannedOrders()[:4], 4)
	}
	n = orders()
	f.get("/accounts/A1/orders", "alice")
	r = f.get("/accounts/A1/orders", "alice")
	plain.broker.orders = cannedOrders()[:4]
	if want := plain.get("/accounts/A1/orders", "alice"); string(r.body) != string(want.body) || orders() != n+2 {
		t.Errorf("after a racing change: %s (%d Orders calls), want %s", r.body, orders()-n, want.body)
	}

	// Errors are getOrders' own.
	vb.fail["OrdersVersion"] = &tvbridge.TradingError{Code: tvbridge.ErrUnknownAccount, Detail: "gone"}
	plain.broker.fail["Orders"] = &tvbridge.TradingError{Code: tvbridge.ErrUnknownAccount, Detail: "gone"}
	vb.fail["Orders"] = plain.broker.fail["Orders"]
	r = f.get("/accounts/A1/orders", "alice")
	if want := plain.get("/accounts/A1/orders", "alice"); string(r.body) != string(want.body) {
		t.Errorf("error: %s, want %s", r.body, want.body)
	}
}

// valuedBroker is a fakeBroker that versions its valuation like
// trading.Manager: the test sets valuation (and valOK).
type valuedBroker struct {
	*fakeBroker
	vmu       sync.Mutex
	valuation [2]uint64
	valOK     bool
}

func (b *valuedBroker) ValuationVersion(_ context.Context, user, acct string) ([2]uint64, bool, error) {
	if err := b.enter(brokerCall{Method: "ValuationVersion", User: user, Account: acct}); err != nil {
		return [2]uint64{}, false, err
	}
	b.vmu.Lock()
	defer b.vmu.Unlock()
	return b.valuation, b.valOK, nil
}

func (b *valuedBroker) setValuation(v [2]uint64, ok bool) {
	b.vmu.Lock()
	b.valuation, b.valOK = v, ok
	b.vmu.Unlock()
}

// /positions and /state are answered from the last response while the
// broker's valuation version stands, are the same as without the cache,
// and are made anew when it moves, when the broker cannot tell, and per
// language.
func TestValuationCache(t *testing.T) {
	vb := &valuedBroker{fakeBroker: newFakeBroker()}
	f := newFixture(t, func(c *Config) { c.Broker = vb })
	plain := newFixture(t) // no versions: no cache
	pos := []tvbridge.Position{{ID: "p1", FIGI: "FIGI_SIMCO", Qty: 3, Side: tvbridge.Buy, AvgPrice: 100, UnrealizedPL: 1.5}}
	st := tvbridge.AccountState{Balance: 1000, Equity: 1001.5, UnrealizedPL: 1.5,
		Currencies: []tvbridge.CurrencyState{{Currency: "RUB", Balance: 1000, Equity: 1001.5, UnrealizedPL: 1.5, Rate: 1}}}
	set := func(p []tvbridge.Position, s tvbridge.AccountState) {
		for _, b := range []*fakeBroker{vb.fakeBroker, plain.broker} {
			b.mu.Lock()
			b.positions, b.state = p, s
			b.mu.Unlock()
		}
	}
	set(pos, st)
	vb.setValuation([2]uint64{1, 10}, true)

	for _, ep := range []struct{ path, method string }{{"/accounts/A1/positions", "Positions"}, {"/accounts/A1/state", "State"}} {
		calls := func() int { return len(vb.Called(ep.method)) }
		same := func(what string) []byte {
			t.Helper()
			r := f.get(ep.path, "alice")
			if want := plain.get(ep.path, "alice"); string(r.body) != string(want.body) {
				t.Fatalf("%s %s: %s, want %s", ep.path, what, r.body, want.body)
			}
			return r.body
		}
		n := calls()
		same("first")
		same("again")
		if calls() != n+1 {
			t.Errorf("%s: unchanged valuation made %d times", ep.path, calls()-n)
		}
		if ep.method == "State" {
			// Another language is another answer (amData's labels).
			r := f.get(ep.path+"?locale=ru", "alice")
			if want := plain.get(ep.path+"?locale=ru", "alice"); string(r.body) != string(want.body) {
				t.Errorf("ru: %s, want %s", r.body, want.body)
			}
		}
		// A price moved: made anew.
		pos[0].UnrealizedPL, st.UnrealizedPL = 4.5, 4.5
		set(pos, st)
		vb.setValuation([2]uint64{1, 11}, true)
		n = calls()
		same("after a price change")
		if calls() != n+1 {
			t.Errorf("%s: %d calls after a price change", ep.path, calls()-n)
		}
		// The account changed: made anew.
		vb.setValuation([2]uint64{2, 11}, true)
		n = calls()
		same("after an account change")
		if calls() != n+1 {
			t.Errorf("%s: %d calls after an account change", ep.path, calls()-n)
		}
		// The broker cannot tell: every request is made.
		vb.setValuation([2]uint64{2, 11}, false)
		n = calls()
		same("without a version")
		same("without a version, again")
		if calls() != n+2 {
			t.Errorf("%s: %d calls without a version, want 2", ep.path, calls()-n)
		}
		vb.setValuation([2]uint64{3, 12}, true)
	}
	// Bob is refused as before, not served alice's.
	if r, want := f.get("/accounts/A1/state", "bob"), plain.get("/accounts/A1/state", "bob"); string(r.body) != string(want.body) {
		t.Errorf("bob: %s, want %s", r.body, want.body)
	}
	// Errors are the endpoint's own.
	vb.fail["ValuationVersion"] = &tvbridge.TradingError{Code: tvbridge.ErrUnknownAccount, Detail: "gone"}
	vb.fail["State"] = vb.fail["ValuationVersion"]
	plain.broker.fail["State"] = vb.fail["ValuationVersion"]
	if r, want := f.get("/accounts/A1/state", "alice"), plain.get("/accounts/A1/state", "alice"); string(r.body) != string(want.body) {
		t.Errorf("error: %s, want %s", r.body, want.body)
	}
}

package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/bolt"
	"tvbridge/internal/crashtest"
	"tvbridge/live"
	"tvbridge/sim/market"
	v2sim "tvbridge/sim/v2"
	"tvbridge/tape"
	"tvbridge/tinvest"
	v2wire "tvbridge/tinvest/wire"
	"tvbridge/trading"
)

// The v2 crash test is trading/crash_test.go's kill -9 test with the real
// upstream stack instead of a fake venue: the trading core on a bbolt
// store, the T-Invest API v2 venue (tinvest.Venue, its idempotency keys
// and its OrderStateStream) and the v2 simulator's sandbox over loopback
// HTTP. The simulator lives in the parent, on the real clock (the child is
// another process, so no fake clock can be shared), trading SIMCO, which
// trades around the clock, so market orders fill at any hour.
//
// Each round starts a child (the test binary again, TestCrashChild) that
// opens the shared store and key namespace and places 1-lot market orders
// with requestIds v2crash-N as fast as it can, and the parent SIGKILLs it
// after a random number of acks plus a jitter. "ack N" means PlaceOrder
// returned order N without an error, working or filled: T-Invest answered
// PostOrder and the core committed the answer (its order id) durably. The
// fill may not have reached the core yet (it comes over the order stream);
// it must come after the restart, from the venue's Restore poll. The
// parent then reopens the store in-process with the same namespace, runs
// the core (Restore) and checks it against the simulator: every
// acknowledged order is there under the order id it had, filled; its
// request again returns it, its request id with another side is refused;
// each core order is, by its idempotency key, the simulator's order (filled
// there iff filled in the core); the simulator executed exactly as many
// orders as the core has filled, with the same fills, position and cash;
// and PostOrder sent again for the round's acknowledged orders, by a fresh
// venue with the namespace from the file, is answered with the existing
// orders and trades nothing. The order after the last ack (halfPlaced) may
// have been placed or not: the simulator, asked by its key, says which,
// and the core must agree.
const (
	v2CrashEnvURL     = "TVBRIDGE_V2CRASH_URL"
	v2CrashEnvDir     = "TVBRIDGE_V2CRASH_DIR"
	v2CrashEnvAccount = "TVBRIDGE_V2CRASH_ACCOUNT"
	v2CrashEnvFIGI    = "TVBRIDGE_V2CRASH_FIGI"
	v2CrashEnvStart   = "TVBRIDGE_V2CRASH_START"
	v2CrashEnvSeed    = "TVBRIDGE_V2CRASH_SEED" // the parent's plan, optional

	v2CrashUser       = "alice"
	v2CrashTicker     = "SIMCO"
	v2CrashDeposit    = 1_000_000 // roubles paid into the sandbox account
	v2CrashCommission = 0.0005
	v2CrashRounds     = 4
)

// v2CrashRequest is order n: one lot, a buy but every fourth a sell. The
// simulator refuses short sales; with at most one order lost per kill
// (halfPlaced) and at least one acknowledged per round, the position
// before each sell is at least two lots.
func v2CrashRequest(figi string, n int) tvbridge.OrderRequest {
	side := tvbridge.Buy
	if n%4 == 3 {
		side = tvbridge.Sell
	}
	return tvbridge.OrderRequest{RequestID: "v2crash-" + strconv.Itoa(n), FIGI: figi, Side: side,
		Type: tvbridge.MarketOrder, Qty: 1}
}

// v2CrashStack is one process's trading stack on the shared directory.
type v2CrashStack struct {
	store   *bolt.TradingStore
	client  *tinvest.Client
	venue   *tinvest.Venue
	mgr     *trading.Manager
	ns      string
	account string // the sandbox account
	figi    string
}

// v2CrashOpen builds the stack as serve wires it: the store and the key
// namespace beside it in dir, the venue trading the sandbox account for
// alice, and the core on a live market primed from the simulator.
func v2CrashOpen(t testing.TB, restURL, dir, account, figi string, log *slog.Logger) *v2CrashStack {
	t.Helper()
	ctx := context.Background()
	store, err := bolt.OpenTrading(filepath.Join(dir, "trading.db"), bolt.Options{Logger: log})
	if err != nil {
		t.Fatalf("open the trading store: %v", err)
	}
	ns, err := tinvest.LoadKeyNamespace(filepath.Join(dir, "tinvest-keys"))
	if err != nil {
		t.Fatal(err)
	}
	client := v2CrashClient(restURL, log)
	inst := v2CrashInstrument(t, client, figi)
	lookup := func(f string) (tvbridge.Instrument, bool) { return inst, f == inst.FIGI }
	venue, err := tinvest.NewVenue(tinvest.VenueConfig{Client: client, Users: map[string][]string{v2CrashUser: {account}},
		Instrument: lookup, KeyNamespace: ns, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	// The core needs a price to accept a market order (and to estimate its
	// cost); the fill itself happens at the simulator's book. A REST
	// snapshot of the book and the trading status is all it reads, so a
	// market-data stream (tinvest.Upstream) would only add a second
	// WebSocket whose subscription delays the first order, and is not what
	// this test is about.
	mkt := live.New()
	book, err := client.OrderBook(ctx, figi, inst.UID, 10)
	if err != nil {
		t.Fatalf("order book: %v", err)
	}
	status, _, err := client.TradingStatus(ctx, inst.UID)
	if err != nil {
		t.Fatalf("trading status: %v", err)
	}
	now := time.Now()
	mkt.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: now}, Book: book})
	mkt.Observe(&tvbridge.InstrumentInfoEvent{EventMeta: tvbridge.EventMeta{Received: now},
		Info: tvbridge.InstrumentInfo{FIGI: figi, TradeStatus: status}})
	mgr, err := trading.New(trading.Config{Venue: venue, Market: mkt, Tape: tape.New(tape.Config{Capacity: 16}),
		Store: store, Instrument: lookup, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &v2CrashStack{store: store, client: client, venue: venue, mgr: mgr, ns: ns, account: account, figi: figi}
}

func v2CrashClient(restURL string, log *slog.Logger) *tinvest.Client {
	unlimited := map[string]int{}
	for _, b := range []string{tinvest.BucketSandbox, tinvest.BucketMarketData, tinvest.BucketInstruments,
		tinvest.BucketUsers, tinvest.BucketOperations} {
		unlimited[b] = 1_000_000
	}
	return tinvest.NewClient(tinvest.Config{BaseURL: restURL, Token: "t", Sandbox: true, Logger: log,
		TotalPerSecond: 1_000_000, Limits: unlimited})
}

// v2CrashInstrument is the instrument as the catalogue has it: the model's
// lot, tick, currency and session, and the simulator's uid.
func v2CrashInstrument(t testing.TB, client *tinvest.Client, figi string) tvbridge.Instrument {
	t.Helper()
	mi, ok := market.New(market.Config{Seed: 1}).Instrument(figi)
	if !ok {
		t.Fatalf("no instrument %s in the model", figi)
	}
	inst := mi.Instrument
	w, err := client.InstrumentBy(context.Background(), v2wire.InstrumentIDTypeFIGI, "", figi)
	if err != nil {
		t.Fatalf("instrument %s: %v", figi, err)
	}
	inst.UID = w.UID
	return inst
}

// key is the idempotency key the venue sends for a core order's first
// generation.
func (s *v2CrashStack) key(orderID string) string {
	return tinvest.IdempotencyKey("tvbridge venue order", s.ns, s.account, orderID)
}

// close ends the stack as a process exit would, after stop.
func (s *v2CrashStack) close(t testing.TB) {
	t.Helper()
	s.mgr.Close()
	if err := s.store.Close(); err != nil {
		t.Error(err)
	}
}

// TestCrashChild is the child of TestV2CrashDurability (package integration
// has no other crash test); it skips unless started by it.
func TestCrashChild(t *testing.T) {
	url := os.Getenv(v2CrashEnvURL)
	if url == "" {
		t.Skip("helper process for TestV2CrashDurability")
	}
	first, err := strconv.Atoi(os.Getenv(v2CrashEnvStart))
	if err != nil {
		t.Fatal(err)
	}
	// Warnings and errors go to stderr, which the parent shows if the child
	// dies of anything but its SIGKILL.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := v2CrashOpen(t, url, os.Getenv(v2CrashEnvDir), os.Getenv(v2CrashEnvAccount), os.Getenv(v2CrashEnvFIGI), log)
	ctx := context.Background()
	go func() {
		if err := s.mgr.Run(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "trading manager: %v\n", err)
		}
	}()
	accts, err := s.mgr.Accounts(ctx, v2CrashUser)
	if err != nil || len(accts) != 1 {
		t.Fatalf("accounts: %v, %v", accts, err)
	}
	for n := first; n < first+100_000; n++ {
		o, err := s.mgr.PlaceOrder(ctx, v2CrashUser, accts[0].ID, v2CrashRequest(s.figi, n))
		if err != nil || (o.Status != tvbridge.OrderWorking && o.Status != tvbridge.OrderFilled) {
			t.Fatalf("order %d: %+v, %v", n, o, err)
		}
		// os.Stdout is unbuffered: the ack leaves the process at once.
		fmt.Fprintf(os.Stdout, "ack %d\n", n)
	}
}

func TestV2CrashDurability(t *testing.T) {
	if os.Getenv(v2CrashEnvURL) != "" {
		t.Skip("inside the child")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	began := time.Now()
	// The kills land at real-time moments, so a seed does not replay a run;
	// it replays the plan (acks before each kill, jitters).
	seed := uint64(began.UnixNano())
	if s := os.Getenv(v2CrashEnvSeed); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s: %v", v2CrashEnvSeed, err)
		}
	}
	t.Logf("seed %d (%s=%d for the same plan)", seed, v2CrashEnvSeed, seed)
	r := rand.New(rand.NewPCG(seed, 2))

	m := market.New(market.Config{Seed: 1})
	simco := m.ByTicker(v2CrashTicker)
	if len(simco) != 1 || simco[0].Session != "24x7" {
		t.Fatalf("%s: %v, want one instrument trading 24x7", v2CrashTicker, simco)
	}
	figi := simco[0].FIGI
	srv := v2sim.New(v2sim.Config{Market: m, Commission: v2CrashCommission, Logger: quietLog()})
	hs := httptest.NewServer(srv.Handler())
	defer func() { hs.Close(); srv.Close() }()
	restURL := hs.URL + "/rest/"

	client := v2CrashClient(restURL, quietLog())
	account, err := client.OpenSandboxAccount(context.Background(), v2CrashUser)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.SandboxPayIn(context.Background(), account, v2wire.MoneyValue{Currency: "rub", Units: v2CrashDeposit}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	env := []string{v2CrashEnvURL + "=" + restURL, v2CrashEnvDir + "=" + dir, v2CrashEnvAccount + "=" + account,
		v2CrashEnvFIGI + "=" + figi}
	c := &v2CrashCheck{t: t, restURL: restURL, dir: dir, account: account, figi: figi,
		halfPlaced: map[int]bool{}, ids: map[int]string{}}
	next := 0
	for round := range v2CrashRounds {
		killAfter := 1 + r.IntN(12)
		jitter := time.Duration(r.IntN(15_000)) * time.Microsecond
		lastAck := crashtest.KillAfterAcks(t, append(env, v2CrashEnvStart+"="+strconv.Itoa(next)), next, killAfter, jitter)
		c.halfPlaced[lastAck+1] = true
		c.roundStart, c.lastAck = next, lastAck
		c.verify()
		t.Logf("round %d: killed after %d acks + %v; last ack %d (%v)", round, killAfter, jitter, lastAck, time.Since(began))
		next = lastAck + 2
	}
}

// v2CrashCheck is what the parent knows across rounds.
type v2CrashCheck struct {
	t                           *testing.T
	restURL, dir, account, figi string

	roundStart int // the first order of the round
	lastAck    int
	halfPlaced map[int]bool   // orders a kill may have interrupted: placed or not
	ids        map[int]string // order n's core order id, once seen
}

// v2CrashSettle bounds the wait for the restarted core to catch up with
// the simulator: a safety net, not the synchronisation (the condition is).
const v2CrashSettle = 20 * time.Second

// verify reopens the store after a kill, runs the core and checks it
// against the simulator.
func (c *v2CrashCheck) verify() {
	t := c.t
	t.Helper()
	s := v2CrashOpen(t, c.restURL, c.dir, c.account, c.figi, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.mgr.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("trading manager: %v", err)
		}
		s.close(t)
	}()
	accts, err := s.mgr.Accounts(ctx, v2CrashUser)
	if err != nil || len(accts) != 1 {
		t.Fatalf("accounts after the kill: %v, %v", accts, err)
	}
	acct := accts[0].ID

	// Wait until every order the simulator has is filled in the core (the
	// fills of acknowledged orders the child had not seen yet come from
	// Restore's poll), and every other one is the order a kill interrupted.
	var orders []tvbridge.Order
	deadline := time.Now().Add(v2CrashSettle)
	for first := true; ; first = false {
		orders, err = s.mgr.Orders(ctx, v2CrashUser, acct)
		if err != nil {
			t.Fatal(err)
		}
		if first {
			c.logOpen(orders)
		}
		pending := c.unsettled(s, orders)
		if pending == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the kill (last ack %d), not settled in %v: %s", c.lastAck, v2CrashSettle, pending)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Every acknowledged order is there, once, filled, under the id it
	// had; its request again returns it and places nothing; its request
	// id with other parameters is refused.
	byRequest := map[int]tvbridge.Order{}
	for _, o := range orders {
		n, ok := v2CrashNumber(o.RequestID)
		switch {
		case !ok || n > c.lastAck+1:
			t.Fatalf("an order nobody placed: %+v", o)
		case byRequest[n].ID != "":
			t.Fatalf("request %s placed twice: %+v and %+v", o.RequestID, byRequest[n], o)
		case c.ids[n] != "" && c.ids[n] != o.ID:
			t.Fatalf("request %s is order %s now, was %s", o.RequestID, o.ID, c.ids[n])
		}
		byRequest[n] = o
		c.ids[n] = o.ID
	}
	opsBefore := len(c.upstreamTrades(s))
	for n := 0; n <= c.lastAck; n++ {
		if c.halfPlaced[n] {
			continue
		}
		o, ok := byRequest[n]
		if !ok || o.Status != tvbridge.OrderFilled || o.FilledQty != 1 {
			t.Fatalf("acknowledged order %d after the kill: %+v (found %v)", n, o, ok)
		}
		req := v2CrashRequest(c.figi, n)
		again, err := s.mgr.PlaceOrder(ctx, v2CrashUser, acct, req)
		if err != nil || again.ID != o.ID || again.Status != tvbridge.OrderFilled {
			t.Fatalf("request %s again after the kill: %+v, %v; it was %s", req.RequestID, again, err, o.ID)
		}
		other := req
		other.Side = other.Side.Opposite()
		var te *tvbridge.TradingError
		if o, err := s.mgr.PlaceOrder(ctx, v2CrashUser, acct, other); !errors.As(err, &te) || te.Code != tvbridge.ErrRequestReused {
			t.Fatalf("request id %s reused for another order after the kill: %+v, %v", req.RequestID, o, err)
		}
	}
	if now, _ := s.mgr.Orders(ctx, v2CrashUser, acct); len(now) != len(orders) {
		t.Fatalf("repeated requests changed the orders: %d, then %d", len(orders), len(now))
	}
	c.resubmit(s, byRequest)

	// The simulator traded each order the core has filled exactly once,
	// and nothing else: the same trades, the same position, the same cash.
	trades := c.upstreamTrades(s)
	if len(trades) != opsBefore {
		t.Fatalf("repeated requests traded upstream: %d operations, then %d", opsBefore, len(trades))
	}
	filled := 0
	for _, o := range orders {
		if o.Status == tvbridge.OrderFilled {
			filled++
		}
	}
	if len(trades) != filled {
		t.Fatalf("the simulator executed %d orders of %s, the core has %d filled: %v", len(trades), c.figi, filled, trades)
	}
	execs, err := s.mgr.Executions(ctx, v2CrashUser, acct, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var fills []string
	cash, held := float64(v2CrashDeposit), 0.0
	for _, e := range execs {
		sign := 1.0
		if e.Side == tvbridge.Sell {
			sign = -1
		}
		fills = append(fills, fmt.Sprintf("%s %g@%.4f", e.Side, e.Qty, e.Price))
		cash -= sign*e.Qty*e.Price + e.Commission
		held += sign * e.Qty
	}
	var upFills []string
	for _, tr := range trades {
		upFills = append(upFills, tr.fills...)
	}
	slices.Sort(fills)
	slices.Sort(upFills)
	if !slices.Equal(fills, upFills) {
		t.Fatalf("the core's executions differ from the simulator's trades:\n core %v\n sim  %v", fills, upFills)
	}
	pos, err := s.mgr.Positions(ctx, v2CrashUser, acct)
	if err != nil {
		t.Fatal(err)
	}
	var corePos float64
	for _, p := range pos {
		if p.FIGI == c.figi {
			corePos = p.Qty
			if p.Side == tvbridge.Sell {
				corePos = -p.Qty
			}
		}
	}
	up, err := s.client.Positions(ctx, c.account)
	if err != nil {
		t.Fatal(err)
	}
	var upPos int64
	for _, sec := range up.Securities {
		if sec.FIGI == c.figi {
			upPos = int64(sec.Balance)
		}
	}
	if corePos != held || corePos != float64(upPos) {
		t.Fatalf("position of %s: core %v (executions %v), simulator %d", c.figi, corePos, held, upPos)
	}
	var upCash float64
	for _, m := range up.Money {
		if strings.EqualFold(m.Currency, "rub") {
			upCash += m.Float64()
		}
	}
	if math.Abs(upCash-cash) > 0.005 {
		t.Fatalf("roubles: the core's executions leave %.4f, the simulator has %.4f", cash, upCash)
	}
}

// resubmit sends PostOrder again for this round's acknowledged orders
// from a venue of its own, as a retried Submit after a restart would: with
// the namespace read from the file, each key is the one the dead child
// sent, and T-Invest answers with the order it has, placing nothing (the
// caller compares the operations before and after). The venue is not run:
// its events (the fills again) reach nobody.
func (c *v2CrashCheck) resubmit(s *v2CrashStack, byRequest map[int]tvbridge.Order) {
	t := c.t
	t.Helper()
	ctx := context.Background()
	inst := v2CrashInstrument(t, s.client, c.figi)
	venue, err := tinvest.NewVenue(tinvest.VenueConfig{Client: s.client, Users: map[string][]string{v2CrashUser: {c.account}},
		Instrument: func(f string) (tvbridge.Instrument, bool) { return inst, f == inst.FIGI }, KeyNamespace: s.ns,
		Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	for n := c.roundStart; n <= c.lastAck; n++ {
		o, ok := byRequest[n]
		if c.halfPlaced[n] || !ok {
			continue
		}
		st, err := s.client.OrderState(ctx, c.account, s.key(o.ID), v2wire.OrderIDTypeRequest)
		if err != nil {
			t.Fatalf("order %s (%s) by its key: %v", o.ID, o.RequestID, err)
		}
		ref, err := venue.Submit(ctx, c.account, tvbridge.VenueOrder{ID: o.ID, FIGI: o.FIGI, Side: o.Side,
			Type: tvbridge.MarketOrder, Qty: o.Qty})
		if err != nil || ref != st.OrderID {
			t.Fatalf("order %s (%s) submitted again after the kill: %q, %v; T-Invest has it as %s", o.ID, o.RequestID, ref, err, st.OrderID)
		}
	}
}

// logOpen logs the orders the kill left open: what Restore had to finish.
func (c *v2CrashCheck) logOpen(orders []tvbridge.Order) {
	var open []string
	for _, o := range orders {
		if o.Status != tvbridge.OrderFilled {
			open = append(open, fmt.Sprintf("%s %s", o.RequestID, o.Status))
		}
	}
	c.t.Logf("reopened after the kill: %d orders, not filled: %v", len(orders), open)
}

// unsettled says what is not yet as the simulator has it, "" when nothing:
// an order filled at the simulator but not in the core, an order the
// simulator does not know that is not the one a kill interrupted.
func (c *v2CrashCheck) unsettled(s *v2CrashStack, orders []tvbridge.Order) string {
	ctx := context.Background()
	var pending []string
	for _, o := range orders {
		st, err := s.client.OrderState(ctx, s.account, s.key(o.ID), v2wire.OrderIDTypeRequest)
		n, _ := v2CrashNumber(o.RequestID)
		switch {
		case tinvest.IsNotFound(err):
			if !c.halfPlaced[n] || o.FilledQty != 0 {
				pending = append(pending, fmt.Sprintf("%s (%s, %s, filled %v) unknown to the simulator", o.ID, o.RequestID, o.Status, o.FilledQty))
			}
		case err != nil:
			c.t.Fatalf("order state of %s: %v", o.ID, err)
		case st.ExecutionReportStatus != v2wire.ExecutionReportStatusFill || int64(st.LotsExecuted) != 1:
			c.t.Fatalf("order %s (%s) at the simulator: %+v", o.ID, o.RequestID, st)
		case st.Direction != map[tvbridge.Side]v2wire.OrderDirection{tvbridge.Buy: v2wire.OrderDirectionBuy,
			tvbridge.Sell: v2wire.OrderDirectionSell}[o.Side] || st.FIGI != c.figi:
			c.t.Fatalf("order %s (%s, %s) is another order at the simulator: %+v", o.ID, o.RequestID, o.Side, st)
		case o.Status != tvbridge.OrderFilled || o.FilledQty != 1:
			pending = append(pending, fmt.Sprintf("%s (%s) filled at the simulator, %s with %v in the core", o.ID, o.RequestID, o.Status, o.FilledQty))
		}
	}
	return strings.Join(pending, "; ")
}

// v2CrashTrade is one executed buy or sell operation at the simulator.
type v2CrashTrade struct {
	id    string
	fills []string // "side qty@price", as the core's executions are compared
}

// upstreamTrades lists the simulator's executed buy and sell operations
// of the instrument on the sandbox account.
func (c *v2CrashCheck) upstreamTrades(s *v2CrashStack) []v2CrashTrade {
	ops, err := s.client.Operations(context.Background(), c.account, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		c.t.Fatal(err)
	}
	var out []v2CrashTrade
	for _, op := range ops {
		if op.FIGI != c.figi || op.State != v2wire.OperationStateExecuted {
			continue
		}
		side := tvbridge.Buy
		switch op.OperationType {
		case v2wire.OperationTypeBuy:
		case v2wire.OperationTypeSell:
			side = tvbridge.Sell
		default:
			continue
		}
		tr := v2CrashTrade{id: op.ID}
		for _, f := range op.Trades {
			tr.fills = append(tr.fills, fmt.Sprintf("%s %g@%.4f", side, float64(f.Quantity), f.Price.Float64()))
		}
		out = append(out, tr)
	}
	return out
}

// v2CrashNumber is n of a requestId v2crash-n.
func v2CrashNumber(requestID string) (int, bool) {
	s, ok := strings.CutPrefix(requestID, "v2crash-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

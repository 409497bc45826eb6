package trading_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/bolt"
	"tvbridge/clock"
	"tvbridge/internal/crashtest"
	"tvbridge/tape"
	"tvbridge/trading"
)

// The crash test runs the test binary again as a child that places market
// orders (in roubles and, every fourth, in dollars, each paid for in its
// own currency) on a bbolt store as fast as it can, with a venue that fills
// them at once, and prints "ack N" once order N is placed and filled. The
// parent SIGKILLs it at a random moment, reopens the store and checks that
// every acknowledged order is there, filled exactly once, and that the
// books balance; then the next child carries on from there.
const (
	crashEnvDB    = "TVBRIDGE_TRADING_CRASH_DB"
	crashEnvStart = "TVBRIDGE_TRADING_CRASH_START"
	crashMaxOrder = 100_000
)

func crashRequest(n int) tvbridge.OrderRequest {
	side := tvbridge.Buy
	if n%3 == 2 {
		side = tvbridge.Sell
	}
	figi := figiB
	if n%4 == 3 {
		figi = figiUSD
	}
	req := marketReq(figi, side, float64(1+n%4))
	req.RequestID = "crash-" + strconv.Itoa(n)
	return req
}

// TestCrashChild is the child; it skips unless started by TestCrashRecovery.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvDB)
	if path == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	first, err := strconv.Atoi(os.Getenv(crashEnvStart))
	if err != nil {
		t.Fatal(err)
	}
	store, err := bolt.OpenTrading(path, bolt.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	venue := crashVenue()
	venue.autoFill = 51
	venue.execSeq = first * 10 // exec ids stay unique across children
	m := crashManager(t, store, venue)
	venue.deliver = m.ApplyEventForTest
	ctx := context.Background()
	accts, err := m.Accounts(ctx, user1)
	if err != nil {
		t.Fatal(err)
	}
	for n := first; n < crashMaxOrder; n++ {
		o, err := m.PlaceOrder(ctx, user1, accts[0].ID, crashRequest(n))
		if err != nil || o.Status != tvbridge.OrderFilled {
			t.Fatalf("order %d: %+v, %v", n, o, err)
		}
		// os.Stdout is unbuffered: the ack leaves the process at once.
		fmt.Fprintf(os.Stdout, "ack %d\n", n)
	}
}

// crashCash is the crash account's starting cash.
var crashCash = []tvbridge.Money{{Currency: "RUB", Amount: 1_000_000}, {Currency: "USD", Amount: 100_000}}

func crashVenue() *fakeVenue {
	v := newFakeVenue()
	v.otherCash = crashCash[1:]
	return v
}

func crashManager(t testing.TB, store trading.Store, venue *fakeVenue) *trading.Manager {
	market := newFakeMarket()
	market.set(figiB, 50, 51, 50.5)
	market.set(figiUSD, 50, 51, 50.5)
	m, err := trading.New(trading.Config{Venue: venue, Market: market, Tape: tape.New(tape.Config{Capacity: 16}),
		Store: store, Instrument: lookup, Rates: usdRates, Clock: clock.NewFake(start), Logger: quietLogger(),
		MaxHistory: crashMaxOrder, MaxExecutions: crashMaxOrder})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashEnvDB) != "" {
		t.Skip("inside the child")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const seed = 20240305
	r := rand.New(rand.NewPCG(seed, 1))
	path := filepath.Join(t.TempDir(), "trading.db")
	next := 0
	halfPlaced := map[int]bool{} // orders a kill may have interrupted
	for round := range 6 {
		killAfter := 1 + r.IntN(40)
		jitter := time.Duration(r.IntN(3000)) * time.Microsecond
		lastAck := runCrashChild(t, path, next, killAfter, jitter)
		halfPlaced[lastAck+1] = true
		verifyAfterCrash(t, path, lastAck, halfPlaced)
		next = lastAck + 2
		t.Logf("round %d: killed after %d acks + %v; last ack %d", round, killAfter, jitter, lastAck)
	}
}

// runCrashChild starts a child placing orders from start, SIGKILLs it after killAfter
// acks plus a jitter, and returns the last number it acked.
func runCrashChild(t *testing.T, path string, start, killAfter int, jitter time.Duration) int {
	t.Helper()
	return crashtest.KillAfterAcks(t, []string{crashEnvDB + "=" + path, crashEnvStart + "=" + strconv.Itoa(start)},
		start, killAfter, jitter)
}

// verifyAfterCrash reopens the store and checks it.
func verifyAfterCrash(t *testing.T, path string, lastAck int, halfPlaced map[int]bool) {
	t.Helper()
	store, err := bolt.OpenTrading(path, bolt.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer store.Close()
	venue := crashVenue()
	m := crashManager(t, store, venue)
	defer m.Close()
	ctx := context.Background()
	accts, err := m.Accounts(ctx, user1)
	if err != nil {
		t.Fatal(err)
	}
	acct := accts[0].ID
	for n := 0; n <= lastAck; n++ {
		if halfPlaced[n] {
			continue
		}
		o, err := m.PlaceOrder(ctx, user1, acct, crashRequest(n))
		if err != nil || o.Status != tvbridge.OrderFilled || o.RequestID != crashRequest(n).RequestID {
			t.Fatalf("acknowledged order %d after the crash: %+v, %v", n, o, err)
		}
		// Its request id stays its own: reused for another order, it is refused.
		other := crashRequest(n)
		other.Side = other.Side.Opposite()
		if o, err := m.PlaceOrder(ctx, user1, acct, other); code(err) != tvbridge.ErrRequestReused {
			t.Fatalf("request id of acknowledged order %d reused for another order after the crash: %+v, %v", n, o, err)
		}
	}
	if len(venue.liveIDs()) != 0 {
		t.Fatalf("a replayed request was placed again: %v", venue.liveIDs())
	}
	// An order being placed when a process died may be there, placing.
	orders, _ := m.Orders(ctx, user1, acct)
	for _, o := range orders {
		n, _ := strconv.Atoi(strings.TrimPrefix(o.RequestID, "crash-"))
		if o.Status != tvbridge.OrderFilled && (o.Status != tvbridge.OrderPlacing || !halfPlaced[n]) {
			t.Fatalf("unexpected order after the crash: %+v", o)
		}
	}
	var v propView
	v.Orders = orders
	v.Positions, _ = m.Positions(ctx, user1, acct)
	v.Executions, _ = m.Executions(ctx, user1, acct, "", 0)
	v.State, _ = m.State(ctx, user1, acct)
	all := map[string]tvbridge.Order{}
	for _, o := range orders {
		all[o.ID] = o
	}
	deposits := map[string]float64{}
	for _, c := range crashCash {
		deposits[c.Currency] = c.Amount
	}
	if err := checkBookkeeping(v, all, deposits); err != nil {
		t.Fatalf("after the crash: %v", err)
	}
	if usd := currencyOf(v.State, "USD"); usd.MarginUsed == 0 && lastAck >= 3 {
		t.Fatalf("no dollar position after %d orders, every fourth in dollars: %+v", lastAck+1, v.State)
	}
}

package paper

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tape"
)

func TestRunFillsOnTapeTradesQuotesAndSweeps(t *testing.T) {
	f := newFixture(t, nil)
	f.run(t)
	f.submit(t, limit("b", one, tvbridge.Buy, 5, 100))

	// A trade at the limit does nothing; the next one goes through it. The
	// tape is in order, so the fill proves the first trade was matched too.
	f.tape.Append(trade(one, 100, 9), trade(one, 99.5, 2))
	checkEvents(t, receive(t, f.v, 1), fillOf("b", 2, 100))

	// A quote makes the venue look at the new, crossing book at once.
	f.market.setBook(one, f.clk.Now(), nil, levels(99, 1))
	f.tape.Append(quote(one))
	checkEvents(t, receive(t, f.v, 1), fillOf("b", 1, 100))

	// A book no quote announced is found by the sweep.
	f.clk.Advance(500 * time.Millisecond)
	f.market.setBook(one, f.clk.Now(), nil, levels(98.5, 1))
	f.clk.Advance(500 * time.Millisecond)
	checkEvents(t, receive(t, f.v, 1), fillOf("b", 1, 100))
}

func TestRunRefusesASecondRun(t *testing.T) {
	f := newFixture(t, nil)
	f.run(t)
	if err := f.v.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Run: %v", err)
	}
}

// syncBuffer is a log sink safe for the venue's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunResubscribesWhenItFallsBehindTheTape(t *testing.T) {
	var logs syncBuffer
	f := newFixture(t, func(c *Config) {
		c.Tape = tape.New(tape.Config{Capacity: 8})
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	f.tape = f.v.cfg.Tape.(*tape.Tape)
	f.run(t)
	f.submit(t, limit("b", one, tvbridge.Buy, 5, 100))

	// Hold the venue inside Book while the tape laps its reader.
	entered, release := make(chan struct{}, 4), make(chan struct{})
	f.market.setHook(func(string) {
		entered <- struct{}{}
		<-release
	})
	f.tape.Append(quote(one))
	<-entered
	for range 20 {
		f.tape.Append(trade(lot10, 100, 1))
	}
	close(release)
	<-entered // the sweep after resubscribing: the new reader is in place

	f.tape.Append(trade(one, 99, 3))
	checkEvents(t, receive(t, f.v, 1), fillOf("b", 3, 100))
	if !strings.Contains(logs.String(), "resubscribing") {
		t.Errorf("falling behind should be logged; log:\n%s", logs.String())
	}
}

func TestRunRecoversFromAPanicPerEntry(t *testing.T) {
	var logs syncBuffer
	f := newFixture(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	f.run(t)
	f.submit(t, limit("b", one, tvbridge.Buy, 5, 100))
	f.market.setHook(func(string) { panic("corrupt book") })

	f.tape.Append(quote(one), trade(one, 99, 1))
	checkEvents(t, receive(t, f.v, 1), fillOf("b", 1, 100))
	if !strings.Contains(logs.String(), "corrupt book") {
		t.Errorf("the panic should be logged; log:\n%s", logs.String())
	}
}

// TestNoEventIsDroppedUnderABurst checks that matching never waits for the
// consumer: far more events than the channel holds are produced while
// nobody reads, then every one arrives, in order per order.
func TestNoEventIsDroppedUnderABurst(t *testing.T) {
	const orders = 3000
	f := newFixture(t, nil)

	// Submits while nothing even runs the pump: 3 fills and a cancel each.
	for i := range orders {
		f.clk.Advance(time.Millisecond) // a new snapshot per order
		f.market.setBook(one, f.clk.Now(), nil, levels(100, 1, 100.5, 1, 101, 1))
		f.submit(t, market(fmt.Sprintf("m%d", i), one, tvbridge.Buy, 4))
	}
	// Resting orders filled from the tape while Run runs and nobody reads.
	f.run(t)
	for i := range orders {
		f.submit(t, limit(fmt.Sprintf("l%d", i), lot10, tvbridge.Buy, 10, 100))
	}
	for range orders {
		f.tape.Append(trade(lot10, 99, 1))
	}

	evs := receive(t, f.v, 5*orders)
	checkBurst(t, evs, orders)
}

func checkBurst(t *testing.T, evs []tvbridge.VenueEvent, orders int) {
	t.Helper()
	perOrder := map[string][]brief{}
	execIDs := map[string]bool{}
	for _, e := range evs {
		perOrder[e.OrderID] = append(perOrder[e.OrderID], brief{e.Kind, e.OrderID, e.Qty, e.Price})
		if e.Kind == tvbridge.VenueFill {
			if execIDs[e.ExecID] {
				t.Fatalf("ExecID %s repeated", e.ExecID)
			}
			execIDs[e.ExecID] = true
		}
	}
	for i := range orders {
		id := fmt.Sprintf("m%d", i)
		want := []brief{fillOf(id, 1, 100), fillOf(id, 1, 100.5), fillOf(id, 1, 101), cancelOf(id, 1)}
		if got := perOrder[id]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: events %+v, want %+v", id, got, want)
		}
		id = fmt.Sprintf("l%d", i)
		if got := perOrder[id]; len(got) != 1 || got[0] != fillOf(id, 10, 100) {
			t.Fatalf("%s: events %+v, want one fill", id, got)
		}
	}
}

func TestEventsWaitForTheNextRun(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.v.Run(ctx) }()
	f.clk.BlockUntil(1)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}

	// Queued while no Run delivers, delivered by the next one.
	f.market.setBook(one, t0, nil, levels(100, 5))
	f.submit(t, market("m", one, tvbridge.Buy, 2))
	f.run(t)
	checkEvents(t, receive(t, f.v, 1), fillOf("m", 2, 100))
}

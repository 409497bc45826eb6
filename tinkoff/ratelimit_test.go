package tinkoff

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// queued is how many callers wait in l's queue.
func (l *limiter) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// waitQueued blocks until l has n waiters queued. The waiters enqueue before
// they block, so this is an event, not a timing guess; the deadline is a
// safety net.
func waitQueued(t *testing.T, l *limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.queued() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters queued, want %d", l.queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// startWaiter runs l.wait with priority p in a goroutine and reports name on
// done once it returns (with its error, if any), after it queued.
func startWaiter(t *testing.T, l *limiter, ctx context.Context, p tvbridge.Priority, name string, done chan<- string) {
	t.Helper()
	before := l.queued()
	go func() {
		if err := l.wait(tvbridge.WithPriority(ctx, p)); err != nil {
			done <- name + ": " + err.Error()
			return
		}
		done <- name
	}()
	waitQueued(t, l, before+1)
}

// With the window full, urgent callers that arrive last are served first,
// then normal, then background ones in arrival order, one per freed slot.
func TestLimiterServesByPriority(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(clk, 1, time.Minute)
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 10)
	ctx := context.Background()
	for _, w := range []struct {
		p    tvbridge.Priority
		name string
	}{
		{tvbridge.PriorityBackground, "B1"}, {tvbridge.PriorityBackground, "B2"},
		{tvbridge.PriorityBackground, "B3"}, {tvbridge.PriorityNormal, "N1"},
		{tvbridge.PriorityUrgent, "U1"}, {tvbridge.PriorityUrgent, "U2"},
	} {
		startWaiter(t, l, ctx, w.p, w.name, done)
	}
	for i, want := range []string{"U1", "U2", "N1", "B1", "B2", "B3"} {
		clk.BlockUntil(1) // the keeper timed the next free slot
		clk.Advance(59 * time.Second)
		if n := l.queued(); n != 6-i {
			t.Fatalf("step %d: %d waiters left before the slot freed, want %d", i, n, 6-i)
		}
		clk.Advance(time.Second)
		if got := <-done; got != want {
			t.Fatalf("slot %d went to %s, want %s", i+1, got, want)
		}
		if n := l.queued(); n != 5-i {
			t.Fatalf("step %d: %d waiters left, want %d: one slot, one grant", i, n, 5-i)
		}
	}
	if clk.Waiters() != 0 {
		t.Fatalf("%d timers left with nobody waiting", clk.Waiters())
	}
}

// An urgent caller that arrives while the window is full gets the next
// slot even when its keeper is a background waiter that has been timing it.
func TestLimiterUrgentOvertakesTheKeeper(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(clk, 2, time.Minute)
	for range 2 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(30 * time.Second)
	done := make(chan string, 4)
	startWaiter(t, l, context.Background(), tvbridge.PriorityBackground, "B", done)
	clk.BlockUntil(1)
	startWaiter(t, l, context.Background(), tvbridge.PriorityUrgent, "U", done)
	clk.Advance(30 * time.Second) // both grants of t=0 expire: two slots
	got := map[string]bool{<-done: true, <-done: true}
	if !got["U"] || !got["B"] {
		t.Fatalf("two free slots went to %v, want U and B", got)
	}

	// Now full again (U and B at t=60s). A background queued first and an
	// urgent queued second: the single slot freed at 120s goes to U2.
	l2 := newLimiter(clk, 1, time.Minute)
	if err := l2.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	startWaiter(t, l2, context.Background(), tvbridge.PriorityBackground, "B2", done)
	startWaiter(t, l2, context.Background(), tvbridge.PriorityUrgent, "U2", done)
	clk.BlockUntil(1)
	clk.Advance(time.Minute)
	if first := <-done; first != "U2" {
		t.Fatalf("the freed slot went to %s, want U2", first)
	}
	clk.BlockUntil(1)
	clk.Advance(time.Minute)
	if second := <-done; second != "B2" {
		t.Fatalf("then %s, want B2", second)
	}
}

// A cancelled waiter leaves the queue and its timer; when it was the keeper
// the next waiter takes over, and nobody's slot moves.
func TestLimiterCancelLeavesNoTrace(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(clk, 1, time.Minute)
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	startWaiter(t, l, ctx, tvbridge.PriorityUrgent, "keeper", done)
	clk.BlockUntil(1)
	startWaiter(t, l, context.Background(), tvbridge.PriorityBackground, "B", done)
	cancel()
	if got := <-done; got != "keeper: "+context.Canceled.Error() {
		t.Fatalf("cancelled waiter returned %q", got)
	}
	if n := l.queued(); n != 1 {
		t.Fatalf("%d queued after the cancel, want 1", n)
	}
	clk.BlockUntil(1) // B took over the timer
	clk.Advance(time.Minute)
	if got := <-done; got != "B" {
		t.Fatalf("got %q, want B served at the slot the keeper would have had", got)
	}
	if clk.Waiters() != 0 || l.queued() != 0 {
		t.Fatalf("left %d timers and %d waiters", clk.Waiters(), l.queued())
	}
}

// A slot granted to a waiter whose context ends in the same instant goes
// back to the window and on to the next waiter.
func TestLimiterGrantGivenBackOnCancel(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(clk, 1, time.Minute)
	l.mu.Lock()
	w := &waiter{prio: tvbridge.PriorityNormal, wake: make(chan struct{}, 1)}
	l.enqueueLocked(w)
	l.dispatchLocked(clk.Now())
	l.mu.Unlock()
	if !w.granted {
		t.Fatal("not granted with room in the window")
	}
	if err := l.cancel(w, context.Canceled); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if d := l.tryAcquire(); d != 0 {
		t.Fatalf("the given-back slot is not free: wait %v", d)
	}
}

func TestPriorityContext(t *testing.T) {
	ctx := context.Background()
	if p := tvbridge.PriorityFrom(ctx); p != tvbridge.PriorityNormal {
		t.Fatalf("default priority %v, want normal", p)
	}
	var zero tvbridge.Priority
	if zero != tvbridge.PriorityNormal {
		t.Fatal("the zero Priority is not PriorityNormal")
	}
	for _, p := range []tvbridge.Priority{tvbridge.PriorityBackground, tvbridge.PriorityUrgent, 7} {
		if got := tvbridge.PriorityFrom(tvbridge.WithPriority(ctx, p)); got != p {
			t.Errorf("PriorityFrom(WithPriority(%v)) = %v", p, got)
		}
	}
	if s := fmt.Sprint(tvbridge.PriorityBackground, tvbridge.PriorityNormal, tvbridge.PriorityUrgent, tvbridge.Priority(7)); s != "background normal urgent priority(7)" {
		t.Errorf("String: %q", s)
	}
	if !(tvbridge.PriorityUrgent > tvbridge.PriorityNormal && tvbridge.PriorityNormal > tvbridge.PriorityBackground) {
		t.Error("priorities out of order")
	}
}

// Through the client: with the /market budget spent, an urgent candles
// request reaches the service before the background ones queued earlier.
func TestClientUrgentRequestOvertakesBackfill(t *testing.T) {
	f := newFakeService(t)
	f.ok(http.MethodGet, "/openapi/market/candles", map[string]any{"figi": "X", "interval": "1min", "candles": []any{}})
	clk := testClock()
	c, _ := f.client(ClientConfig{Clock: clk, MarketPerMinute: 1}, false)
	from := clk.Now().Add(-time.Hour)
	candles := func(p tvbridge.Priority, figi string) error {
		_, err := c.Candles(tvbridge.WithPriority(context.Background(), p), figi, from, from.Add(time.Minute), tvbridge.Interval1Min)
		return err
	}
	if err := candles(tvbridge.PriorityBackground, "FIRST"); err != nil {
		t.Fatal(err)
	}
	lim := c.limiters[BucketMarket]
	errs := make(chan error, 4)
	for i, figi := range []string{"BG1", "BG2", "URGENT"} {
		p := tvbridge.PriorityBackground
		if figi == "URGENT" {
			p = tvbridge.PriorityUrgent
		}
		go func() { errs <- candles(p, figi) }()
		waitQueued(t, lim, i+1)
	}
	for range 3 {
		clk.BlockUntil(1)
		clk.Advance(time.Minute)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var order []string
	for _, r := range f.recorded() {
		order = append(order, r.Query.Get("figi"))
	}
	if fmt.Sprint(order) != "[FIRST URGENT BG1 BG2]" {
		t.Fatalf("requests reached the service in the order %v", order)
	}
}

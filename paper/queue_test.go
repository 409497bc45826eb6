package paper

import (
	"context"
	"fmt"
	"testing"

	"tvbridge"
)

func ev(i int) tvbridge.VenueEvent {
	return tvbridge.VenueEvent{Kind: tvbridge.VenueFill, OrderID: fmt.Sprint(i)}
}

// TestPumpStoppedMidSendLosesNothing stops a pump while it waits to hand
// over an event; the next pump must deliver that event first.
func TestPumpStoppedMidSendLosesNothing(t *testing.T) {
	q := newQueue()
	q.push(ev(1), ev(2), ev(3))
	out := make(chan tvbridge.VenueEvent) // unbuffered: the pump waits on us

	pump := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); q.pump(ctx, out) }()
		return func() { cancel(); <-done }
	}
	stop := pump()
	if got := <-out; got.OrderID != "1" {
		t.Fatalf("first event %q", got.OrderID)
	}
	stop() // the pump holds event 2, unsent
	stop = pump()
	defer stop()
	q.push(ev(4))
	for _, want := range []string{"2", "3", "4"} {
		if got := <-out; got.OrderID != want {
			t.Fatalf("got event %q, want %q", got.OrderID, want)
		}
	}
}

// TestQueueKeepsOrderAcrossCompaction interleaves pushes and pops across
// many compactions of a long backlog.
func TestQueueKeepsOrderAcrossCompaction(t *testing.T) {
	q := newQueue()
	pushed, popped := 0, 0
	for round := range 50 {
		for range 300 + round {
			q.push(ev(pushed))
			pushed++
		}
		for range 250 {
			got, ok := q.peek()
			if !ok || got.OrderID != fmt.Sprint(popped) {
				t.Fatalf("pop %d: got %q (%v)", popped, got.OrderID, ok)
			}
			q.pop()
			popped++
		}
	}
	for ; popped < pushed; popped++ {
		got, _ := q.peek()
		if got.OrderID != fmt.Sprint(popped) {
			t.Fatalf("pop %d: got %q", popped, got.OrderID)
		}
		q.pop()
	}
	if _, ok := q.peek(); ok {
		t.Fatal("queue not empty")
	}
}

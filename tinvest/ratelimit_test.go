package tinvest

import (
	"context"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

func (l *limiter) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

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

// With the window full, urgent callers are served first, then normal,
// then background, one per freed slot; a hold delays every grant.
func TestLimiterPriorityAndHold(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(clk, 1, time.Minute)
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 4)
	for i, w := range []struct {
		p    tvbridge.Priority
		name string
	}{{tvbridge.PriorityBackground, "B"}, {tvbridge.PriorityNormal, "N"}, {tvbridge.PriorityUrgent, "U"}} {
		go func() {
			if err := l.wait(tvbridge.WithPriority(context.Background(), w.p)); err == nil {
				done <- w.name
			}
		}()
		waitQueued(t, l, i+1)
	}
	l.holdUntil(clk.Now().Add(90 * time.Second))
	for _, want := range []string{"U", "N", "B"} {
		clk.BlockUntil(1)
		clk.Advance(time.Minute)
		if want == "U" { // the hold outlasts the window
			select {
			case got := <-done:
				t.Fatalf("%s served during the hold", got)
			default:
			}
			clk.BlockUntil(1)
			clk.Advance(30 * time.Second)
		}
		if got := <-done; got != want {
			t.Fatalf("slot went to %s, want %s", got, want)
		}
	}
}

// BenchmarkLimiterAcquire is the limiter's cost when it need not wait.
func BenchmarkLimiterAcquire(b *testing.B) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(clk, 600, time.Minute)
	for b.Loop() {
		if l.tryAcquire() > 0 {
			clk.Advance(time.Minute)
		}
	}
}

package clock

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func TestFakeTimerFiresOnAdvance(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	f.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("timer fired early")
	default:
	}
	f.Advance(time.Millisecond)
	select {
	case got := <-tm.C():
		if !got.Equal(t0.Add(time.Second)) {
			t.Fatalf("fired with %v", got)
		}
	default:
		t.Fatal("timer did not fire")
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported active")
	}
}

func TestFakeTickerSkipsMissedTicks(t *testing.T) {
	f := NewFake(t0)
	tk := f.NewTicker(time.Second)
	f.Advance(10 * time.Second)
	if got := <-tk.C(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("first tick %v", got)
	}
	select {
	case <-tk.C():
		t.Fatal("missed ticks were queued")
	default:
	}
	f.Advance(time.Second)
	if got := <-tk.C(); !got.Equal(t0.Add(11 * time.Second)) {
		t.Fatalf("next tick %v", got)
	}
	tk.Stop()
	if f.Waiters() != 0 {
		t.Fatal("stopped ticker still waiting")
	}
}

func TestFakeBlockUntil(t *testing.T) {
	f := NewFake(t0)
	done := make(chan struct{})
	go func() {
		tm := f.NewTimer(time.Minute)
		<-tm.C()
		close(done)
	}()
	f.BlockUntil(1)
	f.Advance(time.Minute)
	<-done
}

func TestFakeResetAndSetNeverBackwards(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Hour)
	tm.Reset(time.Second)
	f.Set(t0.Add(-time.Hour))
	if !f.Now().Equal(t0) {
		t.Fatal("Set moved the clock backwards")
	}
	f.Set(t0.Add(time.Second))
	select {
	case <-tm.C():
	default:
		t.Fatal("reset timer did not fire")
	}
}

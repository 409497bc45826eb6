package hist

import (
	"sync"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	h := New([]time.Duration{time.Millisecond, 10 * time.Millisecond})
	for _, d := range []time.Duration{0, time.Millisecond, time.Millisecond + 1, 10 * time.Millisecond, time.Second} {
		h.Observe(d)
	}
	s := h.Snapshot()
	// Bounds are inclusive: 1 ms lands in the first bucket, 1 ms + 1 ns in
	// the second, 1 s above every bound.
	if want := []uint64{2, 2, 1}; !equal(s.Counts, want) {
		t.Fatalf("counts %v, want %v", s.Counts, want)
	}
	if s.Count != 5 {
		t.Errorf("count %d, want 5", s.Count)
	}
	if want := 2*time.Millisecond + 1 + 10*time.Millisecond + time.Second; s.Sum != want {
		t.Errorf("sum %v, want %v", s.Sum, want)
	}
	cum := s.Cumulative()
	if cum[0.001] != 2 || cum[0.01] != 4 || len(cum) != 2 {
		t.Errorf("cumulative %v, want 0.001:2 0.01:4", cum)
	}
}

func TestDefaultBoundsAscend(t *testing.T) {
	h := New(nil)
	if len(h.Snapshot().Counts) != len(Latency)+1 {
		t.Fatal("default histogram has the wrong number of buckets")
	}
}

func TestBadBoundsPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted bounds that do not ascend")
		}
	}()
	New([]time.Duration{time.Second, time.Second})
}

// Concurrent observers lose nothing (run with -race).
func TestConcurrent(t *testing.T) {
	h := New(nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 4000 {
		t.Fatalf("count %d, want 4000", s.Count)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BenchmarkObserve is the cost a domain package pays per observation:
//
//	go test -run '^$' -bench . ./internal/hist/
func BenchmarkObserve(b *testing.B) {
	h := New(nil)
	b.ReportAllocs()
	d := 300 * time.Microsecond
	for b.Loop() {
		h.Observe(d)
	}
}

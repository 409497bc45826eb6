package bolt

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
)

// m is minute n of day0, to keep coverage tables readable.
func m(n int) time.Time { return day0.Add(time.Duration(n) * time.Minute) }

func rng(from, to int) tvbridge.Range { return tvbridge.Range{From: m(from), To: m(to)} }

func TestCoverageMerges(t *testing.T) {
	tests := []struct {
		name string
		add  [][]tvbridge.Range // one PutMinutes per element
		want []tvbridge.Range
	}{
		{"single", [][]tvbridge.Range{{rng(0, 5)}}, []tvbridge.Range{rng(0, 5)}},
		{"touching minute by minute", [][]tvbridge.Range{{rng(0, 1)}, {rng(1, 2)}, {rng(2, 3)}}, []tvbridge.Range{rng(0, 3)}},
		{"touching from the left", [][]tvbridge.Range{{rng(5, 8)}, {rng(2, 5)}}, []tvbridge.Range{rng(2, 8)}},
		{"gap stays a gap", [][]tvbridge.Range{{rng(0, 2)}, {rng(3, 5)}}, []tvbridge.Range{rng(0, 2), rng(3, 5)}},
		{"fills a gap", [][]tvbridge.Range{{rng(0, 2)}, {rng(3, 5)}, {rng(2, 3)}}, []tvbridge.Range{rng(0, 5)}},
		{"swallows several", [][]tvbridge.Range{{rng(1, 2), rng(4, 5), rng(7, 8)}, {rng(0, 10)}}, []tvbridge.Range{rng(0, 10)}},
		{"inside existing", [][]tvbridge.Range{{rng(0, 10)}, {rng(3, 4)}}, []tvbridge.Range{rng(0, 10)}},
		{"overlapping both ends", [][]tvbridge.Range{{rng(0, 3), rng(6, 9)}, {rng(2, 7)}}, []tvbridge.Range{rng(0, 9)}},
		{"same start, longer", [][]tvbridge.Range{{rng(2, 3)}, {rng(2, 6)}}, []tvbridge.Range{rng(2, 6)}},
		{"empty range ignored", [][]tvbridge.Range{{rng(2, 3), rng(7, 7)}}, []tvbridge.Range{rng(2, 3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			for _, cov := range tt.add {
				if _, err := s.PutMinutes(ctx, "F", nil, cov); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Covered(ctx, "F", day0, day0.AddDate(0, 0, 1))
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Covered = %v, %v; want %v", got, err, tt.want)
			}
			if stored := storedSpans(t, s, "F"); len(stored) != len(tt.want) {
				t.Fatalf("stored %d entries, want %d merged ones: %v", len(stored), len(tt.want), stored)
			}
		})
	}
}

func TestCoveredClips(t *testing.T) {
	s, _ := openTest(t)
	if _, err := s.PutMinutes(ctx, "F", nil, []tvbridge.Range{rng(10, 20), rng(30, 40)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     []tvbridge.Range
	}{
		{"inside one", m(12), m(15), []tvbridge.Range{rng(12, 15)}},
		{"across both", m(15), m(35), []tvbridge.Range{rng(15, 20), rng(30, 35)}},
		{"in the gap", m(20), m(30), nil},
		{"sub-minute bounds", m(12).Add(30 * time.Second), m(40).Add(time.Hour), []tvbridge.Range{
			{From: m(12).Add(30 * time.Second), To: m(20)}, rng(30, 40)}},
		{"from before 1970", time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC), m(11), []tvbridge.Range{rng(10, 11)}},
		{"inverted", m(35), m(15), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Covered(ctx, "F", tt.from, tt.to)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Covered = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestCoverageMatchesModel adds random ranges and compares with a per-minute
// bitmap, the obviously correct model.
func TestCoverageMatchesModel(t *testing.T) {
	s, _ := openTest(t)
	r := rand.New(rand.NewPCG(1, 2))
	const span = 200
	var model [span]bool
	for round := range 150 {
		from := r.IntN(span)
		to := min(span, from+1+r.IntN(12))
		if _, err := s.PutMinutes(ctx, "F", nil, []tvbridge.Range{rng(from, to)}); err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			model[i] = true
		}
		qFrom, qTo := r.IntN(span), r.IntN(span+1)
		got, err := s.Covered(ctx, "F", m(qFrom), m(qTo))
		if err != nil {
			t.Fatal(err)
		}
		if want := modelRanges(model[:], qFrom, qTo); !slices.Equal(got, want) {
			t.Fatalf("round %d: Covered(%d, %d) = %v, want %v", round, qFrom, qTo, got, want)
		}
	}
	if stored, want := storedSpans(t, s, "F"), modelRanges(model[:], 0, span); len(stored) != len(want) {
		t.Fatalf("stored %d entries, want %d merged ones", len(stored), len(want))
	}
}

func modelRanges(model []bool, from, to int) []tvbridge.Range {
	var out []tvbridge.Range
	for i := from; i < to; i++ {
		if !model[i] {
			continue
		}
		if n := len(out); n > 0 && out[n-1].To.Equal(m(i)) {
			out[n-1].To = m(i + 1)
		} else {
			out = append(out, rng(i, i+1))
		}
	}
	return out
}

// storedSpans reads the raw coverage entries, to check they stay merged.
func storedSpans(t *testing.T, s *Store, figi string) []span {
	t.Helper()
	var out []span
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := subBucket(tx, figi, bucketCoverage)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			sp, err := decodeSpan(k, v)
			out = append(out, sp)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(out); i++ {
		if out[i].from <= out[i-1].to {
			t.Fatalf("stored ranges %v and %v overlap or touch", out[i-1], out[i])
		}
	}
	return out
}

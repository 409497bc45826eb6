package ingest

import (
	"testing"
	"time"

	"tvbridge"
)

var t0 = time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)

func rng(from, to int) tvbridge.Range {
	return tvbridge.Range{From: t0.Add(time.Duration(from) * time.Minute), To: t0.Add(time.Duration(to) * time.Minute)}
}

func TestComplement(t *testing.T) {
	cases := []struct {
		name    string
		covered []tvbridge.Range
		want    []tvbridge.Range
	}{
		{"nothing covered", nil, []tvbridge.Range{rng(0, 100)}},
		{"all covered", []tvbridge.Range{rng(-10, 110)}, nil},
		{"holes", []tvbridge.Range{rng(10, 20), rng(30, 40)}, []tvbridge.Range{rng(0, 10), rng(20, 30), rng(40, 100)}},
		{"touching the edges", []tvbridge.Range{rng(0, 50), rng(60, 100)}, []tvbridge.Range{rng(50, 60)}},
		{"overlapping input", []tvbridge.Range{rng(5, 30), rng(20, 40)}, []tvbridge.Range{rng(0, 5), rng(40, 100)}},
	}
	for _, c := range cases {
		got := complement(rng(0, 100), c.covered)
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if !got[i].From.Equal(c.want[i].From) || !got[i].To.Equal(c.want[i].To) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	}
}

func TestSplitDays(t *testing.T) {
	r := tvbridge.Range{From: t0.Add(20 * time.Hour), To: t0.Add(50 * time.Hour)}
	got := splitDays(r)
	if len(got) != 3 || !got[0].To.Equal(t0.Add(24*time.Hour)) || !got[1].To.Equal(t0.Add(48*time.Hour)) || !got[2].To.Equal(r.To) {
		t.Fatalf("splitDays = %v", got)
	}
	for _, p := range got {
		if p.To.Sub(p.From) > 24*time.Hour {
			t.Fatalf("piece %v longer than a day", p)
		}
	}
}

func TestMergeBarsPrefersStore(t *testing.T) {
	stored := []tvbridge.Bar{{Time: t0, Close: 1}, {Time: t0.Add(2 * time.Minute), Close: 3}}
	mem := []tvbridge.Bar{{Time: t0, Close: 9}, {Time: t0.Add(time.Minute), Close: 2}}
	got := mergeBars(stored, mem)
	if len(got) != 3 || got[0].Close != 1 || got[1].Close != 2 || got[2].Close != 3 {
		t.Fatalf("mergeBars = %+v", got)
	}
}

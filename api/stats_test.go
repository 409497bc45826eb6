package api

import (
	"testing"
)

// /history is counted under a fixed set of resolution labels, whatever
// resolutions clients ask for.
func TestHistoryStatsByResolution(t *testing.T) {
	env := newTestEnv(t, nil)
	from, to := at(0, 1000), at(0, 1100)
	for _, res := range []string{"1", "1", "5", "1D", "D", "7", "2W"} {
		env.fetchBars(t, histURL("SBER", res, from, to))
	}
	env.get(t, histURL("SBER", "banana", from, to))
	got := map[string]uint64{}
	for _, h := range env.h.Stats().History {
		got[h.Resolution] = h.Latency.Count
		if h.Latency.Count != 0 && h.Latency.Sum <= 0 {
			t.Errorf("%s: %d requests took no time", h.Resolution, h.Latency.Count)
		}
	}
	want := map[string]uint64{"1": 2, "5": 1, "1D": 2, "other": 2, "invalid": 1}
	if len(got) != len(HistoryResolutions) {
		t.Errorf("%d labels, want %d", len(got), len(HistoryResolutions))
	}
	for label, n := range got {
		if n != want[label] {
			t.Errorf("resolution %q counted %d times, want %d", label, n, want[label])
		}
	}
}

func TestResolutionLabelsAreTheirNames(t *testing.T) {
	for i, label := range HistoryResolutions[:resOther] {
		r, err := parseResolution(label)
		if err != nil {
			t.Fatal(err)
		}
		if got := resolutionLabel(r); got != i {
			t.Errorf("%s labelled %q", label, HistoryResolutions[got])
		}
	}
}

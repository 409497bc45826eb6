package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"tvbridge/internal/hist"
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
		got[h.Resolution] = h.Requests
		if h.Latency.Count != 0 {
			t.Errorf("%s: %d requests timed without a RequestTimer", h.Resolution, h.Latency.Count)
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

// timingRecorder is a RequestTimer, as the metrics middleware's writer is.
type timingRecorder struct {
	*httptest.ResponseRecorder
	also *hist.Histogram
}

func (w *timingRecorder) AlsoObserve(h *hist.Histogram) { w.also = h }

// Behind a RequestTimer, /history hands it its resolution's histogram
// rather than reading the clock itself.
func TestHistoryTimedByRequestTimer(t *testing.T) {
	env := newTestEnv(t, nil)
	w := &timingRecorder{ResponseRecorder: httptest.NewRecorder()}
	env.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, histURL("SBER", "5", at(0, 1000), at(0, 1100)), nil))
	if w.Code != http.StatusOK || w.also == nil {
		t.Fatalf("status %d, histogram handed over: %v", w.Code, w.also != nil)
	}
	w.also.Observe(time.Millisecond) // what the timer does when the request is done
	for _, h := range env.h.Stats().History {
		if want := map[bool]uint64{true: 1}[h.Resolution == "5"]; h.Latency.Count != want || h.Requests != want {
			t.Errorf("%s: %d requests, %d timed; want %d", h.Resolution, h.Requests, h.Latency.Count, want)
		}
	}
}

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

func rawHistory(t *testing.T, base, query string) []byte {
	t.Helper()
	resp, err := http.Get(base + "/history?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/history?%s: %d %v", query, resp.StatusCode, err)
	}
	return body
}

// TestHistoryRulesAgainstSimulator runs TradingView's /history acceptance
// rules against the whole bridge, on data backfilled from the simulator.
func TestHistoryRulesAgainstSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("backfills days of history")
	}
	// Thursday 12:00 Moscow; Wednesday's session is complete and closed.
	now := time.Date(2026, 11, 19, 9, 0, 0, 0, time.UTC)
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			ex := newExchange(t, now, smallUniverse)
			b := startBridgeWith(t, ex, t.TempDir(), 4*24*time.Hour, legacy)
			defer b.stop(t)
			waitBackfill(t, b)
			historyRules(t, b.api.URL, legacy)
		})
	}
}

func historyRules(t *testing.T, base string, legacy bool) {
	open := time.Date(2026, 11, 18, 7, 0, 0, 0, time.UTC) // Wednesday 10:00 Moscow
	q := func(from, to time.Time) string {
		return fmt.Sprintf("symbol=SBER&resolution=1&from=%d&to=%d", from.Unix(), to.Unix())
	}

	// from == to returns exactly the bar at that time.
	bar := open.Add(37 * time.Minute)
	one := getHistory(t, base, "SBER", "1", bar.Unix(), bar.Unix())
	if len(one.T) != 1 || one.T[0] != bar.Unix() {
		t.Errorf("from == to: %v", one.T)
	}

	// A 50-minute window holds at most 50 bars, all inside it (inclusive).
	from := open.Add(time.Hour)
	w := getHistory(t, base, "SBER", "1", from.Unix(), from.Add(49*time.Minute).Unix())
	if len(w.T) == 0 || len(w.T) > 50 || w.T[0] < from.Unix() || w.T[len(w.T)-1] > from.Add(49*time.Minute).Unix() {
		t.Errorf("50-minute window: %d bars from %v", len(w.T), w.T)
	}
	for i := 1; i < len(w.T); i++ {
		if w.T[i] <= w.T[i-1] {
			t.Fatalf("bar times not increasing: %v", w.T)
		}
	}

	// Ten 20-minute slices stitched together equal one 200-minute query.
	big := getHistory(t, base, "SBER", "1", from.Unix(), from.Add(200*time.Minute-time.Second).Unix())
	var stitched historyResp
	for i := 0; i < 10; i++ {
		s := from.Add(time.Duration(i) * 20 * time.Minute)
		part := getHistory(t, base, "SBER", "1", s.Unix(), s.Add(20*time.Minute-time.Second).Unix())
		stitched.T = append(stitched.T, part.T...)
		stitched.O = append(stitched.O, part.O...)
		stitched.H = append(stitched.H, part.H...)
		stitched.L = append(stitched.L, part.L...)
		stitched.C = append(stitched.C, part.C...)
		stitched.V = append(stitched.V, part.V...)
	}
	bigJSON, _ := json.Marshal(big.T)
	stJSON, _ := json.Marshal(stitched.T)
	if !bytes.Equal(bigJSON, stJSON) || fmt.Sprint(big.O, big.H, big.L, big.C, big.V) != fmt.Sprint(stitched.O, stitched.H, stitched.L, stitched.C, stitched.V) {
		t.Errorf("20-minute slices differ from one 200-minute query")
	}
	if len(big.T) < 150 {
		t.Errorf("only %d bars in 200 liquid minutes", len(big.T))
	}

	// Identical requests give identical bytes.
	if a, b := rawHistory(t, base, q(from, from.Add(3*time.Hour))), rawHistory(t, base, q(from, from.Add(3*time.Hour))); !bytes.Equal(a, b) {
		t.Error("repeated request returned different bytes")
	}

	// `to` in the future: no bar after now.
	fut := getHistory(t, base, "SBER", "1", time.Date(2026, 11, 19, 8, 0, 0, 0, time.UTC).Unix(), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Unix())
	if n := len(fut.T); n == 0 || fut.T[n-1] > time.Date(2026, 11, 19, 9, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("to in the future: %d bars, last %v", n, fut.T)
	}

	// countback: exactly N bars ending at `to`.
	cb := rawHistory(t, base, fmt.Sprintf("symbol=SBER&resolution=1&from=0&to=%d&countback=30", from.Unix()))
	var cbr historyResp
	if err := json.Unmarshal(cb, &cbr); err != nil || len(cbr.T) != 30 || cbr.T[29] > from.Unix() {
		t.Errorf("countback=30: %d bars, err %v", len(cbr.T), err)
	}

	// An empty range inside the data (Wednesday evening, after the 18:50
	// Moscow close) and a range before the first bar.
	evening := time.Date(2026, 11, 18, 17, 0, 0, 0, time.UTC)
	empty := rawHistory(t, base, q(evening, evening.Add(2*time.Hour)))
	early := rawHistory(t, base, q(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)))
	if !legacy {
		want := `{"s":"ok","t":[],"o":[],"h":[],"l":[],"c":[],"v":[]}`
		if string(bytes.TrimSpace(empty)) != want || string(bytes.TrimSpace(early)) != want {
			t.Errorf("empty ranges: %s / %s", empty, early)
		}
		return
	}
	var nd struct {
		S  string `json:"s"`
		NB *int64 `json:"nb"`
	}
	if err := json.Unmarshal(empty, &nd); err != nil || nd.S != "no_data" || nd.NB == nil || *nd.NB > evening.Unix() {
		t.Errorf("legacy, gap: %s", empty)
	} else if closing := time.Date(2026, 11, 18, 15, 49, 0, 0, time.UTC).Unix(); *nd.NB != closing {
		t.Errorf("legacy nb %d is not the closing auction's bar %d", *nd.NB, closing)
	}
	nd.NB = nil
	if err := json.Unmarshal(early, &nd); err != nil || nd.S != "no_data" || nd.NB != nil {
		t.Errorf("legacy, before the first bar: %s", early)
	}
}

package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"tvbridge"
)

// archiveUpstream is restUpstream with a yearly archive holding the same
// candles, counting its downloads; failYear fails one year's download.
type archiveUpstream struct {
	restUpstream
	amu      sync.Mutex
	years    []int
	failYear int
}

func (u *archiveUpstream) Archive(ctx context.Context, figi string, year int) ([]tvbridge.Candle, error) {
	u.amu.Lock()
	u.years = append(u.years, year)
	u.amu.Unlock()
	if year == u.failYear {
		return nil, errors.New("archive down")
	}
	from := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(1, 0, 0)
	// Only the first three days of the year trade, to keep the test small.
	to = minTime(to, from.Add(72*time.Hour))
	u.restUpstream.mu.Lock()
	defer u.restUpstream.mu.Unlock()
	var out []tvbridge.Candle
	for m := to.Add(-time.Minute); !m.Before(from); m = m.Add(-time.Minute) { // newest first: the cache sorts
		p := 100 + float64(m.Minute())
		out = append(out, tvbridge.Candle{FIGI: figi, Interval: tvbridge.Interval1Min, Time: m, Open: p, High: p, Low: p, Close: p, Volume: 10})
	}
	return out, nil
}

// The deep backfill takes days before the archive horizon from the yearly
// archive, one download per instrument-year, and the last days from
// Candles; bars are the same either way. A year whose archive fails falls
// back to Candles day by day.
func TestBackfillFromTheYearlyArchive(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 6, 12, 0, 0, 0, time.UTC)
	up := &archiveUpstream{restUpstream: restUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)}, revised: map[int64]float64{}}, failYear: 2025}
	s, store, _ := testService(t, up, start, "F")
	s.cfg.BackfillDepth = 10 * 24 * time.Hour // from 2025-12-27 12:00
	s.backfillOne(ctx, "F", "initial backfill")

	if len(up.years) != 2 || up.years[0] != 2025 || up.years[1] != 2026 {
		t.Fatalf("archive downloads %v, want 2025 (failing) then 2026, once each", up.years)
	}
	// 2025's days and the last two days came from Candles; 2026-01-01..03 from the archive.
	for _, r := range up.asked {
		if !r.From.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) && r.To.Before(time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("Candles asked for %v..%v, which the archive holds", r.From, r.To)
		}
	}
	if got := s.progress.ArchiveYears.Load(); got != 1 {
		t.Errorf("ArchiveYears %d, want 1", got)
	}
	day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	bs, err := store.Minutes(ctx, "F", day, day.Add(24*time.Hour))
	if err != nil || len(bs) != 1440 {
		t.Fatalf("2026-01-02: %d bars (%v), want 1440 from the archive", len(bs), err)
	}
	if b := bs[61]; b.Close != 101 || b.Volume != 10 {
		t.Errorf("01:01 bar %+v, want close 101 volume 10", b)
	}
	// The whole window is covered; the next pass downloads nothing and
	// asks Candles at most for the newest minutes.
	cov, err := store.Covered(ctx, "F", start.Add(-10*24*time.Hour), start)
	if err != nil || len(cov) == 0 || cov[0].From.After(start.Add(-10*24*time.Hour)) {
		t.Fatalf("coverage %v (%v), want the whole window", cov, err)
	}
	asked := len(up.asked)
	s.backfillOne(ctx, "F", "gap backfill")
	if len(up.years) != 2 {
		t.Errorf("a second pass downloaded the archive again: %v", up.years)
	}
	if len(up.asked) > asked+1 {
		t.Errorf("a second pass asked Candles %d more times", len(up.asked)-asked)
	}
}

package bolt

import (
	"testing"
	"time"

	"tvbridge"
)

func TestCatalogueSurvivesReopen(t *testing.T) {
	s, path := openTest(t)
	if _, _, ok, err := s.Catalogue(ctx); ok || err != nil {
		t.Fatalf("empty store: ok %v, err %v", ok, err)
	}
	insts := []tvbridge.Instrument{
		{FIGI: "F1", Ticker: "SBER", Name: "Сбербанк", Type: tvbridge.Stock, Currency: "RUB", Lot: 10, MinPriceIncrement: 0.01,
			Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "0950-1850:23456"},
		{FIGI: "F2", Ticker: "AAPL", Type: tvbridge.Stock, Currency: "USD", Lot: 1, MinPriceIncrement: 0.01},
	}
	loaded := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	if err := s.PutCatalogue(ctx, insts, loaded); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, at, ok, err := s.Catalogue(ctx)
	if err != nil || !ok || !at.Equal(loaded) || len(got) != 2 || got[0] != insts[0] || got[1] != insts[1] {
		t.Fatalf("catalogue %+v at %v, ok %v, err %v", got, at, ok, err)
	}
}

func TestFetchedRangesSurviveReopen(t *testing.T) {
	s, path := openTest(t)
	r := tvbridge.Range{From: t10, To: t10.Add(5 * time.Minute)}
	if _, err := s.PutFetched(ctx, "F1", minutes(t10, 3, 0), r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutFetched(ctx, "F1", nil, tvbridge.Range{From: r.To, To: r.To.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutFetched(ctx, "F1", minutes(t10.Add(time.Hour), 1, 0), r); err == nil {
		t.Fatal("a bar outside the fetched range was accepted")
	}
	s.Close()
	s, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Fetched(ctx, "F1", t10.Add(-time.Hour), t10.Add(time.Hour))
	if err != nil || len(got) != 1 || !got[0].From.Equal(t10) || !got[0].To.Equal(t10.Add(6*time.Minute)) {
		t.Fatalf("fetched %v, %v", got, err)
	}
	if cov, _ := s.Covered(ctx, "F1", t10, t10.Add(time.Hour)); len(cov) != 0 {
		t.Fatalf("fetched minutes counted as covered: %v", cov)
	}
	if n := len(mustMinutes(t, s, "F1", t10, t10.Add(time.Hour))); n != 3 {
		t.Fatalf("%d bars, want 3", n)
	}
}

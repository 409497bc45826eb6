package tinvest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// candleServer answers GetCandles with one candle per interval step in the
// requested range, up to the request's limit, and refuses ranges longer
// than maxRange with 30014 (when set).
func candleServer(f *fakeREST, step, maxRange time.Duration) {
	f.handle(wire.MethodGetCandles, func(w http.ResponseWriter, r *http.Request) {
		var req wire.GetCandlesRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, 400, wire.CodeInvalidArgument, "30001", err.Error(), nil)
			return
		}
		if maxRange > 0 && req.To.Sub(req.From.Time) > maxRange {
			writeError(w, 400, wire.CodeInvalidArgument, "30014", "the maximum request period for the given candle interval has been exceeded", nil)
			return
		}
		var out wire.GetCandlesResponse
		for at := req.From.Time.Truncate(step); at.Before(req.To.Time); at = at.Add(step) {
			if at.Before(req.From.Time) {
				continue
			}
			if req.Limit > 0 && len(out.Candles) == int(req.Limit) {
				break
			}
			p := wire.Quotation{Units: 195, Nano: 200000000}
			out.Candles = append(out.Candles, wire.HistoricCandle{Open: p, High: wire.Quotation{Units: 195, Nano: 300000000}, Low: p,
				Close: p, Volume: 7, Time: wire.At(at), IsComplete: true})
		}
		writeJSON(w, 200, out)
	})
}

func requestsOf(t *testing.T, f *fakeREST) []wire.GetCandlesRequest {
	var out []wire.GetCandlesRequest
	for _, r := range f.recorded() {
		if r.Path != wire.MethodGetCandles {
			continue
		}
		var req wire.GetCandlesRequest
		if err := json.Unmarshal([]byte(r.Body), &req); err != nil {
			t.Fatal(err)
		}
		out = append(out, req)
	}
	return out
}

// Three days of 1-minute candles take three one-day requests with limit
// 2400 and the exchange's candles; prices come out exact.
func TestCandlesSplitByRange(t *testing.T) {
	f := newFakeREST(t)
	candleServer(f, time.Minute, 0)
	c, _ := f.client(t, Config{})
	from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	got, err := c.Candles(context.Background(), "F", "uid", from, from.Add(3*day), tvbridge.Interval1Min)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3*1440 || got[0].Open != 195.2 || got[0].High != 195.3 || got[0].FIGI != "F" || got[0].Volume != 7 {
		t.Fatalf("%d candles, first %+v", len(got), got[0])
	}
	reqs := requestsOf(t, f)
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		if r.To.Sub(r.From.Time) != day || r.Limit != 2400 || r.Interval != wire.CandleInterval1Min ||
			r.CandleSourceType != wire.CandleSourceExchange || r.InstrumentID != "uid" {
			t.Fatalf("request %+v", r)
		}
	}
}

// A window that returns `limit` candles is continued after its last one.
func TestCandlesPageByLimit(t *testing.T) {
	f := newFakeREST(t)
	candleServer(f, 5*time.Minute, 0)
	c, _ := f.client(t, Config{})
	from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	// 10 days of 5-minute candles: two 7-day windows; the first (2016
	// candles) fits the 2400 limit; force paging with a lower limit.
	saved := candleSpecs[tvbridge.Interval5Min]
	candleSpecs[tvbridge.Interval5Min] = candleSpec{saved.interval, saved.maxRange, 1000}
	defer func() { candleSpecs[tvbridge.Interval5Min] = saved }()
	got, err := c.Candles(context.Background(), "F", "", from, from.Add(10*day), tvbridge.Interval5Min)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10*288 {
		t.Fatalf("%d candles, want %d", len(got), 10*288)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time.Sub(got[i-1].Time) != 5*time.Minute {
			t.Fatalf("gap or duplicate at %d", i)
		}
	}
	if n := len(requestsOf(t, f)); n != 4 { // 2016 = 1000+1000+16; 864 in the second window
		t.Fatalf("%d requests, want 4", n)
	}
}

// 30014 (period too long) halves the window until the service takes it.
func TestCandlesPeriodTooLongHalves(t *testing.T) {
	f := newFakeREST(t)
	candleServer(f, time.Minute, 6*time.Hour)
	c, _ := f.client(t, Config{})
	from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	got, err := c.Candles(context.Background(), "F", "", from, from.Add(day), tvbridge.Interval1Min)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1440 {
		t.Fatalf("%d candles", len(got))
	}
	// One refused full day, two refused halves, four accepted quarters.
	if n := len(requestsOf(t, f)); n != 7 {
		t.Fatalf("%d requests, want 7", n)
	}
	// A range the service never takes ends in the error.
	f2 := newFakeREST(t)
	candleServer(f2, time.Minute, time.Second)
	c2, _ := f2.client(t, Config{})
	if _, err := c2.Candles(context.Background(), "F", "", from, from.Add(time.Hour), tvbridge.Interval1Min); !errors.Is(err, ErrPeriodTooLong) ||
		!errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("%v", err)
	}
}

// Upstream.Candles returns closed candles only and never asks for the future.
func TestUpstreamCandlesClosedOnly(t *testing.T) {
	f := newFakeREST(t)
	candleServer(f, time.Minute, 0)
	c, fake := f.client(t, Config{})
	u := NewUpstream(UpstreamConfig{REST: c.cfg})
	u.client, u.clock = c, fake
	now := fake.Now().Add(30 * time.Second)
	fake.Set(now)
	got, err := u.Candles(context.Background(), "F", now.Add(-10*time.Minute), now.Add(time.Hour), tvbridge.Interval1Min)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 9 || !got[8].Time.Equal(now.Truncate(time.Minute).Add(-time.Minute)) {
		t.Fatalf("%d candles, last %v", len(got), got[len(got)-1].Time)
	}
	for _, r := range requestsOf(t, f) {
		if r.To.After(now) {
			t.Fatalf("asked for the future: %+v", r)
		}
	}
}

func archiveZip(t *testing.T, rows []wire.ArchiveCandle) []byte {
	var buf bytes.Buffer
	if err := wire.WriteArchive(&buf, rows); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The yearly archive: GET with instrument_id and year, parsed strictly,
// the current day dropped, 404 meaning no data, 429 waited out.
func TestArchive(t *testing.T) {
	f := newFakeREST(t)
	today := t0.Truncate(day)
	p := wire.Quotation{Units: 3, Nano: 600000000}
	rows := []wire.ArchiveCandle{
		{ID: "uid", Time: today.Add(-day + 7*time.Hour), Open: p, Close: p, High: p, Low: p, Volume: 10},
		{ID: "uid", Time: today.Add(7 * time.Hour), Open: p, Close: p, High: p, Low: p, Volume: 1},
	}
	var calls int
	mux := http.NewServeMux()
	mux.HandleFunc("/history-data", func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.Header.Get("Authorization") != "Bearer secret-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch {
		case calls == 1:
			w.Header().Set(wire.HeaderRateLimitReset, "2")
			http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		case r.URL.Query().Get("year") == "2019":
			http.Error(w, "not found", http.StatusNotFound)
		case r.URL.Query().Get("instrument_id") == "uid" && r.URL.Query().Get("year") == "2026":
			w.Header().Set("Content-Type", "application/zip")
			w.Write(archiveZip(t, rows))
		case r.URL.Query().Get("year") == "2025":
			w.Write([]byte("PK garbage"))
		}
	})
	f.srv.Config.Handler = mux
	c, fake := f.client(t, Config{})
	done := make(chan error, 1)
	var got []tvbridge.Candle
	go func() {
		var err error
		got, err = c.ArchiveYear(context.Background(), "F", "uid", 2026)
		done <- err
	}()
	fake.BlockUntil(1)
	fake.Advance(2 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Open != 3.6 || got[0].FIGI != "F" || got[0].Volume != 10 {
		t.Fatalf("%+v", got)
	}
	if got, err := c.ArchiveYear(context.Background(), "F", "uid", 2019); err != nil || got != nil {
		t.Fatalf("404: %v %v", got, err)
	}
	if _, err := c.ArchiveYear(context.Background(), "F", "uid", 2025); err == nil || !strings.Contains(err.Error(), "archive") {
		t.Fatalf("garbage: %v", err)
	}
}

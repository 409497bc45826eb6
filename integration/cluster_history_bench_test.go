package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/bars"
	"tvbridge/bolt"
	"tvbridge/clock"
	"tvbridge/jetstream"
	"tvbridge/postgres"
	"tvbridge/postgres/pgtest"
	"tvbridge/replica"
	"tvbridge/tape"
)

// BenchmarkClusterHistoryDay compares /history of one day of 1-minute bars
// (1,440 bars of a round-the-clock instrument, about 75 KB of JSON) read
// from PostgreSQL (cluster mode) and from bbolt (embedded mode), the same
// bars in both, each store also holding the days around it and two other
// instruments (issue 13):
//
//   - store=…: the store's Minutes for the day, one call at a time;
//   - handler=…: the whole /history handler (api.Handler, its response
//     cache off, so every request reads the store and encodes: what a
//     node's first request for a day costs) over replica.History, the
//     cluster's History, with the store under it; one request at a time,
//     and parallel (GOMAXPROCS goroutines) for throughput.
//
// Both handlers answer the same bytes (checked). Needs PostgreSQL
// (postgres/pgtest).
//
//	go test -run '^$' -bench ClusterHistoryDay -count 5 ./integration/
func BenchmarkClusterHistoryDay(b *testing.B) {
	ctx := context.Background()
	day := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	inst := tvbridge.Instrument{FIGI: "BENCHFIGI", Ticker: "BENCH", Type: tvbridge.Stock, Currency: "RUB",
		MinPriceIncrement: 0.01, Lot: 1, Exchange: "MOEX", Timezone: "Etc/UTC", Session: "24x7"}
	minutes := map[string][]tvbridge.Bar{}
	covered := map[string][]tvbridge.Range{}
	for k, figi := range []string{"OTHER1", inst.FIGI, "OTHER2"} {
		var bs []tvbridge.Bar
		for i := range 3 * 1440 { // the day before, the day, the day after
			t := day.Add(time.Duration(i-1440) * time.Minute)
			p := 250 + float64((i+k)%1000)*0.01
			bs = append(bs, tvbridge.Bar{Time: t, Open: p, High: p + 0.13, Low: p - 0.07, Close: p + 0.04, Volume: float64(1 + i%4000)})
		}
		minutes[figi] = bs
		covered[figi] = []tvbridge.Range{{From: day.Add(-24 * time.Hour), To: day.Add(48 * time.Hour)}}
	}

	bs, err := bolt.Open(filepath.Join(b.TempDir(), "bars.db"), bolt.Options{NoSync: true, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	db, err := postgres.Open(ctx, pgtest.Schema(b), postgres.Options{Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ps := db.Bars(nil)
	if _, err := bs.PutMinutesBatch(ctx, minutes, covered); err != nil {
		b.Fatal(err)
	}
	if _, err := ps.PutMinutesBatch(ctx, minutes, covered); err != nil {
		b.Fatal(err)
	}
	from, to := day, day.Add(24*time.Hour)

	stores := []struct {
		name string
		s    dayStore
	}{{"bolt", bs}, {"postgres", ps}}
	for _, st := range stores {
		b.Run("store="+st.name, func(b *testing.B) {
			for b.Loop() {
				got, err := st.s.Minutes(ctx, inst.FIGI, from, to)
				if err != nil || len(got) != 1440 {
					b.Fatalf("%d bars, %v", len(got), err)
				}
			}
		})
	}

	cat, err := api.BuildCatalog([]tvbridge.Instrument{inst}, api.CatalogOptions{Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	sched, err := tvbridge.ParseSchedule(inst.Session, inst.Timezone)
	if err != nil {
		b.Fatal(err)
	}
	specs := []bars.InstrumentSpec{{Instrument: inst, Symbol: inst.Ticker, Schedule: sched}}
	now := day.Add(72 * time.Hour)
	url := fmt.Sprintf("/history?symbol=BENCH&resolution=1&from=%d&to=%d", from.Unix(), to.Unix()-1)
	var bodies [][]byte
	handlers := make([]http.Handler, len(stores))
	for i, st := range stores {
		h, err := replica.New(replica.Config{Store: marked{st.s, to}, Hot: &jetstream.HotMinutes{}, Instruments: specs,
			BackfillDepth: 30 * 24 * time.Hour, Clock: clock.NewFake(now), Logger: quietLog()})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		handlers[i] = api.NewHandler(api.Config{Catalog: cat, History: h, Tape: tape.New(tape.Config{}), Clock: clock.NewFake(now),
			Logger: quietLog(), CacheBytes: 1})
		rec := httptest.NewRecorder()
		handlers[i].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != http.StatusOK || !bytes.HasPrefix(rec.Body.Bytes(), []byte(`{"s":"ok"`)) {
			b.Fatalf("%s: %d %.200s", st.name, rec.Code, rec.Body.Bytes())
		}
		bodies = append(bodies, rec.Body.Bytes())
	}
	if !bytes.Equal(bodies[0], bodies[1]) {
		b.Fatalf("bolt and postgres answer different bytes (%d and %d)", len(bodies[0]), len(bodies[1]))
	}
	for i, st := range stores {
		h := handlers[i]
		b.Run("handler="+st.name, func(b *testing.B) {
			w := &nullWriter{h: http.Header{}}
			r := httptest.NewRequest(http.MethodGet, url, nil)
			b.ReportAllocs()
			for b.Loop() {
				w.n = 0
				h.ServeHTTP(w, r)
				if w.n != len(bodies[0]) {
					b.Fatalf("%d bytes, want %d", w.n, len(bodies[0]))
				}
			}
		})
		b.Run("handler="+st.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				w := &nullWriter{h: http.Header{}}
				r := httptest.NewRequest(http.MethodGet, url, nil)
				for pb.Next() {
					w.n = 0
					h.ServeHTTP(w, r)
					if w.n != len(bodies[0]) {
						b.Errorf("%d bytes, want %d", w.n, len(bodies[0]))
						return
					}
				}
			})
		})
	}
}

// dayStore is what replica.History reads, less the watermarks.
type dayStore interface {
	Minutes(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error)
	Daily(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error)
	FirstBar(ctx context.Context, figi string) (time.Time, bool, error)
}

// marked gives a store a fixed immutability watermark for every instrument
// (bolt has none of its own; postgres' would be the same, the end of the
// coverage).
type marked struct {
	dayStore
	closed time.Time
}

func (m marked) ClosedWatermarks(context.Context) (map[string]time.Time, error) {
	return map[string]time.Time{"BENCHFIGI": m.closed}, nil
}

// nullWriter is a ResponseWriter that counts and drops the body.
type nullWriter struct {
	h http.Header
	n int
}

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *nullWriter) WriteHeader(int)             {}

package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tape"
)

// The benchmarks compare /history for a full day of 1-minute bars (1440
// bars, about 75 KB) with a plain handler writing the same pre-encoded
// bytes. Run them with
//
//	go test -run '^$' -bench 'HistoryDay|PlainBytes|Loopback' -count 5 ./api/
//
// BenchmarkHistoryDay repeats one request (TradingView's repeated refreshes:
// a cached exact response); BenchmarkHistoryDaySliding moves the window by a
// minute each time (every request differs: cut from cached days);
// BenchmarkHistoryDayUncached caches nothing (read + encode every time).

var benchDay = time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)

type benchEnv struct {
	h    *Handler
	body []byte // the day's response, for the plain server
}

func newBenchEnv(b *testing.B, cacheBytes int64) *benchEnv {
	b.Helper()
	cat, err := BuildCatalog([]tvbridge.Instrument{{FIGI: "BENCH", Ticker: "BENCH", Type: tvbridge.Stock,
		Currency: "RUB", MinPriceIncrement: 0.01, Exchange: "MOEX", Timezone: "Etc/UTC", Session: "24x7"}},
		CatalogOptions{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	sym, _ := cat.Lookup("BENCH")
	hist := newFakeHistory()
	var bars []tvbridge.Bar
	for i := range 3 * 1440 { // the day before, the day, the day after
		t := benchDay.Add(time.Duration(i-1440) * time.Minute)
		p := 250 + float64(i%1000)*0.01
		bars = append(bars, tvbridge.Bar{Time: t, Open: p, High: p + 0.13, Low: p - 0.07, Close: p + 0.04, Volume: float64(1 + i%4000)})
	}
	hist.setMinutes(sym, bars)
	now := benchDay.Add(72 * time.Hour)
	hist.setClosed("BENCH", now)
	h := NewHandler(Config{Catalog: cat, History: hist, Tape: tape.New(tape.Config{}), Clock: clock.NewFake(now),
		Logger: discardLogger(), CacheBytes: cacheBytes})
	env := &benchEnv{h: h}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, benchDayURL(0), nil))
	env.body = rec.Body.Bytes()
	if n := len(decodeHist(b, env.body).T); n != 1440 {
		b.Fatalf("benchmark day has %d bars", n)
	}
	return env
}

// benchDayURL is about a day of 1-minute bars. Each k gives a different
// window: it starts k%1440 minutes after benchDay and is (k/1440)%60
// minutes shorter than a day, so a sliding benchmark never repeats a
// request (repeats would be served from the response cache).
func benchDayURL(k int) string {
	from := benchDay.Unix() + int64(k%1440)*60
	to := from + 86400 - 1 - int64(k/1440%60)*60
	return "/history?symbol=BENCH&resolution=1&from=" + strconv.FormatInt(from, 10) +
		"&to=" + strconv.FormatInt(to, 10)
}

// plainHandler serves fixed bytes with the same headers as /history.
func plainHandler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, body) })
}

// discardWriter is a reusable ResponseWriter that drops the body.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// serveInProcess calls the handler directly, measuring only its own cost.
func serveInProcess(b *testing.B, h http.Handler, sliding bool) {
	var shift atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		r := httptest.NewRequest(http.MethodGet, benchDayURL(0), nil)
		for pb.Next() {
			if sliding {
				r = httptest.NewRequest(http.MethodGet, benchDayURL(int(shift.Add(1))), nil)
			}
			h.ServeHTTP(w, r)
		}
	})
}

func BenchmarkPlainBytes(b *testing.B) {
	env := newBenchEnv(b, 0)
	serveInProcess(b, plainHandler(env.body), false)
}

func BenchmarkHistoryDay(b *testing.B) {
	serveInProcess(b, newBenchEnv(b, 0).h, false)
}

func BenchmarkHistoryDaySliding(b *testing.B) {
	serveInProcess(b, newBenchEnv(b, 0).h, true)
}

func BenchmarkHistoryDayUncached(b *testing.B) {
	serveInProcess(b, newBenchEnv(b, 1).h, false)
}

// BenchmarkLoopback is the load-generator view: a real loopback server and
// 8 concurrent keep-alive clients, reporting requests per second.
func BenchmarkLoopback(b *testing.B) {
	env := newBenchEnv(b, 0)
	for _, c := range []struct {
		name    string
		h       http.Handler
		sliding bool
	}{
		{"plain", plainHandler(env.body), false},
		{"history", env.h, false},
		{"history-sliding", env.h, true},
	} {
		b.Run(c.name, func(b *testing.B) { loadTest(b, c.h, c.sliding) })
	}
}

func loadTest(b *testing.B, h http.Handler, sliding bool) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var shift atomic.Int64
	b.SetParallelism(4) // 8 clients on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := srv.URL + benchDayURL(0)
			if sliding {
				u = srv.URL + benchDayURL(int(shift.Add(1)))
			}
			if err := fetch(client, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

func fetch(client *http.Client, u string) error {
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || n < 1000 {
		return fmt.Errorf("GET %s: %d, %d bytes, %v", u, resp.StatusCode, n, err)
	}
	return nil
}

// BenchmarkLoopbackPaired interleaves requests to the plain server and to
// /history on the same clients, so that both see the same machine load
// (the separate req/s figures swing widely on a shared machine). It reports
// each side's mean latency and history's throughput relative to plain
// (latency_plain / latency_history).
func BenchmarkLoopbackPaired(b *testing.B) {
	env := newBenchEnv(b, 0)
	for _, sliding := range []bool{false, true} {
		name := map[bool]string{false: "history", true: "history-sliding"}[sliding]
		b.Run(name, func(b *testing.B) { pairedLoad(b, env, sliding) })
	}
}

func pairedLoad(b *testing.B, env *benchEnv, sliding bool) {
	plain := httptest.NewServer(plainHandler(env.body))
	defer plain.Close()
	hist := httptest.NewServer(env.h)
	defer hist.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var shift, plainNs, histNs atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := 0
			if sliding {
				k = int(shift.Add(1))
			}
			for _, side := range []struct {
				url string
				ns  *atomic.Int64
			}{{plain.URL + benchDayURL(0), &plainNs}, {hist.URL + benchDayURL(k), &histNs}} {
				start := time.Now()
				if err := fetch(client, side.url); err != nil {
					b.Error(err)
					return
				}
				side.ns.Add(int64(time.Since(start)))
			}
		}
	})
	n := float64(b.N)
	b.ReportMetric(float64(plainNs.Load())/n/1e3, "plain-µs/req")
	b.ReportMetric(float64(histNs.Load())/n/1e3, "history-µs/req")
	b.ReportMetric(float64(plainNs.Load())/float64(histNs.Load()), "ratio")
}

package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tape"
)

// Test fixture: two weeks of SBER minutes on a Moscow schedule with a lunch
// break, and "now" on the last Friday at 12:00:30 UTC (15:00 in Moscow),
// with the 12:00 bar still open.
var (
	fixtureStart = time.Date(2024, 2, 26, 0, 0, 0, 0, time.UTC) // Monday
	fixtureEnd   = time.Date(2024, 3, 8, 0, 0, 0, 0, time.UTC)  // Friday
	fixtureNow   = time.Date(2024, 3, 8, 12, 0, 30, 0, time.UTC)
)

const sberFIGI = "BBG004730N88"

func fixtureInstruments() []tvbridge.Instrument {
	return []tvbridge.Instrument{
		{FIGI: sberFIGI, Ticker: "SBER", ISIN: "RU0009029540", Name: "Сбер Банк", Type: tvbridge.Stock,
			Currency: "RUB", Lot: 10, MinPriceIncrement: 0.01, Exchange: "moex", Timezone: "Europe/Moscow",
			Session: "1000-1400,1415-1840:23456"},
		{FIGI: "BBG0013HJJ31", Ticker: "EUR_RUB__TOM", Name: "Евро", Type: tvbridge.Currency, Currency: "RUB",
			Lot: 1000, MinPriceIncrement: 0.0025, Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "0700-2359:23456"},
		{FIGI: "BBG00HY8RN76", Ticker: "SU26238RMFS4", ISIN: "RU000A1038V6", Name: "ОФЗ 26238", Type: tvbridge.Bond,
			Currency: "RUB", Lot: 1, MinPriceIncrement: 0.005, Exchange: "MOEX", Timezone: "Europe/Moscow",
			Session: "1000-1840:23456"},
		{FIGI: "BBG005HLTYH9", Ticker: "FXUS", ISIN: "IE00BD3QHZ10", Name: "FinEx US Equity", Type: tvbridge.ETF,
			Currency: "USD", Lot: 1, MinPriceIncrement: 1, Exchange: "MOEX", Timezone: "Europe/Moscow",
			Session: "1000-1840:23456"},
		{FIGI: "BBG000MM2P62", Ticker: "brk/b", Name: "Berkshire Hathaway B", Type: tvbridge.Stock,
			Currency: "USD", Lot: 1, MinPriceIncrement: 0.01, Exchange: "SPB", Timezone: "America/New_York",
			Session: "0930-1600:23456"},
	}
}

func fixtureCatalog(t testing.TB) *Catalog {
	t.Helper()
	cat, err := BuildCatalog(fixtureInstruments(), CatalogOptions{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeHistory is an in-memory History. Its slices are returned without
// copying, as a store's cache might, so a caller that modifies them breaks
// later answers.
type fakeHistory struct {
	mu      sync.Mutex
	minutes map[string][]tvbridge.Bar
	daily   map[string][]tvbridge.Bar
	first   map[string]time.Time
	closed  map[string]time.Time

	reads   atomic.Int64 // Minutes and Daily calls
	failErr error        // returned by every read when set
	panics  bool         // every read panics
}

func newFakeHistory() *fakeHistory {
	return &fakeHistory{
		minutes: map[string][]tvbridge.Bar{},
		daily:   map[string][]tvbridge.Bar{},
		first:   map[string]time.Time{},
		closed:  map[string]time.Time{},
	}
}

// fixtureHistory fills SBER's minutes: every session minute up to now except
// every 7th (no trade), with every 11th a zero-volume bar, which /history
// must never serve. Daily bars are built from the minutes per trading day.
func fixtureHistory(sym *Symbol) *fakeHistory {
	fh := newFakeHistory()
	var bars []tvbridge.Bar
	i := 0
	for day := fixtureStart; !day.After(fixtureEnd); day = day.AddDate(0, 0, 1) {
		for _, p := range sym.Schedule.Periods(day) {
			for t := p.Open; t.Before(p.Close) && !t.After(fixtureNow); t = t.Add(time.Minute) {
				i++
				if i%7 == 0 {
					continue
				}
				bars = append(bars, fixtureBar(t, i))
			}
		}
	}
	fh.setMinutes(sym, bars)
	fh.setClosed(sym.Instrument.FIGI, fixtureNow.Truncate(time.Minute))
	return fh
}

func fixtureBar(t time.Time, i int) tvbridge.Bar {
	base := 250 + float64(i%97)*0.01
	vol := float64(i%13 + 1)
	if i%11 == 0 {
		vol = 0
	}
	return tvbridge.Bar{Time: t, Open: base, High: base + 0.07, Low: base - 0.05, Close: base + 0.02, Volume: vol}
}

// setMinutes stores minutes and derives daily bars with the symbol's schedule.
func (f *fakeHistory) setMinutes(sym *Symbol, bars []tvbridge.Bar) {
	f.mu.Lock()
	defer f.mu.Unlock()
	figi := sym.Instrument.FIGI
	f.minutes[figi] = bars
	var daily []tvbridge.Bar
	for _, b := range bars {
		day, ok := sym.Schedule.TradingDay(b.Time)
		if !ok || b.Volume == 0 {
			continue // a real zero-volume minute would have no trade
		}
		if n := len(daily); n > 0 && daily[n-1].Time.Equal(day) {
			d := &daily[n-1]
			d.High, d.Low, d.Close = max(d.High, b.High), min(d.Low, b.Low), b.Close
			d.Volume += b.Volume
			continue
		}
		d := b
		d.Time = day
		daily = append(daily, d)
	}
	f.daily[figi] = daily
	if len(bars) > 0 {
		f.first[figi] = bars[0].Time
	}
}

func (f *fakeHistory) setClosed(figi string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed[figi] = t
}

func (f *fakeHistory) read(bars []tvbridge.Bar, from, to time.Time) ([]tvbridge.Bar, error) {
	f.reads.Add(1)
	if f.panics {
		panic("fake storage exploded")
	}
	if f.failErr != nil {
		return nil, f.failErr
	}
	i := sort.Search(len(bars), func(i int) bool { return !bars[i].Time.Before(from) })
	j := sort.Search(len(bars), func(i int) bool { return !bars[i].Time.Before(to) })
	if j < i {
		return nil, nil
	}
	return bars[i:j], nil
}

func (f *fakeHistory) Minutes(_ context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read(f.minutes[figi], from, to)
}

func (f *fakeHistory) Daily(_ context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read(f.daily[figi], from, to)
}

func (f *fakeHistory) FirstBar(_ context.Context, figi string) (time.Time, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.first[figi]
	return t, ok, nil
}

func (f *fakeHistory) ClosedBefore(figi string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed[figi]
}

// testEnv is a Handler over the fixture with a fake clock and a real tape.
type testEnv struct {
	h    *Handler
	hist *fakeHistory
	clk  *clock.Fake
	cat  *Catalog
	sber *Symbol
	tape *tape.Tape
	logs *logRecorder
}

func newTestEnv(t testing.TB, tweak func(*Config)) *testEnv {
	t.Helper()
	cat := fixtureCatalog(t)
	sber, _ := cat.Lookup("SBER")
	env := &testEnv{
		hist: fixtureHistory(sber),
		clk:  clock.NewFake(fixtureNow),
		cat:  cat,
		sber: sber,
		tape: tape.New(tape.Config{Capacity: 1 << 12}),
		logs: &logRecorder{},
	}
	cfg := Config{Catalog: cat, History: env.hist, Tape: env.tape, Clock: env.clk, Logger: slog.New(env.logs)}
	if tweak != nil {
		tweak(&cfg)
	}
	env.h = NewHandler(cfg)
	return env
}

// get performs a request against the handler in process.
func (e *testEnv) get(t testing.TB, target string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Body.Bytes()
}

// histResp is any /history answer, decoded.
type histResp struct {
	S      string    `json:"s"`
	Errmsg string    `json:"errmsg"`
	NB     *int64    `json:"nb"`
	T      []int64   `json:"t"`
	O      []float64 `json:"o"`
	H      []float64 `json:"h"`
	L      []float64 `json:"l"`
	C      []float64 `json:"c"`
	V      []float64 `json:"v"`
}

func decodeHist(t testing.TB, body []byte) histResp {
	t.Helper()
	var r histResp
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	n := len(r.T)
	if len(r.O) != n || len(r.H) != n || len(r.L) != n || len(r.C) != n || len(r.V) != n {
		t.Fatalf("columns of different lengths: %s", body)
	}
	for i := 1; i < n; i++ {
		if r.T[i] <= r.T[i-1] {
			t.Fatalf("bar times not strictly increasing at %d: %v", i, r.T[i-1:i+1])
		}
	}
	return r
}

func (r histResp) bars() []tvbridge.Bar {
	out := make([]tvbridge.Bar, len(r.T))
	for i := range r.T {
		out[i] = tvbridge.Bar{Time: time.Unix(r.T[i], 0).UTC(), Open: r.O[i], High: r.H[i], Low: r.L[i], Close: r.C[i], Volume: r.V[i]}
	}
	return out
}

// logRecorder is a slog.Handler that keeps records for assertions and
// signals each one.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	notify  chan slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	ch := l.notify
	l.mu.Unlock()
	if ch != nil {
		ch <- r.Clone()
	}
	return nil
}

// watch returns a channel receiving every record logged from now on.
func (l *logRecorder) watch() <-chan slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notify = make(chan slog.Record, 64)
	return l.notify
}

func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

var errStorage = errors.New("disk on fire")

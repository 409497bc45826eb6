package market

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge"
)

// fingerprint renders everything the market says about an instrument over
// a few days into one string. reverse queries the instants latest first;
// the rendering is in time order either way.
func fingerprint(m *Market, f string, reverse bool) string {
	start := time.Date(2026, 3, 9, 6, 0, 0, 0, time.UTC)
	const n = 20
	parts := make([]string, n)
	for k := range n {
		i := k
		if reverse {
			i = n - 1 - k
		}
		at := start.Add(time.Duration(i) * (2*time.Hour + 17*time.Minute + 333*time.Millisecond))
		c, ok := m.Candle(f, tvbridge.IntervalHour, at.Truncate(time.Hour), at)
		lt, ltOK := m.LastTrade(f, at)
		parts[i] = fmt.Sprintf("%v|%v|%v %v|%v %v|%+v|%+v\n", at, m.Status(f, at), c, ok, lt, ltOK,
			m.OrderBook(f, at, 5), m.Info(f, at))
		for _, tr := range m.MinuteTrades(f, at) {
			parts[i] += fmt.Sprintf("%v %v %d;", tr.Time.UnixNano(), tr.Price, tr.Lots)
		}
	}
	day := m.Candles(f, tvbridge.IntervalDay, start.AddDate(0, 0, -7), start.AddDate(0, 0, 7), start.AddDate(0, 0, 3))
	return strings.Join(parts, "") + fmt.Sprint(day)
}

// TestDeterminism: the same seed gives the same market whatever the order
// of queries and the state of the caches; another seed gives other prices.
func TestDeterminism(t *testing.T) {
	a, b, c := New(Config{Seed: 1}), New(Config{Seed: 1}), New(Config{Seed: 2})
	for _, ticker := range sampleTickers[:7] {
		f := figi(t, a, ticker)
		fa := fingerprint(a, f, false)
		if fb := fingerprint(b, f, true); fa != fb {
			t.Errorf("%s: two markets with one seed disagree", ticker)
		}
		if again := fingerprint(a, f, true); fa != again {
			t.Errorf("%s: warm caches changed the answers", ticker)
		}
		if fc := fingerprint(c, f, false); fa == fc {
			t.Errorf("%s: seeds 1 and 2 give the same market", ticker)
		}
	}
}

// TestConcurrentUse hammers one market from many goroutines (run with
// -race) and checks the answers against a market used by one goroutine.
func TestConcurrentUse(t *testing.T) {
	shared := New(Config{Seed: 5})
	serial := New(Config{Seed: 5})
	tickers := []string{"SBER", "AAPL", "SU26238RMFS4", "BTC_USD"}
	var want []string
	for _, ticker := range tickers {
		want = append(want, fingerprint(serial, figi(t, serial, ticker), false))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*len(tickers))
	for g := range 3 {
		for i, ticker := range tickers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got := fingerprint(shared, shared.ByTicker(ticker)[0].FIGI, g%2 == 1); got != want[i] {
					errs <- fmt.Errorf("goroutine %d, %s: answers differ from the serial market", g, ticker)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCacheEviction shrinks the caches' reach by flooding them, then
// checks that answers survive eviction unchanged.
func TestCacheEviction(t *testing.T) {
	c := newCache[int](cacheShards * 2)
	for i := range 10_000 {
		c.put(cacheKey{1, int64(i)}, i)
	}
	held := 0
	for i := range 10_000 {
		if v, ok := c.get(cacheKey{1, int64(i)}); ok {
			held++
			if v != i {
				t.Fatalf("key %d holds %d", i, v)
			}
		}
	}
	if held == 0 || held > 4*cacheShards {
		t.Errorf("the cache holds %d entries, want between 1 and %d", held, 4*cacheShards)
	}
	if v, ok := c.get(cacheKey{1, 9_999}); !ok || v != 9_999 {
		t.Error("the newest entry was evicted")
	}
}

package api

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

// histURL builds a /history request.
func histURL(symbol, res string, from, to int64) string {
	return fmt.Sprintf("/history?symbol=%s&resolution=%s&from=%d&to=%d", url.QueryEscape(symbol), res, from, to)
}

// fetchBars requests /history, validates it against the spec and decodes it.
func (e *testEnv) fetchBars(t *testing.T, target string) histResp {
	t.Helper()
	code, body := e.get(t, target)
	if code != http.StatusOK {
		t.Fatalf("%s: status %d", target, code)
	}
	r := decodeHist(t, body)
	switch {
	case r.S == "ok" && len(r.T) == 0:
		checkSchema(t, "HistoryEmptyBarResponse", body)
	case r.S == "ok":
		checkSchema(t, "HistorySuccessResponse", body)
	case r.S == "error":
		t.Fatalf("%s: error %q", target, r.Errmsg)
	}
	return r
}

// wantMinutes is what /history must serve for 1-minute bars in [from, to]:
// the stored bars with volume, none in the future.
func (e *testEnv) wantMinutes(from, to int64) []tvbridge.Bar {
	var out []tvbridge.Bar
	for _, b := range e.hist.minutes[sberFIGI] {
		t := b.Time.Unix()
		if t >= from && t <= to && b.Volume > 0 && !b.Time.After(e.clk.Now()) {
			out = append(out, b)
		}
	}
	return out
}

func equalBars(t *testing.T, what string, got, want []tvbridge.Bar) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bars, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !got[i].Time.Equal(want[i].Time) || got[i].Open != want[i].Open || got[i].High != want[i].High ||
			got[i].Low != want[i].Low || got[i].Close != want[i].Close || got[i].Volume != want[i].Volume {
			t.Fatalf("%s: bar %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// day returns a UTC instant on a fixture date.
func at(day, hhmm int) int64 {
	return time.Date(2024, time.Month(day/100), day%100, hhmm/100, hhmm%100, 0, 0, time.UTC).Unix()
}

func TestHistoryFromEqualsTo(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, ts := range []int64{env.barAtOrAfter(at(305, 801)), env.barAtOrAfter(at(305, 1200)), at(308, 1200), at(226, 700)} {
		want := env.wantMinutes(ts, ts)
		if len(want) != 1 {
			t.Fatalf("fixture has no bar at %d", ts)
		}
		equalBars(t, "from==to", env.fetchBars(t, histURL("SBER", "1", ts, ts)).bars(), want)
	}
	// A minute without a trade and a zero-volume minute both have no bar.
	for _, ts := range []int64{at(305, 300), firstZeroVolume(env)} {
		if got := env.fetchBars(t, histURL("SBER", "1", ts, ts)); len(got.T) != 0 {
			t.Errorf("minute %d: %d bars, want none", ts, len(got.T))
		}
	}
}

// barAtOrAfter returns the time of the first servable bar at or after ts.
func (e *testEnv) barAtOrAfter(ts int64) int64 {
	return e.wantMinutes(ts, fixtureNow.Unix())[0].Time.Unix()
}

func firstZeroVolume(env *testEnv) int64 {
	for _, b := range env.hist.minutes[sberFIGI] {
		if b.Volume == 0 {
			return b.Time.Unix()
		}
	}
	panic("fixture has no zero-volume bar")
}

func TestHistoryFiftyMinuteWindows(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, from := range []int64{at(305, 700), at(305, 1040), at(305, 1500), at(308, 1130), at(302, 1200)} {
		to := from + 49*60
		got := env.fetchBars(t, histURL("SBER", "1", from, to))
		if len(got.T) > 50 {
			t.Fatalf("window at %d: %d bars", from, len(got.T))
		}
		equalBars(t, "50-minute window", got.bars(), env.wantMinutes(from, to))
	}
}

func TestHistorySlicesEqualLargeQuery(t *testing.T) {
	env := newTestEnv(t, nil)
	// A closed day, and today's last 200 minutes running into the open bar.
	for _, from := range []int64{at(305, 900), at(308, 841)} {
		to := from + 199*60
		large := env.fetchBars(t, histURL("SBER", "1", from, to)).bars()
		var stitched []tvbridge.Bar
		for s := from; s <= to; s += 20 * 60 {
			stitched = append(stitched, env.fetchBars(t, histURL("SBER", "1", s, s+19*60)).bars()...)
		}
		equalBars(t, "20-minute slices vs one query", stitched, large)
		equalBars(t, "200-minute query", large, env.wantMinutes(from, to))
	}
}

func TestHistoryRepeatable(t *testing.T) {
	env := newTestEnv(t, nil)
	queries := []string{
		histURL("SBER", "1", at(226, 0), at(308, 2359)), // all days, through the open bar
		histURL("SBER", "1", at(304, 1234), at(305, 1234)),
		histURL("SBER", "15", at(304, 0), at(306, 0)),
		histURL("SBER", "D", at(101, 0), at(308, 0)),
		histURL("SBER", "W", at(101, 0), at(308, 0)),
		"/history?symbol=SBER&resolution=1&to=" + fmt.Sprint(at(306, 1000)) + "&countback=777",
	}
	for _, q := range queries {
		_, first := env.get(t, q)
		for range 2 {
			if _, again := env.get(t, q); !bytes.Equal(first, again) {
				t.Fatalf("%s: bytes differ between requests", q)
			}
		}
		restarted := newTestEnv(t, nil) // empty caches, as after a restart
		if _, fresh := restarted.get(t, q); !bytes.Equal(first, fresh) {
			t.Fatalf("%s: bytes differ after a restart", q)
		}
	}
}

// TestHistoryFragmentsMatchStore moves ClosedBefore through the day, so
// that the same ranges are served from cached days, rebuilt days and the
// open tail, and checks every answer against the store.
func TestHistoryFragmentsMatchStore(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, closed := range []int64{at(304, 0), at(305, 900), at(305, 1200), at(308, 0), at(308, 1200)} {
		env.hist.setClosed(sberFIGI, time.Unix(closed, 0))
		for _, r := range [][2]int64{{at(304, 1000), at(305, 1100)}, {at(305, 0), at(305, 2359)}, {at(229, 1500), at(308, 1300)}} {
			equalBars(t, fmt.Sprintf("closed %d range %v", closed, r),
				env.fetchBars(t, histURL("SBER", "1", r[0], r[1])).bars(), env.wantMinutes(r[0], r[1]))
		}
	}
}

func TestHistoryFutureTo(t *testing.T) {
	env := newTestEnv(t, nil)
	now := fixtureNow.Unix()
	got := env.fetchBars(t, histURL("SBER", "1", now-3600, now+86400))
	if last := got.T[len(got.T)-1]; last != fixtureNow.Truncate(time.Minute).Unix() {
		t.Fatalf("last bar at %d, want the open bar at %d", last, fixtureNow.Truncate(time.Minute).Unix())
	}
	for _, res := range []string{"1", "5", "60", "D", "W", "M"} {
		from := now - 20*86400 // within the intraday range limit
		r := env.fetchBars(t, histURL("SBER", res, from, now+400*86400))
		for _, ts := range r.T {
			if ts > now {
				t.Fatalf("resolution %s: bar at %d is after now %d", res, ts, now)
			}
		}
	}
	if r := env.fetchBars(t, histURL("SBER", "1", now+60, now+3600)); len(r.T) != 0 {
		t.Fatalf("a range in the future has %d bars", len(r.T))
	}
}

func TestHistoryCountback(t *testing.T) {
	env := newTestEnv(t, nil)
	all := env.wantMinutes(0, fixtureNow.Unix())
	cases := []struct {
		to        int64
		countback int
		want      []tvbridge.Bar
	}{
		{at(306, 1000), 100, nil},
		{fixtureNow.Unix(), 2500, nil},
		{fixtureNow.Unix() + 86400, 1, nil},
		{at(226, 800), 2500, nil}, // an hour after the first bar: fewer bars exist
	}
	for _, c := range cases {
		before := env.wantMinutes(0, c.to)
		c.want = before[max(0, len(before)-c.countback):]
		q := fmt.Sprintf("/history?symbol=SBER&resolution=1&from=%d&to=%d&countback=%d", at(308, 0), c.to, c.countback)
		equalBars(t, fmt.Sprintf("countback %d to %d", c.countback, c.to), env.fetchBars(t, q).bars(), c.want)
	}
	if len(all) < 2500 {
		t.Fatalf("fixture too small: %d bars", len(all))
	}
	// Aggregated resolutions count aggregated bars.
	for _, res := range []string{"60", "D"} {
		q := fmt.Sprintf("/history?symbol=SBER&resolution=%s&to=%d&countback=5", res, at(306, 2359))
		got := env.fetchBars(t, q)
		want := env.fetchBars(t, histURL("SBER", res, at(226, 0), at(306, 2359)))
		if len(got.T) != 5 || !slices.Equal(got.T, want.T[len(want.T)-5:]) || !slices.Equal(got.V, want.V[len(want.V)-5:]) {
			t.Errorf("countback 5 at %s = %v, want the last five of %v", res, got.T, want.T)
		}
	}
}

func TestHistoryEmptyRanges(t *testing.T) {
	env := newTestEnv(t, nil)
	weekend := histURL("SBER", "1", at(302, 0), at(303, 2359))
	if got := env.fetchBars(t, weekend); got.S != "ok" || len(got.T) != 0 {
		t.Fatalf("weekend: %+v", got)
	}
	reads := env.hist.reads.Load()
	if got := env.fetchBars(t, histURL("SBER", "1", at(101, 0), at(101, 2359))); got.S != "ok" || len(got.T) != 0 {
		t.Fatalf("before the first bar: %+v", got)
	}
	if env.hist.reads.Load() != reads {
		t.Fatal("a request before the first bar read storage")
	}
	_, body := env.get(t, histURL("SBER", "1", 0, 86400))
	if string(body) != `{"s":"ok","t":[],"o":[],"h":[],"l":[],"c":[],"v":[]}`+"\n" {
		t.Fatalf("empty body %s", body)
	}
	// TradingView walks back towards 1800 one day at a time: negative
	// times are valid and empty, answered without storage.
	reads = env.hist.reads.Load()
	year1800 := time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, q := range []string{
		histURL("SBER", "1", year1800, year1800+86399),
		histURL("SBER", "D", year1800, year1800+86399),
		fmt.Sprintf("/history?symbol=SBER&resolution=1&to=%d&countback=10", year1800),
		histURL("SBER", "1", -86400, -1),
	} {
		if code, body := env.get(t, q); code != http.StatusOK || string(body) != `{"s":"ok","t":[],"o":[],"h":[],"l":[],"c":[],"v":[]}`+"\n" {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
	if env.hist.reads.Load() != reads {
		t.Error("a request before 1970 read storage")
	}
	// A range from before 1970 into the data serves the data.
	if got := env.fetchBars(t, histURL("SBER", "D", -86400, at(305, 2359))); got.S != "ok" || len(got.T) == 0 {
		t.Errorf("a daily range starting before 1970: %+v", got)
	}
}

func TestHistoryLegacyNoData(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.LegacyNoData = true })
	lastFriday := env.wantMinutes(0, at(302, 0))
	cases := []struct {
		query  string
		wantNB int64 // -1: no nb
	}{
		{histURL("SBER", "1", at(302, 0), at(303, 2359)), lastFriday[len(lastFriday)-1].Time.Unix()},
		{histURL("SBER", "D", at(302, 0), at(303, 2359)), at(301, 0)},
		{histURL("SBER", "60", at(302, 0), at(303, 2359)), at(301, 1500)},
		{histURL("SBER", "1", at(305, 300), at(305, 300)), at(304, 1539)},
		{histURL("SBER", "1", at(101, 0), at(101, 2359)), -1},
		{histURL("SBER", "D", at(101, 0), at(101, 2359)), -1},
		{histURL("SBER", "1", at(226, 0), at(226, 659)), -1}, // the morning before the first bar
	}
	for _, c := range cases {
		_, body := env.get(t, c.query)
		r := decodeHist(t, body)
		if r.S != "no_data" {
			t.Fatalf("%s: %s", c.query, body)
		}
		switch {
		case c.wantNB < 0 && r.NB != nil:
			t.Errorf("%s: nb %d before the first bar, want none", c.query, *r.NB)
		case c.wantNB >= 0 && (r.NB == nil || *r.NB != c.wantNB):
			t.Errorf("%s: %s, want nb %d", c.query, body, c.wantNB)
		}
		u, _ := url.Parse(c.query)
		from, _ := strconv.ParseInt(u.Query().Get("from"), 10, 64)
		if r.NB != nil && *r.NB > from {
			t.Errorf("%s: nb %d after from", c.query, *r.NB)
		}
	}
	// With data in range the legacy mode answers as usual.
	if got := env.fetchBars(t, histURL("SBER", "1", at(305, 700), at(305, 800))); len(got.T) == 0 {
		t.Fatal("no bars in a trading hour")
	}
}

func TestHistoryDaily(t *testing.T) {
	env := newTestEnv(t, nil)
	daily := env.fetchBars(t, histURL("SBER", "D", at(101, 0), fixtureNow.Unix()))
	equalBars(t, "D", daily.bars(), env.hist.daily[sberFIGI])
	if oneD := env.fetchBars(t, histURL("SBER", "1D", at(101, 0), fixtureNow.Unix())); !slices.Equal(oneD.T, daily.T) {
		t.Fatal("1D differs from D")
	}
	// TradingView's price match: a day opens with its first minute and
	// closes with its last.
	for i, ts := range daily.T {
		minutes := env.fetchBars(t, histURL("SBER", "1", ts, ts+86399))
		if minutes.O[0] != daily.O[i] || minutes.C[len(minutes.C)-1] != daily.C[i] {
			t.Errorf("day %d: open/close %v/%v, minutes %v/%v", ts, daily.O[i], daily.C[i], minutes.O[0], minutes.C[len(minutes.C)-1])
		}
		if ts%86400 != 0 {
			t.Errorf("daily bar at %d is not 00:00 UTC", ts)
		}
	}
	weekly := env.fetchBars(t, histURL("SBER", "W", at(101, 0), fixtureNow.Unix()))
	monthly := env.fetchBars(t, histURL("SBER", "M", at(101, 0), fixtureNow.Unix()))
	two := env.fetchBars(t, histURL("SBER", "2D", at(101, 0), fixtureNow.Unix()))
	if !slices.Equal(weekly.T, []int64{at(226, 0), at(304, 0)}) {
		t.Errorf("weekly stamps %v", weekly.T)
	}
	// Monthly bars carry the first trading day of the month: March 1st was a Friday.
	if !slices.Equal(monthly.T, []int64{at(226, 0), at(301, 0)}) {
		t.Errorf("monthly stamps %v", monthly.T)
	}
	total := func(v []float64) (s float64) {
		for _, x := range v {
			s += x
		}
		return s
	}
	if d, w, m, t2 := total(daily.V), total(weekly.V), total(monthly.V), total(two.V); d != w || d != m || d != t2 {
		t.Errorf("volumes differ: D %v W %v M %v 2D %v", d, w, m, t2)
	}
	if weekly.O[0] != daily.O[0] || weekly.C[1] != daily.C[len(daily.C)-1] || weekly.H[0] < daily.H[0] {
		t.Errorf("weekly bars %+v do not follow the daily ones", weekly)
	}
}

func TestHistoryIntradayAlignedToSession(t *testing.T) {
	env := newTestEnv(t, nil)
	day := int64(at(305, 0))
	minutes := env.wantMinutes(day, day+86399)
	for _, n := range []int64{60, 240, 7} {
		got := env.fetchBars(t, histURL("SBER", fmt.Sprint(n), day, day+86399)).bars()
		// Recompute independently: buckets counted from the 10:00 Moscow
		// open (07:00 UTC), the last one cut short by the close.
		open := at(305, 700)
		var want []tvbridge.Bar
		for _, b := range minutes {
			key := open + (b.Time.Unix()-open)/(n*60)*(n*60)
			if len(want) > 0 && want[len(want)-1].Time.Unix() == key {
				w := &want[len(want)-1]
				w.High, w.Low, w.Close, w.Volume = max(w.High, b.High), min(w.Low, b.Low), b.Close, w.Volume+b.Volume
				continue
			}
			b.Time = time.Unix(key, 0).UTC()
			want = append(want, b)
		}
		equalBars(t, fmt.Sprintf("%d-minute bars", n), got, want)
	}
}

func TestHistoryErrors(t *testing.T) {
	env := newTestEnv(t, nil)
	ok := fmt.Sprintf("&from=%d&to=%d", at(305, 700), at(305, 800))
	queries := []string{
		"/history?resolution=1" + ok,
		"/history?symbol=NOPE&resolution=1" + ok,
		"/history?symbol=SBER" + ok,
		"/history?symbol=SBER&resolution=1S" + ok,
		"/history?symbol=SBER&resolution=0" + ok,
		"/history?symbol=SBER&resolution=01" + ok,
		"/history?symbol=SBER&resolution=1441" + ok,
		"/history?symbol=SBER&resolution=366D" + ok,
		"/history?symbol=SBER&resolution=d" + ok,
		"/history?symbol=SBER&resolution=1H" + ok,
		"/history?symbol=SBER&resolution=1&from=100",
		"/history?symbol=SBER&resolution=1&to=100",
		"/history?symbol=SBER&resolution=1&from=200&to=100",
		"/history?symbol=SBER&resolution=1&from=abc&to=100",
		"/history?symbol=SBER&resolution=1&from=1.5&to=100",
		"/history?symbol=SBER&resolution=1&from=-&to=100",
		"/history?symbol=SBER&resolution=1&from=--1&to=100",
		"/history?symbol=SBER&resolution=1&from=-99999999999&to=100", // before year 1
		"/history?symbol=SBER&resolution=1&from=1e9&to=2e9",
		"/history?symbol=SBER&resolution=1&from=1&to=99999999999999",
		"/history?symbol=SBER&resolution=1&from=1&to=999999999999",
		fmt.Sprintf("/history?symbol=SBER&resolution=1&from=%d&to=%d", at(201, 0), at(305, 0)), // > 31 days
		"/history?symbol=SBER&resolution=1&to=100&countback=0",
		"/history?symbol=SBER&resolution=1&to=100&countback=2501",
		"/history?symbol=SBER&resolution=1&to=100&countback=x",
		"/history?symbol=SBER&resolution=1&to=100&countback=-5",
		"/history?symbol=SBER&resolution=60&to=100&countback=745", // 31 days of hours
	}
	for _, q := range queries {
		code, body := env.get(t, q)
		if code != http.StatusOK {
			t.Errorf("%s: status %d", q, code)
		}
		checkSchema(t, "ErrorResponse", body)
		if r := decodeHist(t, body); r.S != "error" || len(r.Errmsg) < 10 {
			t.Errorf("%s: %s", q, body)
		}
	}
}

// A query that does not parse is an error on every data endpoint, never
// a query with the broken parameter left out: /symbol_info?group=%zz once
// answered every symbol.
func TestMalformedQueryIsAnError(t *testing.T) {
	env := newTestEnv(t, nil)
	ok := fmt.Sprintf("resolution=1&from=%d&to=%d", at(305, 700), at(305, 800))
	for _, q := range []string{
		"/symbol_info?group=%zz",
		"/symbol_info?group=%",
		"/symbol_info?group=tvbridge_stocks&x=%4",
		"/groups?%zz",
		"/history?symbol=%zzSBER&" + ok,
		"/history?symbol=SBER&" + ok + "&countback=%g1",
		"/history?symbol=SBER;" + ok,
		"/streaming?x=%zz",
	} {
		code, body := env.get(t, q)
		checkSchema(t, "ErrorResponse", body)
		if r := decodeHist(t, body); code != http.StatusOK || r.S != "error" || !strings.Contains(r.Errmsg, "malformed query") {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
	// The same queries well-formed are answered.
	for _, q := range []string{"/symbol_info?group=" + env.cat.Groups()[0], "/history?symbol=SBER&" + ok} {
		if code, body := env.get(t, q); code != http.StatusOK || decodeHist(t, body).S != "ok" {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
}

func TestHistoryStorageFailures(t *testing.T) {
	env := newTestEnv(t, nil)
	q := histURL("SBER", "1", at(305, 700), at(305, 800))
	env.hist.failErr = errStorage
	code, body := env.get(t, q)
	if code != http.StatusOK || !strings.Contains(string(body), "temporarily unavailable") {
		t.Fatalf("storage error: %d %s", code, body)
	}
	env.hist.failErr = nil
	env.hist.panics = true
	code, body = env.get(t, q)
	if code != http.StatusOK {
		t.Fatalf("panic: status %d", code)
	}
	checkSchema(t, "ErrorResponse", body)
	if strings.Contains(string(body), "goroutine") || strings.Contains(string(body), "exploded") {
		t.Fatalf("panic details leaked: %s", body)
	}
	found := false
	for _, r := range env.logs.records {
		found = found || (r.Message == "api: panic serving request" && strings.Contains(attr(r, "stack"), "fakeHistory"))
	}
	if !found {
		t.Error("the panic was not logged with its stack")
	}
}

func TestHistoryCachesClosedRanges(t *testing.T) {
	env := newTestEnv(t, nil)
	closed := histURL("SBER", "1", at(305, 0), at(305, 2359))
	open := histURL("SBER", "1", at(308, 0), at(308, 2359))
	for _, q := range []string{closed, open} {
		env.get(t, q)
	}
	reads := env.hist.reads.Load()
	env.get(t, closed)
	if env.hist.reads.Load() != reads {
		t.Error("a closed day was read again")
	}
	env.get(t, open)
	if env.hist.reads.Load() != reads+1 {
		t.Errorf("%d reads for today's range, want one (the open tail)", env.hist.reads.Load()-reads)
	}
	// The exact response is kept once it is asked for a second time.
	if n := env.h.responses.len(); n != 1 {
		t.Errorf("%d cached responses after asking twice for one closed range, want 1", n)
	}
	// An overlapping range is cut from the cached days without reading.
	env.get(t, histURL("SBER", "1", at(305, 1111), at(305, 1300)))
	if env.hist.reads.Load() != reads+1 {
		t.Error("a part of a cached day was read again")
	}
}

func TestHistoryLeavesStoreUntouched(t *testing.T) {
	env := newTestEnv(t, nil)
	snapshot := slices.Clone(env.hist.minutes[sberFIGI])
	dailySnap := slices.Clone(env.hist.daily[sberFIGI])
	for _, res := range []string{"1", "5", "60", "D", "2D", "W", "M"} {
		env.get(t, histURL("SBER", res, at(226, 0), fixtureNow.Unix()))
		env.get(t, fmt.Sprintf("/history?symbol=SBER&resolution=%s&to=%d&countback=2000", res, fixtureNow.Unix()))
	}
	if !slices.Equal(snapshot, env.hist.minutes[sberFIGI]) || !slices.Equal(dailySnap, env.hist.daily[sberFIGI]) {
		t.Fatal("serving /history modified the bars the store returned")
	}
}

func TestAuthAndMethods(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.Auth = func(r *http.Request) error {
			if r.Header.Get("Authorization") != "Bearer good" {
				return fmt.Errorf("missing or expired token")
			}
			return nil
		}
	})
	for _, path := range []string{"/symbol_info", "/groups", "/history", "/streaming"} {
		code, body := env.get(t, path)
		if code != http.StatusUnauthorized {
			t.Errorf("%s without token: %d", path, code)
		}
		checkSchema(t, "ErrorResponse", body)
	}
	req := httptest.NewRequest(http.MethodGet, "/groups", nil)
	req.Header.Set("Authorization", "Bearer good")
	rec := httptest.NewRecorder()
	env.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("/groups with token: %d", rec.Code)
	}
	if code, body := env.get(t, "/healthz"); code != http.StatusOK || !strings.Contains(string(body), `"symbols":5`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	rec = httptest.NewRecorder()
	env.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/history", nil))
	if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Body.String(), `"s":"error"`) {
		t.Errorf("POST /history: %d %s", rec.Code, rec.Body)
	}
	if code, _ := env.get(t, "/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d", code)
	}
}

// FuzzHistoryQuery drives the whole /history handler with arbitrary
// parameters: it must always answer 200 with one of the documented shapes,
// and bars only where they belong.
func FuzzHistoryQuery(f *testing.F) {
	f.Add("SBER", "1", "1709622000", "1709625000", "")
	f.Add("SBER", "D", "0", "1709856030", "")
	f.Add("brk/b", "60", "1709622000", "1709625000", "")
	f.Add("SBER", "W", "1", "253402300799", "")
	f.Add("SBER", "1", "", "1709856030", "2500")
	f.Add("SBER", "5", "1709856000", "1709856000", "7")
	f.Add("", "", "", "", "")
	f.Add("SBER", "1S", "-1", "1e9", "0")
	f.Add("SBER\x00", "12M", "99999999999", "999999999999", "x")
	env := newTestEnv(f, func(c *Config) { c.Logger = discardLogger() })
	f.Fuzz(func(t *testing.T, symbol, res, from, to, countback string) {
		q := url.Values{}
		for k, v := range map[string]string{"symbol": symbol, "resolution": res, "from": from, "to": to, "countback": countback} {
			if v != "" {
				q.Set(k, v)
			}
		}
		code, body := env.get(t, "/history?"+q.Encode())
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		r := decodeHist(t, body)
		switch r.S {
		case "error":
			if r.Errmsg == "" {
				t.Fatal("error without errmsg")
			}
		case "ok":
			for _, ts := range r.T {
				if ts > fixtureNow.Unix() {
					t.Fatalf("bar at %d in the future", ts)
				}
			}
		default:
			t.Fatalf("unexpected answer %s", body)
		}
	})
}

// TestHistoryWalksBackOverLongGaps uses a sparse instrument, a few trades in
// 2020 and in 2024, to check that countback and the legacy next-bar search
// read back across a gap far longer than one chunk, with and without a
// known first bar.
func TestHistoryWalksBackOverLongGaps(t *testing.T) {
	for _, firstKnown := range []bool{true, false} {
		env := newTestEnv(t, func(c *Config) { c.LegacyNoData = true })
		fxus, _ := env.cat.Lookup("FXUS")
		old := time.Date(2020, 6, 2, 8, 0, 0, 0, time.UTC)
		recent := time.Date(2024, 3, 5, 8, 0, 0, 0, time.UTC)
		var bars []tvbridge.Bar
		for i := range 8 {
			bars = append(bars, fixtureBar(old.Add(time.Duration(i)*time.Minute), 1))
		}
		for i := range 3 {
			bars = append(bars, fixtureBar(recent.Add(time.Duration(i)*time.Minute), 1))
		}
		env.hist.setMinutes(fxus, bars)
		env.hist.setClosed(fxus.Instrument.FIGI, fixtureNow)
		if !firstKnown {
			delete(env.hist.first, fxus.Instrument.FIGI)
		}
		q := fmt.Sprintf("/history?symbol=FXUS&resolution=1&to=%d&countback=10", fixtureNow.Unix())
		got := env.fetchBars(t, q)
		if len(got.T) != 10 || got.T[0] != old.Add(time.Minute).Unix() || got.T[9] != recent.Add(2*time.Minute).Unix() {
			t.Fatalf("first bar known %v: countback 10 gave %v", firstKnown, got.T)
		}
		_, body := env.get(t, histURL("FXUS", "1", at(101, 0), at(101, 2359)))
		want := fmt.Sprintf(`{"s":"no_data","nb":%d}`+"\n", old.Add(7*time.Minute).Unix())
		if string(body) != want {
			t.Fatalf("first bar known %v: %s, want %s", firstKnown, body, want)
		}
	}
}

package tinkoff

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

var msk = time.FixedZone("MSK", 3*3600)

// candleServer answers /market/candles with the candles of the grid
// anchor + k*step that lie in [from - step, to] of each request: one before
// "from" and one on "to" are included on purpose (the real service was seen
// returning candles on and outside the bounds), which makes consecutive
// windows overlap. Candles come newest first, prices in exponent notation
// and volumes written as floats.
func candleServer(t testing.TB, f *fakeService, anchor time.Time, step time.Duration) {
	f.handle("GET", "/openapi/market/candles", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, err1 := time.Parse(time.RFC3339Nano, q.Get("from"))
		to, err2 := time.Parse(time.RFC3339Nano, q.Get("to"))
		if err1 != nil || err2 != nil {
			writeEnvelope(w, 500, "trk-bad", "Error", map[string]string{
				"code": "MALFORMED_QUERY_PARAMETER", "message": fmt.Sprint(err1, err2)})
			return
		}
		var out []string
		last := anchor.Add(to.Sub(anchor) / step * step)
		for ts := last; !ts.Before(from.Add(-step)); ts = ts.Add(-step) {
			out = append(out, fmt.Sprintf(`{"figi":%q,"interval":%q,"o":1.2E+2,"c":1.21e2,"h":122,"l":119.5,"v":12.0,"time":%q}`,
				q.Get("figi"), q.Get("interval"), ts.UTC().Format(time.RFC3339)))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"trackingId":"trk-c","status":"Ok","payload":{"figi":%q,"interval":%q,"candles":[%s]}}`,
			q.Get("figi"), q.Get("interval"), strings.Join(out, ","))
	})
}

// checkCandles verifies the result is exactly one candle per step in [from, to).
func checkCandles(t *testing.T, got []tvbridge.Candle, from, to time.Time, step time.Duration, interval tvbridge.CandleInterval) {
	t.Helper()
	want := int(to.Sub(from) / step)
	if len(got) != want {
		t.Fatalf("got %d candles, want %d", len(got), want)
	}
	for i, c := range got {
		if wantT := from.Add(time.Duration(i) * step); !c.Time.Equal(wantT) {
			t.Fatalf("candle %d at %s, want %s", i, c.Time, wantT)
		}
		if c.Time.Location() != time.UTC {
			t.Fatalf("candle %d time not UTC: %s", i, c.Time)
		}
		if c.Open != 120 || c.Close != 121 || c.Volume != 12 || c.Interval != interval || c.FIGI != "BBG000B9XRY4" {
			t.Fatalf("candle %d decoded wrongly: %+v", i, c)
		}
	}
}

// requestWindows returns the from/to of every candles request, checking that
// the "+" of an offset reached the server escaped.
func requestWindows(t *testing.T, f *fakeService) [][2]time.Time {
	t.Helper()
	var out [][2]time.Time
	for _, r := range f.recorded() {
		if r.Path != "/openapi/market/candles" {
			continue
		}
		if strings.Contains(r.Query.Get("from"), "+") && !strings.Contains(r.RawQuery, "%2B") {
			t.Errorf("offset '+' not escaped in %q", r.RawQuery)
		}
		from, _ := time.Parse(time.RFC3339Nano, r.Query.Get("from"))
		to, _ := time.Parse(time.RFC3339Nano, r.Query.Get("to"))
		out = append(out, [2]time.Time{from, to})
	}
	return out
}

func checkWindows(t *testing.T, got [][2]time.Time, want [][2]time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d requests %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if !got[i][0].Equal(want[i][0]) || !got[i][1].Equal(want[i][1]) {
			t.Errorf("request %d: [%s, %s), want [%s, %s)", i, got[i][0], got[i][1], want[i][0], want[i][1])
		}
	}
}

func TestCandlesOneMinuteThreeDaysSplitsByDay(t *testing.T) {
	f := newFakeService(t)
	from := time.Date(2021, 3, 1, 10, 0, 0, 0, msk)
	candleServer(t, f, from, time.Minute)
	c, tr := f.client(ClientConfig{}, false)
	to := from.Add(3 * day)

	got, err := c.Candles(context.Background(), "BBG000B9XRY4", from, to, tvbridge.Interval1Min)
	if err != nil {
		t.Fatal(err)
	}
	checkCandles(t, got, from, to, time.Minute, tvbridge.Interval1Min)
	checkWindows(t, requestWindows(t, f), [][2]time.Time{
		{from, from.Add(day)}, {from.Add(day), from.Add(2 * day)}, {from.Add(2 * day), to},
	})
	for _, r := range f.recorded() {
		if got := r.Query.Get("from"); !strings.HasSuffix(got, "+03:00") {
			t.Errorf("from %q lost the caller's offset", got)
		}
		if r.Query.Get("interval") != "1min" || r.Query.Get("figi") != "BBG000B9XRY4" {
			t.Errorf("bad query %q", r.RawQuery)
		}
	}
	tr.check(t)
}

func TestCandlesHourTwentyDays(t *testing.T) {
	f := newFakeService(t)
	from := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	candleServer(t, f, from, time.Hour)
	c, _ := f.client(ClientConfig{}, false)
	to := from.Add(20 * day)

	got, err := c.Candles(context.Background(), "BBG000B9XRY4", from, to, tvbridge.IntervalHour)
	if err != nil {
		t.Fatal(err)
	}
	checkCandles(t, got, from, to, time.Hour, tvbridge.IntervalHour)
	checkWindows(t, requestWindows(t, f), [][2]time.Time{
		{from, from.Add(7 * day)}, {from.Add(7 * day), from.Add(14 * day)}, {from.Add(14 * day), to},
	})
}

func TestCandlesDayThreeYears(t *testing.T) {
	f := newFakeService(t)
	from := time.Date(2019, 1, 1, 7, 0, 0, 0, time.UTC)
	candleServer(t, f, from, day)
	c, _ := f.client(ClientConfig{}, false)
	to := time.Date(2022, 1, 1, 7, 0, 0, 0, time.UTC) // 1096 days: 2020 is a leap year

	got, err := c.Candles(context.Background(), "BBG000B9XRY4", from, to, tvbridge.IntervalDay)
	if err != nil {
		t.Fatal(err)
	}
	checkCandles(t, got, from, to, day, tvbridge.IntervalDay)
	y := 365 * day
	checkWindows(t, requestWindows(t, f), [][2]time.Time{
		{from, from.Add(y)}, {from.Add(y), from.Add(2 * y)}, {from.Add(2 * y), from.Add(3 * y)}, {from.Add(3 * y), to},
	})
}

func TestCandlesShortRangeWidenedToMinimum(t *testing.T) {
	f := newFakeService(t)
	from := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC) // a Monday
	candleServer(t, f, from, 7*day)
	c, _ := f.client(ClientConfig{}, false)
	to := from.Add(3 * day)

	got, err := c.Candles(context.Background(), "BBG000B9XRY4", from, to, tvbridge.IntervalWeek)
	if err != nil {
		t.Fatal(err)
	}
	// The request covers 7 days back from "to"; only the candle at "from" is in range.
	checkWindows(t, requestWindows(t, f), [][2]time.Time{{to.Add(-7 * day), to}})
	if len(got) != 1 || !got[0].Time.Equal(from) {
		t.Fatalf("got %+v, want the one candle at %s", got, from)
	}
}

func TestCandlesRejectsBadRequestsWithoutCalling(t *testing.T) {
	f := newFakeService(t)
	c, _ := f.client(ClientConfig{}, false)
	t0 := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		figi     string
		from, to time.Time
		interval tvbridge.CandleInterval
		want     string
	}{
		{"2hour", "F", t0, t0.Add(day), tvbridge.Interval2Hour, "stream only"},
		{"4hour", "F", t0, t0.Add(day), tvbridge.Interval4Hour, "stream only"},
		{"unknown", "F", t0, t0.Add(day), "7min", "unknown interval"},
		{"from equals to", "F", t0, t0, tvbridge.Interval1Min, "empty range"},
		{"from after to", "F", t0.Add(time.Hour), t0, tvbridge.Interval1Min, "empty range"},
		{"no figi", "", t0, t0.Add(day), tvbridge.Interval1Min, "empty FIGI"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Candles(context.Background(), tc.figi, tc.from, tc.to, tc.interval)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if n := len(f.recorded()); n != 0 {
		t.Fatalf("%d requests sent for invalid calls", n)
	}
}

func TestCandlesErrorNamesTheFailingWindow(t *testing.T) {
	f := newFakeService(t)
	f.handle("GET", "/openapi/market/candles", func(w http.ResponseWriter, r *http.Request) {
		writeEnvelope(w, 500, "trk-v", "Error", map[string]string{
			"code": "VALIDATION_ERROR", "message": "[to]: Bad candle interval"})
	})
	c, _ := f.client(ClientConfig{}, false)
	from := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	_, err := c.Candles(context.Background(), "BBG000B9XRY4", from, from.Add(2*day), tvbridge.Interval5Min)
	if err == nil || !strings.Contains(err.Error(), "request 1 of 2") || !strings.Contains(err.Error(), "VALIDATION_ERROR") {
		t.Fatalf("err = %v", err)
	}
	if f.count("/openapi/market/candles") != 1 {
		t.Fatalf("kept requesting after a failed window")
	}
}

func TestCandlesBadCandleTimeIsAnError(t *testing.T) {
	f := newFakeService(t)
	f.ok("GET", "/openapi/market/candles", map[string]any{"figi": "F", "interval": "1min",
		"candles": []map[string]any{{"o": 1, "c": 1, "h": 1, "l": 1, "v": 1, "time": "yesterday"}}})
	c, _ := f.client(ClientConfig{}, false)
	from := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := c.Candles(context.Background(), "F", from, from.Add(time.Hour), tvbridge.Interval1Min); err == nil ||
		!strings.Contains(err.Error(), "yesterday") {
		t.Fatalf("err = %v, want a candle time error", err)
	}
}

func TestMergeCandlesKeepsLastDuplicateAndFilters(t *testing.T) {
	t0 := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int, v float64) tvbridge.Candle {
		return tvbridge.Candle{Time: t0.Add(time.Duration(m) * time.Minute), Volume: v}
	}
	got := mergeCandles([]tvbridge.Candle{at(2, 1), at(-1, 1), at(0, 1), at(2, 2), at(3, 1), at(1, 1)}, t0, t0.Add(3*time.Minute))
	want := []tvbridge.Candle{at(0, 1), at(1, 1), at(2, 2)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

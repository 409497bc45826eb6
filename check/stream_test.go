package check

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"tvbridge/clock"
)

// testRunner is a runner for unit tests of the analysis, without a server.
func testRunner(clk clock.Clock) *runner {
	c := newClient("http://fake", http.DefaultClient, 1, time.Second)
	return &runner{
		cfg: Config{Duration: time.Minute, Connections: 1}, c: c, clk: clk, results: map[string]Result{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), obs: newObserver(c, nil, "no spec"),
	}
}

// line is one stream line and the time that passes before it arrives.
type line struct {
	after time.Duration
	text  string
}

// clockedReader hands out one line per Read, advancing the fake clock by
// the line's delay first, as if it had travelled that long.
type clockedReader struct {
	clk   *clock.Fake
	lines []line
}

func (r *clockedReader) Read(p []byte) (int, error) {
	if len(r.lines) == 0 {
		return 0, io.EOF
	}
	l := r.lines[0]
	r.clk.Advance(l.after)
	n := copy(p, l.text)
	if n < len(l.text) {
		r.lines[0] = line{0, l.text[n:]} // the rest at the next Read
	} else {
		r.lines = r.lines[1:]
	}
	return n, nil
}

// readLines runs one connection's reader over the lines, from the fake
// start time, and returns its state.
func readLines(t *testing.T, lines ...line) (*connState, *runner) {
	t.Helper()
	clk := clock.NewFake(fakeStart)
	r := testRunner(clk)
	sr := &streamRun{r: r, opened: make(chan struct{})}
	c := newConnState(0, sr)
	c.ex = &exchange{status: http.StatusOK, proto: "HTTP/1.1", header: http.Header{}}
	c.connectAt, c.lastRecv, c.lastBeat = clk.Now(), clk.Now(), clk.Now()
	sr.conns = []*connState{c}
	c.read(context.Background(), &clockedReader{clk: clk, lines: lines})
	return c, r
}

func at(offset int64) int64 { return fakeStart.Unix() + offset }

func TestStreamValueRules(t *testing.T) {
	c, r := readLines(t,
		line{0, fmt.Sprintf(`{"f":"t","id":"A","p":1,"s":0,"t":%d}`+"\n", at(0))},
		line{0, fmt.Sprintf(`{"f":"t","id":"A","p":1,"s":-1,"t":%d}`+"\n", at(0))},
		line{0, fmt.Sprintf(`{"f":"q","id":"A","t":%d,"ap":2,"as":-1,"bp":1,"bs":1}`+"\n", at(0))},
		line{0, fmt.Sprintf(`{"f":"d","id":"A","o":1,"h":0.5,"l":1,"c":1,"v":1,"t":%d}`+"\n", at(0)-at(0)%secondsPerDay+60)},
		line{0, `{"f":"t","id":"A"}` + "\n"},
		line{0, `not json` + "\n"},
		line{0, `{"heartbeat":1}`},
	)
	r.mergeTallies("streaming/fields", []*connState{c}, func(c *connState) *tally { return &c.fields }, "ok")
	res := r.results["streaming/fields"]
	all := strings.Join(res.Details, "\n")
	for _, want := range []string{"size -1 is negative", "quote sizes must not be negative", "high 0.5 below",
		"is not 00:00 UTC", `"p" is missing`, "not JSON", "warning: connection 0: trade size 0"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in:\n%s", want, all)
		}
	}
	if res.Status != Fail || !c.partialLine || c.lines != 6 {
		t.Errorf("status %s, partial line %v, %d lines", res.Status, c.partialLine, c.lines)
	}
}

func TestStreamTimeRules(t *testing.T) {
	c, r := readLines(t,
		line{0, fmt.Sprintf(`{"f":"q","id":"A","t":%d,"ap":2,"as":1,"bp":1,"bs":1}`+"\n", at(0))},
		line{0, fmt.Sprintf(`{"f":"q","id":"A","t":%d,"ap":2,"as":1,"bp":1,"bs":1}`+"\n", at(-1))},
		line{0, fmt.Sprintf(`{"f":"t","id":"A","p":1,"s":1,"t":%d}`+"\n", at(-2))}, // another kind: its own clock
		line{0, fmt.Sprintf(`{"f":"t","id":"B","p":1,"s":1,"t":%d.5}`+"\n", at(0))},
		line{0, fmt.Sprintf(`{"f":"t","id":"C","p":1,"s":1,"t":%d}`+"\n", at(0)*1000)},
		line{0, fmt.Sprintf(`{"f":"t","id":"D","p":1,"s":1,"t":%d}`+"\n", at(-3*secondsPerDay))},
	)
	r.mergeTallies("streaming/time-never-decreases", []*connState{c}, func(c *connState) *tally { return &c.backwards }, "ok")
	r.mergeTallies("streaming/time-unit", []*connState{c}, func(c *connState) *tally { return &c.unit }, "ok")
	back, unit := r.results["streaming/time-never-decreases"], r.results["streaming/time-unit"]
	if back.Status != Fail || len(back.Details) != 1 || !strings.Contains(back.Reason, `A "q" time went back`) {
		t.Errorf("backwards: %s %q %v", back.Status, back.Reason, back.Details)
	}
	all := strings.Join(unit.Details, "\n")
	for _, want := range []string{"looks like milliseconds", "more than a day from now", "warning: connection 0: t=1.7731548075e+09 has a fraction"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in:\n%s", want, all)
		}
	}
}

func TestStreamDelayThresholds(t *testing.T) {
	// Each tick arrives at fakeStart, a whole second; whole-second tick
	// times hide up to a second, so a tick of second s is late by at least
	// fakeStart - (s+1).
	cases := []struct {
		tick int64 // seconds from fakeStart
		want Status
	}{
		{0, Pass}, {-1, Pass}, {-2, Pass}, // at most 1 s late
		{-3, Warn}, {-6, Warn}, // 2..5 s
		{-7, Fail},                      // 6 s
		{1, Pass}, {2, Warn}, {6, Fail}, // in the future (or the clocks disagree)
	}
	for _, tc := range cases {
		c, r := readLines(t, line{0, fmt.Sprintf(`{"f":"t","id":"A","p":1,"s":1,"t":%d}`+"\n", at(tc.tick))})
		r.checkDelay([]*connState{c})
		if got := r.results["streaming/delay"]; got.Status != tc.want {
			t.Errorf("tick at %+d s: %s (%s), want %s", tc.tick, got.Status, got.Reason, tc.want)
		}
	}
}

func TestStreamSilenceWarns(t *testing.T) {
	c, r := readLines(t,
		line{time.Second, fmt.Sprintf(`{"heartbeat":%d}`+"\n", at(1))},
		line{9 * time.Second, fmt.Sprintf(`{"heartbeat":%d}`+"\n", at(10))},
	)
	r.checkHeartbeat([]*connState{c})
	if res := r.results["streaming/heartbeat"]; res.Status != Warn || !strings.Contains(res.Reason, "silent for 9s") {
		t.Errorf("%s %s", res.Status, res.Reason)
	}
}

// busyLines is a trade a second for n seconds, with a heartbeat at the
// seconds beats lists.
func busyLines(n int64, beats ...int64) []line {
	var out []line
	for s := int64(1); s <= n; s++ {
		out = append(out, line{time.Second, fmt.Sprintf(`{"f":"t","id":"AAA","p":1,"s":1,"t":%d}`+"\n", at(s))})
		for _, b := range beats {
			if b == s {
				out = append(out, line{0, fmt.Sprintf(`{"heartbeat":%d}`+"\n", at(s))})
			}
		}
	}
	return out
}

// A stream never silent still fails when its heartbeats are too far apart.
func TestStreamHeartbeatInterval(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lines  []line
		status Status
		reason string
	}{
		{"every 5 s among trades", busyLines(20, 5, 10, 15, 20), Pass, "longest gap 5s"},
		{"only when idle", busyLines(20), Fail, "no heartbeat for 20s while 20 ticks arrived"},
		{"a gap of 8 s", busyLines(20, 5, 13, 18), Fail, "no heartbeat for 8s while 8 ticks arrived"},
		{"a short run", busyLines(3), Skip, "too short"},
	} {
		c, r := readLines(t, tc.lines...)
		c.stopped = true
		r.checkHeartbeat([]*connState{c})
		r.checkHeartbeatInterval([]*connState{c})
		if res := r.results["streaming/heartbeat"]; res.Status != Pass {
			t.Errorf("%s: streaming/heartbeat %s %s, want pass: the stream is never silent", tc.name, res.Status, res.Reason)
		}
		if res := r.results["streaming/heartbeat-interval"]; res.Status != tc.status || !strings.Contains(res.Reason, tc.reason) {
			t.Errorf("%s: %s %s, want %s with %q", tc.name, res.Status, res.Reason, tc.status, tc.reason)
		}
	}
}

func TestStreamLineTooLong(t *testing.T) {
	c, _ := readLines(t, line{0, strings.Repeat("x", maxLine+100) + "\n"})
	if !c.fields.failed() || c.endErr == nil {
		t.Fatalf("a line over %d bytes was accepted: %v", maxLine, c.endErr)
	}
}

func TestCoveredMinutes(t *testing.T) {
	base := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	cases := []struct {
		connect, end time.Duration
		first, last  time.Duration
		ok           bool
	}{
		{0, 65 * time.Second, 0, 0, true},                                    // exactly one minute plus the margin
		{0, 64 * time.Second, 0, 0, false},                                   // the margin is missing
		{time.Nanosecond, 125 * time.Second, time.Minute, time.Minute, true}, // opened just after a minute began
		{7 * time.Second, 2*time.Minute + 4*time.Second, 0, 0, false},
		{7 * time.Second, 3*time.Minute + 30*time.Second, time.Minute, 2 * time.Minute, true},
	}
	for _, tc := range cases {
		c := &connState{ex: &exchange{status: http.StatusOK}, connectAt: base.Add(tc.connect), endAt: base.Add(tc.end)}
		first, last, ok := c.covered()
		if ok != tc.ok || (ok && (first != base.Add(tc.first).Unix() || last != base.Add(tc.last).Unix())) {
			t.Errorf("open %s..%s: %s..%s %v", tc.connect, tc.end, unixString(first), unixString(last), ok)
		}
	}
}

func TestMismatchTolerance(t *testing.T) {
	c := newClient("http://fake", nil, 1, time.Second)
	mk := func(compared, mismatched int) *barComparison {
		cmp := &barComparison{compared: compared, symbols: 1}
		for i := range mismatched {
			cmp.mismatched = append(cmp.mismatched, finding{msg: fmt.Sprintf("bar %d", i)})
		}
		return cmp
	}
	for _, tc := range []struct {
		compared, mismatched int
		want                 Status
	}{{40, 0, Pass}, {40, 2, Warn}, {40, 3, Fail}, {0, 0, Skip}} {
		res := mk(tc.compared, tc.mismatched).result(c, at(0), at(60))
		if res.Status != tc.want || len(res.Details) != tc.mismatched {
			t.Errorf("%d of %d: %s (%s), %d details", tc.mismatched, tc.compared, res.Status, res.Reason, len(res.Details))
		}
	}
}

func TestParallelComparison(t *testing.T) {
	mk := func(idx int, lines ...string) *connState {
		sr := &streamRun{r: testRunner(clock.NewFake(fakeStart)), windowStart: 1, windowEnd: 1 << 40}
		c := newConnState(idx, sr)
		for _, l := range lines {
			m, _, _ := parseStreamLine([]byte(l))
			c.fold(m)
		}
		return c
	}
	same := []string{`{"f":"t","id":"A","p":1,"s":1,"t":100}`, `{"f":"q","id":"A","t":100,"ap":2,"as":1,"bp":1,"bs":1}`}
	reordered := []string{same[1], same[0]}
	for _, tc := range []struct {
		name  string
		other []string
		want  Status
	}{{"identical", same, Pass}, {"reordered", reordered, Fail}, {"missing a line", same[:1], Fail}} {
		t.Run(tc.name, func(t *testing.T) {
			tl := &tally{}
			compareConnections([]*connState{mk(0, same...), mk(1, tc.other...)}, tl)
			if res := tl.result(newClient("http://x", nil, 1, 0), "p"); res.Status != tc.want {
				t.Errorf("%s: %s", res.Status, res.Reason)
			}
		})
	}
}

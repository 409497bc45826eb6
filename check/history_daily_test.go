package check

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge/clock"
)

// TestOpenDayCloseUsesTheMinutesOfItsSnapshot replays what CI once saw: a
// new minute opens between the first read of the day's minutes and the
// daily bar. The daily close then equals the new minute's close, and must
// be compared with the minutes read after it, not with the first read.
func TestOpenDayCloseUsesTheMinutesOfItsSnapshot(t *testing.T) {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).Unix()
	m1, m2 := day+6*3600+51*60, day+6*3600+52*60
	older := fmt.Sprintf(`{"s":"ok","t":[%d],"o":[82.5],"h":[82.8],"l":[82.5],"c":[82.75],"v":[10]}`, m1)
	newer := fmt.Sprintf(`{"s":"ok","t":[%d,%d],"o":[82.5,82.75],"h":[82.8,82.75],"l":[82.5,82.7],"c":[82.75,82.7],"v":[10,3]}`, m1, m2)
	daily := fmt.Sprintf(`{"s":"ok","t":[%d],"o":[82.5],"h":[82.8],"l":[82.5],"c":[82.7],"v":[13]}`, day)
	var minuteReads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("resolution") != resMinute {
			fmt.Fprint(w, daily)
			return
		}
		if from := r.URL.Query().Get("from"); from < fmt.Sprint(day) { // the days before: some bar
			fmt.Fprintf(w, `{"s":"ok","t":[%s],"o":[80],"h":[80],"l":[80],"c":[80],"v":[1]}`, from)
			return
		}
		if minuteReads.Add(1) == 1 {
			fmt.Fprint(w, older)
			return
		}
		fmt.Fprint(w, newer)
	}))
	defer srv.Close()

	r := &runner{
		c:   newClient(srv.URL, srv.Client(), 1, 5*time.Second),
		clk: clock.NewFake(time.Unix(m2+20, 0)),
	}
	r.obs = newObserver(r.c, nil, "no spec in this test")
	s := &subject{sym: &symbolRef{Name: "SIMCO", Ticker: "SIMCO", HasDaily: true, Session: "24x7",
		Timezone: "Etc/UTC", Sched: schedule("24x7", "Etc/UTC")}}
	periods := s.sym.Sched.Periods(time.Unix(day, 0).UTC())
	dayBar := bar{T: day, O: 82.5, H: 82.8, L: 82.5, C: 82.75, V: 10}

	var tl tally
	if !r.compareDay(context.Background(), s, dayBar, periods, false, &tl) {
		t.Fatal("the open day was not compared")
	}
	if len(tl.fails) > 0 {
		t.Fatalf("a consistent server failed: %s", tl.fails[0].msg)
	}
	if len(tl.passes) != 1 || !strings.Contains(tl.passes[0], "match") {
		t.Fatalf("want one pass comparing the close, got %q", tl.passes)
	}
}

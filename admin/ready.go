package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Check is one condition of /readyz.
type Check struct {
	// Name identifies the check in /readyz's body, e.g. "catalogue".
	Name string
	// Run returns nil when the condition holds, else an error that says
	// why not, in an operator's words. Its context ends after
	// Config.CheckTimeout; a Run that does not return by then is reported
	// as timed out (and its result is used by later /readyz calls once it
	// returns, within CacheFor).
	Run func(ctx context.Context) error
	// CacheFor reuses a result for this long, for a check that costs a
	// request (the trading venue answers). Zero runs the check on every
	// /readyz; either way, concurrent /readyz calls share one run.
	CacheFor time.Duration
}

// CheckResult is one check in /readyz's body.
type CheckResult struct {
	Name   string  `json:"name"`
	Status string  `json:"status"`        // "ok" or "fail"
	Why    string  `json:"why,omitempty"` // when it fails
	TookMS float64 `json:"took_ms"`       // how long the run took
	// Age is how old a cached result is, in seconds (0: run for this call).
	Age float64 `json:"age_s,omitempty"`
}

// Readiness is /readyz's body.
type Readiness struct {
	S      string        `json:"s"` // "ok" when every check passes, else "error"
	Checks []CheckResult `json:"checks"`
}

// checker runs one Check with caching and one run at a time.
type checker struct {
	Check
	mu      sync.Mutex
	running chan struct{} // closed when the run in flight ends; nil: none
	err     error         // the last result
	took    time.Duration
	at      time.Time // when the last result was taken; zero: never
}

// result returns a fresh enough result, waiting for a run (its own or one
// already in flight) until ctx ends.
func (c *checker) result(ctx context.Context, now func() time.Time, timeout time.Duration) CheckResult {
	c.mu.Lock()
	if !c.at.IsZero() && c.CacheFor > 0 && now().Sub(c.at) < c.CacheFor {
		r := c.resultLocked(now)
		c.mu.Unlock()
		return r
	}
	done := c.running
	if done == nil {
		done = make(chan struct{})
		c.running = done
		go c.run(done, now, timeout)
	}
	c.mu.Unlock()
	select {
	case <-done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.resultLocked(now)
	case <-ctx.Done():
		return CheckResult{Name: c.Name, Status: "fail", Why: fmt.Sprintf("no answer within %v", timeout),
			TookMS: ms(timeout)}
	}
}

// run runs the check once and records its result.
func (c *checker) run(done chan struct{}, now func() time.Time, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := safeRun(ctx, c.Run)
	took := time.Since(start)
	c.mu.Lock()
	c.err, c.took, c.at, c.running = err, took, now(), nil
	c.mu.Unlock()
	close(done)
}

func (c *checker) resultLocked(now func() time.Time) CheckResult {
	r := CheckResult{Name: c.Name, Status: "ok", TookMS: ms(c.took)}
	if c.err != nil {
		r.Status, r.Why = "fail", c.err.Error()
	}
	if age := now().Sub(c.at); age > 0 && c.CacheFor > 0 {
		r.Age = age.Seconds()
	}
	return r
}

// safeRun runs f, turning a panic into an error: a faulty check fails,
// it does not take the admin listener down.
func safeRun(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check panicked: %v", p)
		}
	}()
	return f(ctx)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// serveReady runs every check concurrently and answers 200 when all pass,
// 503 otherwise, with every result.
func (h *handler) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CheckTimeout)
	defer cancel()
	out := Readiness{S: "ok", Checks: make([]CheckResult, len(h.checks))}
	var wg sync.WaitGroup
	for i, c := range h.checks {
		wg.Go(func() { out.Checks[i] = c.result(ctx, h.cfg.Now, h.cfg.CheckTimeout) })
	}
	wg.Wait()
	status := http.StatusOK
	for _, c := range out.Checks {
		if c.Status != "ok" {
			out.S, status = "error", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, out)
}

// StreamState is what StreamCheck judges, taken from the upstream stream.
type StreamState struct {
	ConnectionsUp int // stream connections up now
	Connections   int // connections wanted (the pool's cap); 0: not known
	// InSession maps each instrument in session now (by its schedule) to
	// its last data update; zero: none since start.
	InSession map[string]time.Time
}

// StreamThresholds configure StreamCheck.
type StreamThresholds struct {
	// MinConnectionsUp is the least number of stream connections up;
	// default 1.
	MinConnectionsUp int
	// MaxAge is how long an instrument in session may go without an
	// update before it counts as stale; default 5 minutes (the longest an
	// illiquid instrument may be quiet before the pool's silence watchdog
	// resubscribes it).
	MaxAge time.Duration
	// MaxStale is the fraction (0 to 1) of the instruments in session that
	// may be stale, since illiquid ones go quiet: default (0) 0.2;
	// negative allows none.
	MaxStale float64
}

// StreamCheck is a readiness check that the upstream stream is connected
// and fresh for the instruments in session, after the thresholds. state
// is called on each run; it must be cheap.
func StreamCheck(name string, state func() StreamState, th StreamThresholds, now func() time.Time) Check {
	if th.MinConnectionsUp <= 0 {
		th.MinConnectionsUp = 1
	}
	if th.MaxAge <= 0 {
		th.MaxAge = 5 * time.Minute
	}
	switch {
	case th.MaxStale == 0:
		th.MaxStale = 0.2
	case th.MaxStale < 0:
		th.MaxStale = 0
	}
	if now == nil {
		now = time.Now
	}
	return Check{Name: name, Run: func(context.Context) error {
		s := state()
		if s.Connections > 0 && s.ConnectionsUp < th.MinConnectionsUp {
			return fmt.Errorf("%d of %d stream connections up, want at least %d",
				s.ConnectionsUp, s.Connections, th.MinConnectionsUp)
		}
		t := now()
		var stale []string
		for sym, last := range s.InSession {
			if last.IsZero() || t.Sub(last) > th.MaxAge {
				stale = append(stale, sym)
			}
		}
		if n := len(s.InSession); len(stale) > 0 && float64(len(stale)) > th.MaxStale*float64(n) {
			slices.Sort(stale)
			count, more := len(stale), ""
			if len(stale) > 10 {
				more = fmt.Sprintf(" and %d more", len(stale)-10)
				stale = stale[:10]
			}
			return fmt.Errorf("%d of %d instruments in session had no update for over %v (at most %.0f%% may): %s%s",
				count, n, th.MaxAge, th.MaxStale*100, strings.Join(stale, ", "), more)
		}
		return nil
	}}
}

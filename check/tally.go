package check

import (
	"fmt"
	"sync"
)

// maxViolations bounds the findings kept per check: the first ones say
// what is wrong, thousands more would only bury them.
const maxViolations = 50

// finding is one piece of evidence against a rule.
type finding struct {
	msg string
	ex  *exchange
}

// tally gathers the outcome of one check over many subjects (symbols,
// responses, connections) and turns it into one Result.
// Findings beyond maxViolations of a kind are counted, not kept, except
// for checks that must list everything (unlimited).
type tally struct {
	mu        sync.Mutex
	unlimited bool
	fails     []finding
	warns     []finding
	passes    []string
	skips     []string
	dropped   [2]int // fails, warns beyond maxViolations
}

func (t *tally) fail(ex *exchange, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.fails) >= maxViolations && !t.unlimited {
		t.dropped[0]++
		return
	}
	t.fails = append(t.fails, finding{fmt.Sprintf(format, args...), ex})
}

func (t *tally) warn(ex *exchange, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.warns) >= maxViolations && !t.unlimited {
		t.dropped[1]++
		return
	}
	t.warns = append(t.warns, finding{fmt.Sprintf(format, args...), ex})
}

// failed reports whether anything failed so far.
func (t *tally) failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.fails) > 0
}

// pass records a subject that met the rule; the first few name the result.
func (t *tally) pass(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.passes = append(t.passes, fmt.Sprintf(format, args...))
}

// skip records a subject the rule could not be tested on, and why.
func (t *tally) skip(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.skips = append(t.skips, fmt.Sprintf(format, args...))
}

// result is fail when anything failed, else warn, else pass when some
// subject passed, else skip with the reasons.
func (t *tally) result(c *client, name string) Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	res := Result{Name: name}
	switch {
	case len(t.fails) > 0:
		res.Status = Fail
		res.Reason = headline(t.fails, t.dropped[0])
		res.Details = messages(t.fails, t.dropped[0], t.warns, t.dropped[1])
		res.Request, res.Response = c.evidence(firstExchange(t.fails))
	case len(t.warns) > 0:
		res.Status = Warn
		res.Reason = headline(t.warns, t.dropped[1])
		res.Details = messages(t.warns, t.dropped[1], nil, 0)
		res.Request, res.Response = c.evidence(firstExchange(t.warns))
	case len(t.passes) > 0:
		res.Status = Pass
		res.Reason = t.passes[0]
		if n := len(t.passes); n > 1 {
			res.Reason += fmt.Sprintf(" (and %d more)", n-1)
		}
		if len(t.skips) > 0 {
			res.Reason += fmt.Sprintf("; %d not tested: %s", len(t.skips), t.skips[0])
		}
	default:
		res.Status = Skip
		res.Reason = "nothing to test"
		if len(t.skips) > 0 {
			res.Reason = t.skips[0]
			if n := len(t.skips); n > 1 {
				res.Reason += fmt.Sprintf(" (and %d more)", n-1)
			}
		}
	}
	for i := range res.Details {
		res.Details[i] = c.redact(res.Details[i])
	}
	res.Reason = c.redact(res.Reason)
	return res
}

func headline(fs []finding, dropped int) string {
	if n := len(fs) + dropped; n > 1 {
		return fmt.Sprintf("%s (and %d more)", fs[0].msg, n-1)
	}
	return fs[0].msg
}

func messages(first []finding, droppedFirst int, then []finding, droppedThen int) []string {
	out := make([]string, 0, len(first)+len(then)+2)
	for _, f := range first {
		out = append(out, f.msg)
	}
	if droppedFirst > 0 {
		out = append(out, fmt.Sprintf("... and %d more like these", droppedFirst))
	}
	for _, f := range then {
		out = append(out, "warning: "+f.msg)
	}
	if droppedThen > 0 {
		out = append(out, fmt.Sprintf("warning: ... and %d more like these", droppedThen))
	}
	return out
}

func firstExchange(fs []finding) *exchange {
	for _, f := range fs {
		if f.ex != nil {
			return f.ex
		}
	}
	return nil
}

package check

import (
	"net/http"
	"strings"
	"sync"

	"tvbridge/openapi"
)

// schemaLinesPerKind is how many /streaming lines of each message type are
// validated against the spec; the format of every line is checked anyway.
const schemaLinesPerKind = 200

// observer sees every response of the run and keeps the rules that apply to
// all of them: the OpenAPI schemas, and the format and bar times of /history.
type observer struct {
	c       *client
	spec    *openapi.Spec
	missing string

	mu      sync.Mutex
	tallies map[string]*tally
	seen    map[string]int // responses looked at, per check
	found   map[string]int // violations found, per check
	lines   map[byte]int   // streaming lines validated, per kind
	legacy  int            // legacy no_data answers, which 1.4.14 has no schema for
}

func newObserver(c *client, spec *openapi.Spec, missing string) *observer {
	return &observer{
		c: c, spec: spec, missing: missing,
		tallies: make(map[string]*tally),
		seen:    make(map[string]int),
		found:   make(map[string]int),
		lines:   make(map[byte]int),
	}
}

// note counts a response for a check and records a violation if msg is
// not empty.
func (o *observer) note(check string, ex *exchange, msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen[check]++
	if msg == "" {
		return
	}
	o.found[check]++
	t := o.tallies[check]
	if t == nil {
		t = &tally{}
		o.tallies[check] = t
	}
	t.fail(ex, "%s", msg)
}

// schema validates a response body against a component schema.
func (o *observer) schema(check, schemaName string, ex *exchange) {
	if o.spec == nil {
		return
	}
	errs := o.spec.ValidateJSON(schemaName, ex.body)
	msg := ""
	if len(errs) > 0 {
		msg = shortURL(ex.url) + " is not a valid " + schemaName + ": " + joinLimited(errs, 5)
	}
	o.note(check, ex, msg)
}

// streamLine validates one /streaming line, the first schemaLinesPerKind of
// each message type.
func (o *observer) streamLine(kind byte, line []byte, url string) {
	if o.spec == nil {
		return
	}
	o.mu.Lock()
	o.lines[kind]++
	n := o.lines[kind]
	o.mu.Unlock()
	if n > schemaLinesPerKind {
		return
	}
	name := map[byte]string{
		kindTrade: "StreamingTradeResponse", kindQuote: "StreamingQuoteResponse",
		kindDaily: "StreamingDailyBarResponse", kindHeartbeat: "StreamingHeartbeatResponse",
		kindAsk: "StreamingAskResponse(deprecated)", kindBid: "StreamingBidResponse(deprecated)",
	}[kind]
	ex := &exchange{method: http.MethodGet, url: url, status: http.StatusOK, proto: "stream line", body: line}
	o.schema("schema/streaming", name, ex)
}

// history checks one /history answer: its format, its bar times for the
// resolution asked, and its schema.
func (o *observer) history(ex *exchange, resolution string, h history, parseErr error) {
	if ex.failed() != nil {
		return // the check that sent it reports transport errors
	}
	if parseErr != nil {
		o.note("history/format", ex, shortURL(ex.url)+": "+parseErr.Error())
		return
	}
	o.note("history/format", ex, "")
	o.note("history/bar-times", ex, barTimeProblem(h.Bars, resolution))
	switch {
	case h.Status == "no_data":
		o.mu.Lock()
		o.legacy++
		o.mu.Unlock()
	case h.Status == "error":
		o.schema("schema/history", "ErrorResponse", ex)
	case len(h.Bars) == 0:
		o.schema("schema/history", "HistoryEmptyBarResponse", ex)
	default:
		o.schema("schema/history", "HistorySuccessResponse", ex)
	}
}

// barTimeProblem says what is wrong with the bar times of one answer.
func barTimeProblem(bars []bar, resolution string) string {
	align := int64(60)
	if strings.HasSuffix(resolution, "D") {
		align = secondsPerDay
	}
	for i, b := range bars {
		if i > 0 && b.T <= bars[i-1].T {
			return "bar times do not strictly increase: " + unixString(bars[i-1].T) + " then " + unixString(b.T)
		}
		if b.T%align != 0 {
			if align == secondsPerDay {
				return "daily bar " + unixString(b.T) + " is not stamped 00:00 UTC"
			}
			return "1-minute bar " + unixString(b.T) + " does not start on a whole minute"
		}
	}
	return ""
}

// results turns what was observed into the results of the checks that
// span the whole run.
func (o *observer) results(r *runner) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, name := range []string{"history/format", "history/bar-times"} {
		r.set(o.result(name, "/history answer", ""))
	}
	for _, name := range []string{"schema/authorize", "schema/groups", "schema/symbol_info", "schema/history", "schema/streaming", "schema/trading"} {
		if o.spec == nil {
			r.skip(name, "%s", o.missing)
			continue
		}
		note := ""
		if name == "schema/history" && o.legacy > 0 {
			note = "; " + plural(o.legacy, "legacy no_data answer") + " not validated (no 1.4.14 schema)"
		}
		r.set(o.result(name, "response", note))
	}
}

func (o *observer) result(name, what, note string) Result {
	t := o.tallies[name]
	if t == nil {
		t = &tally{}
	}
	switch {
	case o.seen[name] == 0:
		t.skip("no %s to look at", what+"s")
	case o.found[name] == 0:
		t.pass("%s, all valid%s", plural(o.seen[name], what), note)
	}
	return t.result(o.c, name)
}

// shortURL drops the scheme and host from a URL for messages.
func shortURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			return u[i+3+j:]
		}
	}
	return u
}

package check

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"
)

// heartbeatGap is the longest silence, and the longest time without a
// heartbeat, that passes: a heartbeat every 5 s, plus slack for the
// network.
const heartbeatGap = 7 * time.Second

// checkStreaming turns what the connections saw into results.
func (r *runner) checkStreaming(ctx context.Context, sr *streamRun) {
	live := r.checkStreamResponse(sr)
	if len(live) == 0 {
		r.skipAll("streaming", "no /streaming connection could be opened")
		return
	}
	r.checkChunked(live)
	r.checkPermanent(sr, live)
	r.mergeTallies("streaming/fields", live, func(c *connState) *tally { return &c.fields }, "lines well-formed")
	r.mergeTallies("streaming/time-unit", live, func(c *connState) *tally { return &c.unit }, "tick times are Unix seconds near now")
	r.mergeTallies("streaming/time-never-decreases", live, func(c *connState) *tally { return &c.backwards }, "tick times never decreased")
	r.checkDelay(live)
	r.checkHeartbeat(live)
	r.checkHeartbeatInterval(live)
	r.checkTickKinds(live)
	r.checkKnownSymbols(live)
	r.checkEverySymbolTicks(ctx, live)
	r.checkDailyBars(live)
	r.checkParallel(sr, live)
	r.checkHistoryEquality(ctx, live)
}

// checkStreamResponse requires HTTP 200 on every connection and returns
// the connections that got it.
func (r *runner) checkStreamResponse(sr *streamRun) []*connState {
	t := &tally{}
	var live []*connState
	for _, c := range sr.conns {
		switch {
		case c.ex.status == http.StatusOK:
			live = append(live, c)
		case c.ex.status == 0:
			t.fail(c.ex, "connection %d: %v", c.idx, c.endErr)
		default:
			t.fail(c.ex, "connection %d: HTTP %d", c.idx, c.ex.status)
		}
	}
	t.pass("HTTP 200 on %s", plural(len(live), "connection"))
	r.setTally("streaming/response", t)
	return live
}

func (r *runner) checkChunked(live []*connState) {
	t := &tally{}
	chunked := 0
	for _, c := range live {
		switch {
		case c.ex.proto == "HTTP/2.0" || c.ex.proto == "HTTP/3.0":
			t.skip("connection %d is %s, which has no chunked encoding", c.idx, c.ex.proto)
		case !c.transferChunk:
			cl := c.ex.header.Get("Content-Length")
			how := "a body delimited by closing the connection"
			if cl != "" {
				how = "Content-Length: " + cl
			}
			t.fail(c.ex, "connection %d: %s response with %s, not Transfer-Encoding: chunked", c.idx, c.ex.proto, how)
		default:
			chunked++
		}
	}
	if chunked > 0 {
		t.pass("Transfer-Encoding: chunked on %s", plural(chunked, "connection"))
	}
	r.setTally("streaming/chunked", t)
}

func (r *runner) checkPermanent(sr *streamRun, live []*connState) {
	t := &tally{}
	for _, c := range live {
		if !c.stopped {
			t.fail(c.ex, "connection %d: the server ended the stream after %s (%v); it must stay open",
				c.idx, c.endAt.Sub(c.connectAt).Round(time.Millisecond), c.endErr)
		}
	}
	note := ""
	if r.cfg.Duration < 30*time.Second {
		note = " (TradingView's test lasts 30 s at least)"
	}
	t.pass("%s stayed open for the whole %s%s", plural(len(live), "connection"), r.cfg.Duration, note)
	r.setTally("streaming/permanent-connection", t)
}

// mergeTallies reports a per-connection rule: the findings of the first
// connection that has any (connections carry the same data, so the others
// would repeat them), noting how many others also broke it.
func (r *runner) mergeTallies(name string, live []*connState, pick func(*connState) *tally, passMsg string) {
	var first *tally
	others := 0
	lines := 0
	for _, c := range live {
		lines += c.lines
		t := pick(c)
		if len(t.fails)+len(t.warns) == 0 {
			continue
		}
		if first == nil {
			first = t
		} else {
			others++
		}
	}
	if first == nil {
		first = &tally{}
		if lines == 0 {
			first.skip("no lines arrived")
		}
		first.pass("%s: %s over %s", passMsg, plural(lines, "line"), plural(len(live), "connection"))
	}
	res := first.result(r.c, name)
	if others > 0 {
		res.Reason += fmt.Sprintf("; %d other connections too", others)
	}
	r.set(res)
}

func (r *runner) checkDelay(live []*connState) {
	t := &tally{}
	measured := 0
	var worstLate, worstEarly time.Duration
	for _, c := range live {
		measured += c.delayed
		worstLate, worstEarly = max(worstLate, c.maxLate), max(worstEarly, c.maxEarly)
		report := func(d time.Duration, line []byte, what string) {
			amount := d.Round(10 * time.Millisecond).String()
			if d > 24*time.Hour {
				amount = "more than a day"
			}
			msg := fmt.Sprintf("connection %d: a tick arrived %s %s: %s", c.idx, amount, what, truncate(string(line), 200))
			switch {
			case d > 5*time.Second:
				t.fail(c.lineEvidence(line), "%s", msg)
			case d > time.Second:
				t.warn(c.lineEvidence(line), "%s", msg)
			}
		}
		report(c.maxLate, c.lateLine, "after the end of its second")
		report(c.maxEarly, c.earlyLine, "before its time (in the future, or the clocks disagree)")
	}
	if measured == 0 {
		t.skip("no ticks arrived")
	} else {
		t.pass("%s: at most %s late, %s early", plural(measured, "tick"), worstLate.Round(time.Millisecond), worstEarly.Round(time.Millisecond))
	}
	r.setTally("streaming/delay", t)
}

func (r *runner) checkHeartbeat(live []*connState) {
	t := &tally{}
	beats := 0
	for _, c := range live {
		beats += c.heartbeats
		if c.maxSilence > heartbeatGap {
			t.warn(c.ex, "connection %d was silent for %s; send {\"heartbeat\":t} every 5 s when nothing else goes out",
				c.idx, c.maxSilence.Round(time.Second))
		}
	}
	t.pass("never silent for more than %s (%s)", heartbeatGap, plural(beats, "heartbeat"))
	r.setTally("streaming/heartbeat", t)
}

// checkHeartbeatInterval requires a heartbeat at least every heartbeatGap
// on every connection, however busy it is: TradingView's text asks for one
// every 5 s, not only when nothing else goes out, so a stream that
// heartbeats only when idle fails here while ticks flow.
func (r *runner) checkHeartbeatInterval(live []*connState) {
	t := &tally{}
	var worst time.Duration
	checked := 0
	for _, c := range live {
		if open := c.endAt.Sub(c.connectAt); c.heartbeats == 0 && open <= heartbeatGap {
			t.skip("connection %d was open for %s only, too short to expect a heartbeat", c.idx, open.Round(time.Millisecond))
			continue
		}
		checked++
		worst = max(worst, c.maxBeatGap)
		if c.maxBeatGap > heartbeatGap {
			busy := ""
			if c.gapTicks > 0 {
				busy = " while " + plural(c.gapTicks, "tick") + " arrived"
			}
			t.fail(c.ex, "connection %d carried no heartbeat for %s%s; send {\"heartbeat\":t} every 5 s whatever else goes out",
				c.idx, c.maxBeatGap.Round(time.Second), busy)
		}
	}
	if checked > 0 {
		t.pass("a heartbeat at least every %s on %s (longest gap %s)", heartbeatGap, plural(checked, "connection"), worst.Round(time.Second))
	}
	r.setTally("streaming/heartbeat-interval", t)
}

// streamTotals sums counts over the connections.
func streamTotals(live []*connState) (kinds map[byte]int, ticks map[string]int) {
	kinds, ticks = map[byte]int{}, map[string]int{}
	for _, c := range live {
		for k, n := range c.kinds {
			kinds[k] += n
		}
		for id, n := range c.ticks {
			ticks[id] += n
		}
	}
	return kinds, ticks
}

func (r *runner) checkTickKinds(live []*connState) {
	t := &tally{}
	kinds, _ := streamTotals(live)
	total := 0
	for _, n := range kinds {
		total += n
	}
	if total == 0 {
		t.skip("no ticks arrived during the run (markets closed?)")
		r.setTally("streaming/tick-kinds", t)
		return
	}
	var missing []string
	if kinds[kindTrade] == 0 {
		missing = append(missing, "trades (send synthetic trades at the bid when there are none)")
	}
	if kinds[kindQuote]+kinds[kindAsk] == 0 {
		missing = append(missing, "asks")
	}
	if kinds[kindQuote]+kinds[kindBid] == 0 {
		missing = append(missing, "bids")
	}
	if len(missing) > 0 {
		t.fail(nil, "no %s among %s", joinLimited(missing, 3), plural(total, "tick"))
	}
	if kinds[kindAsk]+kinds[kindBid] > 0 {
		t.warn(nil, "deprecated \"a\"/\"b\" messages: use quotes (\"q\") with both sides")
	}
	t.pass("%d trades, %d quotes, %d daily bars", kinds[kindTrade], kinds[kindQuote], kinds[kindDaily])
	r.setTally("streaming/tick-kinds", t)
}

func (r *runner) checkKnownSymbols(live []*connState) {
	if r.symbols == nil {
		r.skip("streaming/known-symbols", "needs /symbol_info: %s", r.symbolsErr)
		return
	}
	t := &tally{}
	_, ticks := streamTotals(live)
	var unknown []string
	for id := range ticks {
		if _, ok := r.symbols.byID[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	sort.Strings(unknown)
	for _, id := range unknown {
		t.fail(nil, "id %q is neither a symbol nor a ticker of /symbol_info", id)
	}
	if len(ticks) == 0 {
		t.skip("no ticks arrived")
	}
	t.pass("all %s in /symbol_info", plural(len(ticks), "streamed id"))
	r.setTally("streaming/known-symbols", t)
}

func (r *runner) checkDailyBars(live []*connState) {
	t := &tally{}
	kinds, _ := streamTotals(live)
	switch {
	case kinds[kindDaily] > 0:
		t.pass("%s", plural(kinds[kindDaily], "daily-bar update"))
	case kinds[kindTrade] > 0:
		t.warn(nil, "no daily-bar (\"d\") updates; they are optional, needed only when daily bars cannot be built from trades")
	default:
		t.skip("no trades arrived")
	}
	r.setTally("streaming/daily-bars", t)
}

// checkParallel compares, symbol by symbol, what each connection carried
// between deliveryMargin after the last connection opened and
// deliveryMargin before the end.
func (r *runner) checkParallel(sr *streamRun, live []*connState) {
	t := &tally{}
	var full []*connState
	for _, c := range live {
		if c.stopped {
			full = append(full, c)
		}
	}
	start, end := sr.window()
	switch {
	case len(full) < 2:
		t.skip("needs two connections open for the whole run, got %d", len(full))
	case start == 0 || start > end:
		t.skip("the run is too short for a comparison window (needs > %s after the connections opened)", 2*deliveryMargin)
	default:
		compareConnections(full, t)
	}
	r.setTally("streaming/parallel-identical", t)
}

func compareConnections(conns []*connState, t *tally) {
	ref := conns[0]
	ids := map[string]bool{}
	for _, c := range conns {
		for id := range c.counted {
			ids[id] = true
		}
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	for _, c := range conns[1:] {
		for _, id := range sorted {
			if c.counted[id] != ref.counted[id] {
				t.fail(nil, "%s: connection %d carried %d messages, connection %d carried %d", id, ref.idx, ref.counted[id], c.idx, c.counted[id])
			} else if ref.counted[id] > 0 && c.hashes[id].Sum64() != ref.hashes[id].Sum64() {
				t.fail(nil, "%s: connections %d and %d carried %d messages each, with different content or order", id, ref.idx, c.idx, c.counted[id])
			}
		}
	}
	total := 0
	for _, n := range ref.counted {
		total += n
	}
	if total == 0 {
		t.skip("no ticks in the comparison window")
		return
	}
	t.pass("%s carried the same %s of %s", plural(len(conns), "connection"), plural(total, "message"), plural(len(sorted), "symbol"))
}

// checkEverySymbolTicks requires each symbol in session for the whole run
// to tick. A silent symbol fails when /history has bars for the run (the
// stream missed them) and warns otherwise (it may just be illiquid, which
// TradingView's two-hour test would not forgive).
func (r *runner) checkEverySymbolTicks(ctx context.Context, live []*connState) {
	if !r.sel.enabled("streaming/every-symbol-ticks") {
		return
	}
	if r.symbols == nil {
		r.skip("streaming/every-symbol-ticks", "needs /symbol_info: %s", r.symbolsErr)
		return
	}
	t := &tally{}
	_, ticks := streamTotals(live)
	from, to := runSpan(live)
	var silent []*symbolRef
	expected, outOfSession := 0, 0
	for _, s := range r.streamSymbols() {
		inSession := s.Sched != nil && inSessionThroughout(s.Sched, from, to)
		if ticks[s.Ticker] > 0 || ticks[s.Name] > 0 {
			expected++
			continue
		}
		if !inSession {
			outOfSession++
			continue
		}
		expected++
		silent = append(silent, s)
	}
	r.crossCheckSilent(ctx, silent, from, to, t)
	if expected == 0 {
		t.skip("no symbol was in session for the whole run (%d out of session)", outOfSession)
	}
	t.pass("%d of %d symbols in session ticked; %d out of session not expected to", expected-len(silent), expected, outOfSession)
	r.setTally("streaming/every-symbol-ticks", t)
}

// maxCrossChecks bounds the /history requests made for silent symbols.
const maxCrossChecks = 200

// crossCheckSilent asks /history about the minutes the run covered whole:
// a bar there means trades the stream should have carried.
func (r *runner) crossCheckSilent(ctx context.Context, silent []*symbolRef, from, to time.Time, t *tally) {
	first := from.Unix()
	if first%60 != 0 || from.Nanosecond() != 0 {
		first = first - first%60 + 60
	}
	last := to.Add(-deliveryMargin).Unix() - 60
	for i, s := range silent {
		if i == maxCrossChecks {
			t.warn(nil, "%d more silent symbols in session not cross-checked with /history", len(silent)-i)
			return
		}
		if last < first {
			t.warn(nil, "%s is in session but sent no tick (the run covered no whole minute to compare with /history)", describe(s))
			continue
		}
		ex, h, err := r.fetchHistory(ctx, s, resMinute, first, last, 0)
		switch {
		case err != nil:
			t.warn(ex, "%s sent no tick while in session, and /history could not be read: %v", describe(s), err)
		case len(h.Bars) > 0:
			t.fail(ex, "%s sent no tick while /history has %s in the minutes the stream covered: the stream missed them", describe(s), plural(len(h.Bars), "bar"))
		default:
			t.warn(ex, "%s is in session but sent no tick and traded nothing (TradingView expects every symbol to tick)", describe(s))
		}
	}
}

// streamSymbols is the symbols the streaming checks expect: --symbols, or
// all of /symbol_info.
func (r *runner) streamSymbols() []*symbolRef {
	if len(r.cfg.Symbols) == 0 {
		return r.symbols.list
	}
	var out []*symbolRef
	for _, name := range r.cfg.Symbols {
		if s, ok := r.symbols.byID[name]; ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// runSpan is from the first connection opening to the last one ending.
func runSpan(live []*connState) (from, to time.Time) {
	for _, c := range live {
		if from.IsZero() || c.connectAt.Before(from) {
			from = c.connectAt
		}
		if c.endAt.After(to) {
			to = c.endAt
		}
	}
	return from, to
}

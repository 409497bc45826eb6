package check

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// mismatchLimit is TradingView's tolerance: at most 5 % of bars may differ
// between /streaming and /history.
const mismatchLimit = 5.0

// checkHistoryEquality builds 1-minute bars from the trades of the
// connection that covered the most minutes whole, fetches /history for
// those minutes and compares them bar by bar.
func (r *runner) checkHistoryEquality(ctx context.Context, live []*connState) {
	if !r.sel.enabled("streaming/history-equality") {
		return
	}
	c, first, last := bestCoverage(live)
	if c == nil {
		r.skip("streaming/history-equality", "the stream covered no whole minute (open at its start and until %s after its end): run with --duration of at least 2m5s", deliveryMargin)
		return
	}
	syms := r.equalitySymbols(c)
	cmp := &barComparison{}
	each(r.cfg.Concurrency, len(syms), func(i int) { r.compareSymbolBars(ctx, c, syms[i], first, last, cmp) })
	r.set(cmp.result(r.c, first, last))
}

// bestCoverage picks the connection that saw the most whole minutes.
func bestCoverage(live []*connState) (*connState, int64, int64) {
	var best *connState
	var bf, bl int64
	for _, c := range live {
		f, l, ok := c.covered()
		if ok && (best == nil || l-f > bl-bf) {
			best, bf, bl = c, f, l
		}
	}
	return best, bf, bl
}

// equalitySymbols is every symbol that ticked on the connection (a symbol
// that never ticked is every-symbol-ticks' business), or --symbols.
func (r *runner) equalitySymbols(c *connState) []*symbolRef {
	var out []*symbolRef
	if r.symbols != nil && len(r.cfg.Symbols) > 0 {
		return r.streamSymbols()
	}
	ids := make([]string, 0, len(c.ticks))
	for id := range c.ticks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if r.symbols != nil {
			if s, ok := r.symbols.byID[id]; ok {
				out = append(out, s)
				continue
			}
		}
		out = append(out, &symbolRef{Name: id, Ticker: id}) // known-symbols reports it
	}
	return out
}

// barComparison gathers the outcome over all symbols.
type barComparison struct {
	mu         sync.Mutex
	compared   int
	mismatched []finding
	errors     []finding
	symbols    int
}

func (r *runner) compareSymbolBars(ctx context.Context, c *connState, sym *symbolRef, first, last int64, cmp *barComparison) {
	streamed := c.bars[sym.Ticker]
	if sym.Ticker != sym.Name && len(streamed) == 0 {
		streamed = c.bars[sym.Name]
	}
	ex, h, err := r.fetchHistory(ctx, sym, resMinute, first, last, 0)
	cmp.mu.Lock()
	defer cmp.mu.Unlock()
	if err != nil {
		cmp.errors = append(cmp.errors, finding{fmt.Sprintf("%s: /history: %v", describe(sym), err), ex})
		return
	}
	history := make(map[int64]bar, len(h.Bars))
	for _, b := range h.Bars {
		history[b.T] = b
	}
	seen := false
	for m := first; m <= last; m += 60 {
		s, inStream := streamed[m]
		hb, inHistory := history[m]
		if !inStream && !inHistory {
			continue
		}
		seen = true
		cmp.compared++
		at := fmt.Sprintf("%s %s", describe(sym), unixString(m))
		switch {
		case !inHistory:
			cmp.mismatched = append(cmp.mismatched, finding{fmt.Sprintf("%s: streamed %s, /history has no bar", at, *s), ex})
		case !inStream:
			cmp.mismatched = append(cmp.mismatched, finding{fmt.Sprintf("%s: /history has %s, no trade was streamed", at, hb), ex})
		case !sameBar(*s, hb):
			cmp.mismatched = append(cmp.mismatched, finding{fmt.Sprintf("%s: streamed %s, /history has %s", at, *s, hb), ex})
		}
	}
	if seen {
		cmp.symbols++
	}
}

func (cmp *barComparison) result(c *client, first, last int64) Result {
	t := &tally{unlimited: true}
	span := fmt.Sprintf("%s..%s", unixString(first), time.Unix(last+59, 0).UTC().Format("15:04:05Z"))
	for _, e := range cmp.errors {
		t.fail(e.ex, "%s", e.msg)
	}
	sort.Slice(cmp.mismatched, func(i, j int) bool { return cmp.mismatched[i].msg < cmp.mismatched[j].msg })
	pct := 0.0
	if cmp.compared > 0 {
		pct = 100 * float64(len(cmp.mismatched)) / float64(cmp.compared)
	}
	summary := fmt.Sprintf("%.1f %% of %s mismatched (%d) over %s (%s; the limit is %g %%)",
		pct, plural(cmp.compared, "bar"), len(cmp.mismatched), plural(cmp.symbols, "symbol"), span, mismatchLimit)
	res := Result{Name: "streaming/history-equality"}
	switch {
	case len(cmp.errors) > 0:
		res = t.result(c, res.Name)
	case cmp.compared == 0:
		res.Status, res.Reason = Skip, "no trades and no /history bars in the covered minutes "+span
	case pct > mismatchLimit:
		res.Status, res.Reason = Fail, summary
	case len(cmp.mismatched) > 0:
		res.Status, res.Reason = Warn, summary+": within TradingView's tolerance, but stream and history should agree"
	default:
		res.Status, res.Reason = Pass, summary
	}
	if len(cmp.mismatched) > 0 {
		for _, m := range cmp.mismatched {
			res.Details = append(res.Details, m.msg)
		}
		if res.Request == "" {
			res.Request, res.Response = c.evidence(cmp.mismatched[0].ex)
		}
	}
	return res
}

package check

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// probeDays is how far back the reference of a named symbol is looked for.
const probeDays = 7

// pickSubjects chooses the /history symbols and reads each one's
// reference: --symbols as given, or up to Sample symbols with the most
// recent bars among a spread of candidates, those in session first.
func (r *runner) pickSubjects(ctx context.Context) ([]*subject, string) {
	if r.symbols == nil {
		return nil, "needs /symbol_info: " + r.symbolsErr
	}
	now := r.clk.Now()
	if len(r.cfg.Symbols) > 0 {
		return r.namedSubjects(ctx, now)
	}
	cands := candidates(r.symbols.list, now, 3*r.cfg.Sample)
	subjects, errs := r.probeAll(ctx, cands, now, 1)
	var found []*subject
	for _, s := range subjects {
		if s != nil && len(s.ref) > 0 {
			found = append(found, s)
		}
	}
	if len(found) == 0 {
		return nil, r.noSubjectsReason(len(cands), errs)
	}
	// The busiest symbols make the strongest tests.
	slices.SortStableFunc(found, func(a, b *subject) int { return len(b.ref) - len(a.ref) })
	return found[:min(len(found), r.cfg.Sample)], ""
}

// noSubjectsReason explains an empty sample; failed requests fail the
// history checks rather than hide behind a skip.
func (r *runner) noSubjectsReason(probed int, errs []finding) string {
	if len(errs) > 0 {
		for _, c := range catalogue {
			if matches("history", c.Name) && c.Name != "history/format" && c.Name != "history/bar-times" {
				r.fail(c.Name, errs[0].ex, "the reference requests failed: %s", errs[0].msg)
			}
		}
		return errs[0].msg
	}
	return fmt.Sprintf("none of %s probed has 1-minute bars in the last 24 hours; name symbols with --symbols",
		plural(probed, "symbol"))
}

func (r *runner) namedSubjects(ctx context.Context, now time.Time) ([]*subject, string) {
	var syms []*symbolRef
	var unknown []string
	for _, name := range r.cfg.Symbols {
		if s, ok := r.symbols.byID[name]; ok {
			syms = append(syms, s)
		} else {
			unknown = append(unknown, name)
		}
	}
	if len(syms) == 0 {
		return nil, fmt.Sprintf("none of --symbols is in /symbol_info: %s", joinLimited(unknown, 10))
	}
	subjects, errs := r.probeAll(ctx, syms, now, probeDays)
	var out []*subject
	for _, s := range subjects {
		if s != nil {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, r.noSubjectsReason(len(syms), errs)
	}
	if len(unknown) > 0 {
		r.log.Warn("--symbols not in /symbol_info", "symbols", joinLimited(unknown, 10))
	}
	return out, ""
}

// candidates spreads up to n picks over the symbols in session now, then
// over the others.
func candidates(list []*symbolRef, now time.Time, n int) []*symbolRef {
	var open, closed []*symbolRef
	for _, s := range list {
		if s.Sched != nil && s.Sched.InSession(now) {
			open = append(open, s)
		} else {
			closed = append(closed, s)
		}
	}
	out := spread(open, n)
	return append(out, spread(closed, n-len(out))...)
}

// spread picks n items evenly over the list, in order.
func spread(list []*symbolRef, n int) []*symbolRef {
	if n <= 0 {
		return nil
	}
	if len(list) <= n {
		return list
	}
	out := make([]*symbolRef, n)
	for i := range out {
		out[i] = list[i*len(list)/n]
	}
	return out
}

// probeAll reads the reference of each symbol concurrently. A symbol
// whose requests fail is nil.
func (r *runner) probeAll(ctx context.Context, syms []*symbolRef, now time.Time, days int) ([]*subject, []finding) {
	out := make([]*subject, len(syms))
	var mu sync.Mutex
	var errs []finding
	each(r.cfg.Concurrency, len(syms), func(i int) {
		s, f := r.probe(ctx, syms[i], now.Unix(), days)
		out[i] = s
		if f != nil {
			mu.Lock()
			errs = append(errs, *f)
			mu.Unlock()
		}
	})
	return out, errs
}

// probe reads a day of 1-minute bars ending now, going back a day at a
// time (up to days) until it finds closed bars. The reference is those
// closed bars.
func (r *runner) probe(ctx context.Context, sym *symbolRef, now int64, days int) (*subject, *finding) {
	s := &subject{sym: sym, probeAt: now}
	for k := int64(0); k < int64(days); k++ {
		to := now - k*secondsPerDay
		ex, h, err := r.fetchHistory(ctx, sym, resMinute, to-secondsPerDay+1, to, 0)
		if err != nil {
			return nil, &finding{fmt.Sprintf("%s: %v", describe(sym), err), ex}
		}
		for _, b := range h.Bars {
			if b.T+60+closeMargin <= now {
				s.ref = append(s.ref, b)
			}
		}
		if len(s.ref) > 0 {
			// An unordered answer fails history/bar-times; the other
			// checks still need the bars in order.
			slices.SortFunc(s.ref, func(a, b bar) int { return cmpInt(a.T, b.T) })
			s.ref = slices.CompactFunc(s.ref, func(a, b bar) bool { return a.T == b.T })
			return s, nil
		}
	}
	return s, nil
}

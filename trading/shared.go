package trading

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"tvbridge"
)

// Cluster mode: the trades a trading owner did not get to.
//
// In a cluster one node at a time runs the Manager (tradeowner), and every
// node's tape is fed from one shared market-data log (JetStream). When the
// owner dies, trades go on arriving while no Manager evaluates them, until
// another node takes over. Checking held orders at the last price then
// misses a stop whose price was crossed and left during that gap, so the
// owner keeps a mark of how far along the log it evaluated, and its
// successor replays the trades after the mark before going on live.
//
// The log's positions are what nodes agree on (each node numbers its own
// tape from wherever it started). Replaying trades an order has already
// seen would be wrong: a trailing stop raised by a later trade would be
// hit by an earlier, lower one replayed after it, and a stop placed after
// a trade would be triggered by it. So every order written carries the
// position the Manager had reached (OrderRecord.TapeSeen), and a trade at
// or before that position never acts on it. A trade after it either
// changed the order (and moved TapeSeen on) or did nothing to it, so
// evaluating it again changes nothing: replaying from a mark that lags is
// safe, and the mark is saved only every MarkEvery.

// SharedTape is the shared market-data log as the Manager sees it.
type SharedTape interface {
	// Position is the log position of the local tape's entry seq; false
	// when unknown (too old, or not fed from the log).
	Position(seq uint64) (uint64, bool)
	// End is a position at or after every entry the log holds now.
	End(ctx context.Context) (uint64, error)
	// Trades calls fn in log order with every trade at a position after
	// `after`, up to and including `through`. lost reports that the log no
	// longer holds some of them (it delivered the rest).
	Trades(ctx context.Context, after, through uint64, fn func(pos uint64, t tvbridge.Tick)) (lost bool, err error)
}

// TapeMarks is what a Store must also do for a Manager with a SharedTape:
// keep the mark. A fenced store refuses the save once another node owns
// trading.
type TapeMarks interface {
	TapeMark(ctx context.Context) (pos uint64, ok bool, err error)
	SaveTapeMark(ctx context.Context, pos uint64) error
}

// DefaultMarkEvery is how often the mark is saved by default.
const DefaultMarkEvery = time.Second

// cursorReader is a tape reader that tells where it started.
type cursorReader interface{ Cursor() uint64 }

// sharedState is the Manager's cluster-mode bookkeeping; the zero value
// (no SharedTape) turns all of it off.
type sharedState struct {
	tape  SharedTape
	marks TapeMarks

	mark    uint64 // the mark loaded at start
	hasMark bool
	// floor is the log's end when the Manager started: orders written
	// while the tape still delivers older entries (a node catching up)
	// must not see those.
	floor uint64
	// replayed is the last position the start replay covered; live
	// entries up to it were evaluated by the replay already.
	replayed uint64

	tapePos monotonic // position of the trade being evaluated
	evalPos monotonic // every trade up to it was evaluated
}

// setupShared loads the mark and the log's end; called by New after the
// tape reader subscribed.
func (m *Manager) setupShared(ctx context.Context) error {
	sh := &m.shared
	sh.tape = m.cfg.Shared
	if sh.tape == nil {
		return nil
	}
	marks, ok := m.cfg.Store.(TapeMarks)
	if !ok {
		return errors.New("trading: Config.Shared needs a Store that keeps the tape mark (TapeMarks)")
	}
	if _, ok := m.reader.(cursorReader); !ok {
		return errors.New("trading: Config.Shared needs a tape whose readers tell their Cursor")
	}
	sh.marks = marks
	mark, hasMark, err := marks.TapeMark(ctx)
	if err != nil {
		return err
	}
	end, err := sh.tape.End(ctx)
	if err != nil {
		return err
	}
	if hasMark && mark > end {
		m.log.Error("the tape mark is past the end of the market-data log (was the log deleted?); trades since the last owner stopped are not replayed", "mark", mark, "log_end", end)
		hasMark = false
	}
	m.clampSeen(end)
	sh.mark, sh.hasMark, sh.floor = mark, hasMark, end
	sh.tapePos.raise(end)
	if !hasMark {
		sh.evalPos.raise(end)
	} else {
		sh.evalPos.raise(mark)
	}
	return nil
}

// clampSeen forgets TapeSeen positions past the log's end: they belong to
// a log that no longer exists, and would keep every trade of the new one
// from acting on their orders.
func (m *Manager) clampSeen(end uint64) {
	n := 0
	for _, a := range m.accounts {
		for _, o := range a.orders {
			if o.TapeSeen > end {
				o.TapeSeen = 0
				n++
			}
		}
	}
	if n > 0 {
		m.log.Error("orders had seen positions past the end of the market-data log (was the log deleted?); they evaluate every trade of the new log", "orders", n)
	}
}

// seenPos is the TapeSeen for an order a transaction writes: the trade's
// position when a trade wrote it, else where the Manager is now.
func (m *Manager) seenPos(trade uint64) uint64 {
	if trade > 0 {
		return trade
	}
	return max(m.shared.tapePos.load(), m.shared.floor)
}

// replayGap evaluates the trades of the log after the mark, up to where
// the tape reader starts, before the tape loop goes live, once the venue
// has its resting orders back. It reports
// whether the held orders still need the check at the last prices
// (nothing replayed, or trades lost).
func (m *Manager) replayGap(ctx context.Context, restored <-chan struct{}) (recheck bool) {
	sh := &m.shared
	if sh.tape == nil || !sh.hasMark {
		return true
	}
	// The venue's resting orders must be back before the replayed trades
	// are handed to it (TradeFeed).
	select {
	case <-restored:
	case <-ctx.Done():
		return false
	}
	return m.replayLog(ctx, sh.mark, sh.floor, "since the previous trading owner's mark")
}

// replayMissed evaluates the trades the tape reader lost by falling
// behind (the new reader starts after them); false when it could not.
func (m *Manager) replayMissed(ctx context.Context) bool {
	if m.shared.tape == nil {
		return false
	}
	return !m.replayLog(ctx, m.shared.evalPos.load(), 0, "the tape reader missed")
}

// replayLog evaluates the log's trades after `after`, through the position
// where the current tape reader starts (at least `through`), and reports
// whether held orders still need the check at the last prices.
func (m *Manager) replayLog(ctx context.Context, after, through uint64, what string) (recheck bool) {
	sh := &m.shared
	if r, ok := m.tapeReader().(cursorReader); ok {
		if pos, ok := sh.tape.Position(r.Cursor()); ok {
			through = max(through, pos)
		}
	}
	switch {
	case through == 0:
		m.log.Warn("the start of the tape reader has no position in the market-data log; nothing to replay to", "what", what)
		return true
	case through <= after:
		return false
	}
	start := m.clk.Now()
	n := 0
	lost, err := sh.tape.Trades(ctx, after, through, func(pos uint64, t tvbridge.Tick) {
		if finite(t.Price) && t.Price > 0 {
			sh.tapePos.raise(pos)
			m.onTrade(t.FIGI, t.Price, pos)
			m.feedVenue(t, pos)
			n++
		}
	})
	sh.replayed = max(sh.replayed, through)
	log := m.log.With("what", what, "trades", n, "after", after, "through", through)
	switch {
	case err == nil && !lost:
		sh.evalPos.raise(through)
		log.Info("replayed trades from the market-data log", "took", m.clk.Now().Sub(start))
		return false
	case err == nil:
		sh.evalPos.raise(through)
		log.Error("some trades to replay are gone from the market-data log; held orders are checked at the last prices")
	default:
		log.Error("replaying trades from the market-data log failed; held orders are checked at the last prices", "err", err)
	}
	return true
}

// livePos is the position of a live tape entry, and whether the replay
// already evaluated it.
func (m *Manager) livePos(seq uint64) (pos uint64, done bool) {
	sh := &m.shared
	if sh.tape == nil {
		return 0, false
	}
	pos, ok := sh.tape.Position(seq)
	if !ok {
		return 0, false
	}
	return pos, pos <= sh.replayed
}

// markLoop saves the mark at start, every MarkEvery while it moves, and
// once more when ctx ends.
func (m *Manager) markLoop(ctx context.Context) {
	sh := &m.shared
	if sh.tape == nil {
		return
	}
	t := m.clk.NewTicker(m.cfg.MarkEvery)
	defer t.Stop()
	// The first save is at once: a successor must find a mark even when
	// this owner evaluates nothing.
	var saved uint64
	stored, failing := false, false
	save := func(ctx context.Context) {
		pos := sh.evalPos.load()
		if stored && pos == saved {
			return
		}
		if err := sh.marks.SaveTapeMark(ctx, pos); err != nil {
			if !failing {
				m.log.Warn("saving the tape mark failed; a successor would replay more trades", "err", err)
			}
			failing = true
			return
		}
		saved, stored, failing = pos, true, false
	}
	save(ctx)
	for {
		select {
		case <-t.C():
			save(ctx)
		case <-ctx.Done():
			fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			save(fin)
			cancel()
			return
		}
	}
}

// monotonic is a position that only moves forward.
type monotonic struct{ v atomic.Uint64 }

func (p *monotonic) load() uint64 { return p.v.Load() }

func (p *monotonic) raise(x uint64) {
	for {
		cur := p.v.Load()
		if x <= cur || p.v.CompareAndSwap(cur, x) {
			return
		}
	}
}

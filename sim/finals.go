package sim

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"tvbridge"
)

// FinalFate is what became of the final state of a closed candle.
type FinalFate uint8

const (
	// FinalOnTime: the final state was sent at the rollover (the emission
	// tick in which the interval ended or the next interval's first trade was
	// applied), before any update of a later interval.
	FinalOnTime FinalFate = iota + 1
	// FinalLate: the final state was sent late by LateFinals, at the first
	// tick at or after the interval's end plus the delay (or at the next
	// close if that came first), still before any update of a later interval.
	FinalLate
	// FinalLost: the final state was never sent, by LoseFinals or SkipClose.
	FinalLost
	// FinalWithheld: the final state was never sent (Silence,
	// SilenceInstruments, SilenceSchedule) or was discarded on every
	// connection (Stall) when it was due.
	FinalWithheld
	// FinalOrphaned: the final state was never sent because the stream's
	// last subscriber left (unsubscribed or disconnected) while it was
	// pending under LateFinals.
	FinalOrphaned
)

func (f FinalFate) String() string {
	switch f {
	case FinalOnTime:
		return "on-time"
	case FinalLate:
		return "late"
	case FinalLost:
		return "lost"
	case FinalWithheld:
		return "withheld"
	case FinalOrphaned:
		return "orphaned"
	}
	return "unknown"
}

// Sent reports whether the final state was queued to the subscribers.
func (f FinalFate) Sent() bool { return f == FinalOnTime || f == FinalLate }

// FinalRecord is the fate of the final state of one candle of one stream
// (Config.RecordFinals). There is a record for every interval that had
// trades and closed while its candle stream had subscribers.
//
// A record says what the server queued: a frame queued on a connection that
// is then dropped may not reach the client.
type FinalRecord struct {
	FIGI     string
	Interval tvbridge.CandleInterval
	Start    time.Time       // the candle's time, the start of the interval
	Candle   tvbridge.Candle // the final state: what REST returns for the interval
	Fate     FinalFate
	// Due is when the final was due: the interval's end, plus the LateFinals
	// delay in force when it closed.
	Due time.Time
	// At is the clock time of the tick that sent it, or that would have sent
	// it (Lost, Withheld), or of the unsubscription (Orphaned).
	At time.Time
	// Carried reports whether the stream carried the final state to its
	// subscribers before any update of a later interval: in the final frame
	// (Fate.Sent()), or, when that was not sent, in the last update of the
	// interval, sent after its last trade and not silenced or stalled. When
	// Carried is false, the last state the stream carried for the interval
	// (if any) lacks trades that REST includes.
	Carried bool
}

// finalKey identifies a candle of a stream.
type finalKey struct {
	figi     string
	interval tvbridge.CandleInterval
	start    int64 // Unix nanoseconds
}

// finalsLog keeps the FinalRecords when Config.RecordFinals is set.
type finalsLog struct {
	mu sync.Mutex
	m  map[finalKey]FinalRecord
}

func (l *finalsLog) add(r FinalRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[finalKey]FinalRecord)
	}
	l.m[finalKey{r.FIGI, r.Interval, r.Start.UnixNano()}] = r
}

// Final returns the record of the final state of the candle of figi and
// interval that starts at start, and whether there is one. Records are kept
// only with Config.RecordFinals.
func (s *Server) Final(figi string, interval tvbridge.CandleInterval, start time.Time) (FinalRecord, bool) {
	s.finals.mu.Lock()
	defer s.finals.mu.Unlock()
	r, ok := s.finals.m[finalKey{figi, interval, start.UnixNano()}]
	return r, ok
}

// Finals returns every FinalRecord, ordered by start, FIGI and interval.
func (s *Server) Finals() []FinalRecord {
	s.finals.mu.Lock()
	out := make([]FinalRecord, 0, len(s.finals.m))
	for _, r := range s.finals.m {
		out = append(out, r)
	}
	s.finals.mu.Unlock()
	slices.SortFunc(out, func(a, b FinalRecord) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.FIGI, b.FIGI), cmp.Compare(a.Interval, b.Interval))
	})
	return out
}

// pendingFinal is the final state of a closed interval not sent yet.
type pendingFinal struct {
	candle    tvbridge.Candle
	startText string
	due       time.Time
	late      bool   // LateFinals was on when the interval closed
	lost      bool   // LoseFinals or SkipClose chose to lose it
	skipped   bool   // SkipClose did
	carried   bool   // the last update already carried the final state
	stale     []byte // the interval's last update frame, for StaleAfterFinal
}

// closeCandle ends the interval of st: its final state becomes pending, and
// goes out at once unless LateFinals delays it. A final still pending from
// the previous interval goes out first.
func (e *emitter) closeCandle(in *instStream, st *candleStream, now time.Time, ts []byte) {
	if st.pending != nil {
		e.releaseFinal(in, st, now, ts)
	}
	if !st.has {
		return
	}
	f := &e.srv.faults
	delay := time.Duration(f.lateFinals.Load())
	fin := &pendingFinal{
		candle:    st.candle,
		startText: st.startText,
		due:       st.end.Add(delay),
		late:      delay > 0,
		carried:   st.carried,
		stale:     st.lastUpdate,
	}
	switch {
	case f.skipClose.Load():
		fin.lost, fin.skipped = true, true
	case f.LosesFinal(in.inst.FIGI, st.interval, st.start):
		fin.lost = true
	}
	st.pending = fin
	if !now.Before(fin.due) {
		e.releaseFinal(in, st, now, ts)
	}
}

// releaseFinal sends the pending final of st (or loses or withholds it) and
// records what became of it.
func (e *emitter) releaseFinal(in *instStream, st *candleStream, now time.Time, ts []byte) {
	fin := st.pending
	st.pending = nil
	f := &e.srv.faults
	rec := FinalRecord{
		FIGI: in.inst.FIGI, Interval: st.interval, Start: fin.candle.Time, Candle: fin.candle,
		Due: fin.due, At: now, Carried: fin.carried,
	}
	switch {
	case fin.lost:
		rec.Fate = FinalLost
		if fin.skipped {
			e.srv.stats.skippedCloses.Add(1)
		} else {
			e.srv.stats.lostFinals.Add(1)
		}
	case e.sil.of(in.inst.FIGI):
		rec.Fate = FinalWithheld
		e.srv.stats.silenced.Add(uint64(len(st.subs)))
	default:
		frame := candleFrame(ts, &fin.candle, fin.startText, in.prices)
		e.sendCandle(st, frame)
		if fin.stale != nil && f.staleAfterFinal.Load() {
			st.subs.send(fin.stale)
			e.srv.stats.staleAfterFinal.Add(uint64(len(st.subs)))
		}
		st.prev = frame
		switch {
		case f.stall.Load():
			rec.Fate = FinalWithheld // discarded by every connection
		case fin.late:
			rec.Fate = FinalLate
			rec.Carried = true
			e.srv.stats.lateFinals.Add(1)
		default:
			rec.Fate = FinalOnTime
			rec.Carried = true
		}
	}
	if e.srv.cfg.RecordFinals {
		e.srv.finals.add(rec)
	}
}

// orphanFinal records the pending final of a stream nobody reads any more.
func (e *emitter) orphanFinal(in *instStream, st *candleStream) {
	fin := st.pending
	st.pending = nil
	if e.srv.cfg.RecordFinals {
		e.srv.finals.add(FinalRecord{
			FIGI: in.inst.FIGI, Interval: st.interval, Start: fin.candle.Time, Candle: fin.candle,
			Fate: FinalOrphaned, Due: fin.due, At: e.srv.clock.Now(), Carried: fin.carried,
		})
	}
}

package stream

import (
	"context"
	"fmt"
	"math"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// The silence watchdogs.
//
// The service can keep a connection open, answer its pings, and send no
// data at all, or stop sending one instrument's data while the others flow.
// Pings and pongs keep the connection's stall watchdog (serve) quiet, so
// silence is judged from what the instruments should be doing instead.
//
// An instrument is expected to be active when it is in session (Config.Active,
// or else a trading status) and recently active: a real update (not a
// subscription snapshot) within ActiveWindow, or added less than
// ActiveWindow ago. Each instrument has its own threshold: 10 times its
// typical gap between updates, clamped to [InstrumentSilenceMin,
// InstrumentStall]; InstrumentStall until two updates have shown its rhythm
// (a rarely trading bond must not be taken for a silent one meanwhile).
//
//   - A connection is silent when it delivered no update for DataSilence
//     and for the own threshold of its most talkative expected-active
//     instrument (so a connection of rarely trading bonds is not reopened
//     every DataSilence). It is closed and reopened: the subscriptions are
//     replayed, epochs change. The episode is logged once; each further
//     reconnect in it waits twice as long, up to ActiveWindow; it ends with
//     the connection's first update, or when none of its instruments is
//     expected to be active any more.
//   - Otherwise each expected-active instrument quiet for its threshold is
//     resubscribed (unsubscribe, then subscribe: the service does not
//     dedupe). The episode is logged once; each resubscription in it that
//     brings nothing but the snapshot doubles the threshold, up to
//     InstrumentStall; it ends with the instrument's next real update, or when
//     it is no longer expected to be active.
//
// While an episode lasts the instruments concerned are not live
// (StreamState), so the minutes the stream did not cover are backfilled.

// silenceGapFactor: an instrument is silent after this many typical gaps.
const silenceGapFactor = 10

// watchPeriod is how often the silence watchdog looks: a quarter of the
// shortest silence it must notice.
func (p *Pool) watchPeriod() time.Duration {
	return max(min(p.cfg.DataSilence, p.cfg.InstrumentSilenceMin)/4, time.Millisecond)
}

// watchSilence runs the silence watchdog every tick.
func (p *Pool) watchSilence(ctx context.Context, ticker clock.Ticker) {
	defer p.wg.Done()
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			p.checkSilence()
		}
	}
}

// watched is a connected slot and its instruments as the watchdog found them.
type watched struct {
	s     *slot
	c     *conn
	figis []string
	// streams tells, by index in figis, whether the instrument has a candle
	// or order book subscription: a flow of updates while it trades. An
	// instrument with instrument_info alone hears only of status changes;
	// it is watched on its own, but the connection's silence says nothing
	// about it.
	streams []bool
	states  []instrumentState
	active  []bool // expected active, by index in figis
}

// checkSilence looks at every connected slot: the connection as a whole
// first, then, if the connection is not silent, each instrument.
func (p *Pool) checkSilence() {
	now := p.clock.Now()
	var rep silenceReport
	for _, w := range p.watchTargets() {
		w.states = p.inst.states(w.figis)
		w.active = make([]bool, len(w.figis))
		for i := range w.figis {
			w.active[i] = p.expectedActive(w.figis[i], &w.states[i], now)
		}
		if p.checkConnection(&w, now) {
			continue
		}
		p.checkInstruments(&w, now, &rep)
	}
	rep.log(p)
}

// watchTargets lists the connected slots and their FIGIs.
func (p *Pool) watchTargets() []watched {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []watched
	for _, s := range p.slots {
		if s.conn == nil || len(s.subs) == 0 {
			continue
		}
		w := watched{s: s, c: s.conn, figis: sortedKeys(s.subs)}
		for _, figi := range w.figis {
			w.streams = append(w.streams, streams(s.subs[figi]))
		}
		out = append(out, w)
	}
	return out
}

// streams reports whether a FIGI's subscriptions include one that sends
// updates while the instrument trades (candles, order books).
func streams(subs map[tvbridge.Subscription]*subState) bool {
	for sub := range subs {
		if sub.Kind != tvbridge.SubInstrumentInfo {
			return true
		}
	}
	return false
}

// expectedActive reports whether figi should be sending data now: recently
// active, and in session. The recency test comes first, so the Active hook
// is not asked about instruments that stopped long ago.
func (p *Pool) expectedActive(figi string, st *instrumentState, now time.Time) bool {
	recent := now.Sub(st.added) < p.cfg.ActiveWindow ||
		(!st.lastUpdate.IsZero() && now.Sub(st.lastUpdate) < p.cfg.ActiveWindow)
	if !recent {
		return false
	}
	if p.cfg.Active != nil {
		return p.cfg.Active(figi, now)
	}
	return st.status.Trading()
}

// baseThreshold is the instrument's own silence threshold, before backoff.
func (p *Pool) baseThreshold(st *instrumentState) time.Duration {
	if st.gap == 0 {
		return p.cfg.InstrumentStall // its rhythm is not known yet
	}
	return min(max(silenceGapFactor*st.gap, p.cfg.InstrumentSilenceMin), p.cfg.InstrumentStall)
}

// backedOff doubles d per backoff step, up to limit.
func backedOff(d time.Duration, backoff uint8, limit time.Duration) time.Duration {
	for range backoff {
		if d >= limit {
			break
		}
		d *= 2
	}
	return min(d, limit)
}

// checkConnection reopens w's connection if it is silent, ends its episode
// if it delivers again, and reports whether the instruments are the
// connection watchdog's business (it is silent, or reopened for silence and
// still waiting for its first update).
func (p *Pool) checkConnection(w *watched, now time.Time) bool {
	need := time.Duration(math.MaxInt64) // the shortest own threshold among the expected active
	expected := 0
	for i := range w.figis {
		if w.active[i] && w.streams[i] {
			expected++
			need = min(need, p.baseThreshold(&w.states[i]))
		}
	}
	updated := w.c.updated.Load()
	quiet := now.Sub(w.c.lastDataTime())

	p.mu.Lock()
	defer p.mu.Unlock()
	s := w.s
	if s.conn != w.c {
		return true // reconnected meanwhile: look again next time
	}
	if s.silent && (updated || expected == 0) {
		if updated {
			p.log.Info("stream data resumed on the connection", "conn", s.index,
				"silent_for", w.c.lastDataTime().Sub(s.silentSince).String(), "reconnects", s.silenceBackoff)
		}
		s.silent, s.silenceBackoff = false, 0
	}
	if expected == 0 {
		return false
	}
	limit := max(need, backedOff(p.cfg.DataSilence, s.silenceBackoff, max(p.cfg.DataSilence, p.cfg.ActiveWindow)))
	if quiet < limit {
		return s.silent
	}
	if !s.silent {
		s.silent, s.silentSince = true, w.c.lastDataTime()
		p.log.Warn("stream connection delivers no data while its instruments should be active; reconnecting",
			"conn", s.index, "quiet", quiet.String(), "instruments", len(w.figis), "expected_active", expected,
			"figis", figiList(expectedFIGIs(w)))
	} else {
		p.log.Debug("stream connection still silent; reconnecting again", "conn", s.index, "quiet", quiet.String())
	}
	s.silenceBackoff = min(s.silenceBackoff+1, maxBackoff)
	p.stats.dataSilences.Add(1)
	w.c.silence()
	return true
}

func expectedFIGIs(w *watched) []string {
	var out []string
	for i, figi := range w.figis {
		if w.active[i] && w.streams[i] {
			out = append(out, figi)
		}
	}
	return out
}

// checkInstruments ends the episodes of instruments that sent updates again
// (or are no longer expected active) and resubscribes the expected-active
// ones quiet for their threshold.
func (p *Pool) checkInstruments(w *watched, now time.Time, rep *silenceReport) {
	var silent []quietFIGI
	for i, figi := range w.figis {
		st := &w.states[i]
		resumed := st.silent && st.lastUpdate.After(st.resubAt)
		if st.silent && (resumed || !w.active[i]) {
			p.inst.endEpisode(figi)
			if resumed {
				rep.resumed = append(rep.resumed, figi)
			}
			st.silent, st.backoff = false, 0
		}
		if !w.active[i] {
			continue
		}
		limit := backedOff(p.baseThreshold(st), st.backoff, p.cfg.InstrumentStall)
		if quiet := now.Sub(st.lastSeen); quiet >= limit {
			silent = append(silent, quietFIGI{figi, fmt.Sprintf("%s(quiet %s, limit %s)", figi, quiet, limit)})
		}
	}
	if len(silent) > 0 {
		p.resubscribe(w, silent, now, rep)
	}
}

// quietFIGI is an instrument found silent, and how, for the log.
type quietFIGI struct{ figi, detail string }

// resubscribe unsubscribes and subscribes again each instrument that is
// still on w's connection (the requests go out within the request budget).
func (p *Pool) resubscribe(w *watched, quiet []quietFIGI, now time.Time, rep *silenceReport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range quiet {
		figi := q.figi
		if p.figiSlot[figi] != w.s || w.s.conn != w.c {
			continue
		}
		p.resendLocked(w.s, figi)
		p.inst.track(figi, now)
		p.stats.instrumentStalls.Add(1)
		if p.inst.resubscribing(figi, now) {
			rep.silent = append(rep.silent, figi)
			rep.details = append(rep.details, q.detail)
		} else {
			rep.again = append(rep.again, figi)
		}
	}
}

// silenceReport gathers one check's instrument episodes into a few log
// lines: each episode is logged when it begins and when it ends, never per
// check.
type silenceReport struct {
	silent  []string // episodes begun
	again   []string // resubscribed again within an episode
	resumed []string // episodes ended by updates
	details []string // "FIGI(quiet, limit)" of the episodes begun
}

func (r *silenceReport) log(p *Pool) {
	if len(r.silent) > 0 {
		p.log.Warn("instruments silent while they should be active; resubscribing",
			"instruments", len(r.silent), "figis", figiList(r.silent), "details", figiList(r.details))
	}
	if len(r.again) > 0 {
		p.log.Debug("silent instruments resubscribed again", "instruments", len(r.again), "figis", figiList(r.again))
	}
	if len(r.resumed) > 0 {
		p.log.Info("instruments sending data again after a silence", "instruments", len(r.resumed),
			"figis", figiList(r.resumed))
	}
}

// slotSilentLocked reports whether s is in a data-silence episode that no
// update on its current connection has ended yet.
func (p *Pool) slotSilentLocked(s *slot) bool {
	return s.silent && (s.conn == nil || !s.conn.updated.Load())
}

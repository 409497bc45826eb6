package ingest

import (
	"fmt"
	"time"

	"tvbridge"
)

// Per-instrument stream state.
//
// The stream is trusted to carry every candle update of an instrument while
// its candle subscription is live. When the subscription is re-established
// (the instrument's connection came back, or the instrument was found
// stalled and resubscribed), the minutes around that moment may lack
// updates; while it is not live, every minute may. Coverage, the mark that
// makes stored minutes immutable, is therefore restarted per instrument:
// only the instruments on the connection that dropped, or the one that
// stalled, are left to the REST backfill, not the whole catalogue (which
// would cost a REST request per instrument on every reconnect).

// StreamStater is implemented by upstreams that can tell, per instrument,
// when their stream may have missed candles: epoch changes whenever figi's
// candle subscription was re-established, and live is false while it has
// none on a connected socket. Upstreams without it are trusted to be
// gapless while running.
type StreamStater interface {
	StreamState(figi string) (epoch uint64, live bool)
}

// streamState is what the event loop last saw of an instrument's stream.
type streamState struct {
	epoch uint64
	live  bool
}

// never is the restart of an instrument whose stream is down: the stream
// covers nothing of it until it is live again.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// initStreams records each instrument's stream state at startup. One that
// is not live yet is covered only from its first connection on.
func (s *Service) initStreams() {
	st, ok := s.cfg.Upstream.(StreamStater)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, figi := range s.order {
		epoch, live := st.StreamState(figi)
		s.streams[figi] = streamState{epoch, live}
		if !live {
			s.restartFrom[figi] = never
		}
	}
}

// trackStreams restarts the coverage of each instrument whose stream went
// down, silent, or was re-established since the last sweep, and wakes the
// recent loop for the minutes just before the restarts.
func (s *Service) trackStreams(now time.Time) {
	s.trackEpochs(now)
	s.trackSilence(now)
}

// trackEpochs follows the upstream's per-instrument stream states.
func (s *Service) trackEpochs(now time.Time) {
	st, ok := s.cfg.Upstream.(StreamStater)
	if !ok {
		return
	}
	// Ask the upstream first, without s.mu: the event loop is the only
	// writer of s.streams, so it may read them unlocked.
	type change struct {
		figi string
		to   streamState
	}
	var changes []change
	for _, figi := range s.order {
		epoch, live := st.StreamState(figi)
		if cur := (streamState{epoch, live}); cur != s.streams[figi] {
			changes = append(changes, change{figi, cur})
		}
	}
	if len(changes) == 0 {
		return
	}
	var restarted, down, first int
	s.mu.Lock()
	for _, c := range changes {
		was := s.streams[c.figi]
		s.streams[c.figi] = c.to
		switch {
		case !c.to.live:
			s.restartFrom[c.figi] = never
			down++
		case was.epoch == 0 && !was.live:
			s.restartFrom[c.figi] = nextMinute(now) // its first connection
			first++
		default:
			s.restartFrom[c.figi] = nextMinute(now)
			restarted++
		}
		if s.silent[c.figi] {
			// Resubscribed or reconnected, but still no data: it stays
			// down until data comes back (trackSilence).
			s.restartFrom[c.figi] = never
		}
	}
	s.mu.Unlock()
	if restarted+first > 0 {
		s.kickRecent()
	}
	if down > 0 {
		s.kickPoll()
	}
	if restarted+down > 0 {
		s.log.Info("upstream stream changed for some instruments; the minutes around it will be backfilled",
			"reestablished", restarted, "down", down, "covered_from", nextMinute(now))
	}
}

// streamStartLocked is the first minute the stream is responsible for figi:
// the backfill must leave it and later minutes alone. It is never (far
// future) while figi's stream is down, and zero before Run. Callers hold
// s.mu.
func (s *Service) streamStartLocked(figi string) time.Time {
	return s.streamStartFromLocked(figi, s.restartFrom[figi])
}

// streamStartFromLocked is streamStartLocked for a stream restarted at
// restart (zero: not restarted since Run began).
func (s *Service) streamStartFromLocked(figi string, restart time.Time) time.Time {
	start := maxTime(s.streamFrom, restart)
	// Ranges the stream has marked but not yet committed are its too.
	for _, rs := range [][]tvbridge.Range{s.pendCov, s.flushCov} {
		if b := firstFrom(clipRanges(rs, restart)); !b.IsZero() && b.Before(start) {
			start = b
		}
	}
	if s.cfg.HistoryFollows == FollowExchange {
		// So are those waiting for the audit, which will commit them.
		if b := firstFrom(s.auditQueue[figi]); !b.IsZero() && b.Before(start) {
			start = b
		}
	}
	return start
}

// takeover is the minute from which the stream is expected to carry figi,
// for the recent loop: its stream start, or, for an instrument not
// connected yet, the start of Run, as if it were. Never while a stream that
// was live is down: its return decides.
func (s *Service) takeover(figi string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	restart := s.restartFrom[figi]
	if restart.Equal(never) {
		if st := s.streams[figi]; st.epoch != 0 || st.live {
			return never
		}
		restart = time.Time{}
	}
	return s.streamStartFromLocked(figi, restart)
}

// clipRanges returns the parts of rs (sorted) at or after from.
func clipRanges(rs []tvbridge.Range, from time.Time) []tvbridge.Range {
	if from.IsZero() {
		return rs
	}
	var out []tvbridge.Range
	for _, r := range rs {
		if r.To.After(from) {
			out = append(out, tvbridge.Range{From: maxTime(r.From, from), To: r.To})
		}
	}
	return out
}

// Silence.
//
// A connection that stays open and answers pings can still carry nothing
// (the upstream's silent stall). Minutes the stream did not really carry
// must not count as covered, so each instrument that is in session, was
// recently active and has sent no data frame (candle, book or status) for
// longer than its silence threshold is treated as down from its last frame
// on: its pending coverage is withdrawn, its closed minutes are fetched
// from REST as they close (recent.go), and when data comes back its
// coverage restarts as after a reconnect. Detection must come well before
// CoverageLag, or the silent minutes would already be committed as
// covered; the threshold is 4 times the instrument's usual gap between
// frames, at least SilenceMin and at most CoverageLag - 30 s.

// activeWindow is how recent an instrument's last frame must be for its
// silence to mean an outage rather than a quiet market.
const activeWindow = 10 * time.Minute

// noteData records a data frame for figi; called on the event loop.
func (s *Service) noteData(figi string, recv time.Time) {
	if _, known := s.specs[figi]; !known || recv.IsZero() {
		return
	}
	if last, ok := s.lastData[figi]; ok && recv.After(last) {
		gap := recv.Sub(last)
		usual := s.usualGap[figi]
		if usual == 0 {
			usual = gap
		}
		s.usualGap[figi] = usual + (gap-usual)/8 // a moving average
	}
	if recv.After(s.lastData[figi]) {
		s.lastData[figi] = recv
		s.updated[figi].Store(recv.UnixNano())
	}
}

// LastUpdate is when the stream last delivered data for figi (zero: never
// since the start). It is safe for concurrent use.
func (s *Service) LastUpdate(figi string) time.Time {
	a := s.updated[figi]
	if a == nil || a.Load() == 0 {
		return time.Time{}
	}
	return time.Unix(0, a.Load()).UTC()
}

// InSession reports whether figi is expected to trade at t, by its schedule.
func (s *Service) InSession(figi string, t time.Time) bool { return s.inSession(figi, t) }

// silenceLimit is how long figi may go without data before it is silent.
func (s *Service) silenceLimit(figi string) time.Duration {
	limit := max(4*s.usualGap[figi], s.cfg.SilenceMin)
	return min(limit, max(s.cfg.CoverageLag-30*time.Second, s.cfg.SilenceMin))
}

// inSession reports whether figi is expected to trade at t.
func (s *Service) inSession(figi string, t time.Time) bool {
	sched := s.specs[figi].Schedule
	return sched == nil || sched.InSession(t)
}

// trackSilence flags instruments that went silent and restarts the
// coverage of those whose data came back.
func (s *Service) trackSilence(now time.Time) {
	var silenced, resumed []string
	s.mu.Lock()
	for _, figi := range s.order {
		last, active := s.lastData[figi]
		switch {
		case s.silent[figi]:
			if now.Sub(last) < s.cfg.SilenceMin {
				s.silent[figi] = false
				if s.restartFrom[figi].Equal(never) && s.streams[figi].live {
					s.restartFrom[figi] = nextMinute(now)
				}
				resumed = append(resumed, figi)
			}
		case active && s.isLiveLocked(figi) && now.Sub(last) < activeWindow &&
			now.Sub(last) > s.silenceLimit(figi) && s.inSession(figi, now) && s.inSession(figi, last):
			s.silent[figi] = true
			s.restartFrom[figi] = never
			silenced = append(silenced, figi)
		}
	}
	s.mu.Unlock()
	if len(silenced) > 0 {
		s.progress.Silences.Add(int64(len(silenced)))
		s.log.Warn("upstream stream silent for instruments in session: no data while they should have some; "+
			"their minutes are taken from REST until it comes back",
			"instruments", len(silenced), "figis", sample(silenced), "silent_for_at_least", s.cfg.SilenceMin.String())
		s.kickRecent()
		s.kickPoll()
	}
	if len(resumed) > 0 {
		s.log.Info("upstream stream data back for instruments that were silent; the minutes in between will be backfilled",
			"instruments", len(resumed), "figis", sample(resumed))
		s.kickRecent()
	}
}

// isLiveLocked reports whether figi's stream is up as far as the upstream
// says (upstreams that cannot tell are trusted to be) and not refused.
// Callers hold s.mu.
func (s *Service) isLiveLocked(figi string) bool {
	if s.unstreamed[figi] {
		return false
	}
	if _, ok := s.cfg.Upstream.(StreamStater); !ok {
		return true
	}
	return s.streams[figi].live
}

// sample lists at most 10 FIGIs for a log line.
func sample(figis []string) string {
	if len(figis) <= 10 {
		return fmt.Sprint(figis)
	}
	return fmt.Sprintf("%v and %d more", figis[:10], len(figis)-10)
}

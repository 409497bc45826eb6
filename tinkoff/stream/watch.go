package stream

import (
	"sync"
	"time"

	"tvbridge"
)

// instruments tracks, per subscribed FIGI, what the silence watchdogs
// (silence.go) need: when it joined the desired set, its last frame, its
// last real update, its latest trade status, and the typical gap between
// its updates.
//
// A real update is a frame that is not the subscription's snapshot: right
// after a (re)subscription the service sends the current candle, book or
// status of each kind once, whether the market trades or not, so the first
// frame of each kind after a (re)subscription does not show that the
// instrument is active. Counting snapshots as activity would make every
// resubscription prove the instrument alive and keep a closed market
// "recently active" forever.
//
// The reader calls seen for every data frame; it is the hot path, so it
// only stores times and updates the average. Everything else runs in the
// watchdog.
type instruments struct {
	mu sync.Mutex
	m  map[string]*instrumentState
	// maxGap bounds one gap sample (InstrumentStall): the threshold derived
	// from the average is clamped there anyway, and an overnight gap must
	// not take hours of updates to be forgotten.
	maxGap time.Duration
}

type instrumentState struct {
	added      time.Time // joined the desired set
	lastSeen   time.Time // the last frame of any kind, or the last (re)subscription
	lastFrame  time.Time // the last frame of any kind; zero: none yet (for metrics)
	lastUpdate time.Time // the last real update; zero: none yet
	status     tvbridge.TradeStatus
	// snapshots has bit 1<<kind set once that kind's snapshot arrived since
	// the last (re)subscription.
	snapshots uint8
	// gap is an exponentially weighted moving average (weight 1/8) of the
	// time between bursts of real updates within one subscription; 0 until
	// the first sample. Updates less than burstGap after the previous sample
	// belong to its burst (a trade moves the candle and the book at once):
	// counting their tiny gaps would make the average of an instrument that
	// trades every few minutes look like seconds.
	gap  time.Duration
	prev time.Time // the start of the latest burst of this subscription; zero after a (re)subscription

	// Silence episode, maintained by the watchdog (guarded by instruments.mu
	// like the rest).
	silent   bool      // found silent, not heard from since
	resubAt  time.Time // the watchdog's latest resubscription in the episode
	backoff  uint8     // resubscriptions in the episode: the threshold doubles per one
	episodes int64     // silence episodes begun, for tests and logs
}

func newInstruments(maxGap time.Duration) *instruments {
	return &instruments{m: make(map[string]*instrumentState), maxGap: maxGap}
}

// track starts watching figi, or records a (re)subscription of it (on a
// connect, a resubscription, a move to another connection): its quiet
// period restarts and the next frame of each kind is a snapshot again.
func (w *instruments) track(figi string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, ok := w.m[figi]; ok {
		st.lastSeen, st.snapshots, st.prev = now, 0, time.Time{}
		return
	}
	w.m[figi] = &instrumentState{added: now, lastSeen: now}
}

// untrack stops watching figi (its last subscription is gone).
func (w *instruments) untrack(figi string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, figi)
}

// seen records a data frame of the given kind for figi and reports whether
// it was a real update rather than a snapshot. Frames for FIGIs not tracked
// (stragglers after an unsubscribe) are ignored rather than starting to
// track them.
func (w *instruments) seen(figi string, kind eventKind, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.m[figi]
	if !ok {
		return false
	}
	return st.record(kind, now, w.maxGap)
}

// seenStatus is seen for an instrument_info frame, which also carries the
// trade status.
func (w *instruments) seenStatus(figi string, status tvbridge.TradeStatus, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.m[figi]
	if !ok {
		return false
	}
	st.status = status
	return st.record(kindInstrumentInfo, now, w.maxGap)
}

// record notes a frame; see seen.
func (st *instrumentState) record(kind eventKind, now time.Time, maxGap time.Duration) bool {
	st.lastSeen, st.lastFrame = now, now
	bit := uint8(1) << kind
	if st.snapshots&bit == 0 {
		st.snapshots |= bit
		return false
	}
	st.lastUpdate = now
	switch since := now.Sub(st.prev); {
	case st.prev.IsZero():
		st.prev = now
	case since >= burstGap:
		sample := min(since, maxGap)
		if st.gap == 0 {
			st.gap = sample
		} else {
			st.gap += (sample - st.gap) / 8
		}
		st.prev = now
	}
	return true
}

// burstGap: updates closer than this to the previous sample are one burst.
const burstGap = time.Second

// states returns copies of the states of figis, zero for those not
// tracked.
func (w *instruments) states(figis []string) []instrumentState {
	out := make([]instrumentState, len(figis))
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, figi := range figis {
		if st, ok := w.m[figi]; ok {
			out[i] = *st
		}
	}
	return out
}

// silentCount is how many instruments are in a silence episode that no
// real update has ended yet.
func (w *instruments) silentCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, st := range w.m {
		if st.silent && !st.lastUpdate.After(st.resubAt) {
			n++
		}
	}
	return n
}

// silentNow reports whether figi is in a silence episode that no real
// update has ended yet, for StreamState.
func (w *instruments) silentNow(figi string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.m[figi]
	return ok && st.silent && !st.lastUpdate.After(st.resubAt)
}

// resubscribing records that the watchdog resubscribes figi because it is
// silent, and reports whether that begins a new episode.
func (w *instruments) resubscribing(figi string, now time.Time) (first bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.m[figi]
	if !ok {
		return false
	}
	first = !st.silent
	if first {
		st.silent, st.backoff = true, 0
		st.episodes++
	}
	st.resubAt = now
	st.backoff = min(st.backoff+1, maxBackoff)
	return first
}

// endEpisode closes figi's silence episode: it sent real updates again, or
// it is no longer expected to be active.
func (w *instruments) endEpisode(figi string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, ok := w.m[figi]; ok {
		st.silent, st.backoff = false, 0
	}
}

// maxBackoff bounds the doublings; the threshold is clamped long before.
const maxBackoff = 16

package stream

import (
	"sync"
	"time"

	"tvbridge"
)

// instruments tracks, per subscribed FIGI, when its last frame arrived and
// its latest trade status, for the instrument watchdog.
//
// A quiet instrument is not necessarily an outage: during a break in
// trading, an auction without trades or outside its session the service
// has nothing to send. The watchdog therefore only flags an instrument
// whose latest instrument_info status says it is trading
// (tvbridge.TradeStatus.Trading). An instrument without a known status (no
// instrument_info subscription, or none received yet) is never flagged:
// there is no way to tell a closed market from an outage for it, and
// flagging it would resubscribe every instrument all night long. The
// connection watchdog still covers a connection that went silent as a whole.
type instruments struct {
	mu sync.Mutex
	m  map[string]*instrumentState
}

type instrumentState struct {
	lastSeen time.Time
	status   tvbridge.TradeStatus
}

func newInstruments() *instruments {
	return &instruments{m: make(map[string]*instrumentState)}
}

// track starts watching figi, or restarts its quiet period (on subscribe,
// connect and resubscribe): nothing can have arrived yet.
func (w *instruments) track(figi string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, ok := w.m[figi]; ok {
		st.lastSeen = now
		return
	}
	w.m[figi] = &instrumentState{lastSeen: now}
}

// untrack stops watching figi (its last subscription is gone).
func (w *instruments) untrack(figi string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, figi)
}

// seen records a frame for figi. Frames for FIGIs not tracked (stragglers
// after an unsubscribe) are ignored rather than starting to track them.
func (w *instruments) seen(figi string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, ok := w.m[figi]; ok {
		st.lastSeen = now
	}
}

// seenStatus records an instrument_info frame and its trade status.
func (w *instruments) seenStatus(figi string, status tvbridge.TradeStatus, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, ok := w.m[figi]; ok {
		st.lastSeen = now
		st.status = status
	}
}

// stalled reports whether figi is in a trading status yet has been quiet
// for at least limit, with its status and how long it has been quiet.
func (w *instruments) stalled(figi string, now time.Time, limit time.Duration) (bool, tvbridge.TradeStatus, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.m[figi]
	if !ok {
		return false, tvbridge.StatusUnknown, 0
	}
	quiet := now.Sub(st.lastSeen)
	return st.status.Trading() && quiet >= limit, st.status, quiet
}

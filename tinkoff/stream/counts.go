package stream

import (
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
)

// FrameCounts are the data frames read, by what they carried.
type FrameCounts struct {
	Candle         int64
	OrderBook      int64
	InstrumentInfo int64
	Error          int64 // error events
	Unknown        int64 // events this client does not know
	Undecodable    int64 // frames that did not decode
}

// kindUndecodable is the frames slot of frames that did not decode; the
// other slots are indexed by eventKind. One counter per frame, as before
// the kinds were told apart: FramesRead is their sum.
const (
	kindUndecodable = kindError + 1
	nFrameSlots     = kindUndecodable + 1
)

func (c *counters) frameCounts() FrameCounts {
	return FrameCounts{
		Candle:         c.frames[kindCandle].Load(),
		OrderBook:      c.frames[kindOrderBook].Load(),
		InstrumentInfo: c.frames[kindInstrumentInfo].Load(),
		Error:          c.frames[kindError].Load(),
		Unknown:        c.frames[kindUnknown].Load(),
		Undecodable:    c.frames[kindUndecodable].Load(),
	}
}

func (c *counters) framesRead() int64 {
	var n int64
	for i := range c.frames {
		n += c.frames[i].Load()
	}
	return n
}

// LostCounts are the connections lost and reopened, by cause. Stall and
// DataSilence are the pool's own watchdogs (see Stats.Stalls and
// DataSilences); the others are what ended the socket.
type LostCounts struct {
	Stall       int64 // no frame at all within StallTimeout
	DataSilence int64 // pings answered but no data while instruments should be active
	ServerClose int64 // the service sent a close frame
	ReadTimeout int64 // nothing read within ReadTimeout (the socket's deadline)
	ReadError   int64 // the socket failed while reading (reset, EOF, a bad frame header)
	WriteError  int64 // a subscribe, ping or pong could not be written
}

// Causes of a lost connection, the indexes of counters.lost.
const (
	lostStall = iota
	lostDataSilence
	lostServerClose
	lostReadTimeout
	lostReadError
	lostWriteError
	nLostCauses
)

func (c *counters) lostCounts() LostCounts {
	return LostCounts{
		Stall:       c.lost[lostStall].Load(),
		DataSilence: c.lost[lostDataSilence].Load(),
		ServerClose: c.lost[lostServerClose].Load(),
		ReadTimeout: c.lost[lostReadTimeout].Load(),
		ReadError:   c.lost[lostReadError].Load(),
		WriteError:  c.lost[lostWriteError].Load(),
	}
}

// readFailure marks the error that ended a connection's reader, so that the
// loss is counted under the reader's cause rather than as a failed write.
type readFailure struct{ err error }

func (e readFailure) Error() string {
	if e.err == nil {
		return "reader stopped"
	}
	return e.err.Error()
}
func (e readFailure) Unwrap() error { return e.err }

// countLost counts a connection that serve gave up with err.
func (c *counters) countLost(err error) {
	c.lost[lostCause(err)].Add(1)
}

func lostCause(err error) int {
	var rf readFailure
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.Is(err, errStalled):
		return lostStall
	case errors.Is(err, errDataSilent):
		return lostDataSilence
	case !errors.As(err, &rf):
		return lostWriteError
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		// 1006 is gorilla's name for a socket that ended without a close
		// frame: a read error, not the service closing.
		return lostServerClose
	case errors.As(err, &ne) && ne.Timeout():
		return lostReadTimeout
	}
	return lostReadError
}

// Subscription states, as Subscriptions reports them.
const (
	SubLive       = "live"       // on a connection that is up
	SubConnecting = "connecting" // on a connection slot that is not up (dialing, backing off)
	SubWaiting    = "waiting"    // no connection has room for it
)

// SubscriptionCount is how many desired subscriptions of a kind are in a
// state.
type SubscriptionCount struct {
	Kind  tvbridge.SubscriptionKind
	State string // SubLive, SubConnecting or SubWaiting
	N     int
}

// Subscriptions counts the desired subscriptions by kind and state. It
// walks the whole desired set under the pool's lock, so it is meant for a
// metrics scrape, not for every Stats call; counting into a fixed array
// keeps that walk to tens of microseconds at a thousand instruments.
func (p *Pool) Subscriptions() []SubscriptionCount {
	kinds := [...]tvbridge.SubscriptionKind{tvbridge.SubCandle, tvbridge.SubOrderBook, tvbridge.SubInstrumentInfo}
	states := [...]string{SubLive, SubConnecting, SubWaiting}
	var n [len(kinds)][len(states)]int
	kindIndex := func(k tvbridge.SubscriptionKind) int {
		switch k {
		case tvbridge.SubCandle:
			return 0
		case tvbridge.SubOrderBook:
			return 1
		}
		return 2 // normalize admits no other kind
	}
	p.mu.Lock()
	for _, s := range p.slots {
		state := 1
		if s.conn != nil {
			state = 0
		}
		for _, bySub := range s.subs {
			for sub := range bySub {
				n[kindIndex(sub.Kind)][state]++
			}
		}
	}
	for _, sub := range p.pending {
		n[kindIndex(sub.Kind)][2]++
	}
	p.mu.Unlock()
	out := make([]SubscriptionCount, 0, len(kinds)*len(states))
	for k, kind := range kinds {
		for st, state := range states {
			out = append(out, SubscriptionCount{Kind: kind, State: state, N: n[k][st]})
		}
	}
	return out
}

// LastFrames calls fn with the time of the last data frame (update or
// snapshot) of each subscribed instrument that has had one. fn runs under
// the lock the readers take for every frame: it must be quick and must not
// call the Pool.
func (p *Pool) LastFrames(fn func(figi string, last time.Time)) {
	w := p.inst
	w.mu.Lock()
	defer w.mu.Unlock()
	for figi, st := range w.m {
		if !st.lastFrame.IsZero() {
			fn(figi, st.lastFrame)
		}
	}
}

package sim

import (
	"slices"
	"sync/atomic"
	"time"

	"tvbridge"
)

// Faults injects the failures the real service showed in the wild. Every
// method is safe for concurrent use and counted in Stats().Faults; Settings
// reports what is switched on.
type Faults struct {
	srv *Server

	duplicate, reorder, stall, skipClose atomic.Bool
	staleAfterFinal, silence             atomic.Bool
	refuse429, rest429                   atomic.Int64
	lateFinals                           atomic.Int64 // a time.Duration
	loseFinals                           atomic.Int64 // one final in n is lost
	connCap                              atomic.Int64 // 0: Config.MaxConnections
	silenced                             atomic.Pointer[figiSet]
	schedule                             atomic.Pointer[silenceSchedule]
}

// DropConnections closes up to n stream connections, oldest first, the way
// the real service dropped them: the TCP connection is closed with no
// WebSocket close frame. It returns how many it closed.
func (f *Faults) DropConnections(n int) int {
	dropped := 0
	for _, c := range f.srv.conns.list() {
		if dropped == n {
			break
		}
		if c.abort() {
			f.srv.log.Info("fault: dropped stream connection", "conn", c.id)
			f.srv.stats.dropped.Add(1)
			dropped++
		}
	}
	return dropped
}

// DropAll closes every stream connection abruptly and returns how many.
func (f *Faults) DropAll() int {
	return f.DropConnections(int(^uint(0) >> 1))
}

// Duplicate makes every candle frame (not the snapshot on subscribe) go out
// twice in a row, final states included.
func (f *Faults) Duplicate(on bool) { f.duplicate.Store(on) }

// Reorder makes the stream occasionally re-send an older state of a candle
// after a newer one: the previous update after every third update, and the
// previous interval's final candle (or its last update, when the final was
// not sent) after the first update of the next interval.
func (f *Faults) Reorder(on bool) { f.reorder.Store(on) }

// StaleAfterFinal makes the stream re-send, right after each final state it
// sends, the last update of the same interval sent before it (an older state
// of the closed candle, with its original envelope time), when the interval
// had one. It comes before any update of the next interval.
func (f *Faults) StaleAfterFinal(on bool) { f.staleAfterFinal.Store(on) }

// Stall stops all sending (data, errors and pings) on every connection while
// on; the connections stay open and keep reading and applying requests. What
// would have been sent meanwhile is discarded, not queued.
func (f *Faults) Stall(on bool) {
	if f.stall.Swap(on) != on {
		f.srv.stats.stalls.Add(1)
	}
}

// SkipClose withholds the final state of closing candles, so the last state
// a client saw may be older than what REST returns for the interval.
func (f *Faults) SkipClose(on bool) { f.skipClose.Store(on) }

// LateFinals makes every candle stream send the final state of a closed
// interval not at the rollover but at the first emission tick at or after
// the interval's end plus delay (on Config.Clock), and hold back the next
// interval's updates until then, so the final always precedes them. A final
// still pending when the next interval closes too (delay longer than the
// interval) is sent at that close. delay <= 0 restores finals at the
// rollover; a change applies to intervals that close afterwards.
func (f *Faults) LateFinals(delay time.Duration) { f.lateFinals.Store(int64(max(delay, 0))) }

// LoseFinals makes the stream never send about one final state in oneIn: the
// final of the candle (FIGI, interval, start) is lost when LosesFinal says
// so, a fixed hash of the three, so a test knows which. Under LateFinals the
// next interval's updates are still held back until the lost final was due.
// oneIn == 1 loses every final (like SkipClose); oneIn <= 0 loses none. The
// choice is made when the interval closes.
func (f *Faults) LoseFinals(oneIn int) { f.loseFinals.Store(int64(max(oneIn, 0))) }

// LosesFinal reports whether LoseFinals, as set now, loses the final state
// of the candle of figi and interval that starts at start.
func (f *Faults) LosesFinal(figi string, interval tvbridge.CandleInterval, start time.Time) bool {
	n := f.loseFinals.Load()
	return n > 0 && finalHash(figi, interval, start)%uint64(n) == 0
}

// finalHash is FNV-1a over the FIGI and interval, mixed with the start.
func finalHash(figi string, interval tvbridge.CandleInterval, start time.Time) uint64 {
	h := uint64(14695981039346656037)
	for _, s := range [...]string{figi, "/", string(interval)} {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	return mix64(mix64(h) ^ uint64(start.Unix()))
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// ConnectionCap sets the number of stream connections a token may hold in
// place of Config.MaxConnections: the handshake that would exceed it gets
// 423. n <= 0 restores Config.MaxConnections. The cap is checked at the
// handshake only: connections already open above a lowered cap stay open
// (DropConnections closes some if a test needs that).
func (f *Faults) ConnectionCap(n int) { f.connCap.Store(int64(max(n, 0))) }

// connectionCap is the cap in force.
func (s *Server) connectionCap() int {
	if n := s.faults.connCap.Load(); n > 0 {
		return int(n)
	}
	return s.cfg.MaxConnections
}

// Silence makes every stream connection silent while on: it stays open, the
// server keeps pinging it every PingInterval and answering its pings, and
// keeps reading and applying its requests, but sends no text frame at all
// (no candle, order book, instrument_info, snapshot or error). Nothing is
// queued meanwhile: the final states of candles that close are lost (see
// FinalWithheld), and when the silence ends each stream resumes with its
// current state (the forming candle as it stands, the book, the trading
// status if it changed), throttles permitting, including the streams
// subscribed during the silence. Unlike Stall, pings go on.
func (f *Faults) Silence(on bool) { f.silence.Store(on) }

// SilenceInstruments silences the data of these instruments only (candles,
// order books, instrument_info and their snapshots, as Silence does), on
// every connection; error events are still sent. It replaces the previous
// set; no argument ends it.
func (f *Faults) SilenceInstruments(figis ...string) {
	if len(figis) == 0 {
		f.silenced.Store(nil)
		return
	}
	f.silenced.Store(newFigiSet(figis))
}

// SilenceSchedule silences periodically: during the first length of every
// period of every, periods aligned on the Unix epoch of Config.Clock (every
// 10m for 3m: from :00 to :03, :10 to :13, ...), as Silence does, or as
// SilenceInstruments does for the given FIGIs. It combines with Silence and
// SilenceInstruments; every <= 0 or length <= 0 ends it.
func (f *Faults) SilenceSchedule(every, length time.Duration, figis ...string) {
	if every <= 0 || length <= 0 {
		f.schedule.Store(nil)
		return
	}
	sch := &silenceSchedule{every: every, length: min(length, every)}
	if len(figis) > 0 {
		sch.figis = newFigiSet(figis)
	}
	f.schedule.Store(sch)
}

// figiSet is an immutable set of FIGIs.
type figiSet struct {
	m    map[string]bool
	list []string // sorted
}

func newFigiSet(figis []string) *figiSet {
	s := &figiSet{m: make(map[string]bool, len(figis))}
	for _, figi := range figis {
		if !s.m[figi] {
			s.m[figi] = true
			s.list = append(s.list, figi)
		}
	}
	slices.Sort(s.list)
	return s
}

type silenceSchedule struct {
	every, length time.Duration
	figis         *figiSet // nil: everything
}

func (s *silenceSchedule) active(now time.Time) bool {
	return time.Duration(now.UnixNano()%int64(s.every)) < s.length
}

// silenceView is what the Silence faults silence at one instant.
type silenceView struct {
	all   bool            // every text frame of every connection
	figis map[string]bool // the data of these instruments
}

func (v silenceView) of(figi string) bool { return v.all || v.figis[figi] }

func (f *Faults) silenceAt(now time.Time) silenceView {
	v := silenceView{all: f.silence.Load()}
	if set := f.silenced.Load(); set != nil {
		v.figis = set.m
	}
	if sch := f.schedule.Load(); sch != nil && sch.active(now) {
		switch {
		case sch.figis == nil:
			v.all = true
		case v.figis == nil:
			v.figis = sch.figis.m
		default:
			merged := make(map[string]bool, len(v.figis)+len(sch.figis.m))
			for figi := range v.figis {
				merged[figi] = true
			}
			for figi := range sch.figis.m {
				merged[figi] = true
			}
			v.figis = merged
		}
	}
	return v
}

// Refuse429 makes the next n stream handshakes fail with HTTP 429.
func (f *Faults) Refuse429(n int) { f.refuse429.Store(int64(n)) }

// REST429 makes the next n REST requests fail with HTTP 429 and an empty body.
func (f *Faults) REST429(n int) { f.rest429.Store(int64(n)) }

// FaultSettings is what is switched on (Faults.Settings).
type FaultSettings struct {
	Duplicate, Reorder, StaleAfterFinal, Stall, SkipClose, Silence bool
	LateFinals                                                     time.Duration
	LoseFinals                                                     int // one in n; 0: off
	ConnectionCap                                                  int // 0: Config.MaxConnections
	SilencedInstruments                                            []string
	SilenceEvery, SilenceFor                                       time.Duration
	SilenceScheduleInstruments                                     []string // nil: all
	Refuse429, REST429                                             int      // budgets left
}

// Settings returns what is switched on.
func (f *Faults) Settings() FaultSettings {
	s := FaultSettings{
		Duplicate:       f.duplicate.Load(),
		Reorder:         f.reorder.Load(),
		StaleAfterFinal: f.staleAfterFinal.Load(),
		Stall:           f.stall.Load(),
		SkipClose:       f.skipClose.Load(),
		Silence:         f.silence.Load(),
		LateFinals:      time.Duration(f.lateFinals.Load()),
		LoseFinals:      int(f.loseFinals.Load()),
		ConnectionCap:   int(f.connCap.Load()),
		Refuse429:       int(max(f.refuse429.Load(), 0)),
		REST429:         int(max(f.rest429.Load(), 0)),
	}
	if set := f.silenced.Load(); set != nil {
		s.SilencedInstruments = slices.Clone(set.list)
	}
	if sch := f.schedule.Load(); sch != nil {
		s.SilenceEvery, s.SilenceFor = sch.every, sch.length
		if sch.figis != nil {
			s.SilenceScheduleInstruments = slices.Clone(sch.figis.list)
		}
	}
	return s
}

// take decrements a fault budget and reports whether one unit was used.
func take(budget *atomic.Int64) bool {
	for {
		n := budget.Load()
		if n <= 0 {
			return false
		}
		if budget.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

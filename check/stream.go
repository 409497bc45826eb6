package check

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"
)

const (
	// maxLine bounds one /streaming line; a server sending more is broken.
	maxLine = 1 << 20
	// deliveryMargin is how late a tick may arrive and still count: the
	// same 5 s as the delay check's error threshold. The identical-data
	// window and the covered minutes keep this margin from their ends.
	deliveryMargin = 5 * time.Second
)

// streamRun reads /streaming on parallel connections for the run's
// duration.
type streamRun struct {
	r           *runner
	plannedStop time.Time
	conns       []*connState
	opened      chan struct{} // closed when every connection connected or failed
	done        chan struct{}

	mu          sync.Mutex
	settled     int   // connections connected or failed
	windowStart int64 // tick time from which connections are compared; 0 until all settled
	windowEnd   int64
}

// startStreaming opens the connections, waits until each one is open (or
// failed) and returns; the connections read on for the run's duration,
// counted from then, and wait blocks until they are done.
func (r *runner) startStreaming(ctx context.Context) *streamRun {
	sr := &streamRun{r: r, opened: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range r.cfg.Connections {
		sr.conns = append(sr.conns, newConnState(i, sr))
	}
	for _, c := range sr.conns {
		wg.Go(func() { c.run(ctx) })
	}
	<-sr.opened
	sr.plannedStop = r.clk.Now().Add(r.cfg.Duration)
	sr.mu.Lock()
	sr.windowEnd = sr.plannedStop.Add(-deliveryMargin).Unix()
	sr.mu.Unlock()
	stopper := r.clk.NewTimer(r.cfg.Duration)
	go func() {
		defer stopper.Stop()
		select {
		case <-stopper.C():
		case <-ctx.Done():
		}
		cancel()
	}()
	go func() {
		wg.Wait()
		cancel()
		close(sr.done)
	}()
	r.log.Info("streaming", "connections", r.cfg.Connections, "duration", r.cfg.Duration)
	return sr
}

func (sr *streamRun) wait() { <-sr.done }

// settle notes a connection that connected or failed; once
// all have, the identical-data window starts deliveryMargin after the
// last connection opened.
func (sr *streamRun) settle() {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	sr.settled++
	if sr.settled < len(sr.conns) {
		return
	}
	last := time.Time{}
	for _, c := range sr.conns {
		if t := c.connectedAt(); t.After(last) {
			last = t
		}
	}
	if !last.IsZero() {
		sr.windowStart = last.Add(deliveryMargin).Unix()
	}
	close(sr.opened)
}

func (sr *streamRun) window() (int64, int64) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.windowStart, sr.windowEnd
}

// tickKey is a symbol and message type.
type tickKey struct {
	id   string
	kind byte
}

// connState is what one connection saw. Only its reader goroutine writes
// it until the run is over.
type connState struct {
	idx int
	sr  *streamRun
	url string

	mu        sync.Mutex // guards connectAt for settle
	connectAt time.Time

	ex            *exchange // status line and headers, for reports
	transferChunk bool
	endAt         time.Time
	endErr        error
	stopped       bool // ended by the checker, not by the server
	partialLine   bool

	lines, heartbeats int
	lastRecv          time.Time
	maxSilence        time.Duration

	lastBeat       time.Time     // the last heartbeat, or the connection opening
	maxBeatGap     time.Duration // the longest time without a heartbeat
	ticksSinceBeat int
	gapTicks       int // ticks that arrived during maxBeatGap

	kinds   map[byte]int
	ticks   map[string]int // per symbol, heartbeats aside
	last    map[tickKey]float64
	hashes  map[string]hash.Hash64 // per symbol, lines inside the window
	counted map[string]int
	bars    map[string]map[int64]*bar // per symbol and minute, from trades

	canonical []byte // scratch for fold

	fields, unit, backwards tally
	maxLate, maxEarly       time.Duration
	lateLine, earlyLine     []byte
	delayed                 int // ticks whose delay was measured
}

func newConnState(idx int, sr *streamRun) *connState {
	return &connState{
		idx: idx, sr: sr, url: sr.r.c.endpoint("/streaming", nil),
		kinds: map[byte]int{}, ticks: map[string]int{}, last: map[tickKey]float64{},
		hashes: map[string]hash.Hash64{}, counted: map[string]int{},
		bars: map[string]map[int64]*bar{},
	}
}

func (c *connState) connectedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connectAt
}

// run opens the connection and reads it until the run ends or the server
// closes it. No panic may escape: the input is the server's.
func (c *connState) run(ctx context.Context) {
	r := c.sr.r
	settled := false
	defer func() {
		if p := recover(); p != nil {
			c.endErr = fmt.Errorf("checker panic reading the stream: %v", p)
			c.endAt = r.clk.Now()
		}
		if !settled {
			c.sr.settle()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.ex = &exchange{method: http.MethodGet, url: c.url}
	req, err := r.c.newRequest(ctx, http.MethodGet, c.url, nil, withToken)
	if err != nil {
		c.ex.err, c.endErr, c.endAt = err, err, r.clk.Now()
		return
	}
	// The headers must come within the request timeout; the body never ends.
	// Network timeouts run on the wall clock, like socket deadlines.
	timer := time.AfterFunc(r.cfg.RequestTimeout, cancel)
	resp, err := r.c.http.Do(req)
	timer.Stop()
	now := r.clk.Now()
	if err != nil {
		c.ex.err, c.endErr, c.endAt = err, err, now
		return
	}
	defer resp.Body.Close()
	c.ex.status, c.ex.proto, c.ex.header = resp.StatusCode, resp.Proto, resp.Header
	c.transferChunk = slices.Contains(resp.TransferEncoding, "chunked")
	c.mu.Lock()
	c.connectAt = now
	c.mu.Unlock()
	c.sr.settle()
	settled = true
	if resp.StatusCode != http.StatusOK {
		c.ex.body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
		c.endAt, c.endErr = now, fmt.Errorf("HTTP %d", resp.StatusCode)
		return
	}
	c.lastRecv, c.lastBeat = now, now
	c.read(ctx, resp.Body)
}

// read consumes lines until the body ends. Each line is stamped with the
// clock right after it is read, before anything else happens.
func (c *connState) read(ctx context.Context, body io.Reader) {
	clk := c.sr.r.clk
	br := bufio.NewReaderSize(body, 64<<10)
	var long []byte // a line longer than the buffer, so far
	for {
		chunk, err := br.ReadSlice('\n')
		now := clk.Now()
		if errors.Is(err, bufio.ErrBufferFull) || (err == nil && long != nil) {
			long = append(long, chunk...)
			if len(long) > maxLine {
				c.fields.fail(c.lineEvidence(long[:200]), "connection %d: a line longer than %d bytes", c.idx, maxLine)
				c.finish(ctx, now, errors.New("line too long"))
				return
			}
			if err != nil {
				continue
			}
			chunk, long = long, nil
		}
		if err != nil {
			c.partialLine = len(chunk)+len(long) > 0
			c.finish(ctx, now, err)
			return
		}
		c.onLine(chunk[:len(chunk)-1], now)
	}
}

func (c *connState) finish(ctx context.Context, now time.Time, err error) {
	c.endAt, c.endErr = now, err
	c.stopped = ctx.Err() != nil
	if c.stopped {
		c.endErr = nil
	}
	c.silence(now)
	c.beatGap(now)
}

func (c *connState) silence(now time.Time) {
	if d := now.Sub(c.lastRecv); d > c.maxSilence {
		c.maxSilence = d
	}
	c.lastRecv = now
}

// beatGap notes the time since the last heartbeat (or the connection
// opening), with the ticks that arrived meanwhile.
func (c *connState) beatGap(now time.Time) {
	if d := now.Sub(c.lastBeat); d > c.maxBeatGap {
		c.maxBeatGap, c.gapTicks = d, c.ticksSinceBeat
	}
}

func (c *connState) lineEvidence(line []byte) *exchange {
	return &exchange{method: http.MethodGet, url: c.url, status: http.StatusOK, proto: "line of", body: bytes.Clone(line)}
}

// onLine checks one line and folds it into the connection's state.
func (c *connState) onLine(line []byte, now time.Time) {
	c.lines++
	c.silence(now)
	line = bytes.TrimSuffix(line, []byte("\r"))
	msg, problems, err := parseStreamLine(line)
	if err != nil {
		c.fields.fail(c.lineEvidence(line), "connection %d line %d: %v: %s", c.idx, c.lines, err, truncate(string(line), 200))
		return
	}
	for _, p := range problems {
		c.fields.fail(c.lineEvidence(line), "connection %d line %d: %s: %s", c.idx, c.lines, p, truncate(string(line), 200))
	}
	if c.idx == 0 {
		c.sr.r.obs.streamLine(msg.Kind, line, c.url)
	}
	if msg.Kind == kindHeartbeat {
		c.heartbeats++
		c.beatGap(now)
		c.lastBeat, c.ticksSinceBeat = now, 0
		return
	}
	c.ticksSinceBeat++
	if len(problems) > 0 {
		return
	}
	c.kinds[msg.Kind]++
	c.ticks[msg.ID]++
	c.checkValues(msg, line)
	c.checkTime(msg, line, now)
	c.fold(msg)
}

// checkValues applies the rules on sizes and bars that types alone do not
// catch.
func (c *connState) checkValues(m streamMsg, line []byte) {
	ev := func(format string, args ...any) {
		c.fields.fail(c.lineEvidence(line), "connection %d: %s: %s", c.idx, fmt.Sprintf(format, args...), truncate(string(line), 200))
	}
	switch m.Kind {
	case kindTrade, kindAsk, kindBid:
		if m.S < 0 {
			ev("size %g is negative", m.S)
		} else if m.S == 0 && m.Kind == kindTrade {
			c.fields.warn(c.lineEvidence(line), "connection %d: trade size 0 is meant for corrections only: %s", c.idx, truncate(string(line), 200))
		}
	case kindQuote:
		if m.AS < 0 || m.BS < 0 {
			ev("quote sizes must not be negative")
		}
	case kindDaily:
		if m.H < math.Max(m.O, m.C) || m.L > math.Min(m.O, m.C) || m.L > m.H {
			ev("daily bar with high %g below open/close or low %g above them", m.H, m.L)
		}
		if math.Mod(m.T, secondsPerDay) != 0 {
			ev("daily bar time %g is not 00:00 UTC", m.T)
		}
	}
}

// checkTime checks the tick time: Unix seconds near now, never
// decreasing per symbol and type, and delivered within the delay limits.
func (c *connState) checkTime(m streamMsg, line []byte, now time.Time) {
	t := m.T
	recv := float64(now.UnixNano()) / 1e9
	if m.Kind != kindDaily {
		c.measureDelay(t, recv, line)
	}
	switch {
	case t > 1e11:
		c.unit.fail(c.lineEvidence(line), "connection %d: t=%.0f looks like milliseconds; tick times are Unix seconds: %s", c.idx, t, truncate(string(line), 200))
		return
	case m.Kind == kindDaily && (t > recv+2*secondsPerDay || t < recv-7*secondsPerDay):
		c.unit.fail(c.lineEvidence(line), "connection %d: daily bar t=%.0f (%s) is not the current trading day: %s", c.idx, t, unixString(int64(t)), truncate(string(line), 200))
		return
	case m.Kind != kindDaily && math.Abs(t-recv) > secondsPerDay:
		c.unit.fail(c.lineEvidence(line), "connection %d: t=%.0f (%s) is more than a day from now (%s): %s", c.idx, t, unixString(int64(t)), unixString(now.Unix()), truncate(string(line), 200))
		return
	case t != math.Trunc(t):
		c.unit.warn(c.lineEvidence(line), "connection %d: t=%g has a fraction; TradingView expects whole Unix seconds", c.idx, t)
	}
	key := tickKey{m.ID, m.Kind}
	if last, ok := c.last[key]; ok && t < last {
		c.backwards.fail(c.lineEvidence(line), "connection %d: %s %q time went back from %s to %s: %s", c.idx, m.ID, string(m.Kind),
			unixString(int64(last)), unixString(int64(t)), truncate(string(line), 200))
	}
	c.last[key] = t
}

// measureDelay keeps the worst lateness and earliness. Whole-second tick
// times hide up to a second, so lateness counts from the end of the
// tick's second: it is the least the tick can have been late.
func (c *connState) measureDelay(t, recv float64, line []byte) {
	c.delayed++
	late := seconds(recv - (t + 1))
	early := seconds(t - recv)
	if late > c.maxLate {
		c.maxLate, c.lateLine = late, bytes.Clone(line)
	}
	if early > c.maxEarly {
		c.maxEarly, c.earlyLine = early, bytes.Clone(line)
	}
}

// seconds converts to a Duration, saturating: a tick time in milliseconds
// is decades away and would overflow.
func seconds(x float64) time.Duration {
	const limit = float64(math.MaxInt64 / 2)
	return time.Duration(math.Max(-limit, math.Min(limit, x*float64(time.Second))))
}

// fold adds a tick to the identical-data hash and, for trades, to the
// minute bars.
func (c *connState) fold(m streamMsg) {
	if start, end := c.sr.window(); start != 0 && m.T >= float64(start) && m.T <= float64(end) {
		h := c.hashes[m.ID]
		if h == nil {
			h = fnv.New64a()
			c.hashes[m.ID] = h
		}
		c.canonical = m.appendCanonical(c.canonical[:0])
		h.Write(c.canonical)
		c.counted[m.ID]++
	}
	if m.Kind != kindTrade {
		return
	}
	minute := int64(m.T) - int64(m.T)%60
	byMinute := c.bars[m.ID]
	if byMinute == nil {
		byMinute = map[int64]*bar{}
		c.bars[m.ID] = byMinute
	}
	if b := byMinute[minute]; b == nil {
		byMinute[minute] = &bar{T: minute, O: m.P, H: m.P, L: m.P, C: m.P, V: m.S}
	} else {
		b.H, b.L, b.C, b.V = math.Max(b.H, m.P), math.Min(b.L, m.P), m.P, b.V+m.S
	}
}

// covered returns the minutes this connection saw whole: it was open when
// the minute began and until deliveryMargin after it ended.
func (c *connState) covered() (first, last int64, ok bool) {
	if c.connectAt.IsZero() || c.ex.status != http.StatusOK {
		return 0, 0, false
	}
	start := c.connectAt.Unix()
	if c.connectAt.Nanosecond() > 0 || start%60 != 0 {
		start = start - start%60 + 60
	}
	end := c.endAt.Add(-deliveryMargin).Unix()
	last = end - end%60 - 60
	return start, last, last >= start
}

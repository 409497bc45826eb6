package integration

// Trade → /streaming latency with the T-Invest API v2 upstream (issue 11):
// BenchmarkV2TradeToStreaming. Self-contained on purpose (names prefixed
// v2): it shares no helper with the other files of this package, which
// change independently, but it measures the way BenchmarkStreamingLatency
// (the v1 benchmark) does, so the two can be compared run for run.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/bars"
	"tvbridge/bolt"
	"tvbridge/ingest"
	"tvbridge/tape"
	"tvbridge/tinvest/stream"
	"tvbridge/tinvest/wire"
)

// Knobs, from the environment (defaults in brackets):
//
//	TVBRIDGE_BENCH_V2_RATE         trades a second over all instruments [20000]
//	TVBRIDGE_BENCH_V2_INSTRUMENTS  instruments [1000]
//	TVBRIDGE_BENCH_V2_SECONDS      measuring window in seconds [10]
//	TVBRIDGE_BENCH_V2_EXTRAS       0: trades only; else per instrument a
//	                               10-level book every 4th trade and a
//	                               candle update every 20th [1]
//	TVBRIDGE_BENCH_CPUPROFILE      file: CPU profile of the measuring window
func v2EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// v2Firehose is a fake T-Invest API v2 MarketDataStream (the WebSocket JSON
// interface) on loopback. It answers every subscribe request with SUCCESS
// per instrument, pings at the period pingSettings asks, and sends trades
// for the subscribed instruments at a fixed total rate, each stamped with
// the time it was made; with extras, books and candle updates besides.
// Candle updates are the exact OHLCV of the trades of their minute sent so
// far, as the service's are, so the bar engine confirms its minutes from
// them and never falls back to them.
type v2Firehose struct {
	rate   int
	extras bool
	insts  []*v2Inst
	byID   map[string]*v2Inst // uid and FIGI
	done   chan struct{}
	// free recycles frame buffers: the fake upstream runs in the bridge's
	// process, and its garbage would otherwise set the pace of the
	// bridge's garbage collector.
	free chan []byte

	mu      sync.Mutex
	conns   []*v2Conn
	version int // of the subscriptions, for the pacer

	trades atomic.Int64 // trade frames written to the sockets
	frames atomic.Int64 // all data frames written
}

// v2Inst is one instrument; the fields below mu are the pacer's alone.
type v2Inst struct {
	idx       int
	figi, uid string

	// guarded by v2Firehose.mu
	conn                 *v2Conn
	trade, book, candles bool
	bookDepth            int

	seq                    int64 // trades sent: also each trade's quantity, so every trade line differs
	pc                     int64 // last price in cents
	minute                 int64 // of the candle below
	o, h, l, c, v          int64
	lastTrade              time.Time
	sinceBook, sinceCandle int
}

type v2Conn struct {
	ws  *websocket.Conn
	out chan v2Out

	mu   sync.Mutex
	sent []v2Sent // each trade's write time
}

// v2Out is a WebSocket frame to write; a trade's carries its key.
type v2Out struct {
	frame []byte // within buf
	buf   []byte // from v2Firehose.free; nil for frames not built there
	inst  int32  // -1: not a trade
	seq   int64
}

type v2Key struct {
	inst int32
	seq  int64
}

type v2Sent struct {
	key v2Key
	at  int64 // Unix ns, just before the write that carried it
}

func newV2Firehose(rate, instruments int, extras bool) *v2Firehose {
	f := &v2Firehose{rate: rate, extras: extras, byID: map[string]*v2Inst{}, done: make(chan struct{}), free: make(chan []byte, 1<<16)}
	for i := range instruments {
		in := &v2Inst{idx: i, figi: fmt.Sprintf("BBGV2%07d", i), uid: fmt.Sprintf("e6123145-9665-43e0-8413-%012d", i), pc: 10000}
		f.insts = append(f.insts, in)
		f.byID[in.figi], f.byID[in.uid] = in, in
	}
	return f
}

func (f *v2Firehose) close() { close(f.done) }

func (f *v2Firehose) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := (&websocket.Upgrader{Subprotocols: []string{wire.SubprotocolJSON}}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &v2Conn{ws: ws, out: make(chan v2Out, 1<<16)}
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	go f.write(c)
	defer func() {
		f.mu.Lock()
		for _, in := range f.insts {
			if in.conn == c {
				in.conn, in.trade, in.book, in.candles = nil, false, false, false
			}
		}
		f.version++
		f.mu.Unlock()
		ws.Close()
	}()
	pinging := false
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var req wire.MarketDataRequest
		if err := json.Unmarshal(data, &req); err != nil {
			return
		}
		if ps := req.PingSettings; ps != nil && !pinging {
			pinging = true
			go f.ping(c, time.Duration(max(ps.PingDelayMs, 5000))*time.Millisecond)
		}
		if resp := f.answer(c, &req); resp != nil {
			msg, err := json.Marshal(resp)
			if err != nil {
				panic(err)
			}
			f.sendPayload(c, msg)
		}
	}
}

// answer records a subscription request and builds its SUCCESS answer.
func (f *v2Firehose) answer(c *v2Conn, req *wire.MarketDataRequest) *wire.MarketDataResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	mark := func(id string, subscribe bool, set func(*v2Inst, bool)) (figi, uid string) {
		in := f.byID[id]
		if in == nil {
			return "", id
		}
		if subscribe {
			in.conn = c
		}
		set(in, subscribe)
		return in.figi, in.uid
	}
	switch {
	case req.SubscribeTradesRequest != nil:
		r := req.SubscribeTradesRequest
		resp := &wire.SubscribeTradesResponse{TrackingID: "v2bench", TradeSource: r.TradeSource}
		for _, ref := range r.Instruments {
			figi, uid := mark(ref.InstrumentID, r.SubscriptionAction == wire.SubscriptionActionSubscribe, func(in *v2Inst, on bool) { in.trade = on })
			resp.TradeSubscriptions = append(resp.TradeSubscriptions, wire.TradeSubscription{FIGI: figi, InstrumentUID: uid,
				SubscriptionStatus: wire.SubscriptionStatusSuccess, SubscriptionAction: r.SubscriptionAction})
		}
		return &wire.MarketDataResponse{SubscribeTradesResponse: resp}
	case req.SubscribeCandlesRequest != nil:
		r := req.SubscribeCandlesRequest
		resp := &wire.SubscribeCandlesResponse{TrackingID: "v2bench"}
		for _, ci := range r.Instruments {
			figi, uid := mark(ci.InstrumentID, r.SubscriptionAction == wire.SubscriptionActionSubscribe, func(in *v2Inst, on bool) { in.candles = on })
			resp.CandlesSubscriptions = append(resp.CandlesSubscriptions, wire.CandleSubscription{FIGI: figi, InstrumentUID: uid,
				Interval: ci.Interval, SubscriptionStatus: wire.SubscriptionStatusSuccess, SubscriptionAction: r.SubscriptionAction})
		}
		return &wire.MarketDataResponse{SubscribeCandlesResponse: resp}
	case req.SubscribeOrderBookRequest != nil:
		r := req.SubscribeOrderBookRequest
		resp := &wire.SubscribeOrderBookResponse{TrackingID: "v2bench"}
		for _, bi := range r.Instruments {
			figi, uid := mark(bi.InstrumentID, r.SubscriptionAction == wire.SubscriptionActionSubscribe, func(in *v2Inst, on bool) {
				in.book, in.bookDepth = on, int(bi.Depth)
			})
			resp.OrderBookSubscriptions = append(resp.OrderBookSubscriptions, wire.OrderBookSubscription{FIGI: figi, InstrumentUID: uid,
				Depth: bi.Depth, SubscriptionStatus: wire.SubscriptionStatusSuccess, SubscriptionAction: r.SubscriptionAction})
		}
		return &wire.MarketDataResponse{SubscribeOrderBookResponse: resp}
	case req.SubscribeInfoRequest != nil:
		r := req.SubscribeInfoRequest
		resp := &wire.SubscribeInfoResponse{TrackingID: "v2bench"}
		for _, ref := range r.Instruments {
			figi, uid := mark(ref.InstrumentID, r.SubscriptionAction == wire.SubscriptionActionSubscribe, func(*v2Inst, bool) {})
			resp.InfoSubscriptions = append(resp.InfoSubscriptions, wire.InfoSubscription{FIGI: figi, InstrumentUID: uid,
				SubscriptionStatus: wire.SubscriptionStatusSuccess, SubscriptionAction: r.SubscriptionAction})
		}
		return &wire.MarketDataResponse{SubscribeInfoResponse: resp}
	}
	return nil
}

// v2Head is the room left in front of a payload for its WebSocket header.
const v2Head = 10

// buf returns a frame buffer with the header's room reserved.
func (f *v2Firehose) buf() []byte {
	select {
	case b := <-f.free:
		return b[:v2Head]
	default:
		return make([]byte, v2Head, 2048)
	}
}

// send frames the payload built after the room buf reserved and queues it;
// a client that does not read loses it (counted by the loss accounting: it
// was never written).
func (f *v2Firehose) send(c *v2Conn, buf []byte, inst int32, seq int64) {
	o := v2Out{frame: v2Seal(buf), buf: buf, inst: inst, seq: seq}
	select {
	case c.out <- o:
	default:
		f.recycle(o.buf)
	}
}

func (f *v2Firehose) sendPayload(c *v2Conn, payload []byte) {
	f.send(c, append(f.buf(), payload...), -1, 0)
}

func (f *v2Firehose) recycle(b []byte) {
	select {
	case f.free <- b:
	default:
	}
}

func (f *v2Firehose) ping(c *v2Conn, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case now := <-t.C:
			b := append(f.buf(), `{"ping":{"time":"`...)
			b = now.UTC().AppendFormat(b, time.RFC3339Nano)
			f.send(c, append(b, `"}}`...), -1, 0)
		}
	}
}

// write sends the queued frames, as many as are waiting in one write, as a
// busy server's socket does (the v1 benchmark's firehose does the same: a
// syscall per frame made the fake upstream a fifth of the process's CPU).
// Each trade's send time is taken just before the write that carries it.
func (f *v2Firehose) write(c *v2Conn) {
	conn := c.ws.UnderlyingConn()
	var buf []byte
	var keys []v2Key
	for {
		var o v2Out
		select {
		case o = <-c.out:
		case <-f.done:
			return
		}
		buf, keys = append(buf[:0], o.frame...), keys[:0]
		f.recycle(o.buf)
		if o.inst >= 0 {
			keys = append(keys, v2Key{o.inst, o.seq})
		}
		frames := 1
		for more := true; more && len(buf) < 64<<10; {
			select {
			case o := <-c.out:
				buf = append(buf, o.frame...)
				f.recycle(o.buf)
				if o.inst >= 0 {
					keys = append(keys, v2Key{o.inst, o.seq})
				}
				frames++
			default:
				more = false
			}
		}
		at := time.Now().UnixNano()
		if _, err := conn.Write(buf); err != nil {
			return
		}
		c.mu.Lock()
		for _, k := range keys {
			c.sent = append(c.sent, v2Sent{k, at})
		}
		c.mu.Unlock()
		f.trades.Add(int64(len(keys)))
		f.frames.Add(int64(frames))
	}
}

// queued is how many frames wait in the connections' queues.
func (f *v2Firehose) queued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.conns {
		n += len(c.out)
	}
	return n
}

// subscribed counts the instruments with a live trade subscription.
func (f *v2Firehose) subscribed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, in := range f.insts {
		if in.trade && in.candles && in.book {
			n++
		}
	}
	return n
}

// sentTimes gathers every trade's write time.
func (f *v2Firehose) sentTimes() map[v2Key]int64 {
	f.mu.Lock()
	conns := slices.Clone(f.conns)
	f.mu.Unlock()
	out := map[v2Key]int64{}
	for _, c := range conns {
		c.mu.Lock()
		for _, s := range c.sent {
			out[s.key] = s.at
		}
		c.mu.Unlock()
	}
	return out
}

type v2Active struct {
	in                   *v2Inst
	conn                 *v2Conn
	book, candles, trade bool
	depth                int
}

// pace sends trades until ctx is done: every millisecond the trades due
// at the rate, round-robin over the subscribed instruments, interleaved
// over the connections.
func (f *v2Firehose) pace(ctx context.Context) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var made int64
	version := -1
	var active []v2Active
	i := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			f.mu.Lock()
			if f.version != version {
				version, active = f.version, f.activeLocked()
			}
			f.mu.Unlock()
			due := int64(now.Sub(start).Seconds()*float64(f.rate)) - made
			for ; due > 0 && len(active) > 0; due-- {
				a := active[i%len(active)]
				i++
				made++
				f.trade(a, time.Now())
			}
		}
	}
}

// activeLocked lists the instruments with trades subscribed, taking the
// connections in turn.
func (f *v2Firehose) activeLocked() []v2Active {
	var order []*v2Conn
	by := map[*v2Conn][]v2Active{}
	for _, in := range f.insts {
		if in.conn == nil || !in.trade {
			continue
		}
		if by[in.conn] == nil {
			order = append(order, in.conn)
		}
		by[in.conn] = append(by[in.conn], v2Active{in: in, conn: in.conn, book: in.book, candles: in.candles, trade: true,
			depth: in.bookDepth})
	}
	total := 0
	for _, l := range by {
		total += len(l)
	}
	var out []v2Active
	for k := 0; len(out) < total; k++ {
		for _, c := range order {
			if k < len(by[c]) {
				out = append(out, by[c][k])
			}
		}
	}
	return out
}

// trade sends one trade of a.in at now, and with extras the book and
// candle update that follow it.
func (f *v2Firehose) trade(a v2Active, now time.Time) {
	in := a.in
	in.seq++
	step := (in.seq*7919)%7 - 3 // -3..3 cents
	in.pc = max(in.pc+step, 5000)
	if !now.After(in.lastTrade) {
		now = in.lastTrade.Add(time.Microsecond) // trade times never go back
	}
	in.lastTrade = now
	minute := now.Unix() - now.Unix()%60
	if minute != in.minute {
		in.minute, in.o, in.h, in.l, in.v = minute, in.pc, in.pc, in.pc, 0
	}
	in.h, in.l, in.c, in.v = max(in.h, in.pc), min(in.l, in.pc), in.pc, in.v+in.seq
	f.send(a.conn, v2TradeFrame(f.buf(), in, now), int32(in.idx), in.seq)
	if !f.extras {
		return
	}
	if in.sinceBook++; a.book && in.sinceBook >= 4 {
		in.sinceBook = 0
		f.send(a.conn, v2BookFrame(f.buf(), in, a.depth, now), -1, 0)
	}
	if in.sinceCandle++; a.candles && in.sinceCandle >= 20 {
		in.sinceCandle = 0
		f.send(a.conn, v2CandleFrame(f.buf(), in, now), -1, 0)
	}
}

// The frame builders append a payload to b.

func v2TradeFrame(b []byte, in *v2Inst, now time.Time) []byte {
	b = append(b, `{"trade":{"figi":"`...)
	b = append(b, in.figi...)
	b = append(b, `","direction":"TRADE_DIRECTION_BUY","price":`...)
	b = v2AppendQuotation(b, in.pc)
	b = append(b, `,"quantity":"`...)
	b = strconv.AppendInt(b, in.seq, 10)
	b = append(b, `","time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","instrumentUid":"`...)
	b = append(b, in.uid...)
	return append(b, `","tradeSource":"TRADE_SOURCE_EXCHANGE"}}`...)
}

func v2BookFrame(b []byte, in *v2Inst, depth int, now time.Time) []byte {
	depth = max(depth, 1)
	b = append(b, `{"orderbook":{"figi":"`...)
	b = append(b, in.figi...)
	b = append(b, `","depth":`...)
	b = strconv.AppendInt(b, int64(depth), 10)
	b = append(b, `,"isConsistent":true,"bids":[`...)
	for l := range depth {
		b = v2AppendLevel(b, l > 0, in.pc-1-int64(l), 1+(in.seq+int64(l))%50)
	}
	b = append(b, `],"asks":[`...)
	for l := range depth {
		b = v2AppendLevel(b, l > 0, in.pc+1+int64(l), 1+(in.seq*3+int64(l))%70)
	}
	b = append(b, `],"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","instrumentUid":"`...)
	b = append(b, in.uid...)
	return append(b, `","orderBookType":"ORDERBOOK_TYPE_EXCHANGE"}}`...)
}

func v2AppendLevel(b []byte, comma bool, pc, qty int64) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, `{"price":`...)
	b = v2AppendQuotation(b, pc)
	b = append(b, `,"quantity":"`...)
	b = strconv.AppendInt(b, qty, 10)
	return append(b, `"}`...)
}

func v2CandleFrame(b []byte, in *v2Inst, now time.Time) []byte {
	b = append(b, `{"candle":{"figi":"`...)
	b = append(b, in.figi...)
	b = append(b, `","interval":"SUBSCRIPTION_INTERVAL_ONE_MINUTE","open":`...)
	b = v2AppendQuotation(b, in.o)
	b = append(b, `,"high":`...)
	b = v2AppendQuotation(b, in.h)
	b = append(b, `,"low":`...)
	b = v2AppendQuotation(b, in.l)
	b = append(b, `,"close":`...)
	b = v2AppendQuotation(b, in.c)
	b = append(b, `,"volume":"`...)
	b = strconv.AppendInt(b, in.v, 10)
	b = append(b, `","time":"`...)
	b = time.Unix(in.minute, 0).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","lastTradeTs":"`...)
	b = in.lastTrade.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","instrumentUid":"`...)
	b = append(b, in.uid...)
	return append(b, `","candleSourceType":"CANDLE_SOURCE_EXCHANGE"}}`...)
}

// v2AppendQuotation writes a price in cents as {"units":"U","nano":N}.
func v2AppendQuotation(b []byte, cents int64) []byte {
	b = append(b, `{"units":"`...)
	b = strconv.AppendInt(b, cents/100, 10)
	b = append(b, `","nano":`...)
	b = strconv.AppendInt(b, cents%100*10_000_000, 10)
	return append(b, '}')
}

// v2Seal writes the header of an unmasked (server to client) WebSocket
// text frame in the room in front of the payload b[v2Head:], and returns
// the frame.
func v2Seal(b []byte) []byte {
	var h []byte
	switch n := len(b) - v2Head; {
	case n < 126:
		h = []byte{0x80 | websocket.TextMessage, byte(n)}
	case n < 1<<16:
		h = []byte{0x80 | websocket.TextMessage, 126, byte(n >> 8), byte(n)}
	default:
		h = binary.BigEndian.AppendUint64([]byte{0x80 | websocket.TextMessage, 127}, uint64(n))
	}
	start := v2Head - len(h)
	copy(b[start:], h)
	return b[start:]
}

// v2MarketData is the bridge's upstream: the real v2 stream pool, with a
// fixed catalogue and no REST.
//
// Why not tinvest.Upstream over the v2 simulator's REST: REST is not on
// the trade → /streaming path, and with it ingest's backfill of 1,000
// instruments (GetCandles within the market-data rate limit) would run
// through the whole measuring window, measuring the backfill instead; the
// v1 benchmark's upstream does the same, so the two compare like for like.
// What tinvest.Upstream adds to the pool on the stream side is the FIGI →
// uid mapping, which the pool gets here too (InstrumentID), so
// subscriptions and frames name instruments by uid as with the service.
type v2MarketData struct {
	*stream.Pool
	insts []tvbridge.Instrument
}

func (u v2MarketData) Instruments(context.Context) ([]tvbridge.Instrument, error) {
	return u.insts, nil
}

func (u v2MarketData) Candles(context.Context, string, time.Time, time.Time, tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	return nil, nil
}

func (u v2MarketData) OrderBook(context.Context, string, int) (tvbridge.OrderBook, error) {
	return tvbridge.OrderBook{}, nil
}

// BenchmarkV2TradeToStreaming measures, for 4 TradingView connections and
// for 104, the time from a trade frame of the T-Invest API v2 stream to
// the /streaming line it became being read by each client, at 20,000
// trades a second over 1,000 instruments (plus, per instrument, a 10-level
// book every 4th trade and a candle update every 20th: 26,000 frames a
// second). The path is the real one over loopback: stream pool (about 10
// WebSocket streams of 300 subscriptions), ingest with real trades, bar
// engine, tape, /streaming.
//
// p50/p99/p99.9 are from the pool reading the frame (the event's
// Received, as in the v1 benchmark); sent_* from the fake server's write
// of the frame, end to end. After the run every trade written must have
// reached every client: lost_before_tape counts trades written that never
// reached the tape, max_trades_lost_per_client the worst client's
// shortfall against the trades written.
//
//	go test -run '^$' -bench V2TradeToStreaming -benchtime 1x -count 5 ./integration/
func BenchmarkV2TradeToStreaming(b *testing.B) {
	if testing.Short() {
		b.Skip("a 15-second load test per case")
	}
	for _, c := range []struct {
		clients  int
		separate bool // clients in a separate process, as TradingView's are
	}{{4, true}, {104, true}, {4, false}, {104, false}} {
		where := "in-process"
		if c.separate {
			where = "own-process"
		}
		b.Run(fmt.Sprintf("connections=%d/clients=%s", c.clients, where), func(b *testing.B) {
			v2BenchStreaming(b, c.clients, c.separate)
		})
	}
}

func v2QuietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func v2BenchStreaming(b *testing.B, clients int, separate bool) {
	var (
		instruments = v2EnvInt("TVBRIDGE_BENCH_V2_INSTRUMENTS", 1000)
		rate        = v2EnvInt("TVBRIDGE_BENCH_V2_RATE", 20000)
		extras      = v2EnvInt("TVBRIDGE_BENCH_V2_EXTRAS", 1) != 0
		measure     = time.Duration(v2EnvInt("TVBRIDGE_BENCH_V2_SECONDS", 10)) * time.Second
		warmup      = 2 * time.Second
	)
	// The bridge's process runs with tvbridge serve's --gc-percent default.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	for n := 0; n < b.N; n++ {
		fh := newV2Firehose(rate, instruments, extras)
		hs := httptest.NewServer(fh)
		insts := make([]tvbridge.Instrument, instruments)
		specs := make([]bars.InstrumentSpec, instruments)
		uids := make(map[string]string, instruments)
		figiIdx := make(map[string]int32, instruments)
		for i, in := range fh.insts {
			insts[i] = tvbridge.Instrument{FIGI: in.figi, UID: in.uid, Ticker: fmt.Sprintf("V2%04d", i), Name: "v2 firehose",
				Type: tvbridge.Stock, Currency: "RUB", Lot: 1, MinPriceIncrement: 0.01, Exchange: "SIMX", Timezone: "Etc/UTC", Session: "24x7"}
			specs[i] = bars.InstrumentSpec{Instrument: insts[i], Symbol: insts[i].Ticker, Schedule: tvbridge.MustSchedule("24x7", "Etc/UTC")}
			uids[in.figi], figiIdx[in.figi] = in.uid, int32(i)
		}
		// As serve configures it: the service's limits (16 streams, 300
		// subscriptions each), instruments named by uid.
		pool := stream.New(stream.Config{URL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws/", Token: "t",
			InstrumentID: func(figi string) string { return uids[figi] }, Logger: v2QuietLog()})
		store, err := bolt.Open(filepath.Join(b.TempDir(), "bars.db"), bolt.Options{Logger: v2QuietLog()})
		if err != nil {
			b.Fatal(err)
		}
		tp := tape.New(tape.Config{})
		timed := &v2TimedTape{Tape: tp}
		svc, err := ingest.New(ingest.Config{Upstream: v2MarketData{Pool: pool, insts: insts}, Store: store, Tape: timed,
			Instruments: specs, Logger: v2QuietLog(), BackfillDepth: time.Hour, Trades: true, NoArchive: true})
		if err != nil {
			b.Fatal(err)
		}
		catalog, err := api.BuildCatalog(insts, api.CatalogOptions{Logger: v2QuietLog()})
		if err != nil {
			b.Fatal(err)
		}
		apiSrv := httptest.NewServer(api.NewHandler(api.Config{Catalog: catalog, History: svc, Tape: tp, Logger: v2QuietLog()}))

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); pool.Run(ctx) }()
		go func() { defer wg.Done(); svc.Run(ctx) }()
		for deadline := time.Now().Add(30 * time.Second); fh.subscribed() < instruments; {
			if time.Now().After(deadline) {
				b.Fatalf("subscribed %d of %d instruments in 30 s", fh.subscribed(), instruments)
			}
			time.Sleep(20 * time.Millisecond) // waiting for the pool's subscriptions; the deadline is a guard
		}

		// The monitor reads the tape to learn each trade line's receipt
		// time and trade. A line seen twice is ambiguous and not timed.
		// Values without pointers: the map is not scanned by the GC.
		received := make(map[uint64]v2Stamp, rate*(int(measure/time.Second)+6)) // the monitor's until it is done
		var tapeTrades atomic.Int64
		var tapeLag []time.Duration
		var measuring atomic.Bool
		mon := tp.Subscribe()
		monDone := make(chan struct{})
		go func() {
			defer close(monDone)
			buf := make([]tvbridge.TapeEntry, 0, 512)
			for {
				es, err := mon.Next(ctx, buf[:0])
				if err != nil {
					return
				}
				now := time.Now()
				for _, e := range es {
					if e.Tick.Kind != tvbridge.TickTrade {
						continue
					}
					tapeTrades.Add(1)
					h := hashLine(e.Line)
					if st, ok := received[h]; ok {
						st.dup = true
						received[h] = st
					} else {
						received[h] = v2Stamp{recv: e.Tick.Received.UnixNano(), key: v2Key{figiIdx[e.Tick.FIGI], int64(e.Tick.Size)}}
					}
					if measuring.Load() {
						tapeLag = append(tapeLag, now.Sub(e.Tick.Received))
					}
				}
			}
		}()

		gen := v2StartLoad(b, apiSrv.URL, clients, separate)
		paceCtx, stopPace := context.WithCancel(ctx)
		paceDone := make(chan struct{})
		go func() { defer close(paceDone); fh.pace(paceCtx) }()
		time.Sleep(warmup) // load-generator pacing, not synchronisation
		tradesBefore, framesBefore := fh.trades.Load(), fh.frames.Load()
		measuring.Store(true)
		timed.measuring.Store(true)
		gen.setMeasuring(true)
		b.ResetTimer()
		schedBefore, cpuBefore := schedLatencies(), v2CPUTime()
		stopProfile := v2ProfileCPU(b)
		time.Sleep(measure)
		stopProfile()
		cpu := v2CPUTime() - cpuBefore
		schedP99 := schedLatencies().minus(schedBefore).quantile(0.99)
		measuring.Store(false)
		timed.measuring.Store(false)
		gen.setMeasuring(false)
		b.StopTimer()
		load := v2LoadAvg()
		trades, frames := fh.trades.Load()-tradesBefore, fh.frames.Load()-framesBefore
		stopPace()
		<-paceDone
		// Drain: every trade written reaches the tape, or stops trying.
		written := int64(-1)
		for deadline, last, since := time.Now().Add(10*time.Second), int64(-1), time.Now(); time.Now().Before(deadline); {
			w, t := fh.trades.Load(), tapeTrades.Load()
			if fh.queued() == 0 && w == t {
				written = w
				break
			}
			if t != last {
				last, since = t, time.Now()
			} else if fh.queued() == 0 && time.Since(since) > time.Second {
				written = w
				break
			}
			time.Sleep(10 * time.Millisecond) // polling the counters; the deadline is a guard
		}
		if written < 0 {
			written = fh.trades.Load()
		}
		want := tapeTrades.Load()
		res, clientSched := gen.finish(want)
		cancel()
		apiSrv.CloseClientConnections()
		wg.Wait()
		<-monDone
		fh.close()
		hs.CloseClientConnections()
		hs.Close()
		apiSrv.Close()
		store.Close()

		sentAt := fh.sentTimes()
		var lat, latSent []time.Duration
		minRead, ambiguous, unsent := want, 0, 0
		for _, r := range res {
			for _, s := range r.Samples {
				st, ok := received[s.Hash]
				if !ok || st.dup {
					ambiguous++
					continue
				}
				lat = append(lat, time.Duration(s.At-st.recv))
				if at, ok := sentAt[st.key]; ok {
					latSent = append(latSent, time.Duration(s.At-at))
				} else {
					unsent++
				}
			}
			minRead = min(minRead, r.Trades)
		}
		if len(lat) == 0 || len(latSent) == 0 || len(tapeLag) == 0 {
			b.Fatal("no latency samples")
		}
		for _, l := range [][]time.Duration{lat, latSent, tapeLag, timed.lags} {
			slices.Sort(l)
		}
		pct := func(l []time.Duration, p float64) float64 {
			if len(l) == 0 {
				return 0
			}
			return float64(l[int(float64(len(l)-1)*p)].Microseconds())
		}
		b.ReportMetric(float64(trades)/measure.Seconds(), "trades/s")
		b.ReportMetric(float64(frames)/measure.Seconds(), "upstream_frames/s")
		b.ReportMetric(pct(lat, 0.5), "p50_µs")
		b.ReportMetric(pct(lat, 0.99), "p99_µs")
		b.ReportMetric(pct(lat, 0.999), "p99.9_µs")
		b.ReportMetric(pct(latSent, 0.5), "sent_p50_µs")
		b.ReportMetric(pct(latSent, 0.99), "sent_p99_µs")
		b.ReportMetric(pct(latSent, 0.999), "sent_p99.9_µs")
		b.ReportMetric(pct(timed.lags, 0.99), "append_p99_µs")
		b.ReportMetric(pct(tapeLag, 0.99), "tape_p99_µs")
		b.ReportMetric(float64(written-want), "lost_before_tape")
		b.ReportMetric(float64(written-minRead), "max_trades_lost_per_client")
		b.ReportMetric(float64(schedP99.Microseconds()), "sched_p99_µs")
		if separate {
			b.ReportMetric(float64(clientSched.Microseconds()), "client_sched_p99_µs")
		}
		b.ReportMetric(load, "loadavg_1m")
		b.ReportMetric(cpu.Seconds()/measure.Seconds(), "cpu_cores")
		stats, ps := svc.Engine().Stats(), pool.Stats()
		b.Logf("trades written %d, on tape %d, worst client %d; samples %d (ambiguous %d, no send time %d); pool: frames %d, dropped trades %d, queued %d, reconnects %d; engine: real trades %d, late %d, superseded %d, synthetic minutes %d, quotes %d, inconsistent %d; load average %.2f",
			written, want, minRead, len(lat), ambiguous, unsent, ps.FramesRead, ps.DroppedTrades, ps.Queued, ps.Reconnects,
			stats.RealTrades, stats.LateTrades, stats.Superseded, stats.SyntheticMinutes, stats.Quotes, stats.Inconsistent, load)
	}
}

type v2Stamp struct {
	recv int64 // Unix ns the pool read the frame
	key  v2Key
	dup  bool
}

// v2LoadAvg is the 1-minute load average (0 where /proc has none).
func v2LoadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	return f
}

// v2CPUTime is the CPU time (user and system) this process has used:
// the bridge's, the fake upstream's and in-process clients'.
func v2CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// v2Sample is one timed line: its hash and when a client read it.
type v2Sample struct {
	Hash uint64
	At   int64 // wall-clock Unix ns: comparable across processes
}

// v2ClientResult is what one /streaming client saw.
type v2ClientResult struct {
	Samples []v2Sample
	Trades  int64
}

type v2LoadResult struct {
	Clients  []v2ClientResult
	SchedP99 time.Duration
}

var v2TradePrefix = []byte(`{"f":"t"`)

// v2ReadStream counts every trade line and, while measuring, times one in
// every period (at an offset per client, so the clients time different
// lines and 104 of them do not send the parent millions of samples).
func v2ReadStream(body io.Reader, measuring *atomic.Bool, trades *atomic.Int64, r *v2ClientResult, period, offset int64) {
	br := bufio.NewReaderSize(body, 1<<16)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if !bytes.HasPrefix(line, v2TradePrefix) {
			continue
		}
		if n := trades.Add(1); (n+offset)%period == 0 && measuring.Load() {
			r.Samples = append(r.Samples, v2Sample{hashLine(line), time.Now().UnixNano()})
		}
	}
}

// v2Load is the /streaming clients: goroutines of this process, or a child
// process running TestV2LoadGenerator (the same test binary).
type v2Load struct {
	b         *testing.B
	measuring atomic.Bool
	trades    []atomic.Int64
	results   []v2ClientResult
	wg        sync.WaitGroup
	bodies    []io.Closer
	schedP99  time.Duration

	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func v2StartLoad(b *testing.B, url string, clients int, separate bool) *v2Load {
	l := &v2Load{b: b, trades: make([]atomic.Int64, clients), results: make([]v2ClientResult, clients)}
	if !separate {
		if err := l.connect(url); err != nil {
			b.Fatal(err)
		}
		return l
	}
	l.cmd = exec.Command(os.Args[0], "-test.run=^TestV2LoadGenerator$", "-test.count=1")
	l.cmd.Env = append(os.Environ(), "TVBRIDGE_V2LOADGEN_URL="+url, fmt.Sprintf("TVBRIDGE_V2LOADGEN_CLIENTS=%d", clients))
	l.cmd.Stderr = os.Stderr
	var err error
	if l.stdin, err = l.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	l.out = bufio.NewReader(stdout)
	if line, err := l.out.ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("load generator: %q, %v", line, err)
	}
	return l
}

func (l *v2Load) connect(url string) error {
	period := int64(4)
	if len(l.results) > 8 {
		period = 16
	}
	for i := range l.results {
		resp, err := http.Get(url + "/streaming")
		if err != nil {
			return err
		}
		l.bodies = append(l.bodies, resp.Body)
		l.wg.Add(1)
		go func(i int) {
			defer l.wg.Done()
			v2ReadStream(resp.Body, &l.measuring, &l.trades[i], &l.results[i], period, int64(i))
		}(i)
	}
	return nil
}

func (l *v2Load) setMeasuring(on bool) {
	if l.cmd != nil {
		fmt.Fprintln(l.stdin, map[bool]string{true: "start", false: "stop"}[on])
		return
	}
	l.measuring.Store(on)
}

// finish waits (up to 30 s) until every client has read want trades, then
// stops the clients and returns what they saw.
func (l *v2Load) finish(want int64) ([]v2ClientResult, time.Duration) {
	if l.cmd != nil {
		fmt.Fprintf(l.stdin, "finish %d\n", want)
		var res v2LoadResult
		if err := gob.NewDecoder(l.out).Decode(&res); err != nil {
			l.b.Fatalf("load generator results: %v", err)
		}
		l.stdin.Close()
		if err := l.cmd.Wait(); err != nil {
			l.b.Fatalf("load generator: %v", err)
		}
		return res.Clients, res.SchedP99
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		all := true
		for i := range l.trades {
			all = all && l.trades[i].Load() >= want
		}
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling the clients' counters; the deadline is a guard
	}
	for _, body := range l.bodies {
		body.Close()
	}
	l.wg.Wait()
	for i := range l.results {
		l.results[i].Trades = l.trades[i].Load()
	}
	return l.results, l.schedP99
}

// TestV2LoadGenerator is the client process of BenchmarkV2TradeToStreaming
// and does nothing unless that benchmark started it. It opens the
// connections, says "ready", measures between "start" and "stop" on stdin,
// and after "finish N" waits for N trades on every connection and writes
// its results (gob) to stdout.
func TestV2LoadGenerator(t *testing.T) {
	url := os.Getenv("TVBRIDGE_V2LOADGEN_URL")
	if url == "" {
		t.Skip("run by BenchmarkV2TradeToStreaming only")
	}
	clients, _ := strconv.Atoi(os.Getenv("TVBRIDGE_V2LOADGEN_CLIENTS"))
	l := &v2Load{trades: make([]atomic.Int64, clients), results: make([]v2ClientResult, clients)}
	if err := l.connect(url); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	var sched schedHist
	for in.Scan() {
		switch cmd := in.Text(); {
		case cmd == "start":
			l.measuring.Store(true)
			sched = schedLatencies()
		case cmd == "stop":
			l.measuring.Store(false)
			l.schedP99 = schedLatencies().minus(sched).quantile(0.99)
		case strings.HasPrefix(cmd, "finish "):
			want, _ := strconv.ParseInt(strings.TrimPrefix(cmd, "finish "), 10, 64)
			clients, sched := l.finish(want)
			if err := gob.NewEncoder(out).Encode(v2LoadResult{clients, sched}); err != nil {
				t.Fatal(err)
			}
			if err := out.Flush(); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// v2TimedTape records, while measuring, how long after its frame was read
// each tick reached the tape (Append has one caller, the event loop).
type v2TimedTape struct {
	*tape.Tape
	measuring atomic.Bool
	lags      []time.Duration // read once the event loop has stopped
}

func (t *v2TimedTape) Append(ticks ...tvbridge.Tick) {
	if t.measuring.Load() {
		now := time.Now()
		for _, tk := range ticks {
			if tk.Kind == tvbridge.TickTrade {
				t.lags = append(t.lags, now.Sub(tk.Received))
			}
		}
	}
	t.Tape.Append(ticks...)
}

// v2ProfileCPU profiles the measuring window into TVBRIDGE_BENCH_CPUPROFILE.
func v2ProfileCPU(b *testing.B) (stop func()) {
	path := os.Getenv("TVBRIDGE_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

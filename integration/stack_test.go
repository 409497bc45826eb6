package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/bars"
	"tvbridge/bolt"
	"tvbridge/clock"
	"tvbridge/ingest"
	"tvbridge/live"
	"tvbridge/sim"
	"tvbridge/sim/market"
	v2sim "tvbridge/sim/v2"
	"tvbridge/tape"
	"tvbridge/tinkoff"
	"tvbridge/tinkoff/stream"
	"tvbridge/tinkoff/wire"
	"tvbridge/tinvest"
	v2stream "tvbridge/tinvest/stream"
)

// smallUniverse is the first instruments of the simulator's universe,
// enough for tests that look at a few symbols (SBER, USD000UTSTOM, AAPL,
// BTC_RUB and GAZP are among them, with MOEX, New York and 24x7 sessions):
// the race detector makes every simulated instrument costly.
const smallUniverse = 12

// exchange is the simulated exchange; it outlives bridge restarts. It
// speaks Tinkoff v1 (srv) or, made by newExchangeV2, T-Invest API v2 (v2).
type exchange struct {
	clk  *clock.Fake
	m    *market.Market
	srv  *sim.Server
	v2   *v2sim.Server
	http *httptest.Server

	v2Users map[string][]string // v2: sandbox accounts of the test users
}

func newExchange(t testing.TB, start time.Time, instruments int) *exchange {
	clk := clock.NewFake(start)
	m := market.New(market.Config{Seed: 11, Instruments: instruments})
	srv := sim.New(sim.Config{Market: m, Clock: clk, Logger: quietLog()})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return &exchange{clk: clk, m: m, srv: srv, http: hs}
}

// newExchangeV2 is the same market behind the T-Invest API v2 simulator.
func newExchangeV2(t testing.TB, start time.Time, instruments int) *exchange {
	clk := clock.NewFake(start)
	m := market.New(market.Config{Seed: 11, Instruments: instruments})
	srv := v2sim.New(v2sim.Config{Market: m, Clock: clk, Logger: quietLog()})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return &exchange{clk: clk, m: m, v2: srv, http: hs}
}

// emitted is how far the simulator's emission loop has got, and how many
// frames it has queued on its streams.
func (ex *exchange) emitted() (lastTick time.Time, queued uint64) {
	if ex.v2 != nil {
		st := ex.v2.Stats()
		return st.LastTick, st.FramesQueued
	}
	st := ex.srv.Stats()
	return st.LastTick, st.FramesQueued
}

// dropAll drops every market-data stream connection abruptly.
func (ex *exchange) dropAll() {
	if ex.v2 != nil {
		ex.v2.Faults().DropStreams(math.MaxInt)
		return
	}
	ex.srv.Faults().DropAll()
}

// upstream is the bridge's upstream client: Tinkoff v1 or T-Invest v2.
type upstream interface {
	tvbridge.MarketData
	Run(ctx context.Context) error
	// framesRead counts the stream frames the client has read.
	framesRead() uint64
}

type v1Client struct{ *tinkoff.Upstream }

func (u v1Client) framesRead() uint64 { return uint64(u.Pool().Stats().FramesRead) }

type v2Client struct{ *tinvest.Upstream }

func (u v2Client) framesRead() uint64 { return uint64(u.Pool().Stats().FramesRead) }

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// bridge is one run of tvbridge: what a process restart throws away.
type bridge struct {
	up      upstream
	v1      *tinkoff.Upstream // when the exchange speaks v1
	store   *bolt.Store
	svc     *ingest.Service
	tape    *tape.Tape
	api     *httptest.Server
	catalog *api.Catalog
	market  *live.Market // the live book, fed by ingest, for trading
	cancel  context.CancelFunc
	done    chan error
}

func startBridge(t testing.TB, ex *exchange, dir string, depth time.Duration) *bridge {
	return startBridgeOpts(t, ex, dir, depth, bridgeOptions{})
}

// startBridgeWith starts a bridge; legacy selects the pre-1.3.26 no_data
// answers for empty /history ranges.
func startBridgeWith(t testing.TB, ex *exchange, dir string, depth time.Duration, legacy bool) *bridge {
	return startBridgeOpts(t, ex, dir, depth, bridgeOptions{legacy: legacy})
}

// bridgeOptions are the settings tests vary.
type bridgeOptions struct {
	legacy  bool          // pre-1.3.26 no_data answers
	follows ingest.Follow // what /history follows where stream and exchange differ
	audit   time.Duration // ingest.Config.AuditInterval
	stream  stream.Config // overrides of the pool's settings (zero fields: the test defaults)
	// v2stream overrides the v2 pool's settings (zero fields: the test
	// defaults; stream.MaxPerConnection still sets its
	// MaxSubscriptionsPerStream).
	v2stream v2stream.Config
}

func startBridgeOpts(t testing.TB, ex *exchange, dir string, depth time.Duration, o bridgeOptions) *bridge {
	t.Helper()
	legacy := o.legacy
	log := quietLog()
	ctx, cancel := context.WithCancel(context.Background())
	b := &bridge{cancel: cancel, done: make(chan error, 2)}
	if ex.v2 != nil {
		b.up = v2Client{tinvest.NewUpstream(tinvest.UpstreamConfig{
			REST: tinvest.Config{BaseURL: ex.http.URL + "/rest/", Token: "t", Clock: ex.clk, Logger: log,
				Limits: map[string]int{tinvest.BucketMarketData: 1_000_000, tinvest.BucketHistory: 1_000_000}, TotalPerSecond: 1_000_000},
			Stream: v2StreamConfig(o.v2stream, v2stream.Config{BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second,
				MaxSubscriptionsPerStream: o.stream.MaxPerConnection, StallTimeout: o.stream.StallTimeout,
				InstrumentStall: o.stream.InstrumentStall}),
			Timezones: ex.v2.ScheduleTimezones(),
		})}
	} else {
		b.v1 = tinkoff.NewUpstream(tinkoff.UpstreamConfig{
			REST: tinkoff.ClientConfig{BaseURL: ex.http.URL + wire.RESTPrefix, Token: "t", Clock: ex.clk,
				MarketPerMinute: 1_000_000, Logger: log},
			Stream: streamConfig(o.stream, stream.Config{URL: "ws" + ex.http.URL[len("http"):] + wire.StreamPath, Token: "t", Clock: ex.clk,
				BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second, Logger: log}),
		})
		b.up = v1Client{b.v1}
	}
	up := b.up
	go func() { b.done <- up.Run(ctx) }()

	insts, err := up.Instruments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.catalog, err = api.BuildCatalog(insts, api.CatalogOptions{Logger: log}); err != nil {
		t.Fatal(err)
	}
	if b.store, err = bolt.Open(filepath.Join(dir, "bars.db"), bolt.Options{Logger: log}); err != nil {
		t.Fatal(err)
	}
	var specs []bars.InstrumentSpec
	for _, s := range b.catalog.Symbols() {
		sched, err := tvbridge.ParseSchedule(s.Instrument.Session, s.Instrument.Timezone)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, bars.InstrumentSpec{Instrument: s.Instrument, Symbol: s.Ticker, Schedule: sched})
	}
	b.tape = tape.New(tape.Config{})
	b.market = live.New()
	b.svc, err = ingest.New(ingest.Config{Upstream: up, Store: b.store, Tape: b.tape, Instruments: specs, Observe: b.market.Observe,
		Clock: ex.clk, Logger: log, BackfillDepth: depth, DailyBars: true,
		HistoryFollows: o.follows, AuditInterval: o.audit, Trades: ex.v2 != nil})
	if err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.svc.Run(ctx) }()
	b.api = httptest.NewServer(api.NewHandler(api.Config{Catalog: b.catalog, History: b.svc, Tape: b.tape,
		Clock: ex.clk, Logger: log, LegacyNoData: legacy}))
	return b
}

// stop shuts the bridge down as a clean process exit would.
func (b *bridge) stop(t testing.TB) {
	t.Helper()
	b.api.CloseClientConnections()
	b.api.Close()
	b.cancel()
	for i := 0; i < 2; i++ {
		if err := <-b.done; err != nil {
			t.Errorf("bridge component: %v", err)
		}
	}
	if err := b.store.Close(); err != nil {
		t.Error(err)
	}
}

// line is one /streaming message as TradingView reads it.
type line struct {
	F         string  `json:"f"`
	ID        string  `json:"id"`
	T         int64   `json:"t"`
	P         float64 `json:"p"`
	S         float64 `json:"s"`
	AP        float64 `json:"ap"`
	BP        float64 `json:"bp"`
	Heartbeat int64   `json:"heartbeat"`
}

// tvClient reads /streaming the way TradingView's acceptance tests do.
type tvClient struct {
	lines chan line
	errc  chan error
	resp  *http.Response
}

func connect(t *testing.T, base string) *tvClient {
	t.Helper()
	resp, err := http.Get(base + "/streaming")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("/streaming: status %d, transfer encoding %v", resp.StatusCode, resp.TransferEncoding)
	}
	c := &tvClient{lines: make(chan line, 1<<16), errc: make(chan error, 1), resp: resp}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				c.errc <- fmt.Errorf("bad line %q: %w", sc.Text(), err)
				return
			}
			c.lines <- l
		}
		close(c.lines)
	}()
	return c
}

// barBook builds 1-minute bars from streamed trades, TradingView's way.
type barBook struct {
	bars      map[string]map[int64]*tvbridge.Bar // symbol -> minute -> bar
	lastTrade map[string]int64
	lastTime  map[string]int64 // per symbol+kind, to check monotonic tick times
	quotes    map[string]int   // quote ticks per symbol
	firstSeen int64            // first tick time this connection delivered
	// skip, when set, is a range of minutes compare leaves out: an outage
	// during which the stream carried nothing and /history has REST's bars.
	skip tvbridge.Range
}

func newBarBook() *barBook {
	return &barBook{bars: map[string]map[int64]*tvbridge.Bar{}, lastTrade: map[string]int64{}, lastTime: map[string]int64{},
		quotes: map[string]int{}}
}

func (b *barBook) add(t *testing.T, l line, now time.Time) {
	if l.F == "" {
		return // heartbeat
	}
	key := l.ID + "/" + l.F
	if l.T < b.lastTime[key] {
		t.Errorf("%s tick time went backwards: %d after %d", key, l.T, b.lastTime[key])
	}
	b.lastTime[key] = l.T
	if l.F != "d" && l.T > now.Unix() {
		t.Errorf("%s tick time %d is in the future (now %d)", key, l.T, now.Unix())
	}
	if b.firstSeen == 0 {
		b.firstSeen = l.T
	}
	if l.F == "q" {
		b.quotes[l.ID]++
	}
	if l.F != "t" {
		return
	}
	if l.S <= 0 {
		t.Errorf("trade with size %v: %+v", l.S, l)
	}
	m := l.T - l.T%60
	if b.bars[l.ID] == nil {
		b.bars[l.ID] = map[int64]*tvbridge.Bar{}
	}
	bar := b.bars[l.ID][m]
	if bar == nil {
		b.bars[l.ID][m] = &tvbridge.Bar{Time: time.Unix(m, 0), Open: l.P, High: l.P, Low: l.P, Close: l.P, Volume: l.S}
	} else {
		bar.High, bar.Low, bar.Close, bar.Volume = max(bar.High, l.P), min(bar.Low, l.P), l.P, bar.Volume+l.S
	}
	b.lastTrade[l.ID] = l.T
}

type historyResp struct {
	S      string    `json:"s"`
	Errmsg string    `json:"errmsg"`
	T      []int64   `json:"t"`
	O      []float64 `json:"o"`
	H      []float64 `json:"h"`
	L      []float64 `json:"l"`
	C      []float64 `json:"c"`
	V      []float64 `json:"v"`
}

func getHistory(t *testing.T, base, symbol, res string, from, to int64) historyResp {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/history?symbol=%s&resolution=%s&from=%d&to=%d", base, symbol, res, from, to))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h historyResp
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if h.S != "ok" {
		t.Fatalf("history %s %d..%d: %s %s", symbol, from, to, h.S, h.Errmsg)
	}
	return h
}

// compare checks every fully observed minute of the connection against
// /history and returns the number of minutes compared and mismatched.
func (b *barBook) compare(t *testing.T, base string) (compared, mismatched int) {
	t.Helper()
	return b.compareWith(t, base, true)
}

// compareWith is compare; report selects whether mismatches are errors.
func (b *barBook) compareWith(t *testing.T, base string, report bool) (compared, mismatched int) {
	t.Helper()
	from := b.firstSeen - b.firstSeen%60 + 60 // the first whole minute observed
	for sym, last := range b.lastTrade {
		// A trade in minute L means every earlier minute of sym is closed
		// and all its trades came before it on the stream.
		to := last - last%60 - 60
		if to < from {
			continue
		}
		h := getHistory(t, base, sym, "1", from, to)
		got := map[int64]tvbridge.Bar{}
		for i, ts := range h.T {
			got[ts] = tvbridge.Bar{Time: time.Unix(ts, 0), Open: h.O[i], High: h.H[i], Low: h.L[i], Close: h.C[i], Volume: h.V[i]}
		}
		for m := from; m <= to; m += 60 {
			if !b.skip.From.IsZero() && m >= b.skip.From.Unix() && m < b.skip.To.Unix() {
				continue
			}
			sb, streamed := b.bars[sym][m]
			hb, served := got[m]
			if !streamed && !served {
				continue
			}
			compared++
			if !streamed || !served || *sb != hb {
				mismatched++
				if report && mismatched <= 10 {
					t.Errorf("%s minute %s: streamed %v (%v), history %v (%v)", sym, time.Unix(m, 0).UTC().Format("15:04"),
						streamed, sb, served, hb)
				}
			}
		}
	}
	return compared, mismatched
}

// run pumps the stream into the book, advancing the fake clock by step once
// the simulator has emitted everything due at the clock's time, the bridge
// has read every frame the simulator queued, and the stream is quiet, until
// the clock reaches until. (Checking only frames already written let a
// starved simulator fall behind: the clock then raced ahead with nothing to
// read, and every connection looked stalled.) Frames lost to an injected drop
// are recognised when frames wait unread and none is read for lossAfter of
// real time, and are not waited for again. That must be long: a reader merely
// starved of CPU (the race detector, other test packages) loses nothing, and
// advancing the clock past its frames would make them late corrections, and
// its connection look stalled.
func run(t *testing.T, ex *exchange, b *bridge, c *tvClient, book *barBook, step time.Duration, until time.Time) {
	t.Helper()
	const lossAfter = 2 * time.Second
	guard := time.NewTimer(5 * time.Minute)
	defer guard.Stop()
	quiet := time.NewTicker(time.Millisecond)
	defer quiet.Stop()
	var lost uint64 // frames sent that will never be read
	var lastRead uint64
	var waiting time.Time    // since when frames have been unread and none read; zero: not waiting
	var advancedTo time.Time // the clock's time after the last step; the simulator must reach it
	for ex.clk.Now().Before(until) {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatal("/streaming ended")
			}
			book.add(t, l, ex.clk.Now())
		case err := <-c.errc:
			t.Fatal(err)
		case <-quiet.C:
			lastTick, sent := ex.emitted()
			if lastTick.Before(advancedTo) {
				continue // the simulator has not emitted what is due yet
			}
			read := b.up.framesRead()
			if sent > read+lost {
				if read != lastRead || waiting.IsZero() {
					lastRead, waiting = read, time.Now()
				}
				if time.Since(waiting) < lossAfter {
					continue
				}
				lost = sent - read
			}
			waiting = time.Time{}
			ex.clk.Advance(step)
			advancedTo = ex.clk.Now()
		case <-guard.C:
			t.Fatalf("timed out at %s", ex.clk.Now())
		}
	}
}

// v2StreamConfig is base with the non-zero settings of o.
func v2StreamConfig(o, base v2stream.Config) v2stream.Config {
	if o.MaxStreams != 0 {
		base.MaxStreams = o.MaxStreams
	}
	if o.SpareStreams != 0 {
		base.SpareStreams = o.SpareStreams
	}
	if o.MaxSubscriptionsPerStream != 0 {
		base.MaxSubscriptionsPerStream = o.MaxSubscriptionsPerStream
	}
	if o.StallTimeout != 0 {
		base.StallTimeout = o.StallTimeout
	}
	if o.InstrumentStall != 0 {
		base.InstrumentStall = o.InstrumentStall
	}
	if o.DataSilence != 0 {
		base.DataSilence = o.DataSilence
	}
	if o.CapRetry != 0 {
		base.CapRetry = o.CapRetry
	}
	return base
}

// streamConfig is base with the non-zero settings of o.
func streamConfig(o, base stream.Config) stream.Config {
	if o.MaxConnections != 0 {
		base.MaxConnections = o.MaxConnections
	}
	if o.MaxPerConnection != 0 {
		base.MaxPerConnection = o.MaxPerConnection
	}
	if o.StallTimeout != 0 {
		base.StallTimeout = o.StallTimeout
	}
	if o.InstrumentStall != 0 {
		base.InstrumentStall = o.InstrumentStall
	}
	return base
}

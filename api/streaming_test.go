package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge"
)

// rawStream is a /streaming response read straight off a TCP connection,
// so the test sees the chunked framing itself.
type rawStream struct {
	conn    net.Conn
	r       *bufio.Reader
	header  textproto.MIMEHeader
	pending []byte // decoded body bytes not yet returned as lines
}

// newServer starts a loopback server that closes after the test's streams.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func dialStream(t *testing.T, srv *httptest.Server) *rawStream {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /streaming HTTP/1.1\r\nHost: tradingview\r\n\r\n")
	tp := textproto.NewReader(bufio.NewReader(conn))
	status, err := tp.ReadLine()
	if err != nil || status != "HTTP/1.1 200 OK" {
		t.Fatalf("status line %q, %v", status, err)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	return &rawStream{conn: conn, r: tp.R, header: hdr}
}

// line returns the next body line, decoding chunks as they come.
func (s *rawStream) line(t *testing.T) []byte {
	t.Helper()
	for {
		if i := bytes.IndexByte(s.pending, '\n'); i >= 0 {
			line := slices.Clone(s.pending[:i+1])
			s.pending = s.pending[i+1:]
			return line
		}
		size, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("read chunk size: %v", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil || n == 0 {
			t.Fatalf("chunk size %q: %v (a zero chunk ends the stream)", size, err)
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(s.r, chunk); err != nil || string(chunk[n:]) != "\r\n" {
			t.Fatalf("chunk of %d bytes: %v", n, err)
		}
		s.pending = append(s.pending, chunk[:n]...)
	}
}

func sampleTicks(t0 time.Time) []tvbridge.Tick {
	return []tvbridge.Tick{
		{Kind: tvbridge.TickTrade, FIGI: sberFIGI, Symbol: "SBER", Time: t0, Price: 250.35, Size: 10},
		{Kind: tvbridge.TickQuote, FIGI: sberFIGI, Symbol: "SBER", Time: t0, Bid: 250.3, BidSize: 7, Ask: 250.4, AskSize: 3},
		{Kind: tvbridge.TickDaily, FIGI: sberFIGI, Symbol: "SBER", Time: t0,
			Bar: tvbridge.Bar{Time: t0.Truncate(24 * time.Hour), Open: 249, High: 251, Low: 248.5, Close: 250.35, Volume: 1234}},
		{Kind: tvbridge.TickTrade, FIGI: "BBG000MM2P62", Symbol: "brk/b", Time: t0, Price: 410.5, Size: 1},
	}
}

// streamSchemas maps the keys of each message type to its schema.
var streamSchemas = map[string]struct {
	schema string
	keys   []string
}{
	"t": {"StreamingTradeResponse", []string{"f", "id", "p", "s", "t"}},
	"q": {"StreamingQuoteResponse", []string{"ap", "as", "bp", "bs", "f", "id", "t"}},
	"d": {"StreamingDailyBarResponse", []string{"c", "f", "h", "id", "l", "o", "t", "v"}},
	"":  {"StreamingHeartbeatResponse", []string{"heartbeat"}},
}

// checkStreamLine validates one line against its exact shape and schema and
// returns it decoded.
func checkStreamLine(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil || !bytes.HasSuffix(line, []byte("\n")) {
		t.Fatalf("line %q: %v", line, err)
	}
	f, _ := m["f"].(string)
	want, ok := streamSchemas[f]
	if !ok {
		t.Fatalf("line %q has unknown type %q", line, f)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !slices.Equal(keys, want.keys) {
		t.Fatalf("line %q has keys %v, want %v", line, keys, want.keys)
	}
	checkSchema(t, want.schema, line)
	return m
}

func TestStreamingChunkedLinesAndHeartbeat(t *testing.T) {
	env := newTestEnv(t, nil)
	srv := newServer(t, env.h)
	s := dialStream(t, srv)
	for k, v := range map[string]string{"Transfer-Encoding": "chunked", "Content-Type": "application/json",
		"X-Accel-Buffering": "no", "Cache-Control": "no-cache", "Content-Length": "", "Connection": "close"} {
		if got := s.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}

	env.clk.BlockUntil(1) // subscribed, heartbeat armed
	for i := 1; i <= 3; i++ {
		env.clk.Advance(5 * time.Second)
		hb := checkStreamLine(t, s.line(t))
		if want := fixtureNow.Add(time.Duration(i) * 5 * time.Second).Unix(); hb["heartbeat"] != float64(want) {
			t.Fatalf("heartbeat %v, want %d", hb["heartbeat"], want)
		}
		env.clk.BlockUntil(1) // re-armed
	}

	ticks := sampleTicks(fixtureNow)
	env.tape.Append(ticks...)
	want := []string{
		`{"f":"t","id":"SBER","p":250.35,"s":10,"t":1709899230}`,
		`{"f":"q","id":"SBER","t":1709899230,"ap":250.4,"as":3,"bp":250.3,"bs":7}`,
		`{"f":"d","id":"SBER","o":249,"h":251,"l":248.5,"c":250.35,"v":1234,"t":1709856000}`,
		`{"f":"t","id":"brk/b","p":410.5,"s":1,"t":1709899230}`,
	}
	for i := range ticks {
		line := s.line(t)
		checkStreamLine(t, line)
		if string(line) != want[i]+"\n" {
			t.Errorf("line %d = %s, want %s", i, line, want[i])
		}
	}
}

func TestStreamingFourConnectionsGetIdenticalData(t *testing.T) {
	env := newTestEnv(t, nil)
	srv := newServer(t, env.h)
	const conns, rounds = 4, 200
	bodies := make([]*bufio.Reader, conns)
	for i := range bodies {
		resp, err := http.Get(srv.URL + "/streaming")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
			t.Fatalf("transfer encoding %v", resp.TransferEncoding)
		}
		bodies[i] = bufio.NewReader(resp.Body)
	}
	env.clk.BlockUntil(conns)

	go func() {
		for r := range rounds {
			env.tape.Append(sampleTicks(fixtureNow.Add(time.Duration(r) * time.Second))...)
		}
	}()
	total := rounds * len(sampleTicks(fixtureNow))
	got := make([][]string, conns)
	var wg sync.WaitGroup
	for i, body := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range total {
				line, err := body.ReadString('\n')
				if err != nil {
					t.Errorf("connection %d: %v", i, err)
					return
				}
				got[i] = append(got[i], line)
			}
		}()
	}
	wg.Wait()
	for i := 1; i < conns; i++ {
		if !slices.Equal(got[i], got[0]) {
			t.Fatalf("connection %d got different data than connection 0", i)
		}
	}
	// Tick time never goes backwards per symbol and message type.
	last := map[string]float64{}
	for _, line := range got[0] {
		m := checkStreamLine(t, []byte(line))
		key := fmt.Sprint(m["id"], m["f"])
		if ts := m["t"].(float64); ts < last[key] {
			t.Fatalf("%s went back in time: %v after %v", key, ts, last[key])
		} else {
			last[key] = ts
		}
	}
}

// scriptedTape hands each reader a fixed series of batches, then an error.
type scriptedTape struct {
	batches [][]tvbridge.TapeEntry
	err     error
}

func (s *scriptedTape) Append(...tvbridge.Tick) {}
func (s *scriptedTape) LastSeq() uint64         { return 0 }
func (s *scriptedTape) Subscribe() tvbridge.TapeReader {
	return &scriptedReader{tape: s}
}

type scriptedReader struct {
	tape *scriptedTape
	next int
}

func (r *scriptedReader) Next(ctx context.Context, buf []tvbridge.TapeEntry) ([]tvbridge.TapeEntry, error) {
	if r.next < len(r.tape.batches) {
		r.next++
		return append(buf, r.tape.batches[r.next-1]...), nil
	}
	if r.tape.err != nil {
		return buf, r.tape.err
	}
	<-ctx.Done()
	return buf, ctx.Err()
}

func (r *scriptedReader) Poll(buf []tvbridge.TapeEntry) ([]tvbridge.TapeEntry, <-chan struct{}, error) {
	if r.next < len(r.tape.batches) {
		r.next++
		return append(buf, r.tape.batches[r.next-1]...), nil, nil
	}
	if r.tape.err != nil {
		return buf, nil, r.tape.err
	}
	return buf, nil, nil // nothing, ever: a nil channel never fires
}

func (r *scriptedReader) Close() {}

func TestStreamingClosesTooSlowClient(t *testing.T) {
	ticks := sampleTicks(fixtureNow)
	st := &scriptedTape{err: tvbridge.ErrTooSlow, batches: [][]tvbridge.TapeEntry{
		{{Seq: 1, Tick: ticks[0]}, {Seq: 2, Tick: ticks[1]}}, // no Line: the handler encodes them
	}}
	logs := &logRecorder{}
	records := logs.watch()
	h := NewHandler(Config{Catalog: fixtureCatalog(t), History: newFakeHistory(), Tape: st, Logger: slog.New(logs)})
	srv := newServer(t, h)
	s := dialStream(t, srv)
	for range 2 {
		checkStreamLine(t, s.line(t))
	}
	end := make([]byte, 5)
	if _, err := io.ReadFull(s.r, end); err != nil || string(end) != "0\r\n\r\n" {
		t.Fatalf("after ErrTooSlow the stream should end with the last chunk, got %q, %v", end, err)
	}
	r := <-records
	if r.Message != "streaming: connection closed" || attr(r, "reason") != "client too slow" || attr(r, "seq") != "2" ||
		attr(r, "remote") == "" {
		t.Fatalf("log %s reason=%q seq=%q remote=%q", r.Message, attr(r, "reason"), attr(r, "seq"), attr(r, "remote"))
	}
	// Counted before the log line.
	if st := h.Stats(); st.StreamCloses != (StreamCloses{TooSlow: 1}) || st.StreamsOpened != 1 || st.StreamLines < 2 || st.StreamBytes < 20 {
		t.Errorf("stats %+v, want one slow-consumer close after two lines", st)
	}
}

func TestStreamingWriteTimeoutClosesStalledClient(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.WriteTimeout = 50 * time.Millisecond })
	records := env.logs.watch()
	srv := newServer(t, env.h)
	dialStream(t, srv) // and never read
	env.clk.BlockUntil(1)

	// Fill the socket buffers until a write misses its deadline. This
	// waits on real time because socket deadlines are real time; the
	// overall limit only guards against a hang.
	big := strings.Repeat("X", 4096)
	deadline := time.After(30 * time.Second)
	for {
		for range 64 {
			env.tape.Append(tvbridge.Tick{Kind: tvbridge.TickTrade, Symbol: big, Time: fixtureNow, Price: 1, Size: 1})
		}
		select {
		case r := <-records:
			if attr(r, "reason") != "write failed" {
				t.Fatalf("closed for %q, want a failed write", attr(r, "reason"))
			}
			if c := env.h.Stats().StreamCloses; c != (StreamCloses{WriteFailed: 1}) {
				t.Errorf("closes %+v, want one failed write", c)
			}
			if n := env.tape.Stats().Readers; n != 0 {
				t.Fatalf("%d tape readers left open", n)
			}
			return
		case <-deadline:
			t.Fatal("a stalled client was never closed")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestStreamingClientGone(t *testing.T) {
	env := newTestEnv(t, nil)
	records := env.logs.watch()
	srv := newServer(t, env.h)
	s := dialStream(t, srv)
	env.clk.BlockUntil(1)
	s.conn.Close()
	r := <-records
	if attr(r, "reason") != "client gone" || env.tape.Stats().Readers != 0 {
		t.Fatalf("reason %q, %d readers", attr(r, "reason"), env.tape.Stats().Readers)
	}
	if c := env.h.Stats().StreamCloses; c != (StreamCloses{ClientGone: 1}) {
		t.Errorf("closes %+v, want the client gone", c)
	}
}

// A server shutting down ends each stream with the last chunk, so clients
// see a complete response rather than a broken connection.
func TestStreamingShutdownEndsTheBody(t *testing.T) {
	env := newTestEnv(t, nil)
	records := env.logs.watch()
	base, shutdown := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(env.h)
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	t.Cleanup(srv.Close)
	s := dialStream(t, srv)
	env.clk.BlockUntil(1)
	env.tape.Append(sampleTicks(fixtureNow)[0])
	checkStreamLine(t, s.line(t))

	shutdown()
	rest, err := io.ReadAll(s.r)
	if err != nil || string(rest) != "0\r\n\r\n" {
		t.Fatalf("after shutdown the stream sent %q, %v; want the last chunk, then EOF", rest, err)
	}
	if r := <-records; r.Level != slog.LevelInfo || attr(r, "reason") != "client gone" {
		t.Fatalf("log %s at %v, reason %q", r.Message, r.Level, attr(r, "reason"))
	}
}

// An HTTP/1.0 client cannot read chunks: it gets the lines unframed, through
// net/http, until the connection closes.
func TestStreamingHTTP10GetsUnchunkedLines(t *testing.T) {
	env := newTestEnv(t, nil)
	srv := newServer(t, env.h)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /streaming HTTP/1.0\r\nHost: tradingview\r\n\r\n")
	tp := textproto.NewReader(bufio.NewReader(conn))
	if status, err := tp.ReadLine(); err != nil || status != "HTTP/1.0 200 OK" {
		t.Fatalf("status line %q, %v", status, err)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil || hdr.Get("Transfer-Encoding") != "" || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v, %v", hdr, err)
	}
	env.clk.BlockUntil(1)
	ticks := sampleTicks(fixtureNow)
	env.tape.Append(ticks...)
	for range ticks {
		line, err := tp.R.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		checkStreamLine(t, line)
	}
}

// panickyReader is a faulty tape reader: its Poll panics.
type panickyReader struct{ scriptedReader }

func (panickyReader) Poll([]tvbridge.TapeEntry) ([]tvbridge.TapeEntry, <-chan struct{}, error) {
	panic("broken tape")
}

type panickyTape struct{ scriptedTape }

func (*panickyTape) Subscribe() tvbridge.TapeReader { return &panickyReader{} }

// A tape that panics closes the one connection reading it, not the server.
func TestStreamingTapePanicClosesTheConnection(t *testing.T) {
	logs := &logRecorder{}
	records := logs.watch()
	h := NewHandler(Config{Catalog: fixtureCatalog(t), History: newFakeHistory(), Tape: &panickyTape{}, Logger: slog.New(logs)})
	srv := newServer(t, h)
	s := dialStream(t, srv)
	r := <-records
	if attr(r, "reason") != "tape failed" || !strings.Contains(attr(r, "err"), "broken tape") {
		t.Fatalf("log %s reason=%q err=%q", r.Message, attr(r, "reason"), attr(r, "err"))
	}
	if rest, err := io.ReadAll(s.r); err != nil || string(rest) != "0\r\n\r\n" {
		t.Fatalf("after the tape failed the stream sent %q, %v; want the last chunk", rest, err)
	}
}

// busyStreamBeats keeps a stream busy with a trade every second of the fake
// clock for 20 s and requires a heartbeat every 5 s among the trades, each
// stamped with the clock's time and sent before the next second's trade.
func busyStreamBeats(t *testing.T, env *testEnv, next func() []byte) {
	t.Helper()
	env.clk.BlockUntil(1) // subscribed, heartbeat armed for fixtureNow+5s
	var beats []int64
	for sec := 1; sec <= 20; sec++ {
		env.clk.Advance(time.Second)
		now := fixtureNow.Add(time.Duration(sec) * time.Second)
		env.tape.Append(tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: sberFIGI, Symbol: "SBER", Time: now, Price: 250, Size: 1})
		for {
			m := checkStreamLine(t, next())
			if hb, ok := m["heartbeat"].(float64); ok {
				if len(beats) > 0 && int64(hb)-beats[len(beats)-1] > 5 {
					t.Fatalf("heartbeat at %v after one at %d: more than 5 s apart", hb, beats[len(beats)-1])
				}
				beats = append(beats, int64(hb))
				continue
			}
			if m["t"] != float64(now.Unix()) {
				t.Fatalf("line %v, want the trade of %d", m, now.Unix())
			}
			break
		}
	}
	// The beat of second 20 may follow that second's trade, still unread.
	want := []int64{fixtureNow.Unix() + 5, fixtureNow.Unix() + 10, fixtureNow.Unix() + 15}
	if !slices.Equal(beats, want) && !slices.Equal(beats, append(want, fixtureNow.Unix()+20)) {
		t.Fatalf("heartbeats %v on a stream busy with a trade a second, want one every 5 s: %v", beats, want)
	}
}

// A stream that never falls silent still carries a heartbeat every
// Heartbeat, as TradingView asks: on a taken-over connection...
func TestStreamingHeartbeatEveryIntervalWhileBusy(t *testing.T) {
	env := newTestEnv(t, nil)
	s := dialStream(t, newServer(t, env.h))
	busyStreamBeats(t, env, func() []byte { return s.line(t) })
}

// ...and through the ResponseWriter (an HTTP/1.0 client), with a
// configured interval.
func TestStreamingHeartbeatEveryIntervalHTTP10(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Heartbeat = 5 * time.Second })
	srv := newServer(t, env.h)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /streaming HTTP/1.0\r\nHost: tradingview\r\n\r\n")
	tp := textproto.NewReader(bufio.NewReader(conn))
	if status, err := tp.ReadLine(); err != nil || status != "HTTP/1.0 200 OK" {
		t.Fatalf("status line %q, %v", status, err)
	}
	if _, err := tp.ReadMIMEHeader(); err != nil {
		t.Fatal(err)
	}
	busyStreamBeats(t, env, func() []byte {
		line, err := tp.R.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		return line
	})
}

// An idle stream gets its heartbeat on the timer, then every interval:
// here a configured 2 s.
func TestStreamingHeartbeatConfiguredInterval(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Heartbeat = 2 * time.Second })
	s := dialStream(t, newServer(t, env.h))
	env.clk.BlockUntil(1)
	env.clk.Advance(1500 * time.Millisecond)
	env.tape.Append(sampleTicks(fixtureNow)[0])
	checkStreamLine(t, s.line(t))
	for i := 1; i <= 3; i++ {
		env.clk.BlockUntil(1)
		env.clk.Set(fixtureNow.Add(time.Duration(i) * 2 * time.Second))
		hb := checkStreamLine(t, s.line(t))
		if want := fixtureNow.Add(time.Duration(i) * 2 * time.Second).Unix(); hb["heartbeat"] != float64(want) {
			t.Fatalf("line %v, want the heartbeat of %d", hb, want)
		}
	}
}

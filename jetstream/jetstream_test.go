package jetstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tvbridge"
	"tvbridge/jetstream/natstest"
	"tvbridge/tape"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testLog opens the log of a unique stream on url.
func testLog(t testing.TB, url string, n natstest.Names, node string, mod ...func(*Options)) *Log {
	t.Helper()
	opts := Options{Stream: n.Stream, Subject: n.Prefix, NodeID: node, MaxBytes: 256 << 20,
		ReconnectWait: 100 * time.Millisecond, Logger: testLogger(t)}
	for _, m := range mod {
		m(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return quiet
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newPublisher(t testing.TB, l *Log, epoch uint64) *Publisher {
	t.Helper()
	p, err := l.NewPublisher(ctxT(t, 10*time.Second), epoch)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// collector records what a follower applies.
type collector struct {
	mu      sync.Mutex
	batches []Batch // deep copies
	ticks   int
}

func (c *collector) apply(b Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b.Ticks = append([]tvbridge.Tick(nil), b.Ticks...)
	b.Minutes = append([]MinuteUpdate(nil), b.Minutes...)
	c.batches = append(c.batches, b)
	c.ticks += len(b.Ticks)
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.batches)
}

func (c *collector) snapshot() []Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Batch(nil), c.batches...)
}

// runFollower runs f until the test ends; the returned channel yields Run's
// result.
func runFollower(t testing.TB, f *Follower) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("follower did not stop within 10s")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// batchOf returns batch i: 1..20 ticks whose first trade size is i, so
// tests can recognise it, and a minute update.
func batchOf(r *rand.Rand, i int) ([]tvbridge.Tick, []MinuteUpdate) {
	at := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	ticks := genTicks(r, 1+r.IntN(20), at)
	ticks[0].Kind, ticks[0].Price, ticks[0].Size = tvbridge.TickTrade, 100, float64(i)
	m := []MinuteUpdate{{FIGI: ticks[0].FIGI, Bar: tvbridge.Bar{Time: at.Truncate(time.Minute), Open: 100, High: 101, Low: 99, Close: 100, Volume: float64(i)}, Final: i%7 == 0}}
	return ticks, m
}

func idOf(b Batch) int {
	if len(b.Ticks) == 0 {
		return -1
	}
	return int(b.Ticks[0].Size)
}

func TestPublishFollowRoundTrip(t *testing.T) {
	url := natstest.URL(t)
	n := natstest.Stream(t, url)
	pubLog := testLog(t, url, n, "ingester")
	p := newPublisher(t, pubLog, 1)
	ctx := ctxT(t, 20*time.Second)

	r := rand.New(rand.NewPCG(1, 1))
	type sent struct {
		ticks   []tvbridge.Tick
		minutes []MinuteUpdate
	}
	var want []sent
	for i := 1; i <= 50; i++ {
		ticks, minutes := batchOf(r, i)
		if err := p.Publish(ctx, ticks, minutes); err != nil {
			t.Fatal(err)
		}
		want = append(want, sent{ticks, minutes})
	}
	if err := p.PublishControl(ctx, Control{Kind: "status", Data: []byte(`{"upstream":"up"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, nil, nil); err != nil { // nothing to publish
		t.Fatal(err)
	}
	if err := p.PublishControl(ctx, Control{Kind: "bad.kind"}); err == nil {
		t.Fatal("a control kind with a dot was accepted")
	}
	if got := p.LastSeq(); got != 51 {
		t.Fatalf("publisher LastSeq %d, want 51", got)
	}

	var c collector
	f := testLog(t, url, n, "follower").NewFollower(FollowerOptions{Apply: c.apply})
	if f.Ready() {
		t.Fatal("ready before running")
	}
	runFollower(t, f)
	waitFor(t, "51 messages", 10*time.Second, func() bool { return c.count() == 51 })
	waitFor(t, "ready", 5*time.Second, f.Ready)
	got := c.snapshot()
	for i, w := range want {
		b := got[i]
		if b.Seq != uint64(i+1) || b.Epoch != 1 || b.Node != "ingester" || b.Published.IsZero() {
			t.Fatalf("message %d: seq %d epoch %d node %q published %v", i, b.Seq, b.Epoch, b.Node, b.Published)
		}
		checkTicks(t, b.Ticks, w.ticks)
		if len(b.Minutes) != 1 || b.Minutes[0].FIGI != w.minutes[0].FIGI || !sameBarBits(b.Minutes[0].Bar, w.minutes[0].Bar) || b.Minutes[0].Final != w.minutes[0].Final {
			t.Fatalf("message %d minutes %+v, want %+v", i, b.Minutes, w.minutes)
		}
	}
	ctl := got[50]
	if ctl.Control == nil || ctl.Control.Kind != "status" || string(ctl.Control.Data) != `{"upstream":"up"}` || ctl.Ticks != nil {
		t.Fatalf("control message: %+v", ctl)
	}
	st := f.Stats()
	if st.LastApplied != 51 || f.Lag() != 0 || st.HighestEpoch != 1 || st.Applied != 51 || st.Stale != 0 || st.Lost != 0 {
		t.Fatalf("stats %+v lag %d", st, f.Lag())
	}

	// Headers as stored.
	m, err := pubLog.stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != n.Prefix+".data" || m.Header.Get(HeaderEpoch) != "1" || m.Header.Get(HeaderNode) != "ingester" || m.Header.Get(jetstream.MsgIDHeader) == "" {
		t.Fatalf("stored message 1: subject %s headers %v", m.Subject, m.Header)
	}
	if m, err = pubLog.stream.GetMsg(ctx, 51); err != nil || m.Subject != n.Prefix+".control.status" {
		t.Fatalf("stored message 51: %v %v", m, err)
	}
}

// readAll drains a tape reader.
func readLines(t testing.TB, r *tape.Reader, want int) []tvbridge.TapeEntry {
	t.Helper()
	var out []tvbridge.TapeEntry
	buf := make([]tvbridge.TapeEntry, 0, 256)
	ctx := ctxT(t, 10*time.Second)
	for len(out) < want {
		var err error
		buf, err = r.Next(ctx, buf[:0])
		if err != nil {
			t.Fatalf("reading the tape after %d of %d entries: %v", len(out), want, err)
		}
		out = append(out, buf...)
	}
	return out
}

// TestTwoFollowersIdenticalLines: two nodes following the same stream into
// their own in-process tapes hold byte-identical /streaming lines with the
// same sequence numbers, equal to the ingester's own tape.
func TestTwoFollowersIdenticalLines(t *testing.T) {
	url := natstest.URL(t)
	n := natstest.Stream(t, url)
	pubLog := testLog(t, url, n, "ingester")
	p := newPublisher(t, pubLog, 3)
	ctx := ctxT(t, 20*time.Second)

	local := tape.New(tape.Config{}) // the ingester's own tape, fed directly as today
	localR := local.NewReader()
	r := rand.New(rand.NewPCG(2, 2))
	total := 0
	var tapes [2]*tape.Tape
	var readers [2]*tape.Reader
	var hot [2]*HotMinutes
	for i := range tapes {
		tapes[i] = tape.New(tape.Config{})
		readers[i] = tapes[i].NewReader()
		hot[i] = &HotMinutes{}
		feeder := &TapeFeeder{Tape: tapes[i], Next: hot[i].Apply}
		l := testLog(t, url, n, "node"+strconv.Itoa(i))
		runFollower(t, l.NewFollower(FollowerOptions{Apply: feeder.Apply}))
	}
	for i := 1; i <= 200; i++ {
		ticks, minutes := batchOf(r, i)
		if i == 100 { // a tick the tape cannot encode: dropped alike everywhere
			ticks = append(ticks, tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: "F", Symbol: "F", Price: math.NaN()})
		}
		local.Append(ticks...)
		total += len(ticks)
		if err := p.Publish(ctx, ticks, minutes); err != nil {
			t.Fatal(err)
		}
	}
	if info, err := pubLog.Info(ctx); err == nil {
		t.Logf("stored: %d messages, %d ticks, %d bytes = %.1f bytes a tick with headers",
			info.State.Msgs, total, info.State.Bytes, float64(info.State.Bytes)/float64(total))
	}
	want := readLines(t, localR, int(local.LastSeq()))
	if int(local.LastSeq()) != total-1 {
		t.Fatalf("local tape has %d entries for %d ticks (one unencodable)", local.LastSeq(), total)
	}
	for i := range tapes {
		got := readLines(t, readers[i], len(want))
		for k := range want {
			if got[k].Seq != want[k].Seq || !bytes.Equal(got[k].Line, want[k].Line) {
				t.Fatalf("follower %d entry %d: seq %d %q, ingester seq %d %q", i, k, got[k].Seq, got[k].Line, want[k].Seq, want[k].Line)
			}
		}
		if tapes[i].LastSeq() != local.LastSeq() {
			t.Fatalf("follower %d tape LastSeq %d, ingester %d", i, tapes[i].LastSeq(), local.LastSeq())
		}
	}
	// Same hot state on both nodes.
	for _, figi := range []string{"BBG004730N88", "BBG004731032", "BBG000B9XRY4", "BBG006L8G4H1"} {
		a, aok := hot[0].OpenMinute(figi)
		b, bok := hot[1].OpenMinute(figi)
		if aok != bok || !sameBarBits(a, b) {
			t.Fatalf("open minute of %s differs: %+v %v / %+v %v", figi, a, aok, b, bok)
		}
		da, _ := hot[0].Daily(figi)
		db, _ := hot[1].Daily(figi)
		if !sameBarBits(da, db) {
			t.Fatalf("daily of %s differs", figi)
		}
		ca := hot[0].Closed(figi, time.Time{}, time.Now())
		cb := hot[1].Closed(figi, time.Time{}, time.Now())
		if len(ca) != len(cb) {
			t.Fatalf("closed minutes of %s differ: %d / %d", figi, len(ca), len(cb))
		}
	}
}

// TestFencing: leader A (epoch 1) publishes, B (epoch 2) takes over and
// publishes; A's next publish is refused with ErrFenced, C (epoch 3) fences
// B with a Claim alone, a new publisher with an old epoch is refused at
// once, and a follower drops an epoch-2 message that reaches the stream
// after epoch 3 (published directly, bypassing the Publisher's checks).
func TestFencing(t *testing.T) {
	url := natstest.URL(t)
	n := natstest.Stream(t, url)
	la := testLog(t, url, n, "A")
	lb := testLog(t, url, n, "B")
	ctx := ctxT(t, 20*time.Second)
	r := rand.New(rand.NewPCG(3, 3))

	a := newPublisher(t, la, 1)
	for i := 1; i <= 3; i++ {
		ticks, m := batchOf(r, i)
		if err := a.Publish(ctx, ticks, m); err != nil {
			t.Fatal(err)
		}
	}
	b := newPublisher(t, lb, 2)
	if b.LastSeq() != 3 {
		t.Fatalf("B starts after %d, want 3", b.LastSeq())
	}
	// A publishes once more after B read the stream but before B published:
	// that is still before B's reign, and B must continue after it.
	ticks, m := batchOf(r, 4)
	if err := a.Publish(ctx, ticks, m); err != nil {
		t.Fatal(err)
	}
	for i := 5; i <= 6; i++ {
		ticks, m := batchOf(r, i)
		if err := b.Publish(ctx, ticks, m); err != nil {
			t.Fatalf("B publish %d: %v", i, err)
		}
	}
	ticks, m = batchOf(r, 99)
	err := a.Publish(ctx, ticks, m)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("A's publish after B's: %v, want ErrFenced", err)
	}
	if err := a.PublishControl(ctx, Control{Kind: "status"}); !errors.Is(err, ErrFenced) || a.Fenced() == nil {
		t.Fatalf("A stays fenced: %v", err)
	}
	// C claims epoch 3 with no data to publish: B is fenced at once.
	c3 := newPublisher(t, testLog(t, url, n, "C"), 3)
	if err := c3.Claim(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, ticks, m); !errors.Is(err, ErrFenced) {
		t.Fatalf("B after C's claim: %v, want ErrFenced", err)
	}
	if _, err := la.NewPublisher(ctx, 1); !errors.Is(err, ErrFenced) {
		t.Fatalf("new epoch-1 publisher: %v, want ErrFenced", err)
	}
	if _, err := la.NewPublisher(ctx, 3); !errors.Is(err, ErrFenced) {
		t.Fatalf("epoch 3 on another node: %v, want ErrFenced", err)
	}

	// A stale leader's late message slipping in without the checks.
	var enc encoder
	ticks, _ = batchOf(r, 98)
	msg := &nats.Msg{Subject: la.DataSubject(), Data: enc.encode(ticks, nil, nil), Header: nats.Header{}}
	msg.Header.Set(HeaderEpoch, "2")
	msg.Header.Set(HeaderNode, "B")
	if _, err := la.js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	ticks, m = batchOf(r, 7)
	if err := c3.Publish(ctx, ticks, m); err != nil {
		t.Fatalf("C after the stray message: %v", err)
	}

	var c collector
	f := testLog(t, url, n, "F").NewFollower(FollowerOptions{Apply: c.apply})
	runFollower(t, f)
	waitFor(t, "the follower to reach the end", 10*time.Second, func() bool { return f.LastApplied() == 9 })
	var ids []int
	for _, b := range c.snapshot() {
		if b.Control != nil {
			if b.Control.Kind != ControlLeader || string(b.Control.Data) != "C" || b.Epoch != 3 {
				t.Fatalf("control %+v epoch %d", b.Control, b.Epoch)
			}
			continue
		}
		ids = append(ids, idOf(b))
	}
	if fmt.Sprint(ids) != "[1 2 3 4 5 6 7]" {
		t.Fatalf("applied batches %v, want [1 2 3 4 5 6 7] (99 refused, 98 dropped)", ids)
	}
	if st := f.Stats(); st.Stale != 1 || st.HighestEpoch != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPublishAckLost: a publish whose ack was lost is recognised on retry
// (the message is stored once, not twice), both within one call and across
// calls after ErrUncertain.
func TestPublishAckLost(t *testing.T) {
	url := natstest.URL(t)
	n := natstest.Stream(t, url)
	l := testLog(t, url, n, "I")
	ctx := ctxT(t, 20*time.Second)
	p := newPublisher(t, l, 1)
	r := rand.New(rand.NewPCG(4, 4))
	ticks, m := batchOf(r, 1)
	if err := p.Publish(ctx, ticks, m); err != nil {
		t.Fatal(err)
	}

	// Store "the first attempt" of the next call behind the publisher's
	// back, as if the server stored it and the ack never arrived.
	var enc encoder
	storeAs := func(id string, i int) {
		ticks, m := batchOf(r, i)
		msg := &nats.Msg{Subject: l.DataSubject(), Data: enc.encode(ticks, m, nil), Header: nats.Header{}}
		msg.Header.Set(HeaderEpoch, "1")
		msg.Header.Set(HeaderNode, "I")
		if _, err := l.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectLastSequence(p.LastSeq())); err != nil {
			t.Fatal(err)
		}
	}
	storeAs(p.prefix+"2", 2)
	ticks, m = batchOf(r, 2)
	if err := p.Publish(ctx, ticks, m); err != nil {
		t.Fatal(err)
	}
	if p.LastSeq() != 2 {
		t.Fatalf("LastSeq %d after the recognised retry, want 2", p.LastSeq())
	}

	// Across calls: the call gave up (ErrUncertain) and its message was in
	// fact stored.
	p.mu.Lock()
	p.counter++
	p.pending = p.prefix + strconv.FormatUint(p.counter, 10)
	p.mu.Unlock()
	storeAs(p.pending, 3)
	ticks, m = batchOf(r, 4)
	if err := p.Publish(ctx, ticks, m); err != nil {
		t.Fatal(err)
	}
	// And one that was not stored: the next call goes on after it.
	p.mu.Lock()
	p.counter++
	p.pending = p.prefix + strconv.FormatUint(p.counter, 10)
	p.mu.Unlock()
	ticks, m = batchOf(r, 5)
	if err := p.Publish(ctx, ticks, m); err != nil {
		t.Fatal(err)
	}

	info, err := l.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 5 || p.LastSeq() != 5 {
		t.Fatalf("stream holds %d messages, publisher at %d; want 5 and 5", info.State.Msgs, p.LastSeq())
	}
	var c collector
	f := l.NewFollower(FollowerOptions{Apply: c.apply})
	runFollower(t, f)
	waitFor(t, "5 messages", 10*time.Second, func() bool { return c.count() == 5 })
	var ids []int
	for _, b := range c.snapshot() {
		ids = append(ids, idOf(b))
	}
	if fmt.Sprint(ids) != "[1 2 3 4 5]" {
		t.Fatalf("stream holds batches %v, want [1 2 3 4 5]", ids)
	}
}

// TestFollowerCatchUp: a follower stopped after some messages resumes from
// its LastApplied after more were published: every message exactly once, in
// order. A follower starting by time gets only the newer messages.
func TestFollowerCatchUp(t *testing.T) {
	url := natstest.URL(t)
	n := natstest.Stream(t, url)
	l := testLog(t, url, n, "I")
	ctx := ctxT(t, 20*time.Second)
	p := newPublisher(t, l, 1)
	r := rand.New(rand.NewPCG(5, 5))
	publish := func(from, to int) {
		for i := from; i <= to; i++ {
			ticks, m := batchOf(r, i)
			if err := p.Publish(ctx, ticks, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(1, 30)

	var c1 collector
	f1 := testLog(t, url, n, "F").NewFollower(FollowerOptions{Apply: c1.apply})
	stop := runFollower(t, f1)
	waitFor(t, "30 messages", 10*time.Second, func() bool { return c1.count() == 30 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	after, epoch := f1.LastApplied(), f1.HighestEpoch()
	if after != 30 || epoch != 1 {
		t.Fatalf("LastApplied %d HighestEpoch %d", after, epoch)
	}
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	publish(31, 60)

	var c2 collector
	f2 := testLog(t, url, n, "F").NewFollower(FollowerOptions{StartAfter: after, MinEpoch: epoch, Apply: c2.apply})
	if f2.LastApplied() != 30 {
		t.Fatalf("restarted follower's LastApplied %d", f2.LastApplied())
	}
	runFollower(t, f2)
	waitFor(t, "30 more messages", 10*time.Second, func() bool { return c2.count() == 30 })
	waitFor(t, "ready", 5*time.Second, f2.Ready)
	all := append(c1.snapshot(), c2.snapshot()...)
	for i, b := range all {
		if b.Seq != uint64(i+1) || idOf(b) != i+1 {
			t.Fatalf("message %d: seq %d batch %d", i, b.Seq, idOf(b))
		}
	}
	if st := f2.Stats(); st.Lost != 0 || st.Applied != 30 {
		t.Fatalf("stats %+v", st)
	}

	var c3 collector
	f3 := l.NewFollower(FollowerOptions{StartTime: mid, Apply: c3.apply})
	runFollower(t, f3)
	waitFor(t, "messages from the start time", 10*time.Second, func() bool { return f3.LastApplied() == 60 })
	if got := c3.snapshot(); len(got) != 30 || got[0].Seq != 31 {
		t.Fatalf("from %v: %d messages, first seq %d", mid, len(got), got[0].Seq)
	}
}

// TestRetention: the stream is created with the configured limits (and the
// documented defaults); a stream limited in bytes drops the oldest messages,
// and a follower resuming before them reports them lost.
func TestRetention(t *testing.T) {
	url := natstest.URL(t)
	ctx := ctxT(t, 20*time.Second)

	cfg := StreamConfig(Options{})
	if cfg.Name != "TVBRIDGE_TAPE" || cfg.Subjects[0] != "tvbridge.tape.>" || cfg.MaxAge != 24*time.Hour ||
		cfg.MaxBytes != 2<<30 || cfg.Storage != jetstream.FileStorage || cfg.Discard != jetstream.DiscardOld ||
		cfg.Duplicates != 2*time.Minute || cfg.Retention != jetstream.LimitsPolicy {
		t.Fatalf("defaults: %+v", cfg)
	}

	n := natstest.Stream(t, url)
	l := testLog(t, url, n, "I", func(o *Options) { o.MaxAge = 0; o.MaxBytes = 0 }) // defaults, own names
	info, err := l.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.MaxAge != DefaultMaxAge || c.MaxBytes != DefaultMaxBytes || c.Storage != jetstream.FileStorage ||
		c.Discard != jetstream.DiscardOld || c.Duplicates != DefaultDuplicates {
		t.Fatalf("stream created with %+v", c)
	}
	// Reopening with other limits updates the stream.
	l2 := testLog(t, url, n, "I", func(o *Options) { o.MaxAge = time.Hour; o.MaxBytes = 64 << 10; o.Duplicates = time.Minute })
	if info, err = l2.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.MaxAge != time.Hour || c.MaxBytes != 64<<10 || c.Duplicates != time.Minute {
		t.Fatalf("stream updated to %+v", c)
	}

	p := newPublisher(t, l2, 1)
	r := rand.New(rand.NewPCG(6, 6))
	for i := 1; i <= 300; i++ { // ~300 KiB through a 64 KiB stream
		ticks, m := batchOf(r, i)
		if err := p.Publish(ctx, ticks, m); err != nil {
			t.Fatal(err)
		}
	}
	if info, err = l2.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if info.State.Bytes > 64<<10 || info.State.FirstSeq <= 1 || info.State.LastSeq != 300 {
		t.Fatalf("state after 300 messages: %+v", info.State)
	}
	first := info.State.FirstSeq

	var c collector
	f := l2.NewFollower(FollowerOptions{StartAfter: 1, Apply: c.apply})
	runFollower(t, f)
	waitFor(t, "the end", 10*time.Second, func() bool { return f.LastApplied() == 300 })
	if st := f.Stats(); st.Lost != first-2 || c.snapshot()[0].Seq != first {
		t.Fatalf("resuming after 1 with the first retained %d: stats %+v, first applied %d", first, st, c.snapshot()[0].Seq)
	}
}

// TestServerRestart: NATS stops and starts again (same store) while a
// publisher publishes and a follower follows; the follower resumes without
// loss or duplication, and reports not ready while the server is down.
func TestServerRestart(t *testing.T) {
	srv := natstest.StartServer(t)
	url := srv.URL()
	n := natstest.Stream(t, url)
	pl := testLog(t, url, n, "I")
	fl := testLog(t, url, n, "F")
	p := newPublisher(t, pl, 1)

	var c collector
	f := fl.NewFollower(FollowerOptions{Apply: c.apply, CheckInterval: 100 * time.Millisecond})
	runFollower(t, f)

	r := rand.New(rand.NewPCG(7, 7))
	var mu sync.Mutex
	var ok, uncertain []int
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 1; ; i++ {
			select {
			case <-stopPub:
				return
			default:
			}
			ticks, m := batchOf(r, i)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := p.Publish(ctx, ticks, m)
			cancel()
			mu.Lock()
			switch {
			case err == nil:
				ok = append(ok, i)
			case errors.Is(err, ErrUncertain):
				uncertain = append(uncertain, i)
			default:
				mu.Unlock()
				t.Errorf("publish %d: %v", i, err)
				return
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()

	waitFor(t, "the follower to apply 50", 10*time.Second, func() bool { return c.count() >= 50 })
	waitFor(t, "ready", 5*time.Second, f.Ready)
	srv.Stop()
	waitFor(t, "not ready while NATS is down", 5*time.Second, func() bool { return !f.Ready() })
	time.Sleep(2500 * time.Millisecond) // longer than one publish attempt
	srv.Start()
	waitFor(t, "reconnected", 10*time.Second, func() bool { return pl.Connected() && fl.Connected() })
	mu.Lock()
	okBefore := len(ok)
	mu.Unlock()
	waitFor(t, "publishing to resume", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ok) > okBefore+50
	})
	close(stopPub)
	<-pubDone

	ctx := ctxT(t, 10*time.Second)
	last, err := pl.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the follower to catch up", 15*time.Second, func() bool { return f.LastApplied() == last })
	waitFor(t, "ready again", 5*time.Second, f.Ready)

	got := c.snapshot()
	seen := make(map[int]bool)
	for i, b := range got {
		if b.Seq != uint64(i+1) {
			t.Fatalf("applied message %d has seq %d: loss or duplication", i, b.Seq)
		}
		if seen[idOf(b)] {
			t.Fatalf("batch %d applied twice", idOf(b))
		}
		seen[idOf(b)] = true
	}
	for _, i := range ok {
		if !seen[i] {
			t.Fatalf("batch %d was acknowledged but not applied", i)
		}
	}
	t.Logf("published %d acknowledged, %d uncertain (stored: %d); follower applied %d, resets %d",
		len(ok), len(uncertain), len(got)-len(ok), len(got), f.Stats().Resets)
}

// TestFollowerReadyWhenQuiet: a follower that starts after every retained
// message (by time here; the same holds when all messages aged out) is
// ready although it applied nothing: its lag is measured from where its
// consumer starts, not from sequence 0.
func TestFollowerReadyWhenQuiet(t *testing.T) {
	url := natstest.URL(t)
	n := natstest.Stream(t, url)
	l := testLog(t, url, n, "I")
	ctx := ctxT(t, 20*time.Second)
	p := newPublisher(t, l, 1)
	r := rand.New(rand.NewPCG(8, 8))
	for i := 1; i <= 300; i++ { // more than ReadyLag
		ticks, m := batchOf(r, i)
		if err := p.Publish(ctx, ticks, m); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	var c collector
	f := l.NewFollower(FollowerOptions{StartTime: time.Now(), Apply: c.apply, CheckInterval: 50 * time.Millisecond})
	runFollower(t, f)
	waitFor(t, "ready with nothing to apply", 5*time.Second, f.Ready)
	if f.Lag() != 0 || c.count() != 0 {
		t.Fatalf("lag %d, applied %d", f.Lag(), c.count())
	}
	ticks, m := batchOf(r, 301)
	if err := p.Publish(ctx, ticks, m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new message", 5*time.Second, func() bool { return c.count() == 1 })
	if got := c.snapshot()[0]; got.Seq != 301 || f.Lag() != 0 {
		t.Fatalf("applied seq %d, lag %d", got.Seq, f.Lag())
	}

	// From the earliest retained with a backlog: not ready at first.
	var c2 collector
	block := make(chan struct{})
	f2 := l.NewFollower(FollowerOptions{Apply: func(b Batch) error { <-block; return c2.apply(b) }, CheckInterval: 50 * time.Millisecond})
	runFollower(t, f2)
	time.Sleep(300 * time.Millisecond)
	if f2.Ready() || f2.Lag() < 200 {
		t.Fatalf("blocked follower: ready %v, lag %d", f2.Ready(), f2.Lag())
	}
	close(block)
	waitFor(t, "the backlog", 10*time.Second, func() bool { return f2.LastApplied() == 301 })
	waitFor(t, "ready after the backlog", 5*time.Second, f2.Ready)
}

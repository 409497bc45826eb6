package tape

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"tvbridge"
)

// testTimeout bounds a test that would otherwise hang on a bug; it is
// never what makes a test pass.
const testTimeout = 20 * time.Second

func trade(sym string, price float64) tvbridge.Tick {
	return tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: "FIGI_" + sym, Symbol: sym, Time: at, Price: price, Size: 1}
}

func quote(sym string, bid float64) tvbridge.Tick {
	return tvbridge.Tick{Kind: tvbridge.TickQuote, FIGI: "FIGI_" + sym, Symbol: sym, Time: at,
		Bid: bid, BidSize: 1, Ask: bid + 0.01, AskSize: 1}
}

func daily(sym string, close float64) tvbridge.Tick {
	return tvbridge.Tick{Kind: tvbridge.TickDaily, FIGI: "FIGI_" + sym, Symbol: sym, Time: at,
		Bar: tvbridge.Bar{Time: at.Truncate(24 * time.Hour), Open: close, High: close, Low: close, Close: close, Volume: 1}}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// readN reads exactly n entries from r, batch by batch.
func readN(t *testing.T, r tvbridge.TapeReader, n, batch int) []tvbridge.TapeEntry {
	t.Helper()
	ctx := testContext(t)
	var got []tvbridge.TapeEntry
	buf := make([]tvbridge.TapeEntry, 0, batch)
	for len(got) < n {
		var err error
		buf, err = r.Next(ctx, buf[:0])
		if err != nil {
			t.Fatalf("Next after %d of %d entries: %v", len(got), n, err)
		}
		got = append(got, buf...)
	}
	if len(got) != n {
		t.Fatalf("read %d entries, want %d", len(got), n)
	}
	return got
}

func seqs(entries []tvbridge.TapeEntry) []uint64 {
	out := make([]uint64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}

func TestAppendAssignsSequenceAndEncodesOnce(t *testing.T) {
	tp := New(Config{})
	r := tp.Subscribe()
	defer r.Close()

	ticks := []tvbridge.Tick{quote("SBER", 250), trade("SBER", 250.35), daily("SBER", 250.35), trade("GAZP", 160), quote("GAZP", 159.9)}
	tp.Append(ticks[:3]...)
	tp.Append(ticks[3:]...)
	if got := tp.LastSeq(); got != 5 {
		t.Fatalf("LastSeq = %d, want 5", got)
	}
	got := readN(t, r, 5, 2)
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Errorf("entry %d: Seq = %d, want %d", i, e.Seq, i+1)
		}
		if e.Tick != ticks[i] {
			t.Errorf("entry %d: Tick = %+v, want %+v", i, e.Tick, ticks[i])
		}
		if want := string(AppendLine(nil, ticks[i])); string(e.Line) != want {
			t.Errorf("entry %d: Line = %q, want %q", i, e.Line, want)
		}
		if cap(e.Line) != len(e.Line) {
			t.Errorf("entry %d: Line has spare capacity %d; appending to it could overwrite the next line", i, cap(e.Line)-len(e.Line))
		}
	}
}

func TestEncoderRunsOncePerTickWhateverTheReaders(t *testing.T) {
	var calls int
	tp := New(Config{Encode: func(dst []byte, tick tvbridge.Tick) []byte {
		calls++
		return append(dst, "X:"+tick.Symbol+"\n"...)
	}})
	readers := []tvbridge.TapeReader{tp.Subscribe(), tp.Subscribe(), tp.Subscribe()}
	tp.Append(trade("A", 1), trade("B", 2))
	for i, r := range readers {
		got := readN(t, r, 2, 8)
		if string(got[0].Line) != "X:A\n" || string(got[1].Line) != "X:B\n" {
			t.Errorf("reader %d: lines %q %q, want the custom encoding", i, got[0].Line, got[1].Line)
		}
	}
	if calls != 2 {
		t.Errorf("encoder ran %d times for 2 ticks and 3 readers, want 2", calls)
	}
}

func TestSubscribeStartsAtLiveEnd(t *testing.T) {
	tp := New(Config{})
	tp.Append(trade("A", 1), trade("A", 2))
	r := tp.Subscribe()
	tp.Append(trade("A", 3))
	got := readN(t, r, 1, 8)
	if got[0].Seq != 3 || got[0].Tick.Price != 3 {
		t.Errorf("first entry for a late subscriber: Seq %d price %v, want Seq 3 price 3", got[0].Seq, got[0].Tick.Price)
	}
}

func TestNextFillsOnlySpareCapacity(t *testing.T) {
	tp := New(Config{})
	r := tp.Subscribe()
	tp.Append(trade("A", 1), trade("A", 2), trade("A", 3))

	buf := make([]tvbridge.TapeEntry, 1, 3)
	buf[0].Seq = 99 // existing content must survive
	buf, err := r.Next(testContext(t), buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(seqs(buf)), "[99 1 2]"; got != want {
		t.Errorf("after Next: seqs %s, want %s", got, want)
	}
	if _, err := r.Next(testContext(t), buf); !errors.Is(err, errNoRoom) {
		t.Errorf("Next with a full buffer: err %v, want errNoRoom", err)
	}
	if got := readN(t, r, 1, 8); got[0].Seq != 3 {
		t.Errorf("next entry Seq %d, want 3", got[0].Seq)
	}
}

// waitUntilWaiting returns once some reader has parked on the wake channel.
func waitUntilWaiting(t *testing.T, tp *Tape) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !tp.waiting.Load() {
		if time.Now().After(deadline) {
			t.Fatal("reader never started waiting")
		}
		runtime.Gosched()
	}
}

func TestBlockedNextWakesOnAppend(t *testing.T) {
	tp := New(Config{})
	r := tp.Subscribe()
	done := make(chan []tvbridge.TapeEntry)
	go func() {
		got, err := r.Next(testContext(t), make([]tvbridge.TapeEntry, 0, 4))
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	waitUntilWaiting(t, tp)
	tp.Append(trade("A", 1))
	if got := <-done; len(got) != 1 || got[0].Seq != 1 {
		t.Errorf("woken Next returned %v, want Seq 1", seqs(got))
	}
}

func TestContextCancelUnblocksNext(t *testing.T) {
	tp := New(Config{})
	r := tp.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := r.Next(ctx, make([]tvbridge.TapeEntry, 0, 4))
		done <- err
	}()
	waitUntilWaiting(t, tp)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel: %v, want context.Canceled", err)
	}
}

func TestCloseUnblocksNext(t *testing.T) {
	tp := New(Config{})
	r := tp.Subscribe()
	if n := tp.Stats().Readers; n != 1 {
		t.Fatalf("Readers = %d, want 1", n)
	}
	done := make(chan error)
	go func() {
		_, err := r.Next(context.Background(), make([]tvbridge.TapeEntry, 0, 4))
		done <- err
	}()
	waitUntilWaiting(t, tp)
	r.Close()
	r.Close() // idempotent
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
	tp.Append(trade("A", 1))
	if _, err := r.Next(context.Background(), make([]tvbridge.TapeEntry, 0, 4)); !errors.Is(err, ErrClosed) {
		t.Errorf("Next on a closed reader with entries waiting: %v, want ErrClosed", err)
	}
	if n := tp.Stats().Readers; n != 0 {
		t.Errorf("Readers after Close = %d, want 0", n)
	}
}

func TestSlowReaderGetsErrTooSlowOthersUnaffected(t *testing.T) {
	tp := New(Config{Capacity: 8})
	fast, edge, slow := tp.Subscribe(), tp.Subscribe(), tp.Subscribe()
	for i := 1; i <= 8; i++ {
		tp.Append(trade("A", float64(i)))
		if got := readN(t, fast, 1, 4); got[0].Seq != uint64(i) {
			t.Fatalf("fast reader: Seq %d, want %d", got[0].Seq, i)
		}
	}
	// Exactly Capacity entries behind is still readable.
	if got := readN(t, edge, 8, 16); got[0].Seq != 1 || got[7].Seq != 8 {
		t.Errorf("reader exactly Capacity behind got %v, want 1..8", seqs(got))
	}

	tp.Append(trade("A", 9)) // overwrites Seq 1, which slow has not read
	ctx := testContext(t)
	buf := make([]tvbridge.TapeEntry, 0, 16)
	if _, err := slow.Next(ctx, buf); !errors.Is(err, tvbridge.ErrTooSlow) {
		t.Fatalf("lapped reader: err %v, want ErrTooSlow", err)
	}
	tp.Append(trade("A", 10))
	if _, err := slow.Next(ctx, buf); !errors.Is(err, tvbridge.ErrTooSlow) {
		t.Errorf("lapped reader, second Next: err %v, want ErrTooSlow again", err)
	}
	if got := readN(t, fast, 2, 4); got[0].Seq != 9 || got[1].Seq != 10 {
		t.Errorf("fast reader after the slow one failed: %v, want [9 10]", seqs(got))
	}
	if got := readN(t, edge, 2, 4); got[0].Seq != 9 || got[1].Seq != 10 {
		t.Errorf("edge reader after the slow one failed: %v, want [9 10]", seqs(got))
	}
}

func TestConflationSkipsOnlySupersededQuotesWhileBehind(t *testing.T) {
	tp := New(Config{Capacity: 64, ConflateAfter: 4})
	behind := tp.NewReader()
	live := tp.NewReader()
	ticks := []tvbridge.Tick{
		quote("D", 1), // 1: behind, but D never gets a newer quote: kept
		quote("A", 1), // 2: superseded by 8: skipped
		quote("B", 1), // 3: superseded by 7: skipped
		trade("A", 1), // 4: trades are never skipped
		quote("A", 2), // 5: superseded by 8: skipped
		daily("A", 1), // 6: daily bars are never skipped
		quote("B", 2), // 7: superseded by nothing, and only 4 behind the end
		quote("A", 3), // 8: latest A quote
		trade("B", 1), // 9
		quote("C", 1), // 10
		trade("A", 2), // 11
	}
	for _, tick := range ticks {
		tp.Append(tick)
		readN(t, live, 1, 4) // keeps up, so never conflates
	}
	got := readN(t, behind, 8, 64)
	if got, want := fmt.Sprint(seqs(got)), "[1 4 6 7 8 9 10 11]"; got != want {
		t.Errorf("lagging reader saw %s, want %s", got, want)
	}
	if s := behind.Stats(); s.Skipped != 3 || s.Delivered != 8 || s.Cursor != 11 || s.Lag != 0 {
		t.Errorf("lagging reader stats %+v, want Skipped 3 Delivered 8 Cursor 11 Lag 0", s)
	}
	if s := live.Stats(); s.Skipped != 0 || s.Delivered != 11 {
		t.Errorf("live reader stats %+v, want Skipped 0 Delivered 11", s)
	}
	if s := tp.Stats(); s.Conflated != 3 {
		t.Errorf("tape conflated %d, want the lagging reader's 3", s.Conflated)
	}
}

func TestConflationDisabled(t *testing.T) {
	tp := New(Config{Capacity: 16, ConflateAfter: -1})
	r := tp.NewReader()
	for i := range 10 {
		tp.Append(quote("A", float64(i)))
	}
	readN(t, r, 10, 16)
	if s := r.Stats(); s.Skipped != 0 {
		t.Errorf("Skipped = %d with conflation disabled, want 0", s.Skipped)
	}
}

func TestLinesStayValidAfterTheRingWraps(t *testing.T) {
	tp := New(Config{Capacity: 4})
	r := tp.Subscribe()
	tp.Append(trade("KEEP0", 1), trade("KEEP1", 2), trade("KEEP2", 3), trade("KEEP3", 4))
	held := readN(t, r, 4, 4)
	want := make([]string, len(held))
	for i, e := range held {
		want[i] = string(e.Line)
	}
	// Enough traffic to wrap the ring many times and fill several line chunks.
	for i := range 5000 {
		tp.Append(trade(fmt.Sprintf("OVERWRITE%04d", i), float64(i)))
	}
	for i, e := range held {
		if string(e.Line) != want[i] {
			t.Errorf("held line %d changed to %q, want %q", i, e.Line, want[i])
		}
	}
}

func TestUnencodableTicksAreDroppedWithoutHoles(t *testing.T) {
	tp := New(Config{})
	r := tp.Subscribe()
	bad := trade("A", 1)
	bad.Kind = 0
	tp.Append(bad, trade("A", 2))
	if tp.LastSeq() != 1 || tp.Stats().Dropped != 1 {
		t.Fatalf("LastSeq %d Dropped %d, want 1 and 1", tp.LastSeq(), tp.Stats().Dropped)
	}
	if got := readN(t, r, 1, 4); got[0].Seq != 1 || got[0].Tick.Price != 2 {
		t.Errorf("got Seq %d price %v, want Seq 1 price 2", got[0].Seq, got[0].Tick.Price)
	}
}

func TestCapacityIsRoundedUpToAPowerOfTwo(t *testing.T) {
	tests := map[int]int{0: DefaultCapacity, -3: DefaultCapacity, 1: 1, 5: 8, 8: 8, 1000: 1024}
	for in, want := range tests {
		if got := New(Config{Capacity: in}).Capacity(); got != want {
			t.Errorf("Capacity %d => %d, want %d", in, got, want)
		}
	}
}

func TestQuoteIndexStaysBounded(t *testing.T) {
	tp := New(Config{Capacity: 4})
	for i := range 1000 {
		tp.Append(quote(fmt.Sprint("S", i), 1))
	}
	if n := len(tp.latestQuote); n > 2*tp.Capacity() {
		t.Errorf("latestQuote holds %d symbols, want at most %d", n, 2*tp.Capacity())
	}
}

// TestConcurrentAppendersIdenticalReaders runs several producers and readers
// at once: every reader must see the same consecutive sequence, each
// producer's ticks in its order, and each Append call's ticks contiguous.
func TestConcurrentAppendersIdenticalReaders(t *testing.T) {
	const producers, batches, batchSize, readers = 3, 200, 5, 6
	const total = producers * batches * batchSize
	tp := New(Config{Capacity: 4096, ConflateAfter: -1}) // holds everything
	rs := make([]tvbridge.TapeReader, readers)
	for i := range rs {
		rs[i] = tp.Subscribe()
	}
	results := make([][]tvbridge.TapeEntry, readers)
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() { results[i] = readN(t, r, total, 7+i) })
	}
	for p := range producers {
		wg.Go(func() {
			sym := fmt.Sprint("P", p)
			for b := range batches {
				batch := make([]tvbridge.Tick, batchSize)
				for k := range batch {
					batch[k] = trade(sym, float64(b*batchSize+k))
					if k%2 == 1 {
						batch[k] = quote(sym, float64(b*batchSize+k))
					}
				}
				tp.Append(batch...)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkTotalOrder(t, results[0], total, batchSize)
	for i := 1; i < readers; i++ {
		for k := range results[i] {
			if a, b := results[0][k], results[i][k]; a.Seq != b.Seq || a.Tick != b.Tick || string(a.Line) != string(b.Line) {
				t.Fatalf("reader %d differs from reader 0 at entry %d: %+v vs %+v", i, k, b, a)
			}
		}
	}
}

// checkTotalOrder checks consecutive Seqs from 1, per-producer order, and
// that every Append batch landed contiguously.
func checkTotalOrder(t *testing.T, got []tvbridge.TapeEntry, total, batchSize int) {
	t.Helper()
	next := map[string]float64{}
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d: Seq %d, want %d", i, e.Seq, i+1)
		}
		price := e.Tick.Price + e.Tick.Bid // one of them is set
		if price != next[e.Tick.Symbol] {
			t.Fatalf("entry %d: %s tick %v, want %v", i, e.Tick.Symbol, price, next[e.Tick.Symbol])
		}
		next[e.Tick.Symbol]++
		if i%batchSize != 0 && e.Tick.Symbol != got[i-1].Tick.Symbol {
			t.Fatalf("entry %d: batch interleaved with another producer", i)
		}
	}
}

// TestStressLappingAndConflation runs producers against readers with tiny
// buffers on a small ring, so readers conflate and get lapped at whatever
// points the scheduler picks; a lapped reader subscribes again, as a
// reconnecting client would. Whatever happens, a reader must never miss a
// trade before it is told ErrTooSlow, and sequences must only increase.
func TestStressLappingAndConflation(t *testing.T) {
	const producers, perProducer, readers = 2, 3000, 4
	tp := New(Config{Capacity: 256, ConflateAfter: 16})
	ctx, cancel := context.WithCancel(testContext(t))
	var readersWG, producersWG sync.WaitGroup
	for i := range readers {
		readersWG.Go(func() {
			laps, skipped := 0, uint64(0)
			for ctx.Err() == nil {
				r := tp.NewReader()
				if checkNoTradeHoles(t, ctx, r, 1+i%3) {
					laps++
				}
				skipped += r.Stats().Skipped
				r.Close()
			}
			t.Logf("reader %d: lapped %d times, skipped %d quotes", i, laps, skipped)
		})
	}
	for p := range producers {
		producersWG.Go(func() {
			sym := fmt.Sprint("P", p)
			for n := range perProducer {
				tp.Append(trade(sym, float64(n)), quote(sym, float64(n)))
			}
		})
	}
	producersWG.Wait()
	cancel()
	readersWG.Wait()
}

// checkNoTradeHoles reads r until ctx ends or r is lapped, checking that
// Seqs increase, each symbol's trades arrive without a gap and its quotes
// never go backwards. It reports whether r was lapped.
func checkNoTradeHoles(t *testing.T, ctx context.Context, r *Reader, batch int) (lapped bool) {
	lastSeq := r.Stats().Cursor
	nextTrade := map[string]float64{}
	lastQuote := map[string]float64{}
	buf := make([]tvbridge.TapeEntry, 0, batch)
	for {
		var err error
		buf, err = r.Next(ctx, buf[:0])
		switch {
		case errors.Is(err, tvbridge.ErrTooSlow):
			return true
		case errors.Is(err, context.Canceled):
			return false
		case err != nil:
			t.Error(err)
			return false
		}
		for _, e := range buf {
			if e.Seq <= lastSeq {
				t.Errorf("Seq went from %d to %d", lastSeq, e.Seq)
			}
			lastSeq = e.Seq
			sym := e.Tick.Symbol
			switch e.Tick.Kind {
			case tvbridge.TickTrade:
				if want, seen := nextTrade[sym]; seen && e.Tick.Price != want {
					t.Errorf("%s: trade %v after %v, a trade was lost", sym, e.Tick.Price, want-1)
				}
				nextTrade[sym] = e.Tick.Price + 1
			case tvbridge.TickQuote:
				if e.Tick.Bid < lastQuote[sym] {
					t.Errorf("%s: quote went back from %v to %v", sym, lastQuote[sym], e.Tick.Bid)
				}
				lastQuote[sym] = e.Tick.Bid
			}
		}
	}
}

func TestPollDoesNotWait(t *testing.T) {
	tp := New(Config{Capacity: 8})
	r := tp.NewReader()
	defer r.Close()
	buf := make([]tvbridge.TapeEntry, 0, 4)
	got, wake, err := r.Poll(buf)
	if err != nil || len(got) != 0 || wake == nil {
		t.Fatalf("empty tape: %d entries, wake %v, err %v", len(got), wake != nil, err)
	}
	tp.Append(tvbridge.Tick{Kind: tvbridge.TickTrade, Symbol: "A", Time: time.Unix(1, 0), Price: 1, Size: 1})
	select {
	case <-wake:
	default:
		t.Fatal("Append did not close the wake channel")
	}
	got, wake, err = r.Poll(buf)
	if err != nil || len(got) != 1 || wake != nil || got[0].Seq != 1 {
		t.Fatalf("after Append: %+v, wake %v, err %v", got, wake != nil, err)
	}
	for i := 0; i < 10; i++ { // lap the reader
		tp.Append(tvbridge.Tick{Kind: tvbridge.TickTrade, Symbol: "A", Time: time.Unix(2, 0), Price: 1, Size: 1})
	}
	if _, _, err := r.Poll(buf); !errors.Is(err, tvbridge.ErrTooSlow) {
		t.Fatalf("lapped reader: %v", err)
	}
}

// PollLines delivers exactly the lines Next would, in order, skips the same
// superseded quotes, and reports a lap like Poll.
func TestPollLinesMatchesNext(t *testing.T) {
	tp := New(Config{Capacity: 64, ConflateAfter: 4})
	byEntries, byLines := tp.NewReader(), tp.NewReader()
	_, _, _, wake, err := byLines.PollLines(nil, 8)
	if err != nil || wake == nil {
		t.Fatalf("empty tape: wake %v, err %v", wake != nil, err)
	}
	for i := range 20 {
		tp.Append(quote("A", float64(i)), trade("B", float64(i)))
	}
	select {
	case <-wake:
	default:
		t.Fatal("Append did not close the wake channel")
	}
	var want []byte
	var wantLast uint64
	for _, e := range readN(t, byEntries, 22, 64) { // 18 A quotes are superseded and far enough behind
		want = append(want, e.Line...)
		wantLast = e.Seq
	}
	var got []byte
	var total int
	for total < 22 {
		var n int
		var last uint64
		got, n, last, _, err = byLines.PollLines(got, 5)
		if err != nil || n == 0 || n > 5 {
			t.Fatalf("PollLines took %d entries, err %v", n, err)
		}
		if total += n; total == 22 && last != wantLast {
			t.Errorf("last Seq %d, want %d", last, wantLast)
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("PollLines lines differ from Next's:\n%s\nwant\n%s", got, want)
	}
	if s, w := byLines.Stats(), byEntries.Stats(); s != w {
		t.Errorf("stats %+v, Next's reader %+v", s, w)
	}
	if _, _, _, _, err := byLines.PollLines(nil, 0); err == nil {
		t.Error("PollLines with max 0 should fail: it could never deliver")
	}
	for range 70 { // lap both
		tp.Append(trade("B", 1))
	}
	if _, n, _, _, err := byLines.PollLines(nil, 8); !errors.Is(err, tvbridge.ErrTooSlow) || n != 0 {
		t.Fatalf("lapped reader: %d entries, err %v", n, err)
	}
}

package jetstream

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/jetstream/natstest"
	"tvbridge/tape"
	"tvbridge/trading"
)

// Two nodes that start following at different points number their tapes
// differently, but give every entry the same position; Trades replays
// exactly the trades of a range of positions.
func TestPositionsAgreeAcrossNodes(t *testing.T) {
	url := natstest.URL(t)
	n := natstest.Stream(t, url)
	p := newPublisher(t, testLog(t, url, n, "ingester"), 1)
	ctx := ctxT(t, 20*time.Second)
	r := rand.New(rand.NewPCG(9, 9))
	for i := 1; i <= 60; i++ {
		ticks, minutes := batchOf(r, i)
		if i == 30 { // a tick the tape cannot encode: that message's entries have no position
			ticks = append(ticks, tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: "F", Symbol: "F", Price: math.NaN()})
		}
		if err := p.Publish(ctx, ticks, minutes); err != nil {
			t.Fatal(err)
		}
	}

	type node struct {
		tape    *tape.Tape
		reader  *tape.Reader
		pos     *Positions
		f       *Follower
		entries []tvbridge.TapeEntry
	}
	var nodes [2]node
	for i, after := range []uint64{0, 20} { // the second starts after message 20
		tp := tape.New(tape.Config{})
		nodes[i] = node{tape: tp, reader: tp.NewReader(), pos: &Positions{}}
		feed := &TapeFeeder{Tape: nodes[i].tape, Positions: nodes[i].pos}
		nodes[i].f = testLog(t, url, n, "node").NewFollower(FollowerOptions{StartAfter: after, Apply: feed.Apply})
		runFollower(t, nodes[i].f)
	}
	for i := range nodes {
		nd := &nodes[i]
		waitFor(t, "the followers", 10*time.Second, func() bool { return nd.f.LastApplied() == 60 })
		nd.entries = readLines(t, nd.reader, int(nd.tape.LastSeq()))
	}
	if nodes[0].tape.LastSeq() == nodes[1].tape.LastSeq() {
		t.Fatal("the test needs tapes numbered differently")
	}
	if nodes[0].pos.Inexact() != 1 || nodes[1].pos.Inexact() != 1 {
		t.Fatalf("inexact messages %d, %d, want 1", nodes[0].pos.Inexact(), nodes[1].pos.Inexact())
	}

	// The same line has the same position on both nodes.
	byPos := map[uint64]string{}
	var trades []uint64 // node 0's trades with a position, in order
	for seq := uint64(1); seq <= nodes[0].tape.LastSeq(); seq++ {
		e := nodes[0].entries[seq-1]
		pos, ok := nodes[0].pos.Of(seq)
		if PositionSeq(pos) == 30 || !ok {
			if ok || PositionSeq(pos) == 30 {
				t.Fatalf("entry %d of the inexact message has position %d", seq, pos)
			}
			continue
		}
		byPos[pos] = string(e.Line)
		if e.Tick.Kind == tvbridge.TickTrade {
			trades = append(trades, pos)
		}
	}
	matched := 0
	for seq := uint64(1); seq <= nodes[1].tape.LastSeq(); seq++ {
		pos, ok := nodes[1].pos.Of(seq)
		if !ok {
			continue
		}
		if line := string(nodes[1].entries[seq-1].Line); byPos[pos] != line {
			t.Fatalf("position %d: node 1 has %q, node 0 %q", pos, line, byPos[pos])
		}
		matched++
	}
	if matched < 100 {
		t.Fatalf("only %d entries compared", matched)
	}
	if _, ok := nodes[0].pos.Of(nodes[0].tape.LastSeq() + 1); ok {
		t.Fatal("a position for an entry not on the tape")
	}

	// Trades after a position in message 10, through one in message 50.
	after, through := trades[len(trades)/6], trades[len(trades)*5/6]
	var got []uint64
	if err := testLog(t, url, n, "replay").Trades(ctx, after, through, func(pos uint64, tick tvbridge.Tick) {
		if tick.Kind != tvbridge.TickTrade {
			t.Errorf("Trades delivered a %v tick", tick.Kind)
		}
		if PositionSeq(pos) != 30 {
			got = append(got, pos)
		}
	}); err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for _, pos := range trades {
		if pos > after && pos <= through {
			want = append(want, pos)
		}
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("Trades gave %d trades, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("trade %d at %d, want %d", i, got[i], want[i])
		}
	}
}

// Trades reports what retention removed, after replaying what is left.
func TestTradesLost(t *testing.T) {
	url := natstest.URL(t)
	n := natstest.Stream(t, url)
	l := testLog(t, url, n, "I", func(o *Options) { o.MaxBytes = 64 << 10 })
	p := newPublisher(t, l, 1)
	ctx := ctxT(t, 20*time.Second)
	r := rand.New(rand.NewPCG(6, 6))
	for i := 1; i <= 300; i++ {
		ticks, m := batchOf(r, i)
		if err := p.Publish(ctx, ticks, m); err != nil {
			t.Fatal(err)
		}
	}
	info, err := l.Info(ctx)
	if err != nil || info.State.FirstSeq <= 2 {
		t.Fatalf("state %+v, %v", info.State, err)
	}
	seen := 0
	err = l.Trades(ctx, Position(1, 0), Position(300, 0), func(pos uint64, _ tvbridge.Tick) {
		if PositionSeq(pos) < info.State.FirstSeq {
			t.Fatalf("a trade at %d, before the first retained message %d", pos, info.State.FirstSeq)
		}
		seen++
	})
	if !errors.Is(err, ErrTradesLost) || seen == 0 {
		t.Fatalf("Trades = %v after %d trades, want ErrTradesLost after the retained ones", err, seen)
	}
}

func TestPositionsForget(t *testing.T) {
	p := &Positions{Keep: 4}
	for i := range uint64(10) {
		p.add(i+1, 2, 2*i+1, 2*i+2) // message i+1 holds entries 2i+1, 2i+2
	}
	if _, ok := p.Of(1); ok {
		t.Error("the oldest entry is still known")
	}
	if pos, ok := p.Of(20); !ok || pos != Position(10, 1) {
		t.Errorf("Of(20) = %d, %v, want %d", pos, ok, Position(10, 1))
	}
	if len(p.batches) > 4 {
		t.Errorf("%d messages kept, Keep 4", len(p.batches))
	}
}

var _ trading.SharedTape = SharedTape{}

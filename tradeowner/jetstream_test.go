package tradeowner

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/jetstream"
	"tvbridge/jetstream/natstest"
	"tvbridge/tape"
)

// jsLog is a test's JetStream stream: one publisher (the ingester), and a
// follower per node feeding its tape, as in cluster mode.
type jsLog struct {
	url   string
	names natstest.Names
	pub   *jetstream.Publisher
}

// withJetStream feeds the nodes' tapes from a fresh JetStream stream; the
// cluster's trades are published to it.
func (c *testCluster) withJetStream() {
	t := c.t
	url := natstest.URL(t)
	c.js = &jsLog{url: url, names: natstest.Stream(t, url)}
	l := c.js.open(t, "ingester")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := l.NewPublisher(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.js.pub = pub
}

func (j *jsLog) open(t *testing.T, node string) *jetstream.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := jetstream.Open(ctx, j.url, jetstream.Options{Stream: j.names.Stream, Subject: j.names.Prefix, NodeID: node,
		MaxBytes: 64 << 20, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// follow feeds tp from the stream's start, as a node does, until the test
// ends.
func (j *jsLog) follow(t *testing.T, node string, tp *tape.Tape) jetstream.SharedTape {
	l := j.open(t, node)
	pos := &jetstream.Positions{}
	feed := &jetstream.TapeFeeder{Tape: tp, Positions: pos}
	f := l.NewFollower(jetstream.FollowerOptions{Apply: feed.Apply})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("%s: follower: %v", node, err)
		}
	})
	return jetstream.SharedTape{Log: l, Positions: pos}
}

func (j *jsLog) publish(t *testing.T, ticks ...tvbridge.Tick) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.pub.Publish(ctx, ticks, nil); err != nil {
		t.Fatal(err)
	}
}

// TestFailoverReplaysTheGap: the trading owner goes away; while no node
// owns trading, the price goes through a held stop and a resting paper
// limit and comes back. The next owner replays the trades after its
// predecessor's mark from JetStream: the stop triggers and the limit fills,
// which checking the last price and the book would not do.
func TestFailoverReplaysTheGap(t *testing.T) {
	c := newCluster(t)
	c.withJetStream()
	a := c.add("a")
	_, epoch := c.waitOwner(0)
	acct := a.account(t, "alice")
	a.buyTen(t, "alice", acct)
	stop := a.place(t, "alice", acct, "qty", "10", "side", "sell", "type", "stop", "stopPrice", "95", "durationType", "GTC")
	limit := a.place(t, "alice", acct, "qty", "10", "side", "buy", "type", "limit", "limitPrice", "95", "durationType", "GTC")
	c.trade(100)
	a.stop() // its last act: the mark, through the trade at 100

	c.trade(94.5) // no owner: nobody evaluates these
	c.trade(100.5)
	b := c.add("b")
	b.setBook(100.5)
	owner, _ := c.waitOwner(epoch)
	if owner != b {
		t.Fatalf("owner %s", owner.name)
	}
	eventually(t, 10*time.Second, func() error {
		orders := b.orders(t, "alice", acct)
		if o := orders[stop]; o.Status != "filled" {
			return fmt.Errorf("stop %+v", o)
		}
		if o := orders[limit]; o.Status != "filled" {
			return fmt.Errorf("limit %+v", o)
		}
		return nil
	})
	// Sold 10 by the stop, bought 10 back by the limit.
	if ps := b.positions(t, "alice", acct); len(ps) != 1 || ps[0].Qty != 10 {
		t.Fatalf("positions after the gap's fills: %+v", ps)
	}
}

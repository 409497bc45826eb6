package tradeowner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"sync"
	"testing"
	"time"

	"tvbridge/postgres"
	"tvbridge/trading"
)

// Place on one node, read on every other at once: every node answers
// from the one owner.
func TestReadYourWritesAcrossNodes(t *testing.T) {
	c := newCluster(t)
	for _, name := range []string{"a", "b", "c"} {
		c.add(name)
	}
	owner, _ := c.waitOwner(0)
	others := c.others(owner)
	acct := others[0].account(t, "alice")
	for i := range 5 {
		from, to := others[i%2], others[(i+1)%2]
		id := from.place(t, "alice", acct, "qty", "10", "side", "buy", "type", "limit", "limitPrice", fmt.Sprint(90+i),
			"durationType", "GTC")
		if o, ok := to.orders(t, "alice", acct)[id]; !ok || o.Status != "working" {
			t.Fatalf("order %s placed on %s: on %s it is %+v (listed %v)", id, from.name, to.name, o, ok)
		}
		if _, ok := owner.orders(t, "alice", acct)[id]; !ok {
			t.Fatalf("order %s not on the owner", id)
		}
	}
	// Cancel on one node, gone (cancelled) on the other at once.
	ids := others[1].orders(t, "alice", acct)
	for id := range ids {
		others[0].call(t, "DELETE", "/accounts/"+acct+"/orders/"+id, "alice", nil).ok(t, nil)
		if o := others[1].orders(t, "alice", acct)[id]; o.Status != "cancelled" {
			t.Fatalf("cancelled on %s, on %s: %+v", others[0].name, others[1].name, o)
		}
		break
	}
	// The Authorization header went through: another user sees nothing
	// of alice's, and no user is refused.
	if r := others[0].call(t, "GET", "/accounts/"+acct+"/orders", "bob", nil); r.S != "error" {
		t.Fatalf("bob read alice's orders: %+v", r)
	}
	if r := others[0].call(t, "GET", "/accounts", "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s", r.Status, r.Errmsg)
	}
	for _, n := range others {
		if st := n.node.Status(); st.Stats.Forwarded == 0 || st.Stats.Local != 0 || st.Serves {
			t.Errorf("%s: %+v", n.name, st.Stats)
		}
	}
	if st := owner.node.Status(); st.Stats.Local == 0 || !st.Serves {
		t.Errorf("owner %s: %+v", owner.name, st)
	}
}

// The same requestId sent to two nodes at the same moment places one
// order, and both get its id.
func TestSameRequestIDOnTwoNodes(t *testing.T) {
	c := newCluster(t)
	for _, name := range []string{"a", "b", "c"} {
		c.add(name)
	}
	owner, _ := c.waitOwner(0)
	nodes := []*testNode{c.others(owner)[0], c.others(owner)[1], owner}
	acct := nodes[0].account(t, "alice")
	const rounds = 20
	for i := range rounds {
		form := neturl.Values{"instrument": {"SBER"}, "qty": {"10"}, "side": {"buy"}, "type": {"limit"},
			"limitPrice": {"80"}, "durationType": {"GTC"}, "requestId": {fmt.Sprintf("req-%d", i)}}
		var wg sync.WaitGroup
		got := make([]string, 3)
		for j, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var d struct {
					OrderID string `json:"orderId"`
				}
				r, err := n.do("POST", "/accounts/"+acct+"/orders", "alice", form)
				if err == nil && (r.S != "ok" || json.Unmarshal(r.D, &d) != nil) {
					err = fmt.Errorf("answer %d %s %s", r.Status, r.S, r.Errmsg)
				}
				if err != nil {
					t.Error(err)
				}
				got[j] = d.OrderID
			}()
		}
		wg.Wait()
		if got[0] == "" || got[0] != got[1] || got[1] != got[2] {
			t.Fatalf("round %d: order ids %q", i, got)
		}
	}
	if n := len(nodes[1].orders(t, "alice", acct)); n != rounds {
		t.Fatalf("%d orders for %d request ids", n, rounds)
	}
}

// The owner steps down (its Run ends): another node takes over with a
// higher epoch; acknowledged orders, fills and positions survive; a held
// stop triggers on a trade after the failover; requests sent during the
// failover wait for the new owner instead of failing.
func TestFailoverKeepsStateAndStops(t *testing.T) {
	c := newCluster(t)
	for _, name := range []string{"a", "b", "c"} {
		c.add(name)
	}
	old, epoch := c.waitOwner(0)
	entry := c.others(old)[0]
	acct := entry.account(t, "alice")

	// A filled market order (a position), a working limit and a held stop.
	entry.buyTen(t, "alice", acct)
	limit := entry.place(t, "alice", acct, "qty", "10", "side", "buy", "type", "limit", "limitPrice", "90", "durationType", "GTC")
	stop := entry.place(t, "alice", acct, "qty", "20", "side", "buy", "type", "stop", "stopPrice", "105", "durationType", "GTC",
		"requestId", "stop-1")
	before := entry.orders(t, "alice", acct)

	// Requests in flight during the failover.
	results := make(chan reply, 10)
	old.stop() // releases the lease: the fastest failover
	for range 10 {
		go func() {
			r, err := entry.do("GET", "/accounts/"+acct+"/orders", "alice", nil)
			if err != nil {
				r.Errmsg = err.Error()
			}
			results <- r
		}()
	}
	owner, epoch2 := c.waitOwner(epoch, c.others(old)...)
	if epoch2 <= epoch {
		t.Fatalf("new epoch %d after %d", epoch2, epoch)
	}
	for range 10 {
		if r := <-results; r.Status != http.StatusOK || r.S != "ok" {
			t.Fatalf("a request during the failover: %d %s", r.Status, r.Errmsg)
		}
	}
	for _, n := range c.others(old) {
		after := n.orders(t, "alice", acct)
		for id, o := range before {
			if after[id].Status != o.Status {
				t.Fatalf("on %s after failover, order %s is %+v, was %+v", n.name, id, after[id], o)
			}
		}
		if ps := n.positions(t, "alice", acct); len(ps) != 1 || ps[0].Qty != 10 {
			t.Fatalf("positions on %s after failover: %+v", n.name, ps)
		}
	}
	// The same requestId again, on the new owner: the same order.
	again := entry.place(t, "alice", acct, "qty", "20", "side", "buy", "type", "stop", "stopPrice", "105", "durationType", "GTC",
		"requestId", "stop-1")
	if again != stop {
		t.Fatalf("requestId retried after failover placed %s, first was %s", again, stop)
	}
	// The held stop triggers on the new owner's tape.
	c.trade(106)
	eventually(t, 10*time.Second, func() error {
		o := owner.orders(t, "alice", acct)[stop]
		if o.Status != "filled" {
			c.trade(106)
			return fmt.Errorf("stop %+v", o)
		}
		return nil
	})
	if ps := entry.positions(t, "alice", acct); len(ps) != 1 || ps[0].Qty != 30 {
		t.Fatalf("positions after the stop filled: %+v", ps)
	}
	if o := entry.orders(t, "alice", acct)[limit]; o.Status != "working" {
		t.Fatalf("limit after failover: %+v", o)
	}
}

// An owner whose database calls hang (paused) stops serving before its
// lease can expire; another node takes over with a higher epoch; the
// paused owner's writes, once it wakes, are refused (fenced), and it
// refuses forwarded requests with 421 instead of serving them.
func TestPausedOwnerIsFenced(t *testing.T) {
	c := newCluster(t)
	for _, name := range []string{"a", "b", "c"} {
		c.add(name)
	}
	old, epoch := c.waitOwner(0)
	entry := c.others(old)[0]
	acct := entry.account(t, "alice")
	first := entry.place(t, "alice", acct, "qty", "10", "side", "buy", "type", "limit", "limitPrice", "90", "durationType", "GTC")
	stale := old.lastReign()
	if stale.store == nil {
		t.Fatal("the owner built no reign")
	}

	old.pg.Pause()
	// A write of the old owner caught in the pause.
	pending := make(chan error, 1)
	go func() {
		pending <- stale.store.Commit(context.Background(), trading.Change{Seq: 1 << 40})
	}()
	eventually(t, 5*time.Second, func() error {
		if _, ok := old.node.Owner(); ok {
			return errors.New("the paused owner still serves locally")
		}
		return nil
	})
	owner, epoch2 := c.waitOwner(epoch, c.others(old)...)
	if epoch2 <= epoch {
		t.Fatalf("epoch %d after %d", epoch2, epoch)
	}
	// The cluster goes on: place on the new owner through another node.
	second := entry.place(t, "alice", acct, "qty", "10", "side", "buy", "type", "limit", "limitPrice", "91", "durationType", "GTC")

	old.pg.Resume()
	select {
	case err := <-pending:
		if !errors.Is(err, postgres.ErrFenced) {
			t.Fatalf("the paused owner's write after the takeover: %v, want ErrFenced", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the paused owner's write never returned")
	}
	if err := stale.store.Commit(context.Background(), trading.Change{Seq: 1 << 41}); !errors.Is(err, postgres.ErrFenced) {
		t.Fatalf("a later write of the old owner: %v, want ErrFenced", err)
	}
	// The woken node refuses a forwarded request, unprocessed...
	r := old.call(t, "GET", "/accounts/"+acct+"/orders", "alice", nil, HeaderForwarded, "x")
	if r.Status != http.StatusMisdirectedRequest || r.Header.Get(HeaderNotOwner) == "" {
		t.Fatalf("forwarded to the former owner: %d %s", r.Status, r.Errmsg)
	}
	// ...and forwards its own clients' requests to the new owner.
	orders := old.orders(t, "alice", acct)
	if _, ok := orders[first]; !ok {
		t.Fatalf("order %s lost", first)
	}
	if _, ok := orders[second]; !ok {
		t.Fatalf("order %s placed on the new owner %s not seen through the old one", second, owner.name)
	}
}

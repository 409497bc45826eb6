package postgres

import (
	"errors"
	"testing"
	"time"
)

func TestNodesRegisterLookupList(t *testing.T) {
	db, url := openTestDB(t)
	a, b := db.Nodes(), openURL(t, url).Nodes() // two nodes

	if _, ok, err := a.Lookup(ctx, "node-1"); err != nil || ok {
		t.Fatalf("Lookup of an unknown node = %v, %v", ok, err)
	}
	if err := a.Register(ctx, "", "http://x", "i"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Register without an id = %v, want ErrInvalid", err)
	}
	if err := a.Register(ctx, "node-1", "http://10.0.0.1:8080", "node-1#aa"); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(ctx, "node-2", "http://10.0.0.2:8080", "node-2#bb"); err != nil {
		t.Fatal(err)
	}
	n1, ok, err := b.Lookup(ctx, "node-1")
	if err != nil || !ok || n1.URL != "http://10.0.0.1:8080" || n1.Instance != "node-1#aa" ||
		n1.Heartbeat.Location() != time.UTC || n1.Age < 0 || n1.Age > time.Minute {
		t.Fatalf("Lookup = %+v, %v, %v", n1, ok, err)
	}
	// A heartbeat of the same instance keeps Started; a new instance (a
	// restart) moves it, and the URL follows the last registration.
	if err := a.Register(ctx, "node-1", "http://10.0.0.1:8080", "node-1#aa"); err != nil {
		t.Fatal(err)
	}
	again, _, _ := a.Lookup(ctx, "node-1")
	if !again.Started.Equal(n1.Started) || again.Heartbeat.Before(n1.Heartbeat) {
		t.Fatalf("heartbeat: %+v, was %+v", again, n1)
	}
	if err := a.Register(ctx, "node-1", "http://10.0.0.9:8080", "node-1#cc"); err != nil {
		t.Fatal(err)
	}
	moved, _, _ := a.Lookup(ctx, "node-1")
	if moved.URL != "http://10.0.0.9:8080" || moved.Instance != "node-1#cc" || moved.Started.Before(again.Heartbeat) {
		t.Fatalf("restart: %+v", moved)
	}
	list, err := b.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "node-1" || list[1].ID != "node-2" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	// Remove by a stale instance leaves the successor's row.
	if err := a.Remove(ctx, "node-1", "node-1#aa"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Lookup(ctx, "node-1"); !ok {
		t.Fatal("Remove by an old instance removed the new one's row")
	}
	if err := a.Remove(ctx, "node-1", "node-1#cc"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Lookup(ctx, "node-1"); ok {
		t.Fatal("Remove left the row")
	}
}

func TestNodesLeaseOwner(t *testing.T) {
	db, _ := openTestDB(t)
	nodes, leases := db.Nodes(), db.Leases()

	o, err := nodes.LeaseOwner(ctx, "trading")
	if err != nil || o.Holder != "" || o.Live || o.URL != "" || o.Lease != "trading" {
		t.Fatalf("owner of a lease never taken = %+v, %v", o, err)
	}
	// A node id may itself contain '#': only the last one starts the nonce.
	if got := HolderNode("eu#1#0a0b"); got != "eu#1" {
		t.Fatalf("HolderNode = %q", got)
	}
	if err := nodes.Register(ctx, "eu#1", "http://eu1:8080", "eu#1#0a0b"); err != nil {
		t.Fatal(err)
	}
	epoch, ok, err := leases.Acquire(ctx, "trading", "eu#1#0a0b", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	o, err = nodes.LeaseOwner(ctx, "trading")
	if err != nil || o.Holder != "eu#1#0a0b" || o.NodeID != "eu#1" || o.Epoch != epoch || !o.Live ||
		o.URL != "http://eu1:8080" || o.Instance != "eu#1#0a0b" || time.Until(o.Expires) < 30*time.Second {
		t.Fatalf("LeaseOwner = %+v, %v", o, err)
	}
	// Released: the holder stays, but the lease is not live.
	if err := leases.Release(ctx, "trading", "eu#1#0a0b", epoch); err != nil {
		t.Fatal(err)
	}
	if o, err = nodes.LeaseOwner(ctx, "trading"); err != nil || o.Live || o.Holder != "eu#1#0a0b" {
		t.Fatalf("after Release: %+v, %v", o, err)
	}
	// A holder whose node never registered: live, without a URL.
	if _, ok, err := leases.Acquire(ctx, "trading", "ghost#ff", time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if o, err = nodes.LeaseOwner(ctx, "trading"); err != nil || !o.Live || o.NodeID != "ghost" || o.URL != "" {
		t.Fatalf("unregistered holder: %+v, %v", o, err)
	}
}

package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"tvbridge/clock"
)

func TestPasswordHash(t *testing.T) {
	phc, err := hashPassword([]byte("correct horse"), testKDF)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", phc)
	}
	again, _ := hashPassword([]byte("correct horse"), testKDF)
	if again == phc {
		t.Error("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false} {
		if ok, err := verifyPassword([]byte(pw), phc); err != nil || ok != want {
			t.Errorf("verify %q: %v %v", pw, ok, err)
		}
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, err := verifyPassword([]byte("x"), bad); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

func TestKDFGateHonoursCancellation(t *testing.T) {
	g := make(kdfGate, 1)
	g <- struct{}{} // the only slot is busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.verify(ctx, []byte("x"), "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"); err == nil {
		t.Fatal("verify ran without a slot")
	}
}

func TestLimiter(t *testing.T) {
	c := clock.NewFake(t0)
	m := newMemFailures()
	l := newLimiter(m, ScopeLogin, c, 3, 10*time.Minute)
	blocked := func(key string) (time.Duration, bool) {
		t.Helper()
		left, b, err := l.blocked(key)
		if err != nil {
			t.Fatal(err)
		}
		return left, b
	}
	fail := func(key string) {
		t.Helper()
		if err := l.fail(key); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if _, b := blocked("k"); b {
			t.Fatalf("blocked after %d failures", i)
		}
		fail("k")
		c.Advance(time.Minute)
	}
	left, b := blocked("k")
	if !b || left != 7*time.Minute {
		t.Fatalf("after 3 failures: %v %v", left, b)
	}
	// Another scope with the same key is counted apart.
	if n, _, _ := m.Failures(ScopeAddress, "k", c.Now(), 10*time.Minute); n != 0 {
		t.Fatalf("address scope counted %d", n)
	}
	c.Advance(7 * time.Minute)
	if _, b := blocked("k"); b {
		t.Fatal("still blocked after the window")
	}
	fail("k")
	if err := l.reset("k"); err != nil {
		t.Fatal(err)
	}
	if len(m.entries) != 0 {
		t.Fatal("reset kept the entry")
	}
	// The map never grows past its cap; expired windows go first.
	m.maxKeys = 2
	fail("a")
	c.Advance(11 * time.Minute)
	fail("b")
	fail("c")
	fail("d")
	key := func(k string) failureKey { return failureKey{ScopeLogin, k} }
	if len(m.entries) != 2 || m.entries[key("a")] != nil || m.entries[key("d")] == nil {
		t.Fatalf("entries after overflow: %v", m.entries)
	}
	c.Advance(11 * time.Minute)
	if err := m.PruneFailures(c.Now(), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(m.entries) != 0 {
		t.Fatalf("prune kept %v", m.entries)
	}
}

func TestRemoteAddress(t *testing.T) {
	for remote, want := range map[string]string{
		"10.1.2.3:5555":              "10.1.2.3",
		"[::ffff:10.1.2.3]:1":        "10.1.2.3",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"not an address":             "not an address",
	} {
		r := httptestRequest(remote)
		if got := remoteAddress(r); got != want {
			t.Errorf("%s: %s, want %s", remote, got, want)
		}
	}
}

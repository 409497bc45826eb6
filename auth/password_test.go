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
	l := newLimiter(c, 3, 10*time.Minute)
	for i := 0; i < 3; i++ {
		if _, blocked := l.blocked("k"); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail("k")
		c.Advance(time.Minute)
	}
	left, blocked := l.blocked("k")
	if !blocked || left != 7*time.Minute {
		t.Fatalf("after 3 failures: %v %v", left, blocked)
	}
	c.Advance(7 * time.Minute)
	if _, blocked := l.blocked("k"); blocked {
		t.Fatal("still blocked after the window")
	}
	l.fail("k")
	l.reset("k")
	if len(l.entries) != 0 {
		t.Fatal("reset kept the entry")
	}
	// The map never grows past its cap; expired windows go first.
	l.maxKeys = 2
	l.fail("a")
	c.Advance(11 * time.Minute)
	l.fail("b")
	l.fail("c")
	l.fail("d")
	if len(l.entries) != 2 || l.entries["a"] != nil || l.entries["d"] == nil {
		t.Fatalf("entries after overflow: %v", l.entries)
	}
	c.Advance(11 * time.Minute)
	l.prune()
	if len(l.entries) != 0 {
		t.Fatalf("prune kept %v", l.entries)
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

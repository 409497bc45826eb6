package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
)

// fakeFamilies is a FamilyChecker over a fixed table: family -> MinSeq.
type fakeFamilies map[string]uint64

func (f fakeFamilies) LiveFamilies(ids []string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, id := range ids {
		if min, ok := f[id]; ok {
			out[id] = min
		}
	}
	return out, nil
}

type failingFamilies struct{}

func (failingFamilies) LiveFamilies([]string) (map[string]uint64, error) {
	return nil, errors.New("database down")
}

// checkWatched ends exactly the requests in flight whose family the store
// no longer has (revoked elsewhere) or whose token it retired, with
// ErrUnknownToken; a failing store ends nothing.
func TestCheckWatchedEndsRevokedRequests(t *testing.T) {
	s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	open := func(family string, seq uint64) *requestCtx {
		rc := &requestCtx{parent: context.Background(), grant: &Grant{principal: context.Background()},
			w: watch{family: family, seq: seq}}
		rc.w.ctx = rc
		s.watch.add(&rc.w)
		return rc
	}
	live, revoked, retired, current := open("live", 3), open("revoked", 1), open("fam", 1), open("fam", 2)
	if err := s.checkWatched(failingFamilies{}); err == nil {
		t.Fatal("a failing store's error was not returned")
	}
	for _, rc := range []*requestCtx{live, revoked, retired, current} {
		if rc.Err() != nil {
			t.Fatal("a failing store ended a request")
		}
	}
	if err := s.checkWatched(fakeFamilies{"live": 0, "fam": 2}); err != nil {
		t.Fatal(err)
	}
	for name, rc := range map[string]*requestCtx{"revoked": revoked, "retired": retired} {
		if !errors.Is(context.Cause(rc), ErrUnknownToken) {
			t.Errorf("%s request: cause %v, want ErrUnknownToken", name, context.Cause(rc))
		}
	}
	for name, rc := range map[string]*requestCtx{"live": live, "current": current} {
		if rc.Err() != nil {
			t.Errorf("%s request ended: %v", name, context.Cause(rc))
		}
	}
	// Nothing in flight: no look-up at all.
	s2 := &Service{}
	if err := s2.checkWatched(failingFamilies{}); err != nil {
		t.Errorf("look-up with nothing in flight: %v", err)
	}
}

// A request whose family was not looked up (it started after the look-up)
// is never ended by it, whatever the answer says.
func TestCheckWatchedLeavesUnaskedFamilies(t *testing.T) {
	s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rc := &requestCtx{parent: context.Background(), grant: &Grant{principal: context.Background()}, w: watch{family: "late", seq: 1}}
	rc.w.ctx = rc
	revoked := &requestCtx{parent: context.Background(), grant: &Grant{principal: context.Background()}, w: watch{family: "revoked", seq: 1}}
	revoked.w.ctx = revoked
	s.watch.add(&revoked.w)
	// The look-up answers for "revoked" only; "late" arrives meanwhile.
	err := s.checkWatched(lookupThen(func() { s.watch.add(&rc.w) }))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(context.Cause(revoked), ErrUnknownToken) {
		t.Errorf("revoked request: %v", context.Cause(revoked))
	}
	if rc.Err() != nil {
		t.Errorf("a request that started during the look-up was ended: %v", context.Cause(rc))
	}
}

// lookupThen is a FamilyChecker that knows no family and runs during
// before answering.
type lookupThen func()

func (f lookupThen) LiveFamilies([]string) (map[string]uint64, error) {
	f()
	return map[string]uint64{}, nil
}

package auth

import (
	"maps"
	"slices"
)

// FamilyChecker is a TokenStore that several processes share (PostgreSQL
// in a cluster) and can say which token families still exist: a family
// revoked on one node is gone for every node, but only the node that
// revoked it ends its requests in flight at once. Service polls it (see
// Config.RevocationPoll) to end the others'.
type FamilyChecker interface {
	// LiveFamilies returns, for each of ids that still exists, its MinSeq
	// (tokens of the family with a lower Seq are retired). A family absent
	// from the map was revoked (or its user or client removed).
	LiveFamilies(ids []string) (map[string]uint64, error)
}

// maxPolledFamilies bounds one poll's look-up; the rest wait for the next.
const maxPolledFamilies = 10_000

// pollRevocations ends the requests in flight whose token family was
// revoked, or whose token was retired, by another process, every
// Config.RevocationPoll.
func (s *Service) pollRevocations(fc FamilyChecker) {
	defer close(s.pollDone)
	t := s.cfg.Clock.NewTicker(s.cfg.RevocationPoll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C():
		}
		err := s.checkWatched(fc)
		switch {
		case err != nil && !failing:
			s.log.Error("auth: checking the tokens of open requests for revocation failed; retrying", "err", err)
		case err == nil && failing:
			s.log.Info("auth: checking the tokens of open requests for revocation works again")
		}
		failing = err != nil
	}
}

// checkWatched looks up the families of the requests in flight and ends
// those revoked or retired.
func (s *Service) checkWatched(fc FamilyChecker) error {
	seqs := s.watch.families(maxPolledFamilies)
	if len(seqs) == 0 {
		return nil
	}
	live, err := fc.LiveFamilies(slices.Sorted(maps.Keys(seqs)))
	if err != nil {
		return err
	}
	gone := func(w *watch) bool {
		if _, asked := seqs[w.family]; !asked {
			return false // started after the look-up: not answered for
		}
		min, ok := live[w.family]
		return !ok || w.seq < min
	}
	for fam, seq := range seqs {
		if min, ok := live[fam]; !ok || seq < min {
			s.watch.cancel(gone, ErrUnknownToken)
			return nil
		}
	}
	return nil
}

// families returns the token families of the requests in flight (at most
// max), each with the lowest Seq among its requests.
func (ws *watchers) families(max int) map[string]uint64 {
	out := map[string]uint64{}
	for i := range ws.shards {
		sh := &ws.shards[i]
		sh.mu.Lock()
		for w := range sh.m {
			if cur, ok := out[w.family]; !ok || w.seq < cur {
				if !ok && len(out) >= max {
					continue
				}
				out[w.family] = w.seq
			}
		}
		sh.mu.Unlock()
	}
	return out
}

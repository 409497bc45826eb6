package bolt

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestStatsCountCommitsAndSize(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "bars.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := s.Stats()
	if err := s.SetFirstBar(context.Background(), "F", time.Unix(1_700_000_040, 0)); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	if after.Commits.Count != before.Commits.Count+1 || after.Commits.Sum <= 0 {
		t.Errorf("commits %d -> %d (sum %v), want one more", before.Commits.Count, after.Commits.Count, after.Commits.Sum)
	}
	if after.SizeBytes <= 0 {
		t.Errorf("size %d", after.SizeBytes)
	}
}

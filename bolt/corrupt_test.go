package bolt

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDamagedPagesNeverPanic overwrites one page of a store file at a time
// with random bytes and uses the store: Open may refuse the file and reads
// may fail, but nothing may panic (a panic would take /history down).
func TestDamagedPagesNeverPanic(t *testing.T) {
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	s, err := Open(orig, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		figi := fmt.Sprintf("F%02d", i)
		if _, err := s.PutMinutes(ctx, figi, minutes(t10, 100, float64(i)), nil); err != nil {
			t.Fatal(err)
		}
		if err := s.SetFirstBar(ctx, figi, t10); err != nil {
			t.Fatal(err)
		}
	}
	pageSize := s.db.Info().PageSize
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clean, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	pages := len(clean) / pageSize
	const tries = 40 // a sample keeps the test fast; the seed makes it repeatable
	failed := 0
	for range tries {
		page := 2 + r.IntN(pages-2) // pages 0 and 1 are the checksummed meta pages
		damaged := append([]byte(nil), clean...)
		for i := page * pageSize; i < (page+1)*pageSize; i++ {
			damaged[i] = byte(r.Uint32())
		}
		path := filepath.Join(dir, fmt.Sprintf("damaged%d.db", page))
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		if useDamaged(t, path) != nil {
			failed++
		}
	}
	t.Logf("%d of %d damaged files reported an error; the others damaged pages these reads never visit", failed, tries)
}

// useDamaged opens path and reads everything, returning the first error.
func useDamaged(t *testing.T, path string) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("%s: panic: %v", filepath.Base(path), p)
		}
	}()
	s, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer s.Close()
	for i := range 20 {
		figi := fmt.Sprintf("F%02d", i)
		if _, err = s.Minutes(ctx, figi, day0, day0.Add(24*time.Hour)); err != nil {
			return err
		}
		if _, _, err = s.FirstBar(ctx, figi); err != nil {
			return err
		}
	}
	return nil
}

package bolt

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
	"tvbridge/internal/crashtest"
)

// The crash test runs the test binary again as a child that writes batches
// as fast as it can and prints "ack N" after batch N committed. The parent
// SIGKILLs it after a random number of acks and checks the file.
const (
	crashEnvDB    = "TVBRIDGE_BOLT_CRASH_DB"    // store path; set only in the child
	crashEnvStart = "TVBRIDGE_BOLT_CRASH_START" // first batch number the child writes
	crashFIGIs    = 8                           // instruments per batch
	crashMinutes  = 3                           // bars per instrument per batch
	crashMaxBatch = 100_000                     // the child stops by itself if never killed
)

var crashBase = time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)

func crashFIGI(i int) string { return fmt.Sprintf("CRASH%02d", i) }

// crashBatch is batch n: crashMinutes consecutive bars for each instrument,
// with values that differ per batch and instrument, and their coverage.
func crashBatch(n int) (map[string][]tvbridge.Bar, map[string][]tvbridge.Range) {
	start := crashBase.Add(time.Duration(n*crashMinutes) * time.Minute)
	bars := make(map[string][]tvbridge.Bar, crashFIGIs)
	cov := make(map[string][]tvbridge.Range, crashFIGIs)
	for i := range crashFIGIs {
		bars[crashFIGI(i)] = minutes(start, crashMinutes, float64(n)*0.37+float64(i)*1.1)
		cov[crashFIGI(i)] = []tvbridge.Range{{From: start, To: start.Add(crashMinutes * time.Minute)}}
	}
	return bars, cov
}

// TestCrashChild is the child process; it skips unless started by TestCrashRecovery.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvDB)
	if path == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	start, err := strconv.Atoi(os.Getenv(crashEnvStart))
	if err != nil {
		t.Fatalf("bad %s: %v", crashEnvStart, err)
	}
	s, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for n := start; n < start+crashMaxBatch; n++ {
		bars, cov := crashBatch(n)
		if _, err := s.PutMinutesBatch(ctx, bars, cov); err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		// os.Stdout is unbuffered: the ack leaves the process at once.
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", n); err != nil {
			t.Fatalf("ack %d: %v", n, err)
		}
	}
}

func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashEnvDB) != "" {
		t.Skip("inside the child")
	}
	const seed = 20240102
	r := rand.New(rand.NewPCG(seed, 1))
	path := filepath.Join(t.TempDir(), "bars.db")
	next := 0 // the first batch the next child writes
	for round := range 10 {
		killAfter := 1 + r.IntN(60)
		jitter := time.Duration(r.IntN(2000)) * time.Microsecond
		lastAck := runChildAndKill(t, path, next, killAfter, jitter)
		present := verifyCrashStore(t, path, lastAck)
		t.Logf("round %d (seed %d): killed after %d acks + %v; last ack %d, batches stored %d",
			round, seed, killAfter, jitter, lastAck, present)
		next = present
	}
}

// runChildAndKill starts a child writing batches from start, SIGKILLs it after killAfter
// acks plus a jitter, and returns the last number it acked.
func runChildAndKill(t *testing.T, path string, start, killAfter int, jitter time.Duration) int {
	t.Helper()
	return crashtest.KillAfterAcks(t, []string{crashEnvDB + "=" + path, crashEnvStart + "=" + strconv.Itoa(start)},
		start, killAfter, jitter)
}

// verifyCrashStore opens the store after a crash and checks that the file
// is consistent, every acknowledged batch is there byte for byte, and the
// stored batches are a gap-free prefix, each one whole. It returns how many
// batches are stored.
func verifyCrashStore(t *testing.T, path string, lastAck int) int {
	t.Helper()
	s, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	if err := s.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("bbolt consistency check: %w", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	stored := storedBatches(t, s)
	if stored <= lastAck {
		t.Fatalf("acknowledged batch %d is missing (stored batches: %d)", lastAck, stored)
	}
	end := crashBase.Add(time.Duration(stored*crashMinutes) * time.Minute)
	for i := range crashFIGIs {
		figi := crashFIGI(i)
		if err := checkRawBars(s, figi, stored); err != nil {
			t.Fatal(err)
		}
		cov, err := s.Covered(ctx, figi, crashBase, crashBase.AddDate(1, 0, 0))
		if want := []tvbridge.Range{{From: crashBase, To: end}}; err != nil || !slices.Equal(cov, want) {
			t.Fatalf("%s: coverage %v (%v), want %v", figi, cov, err, want)
		}
	}
	return stored
}

// storedBatches counts batches by the first instrument's bars; checkRawBars
// then holds every instrument to exactly that many.
func storedBatches(t *testing.T, s *Store) int {
	t.Helper()
	bars, err := s.Minutes(ctx, crashFIGI(0), crashBase, crashBase.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(bars)%crashMinutes != 0 {
		t.Fatalf("%d bars stored: a batch was written partially", len(bars))
	}
	return len(bars) / crashMinutes
}

// checkRawBars compares the stored bytes of figi with the encoding of
// batches [0, stored): same keys, same bytes, nothing more.
func checkRawBars(s *Store, figi string, stored int) error {
	var want []byte
	for n := range stored {
		bars, _ := crashBatch(n)
		e, err := encodeBars(bars[figi], minuteUnit)
		if err != nil {
			return err
		}
		want = append(want, e...)
	}
	var got []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := subBucket(tx, figi, bucketMinutes)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			got = append(append(got, k...), v...)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("%s: %w", figi, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s: stored %d bars that differ from the %d batches acknowledged or committed (want %d bars)",
			figi, len(got)/record, stored, len(want)/record)
	}
	return nil
}

package postgres

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge/postgres/pgtest"
)

// TestConcurrentOpenMigratesOnce: five nodes starting at once on a fresh
// schema all open, and each migration is applied exactly once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.Schema(t)
	want, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	dbs := make([]*DB, 5)
	errs := make([]error, 5)
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = Open(ctx, url, testOptions()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(dbs[i].Close)
	}
	var n, distinct int
	if err := dbs[0].pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM tvbridge_schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != len(want) || distinct != len(want) {
		t.Fatalf("%d migration rows (%d distinct), want %d", n, distinct, len(want))
	}
	// Every node sees the tables.
	for i, db := range dbs {
		if _, err := db.Bars(nil).Minutes(ctx, "F", day0, t10); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
}

// TestOpenNamedSchema: Options.Schema creates the schema when missing and
// keeps the tables there.
func TestOpenNamedSchema(t *testing.T) {
	base := pgtest.Schema(t) // only for the cleanup of the named schema below
	// Unique per run: a schema left by a killed run, or made at the same
	// time by a build with other migrations, must not meet this one.
	name := fmt.Sprintf("tvb_test_named_%d_%d", os.Getpid(), time.Now().UnixNano())
	opts := testOptions()
	opts.Schema = name
	db, err := Open(ctx, base, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
		db.Close()
	})
	var schema string
	if err := db.pool.QueryRow(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 'tvbridge_minutes' AND table_schema = $1`, name).Scan(&schema); err != nil {
		t.Fatalf("tables not in %s: %v", name, err)
	}
	// Open again: nothing to apply.
	db2, err := Open(ctx, base, opts)
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
}

// TestOpenRefusesUnknownMigrations: a database migrated by a newer build,
// or with an edited migration, is refused rather than misread.
func TestOpenRefusesUnknownMigrations(t *testing.T) {
	url := pgtest.Schema(t)
	db := openURL(t, url)
	if _, err := db.pool.Exec(ctx, `INSERT INTO tvbridge_schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')`); err != nil {
		t.Fatal(err)
	}
	if db2, err := Open(ctx, url, testOptions()); err == nil || !strings.Contains(err.Error(), "newer build") {
		if db2 != nil {
			db2.Close()
		}
		t.Fatalf("Open of a newer schema = %v", err)
	}
	if _, err := db.pool.Exec(ctx, `DELETE FROM tvbridge_schema_migrations WHERE version = 999;
		UPDATE tvbridge_schema_migrations SET checksum = 'edited' WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if db2, err := Open(ctx, url, testOptions()); err == nil || !strings.Contains(err.Error(), "edited") {
		if db2 != nil {
			db2.Close()
		}
		t.Fatalf("Open with an edited migration = %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	_, err := Open(ctx, "postgres://127.0.0.1:1/test?sslmode=disable&connect_timeout=2", testOptions())
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
}

func TestStatsCountCommitsAndSize(t *testing.T) {
	db, _ := openTestDB(t)
	s := db.Bars(nil)
	before := s.Stats()
	if _, err := s.PutMinutes(ctx, "F", minutes(t10, 3, 0), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFirstBar(ctx, "F", day0); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	if after.Commits.Count != before.Commits.Count+2 || after.Commits.Sum <= before.Commits.Sum {
		t.Errorf("commits %d -> %d, want two more", before.Commits.Count, after.Commits.Count)
	}
	if after.SizeBytes <= 0 {
		t.Errorf("size %d", after.SizeBytes)
	}
}

// TestSetting: the first value stored wins, for every caller, also when
// several ask at once.
func TestSetting(t *testing.T) {
	db, _ := openTestDB(t)
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := db.Setting(ctx, "ns", func() (string, error) { return fmt.Sprint("v", i), nil })
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		}()
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] || v == "" {
			t.Fatalf("values %q", got)
		}
	}
	if v, err := db.Setting(ctx, "ns", func() (string, error) { return "", errors.New("not called") }); err != nil || v != got[0] {
		t.Fatalf("Setting again = %q, %v", v, err)
	}
	if _, err := db.Setting(ctx, "other", func() (string, error) { return "", errors.New("no entropy") }); err == nil {
		t.Fatal("an init error was not returned")
	}
}

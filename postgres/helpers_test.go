package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tvbridge"
	"tvbridge/postgres/pgtest"
)

var (
	ctx  = context.Background()
	day0 = time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC) // a Monday
	t10  = day0.Add(10 * time.Hour)                     // session open, 10:00 UTC
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testOptions keep the pools of a test small: the server's connection
// limit is shared by every test schema.
func testOptions() Options { return Options{Logger: quietLogger(), MaxConns: 4} }

// openURL opens a DB on url, closed when the test ends.
func openURL(t testing.TB, url string) *DB {
	t.Helper()
	db, err := Open(ctx, url, testOptions())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// openTestDB opens a DB on an empty, migrated schema no other test uses
// and returns it with the schema's URL, to open more DBs (nodes) on it.
//
// Creating, migrating and dropping a schema costs about 0.25 s of DDL
// commits, so the schemas of this package's tests are recycled: emptied
// with DELETE (a plain, fast commit) when a test ends and handed to the
// next one; TestMain drops them. Tests of migrations themselves use
// pgtest.Schema, a schema of their own.
func openTestDB(t testing.TB) (*DB, string) {
	t.Helper()
	url := takeSchema(t)
	return openURL(t, url), url
}

var recycled struct {
	sync.Mutex
	base string   // the server's URL
	all  []string // names of every schema created, to drop at the end
	free []string // URLs of empty, migrated schemas
}

func takeSchema(t testing.TB) string {
	t.Helper()
	base := pgtest.URL(t)
	recycled.Lock()
	recycled.base = base
	var url string
	if n := len(recycled.free); n > 0 {
		url, recycled.free = recycled.free[n-1], recycled.free[:n-1]
	}
	recycled.Unlock()
	if url == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := "tvb_test_" + hex.EncodeToString(b[:])
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, `CREATE SCHEMA `+name)
		_ = conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recycled.Lock()
		recycled.all = append(recycled.all, name)
		recycled.Unlock()
		if url, err = pgtest.WithParam(base, "search_path", name); err != nil {
			t.Fatal(err)
		}
		openURL(t, url) // migrate while the test still runs
	}
	t.Cleanup(func() {
		if t.Failed() {
			return // keep it, for a look; TestMain drops it
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `DO $$ DECLARE r record; BEGIN
			FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
				AND tablename LIKE 'tvbridge\_%' AND tablename <> 'tvbridge_schema_migrations'
			LOOP EXECUTE 'DELETE FROM ' || quote_ident(r.tablename); END LOOP; END $$`)
		if err != nil {
			t.Error(err)
			return
		}
		recycled.Lock()
		recycled.free = append(recycled.free, url)
		recycled.Unlock()
	})
	return url
}

func TestMain(m *testing.M) {
	code := m.Run()
	recycled.Lock()
	if len(recycled.all) > 0 {
		if conn, err := pgx.Connect(ctx, recycled.base); err == nil {
			for _, name := range recycled.all {
				_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
			}
			_ = conn.Close(ctx)
		}
	}
	recycled.Unlock()
	os.Exit(code)
}

// bar returns a valid bar at t whose values depend on seed, so different
// seeds give different bars.
func bar(t time.Time, seed float64) tvbridge.Bar {
	return tvbridge.Bar{Time: t, Open: 100 + seed, High: 101.5 + seed, Low: 99.25 + seed, Close: 100.75 + seed, Volume: 10 + seed}
}

func minutes(start time.Time, n int, seed float64) []tvbridge.Bar {
	bars := make([]tvbridge.Bar, n)
	for i := range bars {
		bars[i] = bar(start.Add(time.Duration(i)*time.Minute), seed+float64(i))
	}
	return bars
}

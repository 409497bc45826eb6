// Package pgtest finds the PostgreSQL server integration tests use and gives
// each test a throw-away schema.
//
// The server is TVBRIDGE_TEST_POSTGRES_URL when set, else DefaultURL (the
// project's machines run PostgreSQL there with trust auth), trying the user
// postgres when the OS user has no role. When it does not answer, tests are
// skipped with a message saying so, unless TVBRIDGE_REQUIRE_SERVICES=1:
// then they fail, so CI never passes by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server tried when TVBRIDGE_TEST_POSTGRES_URL is unset.
const DefaultURL = "postgres://127.0.0.1:5432/test?sslmode=disable"

// Environment variables.
const (
	EnvURL     = "TVBRIDGE_TEST_POSTGRES_URL"
	EnvRequire = "TVBRIDGE_REQUIRE_SERVICES"
)

var probe struct {
	once sync.Once
	url  string
	err  error
}

// URL returns the URL of a PostgreSQL server that answers, or skips (fails,
// under TVBRIDGE_REQUIRE_SERVICES=1) the test. The server is probed once
// per process.
func URL(t testing.TB) string {
	t.Helper()
	probe.once.Do(func() { probe.url, probe.err = find() })
	if probe.err != nil {
		msg := fmt.Sprintf("PostgreSQL not available (%v); set %s to a reachable server", probe.err, EnvURL)
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s (%s=1: required)", msg, EnvRequire)
		}
		t.Skipf("skipping: %s, or %s=1 to fail instead of skipping", msg, EnvRequire)
	}
	return probe.url
}

// find returns the first candidate URL that accepts a connection.
func find() (string, error) {
	candidates := []string{DefaultURL, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}
	if u := os.Getenv(EnvURL); u != "" {
		candidates = []string{u}
	}
	var errs []string
	for _, u := range candidates {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := ping(ctx, u)
		cancel()
		if err == nil {
			return u, nil
		}
		errs = append(errs, err.Error())
	}
	return "", fmt.Errorf("%s", strings.Join(errs, "; "))
}

func ping(ctx context.Context, u string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// Schema creates a fresh, empty schema on the server of URL and returns a
// URL whose connections use it (search_path); the schema is dropped, with
// everything in it, when the test ends. Tests using it can run in parallel
// and never see each other's tables.
func Schema(t testing.TB) string {
	t.Helper()
	base := URL(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "tvb_test_" + hex.EncodeToString(b[:])
	run(t, base, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { run(t, base, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`) })
	u, err := WithParam(base, "search_path", name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// WithParam returns u with a run-time parameter set: a query parameter of a
// URL, or key=value appended to a DSN.
func WithParam(u, key, value string) (string, error) {
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return u + " " + key + "=" + value, nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("pgtest: parse %s: %w", EnvURL, err)
	}
	q := p.Query()
	q.Set(key, value)
	p.RawQuery = q.Encode()
	return p.String(), nil
}

func run(t testing.TB, u, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

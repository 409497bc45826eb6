// Package natstest gives integration tests a NATS server with JetStream and
// a uniquely named stream per test.
//
// URL picks the server, in this order:
//
//  1. $TVBRIDGE_TEST_NATS_URL when set (it must answer: a set but dead URL
//     fails the test rather than silently testing something else);
//  2. nats://127.0.0.1:4222 when a server with JetStream answers there (the
//     project's machines run one);
//  3. an in-process server from github.com/nats-io/nats-server/v2, started
//     for the test on a random loopback port with its store in t.TempDir()
//     and shut down at cleanup.
//
// When none of these works the test is skipped with the reason, unless
// $TVBRIDGE_REQUIRE_SERVICES=1, in which case it fails: CI sets it so that
// cluster tests never skip silently.
//
// Stream returns a fresh stream name and subject prefix for one test, so
// that tests sharing a server never see each other's messages, and deletes
// the stream when the test ends.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultURL is where the project's machines run NATS with JetStream.
const DefaultURL = "nats://127.0.0.1:4222"

// Environment variables.
const (
	EnvURL     = "TVBRIDGE_TEST_NATS_URL"
	EnvRequire = "TVBRIDGE_REQUIRE_SERVICES"
)

// URL returns the URL of a NATS server with JetStream for t (see the
// package documentation for which one).
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		if err := probe(u); err != nil {
			t.Fatalf("natstest: %s=%s does not answer with JetStream: %v", EnvURL, u, err)
		}
		return u
	}
	if err := probe(DefaultURL); err == nil {
		return DefaultURL
	}
	s, err := start(t.TempDir(), -1)
	if err != nil {
		unavailable(t, fmt.Sprintf("no NATS at %s and no in-process server: %v", DefaultURL, err))
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// unavailable skips t, or fails it when services are required.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("natstest: %s (%s=1, so this fails instead of skipping)", why, EnvRequire)
	}
	t.Skipf("natstest: %s; set %s to a NATS server with JetStream", why, EnvURL)
}

// probe connects to url and checks that JetStream answers.
func probe(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.MaxReconnects(0))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// Server is an in-process NATS server with JetStream that a test can stop
// and start again on the same port with the same store, to test what a
// restart of NATS does to clients.
type Server struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

// StartServer starts an in-process server for t, on a free loopback port
// with its store in t.TempDir(), and shuts it down at cleanup. It skips or
// fails t (see the package documentation) when the server cannot start.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir()}
	srv, err := start(s.dir, -1)
	if err != nil {
		unavailable(t, fmt.Sprintf("cannot start an in-process NATS server: %v", err))
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { s.Stop() })
	return s
}

// URL is the server's client URL; it stays the same across Restart.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Stop shuts the server down and waits until it has; Start brings it back.
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

// Start starts a stopped server again on the same port and store.
func (s *Server) Start() {
	s.t.Helper()
	if s.srv != nil {
		return
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after Stop
		if s.srv, err = start(s.dir, s.port); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("natstest: restarting the server on port %d: %v", s.port, err)
}

// start runs a JetStream server with its store in dir on port (-1: random).
func start(dir string, port int) (*server.Server, error) {
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		NoLog:     true,
		NoSigs:    true,
		JetStream: true,
		StoreDir:  dir,
		// The stream defaults reserve 2 GiB of file store per stream; let
		// the test server accept that without the disk having it.
		JetStreamMaxStore:  1 << 40,
		JetStreamMaxMemory: 256 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("in-process server not ready within 10s")
	}
	return srv, nil
}

// Names is a unique stream name and subject prefix for one test.
type Names struct {
	Stream string // e.g. TEST_TAPE_1f2e3d4c5b6a
	Prefix string // e.g. tvbridge.test.1f2e3d4c5b6a; the stream holds Prefix+".>"
}

// Stream returns unique names for a stream on the server at url and deletes
// the stream of that name (whoever created it) when t ends. It does not
// create the stream: the code under test does, with its own configuration.
func Stream(t testing.TB, url string) Names {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(b[:])
	n := Names{
		Stream: "TEST_" + strings.ToUpper(sanitize(t.Name())) + "_" + id,
		Prefix: "tvbridge.test." + id,
	}
	if len(n.Stream) > 200 {
		n.Stream = "TEST_" + id
	}
	t.Cleanup(func() { deleteStream(t, url, n.Stream) })
	return n
}

func deleteStream(t testing.TB, url, name string) {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err != nil {
		t.Logf("natstest: cannot delete stream %s: %v", name, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, name); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Logf("natstest: deleting stream %s: %v", name, err)
	}
}

// sanitize keeps the characters a stream name may hold.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestLogRingKeepsWarningsAndPassesAll(t *testing.T) {
	var out bytes.Buffer
	ring := NewLogRing(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}), 3)
	log := slog.New(ring)
	log.Debug("debug line")
	log.Info("info line")
	for i := range 5 {
		log.Warn("warning", "i", i)
	}
	log.Error("failed", "err", errors.New("disk full"))

	for _, want := range []string{"debug line", "info line", "i=0", "i=4", "disk full"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("next handler did not get %q", want)
		}
	}
	got := ring.Entries()
	if len(got) != 3 {
		t.Fatalf("kept %d entries, want the last 3", len(got))
	}
	want := []string{"WARN warning i=3", "WARN warning i=4", "ERROR failed err=disk full"}
	for i, e := range got {
		s := e.Level + " " + e.Message
		for _, a := range e.Attrs {
			s += " " + a.Key + "=" + a.Value
		}
		if s != want[i] || e.Time.IsZero() {
			t.Errorf("entry %d: %q, want %q", i, s, want[i])
		}
	}
}

func TestLogRingAttrsAndGroups(t *testing.T) {
	var out bytes.Buffer
	ring := NewLogRing(slog.NewTextHandler(&out, nil), 10)
	log := slog.New(ring).With("component", "stream").WithGroup("conn").With("index", 2)
	log.Warn("silent", slog.Group("figis", "n", 3), "", nil)
	e := ring.Entries()
	if len(e) != 1 {
		t.Fatalf("entries %+v", e)
	}
	var keys []string
	for _, a := range e[0].Attrs {
		keys = append(keys, a.Key+"="+a.Value)
	}
	if got := strings.Join(keys, " "); got != "component=stream conn.index=2 conn.figis.n=3" {
		t.Fatalf("attrs %q", got)
	}
	// Siblings derived from one handler share the ring, not each other's attrs.
	slog.New(ring).With("a", 1).Warn("one")
	slog.New(ring).With("b", 2).Warn("two")
	e = ring.Entries()
	if len(e) != 3 || len(e[1].Attrs) != 1 || e[1].Attrs[0].Key != "a" || e[2].Attrs[0].Key != "b" {
		t.Fatalf("entries %+v", e)
	}
}

func TestLogRingKeepsWarningsTheNextHandlerDrops(t *testing.T) {
	var out bytes.Buffer
	ring := NewLogRing(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError}), 10)
	if ring.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Info enabled though neither wants it")
	}
	slog.New(ring).Warn("quiet warning")
	if out.Len() != 0 {
		t.Errorf("next handler got %q though it is at Error", out.String())
	}
	if len(ring.Entries()) != 1 {
		t.Error("the warning was not kept")
	}
}

func TestLogRingClipsLongRecords(t *testing.T) {
	ring := NewLogRing(slog.DiscardHandler, 1)
	args := []any{"big", strings.Repeat("é", 2000)}
	for i := range 50 {
		args = append(args, fmt.Sprint("k", i), i)
	}
	slog.New(ring).Warn(strings.Repeat("m", 5000), args...)
	e := ring.Entries()[0]
	if len(e.Message) > maxEntryText+len("…") || len(e.Attrs) != maxEntryAttrs || len(e.Attrs[0].Value) > maxEntryText+len("…") {
		t.Fatalf("message %d bytes, %d attrs, first value %d bytes", len(e.Message), len(e.Attrs), len(e.Attrs[0].Value))
	}
	if !strings.HasSuffix(e.Attrs[0].Value, "é…") {
		t.Fatalf("value not cut on a rune boundary: %q", e.Attrs[0].Value[len(e.Attrs[0].Value)-8:])
	}
}

func TestLogRingConcurrent(t *testing.T) {
	ring := NewLogRing(slog.DiscardHandler, 16)
	log := slog.New(ring)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			l := log.With("g", g)
			for i := range 200 {
				l.Warn("w", "i", i)
				if i%50 == 0 {
					ring.Entries()
				}
			}
		})
	}
	wg.Wait()
	if n := len(ring.Entries()); n != 16 {
		t.Fatalf("%d entries, want 16", n)
	}
}

func BenchmarkLogRingInfo(b *testing.B) {
	log := slog.New(NewLogRing(slog.DiscardHandler, 100))
	for b.Loop() {
		log.Info("info", "n", 1)
	}
}

func BenchmarkLogRingWarn(b *testing.B) {
	log := slog.New(NewLogRing(slog.DiscardHandler, 100))
	for b.Loop() {
		log.Warn("warn", "n", 1, "err", "x")
	}
}

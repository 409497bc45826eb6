package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"tvbridge/check"
)

func TestBar(t *testing.T) {
	for _, c := range []struct {
		done, total int64
		want        string
	}{
		{0, 10, "[------------------------------]   0%"},
		{5, 10, "[###############---------------]  50%"},
		{10, 10, "[##############################] 100%"},
		{12, 10, "[##############################] 100%"},
		{3, 0, "[##############################] 100%"},
	} {
		if got := bar(c.done, c.total); got != c.want {
			t.Errorf("bar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}

// Log lines scroll above the progress line: each is written after the line
// is cleared, and the line is drawn again after it.
func TestStatusLineKeepsLogsAbove(t *testing.T) {
	var out bytes.Buffer
	s := &statusLine{w: &out}
	s.Write([]byte("first log line\n"))
	s.set("progress 1")
	s.Write([]byte("second log line\n"))
	s.set("progress 2")
	s.set("")
	want := "first log line\n" + clearLine + "progress 1" + clearLine + "second log line\n" + "progress 1" +
		clearLine + "progress 2" + clearLine
	if out.String() != want {
		t.Fatalf("terminal got %q\nwant %q", out.String(), want)
	}
}

func TestCheckProgressLine(t *testing.T) {
	var out bytes.Buffer
	cp := &checkProgress{s: &statusLine{w: &out}, started: time.Now()}
	cp.update(check.Progress{Done: 7, Total: 28, Failed: 1, Streaming: 2 * time.Minute})
	if got := out.String(); !strings.Contains(got, "7/28 checks, 1 failed") || !strings.Contains(got, "of about 2m0s") {
		t.Fatalf("progress line %q", got)
	}
}

// Only a terminal gets the progress line: files, pipes and buffers get the
// plain log.
func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, x := range []any{f, w, &bytes.Buffer{}} {
		if isTerminal(x.(interface{ Write([]byte) (int, error) })) {
			t.Errorf("%T taken for a terminal", x)
		}
	}
}

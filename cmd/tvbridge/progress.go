package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"tvbridge/check"
	"tvbridge/ingest"
)

// Progress on a terminal.
//
// On a terminal, the initial backfill of serve and a check run show a
// progress line under the log, redrawn in place; the log lines scroll above
// it. Anywhere else (a file, a pipe, a service manager's journal) the output
// is the plain log, which already reports progress every few instruments.

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// statusLine writes log lines to a terminal with a progress line kept
// below them. It is the log's writer: each write clears the line, writes
// the log text and draws the line again.
type statusLine struct {
	mu   sync.Mutex
	w    io.Writer
	line string
}

// clearLine moves to the start of the line and erases it.
const clearLine = "\r\033[K"

func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.line != "" {
		io.WriteString(s.w, clearLine)
	}
	n, err := s.w.Write(p)
	if s.line != "" {
		io.WriteString(s.w, s.line)
	}
	return n, err
}

// set replaces the progress line; "" removes it.
func (s *statusLine) set(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	io.WriteString(s.w, clearLine+line)
	s.line = line
}

// bar draws done of total as a 30-column bar and a percentage.
func bar(done, total int64) string {
	const width = 30
	if total <= 0 {
		total = 1
	}
	done = min(max(done, 0), total)
	fill := int(done * width / total)
	return fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("#", fill), strings.Repeat("-", width-fill), done*100/total)
}

// backfillProgress draws the initial backfill's progress until it is done
// or ctx ends, then removes the line.
func backfillProgress(ctx context.Context, s *statusLine, p *ingest.Progress) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	defer s.set("")
	for {
		done, total := p.InitialDone.Load(), p.Instruments.Load()
		if total > 0 && done >= total {
			return
		}
		s.set(fmt.Sprintf("initial backfill %s %d/%d instruments, %d REST requests, %d bars",
			bar(done, total), done, total, p.Requests.Load(), p.BarsBackfilled.Load()))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkProgress draws a check run's progress: the checks with a result, and
// the time against the streaming phase's length, which bounds the run.
type checkProgress struct {
	s       *statusLine
	started time.Time
	mu      sync.Mutex
	last    check.Progress
}

func (c *checkProgress) update(p check.Progress) {
	c.mu.Lock()
	c.last = p
	c.mu.Unlock()
	c.draw()
}

func (c *checkProgress) draw() {
	c.mu.Lock()
	p := c.last
	c.mu.Unlock()
	elapsed := time.Since(c.started).Truncate(time.Second)
	c.s.set(fmt.Sprintf("check %s %d/%d checks, %d failed, %s of about %s",
		bar(int64(p.Done), int64(p.Total)), p.Done, p.Total, p.Failed, elapsed, p.Streaming))
}

// run redraws every second (the clock moves even when no check ends)
// until ctx ends, then removes the line.
func (c *checkProgress) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	defer c.s.set("")
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.draw()
		}
	}
}

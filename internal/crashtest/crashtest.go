// Package crashtest runs the kill -9 crash tests of the stores: it starts
// the test binary again as a child process that writes and prints "ack N"
// after each durable write, and kills it with SIGKILL at a chosen point.
package crashtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// KillAfterAcks runs the test named TestCrashChild in a child process with
// env added to the environment, sends it SIGKILL jitter after its killAfter-th
// ack, and returns the last number it acked (start-1 if none). The child
// numbers its writes from start. Acks printed before the kill landed count
// too, so the caller knows everything that was acknowledged.
func KillAfterAcks(t testing.TB, env []string, start, killAfter int, jitter time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	// A generous overall deadline: a wedged child must not hang the test.
	watchdog := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer watchdog.Stop()

	lastAck, acks := start-1, 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		n, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue // test framework output
		}
		if lastAck, err = strconv.Atoi(n); err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		if acks++; acks == killAfter {
			time.Sleep(jitter) // not synchronisation: moves the kill to a random point of the next write
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill child: %v", err)
			}
		} // keep reading: acks written before the kill count too
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || acks < killAfter {
		t.Fatalf("child was not killed as planned (acks %d of %d, wait: %v):\n%s", acks, killAfter, err, stderr.String())
	}
	return lastAck
}

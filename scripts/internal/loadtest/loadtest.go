// Package loadtest holds what the load-measuring scripts (tradereads,
// clusterreads) share: free ports and the CPU time of the processes they
// measure, read from /proc (Linux).
package loadtest

import (
	"bytes"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTick is the length of a clock tick of /proc/PID/stat (USER_HZ, 100
// on Linux).
const ClockTick = 10 * time.Millisecond

// FreeAddr returns a loopback address with a port free a moment ago.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// CPUTicks is the CPU time (user and system, in clock ticks) pid used.
func CPUTicks(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		log.Fatal(err)
	}
	// The fields after the command (which may hold spaces) in parentheses.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		log.Fatal(err)
	}
	stime, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		log.Fatal(err)
	}
	return utime + stime
}

// WaitIdle waits, up to 3 minutes, until pid uses at most share of a core
// over 2 seconds, and logs what it used then.
func WaitIdle(pid int, share float64) {
	const window = 2 * time.Second
	for deadline := time.Now().Add(3 * time.Minute); ; {
		before := CPUTicks(pid)
		time.Sleep(window)
		used := time.Duration(CPUTicks(pid)-before) * ClockTick
		if used.Seconds() <= share*window.Seconds() || time.Now().After(deadline) {
			log.Printf("pid %d idle: %.1f %% of a core", pid, 100*used.Seconds()/window.Seconds())
			return
		}
	}
}

package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"tvbridge/internal/crashtest"
	"tvbridge/postgres"
	"tvbridge/postgres/pgtest"
)

const (
	crashEnvURL = "TVBRIDGE_CLUSTER_CRASH_URL"
	crashTTL    = time.Second
)

// TestCrashChild is the child process of TestKill9Leader: it leads and
// prints "ack <epoch>" once elected, then leads until killed.
func TestCrashChild(t *testing.T) {
	url := os.Getenv(crashEnvURL)
	if url == "" {
		t.Skip("helper process for TestKill9Leader")
	}
	db := openDB(t, url)
	e, err := NewElector(Config{
		Leases: db.Leases(), NodeID: "child", TTL: crashTTL,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnElected: func(ctx context.Context, f postgres.Fence) error {
			// os.Stdout is unbuffered: the ack leaves the process at once.
			if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", f.Epoch); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Fatalf("Run returned: %v", e.Run(context.Background()))
}

// A leader process killed with SIGKILL (no release, no goodbye) is replaced
// by another elector within TTL + RenewEvery (+ slack), with the next epoch.
func TestKill9Leader(t *testing.T) {
	if os.Getenv(crashEnvURL) != "" {
		t.Skip("inside the child")
	}
	url := pgtest.Schema(t)
	db := openDB(t, url) // migrates before the child starts
	epoch := crashtest.KillAfterAcks(t, []string{crashEnvURL + "=" + url}, 1, 1, 0)
	killed := time.Now()
	holder, he, _, err := db.Leases().Holder(context.Background(), "ingester")
	if err != nil || he != int64(epoch) || len(holder) < 6 || holder[:6] != "child#" {
		t.Fatalf("after the kill the lease is %q at %d (%v); want the child's, epoch %d", holder, he, err, epoch)
	}
	r := newRecorder()
	start(t, db, Config{NodeID: "survivor", TTL: crashTTL, OnElected: r.OnElected})
	bound := crashTTL + crashTTL/3
	rg := r.next(t, "survivor", bound+2*time.Second)
	took := rg.started.Sub(killed)
	t.Logf("survivor elected %v after the kill -9 (bound TTL + RenewEvery = %v)", took, bound)
	if took > bound+500*time.Millisecond {
		t.Errorf("failover took %v, want at most TTL + RenewEvery = %v (+ 500 ms slack)", took, bound)
	}
	if rg.fence.Epoch != int64(epoch)+1 {
		t.Fatalf("survivor's epoch %d, want %d", rg.fence.Epoch, epoch+1)
	}
}

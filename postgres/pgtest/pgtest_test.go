package pgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestUnreachable runs itself in a child process against a closed port:
// the test skips, saying why, and fails instead under
// TVBRIDGE_REQUIRE_SERVICES=1.
func TestUnreachable(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		URL(t)
		return
	}
	for _, require := range []string{"", "1"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnreachable$", "-test.v")
		cmd.Env = append(os.Environ(), "PGTEST_CHILD=1",
			EnvURL+"=postgres://127.0.0.1:1/test?sslmode=disable&connect_timeout=2", EnvRequire+"="+require)
		out, err := cmd.CombinedOutput()
		switch {
		case require == "1" && (err == nil || !strings.Contains(string(out), "--- FAIL")):
			t.Errorf("%s=1: want a failure, got %v:\n%s", EnvRequire, err, out)
		case require == "" && (err != nil || !strings.Contains(string(out), "--- SKIP") || !strings.Contains(string(out), "PostgreSQL not available")):
			t.Errorf("want a skip, got %v:\n%s", err, out)
		}
	}
}

// TestSchema: a schema of its own, on the search_path of the URL returned.
func TestSchema(t *testing.T) {
	url := Schema(t)
	if !strings.Contains(url, "search_path=tvb_test_") {
		t.Fatalf("url %s", url)
	}
	exec1 := func(sql string) { run(t, url, sql) }
	exec1(`CREATE TABLE probe (x int)`) // lands in the test schema, not public
	exec1(`SELECT 1 FROM probe`)
}

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tvbridge.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// printed runs a command with --print-config and returns what it printed.
func printed(t *testing.T, args ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if code := run(context.Background(), append(args, "--print-config"), &out, &errs); code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errs.String())
	}
	return out.String()
}

// The file sets what neither the environment nor the command line does, the
// environment overrides the file, the command line overrides both, and
// --print-config says which is which.
func TestConfigFilePrecedence(t *testing.T) {
	path := writeConfig(t, `
# a comment
[serve]
listen = "127.0.0.1:18181"
backfill-days = 7
book-depth = 3
close-grace = "2s"
daily-bars = false
cors-origins = ["https://*.tradingview.com", "https://example.com"]

[sim]
sim-seed = 5
`)
	t.Setenv("TVBRIDGE_BOOK_DEPTH", "10")
	got := printed(t, "serve", "--config", path, "--backfill-days", "9")
	for _, want := range []string{
		`listen = "127.0.0.1:18181"  # config file`,
		`backfill-days = 9  # command line`,
		`book-depth = 10  # environment`,
		`close-grace = "2s"  # config file`,
		`daily-bars = false  # config file`,
		`cors-origins = "https://*.tradingview.com,https://example.com"  # config file`,
		`data-dir = "./data"  # default`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("--print-config lacks %q:\n%s", want, got)
		}
	}
	if sim := printed(t, "sim", "--config="+path); !strings.Contains(sim, "sim-seed = 5  # config file\n") {
		t.Errorf("the [sim] table was not applied to sim:\n%s", sim)
	}
	// $TVBRIDGE_CONFIG names the file too.
	t.Setenv("TVBRIDGE_CONFIG", path)
	if got := printed(t, "serve"); !strings.Contains(got, `listen = "127.0.0.1:18181"  # config file`) {
		t.Errorf("$TVBRIDGE_CONFIG ignored:\n%s", got)
	}
}

// What --print-config prints is itself a configuration file that gives the
// same settings.
func TestPrintedConfigRoundTrips(t *testing.T) {
	first := printed(t, "serve", "--backfill-days", "12", "--history-follows", "exchange", "--paper-commission", "0.001")
	path := writeConfig(t, first)
	second := printed(t, "serve", "--config", path)
	norm := func(s string) string {
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			if v, _, ok := strings.Cut(l, "  # "); ok {
				lines = append(lines, v)
			}
		}
		return strings.Join(lines, "\n")
	}
	if norm(first) != norm(second) {
		t.Fatalf("printed config does not round-trip:\n%s\n---\n%s", first, second)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"[serve]\nlisen = \"x\"\n", `has no setting "lisen"`},
		{"listen = \"x\"\n", "outside a table"},
		{"[serve]\nbackfill-days = \"many\"\n", "backfill-days"},
		{"[serve]\nlisten = \n", "config file"},
	} {
		var errs bytes.Buffer
		code := run(context.Background(), []string{"serve", "--config", writeConfig(t, c.text)}, io.Discard, &errs)
		if code != 1 || !strings.Contains(errs.String(), c.want) {
			t.Errorf("%q: exit %d, %q; want %q", c.text, code, errs.String(), c.want)
		}
	}
}

func TestSecretSettingsAreRedacted(t *testing.T) {
	for name, want := range map[string]bool{
		"admin-password": true, "api-token": true, "client-secret": true,
		"token-file": false, "admin-password-file": false, "token-lifetime": false, "listen": false,
	} {
		if got := secretSetting(name); got != want {
			t.Errorf("secretSetting(%q) = %v", name, got)
		}
	}
	t.Setenv("TINKOFF_TOKEN", "s3cr3t")
	if got := printed(t, "serve"); strings.Contains(got, "s3cr3t") || !strings.Contains(got, "set (redacted)") {
		t.Fatalf("the token leaked or was not reported:\n%s", got)
	}
}

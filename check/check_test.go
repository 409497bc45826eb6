package check

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"tvbridge/openapi/openapitest"
)

var (
	testKeyOnce sync.Once
	testKey     *rsa.PrivateKey
)

// jwtKey is one RSA key for every test: generating one is slow.
func jwtKey(t testing.TB) *rsa.PrivateKey {
	testKeyOnce.Do(func() {
		var err error
		if testKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return testKey
}

// verifyJWT checks an RS256 assertion the way a broker's token endpoint
// would: signature, algorithm and the claims TradingView sends.
func verifyJWT(pub *rsa.PublicKey, token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || pub == nil {
		return errors.New("not a JWT")
	}
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return err
		}
	}
	if header["alg"] != "RS256" {
		return fmt.Errorf("alg %v", header["alg"])
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return err
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "spurl"} {
		if _, ok := claims[c]; !ok {
			return fmt.Errorf("claim %s missing", c)
		}
	}
	return nil
}

// authConfig turns on the fake's auth and gives the checker every kind of
// credential it has.
func authConfig(t testing.TB, h *harness, cfg *Config) {
	h.srv.auth = true
	h.srv.jwtKey = &jwtKey(t).PublicKey
	cfg.Login, cfg.Password = "user", "secret-pass"
	cfg.JWT = &JWT{Key: jwtKey(t), GrantType: "urn:fake:jwt", ClientID: "tradingview", ClientSecret: "client-secret", UserID: "tester"}
}

func run(t testing.TB, cfg Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// dump prints a report for a failing test.
func dump(rep *Report) string {
	var b strings.Builder
	_ = rep.WriteText(&b)
	return b.String()
}

// noTrading says which checks a run without --trading (and, without the
// shared spec, the schema checks) cannot but skip.
func noTrading(specMissing bool) func(string) bool {
	return func(name string) bool {
		return strings.HasPrefix(name, "trading/") || name == "schema/trading" ||
			(specMissing && strings.HasPrefix(name, "schema/"))
	}
}

// requireAllPass requires every check to pass, except those skipped says
// must be skipped.
func requireAllPass(t *testing.T, rep *Report, skipped func(string) bool) {
	t.Helper()
	for _, res := range rep.Results {
		if skipped(res.Name) {
			if res.Status != Skip {
				t.Errorf("%s: %s (%s), want skip", res.Name, res.Status, res.Reason)
			}
			continue
		}
		if res.Status != Pass {
			t.Errorf("%s: %s: %s\n  %s", res.Name, res.Status, res.Reason, strings.Join(res.Details, "\n  "))
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", dump(rep))
	}
}

// TestCorrectServerPassesEverything runs every check, with every kind of
// credential and four connections, against the correct reference server.
func TestCorrectServerPassesEverything(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defects{})
	cfg := h.config()
	cfg.Connections = 4
	authConfig(t, h, &cfg)
	cfg.Spec = openapitest.Spec(t)
	rep := run(t, cfg)
	requireAllPass(t, rep, noTrading(cfg.Spec == nil))
	if len(rep.Results) != len(catalogue) || rep.Failed() {
		t.Errorf("%d results of %d checks, failed %v", len(rep.Results), len(catalogue), rep.Failed())
	}
}

// TestLegacyNoDataPasses: the pre-1.3.26 no_data answers are accepted
// where TradingView's suite still expects them.
func TestLegacyNoDataPasses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defects{legacyNoData: true})
	cfg := h.config()
	cfg.Only = []string{"history"}
	cfg.Spec = openapitest.Spec(t)
	rep := run(t, cfg)
	requireAllPass(t, rep, noTrading(cfg.Spec == nil))
	if res, _ := rep.Result("history/gap"); !strings.Contains(res.Reason, "legacy no_data") {
		t.Errorf("history/gap did not see the legacy form: %s", res.Reason)
	}
}

// TestDefectsAreReportedByName runs the checker against servers with one
// defect each; each must fail the check that names it.
func TestDefectsAreReportedByName(t *testing.T) {
	cases := []struct {
		name string
		d    defects
		auth bool
		only []string
		want []string // checks that must fail
	}{
		{"milliseconds on the stream", defects{msTimes: true}, false, []string{"streaming"}, []string{"streaming/time-unit", "streaming/delay"}},
		{"tick time going backwards", defects{backwards: true}, false, []string{"streaming"}, []string{"streaming/time-never-decreases"}},
		{"history drifting from the stream", defects{historyDrift: true}, false, []string{"streaming"}, []string{"streaming/history-equality"}},
		{"Content-Length instead of chunked", defects{noChunked: "content-length"}, false, []string{"streaming"}, []string{"streaming/chunked", "streaming/permanent-connection"}},
		{"HTTP/1.0 close-delimited stream", defects{noChunked: "http10"}, false, []string{"streaming"}, []string{"streaming/chunked"}},
		{"200 without a token", defects{authOptional: true}, true, []string{"auth"}, []string{"auth/401/symbol_info", "auth/401/history", "auth/401/streaming", "auth/401/groups"}},
		{"pricescale not a power of ten", defects{badPriceScale: true}, false, []string{"symbol_info"}, []string{"symbol_info/pricescale"}},
		{"a closed bar that changes", defects{closedBarChanges: true}, false, []string{"history"}, []string{"history/closed-bars-unchanged"}},
		{"the same token on every login", defects{sameToken: true}, true, []string{"auth"}, []string{"auth/authorize-new-token", "auth/jwt-new-token"}},
		{"legacy no_data with a wrong nb", defects{wrongNB: true}, false, []string{"history"}, []string{"history/gap"}},
		{"countback ignored", defects{ignoreCountback: true}, false, []string{"history"}, []string{"history/countback"}},
		{"connections carrying different data", defects{connSkew: true}, false, []string{"streaming"}, []string{"streaming/parallel-identical"}},
		{"a lowercase exchange", defects{lowercaseExch: true}, false, []string{"symbol_info"}, []string{"symbol_info/exchanges"}},
		{"a symbol that never streams", defects{dropSymbol: true}, false, []string{"streaming"}, []string{"streaming/every-symbol-ticks"}},
		{"a streamed symbol /symbol_info lacks", defects{extraSymbol: true}, false, []string{"streaming"}, []string{"streaming/known-symbols"}},
		{"heartbeats only when idle", defects{idleHeartbeat: true}, false, []string{"streaming"}, []string{"streaming/heartbeat-interval"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.d)
			cfg := h.config()
			if tc.auth {
				authConfig(t, h, &cfg)
			}
			cfg.Only = tc.only
			rep := run(t, cfg)
			for _, name := range tc.want {
				res, ok := rep.Result(name)
				if !ok || res.Status != Fail {
					t.Errorf("%s: %s (%s), want fail", name, res.Status, res.Reason)
				}
			}
			if t.Failed() {
				t.Logf("report:\n%s", dump(rep))
			}
		})
	}
}

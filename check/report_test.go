package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestSelection(t *testing.T) {
	sel, err := newSelection([]string{"history", "streaming/*", "auth/401"}, []string{"history/gap", "*/delay"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"history/countback": true, "history/gap": false, "streaming/chunked": true, "streaming/delay": false,
		"auth/401/groups": true, "auth/authorize": false, "symbol_info/pricescale": false,
	} {
		if sel.enabled(name) != want {
			t.Errorf("%s: enabled %v, want %v", name, !want, want)
		}
	}
	if !sel.anyEnabled("auth") || sel.anyEnabled("trading") {
		t.Error("anyEnabled")
	}
	for _, bad := range []string{"histroy", "[", "history/nope"} {
		if _, err := newSelection([]string{bad}, nil); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	if got := SplitList(" a, ,b,"); strings.Join(got, "|") != "a|b" {
		t.Errorf("SplitList: %q", got)
	}
}

func TestCatalogueNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Catalogue() {
		if seen[c.Name] || c.Doc == "" || !strings.Contains(c.Name, "/") {
			t.Errorf("catalogue entry %q", c.Name)
		}
		seen[c.Name] = true
	}
}

func sampleReport() *Report {
	rep := &Report{URL: "http://x", ElapsedSeconds: 61, Results: []Result{
		{Name: "auth/authorize", Status: Skip, Reason: "no login"},
		{Name: "history/gap", Status: Pass, Reason: "fine"},
		{Name: "streaming/chunked", Status: Fail, Reason: "no chunks\nat all", Details: []string{"connection 0: HTTP/1.0"},
			Request: "GET http://x/streaming", Response: "HTTP/1.0 200 {...}"},
		{Name: "streaming/delay", Status: Warn, Reason: "slow", Details: make([]string, textDetails+3)},
	}}
	rep.summarize()
	return rep
}

func TestReportText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"tvbridge check http://x (1m1s)", "\nstreaming\n", "FAIL  streaming/chunked", `no chunks\nat all`,
		"- connection 0: HTTP/1.0", "request:  GET http://x/streaming", "... and 3 more (all of them in --json)",
		"summary: 1 passed, 1 failed, 1 warnings, 1 skipped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

func TestReportJSON(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !back.Failed() || back.Summary != rep.Summary || len(back.Results[3].Details) != textDetails+3 {
		t.Errorf("round trip: %+v", back.Summary)
	}
	if _, ok := back.Result("history/gap"); !ok {
		t.Error("Result lookup")
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	c := newClient("http://x", nil, 1, time.Second)
	c.addSecret("p&ss word")
	c.setToken("tok-12345")
	req, resp := c.evidence(&exchange{method: "POST", url: "http://x/authorize", form: "login=u&password=p%26ss+word",
		status: 200, proto: "HTTP/1.1", body: []byte(`{"d":{"access_token":"tok-12345"}}`)})
	if strings.Contains(req, "p%26ss") || strings.Contains(resp, "tok-12345") || !strings.Contains(req, "password=<redacted>") {
		t.Errorf("secrets leak: %s | %s", req, resp)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "ftp://x"},
		{URL: "http://"},
		{URL: "http://x", Login: "user"},
		{URL: "http://x", Only: []string{"nope"}},
		{URL: "http://x", JWT: &JWT{}},
	} {
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", cfg, err)
		}
	}
}

func TestInterruptedRunReportsWhatRan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Run(ctx, Config{URL: "http://127.0.0.1:1", Only: []string{"symbol_info", "history/gap"}})
	if !errors.Is(err, context.Canceled) || rep == nil || len(rep.Results) == 0 {
		t.Fatalf("%v %v", rep, err)
	}
	for _, res := range rep.Results {
		if res.Status == Pass {
			t.Errorf("%s passed in an interrupted run", res.Name)
		}
	}
}

func TestJWTAssertion(t *testing.T) {
	key := jwtKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tv"},
		NotBefore: fakeStart, NotAfter: fakeStart.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCertificate(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	j := &JWT{Key: key, Cert: cert, GrantType: "urn:x", ClientID: "tv", UserID: "u"}
	if err := j.validate("https://broker.example/api"); err != nil || j.TokenURL != "https://broker.example/api/authorize/token" {
		t.Fatalf("%v %s", err, j.TokenURL)
	}
	a, err := j.assertion(fakeStart)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyJWT(&key.PublicKey, a); err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(a, ".")[0])
	sum := sha1.Sum(der)
	if !strings.Contains(string(header), base64.RawURLEncoding.EncodeToString(sum[:])) {
		t.Errorf("no x5t thumbprint in %s", header)
	}
	if b, _ := j.assertion(fakeStart); b == a {
		t.Error("two assertions are identical; each carries a fresh jti")
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if k, err := ParseRSAKey(pkcs1); err != nil || !k.Equal(key) {
		t.Errorf("PKCS #1 key: %v", err)
	}
	pk8, _ := x509.MarshalPKCS8PrivateKey(key)
	if k, err := ParseRSAKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk8})); err != nil || !k.Equal(key) {
		t.Errorf("PKCS #8 key: %v", err)
	}
	if _, err := ParseRSAKey([]byte("junk")); err == nil {
		t.Error("junk accepted as a key")
	}
}

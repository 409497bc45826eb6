package auth

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	st, err := OpenStore(filepath.Join(t.TempDir(), "sub", DBFile), StoreOptions{KDF: testKDF, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestUsers(t *testing.T) {
	st := openTestStore(t)
	if err := st.AddUser("Carol.Smith@x", []byte("long enough"), []string{"tv_stocks"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		login, password string
		groups          []string
		want            error
	}{
		{"carol.smith@x", "long enough", nil, ErrExists},
		{"", "long enough", nil, ErrInvalid},
		{"has space", "long enough", nil, ErrInvalid},
		{strings.Repeat("a", 65), "long enough", nil, ErrInvalid},
		{"dave", "short", nil, ErrInvalid},
		{"dave", "long enough", []string{"Bad-Group"}, ErrInvalid},
	} {
		if err := st.AddUser(c.login, []byte(c.password), c.groups); !errors.Is(err, c.want) {
			t.Errorf("AddUser(%q): %v, want %v", c.login, err, c.want)
		}
	}
	users, err := st.Users()
	if err != nil || len(users) != 1 || users[0].Login != "carol.smith@x" || !slices.Equal(users[0].Groups, []string{"tv_stocks"}) {
		t.Fatalf("Users: %+v %v", users, err)
	}
	if err := st.SetGroups("CAROL.SMITH@X", nil); err != nil {
		t.Fatal(err)
	}
	if users, _ = st.Users(); users[0].Groups != nil {
		t.Errorf("groups after reset: %v", users[0].Groups)
	}
	for _, err := range []error{st.SetPassword("nobody", []byte("long enough")), st.RemoveUser("nobody"), st.SetGroups("nobody", nil)} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
	}
}

// Changing a password or removing a user revokes the user's tokens, and
// only that user's.
func TestPasswordChangeAndRemovalRevoke(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.login("alice", alicePassword), e.login("bob", bobPassword)
	oauth := e.codeFlow("alice", alicePassword)
	if err := e.store.SetPassword("alice", []byte("a-new-password")); err != nil {
		t.Fatal(err)
	}
	e.wantStatus("/history", alice, 401)
	e.wantStatus("/accounts", oauth.AccessToken, 401)
	e.wantStatus("/history", bob, 200)
	resp, body := e.post("/authorize", map[string][]string{"login": {"alice"}, "password": {alicePassword}})
	if !strings.Contains(string(body), "error") {
		t.Fatalf("old password still works: %d %s", resp.StatusCode, body)
	}
	e.login("alice", "a-new-password")

	if err := e.store.RemoveUser("bob"); err != nil {
		t.Fatal(err)
	}
	e.wantStatus("/history", bob, 401)
}

func TestClients(t *testing.T) {
	st := openTestStore(t)
	_, cert := testKey(t)
	good := Client{ID: "tv-1", Kind: CodeClient, RedirectURIs: []string{"https://tv.example/cb", "http://localhost:6285/cb"}}
	if err := st.AddClient(good, []byte(codeSecret)); err != nil {
		t.Fatal(err)
	}
	jwtc := Client{ID: "tv-2", Kind: JWTClient, User: "feed", Audience: tokenURL, CertificatePEM: string(pemCert(cert))}
	if err := st.AddClient(jwtc, []byte(jwtSecret)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		client Client
		secret string
	}{
		"duplicate":         {good, codeSecret},
		"short secret":      {Client{ID: "x", Kind: CodeClient, RedirectURIs: []string{"https://a.example/"}}, "short"},
		"bad id":            {Client{ID: "a b", Kind: CodeClient, RedirectURIs: []string{"https://a.example/"}}, codeSecret},
		"bad kind":          {Client{ID: "x", Kind: "implicit"}, codeSecret},
		"no redirect":       {Client{ID: "x", Kind: CodeClient}, codeSecret},
		"http redirect":     {Client{ID: "x", Kind: CodeClient, RedirectURIs: []string{"http://tv.example/cb"}}, codeSecret},
		"fragment":          {Client{ID: "x", Kind: CodeClient, RedirectURIs: []string{"https://tv.example/cb#x"}}, codeSecret},
		"relative returnTo": {Client{ID: "x", Kind: CodeClient, RedirectURIs: []string{"https://a.example/"}, LogoutReturnTo: []string{"/back"}}, codeSecret},
		"jwt no cert":       {Client{ID: "x", Kind: JWTClient, User: "feed", Audience: tokenURL}, codeSecret},
		"jwt no audience":   {Client{ID: "x", Kind: JWTClient, User: "feed", CertificatePEM: string(pemCert(cert))}, codeSecret},
		"jwt no user":       {Client{ID: "x", Kind: JWTClient, Audience: tokenURL, CertificatePEM: string(pemCert(cert))}, codeSecret},
	} {
		if err := st.AddClient(c.client, []byte(c.secret)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	clients, err := st.Clients()
	if err != nil || len(clients) != 2 || clients[0].ID != "tv-1" || clients[1].User != "feed" {
		t.Fatalf("Clients: %+v %v", clients, err)
	}
	if err := st.RemoveClient("tv-1"); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveClient("tv-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second removal: %v", err)
	}
}

func TestClientRemovalRevokes(t *testing.T) {
	e := newEnv(t, nil)
	oauth := e.codeFlow("alice", alicePassword)
	data := e.jwtToken(e.assertion(nil, nil))
	pw := e.login("alice", alicePassword)
	if err := e.store.RemoveClient("tv-prod"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RemoveClient("tv-data"); err != nil {
		t.Fatal(err)
	}
	e.wantStatus("/accounts", oauth.AccessToken, 401)
	e.wantStatus("/history", data, 401)
	e.wantStatus("/accounts", pw, 200)
}

func TestSweepDeletesWhatCannotBeUsed(t *testing.T) {
	e := newEnv(t, nil)
	e.login("alice", alicePassword)
	revoked := e.login("alice", alicePassword)
	e.post("/logout", nil, "Authorization", "Bearer "+revoked)
	tr := e.codeFlow("bob", bobPassword)
	e.tokens(e.refresh(tr.RefreshToken))
	e.jwtToken(e.assertion(nil, nil))
	count := func() map[string]int {
		n, err := e.store.counts()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	e.svc.sweep()
	// The revoked login's family and token go at once; the rest is live.
	if got := count(); got["families"] != 3 || got["access"] != 4 || got["refresh"] != 2 || got["codes"] != 1 || got["assertions"] != 1 {
		t.Errorf("after the first sweep: %v", got)
	}
	e.clock.Advance(time.Hour) // past access tokens, codes and assertions
	e.svc.sweep()
	if got := count(); got["families"] != 1 || got["access"] != 0 || got["refresh"] != 2 || got["codes"] != 0 || got["assertions"] != 0 {
		t.Errorf("after an hour: %v", got)
	}
	e.clock.Advance(31 * 24 * time.Hour)
	e.svc.sweep()
	for bucket, n := range count() {
		if n != 0 && bucket != "users" && bucket != "clients" {
			t.Errorf("after the refresh lifetime, %s holds %d records", bucket, n)
		}
	}
}

func TestStoreLockedByAnotherOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), DBFile)
	st, err := OpenStore(path, StoreOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := OpenStore(path, StoreOptions{Timeout: 10 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

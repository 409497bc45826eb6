package check

import (
	"strings"
	"testing"
)

func TestParseHistory(t *testing.T) {
	ok := `{"s":"ok","t":[60,120],"o":[1,2],"h":[1.5,2.5],"l":[0.5,1.5],"c":[1.2,2.2],"v":[10,20]}`
	h, err := parseHistory([]byte(ok))
	if err != nil || h.Status != "ok" || len(h.Bars) != 2 || h.Bars[1] != (bar{T: 120, O: 2, H: 2.5, L: 1.5, C: 2.2, V: 20}) {
		t.Fatalf("ok answer: %+v, %v", h, err)
	}
	h, err = parseHistory([]byte(`{"s":"no_data","nb":1700000000}`))
	if err != nil || h.Status != "no_data" || h.NB == nil || *h.NB != 1700000000 {
		t.Fatalf("no_data with nb: %+v, %v", h, err)
	}
	h, err = parseHistory([]byte(`{"s":"no_data"}`))
	if err != nil || h.NB != nil {
		t.Fatalf("no_data without nb: %+v, %v", h, err)
	}
	h, err = parseHistory([]byte(`{"s":"error","errmsg":"bad symbol"}`))
	if err != nil || h.Errmsg != "bad symbol" {
		t.Fatalf("error answer: %+v, %v", h, err)
	}
	bad := map[string]string{
		`{"t":[]}`: `"s" is missing`,
		`{"s":"ok","t":[1],"o":[1],"h":[1],"l":[1],"c":[1]}`:              `column "v" is missing`,
		`{"s":"ok","t":[1,2],"o":[1],"h":[1],"l":[1],"c":[1],"v":[1]}`:    `column "o" has 1 values, t has 2`,
		`{"s":"ok","t":[1.5],"o":[1],"h":[1],"l":[1],"c":[1],"v":[1]}`:    "not an integer number of Unix seconds",
		`{"s":"ok","t":["60"],"o":[1],"h":[1],"l":[1],"c":[1],"v":[1]}`:   "is not a number",
		`{"s":"ok","t":[60],"o":[null],"h":[1],"l":[1],"c":[1],"v":[1]}`:  "is not a number",
		`{"s":"ok","t":[60],"o":[1e400],"h":[1],"l":[1],"c":[1],"v":[1]}`: "not a finite number",
		`{"s":"ok","t":{},"o":[],"h":[],"l":[],"c":[],"v":[]}`:            `column "t" is not an array`,
		`{"s":"nodata"}`:           `want "ok", "no_data" or "error"`,
		`{"s":"no_data","nb":"1"}`: "is not a number",
		`{"s":"error"}`:            `"errmsg" is missing`,
		`{"s":"ok"} {}`:            "after top-level value",
		`[1,2]`:                    "not JSON",
	}
	for body, want := range bad {
		if _, err := parseHistory([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", body, err, want)
		}
	}
}

func FuzzParseHistory(f *testing.F) {
	for _, s := range []string{
		`{"s":"ok","t":[60,120],"o":[1,2],"h":[1.5,2.5],"l":[0.5,1.5],"c":[1.2,2.2],"v":[10,20]}`,
		`{"s":"ok","t":[],"o":[],"h":[],"l":[],"c":[],"v":[]}`,
		`{"s":"no_data","nb":-5}`, `{"s":"error","errmsg":""}`, `{"s":"ok","t":[1e3]}`, `null`, `{}`,
		`{"s":"ok","t":[9223372036854775808],"o":[1],"h":[1],"l":[1],"c":[1],"v":[1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := parseHistory(body)
		if err != nil {
			return
		}
		switch h.Status {
		case "ok", "no_data", "error":
		default:
			t.Fatalf("accepted status %q", h.Status)
		}
		for _, b := range h.Bars {
			if !finite(b.O, b.H, b.L, b.C, b.V) {
				t.Fatalf("accepted a non-finite bar %+v", b)
			}
		}
		_ = barTimeProblem(h.Bars, "1")
		_ = barTimeProblem(h.Bars, "1D")
	})
}

func TestParseStreamLine(t *testing.T) {
	m, problems, err := parseStreamLine([]byte(`{"f":"t","id":"AAA","p":1.5,"s":2,"t":1700000000}`))
	if err != nil || len(problems) > 0 || m.Kind != kindTrade || m.ID != "AAA" || m.P != 1.5 || m.S != 2 || m.T != 1700000000 {
		t.Fatalf("trade: %+v %v %v", m, problems, err)
	}
	m, problems, err = parseStreamLine([]byte(`{"f":"q","id":"A","t":1,"ap":2,"as":3,"bp":1,"bs":4}`))
	if err != nil || len(problems) > 0 || m.AP != 2 || m.BS != 4 {
		t.Fatalf("quote: %+v %v %v", m, problems, err)
	}
	m, problems, err = parseStreamLine([]byte(`{"heartbeat":1700000000}`))
	if err != nil || len(problems) > 0 || m.Kind != kindHeartbeat || m.Heartbeat != 1700000000 {
		t.Fatalf("heartbeat: %+v %v %v", m, problems, err)
	}
	_, problems, err = parseStreamLine([]byte(`{"f":"d","id":"A","o":1,"h":"2","l":1,"c":1,"t":0}`))
	if err != nil || len(problems) != 2 || !strings.Contains(strings.Join(problems, ";"), `"v" is missing`) {
		t.Fatalf("daily with a string and a missing field: %v %v", problems, err)
	}
	_, problems, _ = parseStreamLine([]byte(`{"f":"t","id":"","p":1,"s":1,"t":1}`))
	if len(problems) != 1 {
		t.Fatalf("empty id: %v", problems)
	}
	for _, line := range []string{`{"f":"x","id":"A"}`, `{"id":"A"}`, `[]`, `"t"`, `{"f":1}`, `{`} {
		if _, _, err := parseStreamLine([]byte(line)); err == nil {
			t.Errorf("%s: no error", line)
		}
	}
	// Connections are compared on a canonical form: key order and number
	// spelling do not matter.
	a, _, _ := parseStreamLine([]byte(`{"f":"t","id":"A","p":1.50,"s":2,"t":1e9}`))
	b, _, _ := parseStreamLine([]byte(`{"t":1000000000,"s":2.0,"p":1.5,"id":"A","f":"t"}`))
	if string(a.appendCanonical(nil)) != string(b.appendCanonical(nil)) {
		t.Errorf("canonical forms differ: %q %q", a.appendCanonical(nil), b.appendCanonical(nil))
	}
}

func FuzzParseStreamLine(f *testing.F) {
	for _, s := range []string{
		`{"f":"t","id":"AAA","p":1.5,"s":2,"t":1700000000}`,
		`{"f":"q","id":"A","t":1,"ap":2,"as":3,"bp":1,"bs":4}`,
		`{"f":"d","id":"A","o":1,"h":2,"l":1,"c":1,"v":5,"t":86400}`,
		`{"f":"a","id":"A","p":1,"s":1,"t":1}`, `{"heartbeat":1}`, `{"heartbeat":"x"}`, `{"f":""}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, problems, err := parseStreamLine(line)
		if err != nil {
			return
		}
		if m.Kind != kindHeartbeat && requiredFields[m.Kind] == nil {
			t.Fatalf("accepted kind %q", m.Kind)
		}
		if len(problems) == 0 && m.Kind != kindHeartbeat && m.ID == "" {
			t.Fatalf("accepted an empty id: %q", line)
		}
		_ = m.appendCanonical(nil)
	})
}

func TestParseSymbolInfo(t *testing.T) {
	body := `{"s":"ok","symbol":["A","B"],"pricescale":[100,10],"minmovement":1,"currency":["USD",null],"has-daily":[true,false],"bad":[1]}`
	tb, err := parseSymbolInfo([]byte(body))
	if err != nil || tb.n != 2 {
		t.Fatalf("%v %v", tb, err)
	}
	ps, err := tb.numbers("pricescale")
	if err != nil || *ps[0] != 100 || *ps[1] != 10 {
		t.Fatalf("pricescale: %v %v", ps, err)
	}
	mm, err := tb.numbers("minmovement") // a scalar applies to every symbol
	if err != nil || *mm[0] != 1 || *mm[1] != 1 {
		t.Fatalf("minmovement: %v %v", mm, err)
	}
	cur, err := tb.strings("currency")
	if err != nil || str(cur[0]) != "USD" || cur[1] != nil {
		t.Fatalf("currency: %v %v", cur, err)
	}
	if _, err := tb.numbers("bad"); err == nil || !strings.Contains(err.Error(), "1 values for 2 symbols") {
		t.Errorf("short column: %v", err)
	}
	if _, err := tb.strings("pricescale"); err == nil {
		t.Error("numbers read as strings")
	}
	if _, err := tb.bools("currency"); err == nil {
		t.Error("strings read as booleans")
	}
	if v, err := tb.strings("absent"); err != nil || v[0] != nil {
		t.Errorf("absent column: %v %v", v, err)
	}
	for body, want := range map[string]string{
		`{"s":"error","errmsg":"no"}`: `s is "error"`,
		`{"s":"ok"}`:                  `"symbol" is missing`,
		`{"s":"ok","symbol":"A"}`:     `"symbol"`,
		`{"s":"ok","symbol":null}`:    "not an array",
	} {
		if _, err := parseSymbolInfo([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

func FuzzParseSymbolInfo(f *testing.F) {
	f.Add([]byte(`{"s":"ok","symbol":["A","B"],"pricescale":[100,10],"minmovement":1,"session-regular":["24x7","0930-1600:23456"],"timezone":"Etc/UTC"}`))
	f.Add([]byte(`{"s":"ok","symbol":[],"type":[]}`))
	f.Add([]byte(`{"s":"ok","symbol":[null],"ticker":[1]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tb, err := parseSymbolInfo(body)
		if err != nil {
			return
		}
		for _, col := range tb.columns() {
			if v, err := tb.strings(col); err == nil && len(v) != tb.n {
				t.Fatalf("column %s: %d values for %d symbols", col, len(v), tb.n)
			}
			if v, err := tb.numbers(col); err == nil && len(v) != tb.n {
				t.Fatalf("column %s: %d values for %d symbols", col, len(v), tb.n)
			}
			_, _ = tb.bools(col)
		}
		// The whole column pipeline must not panic on any catalogue.
		r := &runner{sel: selection{}, results: map[string]Result{}, c: newClient("http://x", nil, 1, 0)}
		r.checkColumns(tb, &exchange{})
	})
}

func TestParseEnvelopesAndTokens(t *testing.T) {
	at, err := parseAuthorize([]byte(`{"s":"ok","d":{"access_token":"abc","expiration":1700000000}}`))
	if err != nil || at.Token != "abc" || at.Expiration != 1700000000 {
		t.Fatalf("%+v %v", at, err)
	}
	for body, want := range map[string]string{
		`{"s":"ok","d":{"access_token":"","expiration":1}}`:    "empty",
		`{"s":"ok","d":{"access_token":"a"}}`:                  `"expiration" is missing`,
		`{"s":"ok","d":{"access_token":"a","expiration":1.5}}`: "not an integer",
		`{"s":"ok","d":{"access_token":"a","expiration":"1"}}`: "not a number",
		`{"s":"error","errmsg":"wrong password"}`:              "wrong password",
		`{"s":"ok"}`:    `"d" is missing`,
		`{"s":"maybe"}`: `want "ok" or "error"`,
	} {
		if _, err := parseAuthorize([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
	tr, err := parseTokenResponse([]byte(`{"access_token":"x","expires_in":1200,"token_type":"Bearer"}`))
	if err != nil || tr.Token != "x" || tr.ExpiresIn != 1200 || tr.Type != "Bearer" {
		t.Fatalf("%+v %v", tr, err)
	}
	ids, err := parseGroups([]byte(`{"s":"ok","d":{"groups":[{"id":"a_b"},{"id":"a_c"}]}}`))
	if err != nil || strings.Join(ids, ",") != "a_b,a_c" {
		t.Fatalf("%v %v", ids, err)
	}
	if _, err := parseGroups([]byte(`{"s":"ok","d":{"groups":[{}]}}`)); err == nil {
		t.Error("a group without an id accepted")
	}
}

func FuzzParseEnvelopes(f *testing.F) {
	f.Add([]byte(`{"s":"ok","d":{"access_token":"abc","expiration":1700000000}}`))
	f.Add([]byte(`{"access_token":"x","expires_in":1200,"token_type":"Bearer"}`))
	f.Add([]byte(`{"s":"ok","d":{"groups":[{"id":"a_b"}]}}`))
	f.Add([]byte(`{"s":"error","errmsg":"no"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if at, err := parseAuthorize(body); err == nil && at.Token == "" {
			t.Fatal("accepted an empty token")
		}
		if tr, err := parseTokenResponse(body); err == nil && tr.Token == "" {
			t.Fatal("accepted an empty token")
		}
		_, _ = parseGroups(body)
		var v []tradingOrder
		_ = okData(body, &v)
	})
}

func TestSessionProblems(t *testing.T) {
	for session, want := range map[string]string{
		"24x7":                         "",
		"0930-1600":                    "",
		"1700-0900:23456":              "",
		"0930-1600:23456|1000-1400:17": "",
		"0930-1200,1300-1600":          "2 ranges",
		"0930-1600:2|1000-1100:2":      "2 ranges",
		"0930-1600:2234":               "2 ranges",
		"930-1600":                     "HHMM",
		"0930-1600:8":                  "bad day",
		"":                             "empty",
		"0960-1000":                    "out of range",
	} {
		got := strings.Join(sessionProblems(session), "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%q: %q, want %q", session, got, want)
		}
	}
}

func FuzzSessionProblems(f *testing.F) {
	for _, s := range []string{"24x7", "0930-1600", "1700-0900:23456", "0930-1200,1300-1600:2|1000-1100:17", "0000-0000", "2400-0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, session string) {
		problems := sessionProblems(session)
		if s := schedule(session, "America/New_York"); (s != nil) != (len(problems) == 0) {
			t.Fatalf("%q: schedule %v but problems %v", session, s != nil, problems)
		}
	})
}

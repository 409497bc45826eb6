package check

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenCalls is how many logins TradingView's suite makes to see that each
// one returns a new token.
const tokenCalls = 10

// authenticate runs the login checks and picks the token of the data
// requests: --token, else the /authorize token, else the JWT token.
func (r *runner) authenticate(ctx context.Context) {
	r.authClaimed = r.cfg.Login != "" || r.cfg.Token != "" || r.cfg.JWT != nil
	password := r.checkPasswordLogin(ctx)
	jwt := r.checkJWTLogin(ctx)
	for _, t := range []string{r.cfg.Token, password, jwt} {
		if t != "" {
			r.c.setToken(t)
			return
		}
	}
}

// checkPasswordLogin checks POST /authorize and returns its token.
func (r *runner) checkPasswordLogin(ctx context.Context) string {
	if r.cfg.Login == "" {
		r.skip("auth/authorize", "no --login/--password given")
		r.skip("auth/authorize-new-token", "no --login/--password given")
		return ""
	}
	login := func() (accessToken, *exchange, error) {
		form := url.Values{"login": {r.cfg.Login}, "password": {r.cfg.Password}}
		ex := r.c.send(ctx, http.MethodPost, "/authorize", nil, form, withoutToken)
		at, err := r.authorizeAnswer(ex)
		r.c.addSecret(at.Token)
		return at, ex, err
	}
	first, ex, err := login()
	if err != nil {
		r.fail("auth/authorize", ex, "POST /authorize: %v", err)
		r.skip("auth/authorize-new-token", "needs a working /authorize")
		return ""
	}
	r.pass("auth/authorize", "token valid until %s", time.Unix(first.Expiration, 0).UTC().Format(time.RFC3339))
	r.checkNewTokens("auth/authorize-new-token", first.Token, func() (string, *exchange, error) {
		at, ex, err := login()
		return at.Token, ex, err
	})
	return first.Token
}

// authorizeAnswer validates one /authorize answer.
func (r *runner) authorizeAnswer(ex *exchange) (accessToken, error) {
	if err := ex.failed(); err != nil {
		return accessToken{}, err
	}
	if e, err := parseEnvelope(ex.body); err == nil && e.S == "error" {
		r.obs.schema("schema/authorize", "ErrorResponse", ex)
		return accessToken{}, fmt.Errorf("s:error, errmsg %q (are --login and --password right?)", e.Errmsg)
	}
	r.obs.schema("schema/authorize", "AuthorizeResponse", ex)
	if !ex.jsonContentType() {
		return accessToken{}, fmt.Errorf("Content-Type is %q, want JSON", ex.header.Get("Content-Type"))
	}
	at, err := parseAuthorize(ex.body)
	if err != nil {
		return at, err
	}
	now := r.clk.Now().Unix()
	switch {
	case at.Expiration > 1e11:
		return at, fmt.Errorf("expiration %d looks like milliseconds; it is Unix seconds", at.Expiration)
	case at.Expiration <= now:
		return at, fmt.Errorf("expiration %s is not in the future", unixString(at.Expiration))
	}
	return at, nil
}

// checkNewTokens logs in tokenCalls times in all and requires a different
// token each time: many TradingView machines log in with the same
// credentials, and must not share (and revoke) one token.
func (r *runner) checkNewTokens(name, first string, login func() (string, *exchange, error)) {
	seen := map[string]bool{first: true}
	for i := 1; i < tokenCalls; i++ {
		tok, ex, err := login()
		if err != nil {
			r.fail(name, ex, "login %d of %d failed: %v", i+1, tokenCalls, err)
			return
		}
		if seen[tok] {
			r.fail(name, ex, "login %d of %d returned a token an earlier login returned; each login must get a new token", i+1, tokenCalls)
			return
		}
		seen[tok] = true
	}
	r.pass(name, "%d logins returned %d different tokens", tokenCalls, len(seen))
}

// checkJWTLogin checks the JWT-assertion token exchange and returns its
// token.
func (r *runner) checkJWTLogin(ctx context.Context) string {
	j := r.cfg.JWT
	if j == nil {
		r.skip("auth/jwt", "no --jwt-key given")
		r.skip("auth/jwt-new-token", "no --jwt-key given")
		return ""
	}
	login := func() (string, *exchange, error) {
		assertion, err := j.assertion(r.clk.Now())
		if err != nil {
			return "", nil, err
		}
		ex := r.c.sendURL(ctx, http.MethodPost, j.TokenURL, j.form(assertion), withoutToken)
		tok, err := r.tokenAnswer(ex)
		r.c.addSecret(tok)
		return tok, ex, err
	}
	first, ex, err := login()
	if err != nil {
		r.fail("auth/jwt", ex, "POST %s: %v", j.TokenURL, err)
		r.skip("auth/jwt-new-token", "needs a working JWT token exchange")
		return ""
	}
	r.pass("auth/jwt", "the token exchange at %s works", j.TokenURL)
	r.checkNewTokens("auth/jwt-new-token", first, login)
	return first
}

func (r *runner) tokenAnswer(ex *exchange) (string, error) {
	if err := ex.failed(); err != nil {
		return "", err
	}
	tr, err := parseTokenResponse(ex.body)
	if err != nil {
		return tr.Token, err
	}
	switch {
	case tr.ExpiresIn <= 0:
		return tr.Token, errors.New("expires_in is missing or not positive: the token would never be refreshed")
	case !strings.EqualFold(tr.Type, "bearer"):
		return tr.Token, fmt.Errorf("token_type is %q, want \"Bearer\"", tr.Type)
	}
	return tr.Token, nil
}

// checkUnauthorized requires HTTP 401 from the data endpoints without a
// token and with an invalid one, when the server claims auth.
func (r *runner) checkUnauthorized(ctx context.Context) {
	if !r.sel.anyEnabled("auth/401") {
		return
	}
	if !r.authClaimed {
		r.skipAll("auth/401", "no credentials given (--login/--password, --token or --jwt-key): the server is checked as public")
		return
	}
	now := r.clk.Now().Unix()
	symbol := "AAPL"
	if r.symbols != nil && len(r.symbols.list) > 0 {
		symbol = r.symbols.list[0].Ticker
	}
	historyQuery := url.Values{"symbol": {symbol}, "resolution": {"1"},
		"from": {fmt.Sprint(now - 3600)}, "to": {fmt.Sprint(now)}}
	endpoints := []struct {
		name, path string
		q          url.Values
		stream     bool
	}{
		{"auth/401/symbol_info", "/symbol_info", nil, false},
		{"auth/401/history", "/history", historyQuery, false},
		{"auth/401/streaming", "/streaming", nil, true},
		{"auth/401/groups", "/groups", nil, false},
	}
	for _, e := range endpoints {
		if !r.sel.enabled(e.name) {
			continue
		}
		r.checkOne401(ctx, e.name, e.path, e.q, e.stream)
	}
}

func (r *runner) checkOne401(ctx context.Context, name, path string, q url.Values, stream bool) {
	for _, mode := range []authMode{withoutToken, withBadToken} {
		var ex *exchange
		if stream {
			ex = r.c.status(ctx, path, q, mode)
		} else {
			ex = r.c.get(ctx, path, q, mode)
		}
		how := map[authMode]string{withoutToken: "without a token", withBadToken: "with an invalid token"}[mode]
		switch {
		case ex.err != nil && ex.status == 0:
			r.fail(name, ex, "%s %s: %v", path, how, ex.err)
			return
		case ex.status == http.StatusNotFound && path == "/groups":
			r.skip(name, "/groups answers HTTP 404: the server has no groups")
			return
		case ex.status != http.StatusUnauthorized:
			r.fail(name, ex, "%s %s answered HTTP %d, want 401", path, how, ex.status)
			return
		}
	}
	r.pass(name, "HTTP 401 without a token and with an invalid one")
}

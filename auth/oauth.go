package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// This file is TradingView's OAuth2Bearer authorization code flow: the
// login page at /oauth/authorize, the token endpoint (which also serves
// the ServerOAuth2Bearer JWT grant, see jwtgrant.go) and /oauth/logout.

const (
	// sessionCookie identifies the browser's login, so /oauth/logout can
	// revoke the tokens issued through it. The server keeps only its hash.
	sessionCookie = "tvb_session"
	// csrfCookie pairs with the form's csrf field (double submit), so
	// another site cannot post its own credentials through the user's
	// browser. SameSite=Lax keeps it off cross-site posts.
	csrfCookie = "tvb_csrf"
	// csrfLifetime is how long a login form stays valid.
	csrfLifetime = time.Hour
	// maxStateLen bounds the state TradingView passes through us.
	maxStateLen = 2048
)

// authRequest is a validated authorization request: the client and where
// to send the browser back.
type authRequest struct {
	client   *ClientRecord
	redirect string
	state    string
	lang     string
}

// parseAuthRequest validates client_id and redirect_uri from params. On
// failure the browser must not be redirected (RFC 6749 section 4.1.2.1):
// the caller shows the message key returned.
func (s *Service) parseAuthRequest(params url.Values, r *http.Request) (*authRequest, string, error) {
	ar := &authRequest{state: params.Get("state"), lang: langOf(params.Get("lang"), r)}
	var err error
	ar.client, err = s.lookupClient(params.Get("client_id"))
	if err != nil {
		return ar, msgInternal, err
	}
	if ar.client == nil || ar.client.Kind != CodeClient {
		return ar, msgUnknownClient, nil
	}
	// redirect_uri is required (TradingView always sends it), so the token
	// request can always be checked against it.
	ar.redirect = params.Get("redirect_uri")
	if !slices.Contains(ar.client.RedirectURIs, ar.redirect) {
		return ar, msgBadRedirect, nil
	}
	return ar, "", nil
}

func (s *Service) lookupClient(id string) (*ClientRecord, error) { return s.store.LookupClient(id) }

// serveOAuthAuthorize is /oauth/authorize: GET shows the login form, POST
// checks it and redirects back with a code.
func (s *Service) serveOAuthAuthorize(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	if r.Method == http.MethodPost {
		s.submitLogin(w, r)
		return
	}
	q := r.URL.Query()
	ar, problem, err := s.parseAuthRequest(q, r)
	if problem != "" {
		s.showProblem(w, r, ar.lang, problem, err)
		return
	}
	switch {
	case len(ar.state) > maxStateLen:
		redirectError(w, r, ar, "invalid_request", "state too long")
	case q.Get("response_type") != "code":
		redirectError(w, r, ar, "unsupported_response_type", "only response_type=code is supported")
	case q.Get("prompt") == "none":
		// No sign-in session is kept to reuse silently (OpenID Connect's answer).
		redirectError(w, r, ar, "login_required", "sign-in required")
	default:
		s.showLoginForm(w, r, ar, "", "", http.StatusOK)
	}
}

// submitLogin is the POST of the login form.
func (s *Service) submitLogin(w http.ResponseWriter, r *http.Request) {
	if err := parsePostForm(w, r); err != nil {
		s.showProblem(w, r, langOf("", r), msgFormExpired, nil)
		return
	}
	f := r.PostForm
	ar, problem, err := s.parseAuthRequest(f, r)
	if problem != "" {
		s.showProblem(w, r, ar.lang, problem, err)
		return
	}
	login, password := f.Get("login"), f.Get("password")
	switch {
	case !validCSRF(r, f.Get("csrf")):
		s.showLoginForm(w, r, ar, login, msgFormExpired, http.StatusOK)
		return
	case login == "" || password == "":
		s.showLoginForm(w, r, ar, login, msgMissingFields, http.StatusOK)
		return
	case len(ar.state) > maxStateLen:
		redirectError(w, r, ar, "invalid_request", "state too long")
		return
	}
	user, err := s.checkLogin(r.Context(), r, login, password)
	if err != nil {
		s.showLoginError(w, r, ar, login, err)
		return
	}
	s.grantCode(w, r, ar, user)
}

// grantCode issues an authorization code and sends the browser back to
// the client with it and the unchanged state.
func (s *Service) grantCode(w http.ResponseWriter, r *http.Request, ar *authRequest, user string) {
	session, err := newToken()
	if err != nil {
		s.showProblem(w, r, ar.lang, msgInternal, err)
		return
	}
	now := s.cfg.Clock.Now()
	code, err := s.store.CreateCode(AuthCode{
		Client: ar.client.ID, User: user, Redirect: ar.redirect,
		Session: sessionHash(session), Expires: now.Add(s.cfg.CodeLifetime).Unix(),
	})
	if err != nil {
		s.showProblem(w, r, ar.lang, msgInternal, err)
		return
	}
	setCookie(w, sessionCookie, session, s.cfg.RefreshLifetime)
	setCookie(w, csrfCookie, "", -1)
	s.log.Info("auth: oauth login", "login", user, "client", ar.client.ID, "address", s.cfg.ClientAddress(r))
	params := url.Values{"code": {code}}
	if ar.state != "" {
		params.Set("state", ar.state)
	}
	http.Redirect(w, r, withQuery(ar.redirect, params), http.StatusSeeOther)
}

// redirectError sends an OAuth error back to the client's redirect URI.
func redirectError(w http.ResponseWriter, r *http.Request, ar *authRequest, code, desc string) {
	params := url.Values{"error": {code}, "error_description": {desc}}
	if ar.state != "" && len(ar.state) <= maxStateLen {
		params.Set("state", ar.state)
	}
	http.Redirect(w, r, withQuery(ar.redirect, params), http.StatusSeeOther)
}

// withQuery appends params to a registered URI, keeping its own query.
func withQuery(uri string, params url.Values) string {
	u, err := url.Parse(uri)
	if err != nil { // registered URIs were validated when the client was added
		return uri
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + params.Encode()
	} else {
		u.RawQuery = params.Encode()
	}
	return u.String()
}

func sessionHash(session string) string {
	sum := sha256.Sum256([]byte(session))
	return hex.EncodeToString(sum[:])
}

func validCSRF(r *http.Request, field string) bool {
	c, err := r.Cookie(csrfCookie)
	return err == nil && len(field) == tokenLen && subtle.ConstantTimeCompare([]byte(c.Value), []byte(field)) == 1
}

// setCookie sets (maxAge > 0) or clears (maxAge < 0) an HttpOnly, Secure,
// SameSite=Lax cookie. Browsers accept Secure cookies on http://localhost.
func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	age := int(maxAge / time.Second)
	if maxAge < 0 {
		age = -1
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: age,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

// serveOAuthLogout is GET /oauth/logout?client_id=&returnTo=: it revokes
// the tokens issued through this browser's login and sends the browser to
// returnTo when that is registered for the client.
func (s *Service) serveOAuthLogout(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	lang := langOf(r.URL.Query().Get("lang"), r)
	if c, err := r.Cookie(sessionCookie); err == nil && len(c.Value) == tokenLen {
		ids, err := s.store.RevokeSession(sessionHash(c.Value))
		if err != nil {
			s.showProblem(w, r, lang, msgInternal, err)
			return
		}
		s.watch.revokeFamilies(ids...)
		s.stats.revoked.Add(uint64(len(ids)))
		s.log.Info("auth: oauth logout", "sessions_revoked", len(ids))
	}
	setCookie(w, sessionCookie, "", -1)
	cl, err := s.lookupClient(r.URL.Query().Get("client_id"))
	if err != nil {
		s.showProblem(w, r, lang, msgInternal, err)
		return
	}
	returnTo := r.URL.Query().Get("returnTo")
	switch {
	case returnTo == "":
		s.showPage(w, lang, pageData{Message: text(lang, msgSignedOut)}, http.StatusOK)
	case cl != nil && slices.Contains(cl.LogoutReturnTo, returnTo):
		http.Redirect(w, r, returnTo, http.StatusSeeOther)
	default:
		s.log.Warn("auth: logout returnTo not registered", "client", r.URL.Query().Get("client_id"))
		s.showPage(w, lang, pageData{Message: text(lang, msgBadReturnTo)}, http.StatusBadRequest)
	}
}

// showLoginError re-shows the form after a refused login.
func (s *Service) showLoginError(w http.ResponseWriter, r *http.Request, ar *authRequest, login string, err error) {
	var le *loginError
	if !errors.As(err, &le) {
		s.showProblem(w, r, ar.lang, msgInternal, err)
		return
	}
	status := http.StatusOK
	if le.msg == msgTooMany {
		status = http.StatusTooManyRequests
	}
	s.showLoginForm(w, r, ar, login, le.msg, status, minutes(le.retryAfter))
}

// showProblem shows an error page; err, when set, is logged.
func (s *Service) showProblem(w http.ResponseWriter, r *http.Request, lang, msg string, err error) {
	status := http.StatusBadRequest
	if msg == msgInternal {
		status = http.StatusInternalServerError
		s.log.Error("auth: oauth request failed", "path", r.URL.Path, "err", err)
	}
	s.showPage(w, lang, pageData{Error: text(lang, msg)}, status)
}

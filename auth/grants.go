package auth

import (
	"errors"
	"net/http"
	"net/url"
	"time"
)

// serveToken is POST /oauth/token: the authorization_code and
// refresh_token grants of the code flow, and the JWT-bearer grant of the
// data connection (grant_type is the client's registered URN).
func (s *Service) serveToken(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	w.Header().Set("Pragma", "no-cache") // with writeJSON's Cache-Control: no-store, as RFC 6749 asks
	if err := parsePostForm(w, r); err != nil {
		writeOAuthError(w, r, &GrantError{"invalid_request", err.Error()})
		return
	}
	var (
		out    Issued
		family string
		err    error
	)
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "authorization_code":
		out, family, err = s.codeGrant(r)
	case "refresh_token":
		out, family, err = s.refreshGrant(r)
	case "":
		err = &GrantError{"invalid_request", "grant_type is required"}
	default:
		out, err = s.jwtGrant(r, grant)
	}
	if family != "" { // a reused code or refresh token revoked a session
		s.watch.revokeFamilies(family)
		s.stats.revoked.Add(1)
	}
	if err != nil {
		s.logGrantError(r, err)
		writeOAuthError(w, r, err)
		return
	}
	s.stats.issued(r.PostForm.Get("grant_type"))
	writeJSON(w, http.StatusOK, s.tokenResponse(out))
}

// tokenResponse is RFC 6749's token response, plus TradingView's
// expiration (Unix seconds), which its /authorize tests look for.
type tokenResponse struct {
	AccessToken           string `json:"access_token"`
	TokenType             string `json:"token_type"`
	ExpiresIn             int64  `json:"expires_in"`
	Expiration            int64  `json:"expiration"`
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
}

func (s *Service) tokenResponse(out Issued) tokenResponse {
	now := s.cfg.Clock.Now()
	resp := tokenResponse{
		AccessToken: out.Access, TokenType: "Bearer",
		ExpiresIn: seconds(out.AccessExp.Sub(now)), Expiration: out.AccessExp.Unix(),
	}
	if out.Refresh != "" {
		resp.RefreshToken = out.Refresh
		resp.RefreshTokenExpiresIn = seconds(out.RefreshExp.Sub(now))
	}
	return resp
}

func seconds(d time.Duration) int64 { return max(0, int64(d/time.Second)) }

// codeGrant redeems an authorization code.
func (s *Service) codeGrant(r *http.Request) (Issued, string, error) {
	c, err := s.authenticateClient(r)
	if err != nil {
		return Issued{}, "", err
	}
	if c.Kind != CodeClient {
		return Issued{}, "", &GrantError{"unauthorized_client", "client may not use the authorization_code grant"}
	}
	f := r.PostForm
	out, revoked, err := s.store.RedeemCode(s.cfg.Clock.Now(), f.Get("code"), c.ID, f.Get("redirect_uri"), s.oauthLifetimes())
	if err == nil {
		s.log.Info("auth: oauth tokens issued", "grant", "authorization_code", "client", c.ID)
	}
	return out, revoked, err
}

// refreshGrant rotates a refresh token. TradingView sends only the refresh
// token and client_secret, so the client is the one the token belongs to.
func (s *Service) refreshGrant(r *http.Request) (Issued, string, error) {
	id, secret, _ := clientCredentials(r)
	authenticate := func(c *ClientRecord) error {
		if c == nil || c.Kind != CodeClient || (id != "" && id != c.ID) || !c.checkSecret(secret) {
			return &GrantError{"invalid_client", "client authentication failed"}
		}
		return nil
	}
	out, revoked, err := s.store.Refresh(s.cfg.Clock.Now(), r.PostForm.Get("refresh_token"), authenticate, s.oauthLifetimes())
	if revoked != "" {
		s.log.Warn("auth: refresh token reused; session revoked", "family", revoked)
	}
	return out, revoked, err
}

// jwtGrant verifies a JWT-bearer assertion and issues a data token.
func (s *Service) jwtGrant(r *http.Request, grant string) (Issued, error) {
	c, err := s.authenticateClient(r)
	if err != nil {
		return Issued{}, err
	}
	if c.Kind != JWTClient || !c.acceptsGrant(grant) {
		return Issued{}, &GrantError{"unsupported_grant_type", "grant_type not supported for this client"}
	}
	now := s.cfg.Clock.Now()
	v, err := verifyAssertion(r.PostForm.Get("assertion"), c, jwtPolicy{now: now, skew: s.cfg.ClockSkew, maxLifetime: s.cfg.MaxAssertionLifetime})
	if err != nil {
		return Issued{}, invalidGrant(err.Error())
	}
	user, _ := normalizeLogin(c.User) // validated when the client was added
	out, err := s.store.RedeemAssertion(now, v.replayKey, v.keepUntil, Family{User: user, Client: c.ID, Scheme: SchemeJWT},
		Lifetimes{Access: s.cfg.TokenLifetime})
	if err == nil {
		s.log.Info("auth: oauth tokens issued", "grant", "jwt-bearer", "client", c.ID, "user", user)
	}
	return out, err
}

func (c *ClientRecord) acceptsGrant(grant string) bool {
	want := c.GrantType
	if want == "" {
		want = DefaultGrantType
	}
	return grant == want || grant == "urn:ietf:params:oauth:grant-type:jwt-bearer"
}

func (s *Service) oauthLifetimes() Lifetimes {
	return Lifetimes{Access: s.cfg.TokenLifetime, Refresh: s.cfg.RefreshLifetime}
}

// clientCredentials reads client_id and client_secret from HTTP Basic
// (RFC 6749 section 2.3.1, form-encoded inside) or from the form.
func clientCredentials(r *http.Request) (id, secret string, basic bool) {
	if u, p, ok := r.BasicAuth(); ok {
		if v, err := url.QueryUnescape(u); err == nil {
			u = v
		}
		if v, err := url.QueryUnescape(p); err == nil {
			p = v
		}
		return u, p, true
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), false
}

func (s *Service) authenticateClient(r *http.Request) (*ClientRecord, error) {
	id, secret, _ := clientCredentials(r)
	c, err := s.lookupClient(id)
	if err != nil {
		return nil, err
	}
	if c == nil || !c.checkSecret(secret) {
		return nil, &GrantError{"invalid_client", "client authentication failed"}
	}
	return c, nil
}

func (s *Service) logGrantError(r *http.Request, err error) {
	var ge *GrantError
	if !errors.As(err, &ge) {
		s.log.Error("auth: token request failed", "err", err)
		return
	}
	id, _, _ := clientCredentials(r)
	s.log.Warn("auth: token request refused", "grant", r.PostForm.Get("grant_type"), "client", quoteShort(id),
		"error", ge.Code, "reason", ge.Description, "address", r.RemoteAddr)
}

// quoteShort bounds client input in logs.
func quoteShort(v string) string {
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return v
}

// writeOAuthError answers an OAuth error (RFC 6749 section 5.2): 401 for
// a failed client authentication, 400 otherwise, 500 for our own failures.
func writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	var ge *GrantError
	if !errors.As(err, &ge) {
		ge = &GrantError{"server_error", "the server could not complete the request; please retry"}
		writeJSON(w, http.StatusInternalServerError, oauthError{ge.Code, ge.Description})
		return
	}
	status := http.StatusBadRequest
	if ge.Code == "invalid_client" {
		status = http.StatusUnauthorized
		if _, _, basic := clientCredentials(r); basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="tvbridge"`)
		}
	}
	writeJSON(w, status, oauthError{ge.Code, ge.Description})
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

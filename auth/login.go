package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// loginError is a refused login; msg is a message key (see messages).
type loginError struct {
	msg        string
	retryAfter time.Duration // for msgTooMany
}

func (e *loginError) Error() string { return e.msg }

// checkLogin verifies a login and password from r, applying the per-login
// and per-address limits. It returns the normalized login.
func (s *Service) checkLogin(ctx context.Context, r *http.Request, login, password string) (string, error) {
	addr := s.cfg.ClientAddress(r)
	norm, nameErr := normalizeLogin(login)
	left, blocked, err := s.byAddress.blocked(addr)
	if err != nil {
		return "", fmt.Errorf("count failed logins: %w", err)
	}
	if blocked {
		return "", s.refuseBlocked(r, norm, addr, left)
	}
	if nameErr == nil {
		if left, blocked, err = s.byLogin.blocked(norm); err != nil {
			return "", fmt.Errorf("count failed logins: %w", err)
		}
		if blocked {
			return "", s.refuseBlocked(r, norm, addr, left)
		}
	}
	hash := ""
	if nameErr == nil && len(password) <= maxPasswordLen {
		if hash, err = s.store.PasswordHash(norm); err != nil {
			return "", fmt.Errorf("look up user: %w", err)
		}
	}
	known := hash != ""
	if !known {
		hash = s.dummyHash
	}
	ok, err := s.gate.verify(ctx, []byte(password), hash)
	if err != nil {
		return "", fmt.Errorf("check password: %w", err)
	}
	if !ok || !known {
		if err := s.byAddress.fail(addr); err != nil {
			s.log.Error("auth: counting a failed login failed", "err", err)
		}
		if nameErr == nil {
			if err := s.byLogin.fail(norm); err != nil {
				s.log.Error("auth: counting a failed login failed", "err", err)
			}
		}
		s.logFailure(r, norm, known, addr, "wrong login or password")
		s.stats.loginsFailed.Add(1)
		return "", &loginError{msg: msgBadCredentials}
	}
	if err := s.byLogin.reset(norm); err != nil {
		s.log.Error("auth: resetting failed logins failed", "err", err)
	}
	s.stats.loginsOK.Add(1)
	return norm, nil
}

func (s *Service) refuseBlocked(r *http.Request, login, addr string, left time.Duration) error {
	known := false
	if h, err := s.store.PasswordHash(login); err == nil && h != "" {
		known = true
	}
	s.logFailure(r, login, known, addr, "too many failed logins")
	s.stats.loginsLocked.Add(1)
	return &loginError{msg: msgTooMany, retryAfter: left}
}

// logFailure logs a refused login. The login is named only when it is a
// real user's: people type passwords into the login field, and those must
// not reach the log.
func (s *Service) logFailure(r *http.Request, login string, known bool, addr, reason string) {
	name := "(unknown login)"
	if known {
		name = login
	}
	s.log.Warn("auth: login refused", "login", name, "address", addr, "path", r.URL.Path, "reason", reason)
}

// serveAuthorize is POST /authorize: PasswordBearer login.
func (s *Service) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	if err := parsePostForm(w, r); err != nil {
		writeJSON(w, http.StatusOK, errorBody(err.Error()))
		return
	}
	lang := langOf(r.PostForm.Get("locale"), r)
	login, password := r.PostForm.Get("login"), r.PostForm.Get("password")
	if login == "" || password == "" {
		writeJSON(w, http.StatusOK, errorBody(text(lang, msgMissingFields)))
		return
	}
	user, err := s.checkLogin(r.Context(), r, login, password)
	if err != nil {
		s.writeLoginError(w, lang, err)
		return
	}
	out, err := s.store.Issue(s.cfg.Clock.Now(), Family{User: user, Scheme: SchemePassword}, Lifetimes{Access: s.cfg.TokenLifetime})
	if err != nil {
		s.log.Error("auth: issuing a token failed", "err", err)
		writeJSON(w, http.StatusOK, errorBody(text(lang, msgInternal)))
		return
	}
	s.stats.issuedPassword.Add(1)
	s.log.Info("auth: password login", "login", user, "address", s.cfg.ClientAddress(r))
	writeJSON(w, http.StatusOK, authorizeResponse{S: "ok", D: accessToken{AccessToken: out.Access, Expiration: out.AccessExp.Unix()}})
}

type authorizeResponse struct {
	S string      `json:"s"`
	D accessToken `json:"d"`
}

type accessToken struct {
	AccessToken string `json:"access_token"`
	Expiration  int64  `json:"expiration"`
}

// writeLoginError answers a refused /authorize in TradingView's error
// envelope: HTTP 200, errmsg shown to the user.
func (s *Service) writeLoginError(w http.ResponseWriter, lang string, err error) {
	var le *loginError
	if !errors.As(err, &le) {
		s.log.Error("auth: login failed", "err", err)
		writeJSON(w, http.StatusOK, errorBody(text(lang, msgInternal)))
		return
	}
	msg := text(lang, le.msg)
	if le.msg == msgTooMany {
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(le.retryAfter.Seconds()))))
		msg = fmt.Sprintf(msg, minutes(le.retryAfter))
	}
	writeJSON(w, http.StatusOK, errorBody(msg))
}

func minutes(d time.Duration) int { return int(math.Ceil(d.Minutes())) }

// langOf picks the message language: Russian for a ru locale or lang
// parameter, or a browser asking for Russian first; English otherwise.
func langOf(param string, r *http.Request) string {
	if param != "" {
		if strings.HasPrefix(strings.ToLower(param), "ru") {
			return "ru"
		}
		return "en"
	}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.Header.Get("Accept-Language"))), "ru") {
		return "ru"
	}
	return "en"
}

package auth

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
)

// Service authenticates TradingView's requests: it serves the login and
// token endpoints and guards the others with Protect.
type Service struct {
	cfg      Config
	store    TokenStore
	own      *Store // the store New opened, closed by Close
	failures FailureStore
	log      *slog.Logger

	gate      kdfGate
	dummyHash string // verified for unknown logins, so they cost what known ones do
	byLogin   *limiter
	byAddress *limiter
	watch     watchers

	stop     chan struct{}
	done     chan struct{}
	pollDone chan struct{} // nil unless pollRevocations runs
	stopOnce sync.Once

	stats stats // for metrics (stats.go)
}

// New opens the auth database (unless cfg.Store is given) and starts the
// sweeper that deletes expired tokens (and forgets ended failed-login
// windows).
func New(cfg Config) (*Service, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:       cfg,
		store:     cfg.Store,
		log:       cfg.Logger,
		gate:      newKDFGate(),
		failures:  cfg.Failures,
		byLogin:   newLimiter(cfg.Failures, ScopeLogin, cfg.Clock, cfg.MaxFailuresPerLogin, cfg.FailureWindow),
		byAddress: newLimiter(cfg.Failures, ScopeAddress, cfg.Clock, cfg.MaxFailuresPerAddress, cfg.FailureWindow),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	dummy, err := hashPassword([]byte("not a password of anyone"), cfg.KDF)
	if err != nil {
		return nil, err
	}
	s.dummyHash = dummy
	if s.store == nil {
		path := filepath.Join(cfg.DataDir, DBFile)
		if s.own, err = OpenStore(path, StoreOptions{KDF: cfg.KDF, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		s.store = s.own
	}
	go s.sweepLoop()
	if fc, ok := s.store.(FamilyChecker); ok && cfg.RevocationPoll > 0 {
		s.pollDone = make(chan struct{})
		go s.pollRevocations(fc)
	}
	return s, nil
}

// Close stops the sweeper and closes the database if New opened it.
func (s *Service) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	if s.pollDone != nil {
		<-s.pollDone
	}
	if s.own != nil {
		return s.own.Close()
	}
	return nil
}

func (s *Service) sweepLoop() {
	defer close(s.done)
	t := s.cfg.Clock.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C():
			s.sweep()
		}
	}
}

func (s *Service) sweep() {
	n, err := s.store.Sweep(s.cfg.Clock.Now())
	if err != nil {
		s.log.Error("auth: deleting expired tokens failed", "err", err)
	} else if n > 0 {
		s.log.Debug("auth: deleted expired tokens", "records", n)
	}
	if err := s.failures.PruneFailures(s.cfg.Clock.Now(), s.cfg.FailureWindow); err != nil {
		s.log.Error("auth: forgetting ended failed-login windows failed", "err", err)
	}
}

// Paths of the endpoints Register serves.
const (
	PathAuthorize      = "/authorize"
	PathLogout         = "/logout"
	PathPermissions    = "/permissions"
	PathOAuthAuthorize = "/oauth/authorize"
	PathOAuthToken     = "/oauth/token"
	PathOAuthLogout    = "/oauth/logout"
)

// Register adds the auth endpoints to mux: POST /authorize (PasswordBearer
// login), POST /logout and GET /permissions (behind a Trading token), and
// the OAuth endpoints /oauth/authorize (login page), /oauth/token (code,
// refresh and JWT-bearer grants) and /oauth/logout.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle(PathAuthorize, s.endpoint(s.serveAuthorize))
	mux.Handle(PathLogout, s.Protect(Trading, s.endpoint(s.serveLogout)))
	mux.Handle(PathPermissions, s.Protect(Trading, s.endpoint(s.servePermissions)))
	mux.Handle(PathOAuthAuthorize, s.endpoint(s.serveOAuthAuthorize))
	mux.Handle(PathOAuthToken, s.endpoint(s.serveToken))
	mux.Handle(PathOAuthLogout, s.endpoint(s.serveOAuthLogout))
}

// endpoint recovers a panic into a logged 500, so no stack trace reaches
// a peer and one bad request cannot take the server down.
func (s *Service) endpoint(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("auth: panic serving request", "path", r.URL.Path, "remote", r.RemoteAddr,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, errorBody("internal error; please retry later"))
			}
		}()
		h(w, r)
	})
}

// maxFormBytes bounds every form body the auth endpoints read.
const maxFormBytes = 64 << 10

// parsePostForm reads an application/x-www-form-urlencoded body (never the
// query string: secrets in URLs end up in logs).
func parsePostForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("bad form: %w", err)
	}
	return nil
}

// allowMethods answers 405 unless r uses one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allow := methods[0]
	for _, m := range methods[1:] {
		allow += ", " + m
	}
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, errorBody("method "+r.Method+" not allowed; use "+allow))
	return false
}

type tvError struct {
	S      string `json:"s"`
	Errmsg string `json:"errmsg"`
}

// errorBody is TradingView's error envelope.
func errorBody(msg string) tvError { return tvError{S: "error", Errmsg: msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only plain structs and maps of strings reach here
		status, body = http.StatusInternalServerError, []byte(`{"s":"error","errmsg":"internal error"}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing to do
}

package auth

import (
	"net/http"
	"slices"

	"tvbridge"
)

// The endpoints behind a Trading token: POST /logout and GET /permissions.

// serveLogout is POST /logout: it revokes the caller's token (and, for an
// OAuth token, the refresh token of its session).
func (s *Service) serveLogout(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	g, ok := r.Context().Value(grantKey{}).(*Grant)
	if !ok { // a wiring mistake: Register puts /logout behind Protect
		writeJSON(w, http.StatusUnauthorized, errorBody(errNoToken.Error()))
		return
	}
	if err := s.store.RevokeFamily(g.FamilyID); err != nil {
		s.log.Error("auth: logout failed", "err", err)
		writeJSON(w, http.StatusOK, errorBody("logout failed; please retry"))
		return
	}
	s.watch.revokeFamilies(g.FamilyID)
	s.stats.revoked.Add(1)
	s.log.Info("auth: logout", "login", g.Family.User, "scheme", g.Family.Scheme)
	writeJSON(w, http.StatusOK, map[string]string{"s": "ok"})
}

// servePermissions is GET /permissions: the groups the user may read.
func (s *Service) servePermissions(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	all := s.cfg.Groups()
	groups := all
	if p, ok := tvbridge.PrincipalFrom(r.Context()); ok && p.Groups != nil {
		groups = intersect(p.Groups, all)
	}
	if groups == nil {
		groups = []string{}
	}
	type permissions struct {
		Groups []string `json:"groups"`
	}
	writeJSON(w, http.StatusOK, struct {
		S string      `json:"s"`
		D permissions `json:"d"`
	}{"ok", permissions{groups}})
}

// intersect keeps the user's groups that still exist, in the user's order.
func intersect(mine, all []string) []string {
	out := []string{}
	for _, g := range mine {
		if slices.Contains(all, g) {
			out = append(out, g)
		}
	}
	return out
}

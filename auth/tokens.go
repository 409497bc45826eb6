package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
)

// Schemes, as Principal.Scheme spells them.
const (
	SchemePassword = "password"   // PasswordBearer: POST /authorize
	SchemeOAuth2   = "oauth2"     // OAuth2Bearer: the authorization code flow
	SchemeJWT      = "jwt-bearer" // ServerOAuth2Bearer: the JWT assertion grant
	SchemeNone     = "none"       // public data endpoints
)

// family is one login; see Store.
type Family struct {
	User    string `json:"user"`
	Client  string `json:"client,omitempty"`
	Scheme  string `json:"scheme"`
	Session string `json:"session,omitempty"` // hex SHA-256 of the browser session cookie
	// MinSeq retires older access tokens: one with a lower seq is refused.
	// It moves up when a newer token is first used, which is how the old
	// access token stays valid until its replacement is in use.
	MinSeq  uint64 `json:"min_seq,omitempty"`
	NextSeq uint64 `json:"next_seq"` // seq of the next access token
}

type accessRecord struct {
	Family  string `json:"family"`
	Seq     uint64 `json:"seq"`
	Expires int64  `json:"exp"` // Unix seconds
}

type refreshRecord struct {
	Family  string `json:"family"`
	Expires int64  `json:"exp"`
	// Used marks a rotated token, kept until it expires: presenting it
	// again means it leaked, and revokes the whole family.
	Used bool `json:"used,omitempty"`
}

type AuthCode struct {
	Client   string `json:"client"`
	User     string `json:"user"`
	Redirect string `json:"redirect_uri"`
	Session  string `json:"session,omitempty"`
	Expires  int64  `json:"exp"`
	// Family is set once the code is redeemed; a second redemption
	// revokes it (RFC 6749 section 4.1.2).
	Family string `json:"family,omitempty"`
}

// Token validation errors; their text reaches the client in a 401.
var (
	ErrUnknownToken = errors.New("unknown or revoked token")
	ErrExpiredToken = errors.New("token expired")
	ErrRetiredToken = errors.New("token replaced by a newer one")
)

// tokenLen is the length of every token and code: 32 random bytes in
// unpadded base64url.
const tokenLen = 43

// NewToken returns a fresh unguessable token (also an authorization code).
func NewToken() (string, error) { return newToken() }

// newToken returns a fresh unguessable token.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tokenKey is the database key of a token: its SHA-256. The raw token is
// never stored, so a copy of the database grants nothing.
func tokenKey(tok string) []byte { return TokenKey(tok) }

// TokenKey is what a backend stores of a token, code or session instead of
// the token itself: its SHA-256.
func TokenKey(tok string) []byte {
	sum := sha256.Sum256([]byte(tok))
	return sum[:]
}

// NewFamilyID returns a fresh random token family id (32 hex digits).
func NewFamilyID() (string, error) { return newFamilyID() }

func newFamilyID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("family id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Issued is what a grant hands out.
type Issued struct {
	Family     string
	Access     string
	AccessExp  time.Time
	Refresh    string // empty when the grant has no refresh token
	RefreshExp time.Time
}

// Lifetimes are the token lifetimes a grant uses.
type Lifetimes struct {
	Access, Refresh time.Duration // Refresh 0: no refresh token
}

// issueTx creates a family and its first tokens inside tx.
func issueTx(tx *bbolt.Tx, now time.Time, f Family, lt Lifetimes) (Issued, error) {
	id, err := newFamilyID()
	if err != nil {
		return Issued{}, err
	}
	f.NextSeq = 0
	out := Issued{Family: id}
	if err := addTokens(tx, now, id, &f, lt, &out); err != nil {
		return Issued{}, err
	}
	return out, nil
}

// addTokens issues the family's next access token (and a refresh token when
// the lifetimes ask for one) and saves the family.
func addTokens(tx *bbolt.Tx, now time.Time, id string, f *Family, lt Lifetimes, out *Issued) error {
	var err error
	if out.Access, err = newToken(); err != nil {
		return err
	}
	out.AccessExp = time.Unix(now.Add(lt.Access).Unix(), 0)
	acc := accessRecord{Family: id, Seq: f.NextSeq, Expires: out.AccessExp.Unix()}
	f.NextSeq++
	if err := putJSON(tx, bucketAccess, tokenKey(out.Access), acc); err != nil {
		return err
	}
	if lt.Refresh > 0 {
		if out.Refresh, err = newToken(); err != nil {
			return err
		}
		out.RefreshExp = time.Unix(now.Add(lt.Refresh).Unix(), 0)
		ref := refreshRecord{Family: id, Expires: out.RefreshExp.Unix()}
		if err := putJSON(tx, bucketRefresh, tokenKey(out.Refresh), ref); err != nil {
			return err
		}
	}
	return putJSON(tx, bucketFamilies, []byte(id), f)
}

// Issue creates a family and its first tokens.
func (s *Store) Issue(now time.Time, f Family, lt Lifetimes) (out Issued, err error) {
	var changed []string // none: a new family
	err = s.updateFamilies(&changed, func(tx *bbolt.Tx) error {
		out, err = issueTx(tx, now, f, lt)
		return err
	})
	return out, err
}

// Grant is what a valid access token grants.
type Grant struct {
	FamilyID string
	Family   Family
	Seq      uint64
	Expires  time.Time
	Groups   []string // the user's groups; nil means all
	// principal holds the grant's tvbridge.Principal (over Background),
	// made once per check: requestCtx answers PrincipalFrom with it.
	principal context.Context
}

// CheckAccess validates an access token at now. A token found valid is
// remembered until it expires or a write may have changed the answer (see
// accessCache); an expired one is always looked up, so that the answer is
// the database's ("expired", or "unknown" once swept).
func (s *Store) CheckAccess(tok string, now time.Time) (*Grant, error) {
	key := sha256.Sum256([]byte(tok))
	if g := s.access.get(key); g != nil && now.Unix() < g.Expires.Unix() {
		return g, nil
	}
	gen := s.access.generation()
	var g Grant
	err := s.view(func(tx *bbolt.Tx) error {
		var acc accessRecord
		found, err := getJSON(tx, bucketAccess, key[:], &acc)
		switch {
		case err != nil:
			return err
		case !found:
			return ErrUnknownToken
		case now.Unix() >= acc.Expires:
			return ErrExpiredToken
		}
		g = Grant{FamilyID: acc.Family, Seq: acc.Seq, Expires: time.Unix(acc.Expires, 0)}
		return checkFamily(tx, &g)
	})
	if err != nil {
		return nil, err
	}
	return s.access.put(key, *NewGrant(g.FamilyID, g.Family, g.Seq, g.Expires, g.Groups), gen), nil
}

// NewGrant returns the Grant of a valid access token: seq of family
// familyID f, expiring at expires, for a user who may read groups (nil:
// all). Backends return it from CheckAccess; it must not be modified once
// returned, since callers share it.
func NewGrant(familyID string, f Family, seq uint64, expires time.Time, groups []string) *Grant {
	// Handlers get Groups in their Principal: a shared slice must not
	// have room for one of them to append into.
	groups = slices.Clip(groups)
	return &Grant{FamilyID: familyID, Family: f, Seq: seq, Expires: expires, Groups: groups,
		principal: tvbridge.WithPrincipal(context.Background(),
			tvbridge.Principal{User: f.User, Groups: groups, Scheme: f.Scheme})}
}

// checkFamily fills g from the token's family and its user, refusing
// revoked families, retired tokens and removed users or clients.
func checkFamily(tx *bbolt.Tx, g *Grant) error {
	found, err := getJSON(tx, bucketFamilies, []byte(g.FamilyID), &g.Family)
	switch {
	case err != nil:
		return err
	case !found:
		return ErrUnknownToken
	case g.Seq < g.Family.MinSeq:
		return ErrRetiredToken
	}
	if g.Family.Client != "" {
		c, err := client(tx, g.Family.Client)
		if err != nil {
			return err
		}
		if c == nil {
			return ErrUnknownToken
		}
	}
	u, err := user(tx, g.Family.User)
	if err != nil {
		return err
	}
	if u == nil && g.Family.Scheme != SchemeJWT {
		return ErrUnknownToken
	}
	if u != nil {
		g.Groups = u.Groups
	}
	return nil
}

// RetireBefore records the first use of access token seq: older tokens of
// the family stop working. changed is false when nothing moved.
func (s *Store) RetireBefore(familyID string, seq uint64) (changed bool, err error) {
	families := []string{familyID}
	err = s.updateFamilies(&families, func(tx *bbolt.Tx) error {
		var f Family
		found, err := getJSON(tx, bucketFamilies, []byte(familyID), &f)
		if err != nil || !found || seq <= f.MinSeq {
			return err
		}
		f.MinSeq, changed = seq, true
		return putJSON(tx, bucketFamilies, []byte(familyID), f)
	})
	return changed, err
}

// RevokeFamily deletes a family, revoking all its tokens.
func (s *Store) RevokeFamily(id string) error {
	families := []string{id}
	return s.updateFamilies(&families, func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketFamilies).Delete([]byte(id)); err != nil {
			return fmt.Errorf("revoke: %w", err)
		}
		return nil
	})
}

// RevokeSession deletes the families logged in through a browser session.
func (s *Store) RevokeSession(sessionHash string) (ids []string, err error) {
	err = s.updateFamilies(&ids, func(tx *bbolt.Tx) error {
		ids, err = deleteFamilies(tx, func(f *Family) bool { return f.Session == sessionHash })
		return err
	})
	return ids, err
}

// deleteFamilies deletes the families match selects and returns their ids.
func deleteFamilies(tx *bbolt.Tx, match func(*Family) bool) ([]string, error) {
	var ids []string
	err := tx.Bucket(bucketFamilies).ForEach(func(k, v []byte) error {
		var f Family
		if err := decodeJSON(bucketFamilies, v, &f); err != nil {
			return err
		}
		if match(&f) {
			ids = append(ids, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids { // deleted after the scan: deleting under a cursor can skip entries
		if err := tx.Bucket(bucketFamilies).Delete([]byte(id)); err != nil {
			return nil, fmt.Errorf("revoke: %w", err)
		}
	}
	return ids, nil
}

// mustGet is getJSON for a record the grant cannot go on without: absent,
// it is the OAuth error invalid_grant with desc.
func mustGet(tx *bbolt.Tx, bucket, key []byte, v any, desc string) error {
	found, err := getJSON(tx, bucket, key, v)
	if err == nil && !found {
		err = invalidGrant(desc)
	}
	return err
}

// GrantError is an OAuth error (RFC 6749 section 5.2) from a grant.
type GrantError struct {
	Code        string // invalid_grant, invalid_client, ...
	Description string
}

func (e *GrantError) Error() string { return e.Code + ": " + e.Description }

func invalidGrant(desc string) error { return &GrantError{"invalid_grant", desc} }

// InvalidGrant is the OAuth error invalid_grant with desc, for backends.
func InvalidGrant(desc string) error { return invalidGrant(desc) }

// Refresh rotates a refresh token: the old one is used up, a new access
// and refresh token are issued in the same family. authenticate checks the
// client secret against the family's client before anything changes.
// Presenting a used refresh token revokes the family (revoked is its id).
func (s *Store) Refresh(now time.Time, tok string, authenticate func(*ClientRecord) error, lt Lifetimes) (out Issued, revoked string, err error) {
	var changed []string // the token's family, revoked or given a new token
	err = s.updateFamilies(&changed, func(tx *bbolt.Tx) error {
		key := tokenKey(tok)
		var rec refreshRecord
		var f Family
		if err := mustGet(tx, bucketRefresh, key, &rec, "unknown refresh token"); err != nil {
			return err
		}
		changed = append(changed, rec.Family)
		if err := mustGet(tx, bucketFamilies, []byte(rec.Family), &f, "refresh token revoked"); err != nil {
			return err
		}
		c, err := client(tx, f.Client)
		if err != nil {
			return err
		}
		if err := authenticate(c); err != nil {
			return err
		}
		switch {
		case rec.Used:
			// Reuse: whoever holds the newer token, one of them stole it.
			revoked = rec.Family
			return tx.Bucket(bucketFamilies).Delete([]byte(rec.Family))
		case now.Unix() >= rec.Expires:
			return invalidGrant("refresh token expired")
		}
		rec.Used = true
		if err := putJSON(tx, bucketRefresh, key, rec); err != nil {
			return err
		}
		out.Family = rec.Family
		return addTokens(tx, now, rec.Family, &f, lt, &out)
	})
	if err == nil && revoked != "" {
		err = invalidGrant("refresh token already used; the session is revoked")
	}
	return out, revoked, err
}

// CreateCode stores an authorization code for rec and returns it.
func (s *Store) CreateCode(rec AuthCode) (string, error) {
	code, err := newToken()
	if err != nil {
		return "", err
	}
	var changed []string // none: codes are not tokens
	err = s.updateFamilies(&changed, func(tx *bbolt.Tx) error { return putJSON(tx, bucketCodes, tokenKey(code), rec) })
	return code, err
}

// RedeemCode exchanges an authorization code for tokens. clientID is the
// authenticated client, redirect the redirect_uri of the token request. A
// second redemption revokes the tokens of the first (revoked is their family).
func (s *Store) RedeemCode(now time.Time, code, clientID, redirect string, lt Lifetimes) (out Issued, revoked string, err error) {
	var changed []string // the family of a code redeemed twice, revoked; else a new family
	err = s.updateFamilies(&changed, func(tx *bbolt.Tx) error {
		key := tokenKey(code)
		var rec AuthCode
		if err := mustGet(tx, bucketCodes, key, &rec, "unknown authorization code"); err != nil {
			return err
		}
		switch {
		case rec.Client != clientID:
			return invalidGrant("authorization code issued to another client")
		case rec.Family != "":
			revoked = rec.Family
			changed = append(changed, rec.Family)
			return tx.Bucket(bucketFamilies).Delete([]byte(rec.Family))
		case now.Unix() >= rec.Expires:
			return invalidGrant("authorization code expired")
		case rec.Redirect != redirect:
			return invalidGrant("redirect_uri differs from the authorization request")
		}
		u, err := user(tx, rec.User)
		if err != nil {
			return err
		}
		if u == nil {
			return invalidGrant("user no longer exists")
		}
		f := Family{User: rec.User, Client: rec.Client, Scheme: SchemeOAuth2, Session: rec.Session}
		if out, err = issueTx(tx, now, f, lt); err != nil {
			return err
		}
		rec.Family = out.Family
		return putJSON(tx, bucketCodes, key, rec)
	})
	if err == nil && revoked != "" {
		err = invalidGrant("authorization code already used; tokens issued for it are revoked")
	}
	return out, revoked, err
}

// ErrReplay refuses a JWT assertion redeemed before.
var ErrReplay = invalidGrant("assertion already used")

// RedeemAssertion issues tokens for a verified JWT assertion, once: key
// identifies the assertion, kept until exp to refuse its replay.
func (s *Store) RedeemAssertion(now time.Time, key []byte, exp time.Time, f Family, lt Lifetimes) (out Issued, err error) {
	var changed []string // none: a new family
	err = s.updateFamilies(&changed, func(tx *bbolt.Tx) error {
		seen := tx.Bucket(bucketAssertions)
		if v := seen.Get(key); len(v) == 8 && now.Unix() < int64(binary.BigEndian.Uint64(v)) {
			return ErrReplay
		}
		if err := seen.Put(key, binary.BigEndian.AppendUint64(nil, uint64(exp.Unix()))); err != nil {
			return fmt.Errorf("remember assertion: %w", err)
		}
		out, err = issueTx(tx, now, f, lt)
		return err
	})
	return out, err
}

package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// userRecord is a user as stored.
type userRecord struct {
	Login        string    `json:"login"`
	PasswordHash string    `json:"password_hash"` // argon2id PHC string
	Groups       []string  `json:"groups"`        // null: all groups; []: none
	Created      time.Time `json:"created"`
}

// User is what the operator sees of a user: never the password hash.
type User struct {
	Login string
	// Groups lists the /groups ids the user may read; nil means all.
	Groups  []string
	Created time.Time
}

// Errors of the user and client commands.
var (
	ErrExists   = errors.New("already exists")
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid")
)

// MinPasswordLen is the shortest password accepted for a new or changed
// password (NIST SP 800-63B's minimum).
const MinPasswordLen = 8

// maxPasswordLen bounds what the KDF is fed from a login form.
const maxPasswordLen = 1024

// normalizeLogin lower-cases a login and checks its alphabet, so "Alice"
// and "alice" are one user and logins are safe to print.
func normalizeLogin(login string) (string, error) {
	l := strings.ToLower(login)
	if len(l) == 0 || len(l) > 64 {
		return "", fmt.Errorf("%w login %q: want 1 to 64 characters", ErrInvalid, login)
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._@+-", c)) {
			return "", fmt.Errorf("%w login %q: use letters, digits and . _ @ + -", ErrInvalid, login)
		}
	}
	return l, nil
}

// validateGroups checks group ids as /groups spells them: lowercase
// letters and '_'.
func validateGroups(groups []string) error {
	for _, g := range groups {
		if g == "" || len(g) > 64 || strings.Trim(g, "abcdefghijklmnopqrstuvwxyz_") != "" {
			return fmt.Errorf("%w group %q: use lowercase letters and _", ErrInvalid, g)
		}
	}
	return nil
}

func validatePassword(password []byte) error {
	if len(password) < MinPasswordLen || len(password) > maxPasswordLen {
		return fmt.Errorf("%w password: want %d to %d bytes", ErrInvalid, MinPasswordLen, maxPasswordLen)
	}
	return nil
}

// AddUser creates a user. groups nil means the user may read every group.
func (s *Store) AddUser(login string, password []byte, groups []string) error {
	u, err := NewUserRecord(login, password, groups, s.kdf)
	if err != nil {
		return err
	}
	rec := userRecord(u)
	return s.update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketUsers).Get([]byte(rec.Login)) != nil {
			return fmt.Errorf("user %q: %w", rec.Login, ErrExists)
		}
		return putJSON(tx, bucketUsers, []byte(rec.Login), rec)
	})
}

// UserRecord is a new user as a backend stores it: the normalized login,
// the argon2id hash of the password (never the password), the groups (nil:
// all) and the creation time.
type UserRecord struct {
	Login        string
	PasswordHash string
	Groups       []string
	Created      time.Time
}

// NewUserRecord validates a new user and hashes its password with kdf,
// for AddUser in every backend.
func NewUserRecord(login string, password []byte, groups []string, kdf KDF) (UserRecord, error) {
	login, err := normalizeLogin(login)
	if err != nil {
		return UserRecord{}, err
	}
	if err := validatePassword(password); err != nil {
		return UserRecord{}, err
	}
	if err := validateGroups(groups); err != nil {
		return UserRecord{}, err
	}
	hash, err := hashPassword(password, kdf)
	if err != nil {
		return UserRecord{}, err
	}
	return UserRecord{Login: login, PasswordHash: hash, Groups: groups, Created: time.Now().UTC()}, nil
}

// NewPasswordHash validates a changed password and hashes it with kdf,
// returning the normalized login, for SetPassword in every backend.
func NewPasswordHash(login string, password []byte, kdf KDF) (normLogin, hash string, err error) {
	if login, err = normalizeLogin(login); err != nil {
		return "", "", err
	}
	if err := validatePassword(password); err != nil {
		return "", "", err
	}
	hash, err = hashPassword(password, kdf)
	return login, hash, err
}

// CheckGroups validates a user's new groups and returns the normalized
// login, for SetGroups in every backend.
func CheckGroups(login string, groups []string) (normLogin string, err error) {
	if login, err = normalizeLogin(login); err != nil {
		return "", err
	}
	return login, validateGroups(groups)
}

// NormalizeLogin lower-cases a login and checks its alphabet, as every
// backend keys users.
func NormalizeLogin(login string) (string, error) { return normalizeLogin(login) }

// SetPassword changes a user's password and revokes every token the user
// holds, so a leaked password stops working everywhere at once.
func (s *Store) SetPassword(login string, password []byte) error {
	login, hash, err := NewPasswordHash(login, password, s.kdf)
	if err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx) error {
		return s.modifyUser(tx, login, func(u *userRecord) { u.PasswordHash = hash }, true)
	})
}

// SetGroups changes the groups a user may read; nil means all. Tokens stay
// valid: each request sees the user's current groups (the change forgets
// every cached token check).
func (s *Store) SetGroups(login string, groups []string) error {
	login, err := CheckGroups(login, groups)
	if err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx) error {
		return s.modifyUser(tx, login, func(u *userRecord) { u.Groups = groups }, false)
	})
}

func (s *Store) modifyUser(tx *bbolt.Tx, login string, change func(*userRecord), revoke bool) error {
	var u userRecord
	found, err := getJSON(tx, bucketUsers, []byte(login), &u)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("user %q: %w", login, ErrNotFound)
	}
	change(&u)
	if revoke {
		if _, err := deleteFamilies(tx, func(f *Family) bool { return f.User == login && f.Scheme != SchemeJWT }); err != nil {
			return err
		}
	}
	return putJSON(tx, bucketUsers, []byte(login), u)
}

// RemoveUser deletes a user and revokes the user's tokens.
func (s *Store) RemoveUser(login string) error {
	login, err := normalizeLogin(login)
	if err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketUsers).Get([]byte(login)) == nil {
			return fmt.Errorf("user %q: %w", login, ErrNotFound)
		}
		if _, err := deleteFamilies(tx, func(f *Family) bool { return f.User == login && f.Scheme != SchemeJWT }); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUsers).Delete([]byte(login)); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		return nil
	})
}

// Users lists the users sorted by login.
func (s *Store) Users() ([]User, error) {
	var out []User
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			var u userRecord
			if err := decodeJSON(bucketUsers, v, &u); err != nil {
				return err
			}
			out = append(out, User{Login: u.Login, Groups: slices.Clone(u.Groups), Created: u.Created})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	return out, nil
}

// user reads a user record inside tx; nil when absent.
func user(tx *bbolt.Tx, login string) (*userRecord, error) {
	var u userRecord
	found, err := getJSON(tx, bucketUsers, []byte(login), &u)
	if err != nil || !found {
		return nil, err
	}
	return &u, nil
}

// PasswordHash returns the stored hash of login, or "" when there is no
// such user.
func (s *Store) PasswordHash(login string) (string, error) {
	var hash string
	err := s.view(func(tx *bbolt.Tx) error {
		u, err := user(tx, login)
		if u != nil {
			hash = u.PasswordHash
		}
		return err
	})
	return hash, err
}

package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// KDF holds the argon2id parameters used to hash new passwords. Stored
// hashes carry their own parameters (PHC string format), so raising these
// later keeps old passwords working.
type KDF struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultKDF is OWASP's first argon2id recommendation (19 MiB, 2 passes,
// 1 thread): tens of milliseconds per login on a small server.
var DefaultKDF = KDF{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// maxKDFMemory bounds the memory a stored hash may ask for, so a
	// tampered database cannot make one login allocate gigabytes.
	maxKDFMemory = 1 << 20 // KiB = 1 GiB
)

// hashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func hashPassword(password []byte, p KDF) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// verifyPassword reports whether password matches the PHC string, comparing
// in constant time.
func verifyPassword(password []byte, phc string) (bool, error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

func parsePHC(phc string) (KDF, []byte, []byte, error) {
	var p KDF
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errBadHash
	}
	if p.Memory == 0 || p.Memory > maxKDFMemory || p.Time == 0 || p.Time > 64 || p.Threads == 0 {
		return p, nil, nil, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// kdfGate bounds how many password hashes run at once. Each argon2id call
// allocates KDF.Memory, so a burst of logins could otherwise exhaust memory;
// callers beyond the limit wait (or give up when their request ends).
type kdfGate chan struct{}

func newKDFGate() kdfGate { return make(kdfGate, max(1, runtime.GOMAXPROCS(0))) }

func (g kdfGate) verify(ctx context.Context, password []byte, phc string) (bool, error) {
	select {
	case g <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("waiting to check a password: %w", ctx.Err())
	}
	defer func() { <-g }()
	return verifyPassword(password, phc)
}

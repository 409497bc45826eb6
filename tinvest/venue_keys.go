package tinvest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadKeyNamespace returns the idempotency-key namespace kept in the file
// at path (VenueConfig.KeyNamespace), creating the file with a random one
// the first time. Keep the file beside the trading database it belongs
// to, and remove the two together: a new database with the old namespace
// would derive the keys of the old orders again.
func LoadKeyNamespace(path string) (string, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		ns := strings.TrimSpace(string(data))
		if ns == "" {
			return "", fmt.Errorf("tinvest: key namespace file %s is empty", path)
		}
		return ns, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("tinvest: key namespace: %w", err)
	}
	ns, err := NewKeyNamespace()
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("tinvest: key namespace: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(ns + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("tinvest: key namespace: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("tinvest: key namespace: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("tinvest: key namespace: %w", err)
	}
	// A link, not a rename: of two processes starting at once, one wins
	// and the other reads the winner's namespace.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadKeyNamespace(path)
		}
		return "", fmt.Errorf("tinvest: key namespace: %w", err)
	}
	return ns, nil
}

// NewKeyNamespace makes a fresh random key namespace, for a store other
// than LoadKeyNamespace's file (a cluster keeps one in PostgreSQL).
func NewKeyNamespace() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("tinvest: key namespace: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

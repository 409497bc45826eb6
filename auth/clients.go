package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// ClientKind says which grant an OAuth client uses.
type ClientKind string

// Client kinds.
const (
	// CodeClient is a TradingView trading connection (OAuth2Bearer): the
	// authorization code flow with refresh tokens.
	CodeClient ClientKind = "code"
	// JWTClient is a TradingView data connection (ServerOAuth2Bearer): the
	// JWT-bearer assertion grant, signed with TradingView's key for the
	// client's certificate.
	JWTClient ClientKind = "jwt-bearer"
)

// DefaultGrantType is the grant_type of a JWT client that names none.
const DefaultGrantType = "urn:tvbridge:oauth:grant-type:personal-jwt"

// Client is a registered OAuth client, as the operator created it. Its
// secret is stored only as a SHA-256 hash.
type Client struct {
	ID   string     `json:"id"`
	Kind ClientKind `json:"kind"`

	// RedirectURIs are the exact redirect_uri values TradingView may send
	// (one per environment). Code clients only.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// LogoutReturnTo are the exact returnTo values /oauth/logout may
	// redirect to. Code clients only.
	LogoutReturnTo []string `json:"logout_return_to,omitempty"`

	// User is the user JWT-bearer tokens act as: the assertion's sub must
	// name it ("UserId" in TradingView's form).
	User string `json:"user,omitempty"`
	// Audience is the assertion's required aud: the public URL of the token
	// endpoint given to TradingView as token_url.
	Audience string `json:"audience,omitempty"`
	// GrantType is the custom grant_type TradingView sends; empty means
	// DefaultGrantType. urn:ietf:params:oauth:grant-type:jwt-bearer is
	// always accepted too.
	GrantType string `json:"grant_type,omitempty"`
	// AppURL, when set, must equal the assertion's spurl claim.
	AppURL string `json:"app_url,omitempty"`
	// CertificatePEM holds the X.509 certificate(s) whose RSA keys may sign
	// assertions; more than one allows rotating TradingView's key.
	CertificatePEM string `json:"certificate_pem,omitempty"`

	Created time.Time `json:"created"`
}

// ClientRecord is a Client as stored.
type ClientRecord struct {
	Client
	SecretHash string `json:"secret_sha256"` // hex
}

// MinSecretLen is the shortest client secret accepted. Secrets are stored
// as plain SHA-256, which is only safe for high-entropy values.
const MinSecretLen = 32

// NewSecret returns a random client secret (256 bits, base64url).
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("client secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func secretHash(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

// checkSecret compares secret with the stored hash in constant time.
func (c *ClientRecord) checkSecret(secret string) bool {
	want, err := hex.DecodeString(c.SecretHash)
	got := sha256.Sum256([]byte(secret))
	return err == nil && subtle.ConstantTimeCompare(got[:], want) == 1
}

// AddClient registers an OAuth client with the given secret.
func (s *Store) AddClient(c Client, secret []byte) error {
	rec, err := NewClientRecord(c, secret)
	if err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketClients).Get([]byte(c.ID)) != nil {
			return fmt.Errorf("client %q: %w", c.ID, ErrExists)
		}
		return putJSON(tx, bucketClients, []byte(c.ID), rec)
	})
}

// NewClientRecord validates a new client and hashes its secret, for
// AddClient in every backend.
func NewClientRecord(c Client, secret []byte) (ClientRecord, error) {
	if err := c.validate(); err != nil {
		return ClientRecord{}, err
	}
	if len(secret) < MinSecretLen {
		return ClientRecord{}, fmt.Errorf("%w client secret: want at least %d characters (generate one with a random source)", ErrInvalid, MinSecretLen)
	}
	c.Created = time.Now().UTC()
	return ClientRecord{Client: c, SecretHash: secretHash(secret)}, nil
}

// RemoveClient deletes a client and revokes every token issued through it.
func (s *Store) RemoveClient(id string) error {
	return s.update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketClients).Get([]byte(id)) == nil {
			return fmt.Errorf("client %q: %w", id, ErrNotFound)
		}
		if _, err := deleteFamilies(tx, func(f *Family) bool { return f.Client == id }); err != nil {
			return err
		}
		if err := tx.Bucket(bucketClients).Delete([]byte(id)); err != nil {
			return fmt.Errorf("delete client: %w", err)
		}
		return nil
	})
}

// Clients lists the registered clients sorted by id.
func (s *Store) Clients() ([]Client, error) {
	var out []Client
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketClients).ForEach(func(_, v []byte) error {
			var c ClientRecord
			if err := decodeJSON(bucketClients, v, &c); err != nil {
				return err
			}
			out = append(out, c.Client)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("auth: list clients: %w", err)
	}
	return out, nil
}

// LookupClient returns the client registered as id; nil when there is none.
func (s *Store) LookupClient(id string) (c *ClientRecord, err error) {
	err = s.view(func(tx *bbolt.Tx) error {
		c, err = client(tx, id)
		return err
	})
	return c, err
}

// client reads a client inside tx; nil when absent.
func client(tx *bbolt.Tx, id string) (*ClientRecord, error) {
	if id == "" || len(id) > 128 {
		return nil, nil
	}
	var c ClientRecord
	found, err := getJSON(tx, bucketClients, []byte(id), &c)
	if err != nil || !found {
		return nil, err
	}
	return &c, nil
}

func (c *Client) validate() error {
	if c.ID == "" || len(c.ID) > 128 || strings.Trim(c.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return fmt.Errorf("%w client id %q: want 1 to 128 letters, digits, '.', '_' or '-'", ErrInvalid, c.ID)
	}
	switch c.Kind {
	case CodeClient:
		return c.validateCode()
	case JWTClient:
		return c.validateJWT()
	}
	return fmt.Errorf("%w client kind %q: want %q or %q", ErrInvalid, c.Kind, CodeClient, JWTClient)
}

func (c *Client) validateCode() error {
	if len(c.RedirectURIs) == 0 {
		return fmt.Errorf("%w client %q: a code client needs at least one redirect URI", ErrInvalid, c.ID)
	}
	for _, u := range slices.Concat(c.RedirectURIs, c.LogoutReturnTo) {
		if err := checkRegisteredURL(u); err != nil {
			return fmt.Errorf("%w client %q: %w", ErrInvalid, c.ID, err)
		}
	}
	return nil
}

func (c *Client) validateJWT() error {
	if _, err := normalizeLogin(c.User); err != nil {
		return fmt.Errorf("client %q user: %w", c.ID, err)
	}
	if err := checkRegisteredURL(c.Audience); err != nil {
		return fmt.Errorf("%w client %q audience (the public token URL): %w", ErrInvalid, c.ID, err)
	}
	if c.GrantType != "" && (!strings.Contains(c.GrantType, ":") || strings.ContainsAny(c.GrantType, " \t")) {
		return fmt.Errorf("%w client %q grant type %q: want a URN such as %s", ErrInvalid, c.ID, c.GrantType, DefaultGrantType)
	}
	if _, err := parseCertificates([]byte(c.CertificatePEM)); err != nil {
		return fmt.Errorf("%w client %q certificate: %w", ErrInvalid, c.ID, err)
	}
	return nil
}

// checkRegisteredURL accepts absolute https URLs, and http ones on
// loopback hosts for local testing, without fragments.
func checkRegisteredURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL %q: %w", raw, err)
	}
	local := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"
	if u.Host == "" || u.Fragment != "" || !(u.Scheme == "https" || u.Scheme == "http" && local) {
		return fmt.Errorf("URL %q: want an absolute https URL without a fragment (http only for localhost)", raw)
	}
	return nil
}

// parseCertificates reads every certificate in a PEM bundle and checks that
// each holds an RSA key of at least 2048 bits (RS256 is the only algorithm
// TradingView signs with).
func parseCertificates(pemData []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, pemData = pem.Decode(pemData)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		key, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || key.N.BitLen() < 2048 {
			return nil, fmt.Errorf("certificate %q: want an RSA key of at least 2048 bits", cert.Subject)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

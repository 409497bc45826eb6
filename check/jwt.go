package check

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// JWT is TradingView's ServerOAuth2Bearer: TradingView signs a JWT with the
// key of a certificate the broker was given and exchanges it at the
// broker's token URL for an access token.
type JWT struct {
	Key  *rsa.PrivateKey
	Cert []byte // DER certificate, for the x5t header; optional

	// TokenURL receives the assertion; default URL + "/authorize/token",
	// the spec's example.
	TokenURL string
	// GrantType is the broker's custom grant, e.g.
	// urn:your-broker:oauth:grant-type:personal-jwt.
	GrantType              string
	ClientID, ClientSecret string
	UserID                 string // the "sub" claim
	AppURL                 string // the "spurl" claim; default the server's URL
}

func (j *JWT) validate(base string) error {
	if j.Key == nil {
		return errors.New("JWT: no private key")
	}
	if j.GrantType == "" || j.ClientID == "" {
		return errors.New("JWT: a grant type and a client id are required")
	}
	if j.TokenURL == "" {
		j.TokenURL = strings.TrimRight(base, "/") + "/authorize/token"
	}
	if u, err := url.Parse(j.TokenURL); err != nil || u.Host == "" {
		return fmt.Errorf("JWT: token URL %q is not a URL", j.TokenURL)
	}
	if j.AppURL == "" {
		j.AppURL = base
	}
	return nil
}

// assertion builds and signs (RS256) the JWT TradingView would send.
func (j *JWT) assertion(now time.Time) (string, error) {
	header := map[string]string{"alg": "RS256", "typ": "JWT"}
	if len(j.Cert) > 0 {
		sum := sha1.Sum(j.Cert) // RFC 7515 x5t is the SHA-1 thumbprint
		header["x5t"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("JWT nonce: %w", err)
	}
	claims := map[string]any{
		"iss": j.ClientID, "sub": j.UserID, "aud": j.TokenURL, "spurl": j.AppURL,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": hex.EncodeToString(nonce),
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, j.Key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// form is the token request TradingView posts.
func (j *JWT) form(assertion string) url.Values {
	return url.Values{
		"grant_type":    {j.GrantType},
		"assertion":     {assertion},
		"client_id":     {j.ClientID},
		"client_secret": {j.ClientSecret},
	}
}

// ParseRSAKey reads an RSA private key from PEM (PKCS #1 or PKCS #8).
func ParseRSAKey(pemData []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("no PEM block in the key file")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the key is not an RSA key (TradingView signs with RS256)")
	}
	return rk, nil
}

// ParseCertificate reads the DER bytes of a PEM certificate.
func ParseCertificate(pemData []byte) ([]byte, error) {
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return block.Bytes, nil
}

package auth

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint (RFC 7515 section 4.1.7); it only selects a certificate
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// This file verifies the JWT assertions of TradingView's ServerOAuth2Bearer
// grant: RS256 only, signed by the key of a certificate registered for the
// client, with iss, sub, aud and exp checked.

// maxAssertionLen bounds an assertion before any decoding.
const maxAssertionLen = 16 << 10

type jwtHeader struct {
	Alg     string   `json:"alg"`
	X5t     string   `json:"x5t"`
	X5tS256 string   `json:"x5t#S256"`
	Crit    []string `json:"crit"`
}

type jwtClaims struct {
	Iss   string      `json:"iss"`
	Sub   string      `json:"sub"`
	Aud   audience    `json:"aud"`
	Exp   numericDate `json:"exp"`
	Nbf   numericDate `json:"nbf"`
	Iat   numericDate `json:"iat"`
	Spurl string      `json:"spurl"`
}

// audience is the aud claim: one string or an array of them (RFC 7519).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud: want a string or an array of strings")
	}
	*a = many
	return nil
}

// numericDate is a JWT time: seconds since the epoch, possibly fractional.
// The zero value means the claim was absent.
type numericDate struct {
	set bool
	t   int64
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return errors.New("want seconds since the epoch")
	}
	*d = numericDate{set: true, t: int64(f)}
	return nil
}

// parsedJWT is a JWT split and decoded, not yet verified.
type parsedJWT struct {
	header       jwtHeader
	claims       jwtClaims
	signingInput []byte // "header.payload" as received: what the signature covers
	signature    []byte
}

// b64 is strict base64url without padding: one encoding per value, so the
// same assertion cannot be re-encoded to dodge the replay check.
var b64 = base64.RawURLEncoding.Strict()

// parseJWT splits and decodes a compact JWS. It checks syntax only.
func parseJWT(raw string) (*parsedJWT, error) {
	if len(raw) > maxAssertionLen {
		return nil, fmt.Errorf("assertion longer than %d bytes", maxAssertionLen)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("assertion is not a JWT (want header.payload.signature)")
	}
	var p parsedJWT
	if err := decodeSegment(parts[0], &p.header); err != nil {
		return nil, fmt.Errorf("JWT header: %w", err)
	}
	if err := decodeSegment(parts[1], &p.claims); err != nil {
		return nil, fmt.Errorf("JWT claims: %w", err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("JWT signature: %w", err)
	}
	p.signingInput = []byte(parts[0] + "." + parts[1])
	p.signature = sig
	return &p, nil
}

func decodeSegment(seg string, v any) error {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return fmt.Errorf("base64url: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("JSON: %w", err)
	}
	if dec.More() {
		return errors.New("JSON: trailing data")
	}
	return nil
}

// jwtPolicy is what verifyAssertion checks against besides the client.
type jwtPolicy struct {
	now         time.Time
	skew        time.Duration // clock difference tolerated on exp, nbf, iat
	maxLifetime time.Duration // exp may lie at most this far ahead
}

// verifiedAssertion is an assertion that passed every check.
type verifiedAssertion struct {
	replayKey []byte    // SHA-256 of the signing input
	keepUntil time.Time // when a replay could no longer pass the exp check
}

// verifyAssertion checks a JWT-bearer assertion for client c.
func verifyAssertion(raw string, c *ClientRecord, pol jwtPolicy) (verifiedAssertion, error) {
	p, err := parseJWT(raw)
	if err != nil {
		return verifiedAssertion{}, err
	}
	if p.header.Alg != "RS256" {
		return verifiedAssertion{}, fmt.Errorf("JWT alg %q: only RS256 is accepted", p.header.Alg)
	}
	if len(p.header.Crit) > 0 {
		return verifiedAssertion{}, errors.New("JWT names critical extensions this server does not implement")
	}
	if err := verifySignature(p, c, pol.now); err != nil {
		return verifiedAssertion{}, err
	}
	exp, err := checkClaims(&p.claims, c, pol)
	if err != nil {
		return verifiedAssertion{}, err
	}
	sum := sha256.Sum256(p.signingInput)
	return verifiedAssertion{replayKey: sum[:], keepUntil: exp.Add(pol.skew)}, nil
}

// verifySignature accepts the JWT when a registered certificate, valid now
// and selected by the x5t header when present, verifies its RS256 signature.
func verifySignature(p *parsedJWT, c *ClientRecord, now time.Time) error {
	certs, err := parseCertificates([]byte(c.CertificatePEM))
	if err != nil {
		return fmt.Errorf("client %q certificate: %w", c.ID, err)
	}
	digest := sha256.Sum256(p.signingInput)
	selected := 0
	for _, cert := range certs {
		if !thumbprintMatches(p.header, cert) {
			continue
		}
		selected++
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			continue
		}
		pub := cert.PublicKey.(*rsa.PublicKey) // parseCertificates accepts RSA keys only
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], p.signature) == nil {
			return nil
		}
	}
	if selected == 0 {
		return errors.New("JWT x5t matches no certificate registered for the client")
	}
	return errors.New("JWT signature does not verify with the registered certificate (or it is outside its validity period)")
}

// thumbprintMatches reports whether the header's x5t (or x5t#S256) names
// cert. Both base64url (as RFC 7515 says) and hex (as TradingView's example
// shows) are accepted. Without either header every certificate is tried.
func thumbprintMatches(h jwtHeader, cert *x509.Certificate) bool {
	if h.X5t == "" && h.X5tS256 == "" {
		return true
	}
	s1 := sha1.Sum(cert.Raw) //nolint:gosec // see the import
	s256 := sha256.Sum256(cert.Raw)
	return h.X5t != "" && thumbEqual(h.X5t, s1[:]) || h.X5tS256 != "" && thumbEqual(h.X5tS256, s256[:])
}

func thumbEqual(claimed string, sum []byte) bool {
	return claimed == base64.RawURLEncoding.EncodeToString(sum) || strings.EqualFold(claimed, hex.EncodeToString(sum))
}

// checkClaims checks iss, sub, aud, spurl and the times; it returns exp.
func checkClaims(cl *jwtClaims, c *ClientRecord, pol jwtPolicy) (time.Time, error) {
	switch {
	case cl.Iss != c.ID:
		return time.Time{}, errors.New("JWT iss is not the client id")
	case !strings.EqualFold(cl.Sub, c.User):
		return time.Time{}, errors.New("JWT sub is not the user registered for the client")
	case !slices.Contains(cl.Aud, c.Audience):
		return time.Time{}, fmt.Errorf("JWT aud does not name this token endpoint (%s)", c.Audience)
	case c.AppURL != "" && cl.Spurl != c.AppURL:
		return time.Time{}, errors.New("JWT spurl is not the registered application URL")
	case !cl.Exp.set:
		return time.Time{}, errors.New("JWT has no exp")
	}
	now := pol.now.Unix()
	skew := int64(pol.skew / time.Second)
	switch {
	case now >= cl.Exp.t+skew:
		return time.Time{}, errors.New("JWT expired")
	case cl.Exp.t-now > int64(pol.maxLifetime/time.Second):
		return time.Time{}, fmt.Errorf("JWT exp lies more than %s ahead", pol.maxLifetime)
	case cl.Nbf.set && now < cl.Nbf.t-skew:
		return time.Time{}, errors.New("JWT not valid yet (nbf)")
	case cl.Iat.set && cl.Iat.t > now+skew:
		return time.Time{}, errors.New("JWT issued in the future (iat)")
	}
	return time.Unix(cl.Exp.t, 0), nil
}

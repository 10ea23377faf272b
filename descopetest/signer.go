package descopetest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
)

// b64 is the base64 encoding of JWT segments.
var b64 = base64.RawURLEncoding

// signer holds an RSA key and everything derived from it that the emulator
// needs on the hot path: the key ID, the encoded JWT header and the JWKS body.
type signer struct {
	key    *rsa.PrivateKey
	kid    string
	header string // base64url of the JOSE header, ready to prefix a token
	jwk    map[string]any
}

// shared is the signer all emulators use unless given a key.
var shared struct {
	once sync.Once
	s    *signer
}

// sharedSigner returns the process-wide default signer, generating its
// 2048-bit key on first use.
func sharedSigner() *signer {
	shared.once.Do(func() { shared.s = freshSigner() })
	return shared.s
}

// freshSigner returns a signer with a new 2048-bit key.
func freshSigner() *signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		// crypto/rand does not fail on supported platforms; there is no
		// sensible way to run an emulator without a key.
		panic("descopetest: generating RSA key: " + err.Error())
	}
	return newSigner(k)
}

// newSigner builds a signer for k. It works on a private copy of the key so
// that precomputation never writes to a key the caller may share.
func newSigner(k *rsa.PrivateKey) *signer {
	priv := &rsa.PrivateKey{PublicKey: k.PublicKey, D: k.D, Primes: k.Primes}
	priv.Precompute()

	n := b64.EncodeToString(priv.N.Bytes())
	e := b64.EncodeToString(big.NewInt(int64(priv.E)).Bytes())
	// RFC 7638 thumbprint: members in lexicographic order, no whitespace.
	sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
	kid := b64.EncodeToString(sum[:])

	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	return &signer{
		key:    priv,
		kid:    kid,
		header: b64.EncodeToString(hdr),
		jwk: map[string]any{
			"kty": "RSA",
			"kid": kid,
			"alg": "RS256",
			"use": "sig",
			"n":   n,
			"e":   e,
		},
	}
}

// sign encodes claims as a compact RS256 JWS.
func (s *signer) sign(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := s.header + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// errBadToken is any token that verify refuses.
var errBadToken = errors.New("invalid token")

// verify checks that tok was signed by this signer and returns its claims.
// It does not look at exp or any other claim.
func (s *signer) verify(tok string) (map[string]any, error) {
	h, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return nil, errBadToken
	}
	p, sigPart, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sigPart, ".") {
		return nil, errBadToken
	}
	hdrJSON, err := b64.DecodeString(h)
	if err != nil {
		return nil, errBadToken
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hdrJSON, &hdr) != nil || hdr.Alg != "RS256" ||
		subtle.ConstantTimeCompare([]byte(hdr.Kid), []byte(s.kid)) != 1 {
		return nil, errBadToken
	}
	sig, err := b64.DecodeString(sigPart)
	if err != nil {
		return nil, errBadToken
	}
	digest := sha256.Sum256([]byte(tok[:len(h)+1+len(p)]))
	if rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		return nil, errBadToken
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return nil, errBadToken
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil || claims == nil {
		return nil, errBadToken
	}
	return claims, nil
}

package descopetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
)

// COSE keys (RFC 9052/9053) as WebAuthn carries credential public keys,
// for the two algorithms the emulator offers in pubKeyCredParams: ES256
// (ECDSA on P-256 with SHA-256) and RS256 (RSASSA-PKCS1-v1_5 with SHA-256).

// The COSE algorithms the emulator accepts.
const (
	coseES256 int64 = -7
	coseRS256 int64 = -257
)

// COSE key labels and values.
const (
	coseKty    int64 = 1
	coseAlg    int64 = 3
	coseCrv    int64 = -1 // EC2
	coseX      int64 = -2 // EC2
	coseY      int64 = -3 // EC2
	coseN      int64 = -1 // RSA
	coseE      int64 = -2 // RSA
	coseKtyEC2 int64 = 2
	coseKtyRSA int64 = 3
	coseP256   int64 = 1
)

// minRSABits and maxRSABits bound the RSA keys accepted.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// errCOSE is the error of a COSE key the emulator refuses.
var errCOSE = errors.New("descopetest: unsupported or malformed COSE key")

// coseInt reads an integer label of m.
func coseInt(m cborMap, label int64) (int64, bool) {
	v, ok := m[label].(int64)
	return v, ok
}

// coseBytes reads a byte string label of m.
func coseBytes(m cborMap, label int64) ([]byte, bool) {
	v, ok := m[label].([]byte)
	return v, ok
}

// parseCOSEKey reads a credential public key and its algorithm.
func parseCOSEKey(m cborMap) (crypto.PublicKey, int64, error) {
	kty, ok1 := coseInt(m, coseKty)
	alg, ok2 := coseInt(m, coseAlg)
	if !ok1 || !ok2 {
		return nil, 0, fmt.Errorf("%w: kty or alg missing", errCOSE)
	}
	switch {
	case kty == coseKtyEC2 && alg == coseES256:
		crv, ok := coseInt(m, coseCrv)
		x, okx := coseBytes(m, coseX)
		y, oky := coseBytes(m, coseY)
		if !ok || crv != coseP256 || !okx || !oky || len(x) != 32 || len(y) != 32 {
			return nil, 0, fmt.Errorf("%w: ES256 needs crv P-256 and 32-byte x and y", errCOSE)
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", errCOSE, err)
		}
		return pub, alg, nil
	case kty == coseKtyRSA && alg == coseRS256:
		n, okn := coseBytes(m, coseN)
		e, oke := coseBytes(m, coseE)
		if !okn || !oke || len(e) == 0 || len(e) > 4 {
			return nil, 0, fmt.Errorf("%w: RS256 needs n and e", errCOSE)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
		for _, b := range e {
			pub.E = pub.E<<8 | int(b)
		}
		if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits || pub.E < 3 || pub.E%2 == 0 {
			return nil, 0, fmt.Errorf("%w: RSA key of %d bits, exponent %d", errCOSE, bits, pub.E)
		}
		return pub, alg, nil
	}
	return nil, 0, fmt.Errorf("%w: kty %d with alg %d", errCOSE, kty, alg)
}

// verifyCOSE checks sig over data with the public key of algorithm alg.
func verifyCOSE(pub crypto.PublicKey, alg int64, data, sig []byte) error {
	sum := sha256.Sum256(data)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg == coseES256 && ecdsa.VerifyASN1(k, sum[:], sig) {
			return nil
		}
	case *rsa.PublicKey:
		if alg == coseRS256 && rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
			return nil
		}
	}
	return errors.New("signature does not verify")
}

// coseES256Key encodes an ES256 public key as a COSE key.
func coseES256Key(pub *ecdsa.PublicKey) (cborMap, error) {
	point, err := pub.Bytes()
	if err != nil || len(point) != 65 {
		return nil, fmt.Errorf("descopetest: encoding a P-256 key: %v", err)
	}
	return cborMap{
		coseKty: coseKtyEC2, coseAlg: coseES256, coseCrv: coseP256,
		coseX: point[1:33], coseY: point[33:],
	}, nil
}

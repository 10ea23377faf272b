package anonymous_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
)

// fastSigner signs RS256 tokens with a 2048-bit key made of 16 primes of
// about 128 bits, so that the hot-path benchmarks can make 100,000 distinct
// session tokens in seconds instead of minutes (crypto/rsa takes about 1.6 ms
// per signature with a two-prime key). The tokens are ordinary RS256 tokens:
// same modulus size, same signature length, and their verification costs
// what any 2048-bit key costs, since it uses only the modulus and e = 65537.
// Such a key is weak; it exists only in benchmarks.
type fastSigner struct {
	key    *rsa.PrivateKey
	primes []*big.Int
	dp     []*big.Int // d mod (p-1) for each prime
	crt    []*big.Int // for each prime, the unit of Z_N that is 1 mod it and 0 mod the others
	header string     // base64url of the JOSE header
}

const fastPrimes = 16

func newFastSigner() (*fastSigner, error) {
	e := big.NewInt(65537)
	one := big.NewInt(1)
	for range 100 {
		primes := make([]*big.Int, 0, fastPrimes)
		n := big.NewInt(1)
		for len(primes) < fastPrimes {
			bits := 128
			if len(primes) == fastPrimes-1 {
				bits = 2048 - n.BitLen()
			}
			p, err := rand.Prime(rand.Reader, bits)
			if err != nil {
				return nil, err
			}
			pm1 := new(big.Int).Sub(p, one)
			if new(big.Int).GCD(nil, nil, e, pm1).Cmp(one) != 0 {
				continue
			}
			primes = append(primes, p)
			n.Mul(n, p)
		}
		if n.BitLen() != 2048 {
			continue
		}
		lambda := big.NewInt(1)
		for _, p := range primes {
			pm1 := new(big.Int).Sub(p, one)
			g := new(big.Int).GCD(nil, nil, lambda, pm1)
			lambda.Mul(lambda, pm1).Div(lambda, g)
		}
		d := new(big.Int).ModInverse(e, lambda)
		if d == nil {
			continue // two equal primes
		}
		s := &fastSigner{
			key:    &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: primes},
			primes: primes,
		}
		for _, p := range primes {
			s.dp = append(s.dp, new(big.Int).Mod(d, new(big.Int).Sub(p, one)))
			rest := new(big.Int).Div(n, p)
			inv := new(big.Int).ModInverse(new(big.Int).Mod(rest, p), p)
			s.crt = append(s.crt, inv.Mul(inv, rest).Mod(inv, n))
		}
		return s, nil
	}
	return nil, errors.New("no 2048-bit multi-prime key found")
}

// useKID sets the kid the emulator derived for the key, so that the header
// is byte for byte the emulator's own.
func (s *fastSigner) useKID(kid string) {
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	s.header = base64.RawURLEncoding.EncodeToString(hdr)
}

// sha256Prefix is the DER DigestInfo prefix of PKCS #1 v1.5 with SHA-256.
var sha256Prefix = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// sign encodes claims as a compact RS256 JWS.
func (s *fastSigner) sign(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := s.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	em := make([]byte, 256)
	em[1] = 1
	tail := len(em) - len(sha256Prefix) - len(digest)
	for i := 2; i < tail-1; i++ {
		em[i] = 0xff
	}
	copy(em[tail:], sha256Prefix)
	copy(em[tail+len(sha256Prefix):], digest[:])
	m := new(big.Int).SetBytes(em)
	sig, part := new(big.Int), new(big.Int)
	for i, p := range s.primes {
		part.Exp(part.Mod(m, p), s.dp[i], p)
		sig.Add(sig, part.Mul(part, s.crt[i]))
	}
	sig.Mod(sig, s.key.N)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig.FillBytes(make([]byte, 256))), nil
}

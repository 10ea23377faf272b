package anonymous

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/google/uuid"
)

// The local ID cookie: sealing and opening it, and spelling the ID it holds.

// The sealed cookie's layout, in bytes: a header (version, key ID) in the
// clear, then the nonce, the sealed local ID and expiry, and the tag.
const (
	localVersion  = 1
	localKIDLen   = 4
	localHeadLen  = 1 + localKIDLen
	localIDLen    = 16
	localPlainLen = localIDLen + 8
	localRawLen   = localHeadLen + 12 + localPlainLen + 16
)

// localCookieLen is the length of every sealed cookie value: its base64url
// spelling, unpadded.
const localCookieLen = localRawLen / 3 * 4

// HKDF labels: keys derived for this use only, whatever else the
// application's secret serves.
const (
	localKeyLabel = "github.com/descope-contrib/anonymous local ID cookie v1: AES-256-GCM key"
	localKIDLabel = "github.com/descope-contrib/anonymous local ID cookie v1: key ID"
)

// localSealer seals and opens local ID cookies. It is safe for concurrent
// use: the AEADs hold no state between calls, and the working buffers are
// pooled, so opening a cookie allocates nothing.
type localSealer struct {
	name    string
	aeads   []cipher.AEAD // random-nonce AES-256-GCM, one per key
	kids    [][localKIDLen]byte
	scratch sync.Pool // *localScratch
}

// localScratch is one call's working space.
type localScratch struct {
	raw   [localRawLen]byte
	plain [localPlainLen]byte
	aad   []byte // name, 0, header
}

// newLocalSealer derives the AES keys and key IDs; it returns nil when no
// keys are configured.
func newLocalSealer(keys [][]byte, name string) (*localSealer, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	l := &localSealer{name: name}
	for _, k := range keys {
		ak, err := hkdf.Key(sha256.New, k, nil, localKeyLabel, 32)
		if err != nil {
			return nil, fmt.Errorf("anonymous: derive local key: %w", err)
		}
		kid, err := hkdf.Key(sha256.New, k, nil, localKIDLabel, localKIDLen)
		if err != nil {
			return nil, fmt.Errorf("anonymous: derive local key ID: %w", err)
		}
		block, err := aes.NewCipher(ak)
		if err != nil {
			return nil, fmt.Errorf("anonymous: local key: %w", err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("anonymous: local key: %w", err)
		}
		l.aeads = append(l.aeads, aead)
		l.kids = append(l.kids, [localKIDLen]byte(kid))
	}
	return l, nil
}

func (l *localSealer) get() *localScratch {
	if s, ok := l.scratch.Get().(*localScratch); ok {
		return s
	}
	s := &localScratch{aad: make([]byte, len(l.name)+1+localHeadLen)}
	copy(s.aad, l.name)
	return s
}

// header sets the additional data for the header in s.raw: the cookie name,
// so that a value moved to another cookie does not open, and the header.
func (l *localSealer) header(s *localScratch) []byte {
	copy(s.aad[len(l.name)+1:], s.raw[:localHeadLen])
	return s.aad
}

// seal returns the cookie value for id, expiring at exp (unix seconds),
// under the first key.
func (l *localSealer) seal(id [localIDLen]byte, exp int64) string {
	s := l.get()
	defer l.scratch.Put(s)
	s.raw[0] = localVersion
	copy(s.raw[1:localHeadLen], l.kids[0][:])
	copy(s.plain[:localIDLen], id[:])
	binary.BigEndian.PutUint64(s.plain[localIDLen:], uint64(exp))
	l.aeads[0].Seal(s.raw[:localHeadLen], nil, s.plain[:], l.header(s))
	return base64.RawURLEncoding.EncodeToString(s.raw[:])
}

// open checks a cookie value: its length and encoding, its version, the
// seal of one of the keys, and an expiry after now (unix seconds). key is
// the index of the key that opened it.
func (l *localSealer) open(v string, now int64) (id [localIDLen]byte, exp int64, key int, ok bool) {
	if len(v) != localCookieLen {
		return id, 0, 0, false
	}
	s := l.get()
	defer l.scratch.Put(s)
	if !decodeLocal(&s.raw, v) || s.raw[0] != localVersion {
		return id, 0, 0, false
	}
	key = -1
	for i := range l.kids {
		if [localKIDLen]byte(s.raw[1:localHeadLen]) != l.kids[i] {
			continue
		}
		if _, err := l.aeads[i].Open(s.plain[:0], nil, s.raw[localHeadLen:], l.header(s)); err == nil {
			key = i
			break
		}
	}
	if key < 0 {
		return id, 0, 0, false
	}
	exp = int64(binary.BigEndian.Uint64(s.plain[localIDLen:]))
	if exp <= now {
		return id, 0, 0, false
	}
	copy(id[:], s.plain[:localIDLen])
	return id, exp, key, true
}

// localDecode maps a base64url character to its 6 bits, and every other
// byte to 0xff.
var localDecode = func() (m [256]byte) {
	for i := range m {
		m[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		m[c] = byte(i)
	}
	return m
}()

// The sealed cookie is a whole number of 3-byte groups, so its base64 has
// no padding and no partial last group: each 4 characters spell 3 bytes,
// and every string of localCookieLen base64url characters is the unique
// spelling of one value.
var _ [0]struct{} = [localRawLen % 3]struct{}{}

// decodeLocal decodes the cookie value v, of length localCookieLen, into
// dst. It reports false for any character outside the base64url alphabet.
// It is base64.RawURLEncoding.Strict's decoding of such a value, without its
// general cases (newlines, padding, a partial last group).
func decodeLocal(dst *[localRawLen]byte, v string) bool {
	if len(v) != localCookieLen {
		return false
	}
	for i, j := 0, 0; j < localRawLen; i, j = i+4, j+3 {
		a, b, c, d := localDecode[v[i]], localDecode[v[i+1]], localDecode[v[i+2]], localDecode[v[i+3]]
		if (a|b|c|d)&0xc0 != 0 {
			return false
		}
		n := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[j], dst[j+1], dst[j+2] = byte(n>>16), byte(n>>8), byte(n)
	}
	return true
}

// newLocalID returns the 16 bytes of a fresh local ID: a random (version 4)
// UUID from crypto/rand.
func newLocalID() ([localIDLen]byte, error) {
	u, err := uuid.NewRandom()
	return u, err
}

// localIDString spells a local ID: [LocalIDPrefix] and the UUID, in one
// allocation.
func localIDString(id [localIDLen]byte) string {
	const digits = "0123456789abcdef"
	var b [len(LocalIDPrefix) + 36]byte
	copy(b[:], LocalIDPrefix)
	j := len(LocalIDPrefix)
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = digits[c>>4], digits[c&0x0f]
		j += 2
	}
	return string(b[:])
}

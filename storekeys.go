package anonymous

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/descope/go-sdk/descope/client"
)

// What the store holds about a visitor's email address, phone number or
// network never appears in the clear, so that a dump of the store (or of
// its memory) links no address to a user ID. A key that would name one is
// named by a keyed hash of it instead (keyFor): HMAC-SHA256 under a key
// derived from a secret every replica shares, truncated to 128 bits. A value
// that carries one (a pending conversion) is sealed with AES-256-GCM under
// another key derived from that secret, bound to the key it is stored under.
//
// The secret is, in order: the one [WithStoreSecret] sets; else the
// management key of the Descope client, which every replica of an
// application holds; else the first key of [WithLocalKeys]. A process with
// none of these and no shared store uses a random one.

// HKDF labels: keys derived for this use only, whatever else the secret
// serves.
const (
	storeNameLabel = "github.com/descope-contrib/anonymous store v1: HMAC-SHA256 key of names"
	storeSealLabel = "github.com/descope-contrib/anonymous store v1: AES-256-GCM key of values"
)

// MinStoreSecretLen is the shortest secret [WithStoreSecret] accepts, in
// bytes.
const MinStoreSecretLen = 32

// WithStoreSecret sets the secret under which the store names what it counts
// per address and per client (a keyed hash) and seals the pending
// conversions it keeps (the address a code went to): at least
// MinStoreSecretLen random bytes, the same on every replica that shares a
// store. Changing it forgets the counts and the pending conversions (a
// visitor asks for a new code). Defaults to a key derived from the Descope
// client's management key, or else from the first key of [WithLocalKeys]; a
// shared store ([WithStore]) with neither needs this option.
func WithStoreSecret(secret []byte) Option {
	return func(c *config) error {
		if len(secret) < MinStoreSecretLen {
			return fmt.Errorf("anonymous: store secret is %d bytes, want at least %d", len(secret), MinStoreSecretLen)
		}
		c.store.secret = bytes.Clone(secret)
		return nil
	}
}

// newStoreKeysFor derives the store's keys from the secret cfg and c give.
func newStoreKeysFor(cfg *config, c *client.DescopeClient) (*storeKeys, error) {
	secret, err := storeSecret(cfg, c)
	if err != nil {
		return nil, err
	}
	return newStoreKeys(secret)
}

// storeSecret picks the secret of the store's names and seals (see above).
func storeSecret(cfg *config, c *client.DescopeClient) ([]byte, error) {
	if cfg.store.secret != nil {
		return cfg.store.secret, nil
	}
	if key, _ := sdkConfig(c, "ManagementKey"); key != "" {
		return []byte(key), nil
	}
	if len(cfg.localKeys) > 0 {
		return cfg.localKeys[0], nil
	}
	if cfg.store.shared != nil {
		return nil, errors.New("anonymous: a shared store needs a secret the replicas share: use WithStoreSecret (the Descope client has no management key)")
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return secret, nil
}

// storeKeys names and seals what the store holds about addresses and
// clients. It is safe for concurrent use.
type storeKeys struct {
	macs sync.Pool // hash.Hash: HMAC-SHA256 under the name key
	aead cipher.AEAD
}

func newStoreKeys(secret []byte) (*storeKeys, error) {
	nameKey, err := hkdf.Key(sha256.New, secret, nil, storeNameLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("anonymous: derive store name key: %w", err)
	}
	sealKey, err := hkdf.Key(sha256.New, secret, nil, storeSealLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("anonymous: derive store seal key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("anonymous: store seal key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("anonymous: store seal key: %w", err)
	}
	k := &storeKeys{aead: aead}
	k.macs.New = func() any { return hmac.New(sha256.New, nameKey) }
	return k, nil
}

// storeNameLen is the length of the hash in a name: 128 bits.
const storeNameLen = 16

// keyFor names value in the store: kind (a key prefix, such as "code:a:")
// followed by the base64url of a keyed hash of kind and value. The name
// reveals neither, and only a holder of the secret can tell which value a
// name stands for, even for a value as guessable as a phone number.
func (k *storeKeys) keyFor(kind, value string) string {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(value))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	k.macs.Put(h)
	return kind + base64.RawURLEncoding.EncodeToString(sum[:storeNameLen])
}

// sealedVersion starts every sealed value; a value stored before values
// were sealed (JSON, starting with '{') does not open.
const sealedVersion = 1

// seal encrypts plain for the store key it is stored under.
func (k *storeKeys) seal(key string, plain []byte) []byte {
	return k.aead.Seal([]byte{sealedVersion}, nil, plain, []byte(key))
}

// open decrypts a value sealed for key; ok is false for a value sealed for
// another key or under another secret, tampered with, or of another format.
func (k *storeKeys) open(key string, sealed []byte) (plain []byte, ok bool) {
	if len(sealed) < 1 || sealed[0] != sealedVersion {
		return nil, false
	}
	plain, err := k.aead.Open(nil, nil, sealed[1:], []byte(key))
	return plain, err == nil
}

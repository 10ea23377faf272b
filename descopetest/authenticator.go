package descopetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// Authenticator is a software passkey authenticator for tests that have no
// browser: it answers the options of a WebAuthn start call as a browser's
// navigator.credentials.create or get would, encoded as Descope's JS SDKs
// send it to the finish call. Its passkeys are discoverable ES256 keys
// that it keeps in memory, it always reports the user present and
// verified, and it attests with the "none" format.
//
//	start, _ := sdk.Auth.WebAuthn().UpdateUserDeviceStart(ctx, loginID, "https://app.example.com", r)
//	response, _ := auth.Create(start.Options, "https://app.example.com")
//	_, _ = sdk.Auth.WebAuthn().UpdateUserDeviceFinish(ctx, &descope.WebAuthnFinishRequest{
//		TransactionID: start.TransactionID, Response: response}, nil)
//
// An Authenticator is safe for concurrent use.
type Authenticator struct {
	mu    sync.Mutex
	creds []*softCredential
}

// softCredential is a passkey an Authenticator holds.
type softCredential struct {
	id         []byte
	key        *ecdsa.PrivateKey
	rpID       string
	userHandle []byte
	signCount  uint32
}

// NewAuthenticator returns an Authenticator that holds no passkey.
func NewAuthenticator() *Authenticator { return &Authenticator{} }

// Passkeys returns how many passkeys the authenticator holds.
func (a *Authenticator) Passkeys() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.creds)
}

// optionsJSON is the part of WebAuthn options the Authenticator reads.
type optionsJSON struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		PubKeyCredParams []struct {
			Alg int64 `json:"alg"`
		} `json:"pubKeyCredParams"`
		ExcludeCredentials []credentialDescriptor `json:"excludeCredentials"`
		AllowCredentials   []credentialDescriptor `json:"allowCredentials"`
	} `json:"publicKey"`
}

// softCeremony is what an Authenticator is about to answer; package tests
// alter it to forge answers.
type softCeremony struct {
	credID     []byte // the new credential's ID (create)
	clientData map[string]any
	rpIDHash   []byte
	flags      byte
	signCount  uint32
	format     string // "none" or "packed" (self attestation)
	userHandle []byte
	sign       func(data []byte) ([]byte, error) // signs with the credential's key
	afterSign  func(sig []byte) []byte           // alters the signature
}

// Create registers a new passkey for the creation options (the options of
// a start answer with create true) at origin, and returns the response to
// send to the finish call.
func (a *Authenticator) Create(options, origin string) (string, error) {
	return a.create(options, origin, nil)
}

// Get signs in with a passkey the request options (the options of a start
// answer with create false) allow at origin, and returns the response to
// send to the finish call.
func (a *Authenticator) Get(options, origin string) (string, error) {
	return a.get(options, origin, nil)
}

// parseOptions reads options and the relying party ID they name, or else
// the origin's host, which must be on it (as browsers check).
func parseOptions(options, origin string) (*optionsJSON, string, error) {
	var o optionsJSON
	if err := json.Unmarshal([]byte(options), &o); err != nil {
		return nil, "", fmt.Errorf("descopetest: options are not WebAuthn options in JSON: %w", err)
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return nil, "", fmt.Errorf("descopetest: %q is not an origin", origin)
	}
	host := strings.ToLower(u.Hostname())
	rpID := o.PublicKey.RP.ID
	if rpID == "" {
		rpID = o.PublicKey.RPID
	}
	if rpID == "" {
		rpID = host
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return nil, "", fmt.Errorf("descopetest: origin %q is not on the relying party %q", origin, rpID)
	}
	return &o, rpID, nil
}

// newSoftCeremony prepares the answer of a ceremony of typ for options.
func newSoftCeremony(typ, challenge, origin, rpID string, key *ecdsa.PrivateKey) *softCeremony {
	hash := sha256.Sum256([]byte(rpID))
	return &softCeremony{
		clientData: map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false},
		rpIDHash:   hash[:],
		flags:      flagUP | flagUV,
		format:     "none",
		sign: func(data []byte) ([]byte, error) {
			sum := sha256.Sum256(data)
			return ecdsa.SignASN1(rand.Reader, key, sum[:])
		},
	}
}

// authData encodes the ceremony's authenticator data, with attested
// credential data when attested is not nil.
func (c *softCeremony) authData(attested []byte) []byte {
	var b bytes.Buffer
	b.Write(c.rpIDHash)
	flags := c.flags
	if attested != nil {
		flags |= flagAT
	}
	b.WriteByte(flags)
	b.Write(binary.BigEndian.AppendUint32(nil, c.signCount))
	b.Write(attested)
	return b.Bytes()
}

// signature signs authData and the hash of clientData.
func (c *softCeremony) signature(authData, clientData []byte) ([]byte, error) {
	hash := sha256.Sum256(clientData)
	sig, err := c.sign(append(append([]byte{}, authData...), hash[:]...))
	if err != nil {
		return nil, err
	}
	if c.afterSign != nil {
		sig = c.afterSign(sig)
	}
	return sig, nil
}

// create is Create; alter, when not nil, changes the answer before it is
// encoded.
func (a *Authenticator) create(options, origin string, alter func(*softCeremony)) (string, error) {
	o, rpID, err := parseOptions(options, origin)
	if err != nil {
		return "", err
	}
	es256 := false
	for _, p := range o.PublicKey.PubKeyCredParams {
		es256 = es256 || p.Alg == coseES256
	}
	if !es256 {
		return "", errors.New("descopetest: the options do not offer ES256")
	}
	handle, err := b64url(o.PublicKey.User.ID)
	if err != nil || len(handle) == 0 || len(handle) > maxUserHandle {
		return "", errors.New("descopetest: the options' user.id is not a user handle in base64url")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range o.PublicKey.ExcludeCredentials {
		if a.findLocked(d.ID, rpID) != nil {
			return "", errors.New("descopetest: the authenticator already holds an excluded credential")
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	cer := newSoftCeremony("webauthn.create", o.PublicKey.Challenge, origin, rpID, key)
	cer.credID = randomBytes(32)
	if alter != nil {
		alter(cer)
	}
	cred := &softCredential{id: cer.credID, key: key, rpID: rpID, userHandle: handle}
	coseKey, err := coseES256Key(&key.PublicKey)
	if err != nil {
		return "", err
	}
	keyBytes, err := cborEncode(coseKey)
	if err != nil {
		return "", err
	}
	attested := make([]byte, 16, 16+2+len(cred.id)+len(keyBytes)) // zero AAGUID, as with attestation "none"
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(cred.id)))
	attested = append(append(attested, cred.id...), keyBytes...)
	authData := cer.authData(attested)
	clientData, err := json.Marshal(cer.clientData)
	if err != nil {
		return "", err
	}
	stmt := cborMap{}
	if cer.format == "packed" {
		sig, err := cer.signature(authData, clientData)
		if err != nil {
			return "", err
		}
		stmt = cborMap{"alg": coseES256, "sig": sig}
	}
	attObj, err := cborEncode(cborMap{"fmt": cer.format, "attStmt": stmt, "authData": authData})
	if err != nil {
		return "", err
	}
	a.creds = append(a.creds, cred)
	b64 := base64.RawURLEncoding.EncodeToString
	return encodeCredential(cred.id, map[string]any{
		"attestationObject": b64(attObj),
		"clientDataJSON":    b64(clientData),
	})
}

// get is Get; alter, when not nil, changes the answer before it is
// encoded.
func (a *Authenticator) get(options, origin string, alter func(*softCeremony)) (string, error) {
	o, rpID, err := parseOptions(options, origin)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var cred *softCredential
	for _, d := range o.PublicKey.AllowCredentials {
		if cred = a.findLocked(d.ID, rpID); cred != nil {
			break
		}
	}
	if len(o.PublicKey.AllowCredentials) == 0 {
		for _, c := range a.creds {
			if c.rpID == rpID {
				cred = c
				break
			}
		}
	}
	if cred == nil {
		return "", errors.New("descopetest: the authenticator holds no passkey the options allow")
	}
	cer := newSoftCeremony("webauthn.get", o.PublicKey.Challenge, origin, rpID, cred.key)
	cer.signCount = cred.signCount + 1
	cer.userHandle = cred.userHandle
	if alter != nil {
		alter(cer)
	}
	authData := cer.authData(nil)
	clientData, err := json.Marshal(cer.clientData)
	if err != nil {
		return "", err
	}
	sig, err := cer.signature(authData, clientData)
	if err != nil {
		return "", err
	}
	cred.signCount = cer.signCount
	b64 := base64.RawURLEncoding.EncodeToString
	return encodeCredential(cred.id, map[string]any{
		"authenticatorData": b64(authData),
		"clientDataJSON":    b64(clientData),
		"signature":         b64(sig),
		"userHandle":        b64(cer.userHandle),
	})
}

// findLocked returns the held credential with the base64url ID for the
// relying party, or nil.
func (a *Authenticator) findLocked(id, rpID string) *softCredential {
	raw, err := b64url(id)
	if err != nil {
		return nil
	}
	for _, c := range a.creds {
		if c.rpID == rpID && bytes.Equal(c.id, raw) {
			return c
		}
	}
	return nil
}

// encodeCredential encodes a PublicKeyCredential as the Descope JS SDKs do.
func encodeCredential(id []byte, response map[string]any) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString(id)
	out, err := json.Marshal(map[string]any{"id": b64, "rawId": b64, "type": "public-key", "response": response})
	return string(out), err
}

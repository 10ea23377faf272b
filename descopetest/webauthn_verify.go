package descopetest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Verifying what a browser's navigator.credentials.create and get answer,
// after the Descope SDKs' JSON encoding (web-js-sdk webauthn.ts
// encodeCreateResponse and encodeGetResponse: id, rawId, type and the
// response's fields, binary fields in unpadded base64url), as the WebAuthn
// Level 2 recommendation's "Registering a New Credential" (7.1) and
// "Verifying an Authentication Assertion" (7.2) say: the client data's
// type, challenge and origin (and no crossOrigin); the authenticator data's
// RP ID hash, user presence and user verification flags (the emulator asks
// for userVerification "required"), backup flags that make sense, and a
// sign count that grows; the attestation statement of the "none" and
// "packed" formats; and the assertion's signature with the registered key.
// The emulator asks for attestation "none", so it does not judge the
// authenticator's make: a packed statement with a certificate (x5c) is
// checked against the certificate's key, and the certificate itself is not
// checked against any root.

// passkey is a registered WebAuthn credential. Guarded by Emulator.mu.
type passkey struct {
	id         string // credential ID, base64url without padding
	publicKey  crypto.PublicKey
	alg        int64
	signCount  uint32
	userHandle []byte // user.id of the registration's options
	rpID       string
	created    time.Time
}

// ceremony is what a WebAuthn transaction expects of the browser's answer.
type ceremony struct {
	challenge []byte
	origin    string // the origin of the start call, exactly
	rpID      string
}

// Authenticator data flags (WebAuthn Level 2, 6.1).
const (
	flagUP byte = 0x01 // user present
	flagUV byte = 0x04 // user verified
	flagBE byte = 0x08 // backup eligible
	flagBS byte = 0x10 // backed up
	flagAT byte = 0x40 // attested credential data included
	flagED byte = 0x80 // extension data included
)

// Limits on what a response may hold.
const (
	maxCredentialID = 1023 // WebAuthn Level 2, 5.1 rawId
	maxUserHandle   = 64
	maxClientData   = 16 << 10
)

// credentialJSON is a PublicKeyCredential as the Descope SDKs encode it.
type credentialJSON struct {
	ID       string `json:"id"`
	RawID    string `json:"rawId"`
	Type     string `json:"type"`
	Response struct {
		ClientDataJSON    string `json:"clientDataJSON"`
		AttestationObject string `json:"attestationObject"`
		AuthenticatorData string `json:"authenticatorData"`
		Signature         string `json:"signature"`
		UserHandle        string `json:"userHandle"`
	} `json:"response"`
}

// b64url decodes base64url, with or without padding.
func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// parseCredential decodes the JSON of a credential and checks its type and
// ID, and returns it with its raw ID.
func parseCredential(response string) (*credentialJSON, []byte, error) {
	var cred credentialJSON
	if err := json.Unmarshal([]byte(response), &cred); err != nil {
		return nil, nil, fmt.Errorf("response is not a credential in JSON: %v", err)
	}
	if cred.Type != "public-key" {
		return nil, nil, fmt.Errorf("credential type %q, want public-key", cred.Type)
	}
	raw, err := b64url(cred.RawID)
	if err != nil || len(raw) == 0 || len(raw) > maxCredentialID {
		return nil, nil, errors.New("rawId is not a credential ID in base64url")
	}
	if cred.ID != base64.RawURLEncoding.EncodeToString(raw) {
		return nil, nil, errors.New("id does not match rawId")
	}
	return &cred, raw, nil
}

// collectedClientData is the part of clientDataJSON the emulator checks.
type collectedClientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
}

// checkClientData decodes clientDataJSON (base64url) and checks its type,
// challenge and origin against the ceremony. It returns the raw JSON, whose
// hash the authenticator signed.
func checkClientData(encoded, typ string, c *ceremony) ([]byte, error) {
	raw, err := b64url(encoded)
	if err != nil || len(raw) > maxClientData {
		return nil, errors.New("clientDataJSON is not base64url")
	}
	var cd collectedClientData
	if err := json.Unmarshal(raw, &cd); err != nil {
		return nil, errors.New("clientDataJSON is not JSON")
	}
	challenge, err := b64url(cd.Challenge)
	switch {
	case cd.Type != typ:
		return nil, fmt.Errorf("client data type %q, want %q", cd.Type, typ)
	case err != nil || !bytes.Equal(challenge, c.challenge):
		return nil, errors.New("client data challenge is not the transaction's")
	case cd.Origin != c.origin:
		return nil, fmt.Errorf("client data origin %q, want %q", cd.Origin, c.origin)
	case cd.CrossOrigin:
		return nil, errors.New("the ceremony ran in a cross-origin frame")
	}
	return raw, nil
}

// authenticatorData is parsed authenticator data (WebAuthn Level 2, 6.1).
type authenticatorData struct {
	rpIDHash  []byte
	flags     byte
	signCount uint32
	credID    []byte           // with flagAT
	credKey   crypto.PublicKey // with flagAT
	credAlg   int64            // with flagAT
}

// parseAuthenticatorData reads authenticator data: the fixed 37 bytes,
// then attested credential data when flagAT says so, then an extension
// map when flagED says so, and nothing more.
func parseAuthenticatorData(b []byte) (*authenticatorData, error) {
	if len(b) < 37 {
		return nil, errors.New("authenticator data is shorter than 37 bytes")
	}
	ad := &authenticatorData{rpIDHash: b[:32], flags: b[32], signCount: binary.BigEndian.Uint32(b[33:37])}
	rest := b[37:]
	if ad.flags&flagAT != 0 {
		if len(rest) < 18 {
			return nil, errors.New("attested credential data is truncated")
		}
		n := int(binary.BigEndian.Uint16(rest[16:18])) // after the 16-byte AAGUID
		rest = rest[18:]
		if n == 0 || n > maxCredentialID || len(rest) < n {
			return nil, errors.New("credential ID length is out of range")
		}
		ad.credID, rest = rest[:n], rest[n:]
		v, after, err := cborDecode(rest)
		if err != nil {
			return nil, fmt.Errorf("credential public key: %v", err)
		}
		m, ok := v.(cborMap)
		if !ok {
			return nil, errors.New("credential public key is not a COSE key")
		}
		if ad.credKey, ad.credAlg, err = parseCOSEKey(m); err != nil {
			return nil, err
		}
		rest = after
	}
	if ad.flags&flagED != 0 {
		v, after, err := cborDecode(rest)
		if err != nil {
			return nil, fmt.Errorf("extensions: %v", err)
		}
		if _, ok := v.(cborMap); !ok {
			return nil, errors.New("extensions are not a map")
		}
		rest = after
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d unexpected bytes after the authenticator data", len(rest))
	}
	return ad, nil
}

// checkFlagsAndRP checks what registration and assertion share: the RP ID
// hash, user presence and verification, and backup flags that make sense.
func (ad *authenticatorData) checkFlagsAndRP(rpID string) error {
	want := sha256.Sum256([]byte(rpID))
	switch {
	case !bytes.Equal(ad.rpIDHash, want[:]):
		return fmt.Errorf("the authenticator answered for another relying party than %q", rpID)
	case ad.flags&flagUP == 0:
		return errors.New("the user was not present (UP flag unset)")
	case ad.flags&flagUV == 0:
		return errors.New("the user was not verified (UV flag unset) and verification is required")
	case ad.flags&flagBS != 0 && ad.flags&flagBE == 0:
		return errors.New("backed up (BS) but not backup eligible (BE)")
	}
	return nil
}

// verifyRegistration checks the answer of navigator.credentials.create to
// the ceremony and returns the credential to register.
func verifyRegistration(response string, c *ceremony) (*passkey, error) {
	cred, rawID, err := parseCredential(response)
	if err != nil {
		return nil, err
	}
	clientData, err := checkClientData(cred.Response.ClientDataJSON, "webauthn.create", c)
	if err != nil {
		return nil, err
	}
	attObj, err := b64url(cred.Response.AttestationObject)
	if err != nil {
		return nil, errors.New("attestationObject is not base64url")
	}
	v, err := cborDecodeAll(attObj)
	if err != nil {
		return nil, fmt.Errorf("attestation object: %v", err)
	}
	obj, _ := v.(cborMap)
	format, _ := obj["fmt"].(string)
	stmt, okStmt := obj["attStmt"].(cborMap)
	authData, okData := obj["authData"].([]byte)
	if format == "" || !okStmt || !okData {
		return nil, errors.New("attestation object lacks fmt, attStmt or authData")
	}
	ad, err := parseAuthenticatorData(authData)
	if err != nil {
		return nil, err
	}
	if ad.flags&flagAT == 0 {
		return nil, errors.New("no attested credential data (AT flag unset)")
	}
	if err := ad.checkFlagsAndRP(c.rpID); err != nil {
		return nil, err
	}
	if !bytes.Equal(ad.credID, rawID) {
		return nil, errors.New("the attested credential ID is not rawId")
	}
	if err := checkAttestation(format, stmt, ad, authData, clientData); err != nil {
		return nil, err
	}
	return &passkey{
		id:        base64.RawURLEncoding.EncodeToString(rawID),
		publicKey: ad.credKey,
		alg:       ad.credAlg,
		signCount: ad.signCount,
		rpID:      c.rpID,
	}, nil
}

// checkAttestation checks an attestation statement of the "none" or
// "packed" format (WebAuthn Level 2, 8.7 and 8.2).
func checkAttestation(format string, stmt cborMap, ad *authenticatorData, authData, clientData []byte) error {
	switch format {
	case "none":
		if len(stmt) != 0 {
			return errors.New(`a "none" attestation with a statement`)
		}
		return nil
	case "packed":
	default:
		return fmt.Errorf("unsupported attestation format %q", format)
	}
	alg, okAlg := stmt["alg"].(int64)
	sig, okSig := stmt["sig"].([]byte)
	if !okAlg || !okSig {
		return errors.New("packed attestation lacks alg or sig")
	}
	hash := sha256.Sum256(clientData)
	signed := append(append([]byte{}, authData...), hash[:]...)
	chain, hasX5C := stmt["x5c"]
	if !hasX5C { // self attestation: signed with the credential's own key
		if alg != ad.credAlg {
			return errors.New("self attestation with another algorithm than the credential's")
		}
		if err := verifyCOSE(ad.credKey, alg, signed, sig); err != nil {
			return fmt.Errorf("packed self attestation: %v", err)
		}
		return nil
	}
	certs, _ := chain.([]any)
	if len(certs) == 0 {
		return errors.New("packed attestation with an empty x5c")
	}
	der, _ := certs[0].([]byte)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("packed attestation certificate: %v", err)
	}
	var pub crypto.PublicKey
	switch k := cert.PublicKey.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
		pub = k
	default:
		return errors.New("packed attestation certificate with an unsupported key")
	}
	if err := verifyCOSE(pub, alg, signed, sig); err != nil {
		return fmt.Errorf("packed attestation: %v", err)
	}
	return nil
}

// assertion is a parsed answer of navigator.credentials.get.
type assertion struct {
	cred   *credentialJSON
	credID string // base64url
}

// parseAssertion decodes the answer of navigator.credentials.get far
// enough to name its credential.
func parseAssertion(response string) (*assertion, error) {
	cred, rawID, err := parseCredential(response)
	if err != nil {
		return nil, err
	}
	return &assertion{cred: cred, credID: base64.RawURLEncoding.EncodeToString(rawID)}, nil
}

// verify checks the assertion against the ceremony and the registered
// passkey, and returns the new sign count. discoverable says the sign-in
// named no user, so the user handle must name the credential's.
func (a *assertion) verify(c *ceremony, pk *passkey, discoverable bool) (uint32, error) {
	if pk.rpID != c.rpID {
		return 0, fmt.Errorf("the credential is registered for %q, not %q", pk.rpID, c.rpID)
	}
	clientData, err := checkClientData(a.cred.Response.ClientDataJSON, "webauthn.get", c)
	if err != nil {
		return 0, err
	}
	authData, err := b64url(a.cred.Response.AuthenticatorData)
	if err != nil {
		return 0, errors.New("authenticatorData is not base64url")
	}
	ad, err := parseAuthenticatorData(authData)
	if err != nil {
		return 0, err
	}
	if ad.flags&flagAT != 0 {
		return 0, errors.New("an assertion with attested credential data")
	}
	if err := ad.checkFlagsAndRP(c.rpID); err != nil {
		return 0, err
	}
	sig, err := b64url(a.cred.Response.Signature)
	if err != nil {
		return 0, errors.New("signature is not base64url")
	}
	hash := sha256.Sum256(clientData)
	if err := verifyCOSE(pk.publicKey, pk.alg, append(authData, hash[:]...), sig); err != nil {
		return 0, err
	}
	switch handle, err := b64url(a.cred.Response.UserHandle); {
	case err != nil || len(handle) > maxUserHandle:
		return 0, errors.New("userHandle is not base64url")
	case len(handle) == 0 && discoverable:
		return 0, errors.New("a sign-in without a login ID needs the user handle")
	case len(handle) != 0 && !bytes.Equal(handle, pk.userHandle):
		return 0, errors.New("the user handle is not the credential's user")
	}
	if (ad.signCount != 0 || pk.signCount != 0) && ad.signCount <= pk.signCount {
		return 0, fmt.Errorf("sign count %d does not exceed %d: the authenticator may be cloned", ad.signCount, pk.signCount)
	}
	return ad.signCount, nil
}

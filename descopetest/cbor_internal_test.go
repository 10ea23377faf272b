package descopetest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCBORRoundTrip(t *testing.T) {
	v := cborMap{
		"fmt": "none", "attStmt": cborMap{}, "authData": []byte{1, 2, 3},
		int64(-7): int64(-1 << 40), int64(1): []any{int64(0), int64(23), int64(24), int64(255), int64(256), int64(65536), true, false, nil, "é"},
	}
	b, err := cborEncode(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cborDecodeAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip: %#v", got)
	}
	// Canonical key order: shorter encodings first ("fmt" before
	// "attStmt"), then bytewise.
	if i, j := bytes.Index(b, []byte("fmt")), bytes.Index(b, []byte("attStmt")); i < 0 || j < i {
		t.Fatalf("keys out of canonical order: %x", b)
	}
	// RFC 8949 appendix A examples.
	for hexIn, want := range map[string]any{
		"00": int64(0), "17": int64(23), "1818": int64(24), "1903e8": int64(1000), "20": int64(-1), "3903e7": int64(-1000),
		"1b7fffffffffffffff": int64(1<<63 - 1), "3b7fffffffffffffff": int64(-1 << 63),
		"40": []byte{}, "4401020304": []byte{1, 2, 3, 4}, "6161": "a", "80": []any{}, "a0": cborMap{},
		"f4": false, "f5": true, "f6": nil,
	} {
		in, _ := hex.DecodeString(hexIn)
		got, err := cborDecodeAll(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decode %s = %#v, %v; want %#v", hexIn, got, err, want)
		}
	}
}

func TestCBORRefuses(t *testing.T) {
	deep := strings.Repeat("81", cborMaxDepth+2) + "00"
	for name, hexIn := range map[string]string{
		"empty":                     "",
		"truncated head":            "19 01",
		"truncated string":          "44 0102",
		"huge string length":        "5b 7fffffffffffffff 00",
		"huge array count":          "9b 7fffffffffffffff",
		"huge map count":            "bb 0fffffffffffffff",
		"indefinite byte string":    "5f 41 00 ff",
		"indefinite map":            "bf ff",
		"reserved info":             "1c",
		"uint over int64":           "1b ffffffffffffffff",
		"negint under int64":        "3b 8000000000000000",
		"tag":                       "c2 41 01",
		"float":                     "fa 47c35000",
		"undefined":                 "f7",
		"invalid UTF-8 text":        "62 c328",
		"array key":                 "a1 80 00",
		"duplicate key":             "a2 01 00 01 00",
		"nested too deeply":         deep,
		"trailing bytes":            "00 00",
		"map missing its last item": "a2 01 00 02",
	} {
		in, err := hex.DecodeString(strings.ReplaceAll(hexIn, " ", ""))
		if err != nil {
			t.Fatal(name, err)
		}
		if v, err := cborDecodeAll(in); err == nil {
			t.Errorf("%s: decoded %#v", name, v)
		}
	}
}

func FuzzCBORDecode(f *testing.F) {
	for _, s := range []string{"a3636d74666e6f6e65", "a0", "9f", "1b7fffffffffffffff", "bf6161f6ff"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := cborDecodeAll(b)
		if err != nil {
			return
		}
		// What decodes encodes again, to the same value.
		out, err := cborEncode(v)
		if err != nil {
			t.Fatalf("encode %#v: %v", v, err)
		}
		again, err := cborDecodeAll(out)
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("re-decode %x: %#v, %v", out, again, err)
		}
	})
}

func FuzzAuthenticatorData(f *testing.F) {
	f.Add(make([]byte, 37))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseAuthenticatorData(b) // must not panic
	})
}

func TestCOSERS256(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	m := cborMap{coseKty: coseKtyRSA, coseAlg: coseRS256, coseN: key.N.Bytes(), coseE: big.NewInt(int64(key.E)).Bytes()}
	pub, alg, err := parseCOSEKey(m)
	if err != nil || alg != coseRS256 {
		t.Fatal(alg, err)
	}
	data := []byte("authenticator data and client data hash")
	sum := sha256.Sum256(data)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyCOSE(pub, alg, data, sig); err != nil {
		t.Fatal(err)
	}
	if verifyCOSE(pub, alg, append(data, 0), sig) == nil || verifyCOSE(pub, coseES256, data, sig) == nil {
		t.Fatal("a wrong message or algorithm verified")
	}
	for name, bad := range map[string]cborMap{
		"small RSA key":      {coseKty: coseKtyRSA, coseAlg: coseRS256, coseN: key.N.Bytes()[:128], coseE: []byte{1, 0, 1}},
		"even exponent":      {coseKty: coseKtyRSA, coseAlg: coseRS256, coseN: key.N.Bytes(), coseE: []byte{2}},
		"RSA key with ES256": {coseKty: coseKtyRSA, coseAlg: coseES256, coseN: key.N.Bytes(), coseE: []byte{1, 0, 1}},
		"EC2 off the curve":  {coseKty: coseKtyEC2, coseAlg: coseES256, coseCrv: coseP256, coseX: make([]byte, 32), coseY: make([]byte, 32)},
		"EC2 on P-384":       {coseKty: coseKtyEC2, coseAlg: coseES256, coseCrv: int64(2), coseX: make([]byte, 32), coseY: make([]byte, 32)},
		"no alg":             {coseKty: coseKtyEC2},
		"EdDSA":              {coseKty: int64(1), coseAlg: int64(-8)},
	} {
		if _, _, err := parseCOSEKey(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPackedAttestationWithCertificate checks a packed statement signed by
// an attestation certificate's key, not the credential's.
func TestPackedAttestationWithCertificate(t *testing.T) {
	attKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attestation"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &attKey.PublicKey, attKey)
	if err != nil {
		t.Fatal(err)
	}
	credKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ad := &authenticatorData{credKey: &credKey.PublicKey, credAlg: coseES256}
	authData, clientData := []byte("authData"), []byte(`{"type":"webauthn.create"}`)
	hash := sha256.Sum256(clientData)
	sum := sha256.Sum256(append(append([]byte{}, authData...), hash[:]...))
	sig, _ := ecdsa.SignASN1(rand.Reader, attKey, sum[:])
	stmt := cborMap{"alg": coseES256, "sig": sig, "x5c": []any{der}}
	if err := checkAttestation("packed", stmt, ad, authData, clientData); err != nil {
		t.Fatal(err)
	}
	// Signed by the credential's key instead: refused.
	sig2, _ := ecdsa.SignASN1(rand.Reader, credKey, sum[:])
	stmt["sig"] = sig2
	if checkAttestation("packed", stmt, ad, authData, clientData) == nil {
		t.Fatal("a statement not signed by the certificate's key verified")
	}
	stmt["x5c"] = []any{[]byte("not a certificate")}
	if checkAttestation("packed", stmt, ad, authData, clientData) == nil {
		t.Fatal("a garbage certificate verified")
	}
	if checkAttestation("none", cborMap{"sig": sig}, ad, authData, clientData) == nil {
		t.Fatal(`a "none" attestation with a statement verified`)
	}
}

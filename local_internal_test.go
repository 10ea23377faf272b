package anonymous

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// decodeLocal agrees with the standard library's strict decoding on sealed
// values, and refuses what it refuses.
func TestDecodeLocal(t *testing.T) {
	l, err := newLocalSealer([][]byte{[]byte("local_internal_test.go: 32 bytes or more")}, "DSL")
	if err != nil {
		t.Fatal(err)
	}
	strict := base64.RawURLEncoding.Strict()
	for range 1000 {
		id, _ := newLocalID()
		v := l.seal(id, time.Now().Unix())
		want, err := strict.DecodeString(v)
		var raw [localRawLen]byte
		if err != nil || len(v) != localCookieLen || !decodeLocal(&raw, v) || string(raw[:]) != string(want) {
			t.Fatalf("%q: decoded %x, want %x (%v)", v, raw, want, err)
		}
	}
	var raw [localRawLen]byte
	for _, bad := range []string{"", strings.Repeat("A", localCookieLen-1), strings.Repeat("A", localCookieLen+1),
		strings.Repeat("A", localCookieLen-1) + "=", strings.Repeat("A", localCookieLen-1) + "+",
		strings.Repeat("A", localCookieLen-1) + "/", strings.Repeat("A", localCookieLen-1) + "\n", strings.Repeat("é", localCookieLen/2)} {
		if decodeLocal(&raw, bad) {
			t.Errorf("decodeLocal(%q) accepted it", bad)
		}
	}
}

func TestLocalIDString(t *testing.T) {
	for range 100 {
		id, err := newLocalID()
		if err != nil {
			t.Fatal(err)
		}
		s := localIDString(id)
		if !IsLocalID(s) || s != LocalIDPrefix+uuid.UUID(id).String() {
			t.Fatalf("%q for %x", s, id)
		}
	}
}

// The layout: version, key ID and the sealed box; the key ID is the same for
// every cookie of a key and differs between keys.
func TestLocalSealLayout(t *testing.T) {
	a, _ := newLocalSealer([][]byte{[]byte("local_internal_test.go: 32 bytes or more")}, "DSL")
	b, _ := newLocalSealer([][]byte{[]byte("local_internal_test.go: another key, also long")}, "DSL")
	id, _ := newLocalID()
	exp := time.Now().Add(time.Hour).Unix()
	v1, v2, w := a.seal(id, exp), a.seal(id, exp), b.seal(id, exp)
	if v1 == v2 {
		t.Error("two seals of one ID are equal: the nonce is not random")
	}
	raw := func(v string) []byte { r, _ := base64.RawURLEncoding.DecodeString(v); return r }
	if r1, r2, rw := raw(v1), raw(v2), raw(w); r1[0] != localVersion || string(r1[:localHeadLen]) != string(r2[:localHeadLen]) ||
		string(r1[1:localHeadLen]) == string(rw[1:localHeadLen]) || len(r1) != localRawLen {
		t.Errorf("headers %x %x %x", r1[:localHeadLen], r2[:localHeadLen], rw[:localHeadLen])
	}
	if got, gotExp, key, ok := a.open(v1, exp-1); !ok || got != id || gotExp != exp || key != 0 {
		t.Errorf("open: %x %d %d %v", got, gotExp, key, ok)
	}
	if _, _, _, ok := a.open(v1, exp); ok {
		t.Error("opened at its expiry")
	}
	if strings.Contains(v1, strings.ReplaceAll(uuid.UUID(id).String(), "-", "")) {
		t.Error("the ID is readable in the cookie")
	}
}

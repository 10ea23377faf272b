package anonymous

import (
	"bytes"
	"errors"
	"testing"
)

// A refresh outcome opens only with the refresh token it was stored for,
// under the name it was stored under, and shows nothing of itself sealed.
func TestRefreshOutcomeSealing(t *testing.T) {
	token := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJVMSJ9.c2lnbmF0dXJlLW9mLXRoZS1yZWZyZXNoLXRva2Vu"
	sec := deriveRefreshSecrets(token)
	rec := refreshRecord{Session: "eyJ.session.sig-of-session", Refresh: "eyJ.refresh.sig-of-refresh"}
	sealed, err := sec.seal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range [][]byte{[]byte("sig-of-session"), []byte("sig-of-refresh"), []byte("eyJ"), sec.key} {
		if bytes.Contains(sealed, clear) {
			t.Fatalf("the sealed outcome shows %q", clear)
		}
	}
	if bytes.Contains([]byte(sec.id), []byte("c2lnbmF0dXJl")) || len(sec.id) != 32 {
		t.Fatalf("the outcome's name %q shows the token or has an unexpected length", sec.id)
	}
	if got, err := sec.open(sealed); err != nil || got != rec {
		t.Fatalf("open = %+v, %v", got, err)
	}
	other := deriveRefreshSecrets(token + "x")
	if other.id == sec.id || bytes.Equal(other.key, sec.key) {
		t.Fatal("two tokens share a name or a key")
	}
	if _, err := other.open(sealed); !errors.Is(err, errUnusableRecord) {
		t.Fatalf("opened with another token's key: %v", err)
	}
	moved := sec
	moved.id = other.id
	if _, err := moved.open(sealed); !errors.Is(err, errUnusableRecord) {
		t.Fatalf("opened under another name: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := sec.open(sealed); !errors.Is(err, errUnusableRecord) {
		t.Fatalf("opened a tampered outcome: %v", err)
	}
	if _, err := sec.open(sealed[:5]); !errors.Is(err, errUnusableRecord) {
		t.Fatalf("opened a truncated outcome: %v", err)
	}
	again, _ := sec.seal(rec)
	if bytes.Equal(again[:12], sealed[:12]) {
		t.Fatal("two seals share a nonce")
	}
}

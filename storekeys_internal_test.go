package anonymous

import (
	"bytes"
	"strings"
	"testing"

	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous/descopetest"
)

// A name is the kind and a keyed hash: the same for the same secret, kind
// and value, different for any other, and it shows nothing of the value.
func TestStoreKeyFor(t *testing.T) {
	k1, _ := newStoreKeys([]byte("the first secret, 32 bytes long.."))
	k2, _ := newStoreKeys([]byte("the other secret, 32 bytes long.."))
	a := k1.keyFor(addressCounterKey, "ada@example.com")
	if a != k1.keyFor(addressCounterKey, "ada@example.com") {
		t.Fatal("the same value named twice differently")
	}
	if !strings.HasPrefix(a, addressCounterKey) || len(a) != len(addressCounterKey)+22 {
		t.Errorf("name %q: want the kind and 22 characters", a)
	}
	for _, other := range []string{
		k1.keyFor(addressCounterKey, "ada@example.org"),
		k1.keyFor(clientCounterKey, "ada@example.com"),
		k2.keyFor(addressCounterKey, "ada@example.com"),
	} {
		if other[len(other)-22:] == a[len(a)-22:] {
			t.Errorf("%q and %q share a hash", a, other)
		}
	}
	if strings.Contains(strings.ToLower(a), "ada") {
		t.Errorf("name %q shows the value", a)
	}
}

// A sealed value opens only under its own key and secret; a value stored
// before values were sealed does not open.
func TestStoreSeal(t *testing.T) {
	k1, _ := newStoreKeys([]byte("the first secret, 32 bytes long.."))
	k2, _ := newStoreKeys([]byte("the other secret, 32 bytes long.."))
	plain := []byte(`{"a":"ada@example.com"}`)
	sealed := k1.seal(pendingKey+"U1", plain)
	if bytes.Contains(sealed, []byte("ada")) {
		t.Fatal("the sealed value shows the address")
	}
	if got, ok := k1.open(pendingKey+"U1", sealed); !ok || !bytes.Equal(got, plain) {
		t.Fatalf("open = %q, %v", got, ok)
	}
	if _, ok := k1.open(pendingKey+"U2", sealed); ok {
		t.Error("a value moved to another key opened")
	}
	if _, ok := k2.open(pendingKey+"U1", sealed); ok {
		t.Error("a value opened under another secret")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, v := range map[string][]byte{"tampered": tampered, "old JSON": plain, "empty": nil, "version only": {sealedVersion}} {
		if _, ok := k1.open(pendingKey+"U1", v); ok {
			t.Errorf("%s value opened", name)
		}
	}
}

// The secret is the one set, else the client's management key, else the
// first local key; a shared store with none of them is refused.
func TestStoreSecretChoice(t *testing.T) {
	emu := descopetest.New()
	defer emu.Close()
	withKey := emu.MustClient(t)
	noKey, err := client.NewWithConfig(&client.Config{ProjectID: emu.ProjectID, DescopeBaseURL: emu.URL})
	if err != nil {
		t.Fatal(err)
	}
	set := []byte("a secret the application sets, 32+")
	local := []byte("a local ID cookie key, at least 32 bytes")
	for _, tc := range []struct {
		name   string
		c      *client.DescopeClient
		cfg    config
		want   []byte
		random bool
	}{
		{"set", withKey, config{store: storeConfig{secret: set}, localKeys: [][]byte{local}}, set, false},
		{"management key", withKey, config{localKeys: [][]byte{local}}, []byte(emu.ManagementKey), false},
		{"local key", noKey, config{localKeys: [][]byte{local}}, local, false},
		{"random", noKey, config{}, nil, true},
	} {
		got, err := storeSecret(&tc.cfg, tc.c)
		if err != nil || (!tc.random && !bytes.Equal(got, tc.want)) || (tc.random && len(got) != 32) {
			t.Errorf("%s: %q, %v", tc.name, got, err)
		}
	}
	if _, err := storeSecret(&config{store: storeConfig{shared: newMemStore(nil, 0, 0)}}, noKey); err == nil {
		t.Error("a shared store with no secret accepted")
	}
	if _, err := New(noKey, WithProjectID(emu.ProjectID), WithStore(newMemStore(nil, 0, 0))); err == nil {
		t.Error("New accepted a shared store with no secret")
	}
	if _, err := New(noKey, WithStore(newMemStore(nil, 0, 0)), WithStoreSecret(set)); err != nil {
		t.Errorf("New with a shared store and a secret: %v", err)
	}
	if _, err := New(withKey, WithStoreSecret(set[:31])); err == nil {
		t.Error("a 31-byte secret accepted")
	}
}

package descopetest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous/internal/testclock"
)

// Forged answers to the WebAuthn finish calls: each must be refused, spend
// its transaction, and leave the user's passkeys as they were.

const forgeOrigin = "https://app.example.com"

// forgeWorld is an emulator with two signed-in users, each with an
// authenticator.
type forgeWorld struct {
	emu      *Emulator
	sdk      *client.DescopeClient
	ctx      context.Context
	clk      *testclock.Clock
	dsr      map[string]string // login ID -> refresh token
	userID   map[string]string // login ID -> user ID
	auth     map[string]*Authenticator
	loginIDs []string
}

func newForgeWorld(t *testing.T) *forgeWorld {
	t.Helper()
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	emu := New(WithClock(clk.Now))
	t.Cleanup(emu.Close)
	sdk, err := emu.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	w := &forgeWorld{emu: emu, sdk: sdk, ctx: ctx, clk: clk,
		dsr: map[string]string{}, userID: map[string]string{}, auth: map[string]*Authenticator{},
		loginIDs: []string{"alice", "bob"}}
	for _, id := range w.loginIDs {
		info, err := sdk.Management.JWT().SignUpOrIn(ctx, id, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.dsr[id], w.userID[id], w.auth[id] = info.RefreshToken.JWT, info.SessionToken.ID, NewAuthenticator()
	}
	return w
}

// withDSR is a request carrying the refresh token of loginID in DSR.
func (w *forgeWorld) withDSR(loginID string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: descope.RefreshCookieName, Value: w.dsr[loginID]})
	return r
}

// startUpdate starts adding a passkey for loginID.
func (w *forgeWorld) startUpdate(t *testing.T, loginID string) *descope.WebAuthnTransactionResponse {
	t.Helper()
	start, err := w.sdk.Auth.WebAuthn().UpdateUserDeviceStart(w.ctx, loginID, forgeOrigin, w.withDSR(loginID))
	if err != nil {
		t.Fatal(err)
	}
	return start
}

// finishUpdate sends response to the update finish call.
func (w *forgeWorld) finishUpdate(txID, response string) error {
	_, err := w.sdk.Auth.WebAuthn().UpdateUserDeviceFinish(w.ctx, &descope.WebAuthnFinishRequest{TransactionID: txID, Response: response}, nil)
	return err
}

// register gives loginID a passkey through an update.
func (w *forgeWorld) register(t *testing.T, loginID string) {
	t.Helper()
	start := w.startUpdate(t, loginID)
	response, err := w.auth[loginID].Create(start.Options, forgeOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.finishUpdate(start.TransactionID, response); err != nil {
		t.Fatal(err)
	}
}

// passkeys returns the passkeys of loginID's user.
func (w *forgeWorld) passkeys(loginID string) []passkey {
	w.emu.mu.Lock()
	defer w.emu.mu.Unlock()
	var out []passkey
	for _, pk := range w.emu.users[w.userID[loginID]].passkeys {
		out = append(out, *pk)
	}
	return out
}

// startSignIn starts a sign-in for loginID ("" for a discoverable one).
func (w *forgeWorld) startSignIn(t *testing.T, loginID string) (txID, options string) {
	t.Helper()
	body := `{"loginId":` + jsonString(loginID) + `,"origin":"` + forgeOrigin + `"}`
	req, _ := http.NewRequest(http.MethodPost, w.emu.URL+"/v1/auth/webauthn/signin/start", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+w.emu.ProjectID)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var start passkeyStartResponse
	if err := json.NewDecoder(res.Body).Decode(&start); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in start: %d %v", res.StatusCode, err)
	}
	return start.TransactionID, start.Options
}

// finishSignIn sends response to the sign-in finish call.
func (w *forgeWorld) finishSignIn(txID, response string) (*descope.AuthenticationInfo, error) {
	return w.sdk.Auth.WebAuthn().SignInFinish(w.ctx, &descope.WebAuthnFinishRequest{TransactionID: txID, Response: response}, nil)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// wantRefused fails unless err is the emulator's refusal of a WebAuthn
// answer or transaction.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	de := descope.AsError(err)
	if de == nil || de.Code != "E011003" || !descope.IsUnauthorizedError(err) {
		t.Fatalf("%s: want a refusal (E011003, 401), got %v", what, err)
	}
}

func otherHash(rpID string) []byte {
	h := sha256.Sum256([]byte(rpID))
	return h[:]
}

// flipLast changes the last byte of a signature.
func flipLast(sig []byte) []byte {
	out := append([]byte{}, sig...)
	out[len(out)-1] ^= 0x01
	return out
}

// forgeries alter an answer so that it must be refused, for registration
// (create) and sign-in (get).
var forgeries = []struct {
	name   string
	create bool // applies to registration
	get    bool // applies to sign-in
	alter  func(*softCeremony)
}{
	{"wrong challenge", true, true, func(c *softCeremony) {
		c.clientData["challenge"] = base64.RawURLEncoding.EncodeToString(randomBytes(32))
	}},
	{"no challenge", true, true, func(c *softCeremony) { delete(c.clientData, "challenge") }},
	{"wrong origin", true, true, func(c *softCeremony) { c.clientData["origin"] = "https://evil.example.com" }},
	{"origin with a trailing slash", true, true, func(c *softCeremony) { c.clientData["origin"] = forgeOrigin + "/" }},
	{"cross-origin frame", true, true, func(c *softCeremony) { c.clientData["crossOrigin"] = true }},
	{"wrong rpId", true, true, func(c *softCeremony) { c.rpIDHash = otherHash("example.com") }},
	{"user not present", true, true, func(c *softCeremony) { c.flags &^= flagUP }},
	{"user not verified", true, true, func(c *softCeremony) { c.flags &^= flagUV }},
	{"backed up but not eligible", true, true, func(c *softCeremony) { c.flags |= flagBS }},
	{"create type in a sign-in", false, true, func(c *softCeremony) { c.clientData["type"] = "webauthn.create" }},
	{"get type in a registration", true, false, func(c *softCeremony) { c.clientData["type"] = "webauthn.get" }},
	{"bad signature", false, true, func(c *softCeremony) { c.afterSign = flipLast }},
	{"bad packed self attestation", true, false, func(c *softCeremony) { c.format = "packed"; c.afterSign = flipLast }},
	{"unknown attestation format", true, false, func(c *softCeremony) { c.format = "fido-u2f" }},
	{"another user's handle", false, true, func(c *softCeremony) { c.userHandle = []byte("someone-else") }},
	{"sign count not increasing", false, true, func(c *softCeremony) { c.signCount = 1 }},
}

func TestPasskeyForgedRegistration(t *testing.T) {
	w := newForgeWorld(t)
	for _, f := range forgeries {
		if !f.create {
			continue
		}
		start := w.startUpdate(t, "alice")
		response, err := w.auth["alice"].create(start.Options, forgeOrigin, f.alter)
		if err != nil {
			t.Fatal(err)
		}
		wantRefused(t, f.name, w.finishUpdate(start.TransactionID, response))
		if n := len(w.passkeys("alice")); n != 0 {
			t.Fatalf("%s: alice has %d passkeys", f.name, n)
		}
		// The refused answer spent its transaction.
		wantRefused(t, f.name+", again", w.finishUpdate(start.TransactionID, response))
	}

	// A packed self attestation that verifies is accepted.
	start := w.startUpdate(t, "alice")
	response, err := w.auth["alice"].create(start.Options, forgeOrigin, func(c *softCeremony) { c.format = "packed" })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.finishUpdate(start.TransactionID, response); err != nil {
		t.Fatalf("packed self attestation: %v", err)
	}
	registered := w.passkeys("alice")
	if len(registered) != 1 {
		t.Fatalf("alice has %d passkeys", len(registered))
	}

	// The same credential ID cannot be registered again, to another user.
	start = w.startUpdate(t, "bob")
	id, _ := b64url(registered[0].id)
	response, err = w.auth["bob"].create(start.Options, forgeOrigin, func(c *softCeremony) { c.credID = id })
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "a registered credential ID", w.finishUpdate(start.TransactionID, response))

	// An id that is not rawId.
	start = w.startUpdate(t, "bob")
	response, err = w.auth["bob"].Create(start.Options, forgeOrigin)
	if err != nil {
		t.Fatal(err)
	}
	var cred map[string]any
	_ = json.Unmarshal([]byte(response), &cred)
	cred["id"] = base64.RawURLEncoding.EncodeToString(randomBytes(32))
	tampered, _ := json.Marshal(cred)
	wantRefused(t, "id is not rawId", w.finishUpdate(start.TransactionID, string(tampered)))

	// Garbage in the response.
	for _, garbage := range []string{"{}", "null", `{"type":"public-key","id":"AA","rawId":"AA"}`, "not json", strings.Repeat("[", 10000)} {
		start = w.startUpdate(t, "bob")
		wantRefused(t, "garbage "+garbage[:min(len(garbage), 20)], w.finishUpdate(start.TransactionID, garbage))
	}
	if n := len(w.passkeys("bob")); n != 0 {
		t.Fatalf("bob has %d passkeys", n)
	}
}

func TestPasskeyForgedAssertion(t *testing.T) {
	w := newForgeWorld(t)
	w.register(t, "alice")
	w.register(t, "bob")
	// A first, genuine sign-in: the sign count is now 1.
	tx, options := w.startSignIn(t, "alice")
	genuine, err := w.auth["alice"].Get(options, forgeOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.finishSignIn(tx, genuine); err != nil {
		t.Fatal(err)
	}
	for _, f := range forgeries {
		if !f.get {
			continue
		}
		tx, options := w.startSignIn(t, "alice")
		before := w.passkeys("alice")[0].signCount
		response, err := w.auth["alice"].get(options, forgeOrigin, f.alter)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.finishSignIn(tx, response)
		wantRefused(t, f.name, err)
		if after := w.passkeys("alice")[0].signCount; after != before {
			t.Fatalf("%s: sign count moved from %d to %d", f.name, before, after)
		}
		_, err = w.finishSignIn(tx, response)
		wantRefused(t, f.name+", again", err)
		// The authenticator counted a signature the emulator refused: undo
		// it, so the next case starts from the emulator's count.
		w.auth["alice"].creds[0].signCount = before
	}

	// Replays: the genuine answer again, on its spent transaction and on a
	// new one.
	_, err = w.finishSignIn(tx, genuine)
	wantRefused(t, "replayed transaction", err)
	tx2, _ := w.startSignIn(t, "alice")
	_, err = w.finishSignIn(tx2, genuine)
	wantRefused(t, "replayed answer on a new transaction", err)

	// Bob's passkey answering a sign-in Alice started.
	tx, options = w.startSignIn(t, "alice")
	var o map[string]any
	_ = json.Unmarshal([]byte(options), &o)
	delete(o["publicKey"].(map[string]any), "allowCredentials")
	anyCred, _ := json.Marshal(o)
	response, err := w.auth["bob"].Get(string(anyCred), forgeOrigin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.finishSignIn(tx, response)
	wantRefused(t, "another user's passkey", err)

	// A discoverable sign-in needs the user handle.
	tx, options = w.startSignIn(t, "")
	response, err = w.auth["alice"].get(options, forgeOrigin, func(c *softCeremony) { c.userHandle = nil })
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.finishSignIn(tx, response)
	wantRefused(t, "discoverable sign-in without a user handle", err)

	// An authenticator without a counter (always 0) is accepted, once per
	// transaction.
	tx, options = w.startSignIn(t, "bob")
	response, err = w.auth["bob"].get(options, forgeOrigin, func(c *softCeremony) { c.signCount = 0 })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.finishSignIn(tx, response); err != nil {
		t.Fatalf("sign-in without a counter: %v", err)
	}
	_, err = w.finishSignIn(tx, response)
	wantRefused(t, "replayed transaction of a counterless authenticator", err)

	// A registration transaction cannot finish a sign-in, even with an
	// assertion of its challenge.
	start := w.startUpdate(t, "alice")
	var created struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	_ = json.Unmarshal([]byte(start.Options), &created)
	asserted, err := w.auth["alice"].Get(`{"publicKey":{"challenge":"`+created.PublicKey.Challenge+`","rpId":"app.example.com"}}`, forgeOrigin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.finishSignIn(start.TransactionID, asserted)
	wantRefused(t, "an update transaction at sign-in finish", err)

	// An expired transaction.
	tx, options = w.startSignIn(t, "alice")
	response, err = w.auth["alice"].Get(options, forgeOrigin)
	if err != nil {
		t.Fatal(err)
	}
	w.clk.Add(PasskeyTimeout)
	_, err = w.finishSignIn(tx, response)
	wantRefused(t, "expired transaction", err)
}

// TestPasskeyUpdateOfAnotherUser: an update transaction finishes only for
// the user who started it, while that session lives.
func TestPasskeyUpdateOfAnotherUser(t *testing.T) {
	w := newForgeWorld(t)
	start := w.startUpdate(t, "alice")
	response, err := w.auth["alice"].Create(start.Options, forgeOrigin)
	if err != nil {
		t.Fatal(err)
	}
	// Bob's refresh token on the finish call of Alice's transaction.
	body := `{"transactionId":"` + start.TransactionID + `","response":` + jsonString(response) + `}`
	req, _ := http.NewRequest(http.MethodPost, w.emu.URL+"/v1/auth/webauthn/update/finish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+w.emu.ProjectID+":"+w.dsr["bob"])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("finish with another user's token: %d", res.StatusCode)
	}
	if len(w.passkeys("alice"))+len(w.passkeys("bob")) != 0 {
		t.Fatal("a passkey was registered")
	}

	// Alice logs out between start and finish.
	start = w.startUpdate(t, "alice")
	response, err = w.auth["alice"].Create(start.Options, forgeOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.sdk.Auth.LogoutWithToken(w.dsr["alice"], nil); err != nil {
		t.Fatal(err)
	}
	de := descope.AsError(w.finishUpdate(start.TransactionID, response))
	if de == nil || de.Code != "E064001" || len(w.passkeys("alice")) != 0 {
		t.Fatalf("finish after logout: %v", de)
	}
}

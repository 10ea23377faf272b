package e2e

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Passkeys on the example's page: its "Add a passkey" box, driven with
// Chromium's virtual authenticators (resident keys, user verification),
// one a tab. The page is at the server's URL, http://localhost:<port>:
// browsers refuse passkeys on an IP address.

// byPasskey is the passkey method, for one test: a new name creates a
// passkey in the tab's virtual authenticator; a name that has one signs in
// with it. A keychain keeps every tab's authenticator holding every
// passkey made so far, as a synced passkey is on each device of its owner:
// a fresh browser context signs in with the passkey another made.
func byPasskey() method {
	k := &keychain{tabs: map[context.Context]webauthn.AuthenticatorID{}, creds: map[string][]*webauthn.Credential{}}
	return method{name: "passkey", convert: k.convert, converted: "converted", named: true}
}

func TestBrowserConvertByPasskey(t *testing.T)   { testConvertAndSignIn(t, byPasskey()) }
func TestBrowserReturningByPasskey(t *testing.T) { testReturning(t, byPasskey()) }

// keychain holds the passkeys the tabs' virtual authenticators made, by the
// page's host (a server's), and the authenticator of each tab.
type keychain struct {
	mu    sync.Mutex
	tabs  map[context.Context]webauthn.AuthenticatorID
	creds map[string][]*webauthn.Credential
}

// convert types name into the page's passkey box and presses Add a
// passkey, with the tab's authenticator holding the keychain's passkeys of
// the page's host; once the page shows the outcome, the passkeys the
// authenticator holds then go into the keychain.
func (k *keychain) convert(t *testing.T, tab context.Context, name string) string {
	t.Helper()
	host := get[string](t, tab, chromedp.Evaluate[string](`location.host`))
	if !strings.HasPrefix(host, "localhost:") {
		t.Fatalf("the page is at %s: passkeys need it at localhost", host)
	}
	auth := k.authenticator(t, tab, host)
	run(t, tab,
		chromedp.Evaluate[chromedp.Void](`delete document.body.dataset.outcome`),
		chromedp.SetValue(chromedp.ID("passkey-name"), name),
		chromedp.Click(chromedp.ID("add-passkey")),
	)
	got := outcome(t, tab)
	k.keep(t, tab, host, auth)
	return got
}

// authenticator returns the tab's virtual authenticator, added on its first
// use, after adding to it the keychain's passkeys of host it lacks.
func (k *keychain) authenticator(t *testing.T, tab context.Context, host string) webauthn.AuthenticatorID {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	auth, ok := k.tabs[tab]
	if !ok {
		auth = addAuthenticator(t, tab)
		k.tabs[tab] = auth
	}
	held := map[string]bool{}
	for _, c := range credentials(t, tab, auth) {
		held[string(c.CredentialID)] = true
	}
	for _, c := range k.creds[host] {
		if held[string(c.CredentialID)] {
			continue
		}
		synced := &webauthn.Credential{
			CredentialID: c.CredentialID, IsResidentCredential: true, RpID: c.RpID,
			PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: c.SignCount,
		}
		if _, err := chromedp.Call(tab, webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: auth, Credential: synced}); err != nil {
			t.Fatalf("add a synced passkey: %v", err)
		}
	}
	return auth
}

// keep puts the passkeys the tab's authenticator holds into the keychain,
// for host.
func (k *keychain) keep(t *testing.T, tab context.Context, host string, auth webauthn.AuthenticatorID) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range credentials(t, tab, auth) {
		if !c.IsResidentCredential {
			t.Errorf("the page made a passkey that is not discoverable: %+v", c)
		}
		known := false
		for i, o := range k.creds[host] {
			if bytes.Equal(o.CredentialID, c.CredentialID) {
				k.creds[host][i], known = c, true
			}
		}
		if !known {
			k.creds[host] = append(k.creds[host], c)
		}
	}
}

// credentials returns the passkeys the tab's authenticator holds.
func credentials(t *testing.T, tab context.Context, auth webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	res, err := chromedp.Call(tab, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth})
	if err != nil {
		t.Fatalf("the virtual authenticator's passkeys: %v", err)
	}
	return res.Credentials
}

// The passkey box says what is wrong before any ceremony: a name that
// breaks the library's rule gets its 400 message, and a page at an IP
// address (http://127.0.0.1:<port>, another name of the server) is told to
// open localhost, where browsers allow passkeys. The visitor stays as it was.
func TestBrowserPasskeyName(t *testing.T) {
	needChromium(t)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	base, admin := startServer(t, ctx)
	browser := newProfile(t, ctx)
	m := byPasskey()
	starts := func() int {
		return emulatorRequests(t, admin, "/v1/auth/webauthn/update/start") + emulatorRequests(t, admin, "/v1/auth/webauthn/signin/start")
	}

	tab := newVisitor(t, browser)
	run(t, tab, chromedp.Navigate(base))
	first := readPage(t, tab)
	for _, name := range []string{"ada@example.com", "+15551234567", "ab", "ada lovelace"} {
		if got := m.convert(t, tab, name); got != "error" {
			t.Fatalf("name %q: outcome %q (page says %q), want an error", name, got, message(tab))
		}
		if msg := message(tab); !strings.HasPrefix(msg, "invalid name: use 3 to 64 letters, digits, '.', '_' or '-'") {
			t.Errorf("name %q: the page says %q, want the library's message", name, msg)
		}
	}

	ip := newVisitor(t, browser)
	run(t, ip, chromedp.Navigate(strings.Replace(base, "://localhost:", "://127.0.0.1:", 1)))
	readPage(t, ip)
	run(t, ip,
		chromedp.SetValue(chromedp.ID("passkey-name"), "ada.lovelace"),
		chromedp.Click(chromedp.ID("add-passkey")),
	)
	if got := outcome(t, ip); got != "error" {
		t.Fatalf("a page at an IP address: outcome %q (page says %q), want an error", got, message(ip))
	}
	if msg, want := message(ip), "open this page at "+base+"/ instead"; !strings.Contains(msg, want) {
		t.Errorf("a page at an IP address says %q, want %q", msg, want)
	}
	if n := starts(); n != 0 {
		t.Errorf("%d passkey ceremonies started at Descope, want none", n)
	}
	if p := readPage(t, tab); p.id != first.id || p.kind != "anonymous" {
		t.Errorf("after the refused names: %+v, want anonymous %s", p, first.id)
	}
	t.Logf("%s: %v", t.Name(), time.Since(began).Round(100*time.Millisecond))
}

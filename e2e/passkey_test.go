package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous/descopetest"
)

// passkeyPage is the page of TestPasskeyInBrowser: plain fetch calls to the
// emulator's WebAuthn endpoints (served on the same origin) and
// navigator.credentials, with the options and answers encoded as
// Descope's JS SDKs do (JSON with base64url binary fields).
const passkeyPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>passkeys</title></head><body>
<script>
const projectID = new URLSearchParams(location.search).get("project");

function fromB64url(s) {
	s = s.replace(/-/g, "+").replace(/_/g, "/");
	while (s.length % 4) s += "=";
	return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buf) {
	let s = "";
	for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
	return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function call(path, body, refresh) {
	const bearer = refresh ? projectID + ":" + refresh : projectID;
	const res = await fetch(path, {
		method: "POST",
		headers: { "Content-Type": "application/json", Authorization: "Bearer " + bearer },
		body: JSON.stringify(body),
	});
	const json = await res.json();
	if (!res.ok) throw new Error(path + ": " + res.status + " " + JSON.stringify(json));
	return json;
}

async function register(loginId, refresh) {
	const start = await call("/v1/auth/webauthn/update/start", { loginId, origin: location.origin }, refresh);
	const options = JSON.parse(start.options);
	const pk = options.publicKey;
	pk.challenge = fromB64url(pk.challenge);
	pk.user.id = fromB64url(pk.user.id);
	for (const c of pk.excludeCredentials || []) c.id = fromB64url(c.id);
	const cred = await navigator.credentials.create(options);
	const attestationObject = toB64url(cred.response.attestationObject);
	const response = JSON.stringify({
		id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
		response: { attestationObject, clientDataJSON: toB64url(cred.response.clientDataJSON) },
	});
	const finish = await call("/v1/auth/webauthn/update/finish", { transactionId: start.transactionId, response });
	return JSON.stringify({ finish, attestationObject });
}

async function signIn(loginId) {
	const start = await call("/v1/auth/webauthn/signin/start", { loginId, origin: location.origin });
	const options = JSON.parse(start.options);
	const pk = options.publicKey;
	pk.challenge = fromB64url(pk.challenge);
	for (const c of pk.allowCredentials || []) c.id = fromB64url(c.id);
	const cred = await navigator.credentials.get(options);
	const r = cred.response;
	const response = JSON.stringify({
		id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
		response: {
			authenticatorData: toB64url(r.authenticatorData), clientDataJSON: toB64url(r.clientDataJSON),
			signature: toB64url(r.signature), userHandle: r.userHandle ? toB64url(r.userHandle) : undefined,
		},
	});
	return JSON.stringify(await call("/v1/auth/webauthn/signin/finish", { transactionId: start.transactionId, response }));
}
</script>
</body></html>`

// TestPasskeyInBrowser registers a passkey for a signed-in user through the
// emulator's WebAuthn update endpoints in Chromium with a virtual
// authenticator, signs in with it, then signs in from a fresh browser
// profile holding only that passkey (as a synced passkey would be), with no
// login ID.
func TestPasskeyInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; CI must install it (apt-get install chromium): %v", chromium, err)
		}
		t.Skipf("%s is missing: install it (apt-get install chromium) to run the browser test", chromium)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)

	// The page and the emulator share one loopback server. The browser
	// reaches it as localhost: browsers refuse IP addresses as WebAuthn
	// relying party IDs, and allow http only on localhost.
	emu := descopetest.NewHandler()
	t.Cleanup(emu.Close)
	mux := http.NewServeMux()
	mux.Handle("/", emu.Handler())
	mux.HandleFunc("GET /passkeys", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(passkeyPage))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	emu.URL = srv.URL
	sdk, err := emu.Client()
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	page := "http://localhost:" + u.Port() + "/passkeys?project=" + url.QueryEscape(emu.ProjectID)

	const loginID = "visitor-1"
	info, err := sdk.Management.JWT().SignUpOrIn(ctx, loginID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	userID := info.SessionToken.ID

	tab := newProfile(t, ctx)
	run(t, tab, chromedp.Navigate(page))
	authenticator := addAuthenticator(t, tab)

	var registered struct {
		Finish            map[string]any `json:"finish"`
		AttestationObject string         `json:"attestationObject"`
	}
	evalInto(t, tab, `register(`+jsString(loginID)+`, `+jsString(info.RefreshToken.JWT)+`)`, &registered)
	if len(registered.Finish) != 0 {
		t.Errorf("update finish without mfa answered %v, want {}", registered.Finish)
	}
	att, _ := base64.RawURLEncoding.DecodeString(registered.AttestationObject)
	t.Logf("Chromium's attestation format: none=%v packed=%v",
		bytes.Contains(att, []byte("\x63fmt\x64none")), bytes.Contains(att, []byte("\x63fmt\x66packed")))
	if user, _ := emu.User(loginID); !user.WebAuthn {
		t.Fatal("the user has no passkey after the update")
	}

	checkSignIn(t, sdk, ctx, tab, loginID, userID)

	// A fresh profile with the same passkey and no cookies or login ID.
	creds, err := chromedp.Call(tab, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authenticator})
	if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential {
		t.Fatalf("the virtual authenticator holds %+v, %v; want one discoverable credential", creds.Credentials, err)
	}
	fresh := newProfile(t, ctx)
	run(t, fresh, chromedp.Navigate(page))
	other := addAuthenticator(t, fresh)
	c := creds.Credentials[0]
	synced := &webauthn.Credential{
		CredentialID: c.CredentialID, IsResidentCredential: true, RpID: c.RpID,
		PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: c.SignCount,
	}
	if _, err := chromedp.Call(fresh, webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: other, Credential: synced}); err != nil {
		t.Fatal(err)
	}
	checkSignIn(t, sdk, ctx, fresh, "", userID)
}

// addAuthenticator enables the WebAuthn domain on the tab and adds a
// virtual CTAP2 authenticator with resident keys and user verification.
func addAuthenticator(t *testing.T, tab context.Context) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(tab, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Call(tab, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
			// This cdproto always sends the credential field
			// generateCmtgKeyOnNextOperation, which AddCredential refuses
			// on an authenticator without the cmtgKey extension.
			HasCmtgKey: true,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.AuthenticatorID
}

// checkSignIn signs in on the tab with the passkey (loginID "" lets the
// browser pick it) and checks, with the go-sdk client, that the session
// token is the user's.
func checkSignIn(t *testing.T, sdk *client.DescopeClient, ctx context.Context, tab context.Context, loginID, userID string) {
	t.Helper()
	var jwt struct {
		SessionJwt string `json:"sessionJwt"`
		RefreshJwt string `json:"refreshJwt"`
	}
	evalInto(t, tab, `signIn(`+jsString(loginID)+`)`, &jwt)
	ok, token, err := sdk.Auth.ValidateSessionWithToken(ctx, jwt.SessionJwt)
	if !ok || err != nil || token.ID != userID || jwt.RefreshJwt == "" {
		t.Fatalf("sign-in with login ID %q: valid=%v err=%v token=%+v", loginID, ok, err, token)
	}
	if amr, _ := token.Claims["amr"].([]any); len(amr) != 1 || amr[0] != "webauthn" {
		t.Fatalf("amr = %v", token.Claims["amr"])
	}
}

// evalInto awaits the JavaScript promise expr, which resolves to JSON, and
// decodes it into v.
func evalInto(t *testing.T, tab context.Context, expr string, v any) {
	t.Helper()
	out := get[string](t, tab, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err := json.NewDecoder(strings.NewReader(out)).Decode(v); err != nil {
		t.Fatalf("%s answered %q: %v", expr, out, err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

package anonymous_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// passkeySite is the shop's origin in these tests: the relying party of
// its passkeys, the Origin its pages send.
const passkeySite = "https://shop.example.com"

// passkeyEnv is an Env of strategy s whose middleware converts by passkey
// from passkeySite; opts come last.
func passkeyEnv(t *testing.T, s anonymous.Strategy, opts ...anonymous.Option) *anontest.Env {
	t.Helper()
	return anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s}, nil,
		append([]anonymous.Option{anonymous.WithPasskeyOrigins(passkeySite)}, opts...)...)
}

// onPage is the edit of a request that a page of origin sends to its own
// site, as a browser marks it.
func onPage(origin string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Origin", origin)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
}

// startPasskey has the visitor b start a passkey conversion for name from
// the shop's page, and returns the answer and, on 200, the challenge.
func startPasskey(t *testing.T, env *anontest.Env, b *http.Client, name string) (anontest.Me, anonymous.PasskeyChallenge) {
	t.Helper()
	st := env.Do(t, b, http.MethodPost, "/convert/passkey/start", map[string]string{"name": name}, onPage(passkeySite))
	var ch anonymous.PasskeyChallenge
	if st.Status == http.StatusOK {
		if err := json.Unmarshal([]byte(st.Body), &ch); err != nil || ch.TransactionID == "" || ch.Options == "" {
			t.Fatalf("passkey start answer %q: %v", st.Body, err)
		}
	}
	return st, ch
}

// mustStartPasskey is startPasskey that fails the test unless it is 200.
func mustStartPasskey(t *testing.T, env *anontest.Env, b *http.Client, name string) anonymous.PasskeyChallenge {
	t.Helper()
	st, ch := startPasskey(t, env, b, name)
	if st.Status != http.StatusOK {
		t.Fatalf("passkey start for %q: %d %s", name, st.Status, st.Body)
	}
	return ch
}

// browserAnswer is the browser's answer to ch with auth: a new passkey
// when ch says create, else a sign-in with one.
func browserAnswer(t *testing.T, auth *descopetest.Authenticator, ch anonymous.PasskeyChallenge) string {
	t.Helper()
	answer := auth.Get
	if ch.Create {
		answer = auth.Create
	}
	response, err := answer(ch.Options, passkeySite)
	if err != nil {
		t.Fatalf("authenticator (create %v): %v", ch.Create, err)
	}
	return response
}

// finishPasskey posts the transaction and the browser's response from the
// shop's page with b's cookies, and returns the answer and its outcome.
func finishPasskey(t *testing.T, env *anontest.Env, b *http.Client, transactionID, response string) (anontest.Me, string) {
	t.Helper()
	me := env.Do(t, b, http.MethodPost, "/convert/passkey/finish",
		map[string]string{"transactionId": transactionID, "response": response}, onPage(passkeySite))
	var v struct {
		Outcome string `json:"outcome"`
	}
	if me.Status == http.StatusOK {
		_ = json.Unmarshal([]byte(me.Body), &v)
	}
	return me, v.Outcome
}

// passkeyConvert runs a whole passkey conversion of b for name with auth.
func passkeyConvert(t *testing.T, env *anontest.Env, b *http.Client, auth *descopetest.Authenticator, name string) (anontest.Me, anonymous.PasskeyChallenge, string) {
	t.Helper()
	ch := mustStartPasskey(t, env, b, name)
	me, outcome := finishPasskey(t, env, b, ch.TransactionID, browserAnswer(t, auth, ch))
	return me, ch, outcome
}

// passkeyAccount creates, the way someone signing up elsewhere does, a
// regular user whose login ID is name and who holds a passkey of auth for
// the shop.
func passkeyAccount(t *testing.T, env *anontest.Env, auth *descopetest.Authenticator, name string) descope.UserResponse {
	t.Helper()
	ctx := context.Background()
	wa := env.SDK.Auth.WebAuthn()
	st, err := wa.SignUpStart(ctx, name, nil, passkeySite, nil)
	if err != nil {
		t.Fatal(err)
	}
	response, err := auth.Create(st.Options, passkeySite)
	if err != nil {
		t.Fatal(err)
	}
	info, err := wa.SignUpFinish(ctx, &descope.WebAuthnFinishRequest{TransactionID: st.TransactionID, Response: response}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := env.Emu.User(info.User.UserID)
	return u
}

// webauthnCalls lists the WebAuthn calls the emulator received.
func webauthnCalls(env *anontest.Env) []string {
	var out []string
	for _, r := range env.Emu.RequestLog() {
		if strings.Contains(r.Path, "/webauthn/") {
			out = append(out, r.Path)
		}
	}
	return out
}

// profileOf is what a conversion must never change of an account.
func profileOf(u descope.UserResponse) string {
	b, _ := json.Marshal(map[string]any{"id": u.UserID, "loginIds": u.LoginIDs, "tenants": u.UserTenants, "email": u.Email,
		"phone": u.Phone, "name": u.Name, "status": u.Status, "webauthn": u.WebAuthn, "verifiedEmail": u.VerifiedEmail,
		"roles": u.RoleNames, "custom": u.CustomAttributes})
	return string(b)
}

// A passkey converts the visitor, whatever the strategy: user-backed keeps
// its user ID, leaves the anonymous tenant and has the name (folded to
// lower case) in place of its generated login ID; native and local get a
// new user, and OnConvert from the anonymous ID. The anonymous refresh
// token is dead. A fresh visitor then signs in with the same name and the
// same authenticator: no new passkey, outcome signed_in, the same user.
func TestPasskeyConversionEachStrategy(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := passkeyEnv(t, s)
			auth := descopetest.NewAuthenticator()
			b, first := env.Visitor(t)
			oldDSR := env.Cookie(b, "DSR")
			me, ch, outcome := passkeyConvert(t, env, b, auth, "Ada.Lovelace")
			if !ch.Create {
				t.Fatal("a new name's start does not say create")
			}
			if me.Status != http.StatusOK || me.Anonymous || !slices.Equal(me.LoginIDs, []string{"ada.lovelace"}) {
				t.Fatalf("finish: %d %+v", me.Status, me)
			}
			u, ok := env.Emu.User(me.UserID)
			if !ok || !u.WebAuthn || !slices.Equal(u.LoginIDs, []string{"ada.lovelace"}) || len(u.UserTenants) != 0 {
				t.Fatalf("the converted user: %+v", u)
			}
			if s == anonymous.UserBacked {
				if me.UserID != first.UserID || outcome != anonymous.OutcomeConverted {
					t.Errorf("user-backed: user %s (was %s), outcome %q", me.UserID, first.UserID, outcome)
				}
			} else if me.UserID == first.UserID || outcome != anonymous.OutcomeCreated {
				t.Errorf("%s: user %s (anonymous %s), outcome %q", s, me.UserID, first.UserID, outcome)
			}
			if got := env.Converted(); !slices.Equal(got, [][2]string{{first.UserID, me.UserID}}) {
				t.Errorf("OnConvert calls %v", got)
			}
			if oldDSR != "" {
				if _, _, err := env.Emu.MustClient(t).Auth.RefreshSessionWithToken(context.Background(), oldDSR); err == nil {
					t.Error("anonymous refresh token still works after conversion")
				}
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != me.UserID || after.Anonymous {
				t.Errorf("after conversion: %+v", after)
			}

			// Another browser profile, the same authenticator (a synced
			// passkey): it signs in to the converted user.
			b2, second := env.Visitor(t)
			again, ch2, outcome2 := passkeyConvert(t, env, b2, auth, "ada.lovelace")
			if ch2.Create {
				t.Error("the start for a name with a passkey says create")
			}
			if again.Status != http.StatusOK || again.UserID != me.UserID || again.Anonymous || outcome2 != anonymous.OutcomeSignedIn {
				t.Fatalf("sign-in again: %d %+v outcome %q", again.Status, again, outcome2)
			}
			if auth.Passkeys() != 1 {
				t.Errorf("authenticator holds %d passkeys", auth.Passkeys())
			}
			if got := env.Converted(); len(got) != 2 || got[1] != [2]string{second.UserID, me.UserID} {
				t.Errorf("OnConvert calls %v", got)
			}
			if after := env.Get(t, b2, "/whoami"); after.UserID != me.UserID || after.Anonymous {
				t.Errorf("second browser after sign-in: %+v", after)
			}
		})
	}
}

// A name an existing account holds (with a passkey): the visitor signs in
// to it by default, the account unchanged; WithReturningCustomers(false)
// refuses at the start (user-backed: before any ceremony); WithMerge runs
// the merge hook before the anonymous user is deleted.
func TestPasskeyConversionReturningCustomer(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String()+"/signed-in", func(t *testing.T) {
			env := passkeyEnv(t, s)
			auth := descopetest.NewAuthenticator()
			owner := passkeyAccount(t, env, auth, "grace.hopper")
			before := profileOf(owner)
			b, first := env.Visitor(t)
			me, ch, outcome := passkeyConvert(t, env, b, auth, "grace.hopper")
			if ch.Create || me.Status != http.StatusOK || me.UserID != owner.UserID || me.Anonymous || outcome != anonymous.OutcomeSignedIn {
				t.Fatalf("returning customer: create %v, %d %+v outcome %q", ch.Create, me.Status, me, outcome)
			}
			if after, _ := env.Emu.User(owner.UserID); profileOf(after) != before {
				t.Errorf("the account changed:\n%s\n%s", before, profileOf(after))
			}
			if got := env.Converted(); len(got) != 1 || got[0] != [2]string{first.UserID, owner.UserID} {
				t.Errorf("OnConvert calls %v", got)
			}
			if s == anonymous.UserBacked {
				if u, ok := env.Emu.User(first.UserID); !ok || u.WebAuthn {
					t.Errorf("the anonymous user: %+v %v", u, ok)
				}
			}
		})
		t.Run(s.String()+"/refused", func(t *testing.T) {
			env := passkeyEnv(t, s, anonymous.WithReturningCustomers(false))
			auth := descopetest.NewAuthenticator()
			owner := passkeyAccount(t, env, auth, "grace.hopper")
			before := profileOf(owner)
			b, first := env.Visitor(t)
			env.Emu.ResetRequests()
			st, _ := startPasskey(t, env, b, "grace.hopper")
			if st.Status != http.StatusConflict || !strings.Contains(st.Body, "belongs to another user") {
				t.Fatalf("start: %d %s", st.Status, st.Body)
			}
			if calls := webauthnCalls(env); s == anonymous.UserBacked && len(calls) != 0 {
				t.Errorf("a ceremony was started: %v", calls)
			}
			if after, _ := env.Emu.User(owner.UserID); profileOf(after) != before {
				t.Errorf("the account changed")
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || !after.Anonymous {
				t.Errorf("visitor after refusal: %+v", after)
			}
			if len(env.Converted()) != 0 {
				t.Errorf("OnConvert called: %v", env.Converted())
			}
		})
		t.Run(s.String()+"/merged", func(t *testing.T) {
			var mu sync.Mutex
			var merged [2]string
			var anonAtHook bool
			var env *anontest.Env
			env = passkeyEnv(t, s, anonymous.WithMerge(func(_ context.Context, anon, existing *anonymous.User) error {
				mu.Lock()
				defer mu.Unlock()
				merged = [2]string{anon.ID, existing.ID}
				_, anonAtHook = env.Emu.User(anon.ID)
				return nil
			}))
			auth := descopetest.NewAuthenticator()
			owner := passkeyAccount(t, env, auth, "grace.hopper")
			before := profileOf(owner)
			b, first := env.Visitor(t)
			me, _, _ := passkeyConvert(t, env, b, auth, "grace.hopper")
			if me.Status != http.StatusOK || me.UserID != owner.UserID || me.Anonymous {
				t.Fatalf("merge: %d %+v", me.Status, me)
			}
			mu.Lock()
			defer mu.Unlock()
			if merged != [2]string{first.UserID, owner.UserID} {
				t.Errorf("merge hook: %v", merged)
			}
			if s == anonymous.UserBacked {
				if !anonAtHook {
					t.Error("anonymous user deleted before the merge hook")
				}
				if _, ok := env.Emu.User(first.UserID); ok {
					t.Error("anonymous user left after the merge")
				}
			}
			if after, _ := env.Emu.User(owner.UserID); profileOf(after) != before {
				t.Errorf("the account changed")
			}
		})
	}
}

// Login CSRF: a transaction the attacker started and answered with their
// own passkey, posted in the victim's session, is refused (with nothing
// pending, and with a passkey start of the victim's own pending) and never
// sent to Descope: no passkey is added to anyone, the victim stays
// anonymous. The attacker's own finish still works.
func TestPasskeyConversionBoundToVisitor(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := passkeyEnv(t, s)
			attacker, a := env.Visitor(t)
			victim, v := env.Visitor(t)
			mallory := descopetest.NewAuthenticator()
			ach := mustStartPasskey(t, env, attacker, "mallory")
			aresp := browserAnswer(t, mallory, ach)
			env.Emu.ResetRequests()
			if me, _ := finishPasskey(t, env, victim, ach.TransactionID, aresp); me.Status != http.StatusConflict || !strings.Contains(me.Body, "no pending conversion") {
				t.Errorf("attacker's transaction, nothing pending: %d %s", me.Status, me.Body)
			}
			mustStartPasskey(t, env, victim, "victim.name")
			if me, _ := finishPasskey(t, env, victim, ach.TransactionID, aresp); me.Status != http.StatusConflict {
				t.Errorf("attacker's transaction, victim pending: %d %s", me.Status, me.Body)
			}
			for _, p := range webauthnCalls(env) {
				if strings.HasSuffix(p, "/finish") {
					t.Errorf("Descope was asked %s", p)
				}
			}
			if _, ok := env.Emu.User("mallory"); ok {
				t.Error("the attacker's passkey account was created from the victim's browser")
			}
			for _, id := range []string{a.UserID, v.UserID} {
				if u, ok := env.Emu.User(id); ok && u.WebAuthn {
					t.Errorf("user %s gained a passkey", id)
				}
			}
			if after := env.Get(t, victim, "/whoami"); after.UserID != v.UserID || !after.Anonymous {
				t.Errorf("victim after attack: %+v", after)
			}
			if len(env.Converted()) != 0 {
				t.Errorf("OnConvert called: %v", env.Converted())
			}
			if me, _ := finishPasskey(t, env, attacker, ach.TransactionID, aresp); me.Status != http.StatusOK {
				t.Errorf("attacker's own finish: %d %s", me.Status, me.Body)
			}
		})
	}
}

// A finished transaction does not finish again, and a double submit of
// the finish converts once: one 200, one OnConvert.
func TestPasskeyConversionReplayAndDoubleSubmit(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := passkeyEnv(t, s)
			auth := descopetest.NewAuthenticator()
			b, _ := env.Visitor(t)
			ch := mustStartPasskey(t, env, b, "ada.lovelace")
			response := browserAnswer(t, auth, ch)
			statuses := make([]int, 6)
			var wg sync.WaitGroup
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					me, _ := finishPasskey(t, env, b, ch.TransactionID, response)
					statuses[i] = me.Status
				}()
			}
			wg.Wait()
			if n := successes(t, statuses, s != anonymous.UserBacked); n != 1 || len(env.Converted()) != 1 {
				t.Fatalf("statuses %v, OnConvert calls %v", statuses, env.Converted())
			}
			users := env.Emu.UserCount()
			env.Emu.ResetRequests()
			if me, _ := finishPasskey(t, env, b, ch.TransactionID, response); me.Status == http.StatusOK {
				t.Errorf("replayed finish: %+v", me)
			}
			if len(webauthnCalls(env)) != 0 || env.Emu.UserCount() != users || len(env.Converted()) != 1 {
				t.Errorf("the replay reached Descope (%v) or changed something", webauthnCalls(env))
			}
		})
	}
}

// A credential another authenticator made for another challenge is
// refused by Descope (invalid_passkey); nothing is registered, the
// transaction is spent, the visitor stays anonymous.
func TestPasskeyConversionForeignCredential(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := passkeyEnv(t, s)
			b, first := env.Visitor(t)
			other, _ := env.Visitor(t)
			ch := mustStartPasskey(t, env, b, "ada.lovelace")
			foreign := browserAnswer(t, descopetest.NewAuthenticator(), mustStartPasskey(t, env, other, "bob.builder"))
			me, _ := finishPasskey(t, env, b, ch.TransactionID, foreign)
			if me.Status != http.StatusBadRequest || !strings.Contains(me.Body, "passkey refused") {
				t.Fatalf("foreign credential: %d %s", me.Status, me.Body)
			}
			// Spent: the right answer now finds nothing pending.
			if me, _ := finishPasskey(t, env, b, ch.TransactionID, browserAnswer(t, descopetest.NewAuthenticator(), ch)); me.Status != http.StatusConflict {
				t.Errorf("after a refused credential: %d %s", me.Status, me.Body)
			}
			for _, name := range []string{"ada.lovelace", "bob.builder"} {
				if _, ok := env.Emu.User(name); ok {
					t.Errorf("user %q exists", name)
				}
			}
			if u, ok := env.Emu.User(first.UserID); ok && u.WebAuthn {
				t.Error("the visitor gained a passkey")
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || !after.Anonymous {
				t.Errorf("visitor after refusal: %+v", after)
			}
		})
	}
}

// The start takes only a page of WithPasskeyOrigins, checked before any
// call; the options refuse what no Origin header would match.
func TestPasskeyConversionOrigins(t *testing.T) {
	env := passkeyEnv(t, anonymous.UserBacked)
	b, _ := env.Visitor(t)
	calls := env.Calls()
	for name, edit := range map[string]func(*http.Request){
		"another origin": onPage("https://evil.example.net"),
		"http":           onPage("http://shop.example.com"),
		"no origin":      func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") },
		"two origins": func(r *http.Request) {
			onPage(passkeySite)(r)
			r.Header.Add("Origin", "https://evil.example.net")
		},
	} {
		st := env.Do(t, b, http.MethodPost, "/convert/passkey/start", map[string]string{"name": "ada.lovelace"}, edit)
		if st.Status != http.StatusBadRequest || !strings.Contains(st.Body, "passkey origin not allowed") {
			t.Errorf("%s: %d %s", name, st.Status, st.Body)
		}
	}
	if env.Calls() != calls {
		t.Errorf("Descope was asked for a refused origin: %v", env.Emu.RequestLog())
	}
	none := anontest.NewEnv(t, netHTTP, nil)
	nb, _ := none.Visitor(t)
	calls = none.Calls()
	if st := none.Do(t, nb, http.MethodPost, "/convert/passkey/start", map[string]string{"name": "ada.lovelace"}, onPage(passkeySite)); st.Status != http.StatusBadRequest || none.Calls() != calls {
		t.Errorf("without WithPasskeyOrigins: %d %s", st.Status, st.Body)
	}
	for _, bad := range []string{"", "shop.example.com", "https://shop.example.com/", "https://shop.example.com/path", "https://Shop.example.com",
		"https://shop.example.com:443", "ftp://shop.example.com", "https://u@shop.example.com", "https://shop.example.com?x", "https://shop.example.com:"} {
		if _, err := anonymous.New(env.SDK, anonymous.WithPasskeyOrigins(bad)); err == nil {
			t.Errorf("WithPasskeyOrigins(%q) accepted", bad)
		}
	}
	if _, err := anonymous.New(env.SDK, anonymous.WithPasskeyOrigins()); err == nil {
		t.Error("WithPasskeyOrigins() accepted")
	}
	if _, err := anonymous.New(env.SDK, anonymous.WithPasskeyOrigins("http://localhost:8080", passkeySite)); err != nil {
		t.Errorf("good origins refused: %v", err)
	}
	// The handlers admit only the site's own JSON posts.
	calls = env.Calls()
	for _, path := range []string{"/convert/passkey/start", "/convert/passkey/finish"} {
		cross := env.Do(t, b, http.MethodPost, path, map[string]string{"name": "ada.lovelace"}, fromPage("https://evil.example.net", "cross-site", "application/json"))
		if cross.Status != http.StatusForbidden {
			t.Errorf("%s cross-origin: %d %s", path, cross.Status, cross.Body)
		}
		if get := env.Get(t, b, path); get.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s GET: %d", path, get.Status)
		}
	}
	if env.Calls() != calls {
		t.Errorf("refused requests reached Descope")
	}
}

// A name is a name: email-like, phone-like, generated-like, too short or
// long, or not ASCII gets invalid_name before Descope is asked anything.
func TestPasskeyConversionNames(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := passkeyEnv(t, s)
			b, first := env.Visitor(t)
			calls := env.Calls()
			for _, name := range []string{
				"ada@example.com", "ada@", "+15551234567", "15551234567", "555-123-4567", "(555) 123", "1.555.123.4567",
				anonymous.NewLoginID(), strings.ToUpper(anonymous.NewLoginID()), "ab", strings.Repeat("a", 65),
				"adá", "аda", "ada lovelace", "ada/x", "ada\x00x", "   ",
			} {
				st, _ := startPasskey(t, env, b, name)
				if st.Status != http.StatusBadRequest || !strings.Contains(st.Body, "invalid name") {
					t.Errorf("%q: %d %s", name, st.Status, st.Body)
				}
			}
			if env.Calls() != calls {
				t.Errorf("Descope was asked for a refused name: %v", env.Emu.RequestLog())
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || !after.Anonymous {
				t.Errorf("visitor: %+v", after)
			}
			// The longest and shortest names are fine.
			for _, name := range []string{strings.Repeat("a", 64), "a-b", "x_1.y"} {
				if st, _ := startPasskey(t, env, b, name); st.Status != http.StatusOK {
					t.Errorf("%q: %d %s", name, st.Status, st.Body)
				}
			}
		})
	}
}

// Starts beyond the visitor's limit get too_many_codes with no call.
func TestPasskeyConversionStartLimit(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := passkeyEnv(t, s)
			b, _ := env.Visitor(t)
			for range 5 {
				mustStartPasskey(t, env, b, "ada.lovelace")
			}
			calls := env.Calls()
			st, _ := startPasskey(t, env, b, "ada.lovelace")
			if st.Status != http.StatusTooManyRequests || !strings.Contains(st.Body, "too many codes") {
				t.Errorf("sixth start: %d %s", st.Status, st.Body)
			}
			if env.Calls() != calls {
				t.Errorf("the refused start reached Descope")
			}
		})
	}
}

// User-backed: a name taken by someone else between the start and the
// finish gets 409, and nothing is registered on the visitor.
func TestPasskeyConversionNameTakenMeanwhile(t *testing.T) {
	env := passkeyEnv(t, anonymous.UserBacked)
	b, first := env.Visitor(t)
	before, _ := env.Emu.User(first.UserID)
	ch := mustStartPasskey(t, env, b, "ada.lovelace")
	if _, err := env.SDK.Management.User().Create(context.Background(), "ada.lovelace", &descope.UserRequest{}); err != nil {
		t.Fatal(err)
	}
	me, _ := finishPasskey(t, env, b, ch.TransactionID, browserAnswer(t, descopetest.NewAuthenticator(), ch))
	if me.Status != http.StatusConflict || !strings.Contains(me.Body, "belongs to another user") {
		t.Fatalf("finish: %d %s", me.Status, me.Body)
	}
	if after, _ := env.Emu.User(first.UserID); after.WebAuthn || !slices.Equal(after.LoginIDs, before.LoginIDs) {
		t.Errorf("the visitor's user changed: %+v", after)
	}
	if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || !after.Anonymous {
		t.Errorf("visitor: %+v", after)
	}
}

// User-backed: a conversion that registered the passkey and failed
// half-way (the rename, or leaving the tenant) is finished by starting
// again: the visitor signs in with the passkey it has (create false), and
// keeps its user ID.
func TestPasskeyConversionResume(t *testing.T) {
	for _, path := range []string{"/v1/mgmt/user/update/loginid", "/v1/mgmt/user/update/tenant/remove"} {
		t.Run(path, func(t *testing.T) {
			env := passkeyEnv(t, anonymous.UserBacked)
			auth := descopetest.NewAuthenticator()
			b, first := env.Visitor(t)
			env.Emu.InjectFault(path, descopetest.Fault{Status: http.StatusInternalServerError, Times: 1})
			me, _, _ := passkeyConvert(t, env, b, auth, "ada.lovelace")
			if me.Status < 500 {
				t.Fatalf("finish with a fault: %d %s", me.Status, me.Body)
			}
			if u, _ := env.Emu.User(first.UserID); !u.WebAuthn {
				t.Fatal("no passkey registered before the fault")
			}
			me, ch, outcome := passkeyConvert(t, env, b, auth, "ada.lovelace")
			if ch.Create || me.Status != http.StatusOK || me.UserID != first.UserID || me.Anonymous || outcome != anonymous.OutcomeConverted {
				t.Fatalf("resume: create %v, %d %+v %q", ch.Create, me.Status, me, outcome)
			}
			if u, _ := env.Emu.User(first.UserID); !slices.Equal(u.LoginIDs, []string{"ada.lovelace"}) || len(u.UserTenants) != 0 || auth.Passkeys() != 1 {
				t.Errorf("after resume: %+v, %d passkeys", u, auth.Passkeys())
			}
		})
	}
}

// The functions answer the sentinels.
func TestPasskeyConversionErrors(t *testing.T) {
	env := passkeyEnv(t, anonymous.NativeTokens)
	var got []error
	h := env.MW.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := env.MW.StartPasskeyConversion(r, "ada@example.com")
		got = append(got, err)
		_, err = env.MW.StartPasskeyConversion(r, "ada.lovelace")
		got = append(got, err)
		_, err = env.MW.FinishPasskeyConversion(w, r, "", "{}")
		got = append(got, err)
	}))
	anontest.Serve(h, http.MethodGet, "/", "", "127.0.0.1:1", nil)
	want := []error{anonymous.ErrInvalidName, anonymous.ErrPasskeyOrigin, anonymous.ErrInvalidPasskey}
	for i, err := range got {
		if !errors.Is(err, want[i]) || anonymous.ErrorStatus(err) != http.StatusBadRequest {
			t.Errorf("call %d: %v, want %v", i, err, want[i])
		}
	}
}

// A passkey of a user still in the anonymous tenant (a conversion that
// failed half-way, after the rename) signs no other visitor in to it: the
// answer is refused and its tokens revoked.
func TestPasskeyConversionHalfConvertedSignsInNobody(t *testing.T) {
	env := passkeyEnv(t, anonymous.UserBacked)
	auth := descopetest.NewAuthenticator()
	a, first := env.Visitor(t)
	env.Emu.InjectFault("/v1/mgmt/user/update/tenant/remove", descopetest.Fault{Status: http.StatusInternalServerError, Times: 1})
	if me, _, _ := passkeyConvert(t, env, a, auth, "ada.lovelace"); me.Status < 500 {
		t.Fatalf("finish with a fault: %d %s", me.Status, me.Body)
	}
	b, second := env.Visitor(t)
	me, ch, _ := passkeyConvert(t, env, b, auth, "ada.lovelace")
	if ch.Create || me.Status != http.StatusConflict {
		t.Fatalf("sign-in to a half-converted user: create %v, %d %s", ch.Create, me.Status, me.Body)
	}
	if after := env.Get(t, b, "/whoami"); after.UserID != second.UserID || !after.Anonymous {
		t.Errorf("second visitor: %+v", after)
	}
	if n := env.Emu.LiveRefreshTokens(first.UserID); n != 1 {
		t.Errorf("%d live refresh tokens of the half-converted user, want the visitor's own", n)
	}
}

// The Descope calls of a passkey start and finish, per strategy, as
// docs/conversion.md counts them: a new name, then a returning visitor.
func TestPasskeyConversionCalls(t *testing.T) {
	paths := func(env *anontest.Env) []string {
		var out []string
		for _, r := range env.Emu.RequestLog() {
			if !strings.HasPrefix(r.Path, "/v2/keys/") {
				out = append(out, r.Path)
			}
		}
		return out
	}
	const (
		load, loginID, untenant, signIn, logout = "/v1/mgmt/user", "/v1/mgmt/user/update/loginid", "/v1/mgmt/user/update/tenant/remove", "/v1/mgmt/auth/signin", "/v1/auth/logout"
		wa                                      = "/v1/auth/webauthn/"
	)
	want := map[anonymous.Strategy][4][]string{
		anonymous.UserBacked: {
			{load, load, wa + "update/start"},
			{load, wa + "update/finish", loginID, untenant, signIn, logout},
			{load, wa + "signin/start"},
			{wa + "signin/finish", logout},
		},
		anonymous.NativeTokens: {
			{wa + "signup-in/start"}, {wa + "signup/finish", logout},
			{wa + "signup-in/start"}, {wa + "signin/finish", logout},
		},
		anonymous.LocalIDs: {
			{wa + "signup-in/start"}, {wa + "signup/finish"},
			{wa + "signup-in/start"}, {wa + "signin/finish"},
		},
	}
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := passkeyEnv(t, s)
			auth := descopetest.NewAuthenticator()
			for i, visitor := range []string{"new", "returning"} {
				b, _ := env.Visitor(t)
				env.Emu.ResetRequests()
				ch := mustStartPasskey(t, env, b, "ada.lovelace")
				if got := paths(env); !slices.Equal(got, want[s][2*i]) {
					t.Errorf("%s start: %v, want %v", visitor, got, want[s][2*i])
				}
				response := browserAnswer(t, auth, ch)
				env.Emu.ResetRequests()
				if me, _ := finishPasskey(t, env, b, ch.TransactionID, response); me.Status != http.StatusOK {
					t.Fatalf("%s finish: %d %s", visitor, me.Status, me.Body)
				}
				if got := paths(env); !slices.Equal(got, want[s][2*i+1]) {
					t.Errorf("%s finish: %v, want %v", visitor, got, want[s][2*i+1])
				}
			}
		})
	}
}

// A name an account holds without a passkey can be proved by nobody:
// 409, and the account is untouched (user-backed: before any ceremony).
func TestPasskeyConversionNameWithoutPasskey(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := passkeyEnv(t, s)
			owner, err := env.SDK.Management.User().Create(context.Background(), "grace.hopper", &descope.UserRequest{})
			if err != nil {
				t.Fatal(err)
			}
			before, _ := env.Emu.User(owner.UserID)
			b, first := env.Visitor(t)
			env.Emu.ResetRequests()
			st, _ := startPasskey(t, env, b, "grace.hopper")
			if st.Status != http.StatusConflict || !strings.Contains(st.Body, "belongs to another user") {
				t.Fatalf("start: %d %s", st.Status, st.Body)
			}
			if calls := webauthnCalls(env); s == anonymous.UserBacked && len(calls) != 0 {
				t.Errorf("a ceremony was started: %v", calls)
			}
			if after, _ := env.Emu.User(owner.UserID); profileOf(after) != profileOf(before) {
				t.Error("the account changed")
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || !after.Anonymous {
				t.Errorf("visitor: %+v", after)
			}
		})
	}
}

// WithKeepLoginID: the generated login ID is renamed all the same (no
// call adds a login ID), and the answer names only the login IDs the user
// has.
func TestPasskeyConversionKeepLoginID(t *testing.T) {
	env := passkeyEnv(t, anonymous.UserBacked, anonymous.WithKeepLoginID())
	b, first := env.Visitor(t)
	me, _, _ := passkeyConvert(t, env, b, descopetest.NewAuthenticator(), "ada.lovelace")
	u, _ := env.Emu.User(first.UserID)
	if me.Status != http.StatusOK || !slices.Equal(me.LoginIDs, []string{"ada.lovelace"}) || !slices.Equal(u.LoginIDs, me.LoginIDs) {
		t.Fatalf("finish: %d %+v; the user's login IDs %v", me.Status, me, u.LoginIDs)
	}
}

package anonymous_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// allMethodsEnv is an Env of strategy s with every conversion method on.
func allMethodsEnv(t *testing.T, s anonymous.Strategy) *anontest.Env {
	t.Helper()
	return anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s}, nil,
		anonymous.WithLinkURLs(landing), anonymous.WithOAuthRedirectURLs(oauthCallback), anonymous.WithPasskeyOrigins(passkeySite))
}

// started is a conversion a visitor started by one method, with the answer
// the visitor's browser got for it.
type started struct {
	method string
	answer map[string]string // the fields of the method's finish body
}

// finishes are the finish routes of the methods, and how each shapes an
// answer of another method into its own body: the tokens stay the same
// strings, only the field names change, as a page that posts another
// method's answer (or an attacker's crafted body) would.
var finishes = map[string]struct {
	path  string
	shape func(token string) map[string]string
}{
	"otp":     {"/convert/verify", func(tok string) map[string]string { return map[string]string{"email": "ada@example.com", "code": tok} }},
	"link":    {"/convert/link/verify", func(tok string) map[string]string { return map[string]string{"token": tok} }},
	"oauth":   {"/convert/oauth/finish", func(tok string) map[string]string { return map[string]string{"code": tok, "state": tok} }},
	"passkey": {"/convert/passkey/finish", func(tok string) map[string]string { return map[string]string{"transactionId": tok, "response": "{}"} }},
}

// startBy starts a conversion of b by method, and returns what the
// visitor's browser holds to finish it, and its one token.
func startBy(t *testing.T, env *anontest.Env, b *http.Client, method string, auth *descopetest.Authenticator) (started, string) {
	t.Helper()
	switch method {
	case "otp":
		code := env.SendCode(t, b, "ada@example.com")
		return started{method, map[string]string{"email": "ada@example.com", "code": code}}, code
	case "link":
		tok := startLink(t, env, b, "ada@example.com")
		return started{method, map[string]string{"token": tok}}, tok
	case "oauth":
		q := providerAnswer(t, startOAuth(t, env, b), "ada@example.com", "allow")
		return started{method, map[string]string{"code": q.Get("code"), "state": q.Get("state")}}, q.Get("state")
	case "passkey":
		ch := mustStartPasskey(t, env, b, "ada.lovelace")
		return started{method, map[string]string{"transactionId": ch.TransactionID, "response": browserAnswer(t, auth, ch)}}, ch.TransactionID
	}
	t.Fatalf("no method %q", method)
	return started{}, ""
}

// One pipeline for every method: a conversion started by one method is
// finished by that method only. Every other method's finish, given the
// started method's own token in its fields, answers 409
// no_pending_conversion, asks Descope nothing, changes nothing, and leaves
// the pending conversion for its own method, which then converts.
func TestPipelineFinishesOnlyByItsOwnMethod(t *testing.T) {
	for _, s := range anontest.Strategies {
		for method := range finishes {
			t.Run(s.String()+"/"+method, func(t *testing.T) {
				env := allMethodsEnv(t, s)
				b, first := env.Visitor(t)
				st, tok := startBy(t, env, b, method, descopetest.NewAuthenticator())
				calls := env.Emu.TotalRequests()
				for other, f := range finishes {
					if other == method {
						continue
					}
					me := env.Do(t, b, http.MethodPost, f.path, f.shape(tok), onPage(passkeySite))
					if me.Status != http.StatusConflict || errorReason(t, me) != "no_pending_conversion" {
						t.Errorf("%s finish of a %s start: %d %s", other, method, me.Status, me.Body)
					}
				}
				if n := env.Emu.TotalRequests() - calls; n != 0 {
					t.Errorf("the other methods' finishes asked Descope %d things: %v", n, env.Emu.RequestLog()[calls:])
				}
				if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || !after.Anonymous {
					t.Fatalf("visitor after the other finishes: %+v", after)
				}
				me := env.Do(t, b, http.MethodPost, finishes[method].path, st.answer, onPage(passkeySite))
				if me.Status != http.StatusOK || me.Anonymous {
					t.Errorf("its own %s finish: %d %s", method, me.Status, me.Body)
				}
			})
		}
	}
}

// A rolling deploy: a replica of a newer version records a conversion by a
// method this version does not know. No finish of this version takes it
// (409, nothing asked of Descope, the visitor unchanged); a new start here
// replaces it.
func TestPipelineIgnoresUnknownMethod(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := allMethodsEnv(t, s)
			b, first := env.Visitor(t)
			const tok = "tok-123"
			raw := `{"a":"ada@example.com","m":"future","st":"` + tok + `","tx":"` + tok + `"}`
			if err := anonymous.SetPendingJSON(env.MW, first.UserID, raw); err != nil {
				t.Fatal(err)
			}
			calls := env.Emu.TotalRequests()
			for method, f := range finishes {
				me := env.Do(t, b, http.MethodPost, f.path, f.shape(tok), onPage(passkeySite))
				if me.Status != http.StatusConflict || errorReason(t, me) != "no_pending_conversion" {
					t.Errorf("%s finish of a future method's record: %d %s", method, me.Status, me.Body)
				}
			}
			if n := env.Emu.TotalRequests() - calls; n != 0 {
				t.Errorf("finishes of a future method's record asked Descope %d things: %v", n, env.Emu.RequestLog()[calls:])
			}
			code := env.SendCode(t, b, "ada@example.com")
			if me := env.Post(t, b, "/convert/verify", map[string]string{"email": "ada@example.com", "code": code}); me.Status != http.StatusOK || me.Anonymous {
				t.Errorf("a code started here after it: %d %s", me.Status, me.Body)
			}
		})
	}
}

// errorReason is the reason of an error answer.
func errorReason(t *testing.T, me anontest.Me) string {
	t.Helper()
	errorAnswer(t, me)
	var body struct{ Reason string }
	_ = json.Unmarshal([]byte(me.Body), &body)
	return body.Reason
}

// A start expires: ten minutes after it (on the store's clock) its social
// login state, passkey transaction or magic link finishes nothing (409
// no_pending_conversion, nothing asked of Descope), whatever the provider
// or Descope would still accept.
func TestPipelineStartsExpire(t *testing.T) {
	for _, method := range []string{"link", "oauth", "passkey"} {
		for _, s := range anontest.Strategies {
			t.Run(method+"/"+s.String(), func(t *testing.T) {
				clock := &anontest.Clock{}
				env := anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s}, nil,
					anonymous.WithStore(anonymous.NewMemStore(clock.Now)),
					anonymous.WithLinkURLs(landing), anonymous.WithOAuthRedirectURLs(oauthCallback), anonymous.WithPasskeyOrigins(passkeySite))
				b, first := env.Visitor(t)
				st, _ := startBy(t, env, b, method, descopetest.NewAuthenticator())
				clock.Advance(10*time.Minute + time.Second)
				calls := env.Emu.TotalRequests()
				me := env.Do(t, b, http.MethodPost, finishes[method].path, st.answer, onPage(passkeySite))
				if me.Status != http.StatusConflict || errorReason(t, me) != "no_pending_conversion" {
					t.Errorf("a finish 10 minutes after its start: %d %s", me.Status, me.Body)
				}
				if method != "link" {
					// A link's finish looks up who owns the address first;
					// the bound methods check the record before anything.
					if n := env.Emu.TotalRequests() - calls; n != 0 {
						t.Errorf("an expired start asked Descope %d things: %v", n, env.Emu.RequestLog()[calls:])
					}
				}
				if w := env.Get(t, b, "/whoami"); w.UserID != first.UserID || !w.Anonymous {
					t.Errorf("visitor after the expired finish: %+v", w)
				}
			})
		}
	}
}

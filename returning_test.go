package anonymous_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// outcomeOf reads the "outcome" of a verify answer.
func outcomeOf(t *testing.T, me anontest.Me) string {
	t.Helper()
	var v struct {
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal([]byte(me.Body), &v); err != nil {
		t.Fatalf("verify answer %q: %v", me.Body, err)
	}
	return v.Outcome
}

// answerShape is what a visitor can see of a conversion answer, the address
// itself aside: status, the JSON keys, the masked value with its letters
// replaced by the shape they have, the error text, and which cookies are set.
func answerShape(t *testing.T, me anontest.Me) string {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal([]byte(me.Body), &body); err != nil {
		t.Fatalf("answer %q: %v", me.Body, err)
	}
	keys := slices.Sorted(maps.Keys(body))
	masked := ""
	if s, ok := body["maskedEmail"].(string); ok {
		masked = regexp.MustCompile(`[a-z0-9]`).ReplaceAllString(s, "x")
	}
	var cookies []string
	for _, c := range me.SetCookie {
		cookies = append(cookies, c.Name)
	}
	sort.Strings(cookies)
	b, _ := json.Marshal(map[string]any{"status": me.Status, "keys": keys, "masked": masked, "error": body["error"], "cookies": cookies})
	return string(b)
}

// A returning customer types its registered email in the conversion box:
// the start answers exactly as for an unregistered address (status, JSON
// keys, masked shape, cookies), so it does not reveal registration; a wrong
// code answers the same too; the right code signs the visitor in to its
// existing account, the hook moves the anonymous data, the account keeps its
// login IDs and tenants, and the anonymous user is deleted only with
// WithMerge.
func TestReturningCustomerSignsInFromTheConversionBox(t *testing.T) {
	for _, tc := range []struct {
		name  string
		merge bool
	}{{"with WithMerge", true}, {"with only OnConvert", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			data := map[string][]string{}
			move := func(from, to string) {
				mu.Lock()
				defer mu.Unlock()
				data[to] = append(data[to], data[from]...)
				delete(data, from)
			}
			var merges, converts int
			opts := []anonymous.Option{anonymous.WithOnConvert(func(_ context.Context, from string, u *anonymous.User) error {
				converts++
				if from != u.ID {
					move(from, u.ID)
				}
				return nil
			})}
			if tc.merge {
				opts = append(opts, anonymous.WithMerge(func(_ context.Context, anon, existing *anonymous.User) error {
					merges++
					move(anon.ID, existing.ID)
					return nil
				}))
			}
			env := anontest.NewEnv(t, netHTTP, nil, opts...)
			owner := env.Registered(t, "ada@example.com")
			before := anontest.StateOf(env.Emu, owner.UserID)
			mu.Lock()
			data[owner.UserID] = []string{"old order"}
			mu.Unlock()

			// An unregistered address and the registered one, each from a
			// fresh visitor.
			nb, _ := env.Visitor(t)
			fresh := env.Post(t, nb, "/convert/start", map[string]string{"email": "bob@example.com"})
			b, anon := env.Visitor(t)
			mu.Lock()
			data[anon.UserID] = []string{"cart"}
			mu.Unlock()
			returning := env.Post(t, b, "/convert/start", map[string]string{"email": "ada@example.com"})
			if fresh.Status != http.StatusOK {
				t.Fatalf("start with a new address: %+v", fresh)
			}
			if f, r := answerShape(t, fresh), answerShape(t, returning); f != r {
				t.Errorf("start answers tell a registered address apart:\n new:        %s\n registered: %s", f, r)
			}
			code, ok := env.Emu.Outbox("ada@example.com")
			if !ok {
				t.Fatal("no sign-in code sent to the registered address")
			}
			freshCode, _ := env.Emu.Outbox("bob@example.com")

			// A wrong code: the same answer for both.
			wf := env.Post(t, nb, "/convert/verify", map[string]string{"email": "bob@example.com", "code": wrongCode(freshCode)})
			wr := env.Post(t, b, "/convert/verify", map[string]string{"email": "ada@example.com", "code": wrongCode(code)})
			if f, r := answerShape(t, wf), answerShape(t, wr); f != r || wf.Status != http.StatusBadRequest {
				t.Errorf("wrong-code answers tell a registered address apart:\n new:        %s\n registered: %s", f, r)
			}

			me := env.Post(t, b, "/convert/verify", map[string]string{"email": "ada@example.com", "code": code})
			if me.Status != http.StatusOK || me.UserID != owner.UserID || me.Anonymous || outcomeOf(t, me) != anonymous.OutcomeSignedIn {
				t.Fatalf("verify of a returning customer: %+v", me)
			}
			if !anontest.HasCookie(me.SetCookie, "DS") || !anontest.HasCookie(me.SetCookie, "DSR") {
				t.Errorf("no session cookies for the existing account: %v", me.SetCookie)
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != owner.UserID || after.Anonymous {
				t.Errorf("visitor after signing in: %+v", after)
			}
			mu.Lock()
			got, left := slices.Clone(data[owner.UserID]), data[anon.UserID]
			mu.Unlock()
			if !slices.Equal(got, []string{"old order", "cart"}) || left != nil {
				t.Errorf("data after signing in: %v (anonymous: %v)", got, left)
			}
			if tc.merge && (merges != 1 || converts != 0) || !tc.merge && (merges != 0 || converts != 1) {
				t.Errorf("hooks: merge %d, convert %d", merges, converts)
			}
			if after := anontest.StateOf(env.Emu, owner.UserID); !slices.Equal(after.LoginIDs, before.LoginIDs) || !slices.Equal(after.Tenants, before.Tenants) {
				t.Errorf("existing account changed: %+v -> %+v", before, after)
			}
			if s := anontest.StateOf(env.Emu, anon.UserID); s.Exists == tc.merge {
				t.Errorf("anonymous user after signing in (merge %v): %+v", tc.merge, s)
			}

			// The unregistered address converts, and says so.
			if c := env.Post(t, nb, "/convert/verify", map[string]string{"email": "bob@example.com", "code": freshCode}); c.Status != http.StatusOK || outcomeOf(t, c) != anonymous.OutcomeConverted {
				t.Errorf("verify of a new address: %+v", c)
			}
		})
	}
}

// WithReturningCustomers(false) restores the refusal at start: a 409, no
// code, which tells that the address is registered.
func TestReturningCustomersOptOut(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithReturningCustomers(false))
	env.Registered(t, "ada@example.com")
	b, _ := env.Visitor(t)
	if st := env.Post(t, b, "/convert/start", map[string]string{"email": "ada@example.com"}); st.Status != http.StatusConflict {
		t.Fatalf("start with opt-out: %+v, want 409", st)
	}
	if _, sent := env.Emu.Outbox("ada@example.com"); sent {
		t.Error("a code was sent with the opt-out")
	}
}

// Native and local visitors sign up or in by code: a registered address
// signs them in to its account ("signed_in"), a new one creates a user
// ("created"), and the answers at start and for a wrong code match.
func TestReturningCustomerNativeAndLocal(t *testing.T) {
	for _, s := range []anonymous.Strategy{anonymous.NativeTokens, anonymous.LocalIDs} {
		t.Run(s.String(), func(t *testing.T) {
			app := &appData{data: map[string][]string{}}
			env := anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s}, nil, anonymous.WithOnConvert(app.move))
			owner := env.Registered(t, "ada@example.com")
			before := anontest.StateOf(env.Emu, owner.UserID)
			app.data[owner.UserID] = []string{"old order"}
			nb, _ := env.Visitor(t)
			fresh := env.Post(t, nb, "/convert/start", map[string]string{"email": "bob@example.com"})
			b, anon := env.Visitor(t)
			app.data[anon.UserID] = []string{"cart"}
			returning := env.Post(t, b, "/convert/start", map[string]string{"email": "ada@example.com"})
			if f, r := answerShape(t, fresh), answerShape(t, returning); f != r || fresh.Status != http.StatusOK {
				t.Errorf("start answers differ:\n new:        %s\n registered: %s", f, r)
			}
			code, _ := env.Emu.Outbox("ada@example.com")
			freshCode, _ := env.Emu.Outbox("bob@example.com")
			wf := env.Post(t, nb, "/convert/verify", map[string]string{"email": "bob@example.com", "code": wrongCode(freshCode)})
			wr := env.Post(t, b, "/convert/verify", map[string]string{"email": "ada@example.com", "code": wrongCode(code)})
			if f, r := answerShape(t, wf), answerShape(t, wr); f != r || wf.Status != http.StatusBadRequest {
				t.Errorf("wrong-code answers differ:\n new:        %s\n registered: %s", f, r)
			}
			me := env.Post(t, b, "/convert/verify", map[string]string{"email": "ada@example.com", "code": code})
			if me.Status != http.StatusOK || me.UserID != owner.UserID || outcomeOf(t, me) != anonymous.OutcomeSignedIn {
				t.Fatalf("verify of a returning customer: %+v", me)
			}
			if got := app.get(owner.UserID); !slices.Equal(got, []string{"old order", "cart"}) || app.get(anon.UserID) != nil {
				t.Errorf("data after signing in: %v", app.data)
			}
			if after := anontest.StateOf(env.Emu, owner.UserID); !slices.Equal(after.LoginIDs, before.LoginIDs) || !slices.Equal(after.Tenants, before.Tenants) {
				t.Errorf("existing account changed: %+v -> %+v", before, after)
			}
			c := env.Post(t, nb, "/convert/verify", map[string]string{"email": "bob@example.com", "code": freshCode})
			if c.Status != http.StatusOK || c.UserID == owner.UserID || outcomeOf(t, c) != anonymous.OutcomeCreated {
				t.Errorf("verify of a new address: %+v", c)
			}
		})
	}
}

// A native or local visitor's returning customer ends as every method's
// does, whatever proved it (a code, a social login): with WithMerge the
// merge hook moves the data (not OnConvert) and no user is deleted (a
// native or local identity has none); with WithReturningCustomers(false)
// the proof answers 409, the account's new tokens are revoked, and the
// visitor stays anonymous. The account is unchanged either way.
func TestReturningCustomerNativeAndLocalEveryMethodAlike(t *testing.T) {
	type proof struct {
		name  string
		prove func(t *testing.T, env *anontest.Env, b *http.Client) anontest.Me
	}
	proofs := []proof{
		{"code", func(t *testing.T, env *anontest.Env, b *http.Client) anontest.Me {
			code := env.SendCode(t, b, "ada@example.com")
			return env.Post(t, b, "/convert/verify", map[string]string{"email": "ada@example.com", "code": code})
		}},
		{"oauth", func(t *testing.T, env *anontest.Env, b *http.Client) anontest.Me {
			return finishOAuth(t, env, b, providerAnswer(t, startOAuth(t, env, b), "ada@example.com", "allow"))
		}},
	}
	for _, s := range []anonymous.Strategy{anonymous.NativeTokens, anonymous.LocalIDs} {
		for _, p := range proofs {
			t.Run(s.String()+"/"+p.name+"/merge", func(t *testing.T) {
				var mu sync.Mutex
				var merged [][2]string
				env := anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s}, nil,
					anonymous.WithOAuthRedirectURLs(oauthCallback),
					anonymous.WithMerge(func(_ context.Context, anon, existing *anonymous.User) error {
						mu.Lock()
						defer mu.Unlock()
						merged = append(merged, [2]string{anon.ID, existing.ID})
						return nil
					}))
				owner := env.Registered(t, "ada@example.com")
				before := anontest.StateOf(env.Emu, owner.UserID)
				b, anon := env.Visitor(t)
				env.Emu.ResetRequests()
				me := p.prove(t, env, b)
				if me.Status != http.StatusOK || me.UserID != owner.UserID || me.Anonymous {
					t.Fatalf("returning customer with WithMerge: %d %s", me.Status, me.Body)
				}
				mu.Lock()
				got := slices.Clone(merged)
				mu.Unlock()
				if !slices.Equal(got, [][2]string{{anon.UserID, owner.UserID}}) || len(env.Converted()) != 0 {
					t.Errorf("merge hook calls %v, OnConvert calls %v; want one merge from %s", got, env.Converted(), anon.UserID)
				}
				if n := env.Emu.Requests("/v1/mgmt/user/delete"); n != 0 {
					t.Errorf("%d user deletes for a %s identity, which has no user", n, s)
				}
				if after := anontest.StateOf(env.Emu, owner.UserID); !slices.Equal(after.LoginIDs, before.LoginIDs) || !slices.Equal(after.Tenants, before.Tenants) {
					t.Errorf("existing account changed: %+v -> %+v", before, after)
				}
				if w := env.Get(t, b, "/whoami"); w.UserID != owner.UserID || w.Anonymous {
					t.Errorf("visitor after the merge: %+v", w)
				}
			})
			t.Run(s.String()+"/"+p.name+"/refused", func(t *testing.T) {
				env := anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s}, nil,
					anonymous.WithOAuthRedirectURLs(oauthCallback), anonymous.WithReturningCustomers(false))
				owner := env.Registered(t, "ada@example.com")
				before := anontest.StateOf(env.Emu, owner.UserID)
				live := env.Emu.LiveRefreshTokens(owner.UserID)
				b, anon := env.Visitor(t)
				me := p.prove(t, env, b)
				if me.Status != http.StatusConflict || errorReason(t, me) != "identifier_in_use" {
					t.Fatalf("returning customer with WithReturningCustomers(false): %d %s", me.Status, me.Body)
				}
				if n := env.Emu.LiveRefreshTokens(owner.UserID); n != live {
					t.Errorf("the account has %d live refresh tokens, had %d: the refused sign-in's were not revoked", n, live)
				}
				if after := anontest.StateOf(env.Emu, owner.UserID); !slices.Equal(after.LoginIDs, before.LoginIDs) {
					t.Errorf("existing account changed: %+v -> %+v", before, after)
				}
				if w := env.Get(t, b, "/whoami"); w.UserID != anon.UserID || !w.Anonymous || len(env.Converted()) != 0 {
					t.Errorf("visitor after the refusal: %+v, OnConvert %v", w, env.Converted())
				}
			})
		}
	}
}

package anonymous_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// oauthCallback is the callback page of social login in these tests.
const oauthCallback = "https://shop.example.com/convert/oauth/callback"

// oauthEnv is an Env of strategy s whose middleware returns social logins
// to oauthCallback; opts come last.
func oauthEnv(t *testing.T, s anonymous.Strategy, opts ...anonymous.Option) *anontest.Env {
	t.Helper()
	return anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s}, nil,
		append([]anonymous.Option{anonymous.WithOAuthRedirectURLs(oauthCallback)}, opts...)...)
}

// startOAuth has the visitor b start a social login with google, and
// returns the URL of the provider page.
func startOAuth(t *testing.T, env *anontest.Env, b *http.Client) string {
	t.Helper()
	st := env.Post(t, b, "/convert/oauth/start", map[string]string{"provider": "google"})
	if st.Status != http.StatusOK {
		t.Fatalf("oauth start: %d %s", st.Status, st.Body)
	}
	var v struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(st.Body), &v); err != nil || v.URL == "" {
		t.Fatalf("oauth start answer %q: %v", st.Body, err)
	}
	return v.URL
}

// providerAnswer submits the provider page at pageURL as a browser does
// when the visitor picks the account with email (action "allow") or denies
// ("deny"), and returns the query of the redirect to the callback page.
func providerAnswer(t *testing.T, pageURL, email, action string) url.Values {
	t.Helper()
	res, err := http.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("provider page: %d %s", res.StatusCode, body)
	}
	page, _ := url.Parse(pageURL)
	form := url.Values{"state": {page.Query().Get("state")}, "action": {action}, "email": {email}, "name": {"Ada"}, "verified": {"on"}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noFollow.PostForm(page.ResolveReference(&url.URL{Path: "authorize"}).String(), form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), oauthCallback+"?") {
		t.Fatalf("provider redirect: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query()
}

// finishOAuth is the callback page's POST of the code and state, with b's
// cookies.
func finishOAuth(t *testing.T, env *anontest.Env, b *http.Client, q url.Values) anontest.Me {
	t.Helper()
	return env.Post(t, b, "/convert/oauth/finish", map[string]string{"code": q.Get("code"), "state": q.Get("state")})
}

// A new provider account converts the visitor, whatever the strategy: the
// OnConvert hook moves the data once, from the anonymous ID to the new
// user; the visitor holds that user's cookies; the anonymous refresh token
// is dead; a replay of the code converts nothing.
func TestOAuthConversionEachStrategy(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := oauthEnv(t, s)
			b, first := env.Visitor(t)
			oldDSR := env.Cookie(b, "DSR")
			q := providerAnswer(t, startOAuth(t, env, b), "ada@example.com", "allow")
			if q.Get("state") == "" || q.Get("code") == "" {
				t.Fatalf("callback query %v", q)
			}
			me := finishOAuth(t, env, b, q)
			if me.Status != http.StatusOK || me.Anonymous || me.UserID == first.UserID || !slices.Contains(me.LoginIDs, "ada@example.com") {
				t.Fatalf("finish: %+v", me)
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
			if again := finishOAuth(t, env, b, q); again.Status == http.StatusOK {
				t.Errorf("replayed code: %+v", again)
			}
			if got := env.Converted(); len(got) != 1 {
				t.Errorf("OnConvert calls after replay %v", got)
			}
		})
	}
}

// A provider account whose email is an existing user's login ID: refused
// (409) by default, its new tokens revoked and the user intact; merged
// with WithMerge, the anonymous user deleted only after the hook.
func TestOAuthConversionExistingAccount(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String()+"/signed-in", func(t *testing.T) {
			env := oauthEnv(t, s)
			owner := env.Registered(t, "owner@example.com")
			b, first := env.Visitor(t)
			me := finishOAuth(t, env, b, providerAnswer(t, startOAuth(t, env, b), "owner@example.com", "allow"))
			if me.Status != http.StatusOK || me.UserID != owner.UserID || me.Anonymous {
				t.Fatalf("a returning customer's social login: %d %+v", me.Status, me)
			}
			if got, ok := env.Emu.User(owner.UserID); !ok || !slices.Equal(got.LoginIDs, []string{"owner@example.com"}) || len(got.UserTenants) != 0 {
				t.Errorf("owner changed: %+v", got)
			}
			if got := env.Converted(); len(got) != 1 || got[0] != [2]string{first.UserID, owner.UserID} {
				t.Errorf("OnConvert calls %v, want one from %s to %s", got, first.UserID, owner.UserID)
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != owner.UserID || after.Anonymous {
				t.Errorf("visitor after sign-in: %+v", after)
			}
		})
		t.Run(s.String()+"/refused", func(t *testing.T) {
			env := oauthEnv(t, s, anonymous.WithReturningCustomers(false))
			owner := env.Registered(t, "owner@example.com")
			b, first := env.Visitor(t)
			me := finishOAuth(t, env, b, providerAnswer(t, startOAuth(t, env, b), "owner@example.com", "allow"))
			if me.Status != http.StatusConflict || !strings.Contains(me.Body, "belongs to another user") {
				t.Fatalf("finish: %d %s", me.Status, me.Body)
			}
			if got, ok := env.Emu.User(owner.UserID); !ok || !slices.Equal(got.LoginIDs, []string{"owner@example.com"}) || got.Status == "disabled" {
				t.Errorf("owner changed: %+v", got)
			}
			if len(env.Converted()) != 0 {
				t.Errorf("OnConvert called: %v", env.Converted())
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || !after.Anonymous {
				t.Errorf("visitor after refusal: %+v", after)
			}
			for _, c := range me.SetCookie {
				if c.Name == "DS" || c.Name == "DSR" {
					if c.Value != "" {
						t.Errorf("cookie %s written on refusal", c.Name)
					}
				}
			}
		})
		t.Run(s.String()+"/merged", func(t *testing.T) {
			var mu sync.Mutex
			var merged [2]string
			var anonAtHook bool
			var env *anontest.Env
			env = oauthEnv(t, s, anonymous.WithMerge(func(_ context.Context, anon, existing *anonymous.User) error {
				mu.Lock()
				defer mu.Unlock()
				merged = [2]string{anon.ID, existing.ID}
				_, anonAtHook = env.Emu.User(anon.ID)
				return nil
			}))
			owner := env.Registered(t, "owner@example.com")
			b, first := env.Visitor(t)
			me := finishOAuth(t, env, b, providerAnswer(t, startOAuth(t, env, b), "owner@example.com", "allow"))
			if me.Status != http.StatusOK || me.UserID != owner.UserID || me.Anonymous {
				t.Fatalf("merge: %+v", me)
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
			if got, ok := env.Emu.User(owner.UserID); !ok || !slices.Equal(got.LoginIDs, []string{"owner@example.com"}) || len(got.UserTenants) != 0 {
				t.Errorf("owner changed: %+v", got)
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != owner.UserID {
				t.Errorf("after merge: %+v", after)
			}
		})
	}
}

// Login CSRF: the code of a social login another visitor (the attacker)
// started, posted from the victim's browser, is refused and never
// exchanged; the attacker's own code still works for the attacker.
func TestOAuthConversionBoundToVisitor(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := oauthEnv(t, s)
			attacker, _ := env.Visitor(t)
			victim, v := env.Visitor(t)
			aq := providerAnswer(t, startOAuth(t, env, attacker), "mallory@example.com", "allow")
			// The victim with no social login pending, then with one.
			if me := finishOAuth(t, env, victim, aq); me.Status != http.StatusConflict {
				t.Errorf("attacker's code, nothing pending: %d %s", me.Status, me.Body)
			}
			startOAuth(t, env, victim)
			if me := finishOAuth(t, env, victim, aq); me.Status != http.StatusConflict {
				t.Errorf("attacker's code, victim pending: %d %s", me.Status, me.Body)
			}
			if _, err := env.SDK.Management.User().Load(context.Background(), "mallory@example.com"); err == nil {
				t.Error("the attacker's code was exchanged from the victim's browser")
			}
			if after := env.Get(t, victim, "/whoami"); after.UserID != v.UserID || !after.Anonymous {
				t.Errorf("victim after attack: %+v", after)
			}
			if len(env.Converted()) != 0 {
				t.Errorf("OnConvert called: %v", env.Converted())
			}
			// A state of the right form but not the victim's: refused too.
			forged := url.Values{"code": {aq.Get("code")}, "state": {strings.Repeat("A", 22)}}
			if me := finishOAuth(t, env, victim, forged); me.Status != http.StatusConflict {
				t.Errorf("forged state: %d %s", me.Status, me.Body)
			}
			if me := finishOAuth(t, env, attacker, aq); me.Status != http.StatusOK {
				t.Errorf("attacker's own finish: %d %s", me.Status, me.Body)
			}
		})
	}
}

// The deny button brings err instead of code: the callback page posts
// nothing, and a post without a code is a clear 400; the visitor can start
// again.
func TestOAuthConversionDenied(t *testing.T) {
	env := oauthEnv(t, anonymous.UserBacked)
	b, first := env.Visitor(t)
	q := providerAnswer(t, startOAuth(t, env, b), "ada@example.com", "deny")
	if q.Get("code") != "" || q.Get("err") == "" || q.Get("state") == "" {
		t.Fatalf("deny redirect %v", q)
	}
	if me := finishOAuth(t, env, b, q); me.Status != http.StatusBadRequest || !strings.Contains(me.Body, "code") {
		t.Errorf("finish without code: %d %s", me.Status, me.Body)
	}
	// A code Descope does not know: invalid_oauth.
	q.Set("code", "nosuchcode")
	if me := finishOAuth(t, env, b, q); me.Status != http.StatusBadRequest || !strings.Contains(me.Body, "invalid, expired or used OAuth code") {
		t.Errorf("unknown code: %d %s", me.Status, me.Body)
	}
	if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || !after.Anonymous {
		t.Errorf("after deny: %+v", after)
	}
	me := finishOAuth(t, env, b, providerAnswer(t, startOAuth(t, env, b), "ada@example.com", "allow"))
	if me.Status != http.StatusOK {
		t.Errorf("start again after deny: %d %s", me.Status, me.Body)
	}
}

// A double submit of the callback page converts once: one 200.
func TestOAuthConversionDoubleSubmit(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := oauthEnv(t, s)
			b, _ := env.Visitor(t)
			q := providerAnswer(t, startOAuth(t, env, b), "ada@example.com", "allow")
			var wg sync.WaitGroup
			statuses := make([]int, 4)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i] = finishOAuth(t, env, b, q).Status
				}()
			}
			wg.Wait()
			ok := 0
			for _, st := range statuses {
				if st == http.StatusOK {
					ok++
				} else if st < 400 || st >= 500 {
					t.Errorf("status %d", st)
				}
			}
			if ok != 1 || len(env.Converted()) != 1 {
				t.Errorf("statuses %v, OnConvert calls %v", statuses, env.Converted())
			}
		})
	}
}

// The callback page must be on the allow-list, checked before any call;
// the handlers admit only same-origin JSON posts.
func TestOAuthConversionAllowListAndPosts(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil)
	b, _ := env.Visitor(t)
	calls := env.Calls()
	if st := env.Post(t, b, "/convert/oauth/start", map[string]string{"provider": "google"}); st.Status != http.StatusBadRequest || !strings.Contains(st.Body, "not allowed") {
		t.Errorf("without WithOAuthRedirectURLs: %d %s", st.Status, st.Body)
	}
	if env.Calls() != calls {
		t.Error("Descope was asked without an allowed redirect URL")
	}
	for _, bad := range []string{"", "/relative", "https://x.example.com/cb?next=evil", "https://x.example.com/cb?", "javascript:alert(1)", "https://u:p@x.example.com/", "https://x.example.com/cb#f"} {
		if _, err := anonymous.New(env.SDK, anonymous.WithOAuthRedirectURLs(bad)); err == nil {
			t.Errorf("WithOAuthRedirectURLs(%q) accepted", bad)
		}
	}
	env2 := oauthEnv(t, anonymous.UserBacked)
	var got []error
	h := env2.MW.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, u := range []string{"https://evil.example.net/phish", oauthCallback + "/", oauthCallback + "?x=1"} {
			_, err := env2.MW.StartOAuthConversion(r, "google", u)
			got = append(got, err)
		}
		_, err := env2.MW.StartOAuthConversion(r, "goo gle/../x", "")
		got = append(got, err)
	}))
	anontest.Serve(h, http.MethodGet, "/", "", "127.0.0.1:1", nil)
	for i, err := range got {
		if !errors.Is(err, anonymous.ErrOAuthURL) {
			t.Errorf("start %d off the list: %v", i, err)
		}
	}
	for _, r := range env2.Emu.RequestLog() {
		if strings.Contains(r.Path, "/oauth/") {
			t.Errorf("Descope was asked %s for a refused start", r.Path)
		}
	}
	b2, _ := env2.Visitor(t)
	for _, path := range []string{"/convert/oauth/start", "/convert/oauth/finish"} {
		cross := env2.Do(t, b2, http.MethodPost, path, map[string]string{"provider": "google"}, func(r *http.Request) {
			r.Header.Set("Origin", "https://evil.example.net")
		})
		if cross.Status != http.StatusForbidden {
			t.Errorf("%s cross-origin: %d %s", path, cross.Status, cross.Body)
		}
		form := env2.Do(t, b2, http.MethodPost, path, map[string]string{"provider": "google"}, func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		})
		if form.Status != http.StatusUnsupportedMediaType {
			t.Errorf("%s non-JSON: %d %s", path, form.Status, form.Body)
		}
		if get := env2.Get(t, b2, path+"?code=x&state=y"); get.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s GET: %d %s", path, get.Status, get.Body)
		}
	}
}

// With the provider's merge_user_accounts off, Descope refuses a social
// login whose email is an existing user's login ID: the provider page
// comes back with err, no code, and nothing changes, in every strategy;
// the account stays as it was, the visitor keeps its anonymous identity,
// and a provider account of a new address still converts.
func TestOAuthConversionProviderWithoutMerge(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s},
				[]descopetest.Option{descopetest.WithOAuthProvider("google", false)},
				anonymous.WithOAuthRedirectURLs(oauthCallback))
			owner := env.Registered(t, "owner@example.com")
			b, first := env.Visitor(t)
			q := providerAnswer(t, startOAuth(t, env, b), "owner@example.com", "allow")
			if q.Get("err") == "" || q.Get("code") != "" {
				t.Fatalf("the provider page answered %v, want err and no code", q)
			}
			// The callback page shows err and posts nothing; a post without
			// a code is refused before anything is asked.
			if me := finishOAuth(t, env, b, q); me.Status != http.StatusBadRequest {
				t.Errorf("finish without a code: %d %s", me.Status, me.Body)
			}
			if got, ok := env.Emu.User(owner.UserID); !ok || !slices.Equal(got.LoginIDs, []string{"owner@example.com"}) || got.Status == "disabled" {
				t.Errorf("owner changed: %+v", got)
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || !after.Anonymous || len(env.Converted()) != 0 {
				t.Errorf("visitor after the refusal: %+v, OnConvert %v", after, env.Converted())
			}
			me := finishOAuth(t, env, b, providerAnswer(t, startOAuth(t, env, b), "new@example.com", "allow"))
			if me.Status != http.StatusOK || me.Anonymous || me.UserID == owner.UserID {
				t.Errorf("a new provider account: %d %+v", me.Status, me)
			}
		})
	}
}

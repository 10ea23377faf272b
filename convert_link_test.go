package anonymous_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// landing is the page conversion links open in these tests.
const landing = "https://shop.example.com/convert/landing"

// linkEnv is an Env of strategy s whose middleware sends conversion links
// to landing; opts come last.
func linkEnv(t *testing.T, s anonymous.Strategy, opts ...anonymous.Option) *anontest.Env {
	t.Helper()
	return anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s}, nil,
		append([]anonymous.Option{anonymous.WithLinkURLs(landing)}, opts...)...)
}

// sentLink returns the token of the latest link the emulator sent to addr,
// and checks that the link opens landing.
func sentLink(t *testing.T, env *anontest.Env, addr string) string {
	t.Helper()
	link, ok := env.Emu.OutboxLink(addr)
	if !ok {
		t.Fatalf("no link sent to %s", addr)
	}
	if !strings.HasPrefix(link, landing+"?t=") {
		t.Fatalf("link %q does not open %s", link, landing)
	}
	u, _ := url.Parse(link)
	return u.Query().Get("t")
}

// startLink has the visitor b ask for a link to addr, and returns its token.
func startLink(t *testing.T, env *anontest.Env, b *http.Client, addr string) string {
	t.Helper()
	if st := env.Post(t, b, "/convert/link/start", map[string]string{"email": addr}); st.Status != http.StatusOK || !strings.Contains(st.Body, "maskedEmail") {
		t.Fatalf("link start for %s: %d %s", addr, st.Status, st.Body)
	}
	return sentLink(t, env, addr)
}

// postToken is the landing page's POST of the token, with b's cookies.
func postToken(t *testing.T, env *anontest.Env, b *http.Client, token string) anontest.Me {
	t.Helper()
	return env.Post(t, b, "/convert/link/verify", map[string]string{"token": token})
}

// In each strategy a visitor converts by magic link through the handlers:
// user-backed keeps its user ID, native and local sign up and OnConvert
// moves the data; the anonymous refresh token is revoked, and the link is
// spent.
func TestLinkConversionEachStrategy(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := linkEnv(t, s)
			b, first := env.Visitor(t)
			oldDSR := env.Cookie(b, "DSR")
			tok := startLink(t, env, b, "Ada@Example.com")
			if u, ok := env.Emu.User(first.UserID); ok && slices.Contains(u.LoginIDs, "ada@example.com") {
				t.Fatal("address attached before the link was used")
			}
			me := postToken(t, env, b, tok)
			if me.Status != http.StatusOK || me.Anonymous || !slices.Contains(me.LoginIDs, "ada@example.com") {
				t.Fatalf("verify: %+v", me)
			}
			if s == anonymous.UserBacked {
				u, _ := env.Emu.User(first.UserID)
				if me.UserID != first.UserID || !slices.Equal(u.LoginIDs, []string{"ada@example.com"}) || len(u.UserTenants) != 0 || !u.VerifiedEmail {
					t.Errorf("converted user %+v, answer %+v", u, me)
				}
			} else if me.UserID == first.UserID || !slices.Contains(env.Converted(), [2]string{first.UserID, me.UserID}) {
				t.Errorf("sign-up: %+v, hook calls %v", me, env.Converted())
			}
			if oldDSR != "" {
				if _, _, err := env.Emu.MustClient(t).Auth.RefreshSessionWithToken(context.Background(), oldDSR); err == nil {
					t.Error("anonymous refresh token still works after conversion")
				}
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != me.UserID || after.Anonymous {
				t.Errorf("after conversion: %+v", after)
			}
			// The link is spent, and the conversion is done: a replay converts nothing.
			if again := postToken(t, env, b, tok); again.Status == http.StatusOK {
				t.Errorf("replayed token: %+v", again)
			}
			// The user signs in again from a fresh browser with a magic link.
			ml := env.Emu.MustClient(t).Auth.MagicLink()
			if _, err := ml.SignIn(context.Background(), descope.MethodEmail, "ada@example.com", landing, nil, nil); err != nil {
				t.Fatal(err)
			}
			info, err := ml.Verify(context.Background(), sentLink(t, env, "ada@example.com"), nil)
			if err != nil || info.SessionToken.ID != me.UserID {
				t.Errorf("sign-in by link later: %v %v", info, err)
			}
		})
	}
}

// Login CSRF: an attacker's own link, posted from a victim's browser, must
// neither convert the victim into the attacker's account nor move the
// victim's data there, whether the victim has a link conversion pending or
// not; the victim's own link still works afterwards.
func TestLinkConversionBoundToVisitor(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := linkEnv(t, s)
			attacker, _ := env.Visitor(t)
			victim, v := env.Visitor(t)
			evil := startLink(t, env, attacker, "eve@example.com")
			// No conversion pending: refused, and Descope is not asked.
			if me := postToken(t, env, victim, evil); me.Status != http.StatusConflict || len(me.SetCookie) != 0 {
				t.Fatalf("attacker's link without a pending conversion: %+v", me)
			}
			own := startLink(t, env, victim, "vic@example.com")
			evil = startLink(t, env, attacker, "eve@example.com")
			if me := postToken(t, env, victim, evil); me.Status != http.StatusConflict || len(me.SetCookie) != 0 {
				t.Fatalf("attacker's link with a pending conversion: %+v", me)
			}
			if me := env.Get(t, victim, "/whoami"); me.UserID != v.UserID || !me.Anonymous {
				t.Errorf("victim after the attacker's link: %+v", me)
			}
			if len(env.Converted()) != 0 {
				t.Errorf("data moved: %v", env.Converted())
			}
			if u, ok := env.Emu.User(v.UserID); s == anonymous.UserBacked && (!ok || len(u.UserTenants) != 1 || len(u.LoginIDs) != 1) {
				t.Errorf("victim's anonymous user changed: %+v", u)
			}
			me := postToken(t, env, victim, own)
			if me.Status != http.StatusOK || !slices.Contains(me.LoginIDs, "vic@example.com") || slices.Contains(me.LoginIDs, "eve@example.com") {
				t.Fatalf("victim's own link: %+v", me)
			}
			if s == anonymous.UserBacked && me.UserID != v.UserID {
				t.Errorf("victim's user ID changed: %+v", me)
			}
			if eve, ok := env.Emu.User("eve@example.com"); ok && eve.UserID == me.UserID {
				t.Error("victim converted into the attacker's account")
			}
		})
	}
}

// A link verifies nothing for a visitor whose session was replaced since
// it was sent (the visitor logged out; a new anonymous identity came).
func TestLinkConversionAfterSessionReplaced(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := linkEnv(t, s)
			b, first := env.Visitor(t)
			tok := startLink(t, env, b, "ada@example.com")
			env.Post(t, b, "/logout", nil)
			second := env.Get(t, b, "/whoami")
			if second.UserID == first.UserID || !second.Anonymous {
				t.Fatalf("after logout: %+v", second)
			}
			if me := postToken(t, env, b, tok); me.Status != http.StatusConflict {
				t.Fatalf("link after the session was replaced: %+v", me)
			}
			if me := env.Get(t, b, "/whoami"); me.UserID != second.UserID || !me.Anonymous {
				t.Errorf("visitor after: %+v", me)
			}
			if u, ok := env.Emu.User("ada@example.com"); ok {
				t.Errorf("someone converted to the address: %+v", u)
			}
		})
	}
}

// The address of another account: refused with WithReturningCustomers(false), with no link sent
// and neither account changed; with WithMerge the link signs in to that
// account, the hook moves the data, and only then is the anonymous user
// deleted.
func TestLinkConversionAddressInUse(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		env := linkEnv(t, anonymous.UserBacked, anonymous.WithReturningCustomers(false))
		owner := env.Registered(t, "owner@example.com")
		b, first := env.Visitor(t)
		st := env.Post(t, b, "/convert/link/start", map[string]string{"email": "owner@example.com"})
		if st.Status != http.StatusConflict || !strings.Contains(st.Body, "identifier belongs to another user") {
			t.Fatalf("start: %d %s", st.Status, st.Body)
		}
		if _, sent := env.Emu.OutboxLink("owner@example.com"); sent {
			t.Error("a link was sent for another account's address")
		}
		if got, _ := env.Emu.User(owner.UserID); !slices.Equal(got.LoginIDs, []string{"owner@example.com"}) {
			t.Errorf("owner changed: %+v", got)
		}
		if anon, _ := env.Emu.User(first.UserID); len(anon.UserTenants) != 1 || slices.Contains(anon.LoginIDs, "owner@example.com") {
			t.Errorf("anonymous user changed: %+v", anon)
		}
	})
	t.Run("merged", func(t *testing.T) {
		var mu sync.Mutex
		var merged [2]string
		env := linkEnv(t, anonymous.UserBacked, anonymous.WithMerge(func(_ context.Context, anon, existing *anonymous.User) error {
			mu.Lock()
			defer mu.Unlock()
			merged = [2]string{anon.ID, existing.ID}
			return nil
		}))
		owner := env.Registered(t, "owner@example.com")
		b, first := env.Visitor(t)
		tok := startLink(t, env, b, "owner@example.com")
		me := postToken(t, env, b, tok)
		if me.Status != http.StatusOK || me.UserID != owner.UserID || me.Anonymous {
			t.Fatalf("merge: %+v", me)
		}
		mu.Lock()
		defer mu.Unlock()
		if merged != [2]string{first.UserID, owner.UserID} {
			t.Errorf("merge hook: %v", merged)
		}
		if _, ok := env.Emu.User(first.UserID); ok {
			t.Error("anonymous user left after the merge")
		}
		if got, _ := env.Emu.User(owner.UserID); !slices.Equal(got.LoginIDs, []string{"owner@example.com"}) || len(got.UserTenants) != 0 {
			t.Errorf("owner changed: %+v", got)
		}
	})
}

// A double submit of the landing page converts once: one 200, and the
// other gets a conflict (the lock, or no pending conversion left) or, for
// an identity retired by the first, no session.
func TestLinkConversionDoubleSubmit(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := linkEnv(t, s)
			b, _ := env.Visitor(t)
			tok := startLink(t, env, b, "ada@example.com")
			cookies := env.Jar(b)
			var parts []string
			for k, v := range cookies {
				parts = append(parts, k+"="+v)
			}
			header := strings.Join(parts, "; ")
			statuses := make([]int, 4)
			var wg sync.WaitGroup
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := env.Browser(t)
					statuses[i] = env.Do(t, c, http.MethodPost, "/convert/link/verify", map[string]string{"token": tok}, cookieHeader(header)).Status
				}()
			}
			wg.Wait()
			ok := 0
			for _, st := range statuses {
				switch st {
				case http.StatusOK:
					ok++
				case http.StatusConflict, http.StatusUnauthorized:
				default:
					t.Errorf("status %d among %v", st, statuses)
				}
			}
			if ok != 1 {
				t.Errorf("%d conversions among %v", ok, statuses)
			}
			if s != anonymous.UserBacked && len(env.Converted()) != 1 {
				t.Errorf("hook calls %v", env.Converted())
			}
		})
	}
}

// Link starts count against the same limits as codes: per visitor (codes
// and links together), and per address.
func TestLinkConversionBudget(t *testing.T) {
	env := linkEnv(t, anonymous.UserBacked)
	b, _ := env.Visitor(t)
	for i := range 5 {
		path := "/convert/start"
		if i%2 == 1 {
			path = "/convert/link/start"
		}
		if st := env.Post(t, b, path, map[string]string{"email": fmt.Sprintf("v%d@example.com", i)}); st.Status != http.StatusOK {
			t.Fatalf("start %d: %d %s", i, st.Status, st.Body)
		}
	}
	before := env.Calls()
	if st := env.Post(t, b, "/convert/link/start", map[string]string{"email": "v9@example.com"}); st.Status != http.StatusTooManyRequests {
		t.Errorf("sixth start of the visitor: %d %s", st.Status, st.Body)
	}
	if env.Calls() != before {
		t.Errorf("a refused start reached Descope: %d calls", env.Calls()-before)
	}
	// Per address: ten starts from ten visitors, codes and links, then none.
	for i := range 10 {
		c, _ := env.Visitor(t)
		path := "/convert/start"
		if i%2 == 1 {
			path = "/convert/link/start"
		}
		if st := env.Post(t, c, path, map[string]string{"email": "target@example.com"}); st.Status != http.StatusOK {
			t.Fatalf("address start %d: %d %s", i, st.Status, st.Body)
		}
	}
	c, _ := env.Visitor(t)
	if st := env.Post(t, c, "/convert/link/start", map[string]string{"email": "target@example.com"}); st.Status != http.StatusTooManyRequests {
		t.Errorf("eleventh start for the address: %d %s", st.Status, st.Body)
	}
}

// The link URL comes only from WithLinkURLs: without it no link is sent;
// a URL off the list is refused; the option refuses URLs with a query.
func TestLinkConversionURLAllowList(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil)
	b, _ := env.Visitor(t)
	if st := env.Post(t, b, "/convert/link/start", map[string]string{"email": "ada@example.com"}); st.Status != http.StatusBadRequest {
		t.Errorf("without WithLinkURLs: %d %s", st.Status, st.Body)
	}
	if _, sent := env.Emu.OutboxLink("ada@example.com"); sent {
		t.Error("a link was sent without an allowed URL")
	}
	for _, bad := range []string{"", "/relative", "https://x.example.com/p?next=evil", "javascript:alert(1)", "https://u:p@x.example.com/"} {
		if _, err := anonymous.New(env.SDK, anonymous.WithLinkURLs(bad)); err == nil {
			t.Errorf("WithLinkURLs(%q) accepted", bad)
		}
	}
	env2 := linkEnv(t, anonymous.UserBacked)
	var got error
	h := env2.MW.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, got = env2.MW.StartLinkConversion(r, "ada@example.com", "https://evil.example.net/phish")
	}))
	anontest.Serve(h, http.MethodGet, "/", "", "127.0.0.1:1", nil)
	if !errors.Is(got, anonymous.ErrLinkURL) {
		t.Errorf("a URL off the list: %v", got)
	}
}

// A conversion finishes only by the method that started it: a code cannot
// finish a link's conversion (nor a link a code's), and a new start of
// either method replaces the pending conversion, so only its own answer
// finishes it.
func TestConversionMethodMustMatch(t *testing.T) {
	env := linkEnv(t, anonymous.UserBacked)
	b, first := env.Visitor(t)
	tok := startLink(t, env, b, "ada@example.com")
	for _, code := range []string{"123456", "000000"} {
		if me := env.Post(t, b, "/convert/verify", map[string]string{"email": "ada@example.com", "code": code}); me.Status != http.StatusConflict || !strings.Contains(me.Body, "no pending conversion") {
			t.Errorf("code for a link's conversion: %d %s", me.Status, me.Body)
		}
	}
	// A code start replaces the link's conversion: the link no longer finishes it.
	code := env.SendCode(t, b, "ada@example.com")
	if me := postToken(t, env, b, tok); me.Status != http.StatusConflict {
		t.Errorf("link after a code start: %+v", me)
	}
	if u, _ := env.Emu.User(first.UserID); len(u.UserTenants) != 1 || slices.Contains(u.LoginIDs, "ada@example.com") {
		t.Errorf("user changed by a refused answer: %+v", u)
	}
	if me := env.Post(t, b, "/convert/verify", map[string]string{"email": "ada@example.com", "code": code}); me.Status != http.StatusOK || me.UserID != first.UserID {
		t.Errorf("the code of the latest start: %+v", me)
	}
}

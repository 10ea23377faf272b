package anonymous_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// nativeEnv is an Env of the NativeTokens strategy served through mount.
func nativeEnv(t *testing.T, mount anontest.Mount, opts ...anonymous.Option) *anontest.Env {
	t.Helper()
	return anontest.NewEnvWith(t, anontest.Setup{Mount: mount, Strategy: anonymous.NativeTokens}, nil, opts...)
}

func TestNativeConversionMovesData(t *testing.T) {
	s := &appData{data: map[string][]string{}}
	env := nativeEnv(t, netHTTP, anonymous.WithOnConvert(s.move))
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	if !first.New || !first.Anonymous || env.Calls() != 1 || env.Emu.UserCount() != 0 {
		t.Fatalf("native visitor %+v, %d calls, %d users", first, env.Calls(), env.Emu.UserCount())
	}
	s.data[first.UserID] = []string{"cart"}
	oldDSR := env.Cookie(b, "DSR")
	if st := env.Post(t, b, "/convert/start", map[string]string{"email": "new@example.com"}); st.Status != http.StatusOK {
		t.Fatalf("start: %d", st.Status)
	}
	code, _ := env.Emu.Outbox("new@example.com")
	if st := env.Post(t, b, "/convert/verify", map[string]string{"email": "new@example.com", "code": wrongCode(code)}); st.Status != http.StatusBadRequest {
		t.Errorf("wrong code: %d", st.Status)
	}
	me := env.Post(t, b, "/convert/verify", map[string]string{"email": "new@example.com", "code": code})
	if me.Status != http.StatusOK || me.Anonymous || me.UserID == first.UserID || !slices.Contains(me.LoginIDs, "new@example.com") {
		t.Fatalf("verify: %+v", me)
	}
	if got := s.get(me.UserID); !slices.Equal(got, []string{"cart"}) || s.get(first.UserID) != nil {
		t.Errorf("data not moved: %v", s.data)
	}
	if u, ok := env.Emu.User("new@example.com"); !ok || u.UserID != me.UserID || !u.VerifiedEmail {
		t.Errorf("real user %+v", u)
	}
	c := env.Emu.MustClient(t)
	if _, _, err := c.Auth.RefreshSessionWithToken(context.Background(), oldDSR); err == nil {
		t.Error("anonymous refresh token still works")
	}
	if after := env.Get(t, b, "/whoami"); after.UserID != me.UserID || after.Anonymous {
		t.Errorf("after conversion: %+v", after)
	}
}

func TestNativeConversionHookFailureKeepsVisitor(t *testing.T) {
	s := &appData{data: map[string][]string{}, fail: errors.New("database down")}
	env := nativeEnv(t, netHTTP, anonymous.WithOnConvert(s.move))
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	env.Post(t, b, "/convert/start", map[string]string{"email": "x@example.com"})
	code, _ := env.Emu.Outbox("x@example.com")
	if me := env.Post(t, b, "/convert/verify", map[string]string{"email": "x@example.com", "code": code}); me.Status != http.StatusInternalServerError {
		t.Fatalf("verify with failing hook: %+v", me)
	}
	if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID || !me.Anonymous {
		t.Errorf("visitor after failed hook: %+v", me)
	}
	// Retry once the hook works: the code signs in to the account made above.
	s.fail = nil
	env.Post(t, b, "/convert/start", map[string]string{"email": "x@example.com"})
	code, _ = env.Emu.Outbox("x@example.com")
	if me := env.Post(t, b, "/convert/verify", map[string]string{"email": "x@example.com", "code": code}); me.Status != http.StatusOK || me.Anonymous {
		t.Errorf("retry: %+v", me)
	}
}

func TestPromoteNativeVisitor(t *testing.T) {
	s := &appData{data: map[string][]string{}}
	env := nativeEnv(t, netHTTP, anonymous.WithOnConvert(s.move))
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	s.data[first.UserID] = []string{"draft"}
	env.Emu.ResetRequests()
	me := env.Post(t, b, "/x/promote", nil)
	if me.Status != http.StatusOK || me.UserID == first.UserID || !me.Anonymous || len(me.LoginIDs) != 1 {
		t.Fatalf("promote: %+v", me)
	}
	if env.Emu.Requests("/v1/mgmt/user/create") != 1 || env.Emu.Requests("/v1/mgmt/auth/signin") != 1 {
		t.Errorf("promotion calls: %v", env.Emu.RequestLog())
	}
	if got := s.get(me.UserID); !slices.Equal(got, []string{"draft"}) {
		t.Errorf("data not moved: %v", s.data)
	}
	u, ok := env.Emu.User(me.UserID)
	if !ok || len(u.UserTenants) != 1 {
		t.Errorf("promoted user %+v", u)
	}
	if after := env.Get(t, b, "/whoami"); after.UserID != me.UserID || !after.Anonymous {
		t.Errorf("after promotion: %+v", after)
	}
	if again := env.Post(t, b, "/x/promote", nil); again.UserID != me.UserID || env.Emu.Requests("/v1/mgmt/user/create") != 1 {
		t.Errorf("promoting a user-backed visitor: %+v", again)
	}
	// A user-backed visitor converts keeping the promoted ID.
	env.Post(t, b, "/convert/start", map[string]string{"email": "p@example.com"})
	code, _ := env.Emu.Outbox("p@example.com")
	if me2 := env.Post(t, b, "/convert/verify", map[string]string{"email": "p@example.com", "code": code}); me2.UserID != me.UserID || me2.Anonymous {
		t.Errorf("conversion after promotion: %+v", me2)
	}
}

func TestPromoteHookFailureDeletesNewUser(t *testing.T) {
	s := &appData{data: map[string][]string{}, fail: errors.New("no")}
	env := nativeEnv(t, netHTTP, anonymous.WithOnConvert(s.move))
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	if me := env.Post(t, b, "/x/promote", nil); me.Status != http.StatusInternalServerError || len(me.SetCookie) != 0 {
		t.Fatalf("promote with failing hook: %+v", me)
	}
	if env.Emu.UserCount() != 0 {
		t.Errorf("unpromoted user left behind: %d users", env.Emu.UserCount())
	}
	if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID {
		t.Errorf("visitor changed: %+v", me)
	}
}

// Promotions of one native visitor while another is under way get a clear
// 409, as local ones do (TestLocalPromoteDoubleSubmit): the hook holds the
// first promotion until every other request is answered, so that all of them
// meet it, and exactly one user is made and one hook call runs.
func TestPromoteNativeDoubleSubmit(t *testing.T) {
	const n = 8
	var hooked, answered atomic.Int32
	release := make(chan struct{})
	hook := func(context.Context, string, *anonymous.User) error {
		hooked.Add(1)
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		return nil
	}
	env := nativeEnv(t, netHTTP, anonymous.WithOnConvert(hook))
	b := env.Browser(t)
	if first := env.Get(t, b, "/whoami"); !first.New || env.Emu.UserCount() != 0 {
		t.Fatalf("native visitor %+v", first)
	}
	cookies := "DS=" + env.Cookie(b, "DS") + "; DSR=" + env.Cookie(b, "DSR")
	env.Emu.ResetRequests()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = env.Do(t, env.Browser(t), http.MethodPost, "/x/promote", nil, func(r *http.Request) {
				r.Header.Set("Cookie", cookies)
			}).Status
			if answered.Add(1) == n-1 {
				close(release)
			}
		})
	}
	wg.Wait()
	if ok := successes(t, statuses, true); ok != 1 || hooked.Load() != 1 {
		t.Errorf("statuses %v, %d hook calls", statuses, hooked.Load())
	}
	if env.Emu.Requests("/v1/mgmt/user/create") != 1 || env.Emu.UserCount() != 1 {
		t.Errorf("%d users created, %d users: %v", env.Emu.Requests("/v1/mgmt/user/create"), env.Emu.UserCount(), env.Emu.RequestLog())
	}
}

// Promotion needs the visitor's own refresh cookie, as conversion does: a
// session alone, or with another visitor's refresh token, promotes nothing.
func TestPromoteNativeNeedsOwnRefreshCookie(t *testing.T) {
	env := nativeEnv(t, netHTTP)
	b, _ := env.Visitor(t)
	other, _ := env.Visitor(t)
	env.Emu.ResetRequests()
	for name, dsr := range map[string]string{"no refresh cookie": "", "another visitor's": env.Cookie(other, "DSR")} {
		me := env.Do(t, env.Browser(t), http.MethodPost, "/x/promote", nil, func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "DS", Value: env.Cookie(b, "DS")})
			if dsr != "" {
				r.AddCookie(&http.Cookie{Name: "DSR", Value: dsr})
			}
		})
		if me.Status != http.StatusUnauthorized || len(me.SetCookie) != 0 {
			t.Errorf("%s: %+v", name, me)
		}
	}
	if n := env.Emu.Requests("/v1/mgmt/user/create"); n != 0 {
		t.Errorf("%d users created", n)
	}
	if me := env.Post(t, b, "/x/promote", nil); me.Status != http.StatusOK || !me.Anonymous {
		t.Errorf("promotion with its own cookies: %+v", me)
	}
}

// A native identity that was converted proves nothing any more: its old
// refresh token, still valid until it expires, neither converts nor promotes
// again.
func TestNativeRetiredTokensReplay(t *testing.T) {
	var hooks atomic.Int32
	env := nativeEnv(t, netHTTP, anonymous.WithOnConvert(func(context.Context, string, *anonymous.User) error {
		hooks.Add(1)
		return nil
	}))
	b, first := env.Visitor(t)
	ds, dsr := env.Cookie(b, "DS"), env.Cookie(b, "DSR")
	if me := env.Convert(t, b, "ada@example.com"); me.Status != http.StatusOK {
		t.Fatalf("convert: %+v", me)
	}
	replay := env.Browser(t)
	env.SetCookie(replay, "DS", ds)
	env.SetCookie(replay, "DSR", dsr)
	if me := env.Get(t, replay, "/whoami"); me.UserID != first.UserID {
		t.Fatalf("the old session on an ordinary request: %+v", me)
	}
	refusesReplay(t, env, replay, &hooks)
}

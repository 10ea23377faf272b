package anonymous_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

func TestConvertEmailAndPhone(t *testing.T) {
	for _, tc := range []struct{ field, address, stored string }{
		{"email", " Ada@Example.COM ", "ada@example.com"},
		{"phone", "+1 (415) 555-0100", "+14155550100"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			env := anontest.NewEnv(t, netHTTP, nil)
			b, first := env.Visitor(t)
			notes := map[string]string{first.UserID: "cart: 2 books"} // application data keyed by user ID
			oldDS, oldDSR := env.Cookie(b, "DS"), env.Cookie(b, "DSR")
			if st := env.Post(t, b, "/convert/start", map[string]string{tc.field: tc.address}); st.Status != http.StatusOK {
				t.Fatalf("start: %d", st.Status)
			}
			if u, _ := env.Emu.User(first.UserID); slices.Contains(u.LoginIDs, tc.stored) {
				t.Fatal("address attached before verification")
			}
			code, ok := env.Emu.Outbox(tc.stored)
			if !ok {
				t.Fatal("no code sent")
			}
			me := env.Post(t, b, "/convert/verify", map[string]string{tc.field: tc.address, "code": code})
			if me.Status != http.StatusOK || me.UserID != first.UserID || me.Anonymous {
				t.Fatalf("verify: %+v", me)
			}
			if notes[me.UserID] != "cart: 2 books" {
				t.Error("data keyed by the user ID lost")
			}
			if env.Cookie(b, "DS") == oldDS || env.Cookie(b, "DSR") == oldDSR {
				t.Error("conversion did not issue a fresh token pair")
			}
			u, _ := env.Emu.User(first.UserID)
			if !slices.Equal(u.LoginIDs, []string{tc.stored}) || len(u.UserTenants) != 0 {
				t.Errorf("converted user %+v", u)
			}
			if tc.field == "email" && (!u.VerifiedEmail || u.Email != tc.stored) || tc.field == "phone" && (!u.VerifiedPhone || u.Phone != tc.stored) {
				t.Errorf("address not verified on %+v", u)
			}
			// The new session token is no longer anonymous, and the old refresh token is revoked.
			c := env.Emu.MustClient(t)
			_, tok, err := c.Auth.ValidateSessionWithToken(context.Background(), env.Cookie(b, "DS"))
			if err != nil || len(tok.GetTenants()) != 0 {
				t.Errorf("new session token %v, %v", tok, err)
			}
			if _, _, err := c.Auth.RefreshSessionWithToken(context.Background(), oldDSR); err == nil {
				t.Error("anonymous refresh token still works after conversion")
			}
			after := env.Get(t, b, "/whoami")
			if after.UserID != first.UserID || after.Anonymous {
				t.Errorf("after conversion: %+v", after)
			}
			if again := env.Post(t, b, "/convert/start", map[string]string{"email": "second@example.com"}); again.Status != http.StatusConflict {
				t.Errorf("converting a regular user: %d, want 409", again.Status)
			}
		})
	}
}

// With WithReturningCustomers(false), an address that is another account's
// login ID gets no code at all: on real Descope verifying an update onto it
// would merge the two accounts and delete one. An attacker who names a
// victim's address gets a 409, and guessing codes gets it nothing: neither
// account changes.
func TestConvertConflictRefused(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithReturningCustomers(false))
	owner := env.Registered(t, "owner@example.com")
	b, first := env.Visitor(t)
	if st := env.Post(t, b, "/convert/start", map[string]string{"email": "owner@example.com"}); st.Status != http.StatusConflict {
		t.Fatalf("start with a taken address: %d, want 409", st.Status)
	}
	if _, sent := env.Emu.Outbox("owner@example.com"); sent {
		t.Error("a code was sent for an address that belongs to another account")
	}
	for _, guess := range []string{"123456", "000000", "999999", "111111", "654321"} {
		me := env.Post(t, b, "/convert/verify", map[string]string{"email": "owner@example.com", "code": guess})
		if me.Status != http.StatusConflict || me.UserID == owner.UserID || len(me.SetCookie) != 0 {
			t.Fatalf("verify of a taken address with %q: %+v", guess, me)
		}
	}
	anon, _ := env.Emu.User(first.UserID)
	if slices.Contains(anon.LoginIDs, "owner@example.com") || anon.VerifiedEmail || len(anon.UserTenants) != 1 {
		t.Errorf("anonymous user changed: %+v", anon)
	}
	got, _ := env.Emu.User(owner.UserID)
	if !slices.Equal(got.LoginIDs, []string{"owner@example.com"}) || got.UserID != owner.UserID {
		t.Errorf("owner changed: %+v", got)
	}
	if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID || !me.Anonymous {
		t.Errorf("visitor after refused conversion: %+v", me)
	}
}

func TestConvertMergeIntoExisting(t *testing.T) {
	var mu sync.Mutex
	data := map[string][]string{}
	var merged [2]string
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithMerge(func(_ context.Context, anon, existing *anonymous.User) error {
		mu.Lock()
		defer mu.Unlock()
		data[existing.ID] = append(data[existing.ID], data[anon.ID]...)
		delete(data, anon.ID)
		merged = [2]string{anon.ID, existing.ID}
		return nil
	}))
	c := env.Emu.MustClient(t)
	owner, err := c.Management.User().Create(context.Background(), "owner@example.com", &descope.UserRequest{User: descope.User{Email: "owner@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	b, first := env.Visitor(t)
	mu.Lock()
	data[first.UserID] = []string{"draft"}
	data[owner.UserID] = []string{"old order"}
	mu.Unlock()
	env.Post(t, b, "/convert/start", map[string]string{"email": "owner@example.com"})
	code, _ := env.Emu.Outbox("owner@example.com")
	me := env.Post(t, b, "/convert/verify", map[string]string{"email": "owner@example.com", "code": code})
	if me.Status != http.StatusOK || me.UserID != owner.UserID || me.Anonymous {
		t.Fatalf("merge: %+v", me)
	}
	if merged != [2]string{first.UserID, owner.UserID} || !slices.Equal(data[owner.UserID], []string{"old order", "draft"}) {
		t.Errorf("merge hook: %v, data %v", merged, data)
	}
	if _, ok := env.Emu.User(first.UserID); ok {
		t.Error("anonymous user not deleted after merge")
	}
	if after := env.Get(t, b, "/whoami"); after.UserID != owner.UserID {
		t.Errorf("after merge: %+v", after)
	}
}

// Merging with WithMerge: the existing account never gains the anonymous
// tenant or the generated login ID, and the anonymous user is deleted only
// once the hook succeeded.
func TestMergeKeepsExistingAccountAndNeedsTheHook(t *testing.T) {
	var mu sync.Mutex
	fail := errors.New("database down")
	hookErr := fail
	w := newWorld(t, nil, anonymous.WithMerge(func(context.Context, *anonymous.User, *anonymous.User) error {
		mu.Lock()
		defer mu.Unlock()
		return hookErr
	}))
	owner := w.Registered(t, "owner@example.com")
	before := anontest.StateOf(w.Emu, owner.UserID)
	b, anon := w.Visitor(t)
	code := w.SendCode(t, b, "owner@example.com")
	if p := w.Verify(t, b, "owner@example.com", code); p.Status == http.StatusOK || anontest.HasCookie(p.SetCookie, "DS") {
		t.Fatalf("merge with a failing hook: %+v", p)
	}
	if s := anontest.StateOf(w.Emu, anon.UserID); !s.Exists || len(s.Tenants) != 1 {
		t.Errorf("anonymous user after a failed merge hook: %+v", s)
	}
	if me := w.Get(t, b, "/"); me.UserID != anon.UserID || !me.Anonymous {
		t.Errorf("visitor after a failed merge hook: %+v", me)
	}
	mu.Lock()
	hookErr = nil
	mu.Unlock()
	code = w.SendCode(t, b, "owner@example.com")
	if p := w.Verify(t, b, "owner@example.com", code); p.Status != http.StatusOK || p.UserID != owner.UserID {
		t.Fatalf("merge: %+v", p)
	}
	if s := anontest.StateOf(w.Emu, anon.UserID); s.Exists {
		t.Errorf("anonymous user kept after the merge: %+v", s)
	}
	if after := anontest.StateOf(w.Emu, owner.UserID); !slices.Equal(after.LoginIDs, before.LoginIDs) || !slices.Equal(after.Tenants, before.Tenants) {
		t.Errorf("existing account changed by the merge: %+v -> %+v", before, after)
	}
}

// If the address becomes another account's login ID between the last check
// and the verify, real Descope merges the two users at verify. The library
// asked Descope to keep the existing account; it detects the merge, reports
// it with both IDs, and takes the anonymous tenant and the generated login ID
// away from the kept account again.
func TestDescopeMergeInTheRaceWindowIsReported(t *testing.T) {
	logs := &syncBuffer{}
	w := newWorld(t, nil, anonymous.WithLogger(newTestLogger(logs)))
	b, anon := w.Visitor(t)
	code := w.SendCode(t, b, "late@example.com")
	var other *descope.UserResponse
	w.Emu.InjectFault("/v1/auth/otp/verify/email", descopetest.Fault{Times: 1, Before: func() {
		// Someone registers the address in the race window.
		other = w.Registered(t, "late@example.com")
	}})
	w.Hooks.Reset()
	p := w.Do(t, b, http.MethodPost, "/convert/verify", nil, anontest.JSONBody(t, map[string]string{"email": "late@example.com", "code": code}))
	if p.Status != http.StatusConflict || anontest.HasCookie(p.SetCookie, "DS") {
		t.Fatalf("verify in the race window: %+v", p)
	}
	if other == nil {
		t.Fatal("the race was not staged")
	}
	errs := w.Hooks.All()
	if len(errs) != 1 || !errors.Is(errs[0], anonymous.ErrDescopeMerged) ||
		!strings.Contains(errs[0].Error(), anon.UserID) || !strings.Contains(errs[0].Error(), other.UserID) {
		t.Errorf("error hook saw %v, want ErrDescopeMerged naming both users", errs)
	}
	logged := logs.String()
	if !strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, other.UserID) {
		t.Errorf("merge not logged at error level with both IDs: %s", logged)
	}
	kept := anontest.StateOf(w.Emu, other.UserID)
	if !kept.Exists || len(kept.Tenants) != 0 || slices.ContainsFunc(kept.LoginIDs, anonymous.IsGeneratedLoginID) {
		t.Errorf("the kept account: %+v (want it without the anonymous tenant and generated login ID)", kept)
	}
}

func TestConvertCodeFailures(t *testing.T) {
	otpClock := &anontest.Clock{} // Descope's clock: codes expire on it
	env := anontest.NewEnv(t, netHTTP, []descopetest.Option{descopetest.WithOTPTTL(time.Second), descopetest.WithClock(otpClock.Now)})
	b, first := env.Visitor(t)
	start := func() string {
		if st := env.Post(t, b, "/convert/start", map[string]string{"email": "late@example.com"}); st.Status != http.StatusOK {
			t.Fatalf("start: %d", st.Status)
		}
		code, _ := env.Emu.Outbox("late@example.com")
		return code
	}
	verify := func(code string) int {
		return env.Post(t, b, "/convert/verify", map[string]string{"email": "late@example.com", "code": code}).Status
	}
	code := start()
	if st := verify(wrongCode(code)); st != http.StatusBadRequest {
		t.Errorf("wrong code: %d, want 400", st)
	}
	otpClock.Advance(1100 * time.Millisecond) // within the SDK's 5 s leeway for the tokens it signs
	if st := verify(code); st != http.StatusBadRequest {
		t.Errorf("expired code: %d, want 400", st)
	}
	code = start()
	for i := range 5 {
		if st := verify(wrongCode(code)); st != http.StatusBadRequest {
			t.Fatalf("wrong attempt %d: %d", i+1, st)
		}
	}
	if st := verify(code); st != http.StatusTooManyRequests {
		t.Errorf("right code after 5 wrong ones: %d, want 429", st)
	}
	if u, _ := env.Emu.User(first.UserID); len(u.LoginIDs) != 1 || u.VerifiedEmail || len(u.UserTenants) != 1 {
		t.Errorf("user changed by failed attempts: %+v", u)
	}
}

func TestConvertBadRequests(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil)
	b, _ := env.Visitor(t)
	raw := func(method, path, body string, client *http.Client) int {
		return env.Do(t, client, method, path, nil, func(r *http.Request) {
			if body != "" {
				r.Body = io.NopCloser(strings.NewReader(body))
				r.ContentLength = int64(len(body))
				r.Header.Set("Content-Type", "application/json")
			}
		}).Status
	}
	cases := []struct {
		name, method, body string
		client             *http.Client
		want               int
	}{
		{"GET", http.MethodGet, "", b, http.StatusMethodNotAllowed},
		{"not JSON", http.MethodPost, "email=a@b.c", b, http.StatusBadRequest},
		{"empty", http.MethodPost, "", b, http.StatusUnsupportedMediaType},
		{"wrong type", http.MethodPost, `{"email":5}`, b, http.StatusBadRequest},
		{"array", http.MethodPost, `["a@b.c"]`, b, http.StatusBadRequest},
		{"unknown field", http.MethodPost, `{"mail":"a@b.c"}`, b, http.StatusBadRequest},
		{"both addresses", http.MethodPost, `{"email":"a@b.c","phone":"+14155550100"}`, b, http.StatusBadRequest},
		{"no address", http.MethodPost, `{}`, b, http.StatusBadRequest},
		{"trailing data", http.MethodPost, `{"email":"a@b.co"} {}`, b, http.StatusBadRequest},
		{"malformed email", http.MethodPost, `{"email":"not-an-email"}`, b, http.StatusBadRequest},
		{"named email", http.MethodPost, `{"email":"Ada <ada@example.com>"}`, b, http.StatusBadRequest},
		{"malformed phone", http.MethodPost, `{"phone":"555-CALL-NOW"}`, b, http.StatusBadRequest},
		{"huge body", http.MethodPost, `{"email":"` + strings.Repeat("a", 10000) + `@x.io"}`, b, http.StatusBadRequest},
		{"no session", http.MethodPost, `{"email":"a@example.com"}`, crawler(t, env), http.StatusUnauthorized},
	}
	for _, tc := range cases {
		for _, path := range []string{"/convert/start", "/convert/verify"} {
			if got := raw(tc.method, path, tc.body, tc.client); got != tc.want {
				t.Errorf("%s %s: %d, want %d", tc.name, path, got, tc.want)
			}
		}
	}
	if n := env.Emu.Requests("/v1/auth/otp/update/email"); n != 0 {
		t.Errorf("bad requests reached Descope %d times", n)
	}
}

// crawler returns a client, on a transport of env, whose requests the
// middleware never provisions.
func crawler(t testing.TB, env *anontest.Env) *http.Client {
	return &http.Client{Transport: uaTransport{"Googlebot/2.1", env.Transport(t)}}
}

// uaTransport sends every request with the User-Agent ua through next.
type uaTransport struct {
	ua   string
	next http.RoundTripper
}

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r.Header.Set("User-Agent", u.ua)
	return u.next.RoundTrip(r)
}

func TestConvertResumesAfterFailureHalfway(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil)
	b, first := env.Visitor(t)
	env.Post(t, b, "/convert/start", map[string]string{"email": "half@example.com"})
	code, _ := env.Emu.Outbox("half@example.com")
	env.Emu.InjectFault("/v1/mgmt/user/update/tenant/remove", descopetest.Fault{Status: 502, Times: 1})
	if me := env.Post(t, b, "/convert/verify", map[string]string{"email": "half@example.com", "code": code}); me.Status != http.StatusServiceUnavailable {
		t.Fatalf("verify during fault: %+v", me)
	}
	if u, _ := env.Emu.User(first.UserID); !u.VerifiedEmail || len(u.UserTenants) != 1 {
		t.Fatalf("state after fault: %+v", u)
	}
	me := env.Post(t, b, "/convert/verify", map[string]string{"email": "half@example.com", "code": "spent"})
	if me.Status != http.StatusOK || me.UserID != first.UserID || me.Anonymous {
		t.Fatalf("resumed verify: %+v", me)
	}
	if u, _ := env.Emu.User(first.UserID); len(u.UserTenants) != 0 || !slices.Equal(u.LoginIDs, []string{"half@example.com"}) {
		t.Errorf("after resume: %+v", u)
	}
}

func TestConvertPlainFunctionsNeedTheMiddleware(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil)
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	if _, err := env.MW.StartConversion(r, "a@example.com"); !errors.Is(err, anonymous.ErrNoSession) {
		t.Errorf("StartConversion without a user: %v", err)
	}
	if _, err := env.MW.StartConversion(r, "nope"); !errors.Is(err, anonymous.ErrInvalidAddress) {
		t.Errorf("StartConversion with a bad address: %v", err)
	}
	r = r.WithContext(anonymous.NewContext(r.Context(), &anonymous.User{ID: "U1", Anonymous: false}))
	if _, err := env.MW.FinishConversion(nil, r, "a@example.com", "1"); !errors.Is(err, anonymous.ErrNotAnonymous) {
		t.Errorf("FinishConversion for a regular user: %v", err)
	}
}

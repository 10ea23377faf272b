package anonymous_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// The fault matrix: every kind of Descope failure on every call the library
// makes, each cell in a fresh world, with the outcome asserted.

const (
	faultTimeout = 300 * time.Millisecond // the middleware's WithTimeout in every cell
	faultLatency = time.Second            // beyond the timeout
	// timingMargin is what a request may take beyond the timeouts it waits
	// out. It stays below faultLatency-2*faultTimeout, so a request bounded
	// by it provably did not wait for a slow Descope.
	timingMargin = 350 * time.Millisecond
)

// faultKinds are the failures injected. 503 and 520-530 are left out: the
// SDK retries those itself with 5-second pauses. Drops and everything else
// apply until ClearFaults, so a GET the HTTP client replays on a fresh
// connection meets the fault again.
var faultKinds = []struct {
	name  string
	fault descopetest.Fault
}{
	{"500", descopetest.Fault{Status: http.StatusInternalServerError}},
	{"502", descopetest.Fault{Status: http.StatusBadGateway}},
	{"429", descopetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1}},
	{"latency", descopetest.Fault{Latency: faultLatency}},
	{"drop", descopetest.Fault{Drop: true}},
}

// cell is one (call, fault) pair of the matrix.
type cell struct {
	w     *anontest.Env
	label string // of the faulted call
	path  string
	kind  string
	fault descopetest.Fault
	base  int // goroutines before the fault
}

// arm closes idle connections, notes the goroutine baseline, clears the
// logs and injects the fault.
func (c *cell) arm() {
	c.w.CloseIdle()
	c.base = anontest.SettledGoroutines()
	c.w.Hooks.Reset()
	c.w.Convs.Reset()
	c.w.Emu.ResetRequests()
	c.w.Emu.InjectFault(c.path, c.fault)
}

// disarm removes the fault and checks that no goroutine outlives the
// faulted request (the world itself stays up).
func (c *cell) disarm(t *testing.T) {
	t.Helper()
	c.w.Emu.ClearFaults()
	anontest.ExpectNoLeak(t, c.base, c.w.CloseIdle)
}

// bounded checks that d stayed under n timeouts plus the margin, and under
// the injected latency.
func (c *cell) bounded(t *testing.T, d time.Duration, n int) {
	t.Helper()
	if limit := time.Duration(n)*faultTimeout + timingMargin; d >= limit {
		t.Errorf("took %v, want < %v", d, limit)
	}
	if c.fault.Latency > 0 && d >= c.fault.Latency {
		t.Errorf("took %v: waited out Descope's latency", d)
	}
}

// calls checks that the faulted path was called at least once (the fault
// was met) and at most max times (no retry storm).
func (c *cell) calls(t *testing.T, max int) {
	t.Helper()
	if n := c.w.Emu.Requests(c.path); n < 1 || n > max {
		t.Errorf("%d calls to %s, want 1..%d", n, c.path, max)
	}
}

func (c *cell) hookSawUnavailable(t *testing.T) {
	t.Helper()
	if errs := c.w.Hooks.All(); !anontest.AllUnavailable(errs) {
		t.Errorf("error hook saw %v, want errors wrapping ErrUnavailable", errs)
	}
}

// conversionUnavailable checks that the conversion route that answered p
// failed with 503, that fn (the conversion function behind it) returned
// ErrUnavailable, and that browser b's cookies are still jar.
func (c *cell) conversionUnavailable(t *testing.T, fn string, p anontest.Me, b *http.Client, jar map[string]string) {
	t.Helper()
	if p.Status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", p.Status)
	}
	if errs := c.w.Convs.All(); !anontest.AllUnavailable(errs) {
		t.Errorf("%s returned %v, want ErrUnavailable", fn, errs)
	}
	if len(p.SetCookie) != 0 || !maps.Equal(c.w.Jar(b), jar) {
		t.Errorf("cookies changed: %v", p.SetCookie)
	}
}

type faultCall struct{ label, path string }

type faultOp struct {
	name  string
	calls []faultCall
	run   func(t *testing.T, c *cell)
}

func TestFaultMatrix(t *testing.T) {
	ops := []faultOp{
		{"provision", []faultCall{{"user-create", "/v1/mgmt/user/create"}, {"signin", "/v1/mgmt/auth/signin"}}, faultProvision},
		{"refresh", []faultCall{{"refresh", "/v1/auth/refresh"}}, faultRefresh},
		{"convert-start", []faultCall{{"otp-update-email", "/v1/auth/otp/update/email"}, {"user-load", "/v1/mgmt/user"}}, faultConvertStart},
		{"convert-verify", []faultCall{
			{"otp-verify-email", "/v1/auth/otp/verify/email"},
			{"tenant-remove", "/v1/mgmt/user/update/tenant/remove"},
			{"loginid-update", "/v1/mgmt/user/update/loginid"},
			{"signin", "/v1/mgmt/auth/signin"},
		}, faultConvertVerify},
		{"cull-search", []faultCall{{"user-search", "/v2/mgmt/user/search"}}, faultCullSearch},
		{"cull-load", []faultCall{{"user-load", "/v1/mgmt/user"}}, faultCullLoad},
		{"cull-delete", []faultCall{{"delete-batch", "/v1/mgmt/user/delete/batch"}}, faultCullDelete},
		{"key-fetch", []faultCall{{"keys", "/v2/keys/{pid}"}}, faultKeyFetch},
	}
	cells := 0
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			for _, call := range op.calls {
				for _, k := range faultKinds {
					cells++
					t.Run(call.label+"/"+k.name, func(t *testing.T) {
						w := newWorld(t, nil)
						c := &cell{w: w, label: call.label, kind: k.name, fault: k.fault,
							path: strings.ReplaceAll(call.path, "{pid}", w.Emu.ProjectID)}
						op.run(t, c)
					})
				}
			}
		})
	}
	t.Logf("fault matrix: %d cells", cells)
}

// Provisioning: the new visitor is served without a user and without
// cookies, and no half-made user is left behind.
func faultProvision(t *testing.T, c *cell) {
	w := c.w
	b := w.Browser(t)
	users := w.Emu.UserCount()
	c.arm()
	p := w.Get(t, b, "/")
	c.disarm(t)
	if p.Status != http.StatusOK || p.UserID != "" {
		t.Errorf("want the request served without a user: %+v", p)
	}
	if len(p.SetCookie) != 0 || len(w.Jar(b)) != 0 {
		t.Errorf("cookies written for a failed provisioning: %v", p.SetCookie)
	}
	c.bounded(t, p.Took, 1)
	c.hookSawUnavailable(t)
	c.calls(t, 1)
	if c.label == "user-create" && w.Emu.Requests("/v1/mgmt/auth/signin") != 0 {
		t.Error("signed in a user that was not created")
	}
	// A failed sign-in deletes the user just created. Under latency on the
	// create, Descope carries out the call after the middleware gave up (a
	// POST body keeps the server from noticing the client left): one user is
	// left for Cull, so it must look like an untouched anonymous user.
	switch left := w.Emu.UserCount() - users; {
	case left == 0:
	case left == 1 && c.kind == "latency" && c.label == "signin":
		t.Errorf("BUG: the user created before a timed-out sign-in was not deleted: " +
			"the delete ran on the request's spent deadline")
	case left == 1 && c.kind == "latency":
		all, _, err := w.SDK.Management.User().SearchAll(context.Background(), &descope.UserSearchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range all {
			if !anontest.GeneratedOnly(*u) || len(u.UserTenants) != 1 {
				t.Errorf("leftover user Cull would not take: %+v", u)
			}
		}
	default:
		t.Errorf("%d users left behind by a failed provisioning", left)
	}
	if c.kind == "429" && c.label == "user-create" {
		// Descope's user-create limit is per project: provisioning waits
		// out Retry-After for every visitor before asking again.
		if again := w.Get(t, w.Browser(t), "/"); again.UserID != "" || w.Emu.Requests("/v1/mgmt/user/create") != 1 {
			t.Errorf("user create called again within Retry-After: %+v", again)
		}
		w.Clock.Advance(2 * time.Second)
	}
	if again := w.Get(t, b, "/"); !again.New || again.UserID == "" || !anontest.HasCookie(again.SetCookie, "DS") {
		t.Errorf("after recovery: %+v", again)
	}
}

// Refresh: the visitor whose session cookie has expired keeps its identity
// (Degraded, same ID), and its refresh cookie is neither overwritten nor
// cleared.
func faultRefresh(t *testing.T, c *cell) {
	w := c.w
	b, first := w.Visitor(t)
	w.DropCookie(b, "DS") // what the browser does once DS's Max-Age has passed
	jar := w.Jar(b)
	c.arm()
	p := w.Get(t, b, "/")
	c.disarm(t)
	if p.Status != http.StatusOK || p.UserID != first.UserID || !p.Degraded || p.New {
		t.Errorf("want the same user, degraded: %+v (first %s)", p, first.UserID)
	}
	if len(p.SetCookie) != 0 || !maps.Equal(w.Jar(b), jar) {
		t.Errorf("cookies changed during the outage: Set-Cookie %v", p.SetCookie)
	}
	if n := w.Emu.Requests("/v1/mgmt/user/create"); n != 0 {
		t.Errorf("the outage provisioned %d users", n)
	}
	c.bounded(t, p.Took, 1)
	c.hookSawUnavailable(t)
	c.calls(t, 1)
	w.Clock.Advance(2100 * time.Millisecond) // the middleware remembers a failed refresh for 2 s
	again := w.Get(t, b, "/")
	if again.UserID != first.UserID || !again.Refreshed || !anontest.HasCookie(again.SetCookie, "DS") {
		t.Errorf("after recovery: %+v", again)
	}
}

// Conversion start: the call fails with ErrUnavailable (503), no code is
// sent, nothing of the user or the cookies changes, and a later attempt
// converts.
func faultConvertStart(t *testing.T, c *cell) {
	w := c.w
	b, first := w.Visitor(t)
	const addr = "start@example.com"
	jar, before := w.Jar(b), anontest.StateOf(w.Emu, first.UserID)
	c.arm()
	p := w.Start(t, b, addr)
	c.disarm(t)
	c.conversionUnavailable(t, "StartConversion", p, b, jar)
	if after := anontest.StateOf(w.Emu, first.UserID); !after.Equal(before) {
		t.Errorf("user changed by a failed start: %+v, was %+v", after, before)
	}
	if _, sent := w.Emu.Outbox(addr); sent && c.kind != "latency" {
		// Under latency Descope sends the code after the middleware gave
		// up; the visitor just asks again.
		t.Error("a code was sent although the start failed")
	}
	c.bounded(t, p.Took, 1)
	c.calls(t, 2)
	if p := w.Start(t, b, addr); p.Status != http.StatusOK {
		t.Fatalf("start after recovery: %d %v", p.Status, w.Convs.All())
	}
	code, _ := w.Emu.Outbox(addr)
	if p := w.Verify(t, b, addr, code); p.Status != http.StatusOK || p.UserID != first.UserID || p.Anonymous {
		t.Errorf("verify after recovery: %+v %v", p, w.Convs.All())
	}
}

// Conversion verify: the call fails with ErrUnavailable and leaves the
// visitor's cookies alone; the user is untouched (the code was not checked)
// or verified but unfinished, and retrying with the same address and code
// completes the conversion.
func faultConvertVerify(t *testing.T, c *cell) {
	w := c.w
	b, first := w.Visitor(t)
	const addr = "verify@example.com"
	if p := w.Start(t, b, addr); p.Status != http.StatusOK {
		t.Fatalf("start: %d %v", p.Status, w.Convs.All())
	}
	code, _ := w.Emu.Outbox(addr)
	jar, before := w.Jar(b), anontest.StateOf(w.Emu, first.UserID)
	c.arm()
	p := w.Verify(t, b, addr, code)
	c.disarm(t)
	c.conversionUnavailable(t, "FinishConversion", p, b, jar)
	c.bounded(t, p.Took, 2) // FinishConversion's deadline is twice the timeout
	c.calls(t, 1)
	// Untouched, or the address verified and the rest to resume. A fault
	// on the verify call itself leaves the user untouched, except under
	// latency, where Descope checks the code after the middleware gave up.
	mid := anontest.StateOf(w.Emu, first.UserID)
	untouched := mid.Equal(before)
	verified := slices.Contains(mid.LoginIDs, addr) && mid.VerifiedEmail
	switch {
	case c.label == "otp-verify-email" && c.kind != "latency" && !untouched:
		t.Errorf("user changed although the code was never checked: %+v", mid)
	case !untouched && !verified:
		t.Errorf("user half-converted: %+v, was %+v", mid, before)
	case c.label != "otp-verify-email" && !verified:
		t.Errorf("want the address verified before %s: %+v", c.label, mid)
	}
	// The visitor is still who it was, and its refresh token still works.
	if me := w.Get(t, b, "/"); me.UserID != first.UserID || me.New {
		t.Errorf("visitor after the failed verify: %+v", me)
	}
	if _, _, err := w.SDK.Auth.RefreshSessionWithToken(context.Background(), jar["DSR"]); err != nil {
		t.Errorf("refresh token unusable after the failed verify: %v", err)
	}
	done := w.Verify(t, b, addr, code)
	if done.Status != http.StatusOK || done.UserID != first.UserID || done.Anonymous {
		t.Fatalf("retry of the verify: %+v %v", done, w.Convs.All())
	}
	if !anontest.HasCookie(done.SetCookie, "DS") || !anontest.HasCookie(done.SetCookie, "DSR") {
		t.Errorf("retry did not issue a fresh pair: %v", done.SetCookie)
	}
	if end := anontest.StateOf(w.Emu, first.UserID); !slices.Equal(end.LoginIDs, []string{addr}) || len(end.Tenants) != 0 || !end.VerifiedEmail {
		t.Errorf("after the retry: %+v", end)
	}
	if _, _, err := w.SDK.Auth.RefreshSessionWithToken(context.Background(), jar["DSR"]); err == nil {
		t.Error("the anonymous refresh token still works after conversion")
	}
}

// cullSeed makes 5 stale anonymous users and 3 to keep (a fresh one, a
// converted one still in the tenant, a regular one) in w's anonymous tenant.
func cullSeed(t *testing.T, w *anontest.Env) (stale, keep []string) {
	t.Helper()
	ctx := context.Background()
	ts, err := w.SDK.Management.Tenant().LoadAll(ctx)
	if err != nil || len(ts) != 1 {
		t.Fatalf("tenants %v %v", ts, err)
	}
	in := []*descope.AssociatedTenant{{TenantID: ts[0].ID}}
	yes := true
	create := func(age time.Duration, u *descope.BatchUser) string {
		res, err := w.SDK.Management.User().CreateBatch(ctx, []*descope.BatchUser{u})
		if err != nil || len(res.CreatedUsers) != 1 {
			t.Fatalf("seed: %v %v", err, res)
		}
		id := res.CreatedUsers[0].UserID
		if err := w.Emu.SetUserCreatedTime(id, time.Now().Add(-age)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for range 5 {
		stale = append(stale, create(2*time.Hour, &descope.BatchUser{LoginID: anonymous.NewLoginID(), UserRequest: descope.UserRequest{Tenants: in}}))
	}
	keep = append(keep,
		create(time.Minute, &descope.BatchUser{LoginID: anonymous.NewLoginID(), UserRequest: descope.UserRequest{Tenants: in}}),
		create(2*time.Hour, &descope.BatchUser{LoginID: "half@example.com", UserRequest: descope.UserRequest{
			User: descope.User{Email: "half@example.com"}, VerifiedEmail: &yes, Tenants: in, AdditionalLoginIDs: []string{anonymous.NewLoginID()}}}),
		create(2*time.Hour, &descope.BatchUser{LoginID: "reg@example.com", UserRequest: descope.UserRequest{User: descope.User{Email: "reg@example.com"}}}),
	)
	return stale, keep
}

// cullUnderFault runs Cull with one retry on a clock only its waits move;
// under latency the caller's deadline is the timeout, as a scheduled job
// would set one.
func cullUnderFault(t *testing.T, c *cell) (*anonymous.CullReport, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if c.fault.Latency > 0 {
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), faultTimeout)
	}
	defer cancel()
	clock := newCullClock()
	c.arm()
	start := time.Now()
	rep, err := anonymous.Cull(ctx, c.w.SDK, clock.options(anonymous.CullOptions{OlderThan: time.Hour, MaxRetries: 1}))
	took := time.Since(start)
	c.disarm(t)
	if rep == nil {
		t.Fatalf("Cull returned no report: %v", err)
	}
	waits := clock.took()
	switch c.kind {
	case "latency":
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Cull under latency: %v, want the caller's deadline", err)
		}
		if len(waits) != 0 {
			t.Errorf("Cull under latency waited %v past the caller's deadline", waits)
		}
		c.bounded(t, took, 1)
		c.calls(t, 1)
	default:
		want := 200 * time.Millisecond // the first backoff after a transient failure
		if c.kind == "429" {
			want = time.Duration(c.fault.RetryAfter) * time.Second
		}
		// A search is retried once; the load and the delete once for each
		// of the 5 stale users.
		n := 1
		if c.path != "/v2/mgmt/user/search" {
			n = 5
		}
		if took > 2*time.Second || rep.Retries != n || !slices.Equal(waits, slices.Repeat([]time.Duration{want}, n)) {
			t.Errorf("Cull after %s: took %v, %d retries, waited %v, want %d waits of %v", c.kind, took, rep.Retries, waits, n, want)
		}
		calls := 2 * n
		if c.path == "/v1/mgmt/user" && c.kind == "drop" {
			calls *= 2 // Go's transport may resend a dropped GET once
		}
		c.calls(t, calls)
	}
	return rep, err
}

// cullRecovers checks that, the fault gone, Cull deletes exactly the stale
// users.
func cullRecovers(t *testing.T, w *anontest.Env, stale, keep []string) {
	t.Helper()
	left := existing(w.Emu, stale)
	rep, err := anonymous.Cull(context.Background(), w.SDK, anonymous.CullOptions{OlderThan: time.Hour})
	if err != nil || rep.Deleted != left || existing(w.Emu, stale) != 0 || existing(w.Emu, keep) != len(keep) {
		t.Errorf("cull after recovery: %+v, %v", rep, err)
	}
}

// Cull search: the run stops with an error, deleting nothing.
func faultCullSearch(t *testing.T, c *cell) {
	stale, keep := cullSeed(t, c.w)
	rep, err := cullUnderFault(t, c)
	if err == nil || rep.Deleted != 0 || existing(c.w.Emu, stale) != len(stale) || existing(c.w.Emu, keep) != len(keep) {
		t.Errorf("search fault: %+v, %v", rep, err)
	}
	cullRecovers(t, c.w, stale, keep)
}

// Cull load, the last check before each delete: every stale user is
// reported failed (or the deadline stops the run), and none is deleted: no
// delete goes out without its check.
func faultCullLoad(t *testing.T, c *cell) {
	stale, keep := cullSeed(t, c.w)
	rep, err := cullUnderFault(t, c)
	if existing(c.w.Emu, stale) != len(stale) || existing(c.w.Emu, keep) != len(keep) || rep.Deleted != 0 || rep.DeleteCalls != 0 {
		t.Errorf("load fault: %+v, %v; %d of %d stale users left", rep, err, existing(c.w.Emu, stale), len(stale))
	}
	if c.kind != "latency" && (err != nil || rep.Failed != len(stale)) {
		t.Errorf("load fault: want every stale user reported failed: %+v, %v", rep, err)
	}
	cullRecovers(t, c.w, stale, keep)
}

// Cull delete: each stale user's delete is reported failed (or the deadline
// stops the run) and no user to keep is deleted. Under latency Descope
// carries out the delete after the caller gave up: the stale user may be
// gone, though the report cannot count it.
func faultCullDelete(t *testing.T, c *cell) {
	stale, keep := cullSeed(t, c.w)
	rep, err := cullUnderFault(t, c)
	if existing(c.w.Emu, keep) != len(keep) || rep.Deleted != 0 {
		t.Errorf("delete fault: %+v, %d of %d users to keep left", rep, existing(c.w.Emu, keep), len(keep))
	}
	if c.kind != "latency" && existing(c.w.Emu, stale) != len(stale) {
		t.Errorf("a failed delete deleted users: %+v", rep)
	}
	if c.kind != "latency" && (err != nil || rep.Failed != len(stale)) {
		t.Errorf("delete fault: want every stale user reported failed: %+v, %v", rep, err)
	}
	cullRecovers(t, c.w, stale, keep)
}

// Key fetch: a fresh middleware that never fetched Descope's keys meets a
// visitor with valid cookies. The visitor is served without a user, its
// cookies stay, and nothing is provisioned; once the keys can be fetched it
// is recognised.
func faultKeyFetch(t *testing.T, c *cell) {
	w := c.w
	b, first := w.Visitor(t)
	fresh := w.Sibling(t)
	jar := w.Jar(b)
	c.arm()
	p := fresh.Get(t, b, "/")
	c.disarm(t)
	if p.Status != http.StatusOK || p.UserID != "" {
		t.Errorf("want the request served without a user: %+v", p)
	}
	if len(p.SetCookie) != 0 || !maps.Equal(w.Jar(b), jar) {
		t.Errorf("cookies changed: %v", p.SetCookie)
	}
	if n := w.Emu.Requests("/v1/mgmt/user/create"); n != 0 {
		t.Errorf("provisioned %d users for a visitor with valid cookies", n)
	}
	c.bounded(t, p.Took, 2) // the session then the refresh token each wait for the keys
	c.hookSawUnavailable(t)
	c.calls(t, 4)
	again := fresh.Get(t, b, "/")
	if again.UserID != first.UserID || again.New || len(again.SetCookie) != 0 {
		t.Errorf("after recovery: %+v", again)
	}
}

// Cull's error after a transient failure wraps ErrUnavailable, as the
// errors' documentation says of every error the library returns, so a
// scheduler can tell an outage from a misconfiguration.
func TestCullErrorWrapsUnavailable(t *testing.T) {
	w := newWorld(t, nil)
	stale, keep := cullSeed(t, w)
	w.Emu.InjectFault("/v2/mgmt/user/search", descopetest.Fault{Status: http.StatusBadGateway})
	rep, err := anonymous.Cull(context.Background(), w.SDK, newCullClock().options(anonymous.CullOptions{OlderThan: time.Hour, MaxRetries: 1}))
	w.Emu.ClearFaults()
	if err == nil || rep.Deleted != 0 || existing(w.Emu, stale)+existing(w.Emu, keep) != len(stale)+len(keep) {
		t.Fatalf("cull during a search outage: %+v, %v", rep, err)
	}
	if !errors.Is(err, anonymous.ErrUnavailable) {
		t.Errorf("BUG: Cull's error after a 502 does not wrap ErrUnavailable: %v", err)
	}
	if descope.AsError(err) == nil {
		t.Errorf("Cull's error does not reach the *descope.Error: %v", err)
	}
}

// The conversion handlers report their errors to the error hook, as
// WithErrorHandler's documentation says ("and on conversion handler
// errors").
func TestConvertHandlerErrorsReachHook(t *testing.T) {
	w := newWorld(t, nil)
	b, _ := w.Visitor(t)
	w.Hooks.Reset()
	w.Emu.InjectFault("/v1/auth/otp/update/email", descopetest.Fault{Status: http.StatusBadGateway})
	p := w.Do(t, b, http.MethodPost, "/convert/start", nil, func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(`{"email":"hook@example.com"}`))
		r.Header.Set("Content-Type", "application/json")
	})

	w.Emu.ClearFaults()
	if p.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", p.Status)
	}
	if errs := w.Hooks.All(); !anontest.AllUnavailable(errs) {
		t.Errorf("BUG: the error hook saw %v after a conversion handler failed with ErrUnavailable", errs)
	}
}

// A refresh remembered for the grace period is reused only while the session
// it produced is still valid: a session shorter than the grace must not be
// handed out again once expired.
func TestRefreshGraceServesOnlyLiveSessions(t *testing.T) {
	// Session tokens expire at a whole second (iat is in whole seconds, as
	// Descope's is): one issued in the last instants of a second would have
	// expired by the time the middleware checks it. Start early in a second;
	// the second refresh comes right after an expiry, early in one too.
	if into := time.Duration(time.Now().Nanosecond()); into > 500*time.Millisecond {
		time.Sleep(time.Second - into)
	}
	w := newWorld(t, nil, anonymous.WithSessionTTL(time.Second))
	b, first := w.Visitor(t)
	sessionOf := func(p anontest.Me) (string, int64) {
		for _, c := range p.SetCookie {
			if c.Name == "DS" {
				exp, _ := claimsOf(t, c.Value)["exp"].(float64)
				return c.Value, int64(exp)
			}
		}
		return "", 0
	}
	w.DropCookie(b, "DS")
	p := w.Get(t, b, "/")
	ds, exp := sessionOf(p)
	if !p.Refreshed || p.UserID != first.UserID || ds == "" {
		t.Fatalf("first refresh: %+v", p)
	}
	time.Sleep(time.Until(time.Unix(exp, 0)) + 100*time.Millisecond)
	w.DropCookie(b, "DS")
	w.Emu.ResetRequests()
	p = w.Get(t, b, "/")
	ds2, exp2 := sessionOf(p)
	if p.UserID != first.UserID || ds2 == "" {
		t.Fatalf("second refresh: %+v", p)
	}
	if now := time.Now().Unix(); exp2 <= now || ds2 == ds {
		t.Errorf("BUG: the refresh grace handed out the session token that expired at %d (now %d) again", exp2, now)
	}
	if n := w.Emu.Requests("/v1/auth/refresh"); n != 1 {
		t.Errorf("%d refresh calls for an expired session, want 1", n)
	}
}

// A conversion that failed half-way is resumable even after the visitor's
// session was refreshed in between (as it is within minutes): the refreshed
// session no longer says anonymous once the user left the anonymous tenant,
// and the retry must still finish the conversion (drop the generated login
// ID, issue a fresh pair, revoke the anonymous refresh token).
func TestConvertResumesAfterRefresh(t *testing.T) {
	for _, call := range []faultCall{
		{"tenant-remove", "/v1/mgmt/user/update/tenant/remove"},
		{"loginid-update", "/v1/mgmt/user/update/loginid"},
		{"signin", "/v1/mgmt/auth/signin"},
	} {
		t.Run(call.label, func(t *testing.T) {
			w := newWorld(t, nil)
			b, first := w.Visitor(t)
			const addr = "later@example.com"
			if p := w.Start(t, b, addr); p.Status != http.StatusOK {
				t.Fatalf("start: %d", p.Status)
			}
			code, _ := w.Emu.Outbox(addr)
			oldDSR := w.Jar(b)["DSR"]
			w.Emu.InjectFault(call.path, descopetest.Fault{Status: http.StatusBadGateway})
			if p := w.Verify(t, b, addr, code); p.Status != http.StatusServiceUnavailable {
				t.Fatalf("verify during the fault: %d", p.Status)
			}
			w.Emu.ClearFaults()
			w.DropCookie(b, "DS") // the session expires before the visitor retries
			if me := w.Get(t, b, "/"); me.UserID != first.UserID || !me.Refreshed {
				t.Fatalf("refresh in between: %+v", me)
			}
			w.Convs.Reset()
			done := w.Verify(t, b, addr, code)
			if done.Status != http.StatusOK || done.UserID != first.UserID || done.Anonymous {
				t.Errorf("BUG: retry after a refresh: %d %v (the conversion can no longer be finished)", done.Status, w.Convs.All())
			}
			end := anontest.StateOf(w.Emu, first.UserID)
			if !slices.Equal(end.LoginIDs, []string{addr}) || len(end.Tenants) != 0 || !end.VerifiedEmail {
				t.Errorf("left half-converted: %+v", end)
			}
			if _, _, err := w.SDK.Auth.RefreshSessionWithToken(context.Background(), oldDSR); err == nil {
				t.Error("the anonymous refresh token still works")
			}
		})
	}
}

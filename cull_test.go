package anonymous_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// cullWorld is an emulator whose anonymous tenant has a one-hour lifetime.
type cullWorld struct {
	emu    *descopetest.Emulator
	c      *client.DescopeClient
	tenant string
}

func newCullWorld(t testing.TB) *cullWorld {
	t.Helper()
	emu := descopetest.New()
	t.Cleanup(emu.Close)
	c := emu.MustClient(t)
	m, err := anonymous.New(c, anonymous.WithLifetime(time.Hour), anonymous.WithSessionTTL(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts, err := c.Management.Tenant().LoadAll(context.Background())
	if err != nil || len(ts) != 1 {
		t.Fatalf("tenants %v %v", ts, err)
	}
	return &cullWorld{emu: emu, c: c, tenant: ts[0].ID}
}

// seed creates users in batches and backdates them by age.
func (w *cullWorld) seed(t testing.TB, age time.Duration, users ...*descope.BatchUser) []string {
	t.Helper()
	var ids []string
	for len(users) > 0 {
		n := min(len(users), 500)
		res, err := w.c.Management.User().CreateBatch(context.Background(), users[:n])
		if err != nil || len(res.FailedUsers) > 0 {
			t.Fatalf("seed: %v %v", err, res)
		}
		for _, u := range res.CreatedUsers {
			ids = append(ids, u.UserID)
			if err := w.emu.SetUserCreatedTime(u.UserID, time.Now().Add(-age)); err != nil {
				t.Fatal(err)
			}
		}
		users = users[n:]
	}
	return ids
}

func (w *cullWorld) anon(n int) []*descope.BatchUser {
	us := make([]*descope.BatchUser, n)
	for i := range us {
		us[i] = &descope.BatchUser{LoginID: anonymous.NewLoginID(), UserRequest: descope.UserRequest{
			Tenants: []*descope.AssociatedTenant{{TenantID: w.tenant}},
		}}
	}
	return us
}

func TestCullDeletesOnlyStaleAnonymousUsers(t *testing.T) {
	w := newCullWorld(t)
	yes := true
	stale := w.seed(t, 2*time.Hour, w.anon(7)...)
	fresh := w.seed(t, 10*time.Minute, w.anon(3)...)
	inTenant := []*descope.AssociatedTenant{{TenantID: w.tenant}}
	keep := w.seed(t, 2*time.Hour,
		// converted: left the tenant
		&descope.BatchUser{LoginID: "conv@example.com", UserRequest: descope.UserRequest{User: descope.User{Email: "conv@example.com"}, VerifiedEmail: &yes}},
		// converted, but the move out of the tenant failed half-way
		&descope.BatchUser{LoginID: "half@example.com", UserRequest: descope.UserRequest{User: descope.User{Email: "half@example.com"}, VerifiedEmail: &yes, Tenants: inTenant, AdditionalLoginIDs: []string{anonymous.NewLoginID()}}},
		// verified phone, generated login ID kept
		&descope.BatchUser{LoginID: anonymous.NewLoginID(), UserRequest: descope.UserRequest{User: descope.User{Phone: "+14155550100"}, VerifiedPhone: &yes, Tenants: inTenant}},
		// in the tenant with a login ID a person chose
		&descope.BatchUser{LoginID: "chosen-name", UserRequest: descope.UserRequest{Tenants: inTenant}},
		// unverified email set by an admin
		&descope.BatchUser{LoginID: anonymous.NewLoginID(), UserRequest: descope.UserRequest{User: descope.User{Email: "x@example.com"}, Tenants: inTenant}},
		// a regular user
		&descope.BatchUser{LoginID: "reg@example.com", UserRequest: descope.UserRequest{User: descope.User{Email: "reg@example.com"}}},
	)
	ctx := context.Background()

	dry, err := anonymous.Cull(ctx, w.c, anonymous.CullOptions{DryRun: true, BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Deleted != 7 || dry.DeleteCalls != 0 || existing(w.emu, stale) != 7 {
		t.Fatalf("dry run: %+v", dry)
	}

	var progress []anonymous.CullReport
	rep, err := anonymous.Cull(ctx, w.c, anonymous.CullOptions{BatchSize: 3, Progress: func(r anonymous.CullReport) { progress = append(progress, r) }})
	if err != nil {
		t.Fatal(err)
	}
	if existing(w.emu, stale) != 0 || existing(w.emu, fresh) != 3 || existing(w.emu, keep) != len(keep) {
		t.Fatalf("after cull: stale %d fresh %d keep %d/%d", existing(w.emu, stale), existing(w.emu, fresh), existing(w.emu, keep), len(keep))
	}
	want := map[anonymous.SkipReason]int{anonymous.SkipVerified: 2, anonymous.SkipChosenLoginID: 1, anonymous.SkipHasAddress: 1}
	if rep.Deleted != 7 || rep.Scanned != 11 || rep.Failed != 0 || len(rep.Skipped) != len(want) {
		t.Errorf("report %+v", rep)
	}
	for k, v := range want {
		if rep.Skipped[k] != v {
			t.Errorf("skipped %q: %d, want %d", k, rep.Skipped[k], v)
		}
	}
	if len(progress) == 0 || progress[len(progress)-1].Deleted != 7 {
		t.Errorf("progress %+v", progress)
	}
	again, err := anonymous.Cull(ctx, w.c, anonymous.CullOptions{})
	if err != nil || again.Deleted != 0 || again.Scanned != 4 {
		t.Errorf("second run: %+v, %v", again, err)
	}
}

func TestCullTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 users")
	}
	w := newCullWorld(t)
	ids := w.seed(t, 2*time.Hour, w.anon(10000)...)
	w.emu.ResetRequests()
	var base, peak runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	clock := newCullClock()
	rep, err := anonymous.Cull(context.Background(), w.c, clock.options(anonymous.CullOptions{
		BatchSize: 100,
		Progress: func(anonymous.CullReport) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.HeapInuse {
				peak = m
			}
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 10000 || existing(w.emu, ids) != 0 {
		t.Fatalf("report %+v", rep)
	}
	// 100 full pages and one empty one; a load and a delete per user.
	if rep.SearchCalls != 101 || rep.LoadCalls != 10000 || rep.DeleteCalls != 10000 ||
		w.emu.Requests("/v2/mgmt/user/search") != 101 || w.emu.Requests("/v1/mgmt/user") != 10000 ||
		w.emu.Requests("/v1/mgmt/user/delete/batch") != 10000 {
		t.Errorf("calls: report %d/%d/%d, emulator %d/%d/%d", rep.SearchCalls, rep.LoadCalls, rep.DeleteCalls,
			w.emu.Requests("/v2/mgmt/user/search"), w.emu.Requests("/v1/mgmt/user"), w.emu.Requests("/v1/mgmt/user/delete/batch"))
	}
	// Paced under Descope's 500 user calls a minute: 20,000 calls at the
	// default 400 a minute take 49 minutes at least on the cull's clock.
	var waited time.Duration
	for _, d := range clock.took() {
		waited += d
	}
	if waited < 49*time.Minute || waited > 51*time.Minute {
		t.Errorf("the pacing waited %v for 20,000 user calls at 400 a minute", waited)
	}
	grown := int64(peak.HeapInuse) - int64(base.HeapInuse)
	t.Logf("heap in use grew by %d KiB at most during the cull", grown>>10)
	if grown > 64<<20 {
		t.Errorf("heap grew by %d MiB", grown>>20)
	}
}

func TestCullSurvivesFaults(t *testing.T) {
	w := newCullWorld(t)
	yes := true
	stale := w.seed(t, 2*time.Hour, w.anon(6)...)
	keep := w.seed(t, 2*time.Hour, &descope.BatchUser{LoginID: "half@example.com", UserRequest: descope.UserRequest{
		User: descope.User{Email: "half@example.com"}, VerifiedEmail: &yes,
		Tenants: []*descope.AssociatedTenant{{TenantID: w.tenant}}, AdditionalLoginIDs: []string{anonymous.NewLoginID()},
	}})
	ctx := context.Background()

	clock := newCullClock()
	backoff := []time.Duration{200 * time.Millisecond} // a transient failure's first backoff

	w.emu.InjectFault("/v2/mgmt/user/search", descopetest.Fault{Status: 429, RetryAfter: 1, Times: 1})
	w.emu.InjectFault("/v1/mgmt/user/delete/batch", descopetest.Fault{Status: 500, Times: 1})
	rep, err := anonymous.Cull(ctx, w.c, clock.options(anonymous.CullOptions{BatchSize: 4}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 6 || rep.Retries != 2 || existing(w.emu, stale) != 0 || existing(w.emu, keep) != 1 {
		t.Errorf("after transient faults: %+v", rep)
	}
	if waits := clock.took(); !slices.Equal(waits, []time.Duration{time.Second, 200 * time.Millisecond}) {
		t.Errorf("waited %v, want Retry-After (1s) after the 429, then the backoff (200ms) after the 500", waits)
	}

	// A delete that keeps failing is reported, and nothing else is touched.
	more := w.seed(t, 2*time.Hour, w.anon(3)...)
	w.emu.InjectFault("/v1/mgmt/user/delete/batch", descopetest.Fault{Status: 502})
	rep, err = anonymous.Cull(ctx, w.c, clock.options(anonymous.CullOptions{MaxRetries: 1}))
	w.emu.ClearFaults()
	if err != nil || rep.Failed != 3 || rep.Deleted != 0 || existing(w.emu, more) != 3 || existing(w.emu, keep) != 1 {
		t.Errorf("persistent delete fault: %+v, %v", rep, err)
	}
	if waits, want := clock.took(), slices.Repeat(backoff, 3); !slices.Equal(waits, want) {
		t.Errorf("persistent delete fault: waited %v, want %v (one retry a user)", waits, want)
	}
	// A search that keeps failing stops the run with an error.
	w.emu.InjectFault("/v2/mgmt/user/search", descopetest.Fault{Status: 500})
	rep, err = anonymous.Cull(ctx, w.c, clock.options(anonymous.CullOptions{MaxRetries: 1}))
	w.emu.ClearFaults()
	if err == nil || rep.Deleted != 0 || existing(w.emu, more) != 3 {
		t.Errorf("persistent search fault: %+v, %v", rep, err)
	}
	if waits := clock.took(); !slices.Equal(waits, backoff) {
		t.Errorf("persistent search fault: waited %v, want %v", waits, backoff)
	}
}

// Cull paces its calls on its clock: at most SearchesPerMinute searches and
// DeletesPerMinute deletes in any sliding minute, a call waiting for the
// oldest one of its window to leave it. Each batch (a search, then a delete
// of its 2 users) moves the clock 10 s on; the fifth search finds none left.
func TestCullPacesCalls(t *testing.T) {
	for _, tc := range []struct {
		name              string
		searches, deletes int
		want              []time.Duration
	}{
		// Search 3 (at 20 s) waits for search 1 (at 0 s) until 60 s;
		// search 5 (at 80 s) for search 3 until 120 s.
		{"searches", 2, 100, []time.Duration{40 * time.Second, 40 * time.Second}},
		// A batch's two users take four user calls (a load and a delete
		// each), all a minute allows: every batch after the first waits a
		// minute from the one before, which the batch's 10 s already took
		// off, before its first load.
		{"deletes", 5, 4, []time.Duration{50 * time.Second, 50 * time.Second, 50 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newCullWorld(t)
			ids := w.seed(t, 2*time.Hour, w.anon(8)...)
			clock := newCullClock()
			rep, err := anonymous.Cull(context.Background(), w.c, clock.options(anonymous.CullOptions{
				BatchSize: 2, SearchesPerMinute: tc.searches, DeletesPerMinute: tc.deletes,
				Progress: func(anonymous.CullReport) { clock.advance(10 * time.Second) },
			}))
			if err != nil || rep.Deleted != 8 || existing(w.emu, ids) != 0 || rep.SearchCalls != 5 || rep.LoadCalls != 8 || rep.DeleteCalls != 8 {
				t.Fatalf("paced cull: %+v, %v", rep, err)
			}
			if waits := clock.took(); !slices.Equal(waits, tc.want) {
				t.Errorf("waited %v, want %v", waits, tc.want)
			}
		})
	}
}

func TestCullStopsOnCancel(t *testing.T) {
	w := newCullWorld(t)
	w.seed(t, 2*time.Hour, w.anon(10)...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := anonymous.Cull(ctx, w.c, anonymous.CullOptions{BatchSize: 4, Progress: func(anonymous.CullReport) { cancel() }})
	if !errors.Is(err, context.Canceled) || rep.Deleted != 4 || w.emu.UserCount() != 6 {
		t.Errorf("cancelled cull: %+v, %v, %d users left", rep, err, w.emu.UserCount())
	}
}

func TestCullOptionsAndTenant(t *testing.T) {
	w := newCullWorld(t)
	ctx := context.Background()
	if _, err := anonymous.Cull(ctx, w.c, anonymous.CullOptions{BatchSize: 5000}); err == nil {
		t.Error("batch 5000 accepted")
	}
	if _, err := anonymous.Cull(ctx, w.c, anonymous.CullOptions{TenantName: "No Such Tenant"}); err == nil {
		t.Error("missing tenant accepted")
	}
	rep, err := anonymous.Cull(ctx, w.c, anonymous.CullOptions{TenantID: w.tenant, OlderThan: 30 * time.Minute, DryRun: true})
	if err != nil || rep.TenantID != w.tenant || time.Since(rep.Cutoff) < 29*time.Minute {
		t.Errorf("by ID: %+v, %v", rep, err)
	}
	if _, err := anonymous.Cull(ctx, nil, anonymous.CullOptions{}); err == nil {
		t.Error("nil client accepted")
	}
}

// Cull pages by creation time (sorted, keyset), so kept users between stale
// ones, many users created in one second, and more than three pages all come
// out exactly right, in a dry run and in a real one.
func TestCullKeysetPagingOverManyPages(t *testing.T) {
	w := newCullWorld(t)
	var stale, kept []string
	for i := range 7 {
		age := 2*time.Hour + time.Duration(i)*time.Minute
		// 60 stale users in one second, then kept ones of the same second:
		// a user with a verified email, and one with a chosen login ID.
		stale = append(stale, w.seed(t, age, w.anon(60)...)...)
		kept = append(kept, w.seed(t, age,
			&descope.BatchUser{LoginID: fmt.Sprintf("kept%d@example.com", i), UserRequest: descope.UserRequest{
				User: descope.User{Email: fmt.Sprintf("kept%d@example.com", i)}, VerifiedEmail: ptr(true),
				Tenants: []*descope.AssociatedTenant{{TenantID: w.tenant}},
			}},
			&descope.BatchUser{LoginID: fmt.Sprintf("chosen-%d", i), UserRequest: descope.UserRequest{
				Tenants: []*descope.AssociatedTenant{{TenantID: w.tenant}},
			}})...)
	}
	recent := w.seed(t, time.Minute, w.anon(30)...)
	clock := newCullClock() // the pacing of 840 user calls waits on it
	for _, dry := range []bool{true, false} {
		rep, err := anonymous.Cull(context.Background(), w.c, clock.options(anonymous.CullOptions{BatchSize: 100, DryRun: dry}))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Deleted != len(stale) || rep.Scanned != len(stale)+len(kept) || rep.Failed != 0 {
			t.Errorf("dry run %v: %+v, want %d deleted of %d scanned", dry, rep, len(stale), len(stale)+len(kept))
		}
		if rep.SearchCalls < 5 {
			t.Errorf("dry run %v: %d searches for more than three pages", dry, rep.SearchCalls)
		}
	}
	if n := existing(w.emu, stale); n != 0 {
		t.Errorf("%d stale users left", n)
	}
	if n := existing(w.emu, kept); n != len(kept) {
		t.Errorf("%d of %d kept users deleted", len(kept)-n, len(kept))
	}
	if n := existing(w.emu, recent); n != len(recent) {
		t.Errorf("%d recent users deleted", len(recent)-n)
	}
}

func ptr[T any](v T) *T { return &v }

// cullClientAfter returns a Descope client for Cull on emu whose requests
// pass through a server of the test's: right after the first answer to path
// has been made, and before Cull receives it, after runs, once. A test stages
// with it what happens between two of Cull's calls.
func cullClientAfter(t *testing.T, emu *descopetest.Emulator, path string, after func()) *client.DescopeClient {
	t.Helper()
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		emu.Handler().ServeHTTP(rec, r)
		if r.URL.Path == path {
			once.Do(after)
		}
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	c, err := client.NewWithConfig(&client.Config{ProjectID: emu.ProjectID, ManagementKey: emu.ManagementKey, DescopeBaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A visitor that converts after Cull's search found it stale, and before
// Cull deletes it, is not deleted: Cull loads it again right before the
// delete and finds it changed. The usual stale user beside it is deleted.
func TestCullSparesUserConvertedAfterSearch(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil)
	b, id, code := env.AgedVisitor(t, "ada@example.com", 2*time.Hour)
	_, staleID, _ := env.AgedVisitor(t, "other@example.com", 2*time.Hour)
	var verified anontest.Me
	c := cullClientAfter(t, env.Emu, "/v2/mgmt/user/search", func() {
		verified = env.Verify(t, b, "ada@example.com", code)
	})
	rep, err := anonymous.Cull(context.Background(), c, anonymous.CullOptions{OlderThan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if verified.Status != http.StatusOK || verified.Anonymous {
		t.Fatalf("the conversion staged after the search: %+v", verified)
	}
	if u, ok := env.Emu.User(id); !ok || !slices.Contains(u.LoginIDs, "ada@example.com") {
		t.Errorf("the converted user was deleted: %+v, %v (report %+v)", u, ok, rep)
	}
	if _, ok := env.Emu.User(staleID); ok {
		t.Errorf("the stale user was kept: %+v", rep)
	}
	if rep.Deleted != 1 || rep.Skipped[anonymous.SkipChanged] != 1 || rep.LoadCalls != 2 || rep.DeleteCalls != 1 {
		t.Errorf("report %+v", rep)
	}
}

// A stale anonymous user that is also a member of another tenant is not
// anonymous: it is kept, whether the search or the last check shows it.
func TestCullKeepsMemberOfAnotherTenant(t *testing.T) {
	w := newCullWorld(t)
	ctx := context.Background()
	other, err := w.c.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Customers"})
	if err != nil {
		t.Fatal(err)
	}
	both := w.seed(t, 2*time.Hour, &descope.BatchUser{LoginID: anonymous.NewLoginID(), UserRequest: descope.UserRequest{
		Tenants: []*descope.AssociatedTenant{{TenantID: w.tenant}, {TenantID: other}},
	}})
	joins := w.seed(t, 2*time.Hour, w.anon(1)...)
	stale := w.seed(t, 2*time.Hour, w.anon(2)...)
	c := cullClientAfter(t, w.emu, "/v2/mgmt/user/search", func() {
		if _, err := w.c.Management.User().AddTenant(ctx, joins[0], other); err != nil {
			t.Error(err)
		}
	})
	rep, err := anonymous.Cull(ctx, c, anonymous.CullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if existing(w.emu, both) != 1 || existing(w.emu, joins) != 1 || existing(w.emu, stale) != 0 {
		t.Errorf("members of another tenant %d of 1 and %d of 1 kept, %d stale users left; report %+v",
			existing(w.emu, both), existing(w.emu, joins), existing(w.emu, stale), rep)
	}
	if rep.Skipped[anonymous.SkipOtherTenant] != 1 || rep.Skipped[anonymous.SkipChanged] != 1 || rep.Deleted != 2 {
		t.Errorf("report %+v", rep)
	}
}

// Whatever changed about a user between the search and its last check
// keeps it: its status, its login IDs; a user deleted meanwhile is
// reported gone, not deleted.
func TestCullRechecksEachUser(t *testing.T) {
	w := newCullWorld(t)
	ctx := context.Background()
	ids := w.seed(t, 2*time.Hour, w.anon(4)...)
	loginID := func(id string) string { u, _ := w.emu.User(id); return u.LoginIDs[0] }
	c := cullClientAfter(t, w.emu, "/v2/mgmt/user/search", func() {
		u := w.c.Management.User()
		if _, err := u.Deactivate(ctx, ids[0]); err != nil {
			t.Error(err)
		}
		if _, err := u.Update(ctx, loginID(ids[1]), &descope.UserRequest{
			Tenants: []*descope.AssociatedTenant{{TenantID: w.tenant}}, AdditionalLoginIDs: []string{anonymous.NewLoginID()},
		}); err != nil {
			t.Error(err)
		}
		if err := u.DeleteBatch(ctx, ids[2:3]); err != nil {
			t.Error(err)
		}
	})
	rep, err := anonymous.Cull(ctx, c, anonymous.CullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if existing(w.emu, ids[:2]) != 2 || existing(w.emu, ids[2:]) != 0 {
		t.Errorf("after the cull: %d of the 2 changed users, %d of the others left", existing(w.emu, ids[:2]), existing(w.emu, ids[2:]))
	}
	if rep.Skipped[anonymous.SkipChanged] != 2 || rep.Skipped[anonymous.SkipGone] != 1 || rep.Deleted != 1 || rep.Failed != 0 {
		t.Errorf("report %+v", rep)
	}
}

// With the middleware's store, Cull holds each user's conversion lock from
// its last check to its delete: a user whose conversion holds the lock is
// kept, a conversion that comes between Cull's check and its delete is
// refused (and cannot finish once the user is gone), and a store that fails
// stops the run before any delete.
func TestCullHoldsConversionLock(t *testing.T) {
	ctx := context.Background()
	t.Run("held by a conversion", func(t *testing.T) {
		st := anonymous.NewMemStore(time.Now)
		env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithStore(st))
		_, id, _ := env.AgedVisitor(t, "ada@example.com", 2*time.Hour)
		if ok, err := st.SetNX(ctx, "conv:lock:"+id, nil, time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		rep, err := anonymous.Cull(ctx, env.SDK, anonymous.CullOptions{OlderThan: time.Hour, Store: st})
		if _, ok := env.Emu.User(id); err != nil || !ok || rep.Skipped[anonymous.SkipConverting] != 1 {
			t.Errorf("cull while a conversion holds the lock: %+v, %v; user there: %v", rep, err, ok)
		}
		if ok, _ := st.SetNX(ctx, "conv:lock:"+id, nil, time.Minute); ok {
			t.Error("cull released a lock it did not take")
		}
		_ = st.Del(ctx, "conv:lock:"+id)
		rep, err = anonymous.Cull(ctx, env.SDK, anonymous.CullOptions{OlderThan: time.Hour, Store: st})
		if _, ok := env.Emu.User(id); err != nil || ok || rep.Deleted != 1 {
			t.Errorf("cull once the lock is free: %+v, %v; user there: %v", rep, err, ok)
		}
		if ok, _ := st.SetNX(ctx, "conv:lock:"+id, nil, time.Minute); !ok {
			t.Error("cull kept the lock after the delete")
		}
	})
	t.Run("conversion between check and delete", func(t *testing.T) {
		st := anonymous.NewMemStore(time.Now)
		env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithStore(st))
		b, id, code := env.AgedVisitor(t, "ada@example.com", 2*time.Hour)
		var during anontest.Me
		c := cullClientAfter(t, env.Emu, "/v1/mgmt/user", func() {
			during = env.Verify(t, b, "ada@example.com", code)
		})
		rep, err := anonymous.Cull(ctx, c, anonymous.CullOptions{OlderThan: time.Hour, Store: st})
		if err != nil || rep.Deleted != 1 {
			t.Fatalf("cull: %+v, %v", rep, err)
		}
		if during.Status != http.StatusConflict {
			t.Errorf("a conversion while cull held the lock: %+v, want 409", during)
		}
		if after := env.Verify(t, b, "ada@example.com", code); after.Status == http.StatusOK {
			t.Errorf("the conversion finished for a deleted user: %+v", after)
		}
		if _, ok := env.Emu.User("ada@example.com"); ok {
			t.Error("the address became a login ID")
		}
		if _, ok := env.Emu.User(id); ok {
			t.Error("the stale user was kept")
		}
	})
	t.Run("store fails", func(t *testing.T) {
		env := anontest.NewEnv(t, netHTTP, nil)
		_, id, _ := env.AgedVisitor(t, "ada@example.com", 2*time.Hour)
		rep, err := anonymous.Cull(ctx, env.SDK, anonymous.CullOptions{OlderThan: time.Hour, Store: failingStore{}})
		if _, ok := env.Emu.User(id); err == nil || !ok || rep.Deleted != 0 || rep.DeleteCalls != 0 {
			t.Errorf("cull with a failing store: %+v, %v; user there: %v", rep, err, ok)
		}
	})
}

// failingStore is a Store that fails every call (errStoreDown, of
// replicas_test.go).
type failingStore struct{}

func (failingStore) Incr(context.Context, string, int64, time.Duration) (int64, error) {
	return 0, errStoreDown
}
func (failingStore) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, errStoreDown
}
func (failingStore) Set(context.Context, string, []byte, time.Duration) error { return errStoreDown }
func (failingStore) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, errStoreDown
}
func (failingStore) Del(context.Context, string) error { return errStoreDown }

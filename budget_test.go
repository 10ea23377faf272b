package anonymous_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// The Descope calls a visitor, and a client, can cause through conversion
// are bounded: every limit is counted before Descope is asked anything, what
// a start learned is remembered for the verify, and a code Descope has
// locked is not tried again. The scenarios are anontest's; redisstore runs
// them on replicas sharing Redis.

// calm is the timeout of the tests that count answers: generous, since a
// call timed out on a busy machine would change one.
var calm = anonymous.WithTimeout(2 * time.Second)

// oneReplica is a fresh Env of strategy s, alone. Its timeout is generous:
// the scenarios count calls, and a call timed out on a busy machine would
// change an answer.
func oneReplica(s anonymous.Strategy) anontest.Replicas {
	return func(t *testing.T) []*anontest.Env {
		setup := worldSetup
		setup.Strategy, setup.Timeout = s, 2*time.Second
		return []*anontest.Env{anontest.NewEnvWith(t, setup, nil)}
	}
}

func TestConversionBudgetStart(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) { anontest.StartBudget(t, oneReplica(s)) })
	}
}

func TestConversionBudgetVerify(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) { anontest.VerifyBudget(t, oneReplica(s)) })
	}
}

// Two anonymous sessions flooding the start route with Descope's own rate
// limits on do not spend the project's management limit: a real visitor's
// start goes through afterwards, and the middleware stays healthy.
func TestConversionFloodLeavesDescopeLimits(t *testing.T) {
	w := newWorld(t, []descopetest.Option{descopetest.WithRateLimits()}, calm)
	attackers := make([]*http.Client, 2)
	for i := range attackers {
		attackers[i], _ = w.Visitor(t)
	}
	w.Emu.ResetRequests()
	for i := range 520 {
		w.Start(t, attackers[i%2], "victim@example.com")
	}
	c := anontest.CountCalls(w.Emu)
	t.Logf("520 starts from two sessions made %+v", c)
	// Each session's first start loads the user; each code costs an owner
	// lookup: 2 sessions × 5 codes.
	if c.Limited != 0 || c.Loads > 2+2*anontest.CodesPerVisitor {
		t.Errorf("520 starts from two sessions made %+v; want no 429 and at most %d loads", c, 2+2*anontest.CodesPerVisitor)
	}
	real, _ := w.Visitor(t)
	if st := w.Start(t, real, "real@example.com"); st.Status != http.StatusOK {
		t.Errorf("a real visitor's start after the flood: %+v (%v)", st, w.Convs.All())
	}
	if err := w.MW.Healthy(context.Background()); err != nil {
		t.Errorf("Healthy after the flood: %v", err)
	}
}

// Descope's rate limit (429) on one visitor's call fails that call (503) but
// is an answer, not an outage: Healthy stays nil, and Health reports it.
func TestHealthyIgnoresDescopeRateLimit(t *testing.T) {
	w := newWorld(t, nil, calm)
	b, _ := w.Visitor(t)
	w.Emu.InjectFault("/v1/mgmt/user", descopetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 30})
	if st := w.Start(t, b, "me@example.com"); st.Status != http.StatusServiceUnavailable {
		t.Errorf("start through Descope's 429: %+v", st)
	}
	if err := w.MW.Healthy(context.Background()); err != nil {
		t.Errorf("Healthy after a 429: %v", err)
	}
	r := w.MW.Health()
	if r.LastRateLimited.IsZero() || !r.LastFailure.IsZero() || r.LastAnswer.Before(r.LastRateLimited) {
		t.Errorf("Health after a 429: %+v", r)
	}
	// A failure to answer still counts.
	w.Emu.InjectFault("/v1/mgmt/user", descopetest.Fault{Status: http.StatusBadGateway})
	w.Start(t, b, "me@example.com")
	if err := w.MW.Healthy(context.Background()); !errors.Is(err, anonymous.ErrUnavailable) {
		t.Errorf("Healthy after a 502: %v", err)
	}
}

// Promotion provisions, so the provisioning limits count it before any
// call: a visitor whose promotions keep failing (the hook refuses) makes at
// most 3 calls a promotion (create, sign in, delete), and no more
// promotions than its client's provisioning limit allows.
func TestConversionBudgetPromote(t *testing.T) {
	const perClient = 10 // WithClientRateLimit's default, per minute
	setup := worldSetup
	setup.Strategy = anonymous.NativeTokens
	w := anontest.NewEnvWith(t, setup, nil, anonymous.WithClientRateLimit(perClient, time.Minute),
		anonymous.WithOnConvert(func(context.Context, string, *anonymous.User) error { return errors.New("refused") }))
	b, _ := w.Visitor(t) // its own provisioning takes one slot
	w.Emu.ResetRequests()
	ok := 0
	for range 30 {
		switch st := w.Post(t, b, "/x/promote", nil).Status; st {
		case http.StatusInternalServerError: // the hook's error
			ok++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("promotion answered %d", st)
		}
	}
	c := anontest.CountCalls(w.Emu)
	t.Logf("30 failing promotions of one visitor made %+v", c)
	if ok != perClient-1 || c.Total > 3*(perClient-1) {
		t.Errorf("%d promotions reached Descope with %+v; want %d, at most %d calls", ok, c, perClient-1, 3*(perClient-1))
	}
}

// WithConversionClientLimit sets the per-client limit, counted by the
// client key ([WithClientKey]); 0 turns it off.
func TestConversionClientLimitOption(t *testing.T) {
	byHeader := anonymous.WithClientKey(func(r *http.Request) string { return r.Header.Get("X-Client") })
	start := func(w *anontest.Env, client string, i int) anontest.Me {
		b, _ := w.Visitor(t)
		return w.Do(t, b, http.MethodPost, fmt.Sprintf("/x/start?addr=c%d@example.com", i), nil, func(r *http.Request) {
			r.Header.Set("X-Client", client)
		})
	}
	w := newWorld(t, nil, calm, byHeader, anonymous.WithConversionClientLimit(2))
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		if st := start(w, "a", i); st.Status != want {
			t.Errorf("start %d of client a: %d, want %d", i, st.Status, want)
		}
	}
	if errs := w.Convs.All(); len(errs) != 1 || !errors.Is(errs[0], anonymous.ErrTooManyCodes) || !strings.Contains(errs[0].Error(), "per client") {
		t.Errorf("refusal: %v", errs)
	}
	if st := start(w, "b", 3); st.Status != http.StatusOK {
		t.Errorf("start of client b: %d", st.Status)
	}
	off := newWorld(t, nil, calm, byHeader, anonymous.WithConversionClientLimit(0))
	for i := range anontest.PerClient + 5 {
		if st := start(off, "a", i); st.Status != http.StatusOK {
			t.Fatalf("start %d of one client with the limit off: %d", i, st.Status)
		}
	}
}

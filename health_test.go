package anonymous_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

func TestHealthy(t *testing.T) {
	ctx := context.Background()
	emu := descopetest.New(descopetest.WithSecondsUnit())
	t.Cleanup(emu.Close)
	clock := &anontest.Clock{}
	m, err := anonymous.New(emu.MustClient(t), anonymous.WithCookieSecure(false), anonymous.WithClock(clock.Now),
		anonymous.WithTokenCache(0, 0), anonymous.WithClientRateLimit(0, 0), anonymous.WithTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve := func(cookie string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
		r.Header.Set("User-Agent", "Mozilla/5.0")
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		w := anontest.NewNopWriter()
		h.ServeHTTP(w, r)
		return &http.Response{Header: w.H}
	}

	// Before the tenant is resolved: not ready, and nothing was asked yet.
	err = m.Healthy(ctx)
	if !errors.Is(err, anonymous.ErrUnavailable) || !strings.Contains(err.Error(), "not resolved") {
		t.Errorf("before Init: %v", err)
	}
	if r := m.Health(); r.TenantResolved || r.KeysLoaded || !r.LastAnswer.IsZero() || !r.LastFailure.IsZero() {
		t.Errorf("before Init: %+v", r)
	}

	// A failed tenant lookup is reported with its cause.
	emu.InjectFault("/v1/mgmt/tenant/search", descopetest.Fault{Status: http.StatusInternalServerError})
	if err := m.Init(ctx); err == nil {
		t.Fatal("Init succeeded during the fault")
	}
	if err := m.Healthy(ctx); err == nil || !strings.Contains(err.Error(), "not resolved") || !strings.Contains(err.Error(), "E011001") {
		t.Errorf("after a failed Init: %v", err)
	}
	emu.ClearFaults()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Healthy(ctx); err != nil {
		t.Errorf("after Init: %v", err)
	}
	r := m.Health()
	if !r.TenantResolved || r.KeysLoaded || r.LastAnswer.IsZero() || r.LastFailureCode != "E011001" {
		t.Errorf("after Init: %+v", r)
	}

	// Keys load with the first token verified.
	var ds string
	for _, c := range serve("").Cookies() {
		if c.Name == "DS" {
			ds = c.Value
		}
	}
	if m.Health().KeysLoaded {
		t.Error("keys loaded before any token was verified")
	}
	serve("DS=" + ds)
	if !m.Health().KeysLoaded {
		t.Error("keys not loaded after a token verified")
	}

	// Descope fails: not ready, until it answers again or the failure is
	// older than 30 s.
	emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusInternalServerError})
	serve("")
	err = m.Healthy(ctx)
	if !errors.Is(err, anonymous.ErrUnavailable) || !strings.Contains(err.Error(), "E011001") {
		t.Errorf("during an outage: %v", err)
	}
	clock.Advance(31 * time.Second)
	if err := m.Healthy(ctx); err != nil {
		t.Errorf("31 s after the last failure: %v", err)
	}
	serve("")
	if err := m.Healthy(ctx); err == nil {
		t.Error("healthy right after another failure")
	}
	emu.ClearFaults()
	serve("")
	if err := m.Healthy(ctx); err != nil {
		t.Errorf("after Descope answered again: %v", err)
	}

	// Descope's 429 on user create pauses provisioning: reported, and an
	// answer, not a failure: the limit is the project's, so no other
	// replica would fare better.
	emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 60, Times: 1})
	serve("")
	r = m.Health()
	if r.ProvisioningPausedUntil.IsZero() || r.LastRateLimited.IsZero() || r.LastFailureCode != "E011001" || r.LastFailure.After(r.LastRateLimited) {
		t.Errorf("after a 429: %+v", r)
	}
	if err := m.Healthy(ctx); err != nil {
		t.Errorf("after a 429: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Healthy(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: %v", err)
	}
}

// Healthy is cheap: no call to Descope, no allocation when healthy.
func TestHealthyIsCheap(t *testing.T) {
	w := newWorld(t, nil)
	w.Visitor(t)
	before := w.Emu.TotalRequests()
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if err := w.MW.Healthy(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Healthy allocates %v times", allocs)
	}
	if n := w.Emu.TotalRequests() - before; n != 0 {
		t.Errorf("Healthy made %d requests to Descope", n)
	}
}

// Every error the package returns starts with "anonymous: ", once, however
// many layers added what they were doing.
func TestErrorMessagesHaveOnePrefix(t *testing.T) {
	ctx := context.Background()
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "anonymous: ") || strings.Count(msg, "anonymous: ") != 1 ||
			strings.Count(msg, "descope unavailable") > 1 {
			t.Errorf("%s: %q", what, msg)
		}
	}
	w := newWorld(t, nil)
	fresh, err := anonymous.New(w.SDK, anonymous.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	w.Emu.InjectFault("/v1/mgmt/tenant/search", descopetest.Fault{Status: http.StatusInternalServerError})
	err = fresh.Init(ctx)
	check("Init", err)
	check("Healthy", fresh.Healthy(ctx))
	if !errors.Is(fresh.Healthy(ctx), anonymous.ErrUnavailable) || !errors.Is(err, anonymous.ErrUnavailable) {
		t.Errorf("Init %v, Healthy %v: want ErrUnavailable", err, fresh.Healthy(ctx))
	}
	w.Emu.ClearFaults()

	w.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusInternalServerError})
	w.Hooks.Reset()
	w.Get(t, w.Browser(t), "/")
	for _, err := range w.Hooks.All() {
		check("provisioning", err)
	}
	w.Emu.ClearFaults()

	b, _ := w.Visitor(t)
	w.Emu.InjectFault("/v1/auth/otp/update/email", descopetest.Fault{Status: http.StatusBadGateway})
	w.Convs.Reset()
	w.Start(t, b, "ada@example.com")
	for _, err := range w.Convs.All() {
		check("conversion", err)
	}
	w.Emu.ClearFaults()

	w.Emu.InjectFault("/v2/mgmt/user/search", descopetest.Fault{Status: http.StatusBadRequest})
	_, err = anonymous.Cull(ctx, w.SDK, anonymous.CullOptions{OlderThan: time.Hour})
	check("Cull", err)
	if n := len(w.Hooks.All()) + len(w.Convs.All()); n < 2 {
		t.Errorf("%d errors checked from the hook and the conversion", n)
	}
}

package anonymous_test

import (
	"context"
	"errors"
	"log/slog"
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

// Behaviour of real Descope, as its documents describe it (see the emulator's
// docs), that the library must survive.

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
	owner := registered(t, w, "owner@example.com")
	before := stateOf(w.Emu, owner.UserID)
	b, anon := w.Visitor(t)
	if st := w.Start(t, b, "owner@example.com"); st.Status != http.StatusOK {
		t.Fatalf("start: %+v", st)
	}
	code, _ := w.Emu.Outbox("owner@example.com")
	if p := w.Verify(t, b, "owner@example.com", code); p.Status == http.StatusOK || hasCookie(p.SetCookie, "DS") {
		t.Fatalf("merge with a failing hook: %+v", p)
	}
	if s := stateOf(w.Emu, anon.UserID); !s.Exists || len(s.Tenants) != 1 {
		t.Errorf("anonymous user after a failed merge hook: %+v", s)
	}
	if me := w.Get(t, b, "/"); me.UserID != anon.UserID || !me.Anonymous {
		t.Errorf("visitor after a failed merge hook: %+v", me)
	}
	mu.Lock()
	hookErr = nil
	mu.Unlock()
	if st := w.Start(t, b, "owner@example.com"); st.Status != http.StatusOK {
		t.Fatalf("start again: %+v", st)
	}
	code, _ = w.Emu.Outbox("owner@example.com")
	if p := w.Verify(t, b, "owner@example.com", code); p.Status != http.StatusOK || p.UserID != owner.UserID {
		t.Fatalf("merge: %+v", p)
	}
	if s := stateOf(w.Emu, anon.UserID); s.Exists {
		t.Errorf("anonymous user kept after the merge: %+v", s)
	}
	if after := stateOf(w.Emu, owner.UserID); !slices.Equal(after.LoginIDs, before.LoginIDs) || !slices.Equal(after.Tenants, before.Tenants) {
		t.Errorf("existing account changed by the merge: %+v -> %+v", before, after)
	}
}

// If the address becomes another account's login ID between the last check
// and the verify, real Descope merges the two users at verify. The library
// asked Descope to keep the existing account; it detects the merge, reports
// it with both IDs, and takes the anonymous tenant and the generated login ID
// away from the kept account again.
func TestDescopeMergeInTheRaceWindowIsReported(t *testing.T) {
	var logs strings.Builder
	var logMu sync.Mutex
	w := newWorld(t, nil, anonymous.WithLogger(newTestLogger(&logs, &logMu)))
	b, anon := w.Visitor(t)
	if st := w.Start(t, b, "late@example.com"); st.Status != http.StatusOK {
		t.Fatalf("start: %+v", st)
	}
	code, _ := w.Emu.Outbox("late@example.com")
	var other *descope.UserResponse
	w.Emu.InjectFault("/v1/auth/otp/verify/email", descopetest.Fault{Times: 1, Before: func() {
		// Someone registers the address in the race window.
		other = registered(t, w, "late@example.com")
	}})
	w.Hooks.Reset()
	p := w.Do(t, b, http.MethodPost, "/convert/verify", nil, anontest.JSONBody(t, map[string]string{"email": "late@example.com", "code": code}))
	if p.Status != http.StatusConflict || hasCookie(p.SetCookie, "DS") {
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
	logMu.Lock()
	logged := logs.String()
	logMu.Unlock()
	if !strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, other.UserID) {
		t.Errorf("merge not logged at error level with both IDs: %s", logged)
	}
	kept := stateOf(w.Emu, other.UserID)
	if !kept.Exists || len(kept.Tenants) != 0 || slices.ContainsFunc(kept.LoginIDs, anonymous.IsGeneratedLoginID) {
		t.Errorf("the kept account: %+v (want it without the anonymous tenant and generated login ID)", kept)
	}
}

// A project whose JWT template leaves out the tenants claim keeps dct: the
// visitor is still recognised as anonymous.
func TestAnonymousFromDctOnly(t *testing.T) {
	w := newWorld(t, nil)
	_, anon := w.Visitor(t)
	tenants, err := w.SDK.Management.Tenant().LoadAll(context.Background())
	if err != nil || len(tenants) != 1 {
		t.Fatal(tenants, err)
	}
	now := time.Now()
	for _, tc := range []struct {
		dct  string
		want bool
	}{{tenants[0].ID, true}, {"T-other", false}} {
		tok, err := w.Emu.SignToken(map[string]any{
			"sub": anon.UserID, "iss": w.Emu.ProjectID, "drn": "DS", "dct": tc.dct,
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		})
		if err != nil {
			t.Fatal(err)
		}
		p := w.Do(t, w.Browser(t), http.MethodGet, "/", nil, func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "DS", Value: tok})
		})

		if p.UserID != anon.UserID || p.Anonymous != tc.want {
			t.Errorf("dct %s: %+v, want anonymous %v", tc.dct, p, tc.want)
		}
	}
}

// Descope refuses session lifetimes under 3 minutes; so does New, unless the
// middleware is built for the emulator's seconds mode.
func TestSessionTTLMinimum(t *testing.T) {
	emu := descopetest.New()
	defer emu.Close()
	c := emu.MustClient(t)
	if _, err := anonymous.New(c, anonymous.WithSessionTTL(time.Minute)); err == nil {
		t.Error("a 1-minute session TTL was accepted")
	}
	if _, err := anonymous.New(c, anonymous.WithSessionTTL(anonymous.MinSessionTTL)); err != nil {
		t.Errorf("the minimum was refused: %v", err)
	}
	if _, err := anonymous.New(c, anonymous.WithSessionTTL(5*time.Second), anonymous.WithEmulatorLifetimes()); err != nil {
		t.Errorf("seconds with WithEmulatorLifetimes: %v", err)
	}
}

// newTestLogger logs text lines to b, guarded by mu.
func newTestLogger(b *strings.Builder, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{b, mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

package anonymous

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/sdk"

	"github.com/descope-contrib/anonymous/descopetest"
)

// countingAuth counts the session validations the middleware asks of the SDK.
type countingAuth struct {
	sdk.Authentication
	validations atomic.Int32
}

func (a *countingAuth) ValidateSessionWithToken(ctx context.Context, tok string) (bool, *descope.Token, error) {
	a.validations.Add(1)
	return a.Authentication.ValidateSessionWithToken(ctx, tok)
}

// A refresh verifies each refresh token once: the SDK verifies the spent one
// before it calls Descope, and the rotated one with Descope's answer; the
// middleware verifies neither again. Only the first token signed with a key
// since start-up is verified by the middleware too, to learn the key.
func TestRefreshVerifiesRefreshTokensOnce(t *testing.T) {
	logs := &strings.Builder{}
	w := newIWorld(t, []descopetest.Option{descopetest.WithRefreshRotation()},
		WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	auth := &countingAuth{Authentication: w.m.c.Auth}
	w.m.c.Auth = auth
	_, dsr := w.visitor(t)

	u, set := w.serve("DSR="+dsr, nil)
	if u == nil || !u.Refreshed || set["DSR"] == "" || set["DSR"] == dsr {
		t.Fatalf("first refresh: %+v %v", u, set)
	}
	if n := auth.validations.Load(); n != 1 {
		t.Errorf("first refresh since start-up: %d local validations, want 1 (to learn the key)", n)
	}
	auth.validations.Store(0)
	u, set2 := w.serve("DSR="+set["DSR"], nil)
	if u == nil || !u.Refreshed || set2["DSR"] == "" {
		t.Fatalf("second refresh: %+v %v", u, set2)
	}
	if n := auth.validations.Load(); n != 0 {
		t.Errorf("refresh with a known key: %d local validations besides the SDK's own, want 0", n)
	}
	if tok := u.Token(); tok == nil || tok.JWT != set2["DS"] {
		t.Errorf("the refreshed user's token: %+v", tok)
	}

	// A refresh token whose signature does not verify never reaches Descope.
	calls := w.emu.Requests("/v1/auth/refresh")
	last := set2["DSR"]
	i := len(last) - 10 // not the last character: base64 ignores its low bits
	flip := "A"
	if last[i] == 'A' {
		flip = "B"
	}
	if u, _ := w.serve("DSR="+last[:i]+flip+last[i+1:], nil); u != nil {
		t.Errorf("forged refresh token identified %s", u.ID)
	}
	if got := w.emu.Requests("/v1/auth/refresh"); got != calls {
		t.Errorf("a forged refresh token reached Descope (%d calls)", got-calls)
	}
	if !strings.Contains(logs.String(), "level=DEBUG msg=\"refresh token rejected\"") || strings.Contains(logs.String(), "level=INFO msg=\"refresh token rejected\"") {
		t.Errorf("a forged refresh token should be logged at debug level only:\n%s", logs.String())
	}
	w.m.refreshes.mu.Lock()
	_, kept := w.m.refreshes.recent[last[:i]+flip+last[i+1:]]
	w.m.refreshes.mu.Unlock()
	if kept {
		t.Error("the outcome of a forged refresh token is remembered")
	}
}

// The memory of refresh outcomes stays bounded without walking it whole.
func TestRefreshMemoryBounded(t *testing.T) {
	var g refreshGroup
	ok := func() (refreshResult, error) {
		return refreshResult{session: &descope.Token{Expiration: time.Now().Add(time.Hour).Unix()}}, nil
	}
	for i := range maxRecentRefreshes + 100 {
		g.do("tok"+strconv.Itoa(i), ok)
	}
	if n := len(g.recent); n != maxRecentRefreshes {
		t.Errorf("%d outcomes remembered, bound %d", n, maxRecentRefreshes)
	}
	if _, err := g.do("last", ok); err != nil || len(g.recent) > maxRecentRefreshes {
		t.Errorf("%v, %d outcomes", err, len(g.recent))
	}
}

// A refresh that panics releases the requests waiting on it, with an error,
// and the panic still reaches the caller that ran it.
func TestRefreshPanicReleasesWaiters(t *testing.T) {
	var g refreshGroup
	started, release := make(chan struct{}), make(chan struct{})
	caught := make(chan any, 1)
	go func() {
		defer func() { caught <- recover() }()
		g.do("tok", func() (refreshResult, error) {
			close(started)
			<-release
			panic("malformed answer")
		})
	}()
	<-started
	waited := make(chan error, 1)
	go func() {
		_, err := g.do("tok", func() (refreshResult, error) {
			t.Error("a second refresh ran while the first was in flight")
			return refreshResult{}, nil
		})
		waited <- err
	}()
	for waiting := 0; waiting == 0; runtime.Gosched() { // until the waiter found the call in flight
		g.mu.Lock()
		waiting = g.inflight["tok"].waiters
		g.mu.Unlock()
	}
	close(release)
	select {
	case err := <-waited:
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("waiter got %v, want ErrUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was never released")
	}
	if p := <-caught; p != "malformed answer" {
		t.Errorf("the panic reached its caller as %v", p)
	}
	if _, ok := g.recent["tok"]; ok {
		t.Error("a panicked refresh was remembered")
	}
}

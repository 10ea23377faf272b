package main

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/redistest"
)

// newExternalEmulator starts an emulator for a server to reach as real
// Descope (a project ID and a base URL), as replicas do.
func newExternalEmulator(t *testing.T) *descopetest.Emulator {
	t.Helper()
	emu := descopetest.New()
	t.Cleanup(emu.Close)
	return emu
}

// convertBrowser converts b's anonymous user with email, reading the code
// from emu's outbox.
func convertBrowser(t *testing.T, b *browser, emu *descopetest.Emulator, email string) meResponse {
	t.Helper()
	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": email}, nil), http.StatusOK)
	code, ok := emu.Outbox(email)
	if !ok {
		t.Fatal("no code sent")
	}
	var converted meResponse
	b.want(b.do(http.MethodPost, "/api/convert/verify", map[string]string{"email": email, "code": code}, &converted), http.StatusOK)
	if converted.Anonymous {
		t.Fatalf("converted = %+v, want a regular user", converted)
	}
	return converted
}

// A "Forget me" that carries the cookies of before a conversion (a second
// tab, a replayed cookie) leaves the converted account's notes alone, even
// after a note written with them: under user-backed conversion the old
// session token still verifies, and still says anonymous, until it expires.
// A visitor still anonymous is forgotten, notes and all.
func TestForgetMeWithOldCookiesKeepsConvertedNotes(t *testing.T) {
	for _, strategy := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens, anonymous.LocalIDs} {
		for _, store := range []string{"memory", "redis"} {
			t.Run(strategy.String()+"/"+store, func(t *testing.T) {
				testForgetMeWithOldCookies(t, strategy, store)
			})
		}
	}
}

func testForgetMeWithOldCookies(t *testing.T, strategy anonymous.Strategy, store string) {
	emu := newExternalEmulator(t)
	cfg := config{projectID: emu.ProjectID, managementKey: emu.ManagementKey, baseURL: emu.URL, strategy: strategy}
	if strategy == anonymous.LocalIDs {
		cfg.localKey = make([]byte, 32)
		_, _ = rand.Read(cfg.localKey)
	}
	if store == "redis" {
		cfg.redisURL = redistest.Start(t).URL()
	}
	a, srv, _ := testApp(t, cfg)
	ctx := context.Background()

	b := newBrowser(t, srv)
	var me meResponse
	b.want(b.do(http.MethodGet, "/api/me", nil, &me), http.StatusOK)
	b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": "mine"}, nil), http.StatusCreated)
	u, _ := url.Parse(srv.URL)
	old := b.c.Jar.Cookies(u) // the anonymous visitor's cookies
	if len(old) == 0 {
		t.Fatal("no cookies before conversion")
	}
	if a.Redis != nil {
		if d := a.Redis.PTTL(ctx, notesKey(me.UserID)).Val(); d <= 0 || d > 24*time.Hour {
			t.Errorf("anonymous notes' TTL %v, want the lifetime", d)
		}
	}
	converted := convertBrowser(t, b, emu, "keep@example.com")
	if strategy == anonymous.UserBacked && converted.UserID != me.UserID {
		t.Fatalf("converted to %s, want %s", converted.UserID, me.UserID)
	}
	if a.Redis != nil {
		if d := a.Redis.PTTL(ctx, notesKey(converted.UserID)).Val(); d != -1 {
			t.Errorf("converted notes' TTL %v, want none", d)
		}
	}

	// The old cookies, replayed: a note, then "Forget me".
	replay := newBrowser(t, srv)
	replay.c.Jar.SetCookies(u, old)
	var stale meResponse
	replay.want(replay.do(http.MethodGet, "/api/me", nil, &stale), http.StatusOK)
	t.Logf("the old cookies say: %+v", stale)
	if stale.UserID == converted.UserID {
		replay.want(replay.do(http.MethodPost, "/api/notes", map[string]string{"text": "from an old tab"}, nil), http.StatusCreated)
	}
	replay.c.Jar.SetCookies(u, old)
	replay.want(replay.do(http.MethodPost, "/api/logout", nil, nil), http.StatusNoContent)

	var notes notesResponse
	b.want(b.do(http.MethodGet, "/api/notes", nil, &notes), http.StatusOK)
	if len(notes.Notes) == 0 || notes.Notes[0].Text != "mine" {
		t.Fatalf("the converted account's notes after a forget-me with its old cookies: %+v", notes.Notes)
	}
	if a.Redis != nil {
		if d := a.Redis.PTTL(ctx, notesKey(converted.UserID)).Val(); d != -1 {
			t.Errorf("converted notes' TTL after the old cookies' use: %v, want none", d)
		}
	}

	// A visitor still anonymous is forgotten.
	other := newBrowser(t, srv)
	var otherMe meResponse
	other.want(other.do(http.MethodGet, "/api/me", nil, &otherMe), http.StatusOK)
	other.want(other.do(http.MethodPost, "/api/notes", map[string]string{"text": "forget me"}, nil), http.StatusCreated)
	other.want(other.do(http.MethodPost, "/api/logout", nil, nil), http.StatusNoContent)
	if l, err := a.site.notes.list(ctx, otherMe.UserID, true); err != nil || len(l) != 0 {
		t.Errorf("an anonymous visitor's notes after forget-me: %v, %v", l, err)
	}
}

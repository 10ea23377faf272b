package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/redistest"
)

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

// A "Forget me" that carries the cookies of before a user-backed conversion
// (a second tab, a replayed cookie) leaves the converted account's notes
// alone: its old session token still verifies, and still says anonymous,
// until it expires.
func TestForgetMeWithOldCookiesKeepsConvertedNotes(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			emu := descopetest.New()
			t.Cleanup(emu.Close)
			cfg := config{addr: "127.0.0.1:0", sessionTTL: 10 * time.Minute, lifetime: 24 * time.Hour,
				projectID: emu.ProjectID, managementKey: emu.ManagementKey, baseURL: emu.URL}
			if store == "redis" {
				cfg.redisURL = redistest.Start(t).URL()
			}
			a, err := build(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(a.Close)
			srv := httptest.NewServer(a.Handler)
			t.Cleanup(srv.Close)

			b := newBrowser(t, srv)
			var me meResponse
			b.want(b.do(http.MethodGet, "/api/me", nil, &me), http.StatusOK)
			b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": "mine"}, nil), http.StatusCreated)
			u, _ := url.Parse(srv.URL)
			old := b.c.Jar.Cookies(u) // DS and DSR of the anonymous user
			if len(old) != 2 {
				t.Fatalf("cookies before conversion: %v", old)
			}
			if converted := convertBrowser(t, b, emu, "keep@example.com"); converted.UserID != me.UserID {
				t.Fatalf("converted to %s, want %s", converted.UserID, me.UserID)
			}

			// The old cookies, replayed: they still name the user as anonymous.
			replay := newBrowser(t, srv)
			replay.c.Jar.SetCookies(u, old)
			var stale meResponse
			replay.want(replay.do(http.MethodGet, "/api/me", nil, &stale), http.StatusOK)
			t.Logf("the old session says: %+v", stale)
			replay.c.Jar.SetCookies(u, old)
			replay.want(replay.do(http.MethodPost, "/api/logout", nil, nil), http.StatusNoContent)

			var notes notesResponse
			b.want(b.do(http.MethodGet, "/api/notes", nil, &notes), http.StatusOK)
			if len(notes.Notes) != 1 || notes.Notes[0].Text != "mine" {
				t.Fatalf("the converted account's notes after a forget-me with its old cookies: %+v", notes.Notes)
			}
		})
	}
}

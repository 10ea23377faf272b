package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/redistest"
)

// Two replicas of the server with REDIS_URL, against one Descope, are one
// application: a note written through one is read through the other, and a
// conversion started on one is finished on the other.
func TestReplicasShareNotesAndConversions(t *testing.T) {
	srv := redistest.Start(t)
	emu := descopetest.New()
	t.Cleanup(emu.Close)
	replica := func() *httptest.Server {
		a, err := build(context.Background(), config{
			addr: "127.0.0.1:0", sessionTTL: 10 * time.Minute, lifetime: 24 * time.Hour,
			projectID: emu.ProjectID, managementKey: emu.ManagementKey, baseURL: emu.URL, redisURL: srv.URL(),
		}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		s := httptest.NewServer(a.Handler)
		t.Cleanup(s.Close)
		return s
	}
	one, two := replica(), replica()
	b := newBrowser(t, one)
	var me meResponse
	b.want(b.do(http.MethodGet, "/api/me", nil, &me), http.StatusOK)
	b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": "written on one"}, nil), http.StatusCreated)

	b.base = two.URL // the same browser, the other replica
	var notes notesResponse
	b.want(b.do(http.MethodGet, "/api/notes", nil, &notes), http.StatusOK)
	if len(notes.Notes) != 1 || notes.Notes[0].Text != "written on one" {
		t.Fatalf("notes on the other replica = %+v", notes.Notes)
	}

	const email = "grace@example.com"
	b.base = one.URL
	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": email}, nil), http.StatusOK)
	code, ok := emu.Outbox(email)
	if !ok {
		t.Fatal("no code sent")
	}
	b.base = two.URL
	var converted meResponse
	b.want(b.do(http.MethodPost, "/api/convert/verify", map[string]string{"email": email, "code": code}, &converted), http.StatusOK)
	if converted.UserID != me.UserID || converted.Anonymous {
		t.Fatalf("converted on the other replica = %+v, want user %s, regular", converted, me.UserID)
	}
}

// Notes in Redis keep the per-user bound.
func TestRedisNoteBounds(t *testing.T) {
	srv := redistest.Start(t)
	rdb, err := openRedis(context.Background(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	s := redisNotes{c: rdb, ttl: time.Hour}
	for i := range maxNotesPerUser {
		if _, err := s.add(ctx, "U1", true, "note"); err != nil {
			t.Fatalf("note %d: %v", i, err)
		}
	}
	if _, err := s.add(ctx, "U1", true, "one too many"); err != errNoteTooMany {
		t.Errorf("note past the bound: %v, want %v", err, errNoteTooMany)
	}
	if _, err := s.add(ctx, "U1", true, "  "); err != errNoteEmpty {
		t.Errorf("empty note: %v", err)
	}
	if err := s.forget(ctx, "U1"); err != nil {
		t.Fatal(err)
	}
	if l, err := s.list(ctx, "U1", true); err != nil || len(l) != 0 {
		t.Errorf("after forget: %v, %v", l, err)
	}
}

// A REDIS_URL that is malformed, or whose server does not answer, stops the
// server at start-up instead of running without shared state.
func TestRedisURLChecked(t *testing.T) {
	for _, url := range []string{"not a url", "redis://127.0.0.1:1/0"} {
		_, err := build(context.Background(), config{addr: "127.0.0.1:0", sessionTTL: 10 * time.Minute, lifetime: 24 * time.Hour, redisURL: url},
			slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("REDIS_URL=%q: %v, want an error naming REDIS_URL", url, err)
		}
	}
}

// Notes move to the Descope user a native or local visitor becomes, in Redis
// as in memory.
func TestRedisNoteMove(t *testing.T) {
	srv := redistest.Start(t)
	rdb, err := openRedis(context.Background(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	testNoteMove(t, redisNotes{c: rdb, ttl: time.Hour})
}

// In Redis, an anonymous user's notes carry the anonymous lifetime as a TTL,
// set again by each read and write; a converted user's have none, and an
// anonymous session never gives them one back nor forgets them.
func TestRedisNotesExpire(t *testing.T) {
	srv := redistest.Start(t)
	rdb, err := openRedis(context.Background(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	const ttl = 24 * time.Hour
	s := redisNotes{c: rdb, ttl: ttl}
	pttl := func(user string) time.Duration {
		t.Helper()
		d, err := rdb.PTTL(ctx, notesKey(user)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	lifetime := func(d time.Duration) bool { return d > ttl-time.Minute && d <= ttl }
	const kept = -1 // PTTL of a key with no TTL

	if _, err := s.add(ctx, "anon", true, "a note"); err != nil {
		t.Fatal(err)
	}
	if d := pttl("anon"); !lifetime(d) {
		t.Fatalf("anonymous notes' TTL after a write: %v, want %v", d, ttl)
	}
	rdb.PExpire(ctx, notesKey("anon"), time.Minute) // as if a lifetime had nearly passed
	if l, err := s.list(ctx, "anon", true); err != nil || len(l) != 1 {
		t.Fatalf("list: %v, %v", l, err)
	}
	if d := pttl("anon"); !lifetime(d) {
		t.Errorf("anonymous notes' TTL after a read: %v, want %v again", d, ttl)
	}
	rdb.PExpire(ctx, notesKey("anon"), time.Minute)
	if _, err := s.add(ctx, "anon", true, "another"); err != nil {
		t.Fatal(err)
	}
	if d := pttl("anon"); !lifetime(d) {
		t.Errorf("anonymous notes' TTL after a second write: %v, want %v again", d, ttl)
	}

	// Converted: by the OnConvert hook (user-backed: the same ID), or by a
	// request with a regular session.
	_, _ = s.add(ctx, "converted", true, "a note")
	if err := s.move(ctx, "converted", "converted", false); err != nil {
		t.Fatal(err)
	}
	_, _ = s.add(ctx, "regular", false, "a note")
	_, _ = s.add(ctx, "read", true, "a note")
	_, _ = s.list(ctx, "read", false)
	for _, u := range []string{"converted", "regular", "read"} {
		if d := pttl(u); d != kept {
			t.Errorf("%s user's notes' TTL %v, want none", u, d)
		}
		// An anonymous session (from before the conversion) uses them.
		_, _ = s.add(ctx, u, true, "from an old tab")
		_, _ = s.list(ctx, u, true)
		if err := s.forget(ctx, u); err != nil {
			t.Fatal(err)
		}
		if d := pttl(u); d != kept {
			t.Errorf("%s user's notes after an anonymous session used them: TTL %v, want none", u, d)
		}
	}

	// Native and local visitors' notes move: to a converted user, kept; to
	// a promoted (still anonymous) one, with the lifetime.
	_, _ = s.add(ctx, "local-1", true, "a note")
	_, _ = s.add(ctx, "local-2", true, "a note")
	if err := s.move(ctx, "local-1", "U-native", false); err != nil {
		t.Fatal(err)
	}
	if err := s.move(ctx, "local-2", "U-promoted", true); err != nil {
		t.Fatal(err)
	}
	if d := pttl("U-native"); d != kept {
		t.Errorf("notes moved to a converted user: TTL %v, want none", d)
	}
	if d := pttl("U-promoted"); !lifetime(d) {
		t.Errorf("notes moved to a promoted anonymous user: TTL %v, want %v", d, ttl)
	}
	if err := s.forget(ctx, "anon"); err != nil {
		t.Fatal(err)
	}
	if d := pttl("anon"); d != -2 {
		t.Errorf("anonymous notes after forget: TTL %v, want gone", d)
	}
}

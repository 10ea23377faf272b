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

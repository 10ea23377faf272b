package anonymous_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// levelLog is a slog handler that records every record at WARN or above.
type levelLog struct {
	mu   sync.Mutex
	loud []string
}

func (l *levelLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *levelLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level <= slog.LevelInfo {
		return nil
	}
	line := fmt.Sprintf("%s %q", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	l.mu.Lock()
	l.loud = append(l.loud, line)
	l.mu.Unlock()
	return nil
}

func (l *levelLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levelLog) WithGroup(string) slog.Handler      { return l }

func (l *levelLog) above() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.loud...)
}

// eventLog records the events that carry a Code, and the Descope calls.
type eventLog struct {
	mu    sync.Mutex
	coded []anonymous.Event
	ops   map[string]int
}

func (l *eventLog) observe(_ context.Context, e anonymous.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Code != "" {
		l.coded = append(l.coded, e)
	}
	if e.Kind == anonymous.EventDescopeCall {
		if l.ops == nil {
			l.ops = map[string]int{}
		}
		l.ops[e.Op]++
	}
}

func (l *eventLog) codes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.coded {
		out = append(out, fmt.Sprintf("%s %s code=%s err=%v", e.Kind, e.Op, e.Code, e.Err))
	}
	return out
}

// TestOrdinaryConversionsRaiseNoAlarm runs conversions that go as they
// should, in each strategy and as a merge into an existing account, and
// checks that nothing an operator alerts on comes of them: no event with an
// error Code (the ownership check's "user not found" is its ordinary
// answer, the revoke of a merged user's token after its deletion is no
// failure) and no log line above INFO.
func TestOrdinaryConversionsRaiseNoAlarm(t *testing.T) {
	for _, tc := range []struct {
		name     string
		strategy anonymous.Strategy
		merge    bool
	}{
		{"user-backed", anonymous.UserBacked, false},
		{"native", anonymous.NativeTokens, false},
		{"local", anonymous.LocalIDs, false},
		{"merge", anonymous.UserBacked, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, events := &levelLog{}, &eventLog{}
			opts := []anonymous.Option{
				anonymous.WithLogger(slog.New(logs)),
				anonymous.WithObserver(events.observe),
			}
			if tc.merge {
				opts = append(opts, anonymous.WithMerge(func(context.Context, *anonymous.User, *anonymous.User) error { return nil }))
			}
			env := anontest.NewEnvWith(t, anontest.Setup{Strategy: tc.strategy}, nil, opts...)
			const email = "ada@example.com"
			if tc.merge {
				env.Registered(t, email)
			}
			b, first := env.Visitor(t)
			me := env.Convert(t, b, email)
			if me.Status != http.StatusOK || me.Anonymous {
				t.Fatalf("conversion: %+v", me)
			}
			if !tc.merge && tc.strategy == anonymous.UserBacked && me.UserID != first.UserID {
				t.Fatalf("converted to %s, want %s", me.UserID, first.UserID)
			}
			if again := env.Get(t, b, "/"); again.UserID != me.UserID || again.Anonymous {
				t.Fatalf("after the conversion: %+v", again)
			}
			if tc.merge {
				if _, ok := env.Emu.User(first.UserID); ok {
					t.Errorf("the merged anonymous user %s was not deleted", first.UserID)
				}
			}
			for _, c := range events.codes() {
				t.Errorf("event with an error code: %s", c)
			}
			for _, l := range logs.above() {
				t.Errorf("logged above INFO: %s", l)
			}
			if tc.strategy == anonymous.UserBacked && events.ops["user.load"] == 0 {
				t.Errorf("no user.load was observed (calls: %v): the ownership check did not run", events.ops)
			}
		})
	}
}

// TestRevokeOfDeadTokenIsQuiet revokes, at the end of a conversion, a
// refresh token that was logged out at Descope meanwhile: the token is dead,
// which is what the revoke is for, so it is no failure (no Code on the call,
// nothing above INFO in the logs).
func TestRevokeOfDeadTokenIsQuiet(t *testing.T) {
	logs, events := &levelLog{}, &eventLog{}
	env := anontest.NewEnv(t, nil, nil, anonymous.WithLogger(slog.New(logs)), anonymous.WithObserver(events.observe))
	b, first := env.Visitor(t)
	const email = "grace@example.com"
	code := env.SendCode(t, b, email)
	// Another tab logs out with the same refresh token, straight at Descope.
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.AddCookie(&http.Cookie{Name: "DSR", Value: env.Cookie(b, "DSR")})
	if err := env.SDK.Auth.Logout(r, nil); err != nil {
		t.Fatal(err)
	}
	if me := env.Verify(t, b, email, code); me.Status != http.StatusOK || me.UserID != first.UserID || me.Anonymous {
		t.Fatalf("verify: %+v", me)
	}
	if events.ops["auth.logout"] == 0 {
		t.Fatalf("no revoke was made (calls: %v)", events.ops)
	}
	for _, c := range events.codes() {
		t.Errorf("event with an error code: %s", c)
	}
	for _, l := range logs.above() {
		t.Errorf("logged above INFO: %s", l)
	}
}

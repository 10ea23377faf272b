package anonymous_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// A pending conversion stored before pending conversions were sealed (plain
// JSON with the address) is no pending conversion: verify answers 409, as
// for a code never sent, and changes nothing; a new start works.
func TestOldPendingConversionIsNone(t *testing.T) {
	store := anonymous.NewMemStore(time.Now)
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithStore(store))
	b, me := env.Visitor(t)
	code := env.SendCode(t, b, "ada@example.com")
	old := []byte(`{"a":"ada@example.com"}`)
	if err := store.Set(context.Background(), "conv:pending:"+me.UserID, old, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v := env.Verify(t, b, "ada@example.com", code); v.Status != http.StatusConflict {
		t.Fatalf("verify against an old pending record: %+v, want 409", v)
	}
	if u, ok := env.Emu.User(me.UserID); !ok || len(u.LoginIDs) != 1 || u.Email != "" {
		t.Fatalf("user changed: %+v", u)
	}
	code = env.SendCode(t, b, "ada@example.com")
	if v := env.Verify(t, b, "ada@example.com", code); v.Status != http.StatusOK || v.Anonymous {
		t.Fatalf("verify after a new start: %+v", v)
	}
}

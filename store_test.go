package anonymous_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/storetest"
)

// The process-local store passes the behaviour table every Store must.
func TestMemStoreBehaviour(t *testing.T) {
	var clock *anontest.Clock
	storetest.Run(t, storetest.Harness{
		New: func(*testing.T) anonymous.Store {
			clock = &anontest.Clock{}
			return anonymous.NewMemStore(clock.Now)
		},
		Advance: func(_ *testing.T, d time.Duration) { clock.Advance(d) },
	})
}

// When the process-local store has no room for another value, what needs one
// fails closed, with 503: a conversion start whose pending record has no
// room, and a verify whose conversion lock has none. Nothing held is
// dropped for them.
func TestFullLocalStoreFailsClosed(t *testing.T) {
	// Room for 9 values besides the marks of retired identities.
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithLocalStoreSize(1000, 10))
	var visitors []*http.Client
	for i := range 9 {
		b, _ := env.Visitor(t)
		if st := env.Start(t, b, fmt.Sprintf("v%d@example.com", i)); st.Status != http.StatusOK {
			t.Fatalf("start %d: %+v", i, st)
		}
		visitors = append(visitors, b)
	}
	late, _ := env.Visitor(t)
	if st := env.Start(t, late, "late@example.com"); st.Status != http.StatusServiceUnavailable {
		t.Errorf("start with the store full: %+v, want 503", st)
	}
	code, _ := env.Emu.Outbox("v0@example.com")
	me := env.Verify(t, visitors[0], "v0@example.com", code)
	if me.Status != http.StatusServiceUnavailable {
		t.Errorf("verify with the store full: %+v, want 503", me)
	}
	if u, ok := env.Emu.User("v0@example.com"); ok {
		t.Errorf("the address was attached with the store full: %+v", u)
	}
	if st := env.Start(t, visitors[8], "v8@example.com"); st.Status != http.StatusOK {
		t.Errorf("a new code for a conversion already pending: %+v", st)
	}
}

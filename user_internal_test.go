package anonymous

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

type otherKey struct{}

// A user served from the cache travels in its own context node: handlers find
// it with FromContext, the parent's values and cancellation pass through, and
// printing the context or the user never prints the session token.
func TestCachedUserContext(t *testing.T) {
	jwt := tk("the-session-token-itself")
	u := newCachedUser("U1", true, jwt)
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	ctx := withUser(parent, u)
	if got, ok := FromContext(ctx); !ok || got != u || got.ID != "U1" || !got.Anonymous {
		t.Fatalf("FromContext: %+v %v", got, ok)
	}
	if ctx.Value(otherKey{}) != "v" {
		t.Error("the parent's value is lost")
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	<-child.Done()
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Errorf("cancellation: %v, %v", ctx.Err(), child.Err())
	}
	for _, s := range []string{fmt.Sprint(ctx), fmt.Sprintf("%+v", ctx), fmt.Sprintf("%+v", *u), fmt.Sprintf("%#v", u)} {
		if strings.Contains(s, "the-session-token-itself") {
			t.Errorf("printed the token: %s", s)
		}
	}
	again := withUser(context.Background(), u) // the node is linked already
	if got, _ := FromContext(again); got != u || again == ctx {
		t.Error("a second link reused the node")
	}
	if got, _ := FromContext(ctx); got != u || ctx.Value(otherKey{}) != "v" {
		t.Error("a second link changed the first context")
	}
	if u.sessionJWT() != jwt {
		t.Error("the session token is lost")
	}
}

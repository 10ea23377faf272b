package anonymous

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/descope/go-sdk/descope"
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

// A session refreshed on its request travels in a context node too, beside
// the refresh token in force, which refreshInForce finds on the User (linked
// into a context or not, but not on a copy) and which printing the context
// or the user never prints.
func TestRefreshedUserContext(t *testing.T) {
	m := &Middleware{}
	session := &descope.Token{JWT: tk("the-session-token-itself"), ID: "U1", Claims: map[string]any{"danu": true}}
	u := m.newRefreshedUser(session, "the-refresh-token-itself")
	if got, ok := refreshInForce(u); !ok || got != "the-refresh-token-itself" {
		t.Fatalf("before linking: %q %v", got, ok)
	}
	if !u.Refreshed || !u.Anonymous || u.Token() != session || u.sessionJWT() != session.JWT {
		t.Fatalf("user %+v", u)
	}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	defer cancel()
	ctx := withUser(parent, u)
	got, ok := FromContext(ctx)
	if !ok || got != u || ctx.Value(otherKey{}) != "v" {
		t.Fatalf("FromContext: %+v %v, parent's value %v", got, ok, ctx.Value(otherKey{}))
	}
	if held, ok := refreshInForce(got); !ok || held != "the-refresh-token-itself" {
		t.Errorf("after linking: %q %v", held, ok)
	}
	cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("cancellation: %v", ctx.Err())
	}
	for _, s := range []string{fmt.Sprint(ctx), fmt.Sprintf("%+v", ctx), fmt.Sprintf("%+v", *u), fmt.Sprintf("%#v", u)} {
		if strings.Contains(s, "the-refresh-token-itself") || strings.Contains(s, "the-session-token-itself") {
			t.Errorf("printed a token: %s", s)
		}
	}
	if again := withUser(context.Background(), u); again == ctx {
		t.Error("a second link reused the node")
	}
	copied := *u
	if _, ok := refreshInForce(&copied); ok {
		t.Error("a copy of the user claims the refresh token in force")
	}
	for _, other := range []*User{nil, newCachedUser("U1", true, tk("x")), {ID: "U1"}} {
		if _, ok := refreshInForce(other); ok {
			t.Errorf("%+v claims a refresh token in force", other)
		}
	}
}

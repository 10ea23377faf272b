package anonymous

import (
	"context"
	"fmt"

	"github.com/descope/go-sdk/descope"
)

// User is the visitor the middleware identified, provisioned or refreshed.
// The middleware builds one per request; treat it as read-only, as hooks and
// handlers may share it.
type User struct {
	// ID names the visitor. Under [UserBacked] it is the Descope user ID,
	// the same across refreshes and conversion. Under [NativeTokens] it is
	// the ID in Descope's anonymous token, and under [LocalIDs] a local ID
	// ([IsLocalID]); with those two, conversion and promotion give the
	// visitor a Descope user ID, and [WithOnConvert] moves its data.
	ID string
	// LoginIDs holds the user's login IDs when the middleware learned them
	// without an extra Descope call: on every request when the project's
	// JWT template puts them in the session token ([WithLoginIDClaims];
	// docs/descope-settings.md), else on the provisioning request and after
	// a conversion; it is empty otherwise. Requests of one session share
	// it: do not modify it. Use [Middleware.LoadUser] for the full profile.
	LoginIDs []string
	// Anonymous reports whether the visitor has not converted: its session
	// token says it is still a member of the anonymous tenant (or carries
	// danu, for Descope's native anonymous tokens), or it is a local visitor.
	Anonymous bool
	// New reports whether the user was provisioned on this request.
	New bool
	// Refreshed reports whether the session was refreshed on this request.
	Refreshed bool
	// Degraded reports that the session expired and could not be refreshed
	// now, and the user was identified from the locally verified refresh
	// token alone: Descope could not be reached, the shared store was down
	// while refresh tokens rotate, or Descope rejected a token another
	// replica may just have rotated (see [WithStore]). Token returns nil
	// then; the cookies were left untouched. Only the first cause reaches
	// the error hook.
	Degraded bool

	token *descope.Token // the verified session token, when it was decoded
	node  *userNode      // for a session served from the cache
}

// Token returns the verified session token of the request, with its claims,
// or nil when there is none (Degraded, a local visitor, or a User built by
// hand). A token the
// middleware had already seen is decoded anew on each call, without a second
// signature check: it was fully verified before it was cached. Keep the
// result if you need it more than once.
func (u *User) Token() *descope.Token {
	switch {
	case u == nil:
		return nil
	case u.token != nil:
		return u.token
	case u.node != nil && u.node.jwt != "":
		return decodeToken(u.node.jwt)
	}
	return nil
}

// sessionJWT returns the session token u was identified by, or "".
func (u *User) sessionJWT() string {
	switch {
	case u == nil:
		return ""
	case u.token != nil:
		return u.token.JWT
	case u.node != nil:
		return u.node.jwt
	}
	return ""
}

// ctxKey is the unexported context key type; no other package can collide with it.
type ctxKey struct{}

// NewContext returns a copy of ctx carrying u. Handlers' unit tests use it to
// fake an identified visitor.
func NewContext(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, ctxKey{}, u)
}

// FromContext returns the user the middleware put in ctx, if any.
func FromContext(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(ctxKey{}).(*User)
	return u, ok && u != nil
}

// userNode is a User served from the cache (or refreshed on its request:
// newRefreshedUser) and the context node that carries it, allocated at once:
// the hot path makes one allocation for both. It keeps the session token
// outside the User, so that printing a User never prints it.
type userNode struct {
	context.Context // nil until withUser links the node
	user            User
	jwt             string // the verified session token, as the request carried it (or the refresh issued it)
}

// newCachedUser returns the User of a session served from the cache.
func newCachedUser(id string, anon bool, jwt string) *User {
	n := &userNode{user: User{ID: id, Anonymous: anon}, jwt: jwt}
	n.user.node = n
	return &n.user
}

// withUser returns ctx carrying u: u's own node when it has one not yet
// linked (a refreshed session's node through its inForce), else a new
// context value. Only the goroutine that built u calls it.
func withUser(ctx context.Context, u *User) context.Context {
	if n := u.node; n != nil && &n.user == u {
		if n.Context == nil {
			n.Context = ctx
			return n
		}
		if f, ok := n.Context.(*inForce); ok && f.Context == nil {
			f.Context = ctx
			return n
		}
	}
	return NewContext(ctx, u)
}

func (n *userNode) Value(key any) any {
	if key == (ctxKey{}) {
		return &n.user
	}
	return n.Context.Value(key)
}

// String names the node as context.WithValue does, never its contents.
func (n *userNode) String() string {
	parent := "context"
	if s, ok := n.Context.(fmt.Stringer); ok {
		parent = s.String()
	}
	return parent + ".WithValue(anonymous.ctxKey, *anonymous.User)"
}

// LoadUser loads the full Descope profile of u (login IDs, email, phone,
// tenants). It is one management call; the middleware never makes it on its
// own.
func (m *Middleware) LoadUser(ctx context.Context, u *User) (*descope.UserResponse, error) {
	if u == nil {
		return nil, ErrNoSession
	}
	// Bounded by the timeout but, unlike the middleware's own calls, not
	// detached: the application makes this read on its own context, and it
	// changes nothing that would have to run to its end, so it follows that
	// context's cancellation.
	ctx, cancel := context.WithTimeout(ctx, m.cfg.timeout)
	defer cancel()
	return observe(m.obs, ctx, "user.load", func(ctx context.Context) (*descope.UserResponse, error) {
		return m.c.Management.User().Load(ctx, u.ID)
	})
}

package anonymous

import (
	"context"

	"github.com/descope/go-sdk/descope"
)

// User is the visitor the middleware identified, provisioned or refreshed.
// The middleware may share one *User between requests that carry the same
// session token: treat it as read-only.
type User struct {
	// ID is the Descope user ID. It stays the same across refreshes and
	// conversion.
	ID string
	// LoginIDs holds the user's login IDs when the middleware learned them
	// without an extra Descope call (on the provisioning request, after a
	// conversion); it is empty otherwise. Use (*Middleware).LoadUser for the
	// full profile.
	LoginIDs []string
	// Anonymous reports whether the session token says the user is still a
	// member of the anonymous tenant (or, for Descope-native anonymous
	// tokens, carries danu).
	Anonymous bool
	// New reports whether the user was provisioned on this request.
	New bool
	// Refreshed reports whether the session was refreshed on this request.
	Refreshed bool
	// Degraded reports that Descope could not be reached to refresh an
	// expired session, and the user was identified from the locally verified
	// refresh token alone. Token is nil then; the cookies were left untouched.
	Degraded bool
	// Token is the validated session token (nil when Degraded).
	Token *descope.Token
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

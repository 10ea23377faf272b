package anonymous

import (
	"context"

	"github.com/descope/go-sdk/descope"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// User is the visitor the middleware identified, provisioned or refreshed.
// The middleware builds one per request; treat it as read-only, as hooks and
// handlers may share it.
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
	// refresh token alone. Token returns nil then; the cookies were left
	// untouched.
	Degraded bool

	jwt   string         // the verified session token, as the request carried it
	token *descope.Token // the same, when it was decoded already
}

// Token returns the verified session token of the request, with its claims,
// or nil when there is none (Degraded, or a User built by hand). A token the
// middleware had already seen is decoded anew on each call, without a second
// signature check: it was fully verified before it was cached. Keep the
// result if you need it more than once.
func (u *User) Token() *descope.Token {
	switch {
	case u == nil:
		return nil
	case u.token != nil:
		return u.token
	case u.jwt != "":
		return decodeToken(u.jwt)
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
	}
	return u.jwt
}

// decodeToken decodes a compact JWS into the same *descope.Token the SDK
// returns when it verifies one, without checking the signature or any claim:
// the caller has verified tok, or is about to. It returns nil if tok cannot
// be parsed.
func decodeToken(tok string) *descope.Token {
	t, err := jwt.ParseString(tok, jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		return nil
	}
	return descope.NewToken(tok, t)
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

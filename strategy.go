package anonymous

import "fmt"

// Strategies: how the middleware gives a new visitor an identity
// ([WithStrategy]), and which one made the identity a visitor holds.

// Strategy is how the middleware gives a new visitor an identity.
type Strategy int

const (
	// UserBacked creates a real Descope user per visitor, in the anonymous
	// tenant (two calls: user create, then management sign-in). Conversion
	// keeps the user ID. Descope caps user creation at 100 a minute per
	// project, and stale users must be culled. It is the default.
	UserBacked Strategy = iota
	// NativeTokens asks Descope for anonymous tokens with no user behind them
	// (one call; the tokens carry danu: true). Nothing to cull, no user-create
	// limit; conversion signs the visitor up or in to a real user whose ID
	// differs, and the OnConvert hook moves the application's data.
	NativeTokens
	// LocalIDs gives each visitor an ID made here, in a cookie sealed by the
	// application's keys (WithLocalKeys): no call to Descope, no record, no
	// JWT. Conversion signs the visitor up or in by one-time code and the
	// OnConvert hook moves the data, as with NativeTokens.
	LocalIDs
)

// String returns "user-backed", "native" or "local".
func (s Strategy) String() string {
	switch s {
	case UserBacked:
		return "user-backed"
	case NativeTokens:
		return "native"
	case LocalIDs:
		return "local"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// isNative reports whether u holds a Descope-native anonymous token.
func isNative(u *User) bool {
	t := u.Token()
	if t == nil {
		return false
	}
	danu, _ := t.Claims["danu"].(bool)
	return danu
}

// isLocal reports whether u is a local visitor.
func isLocal(u *User) bool { return u != nil && IsLocalID(u.ID) }

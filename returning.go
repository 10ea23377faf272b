package anonymous

import (
	"context"
	"net/http"

	"github.com/descope/go-sdk/descope"
)

// Returning customers. A conversion start for an address that is already
// another account's login ID sends a sign-in code for that account, and
// answers as for a new address (the masked address, no cookie), so the
// answer does not reveal whether the address is registered. Once the code
// proves the visitor owns the address, the visitor is signed in to that
// account: no account is changed by it. With [WithMerge] the merge hook moves
// the anonymous data and the anonymous user is deleted; without it the
// OnConvert hook (if any) may move the data, and the anonymous user is left
// alone, for [Middleware.Cull]: it is never deleted without the application's
// opt-in.

// The outcomes of a verified conversion, as [UserJSON.Outcome] and
// [ConversionOutcome] report them.
const (
	// OutcomeConverted: the anonymous user became a regular one (same ID).
	OutcomeConverted = "converted"
	// OutcomeSignedIn: the visitor was signed in to the existing account
	// that owns the address.
	OutcomeSignedIn = "signed_in"
	// OutcomeCreated: a native or local visitor signed up, as a new user,
	// or a social login signed up a new user (any strategy).
	OutcomeCreated = "created"
)

// outcomeKey is the context key of the place a finished conversion notes
// its outcome in (withOutcome).
type outcomeKey struct{}

// withOutcome returns r with a place for the outcome of the conversion it
// finishes, and that place.
func withOutcome(r *http.Request) (*http.Request, *string) {
	out := new(string)
	return r.WithContext(context.WithValue(r.Context(), outcomeKey{}, out)), out
}

// ConversionOutcome returns r, ready to pass to a Finish function, and a
// function that tells, once that call succeeded, how it ended:
// [OutcomeConverted], [OutcomeSignedIn] or [OutcomeCreated] ("" before or
// after a failed call). The verify handlers answer with it.
func ConversionOutcome(r *http.Request) (*http.Request, func() string) {
	r, out := withOutcome(r)
	return r, func() string { return *out }
}

// setOutcome notes how the conversion of ctx ended, if anyone asked.
func setOutcome(ctx context.Context, o string) {
	if out, ok := ctx.Value(outcomeKey{}).(*string); ok {
		*out = o
	}
}

// signIn hands a returning customer, proved by its code (or link, provider
// account, passkey), the existing account's tokens without WithMerge: the
// OnConvert hook may move the data (if it fails, nothing changes and the
// tokens are revoked); the anonymous session is retired, a user-backed
// anonymous user left to cull.
func (m *Middleware) signIn(ctx context.Context, w http.ResponseWriter, anon, existing *User, rt refreshToken, info *descope.AuthenticationInfo) (*User, error) {
	return m.handOver(ctx, w, anon, existing, rt, info, OutcomeSignedIn)
}

// handOver ends a conversion that signed the visitor in to u, a user other
// than its anonymous identity (a new user, or a returning customer's
// account without WithMerge): the OnConvert hook moves the data from the
// anonymous ID (should it fail, u's new tokens are revoked and nothing
// changes), u's tokens replace the anonymous ones, and the anonymous
// identity is retired (retireAnonymous). outcome is OutcomeCreated or
// OutcomeSignedIn.
func (m *Middleware) handOver(ctx context.Context, w http.ResponseWriter, anon, u *User, rt refreshToken, info *descope.AuthenticationInfo, outcome string) (*User, error) {
	if err := m.convertHook(ctx, anon.ID, u); err != nil {
		m.revoke(ctx, info.RefreshToken.JWT)
		return nil, err
	}
	m.writeTokens(w, info.SessionToken, info.RefreshToken)
	m.retireAnonymous(ctx, w, anon, rt)
	reason, msg := "", "anonymous visitor signed up"
	if outcome == OutcomeSignedIn {
		reason, msg = OutcomeSignedIn, "returning customer signed in"
	}
	m.cfg.logger.Info(msg, "anonymous", anon.ID, "user", u.ID, "method", methodOf(ctx))
	setOutcome(ctx, outcome)
	m.convEvent(ctx, Event{Kind: EventConverted, User: u, Reason: reason})
	return u, nil
}

// retireAnonymous ends the anonymous identity of a visitor now signed in
// as another user: its tokens are retired (retire), and a native or local
// identity is retired for good (retireID), its local ID cookie cleared.
// A user-backed anonymous user stays, its tokens retired, until Cull (or a
// merge) deletes it.
func (m *Middleware) retireAnonymous(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken) {
	if isLocal(anon) {
		m.clearLocal(w)
	}
	m.retire(ctx, anon, rt)
	if isLocal(anon) || isNative(anon) {
		m.retireID(ctx, anon.ID, rt.exp)
	}
}

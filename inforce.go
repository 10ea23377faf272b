package anonymous

import (
	"context"
	"fmt"

	"github.com/descope/go-sdk/descope"
)

// The refresh token in force. A request whose session is refreshed on the
// way in no longer holds the refresh token its cookie carried when refresh
// tokens rotate (a Descope project setting): Descope answered the refresh
// with a new one and revoked the old at once, and presenting the old one
// again may be taken for reuse of a stolen token, which revokes the whole
// session (docs.descope.com refresh-token rotation; the emulator's
// WithRefreshReuseDetection). Conversion, promotion and logout on that
// request must therefore spend, and in the end revoke, the refresh token now
// in force, the one the middleware has just written in the response's first
// Set-Cookie, not the cookie the request carried.
//
// The middleware keeps it where nothing else pays for it: a refreshed
// session's User lives in a context node, as a cached session's does, whose
// parent is an inForce that holds the token and, once withUser links the
// node, the request's context. The request with a valid session cookie (the
// hot path) is untouched: its node's parent is the request's context itself.

// inForce is the parent context of a refreshed session's node: the request's
// context (nil until withUser links the node), and the refresh token the
// visitor holds after the refresh. It adds no value to the context.
type inForce struct {
	context.Context
	refresh string // the rotated-in refresh token, or the one the request carried when Descope did not rotate it; for a minted identity, its refresh token
	local   string // for a minted local identity, its sealed local ID cookie
	minted  bool   // the identity was minted on this request (newMintedUser): the request's own cookies are not its
}

// String names the context as its parent does: it adds nothing to it.
func (f *inForce) String() string {
	if s, ok := f.Context.(fmt.Stringer); ok {
		return s.String()
	}
	return "context"
}

// newRefreshedUser returns the User of a session refreshed on this request,
// whose node keeps refresh, the refresh token in force after the refresh.
// It costs the two allocations a User and its context value cost.
func (m *Middleware) newRefreshedUser(session *descope.Token, refresh string) *User {
	n := &userNode{
		Context: &inForce{refresh: refresh},
		user:    User{ID: session.ID, LoginIDs: m.claimedLoginIDs(session), Anonymous: m.isAnonymous(session), Refreshed: true, token: session},
		jwt:     session.JWT,
	}
	n.user.node = n
	return &n.user
}

// refreshInForce returns the refresh token in force for u when u's session
// was refreshed on its request (newRefreshedUser), whether the request's
// context carries it yet or not (a User from [Middleware.Ensure]); ok is
// false for any other User, whose request's refresh cookie is in force.
func refreshInForce(u *User) (refresh string, ok bool) {
	if u == nil || u.node == nil || &u.node.user != u {
		return "", false // not a node's own User (a copy, or one built by hand)
	}
	if f, isRefreshed := u.node.Context.(*inForce); isRefreshed && !f.minted {
		return f.refresh, true
	}
	return "", false
}

// An identity minted on its request. A visitor's first request may be the
// one that starts its conversion (a page that posts to the conversion start
// before anything else): the middleware provisions it, and writes its
// cookies on the response, but the request carries none of them. Its User
// keeps what the cookies will hold, in the same kind of node as a refreshed
// session's, so that the visitor's proof (refreshProof, localProof) finds
// it as the request's own.

// newMintedUser returns the User of an identity minted on this request,
// whose node keeps the credential its cookies carry: refresh, the refresh
// token of a Descope identity, or local, the sealed local ID cookie of a
// local one. u is the User to build on (ID, flags, login IDs, token).
func newMintedUser(u User, jwt, refresh, local string) *User {
	n := &userNode{Context: &inForce{refresh: refresh, local: local, minted: true}, user: u, jwt: jwt}
	n.user.node = n
	return &n.user
}

// mintedInForce returns the inForce of u when u was minted on its request
// (newMintedUser), whether its context carries it yet or not.
func mintedInForce(u *User) (*inForce, bool) {
	if u == nil || u.node == nil || &u.node.user != u {
		return nil, false
	}
	f, ok := u.node.Context.(*inForce)
	return f, ok && f.minted
}

// maxRotationSteps bounds how many rotations newestHeld follows.
const maxRotationSteps = 4

// newestHeld follows rt, the refresh token in force for user userID on a
// request, through the refreshes of it this deployment remembers (in this
// process, or in the shared store for refreshGrace): a parallel request of
// the same visitor (another tab, another replica) may have rotated it out a
// moment ago, and handed the visitor its successor. Each successor must
// verify locally as a refresh token of userID. rt comes back with the newest
// in force, and the tokens it replaced among rotatedOut. A replica that has
// seen Descope answer a refresh without rotating looks nothing up.
func (m *Middleware) newestHeld(ctx context.Context, userID string, rt refreshToken) refreshToken {
	if m.rotation.Load() == rotationOff {
		return rt
	}
	for range maxRotationSteps {
		next, ok := m.refreshes.successor(rt.jwt)
		if !ok {
			next, ok = m.sharedSuccessor(ctx, rt.jwt)
		}
		if !ok {
			break
		}
		u, err := m.verify(ctx, next, "DSR")
		if err != nil || u.ID != userID {
			break
		}
		rt = rt.rotated(next)
		rt.anonymous, rt.exp = u.Anonymous, u.Token().Expiration
	}
	return rt
}

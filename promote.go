package anonymous

import (
	"context"
	"fmt"
	"net/http"
)

// Promotion lifts a native or local visitor to a Descope anonymous identity
// ([Middleware.Promote], [Middleware.PromoteTo]). Every promotion takes the same path: the request
// proves it is the visitor's own (its refresh cookie, or its local ID cookie,
// as for a conversion), the visitor's conversion lock is taken, the new
// identity is provisioned into a buffer, the OnConvert hook moves the
// application's data, and only then are the new cookies written and the old
// identity retired. When the hook fails, the new identity is undone.

// Promote turns the request's Descope-native or local anonymous visitor into
// a user-backed anonymous user ([Middleware.PromoteTo] chooses the target), for applications that want a user record only
// once a visitor stores something. The OnConvert hook moves the data from the
// native or local ID to the new user's ID; when it fails, the visitor keeps
// its identity and the new user is deleted. It writes the new cookies on w.
// A visitor that is already user-backed is returned as is.
func (m *Middleware) Promote(w http.ResponseWriter, r *http.Request) (*User, error) {
	return m.PromoteTo(w, r, UserBacked)
}

// PromoteTo lifts the request's visitor to an anonymous identity of target:
// a local visitor to NativeTokens (one call, no user record) or UserBacked
// (a user in the anonymous tenant), a native one to [UserBacked]. r must carry
// the visitor's refresh cookie (or, for a local visitor, its local ID
// cookie), as for [Middleware.StartConversion]. The OnConvert hook moves the application's
// data from the old ID to the new one; when it fails, the visitor keeps its
// identity, the new one is undone (user deleted, refresh token revoked) and
// no cookie is written. On success the new identity's cookies replace the
// old ones (a local visitor's cookie is cleared). A visitor already at or
// above target is returned as is: nothing is ever demoted. A second
// promotion of a visitor while one is under way, or its duplicate arriving
// just after (a double submit), gets ErrConversionInProgress and sends no
// identity cookie; with a store ([WithStore]) that does not answer,
// a promotion gets ErrUnavailable, since the lock and the retirement of the
// old identity live there. The provisioning limits count promotions. [Middleware.Promote](w, r) is [Middleware.PromoteTo](w, r, UserBacked).
func (m *Middleware) PromoteTo(w http.ResponseWriter, r *http.Request, target Strategy) (*User, error) {
	if target != UserBacked && target != NativeTokens {
		return nil, fmt.Errorf("anonymous: cannot promote to %v", target)
	}
	u, ok := FromContext(r.Context())
	switch {
	case !ok:
		return nil, ErrNoSession
	case u.Degraded:
		return nil, ErrUnavailable
	case !u.Anonymous:
		return nil, ErrNotAnonymous
	case !isLocal(u) && (target != UserBacked || !isNative(u)):
		return u, nil // at or above target already
	}
	return m.promote(w, r, u, target)
}

// promote provisions a Descope anonymous identity of target for u, a native
// or local visitor, moves its data there, and retires u.
func (m *Middleware) promote(w http.ResponseWriter, r *http.Request, u *User, target Strategy) (_ *User, err error) {
	// The loser of a double submit sends no identity cookie (loser.go).
	guard := m.loserGuard(w, r)
	defer func() { guard(err) }()
	ctx := r.Context()
	if err := m.notPromotedOnTheWayIn(ctx, r); err != nil {
		return nil, err
	}
	rt, err := m.visitorProof(r, u)
	if err != nil {
		return nil, err
	}
	// A double submit gets ErrConversionInProgress, not a second identity.
	unlock, err := m.lockConversion(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	hold := &headerBuffer{h: http.Header{}}
	nu, err := m.provisionAs(hold, r, target, false)
	if err != nil {
		return nil, err
	}
	if err := m.convertHook(ctx, u.ID, nu); err != nil {
		m.undoProvision(ctx, hold, nu, target)
		return nil, err
	}
	hold.copyTo(w)
	if isLocal(u) {
		m.clearLocal(w)
	} else {
		m.retireRefresh(ctx, u.ID, rt)
	}
	m.dropSession(u)
	m.retireID(ctx, u.ID, rt.exp)
	m.noteConverted(ctx, u.ID)
	m.cfg.logger.Info("anonymous visitor promoted", "anonymous", u.ID, "user", nu.ID, "strategy", target)
	m.obs.emit(ctx, Event{Kind: EventPromoted, Strategy: target, User: nu})
	return nu, nil
}

// notPromotedOnTheWayIn refuses the duplicate of a promotion that has just
// ended: its request carried the refresh cookie the winner revoked, so the
// middleware provisioned a new visitor on the way in, which must not be
// promoted too (a second user, with none of the data, under cookies the
// browser may read last). It answers ErrConversionInProgress when the
// identity r's refresh cookie names was just converted or promoted
// (noteConverted), and costs a store read only for a visitor provisioned on
// r whose refresh cookie names another identity.
func (m *Middleware) notPromotedOnTheWayIn(ctx context.Context, r *http.Request) error {
	prev, lockedBy := m.loserIdentity(r)
	if prev == "" || lockedBy != "" {
		return nil // identified or refreshed on r, or nothing to look up
	}
	_, noted, err := m.state.strictGet(ctx, convertedKey+prev)
	switch {
	case err != nil:
		return wrap(ErrUnavailable, err)
	case noted:
		return ErrConversionInProgress
	}
	return nil
}

// undoProvision takes back an identity provisioned for a promotion that did
// not stand: the user is deleted, or the native refresh token revoked, each
// a call to Descope of its own; its session leaves the cache.
func (m *Middleware) undoProvision(ctx context.Context, hold *headerBuffer, nu *User, strategy Strategy) {
	if strategy == UserBacked {
		_, err := call(m, ctx, "user.delete", func(ctx context.Context) (struct{}, error) {
			return struct{}{}, m.c.Management.User().Delete(ctx, nu.ID)
		})
		if err != nil {
			m.cfg.logger.Warn("delete of unpromoted user failed", "user", nu.ID, "err", err)
		}
	} else {
		for _, c := range (&http.Response{Header: hold.h}).Cookies() {
			if c.Name == m.cfg.refreshCookie {
				m.revoke(ctx, c.Value)
			}
		}
	}
	m.dropSession(nu)
}

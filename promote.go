package anonymous

import (
	"fmt"
	"net/http"
)

// Promote turns the request's Descope-native or local anonymous visitor into
// a user-backed anonymous user (PromoteTo chooses the target), for applications that want a user record only
// once a visitor stores something. The OnConvert hook moves the data from the
// native or local ID to the new user's ID; when it fails, the visitor keeps
// its identity and the new user is deleted. It writes the new cookies on w.
// A visitor that is already user-backed is returned as is.
func (m *Middleware) Promote(w http.ResponseWriter, r *http.Request) (*User, error) {
	u, ok := FromContext(r.Context())
	if !ok {
		return nil, ErrNoSession
	}
	if u.Degraded {
		return nil, ErrUnavailable
	}
	if !u.Anonymous {
		return nil, ErrNotAnonymous
	}
	if isLocal(u) {
		return m.promoteLocal(w, r, u, UserBacked)
	}
	if !isNative(u) {
		return u, nil
	}
	oldDSR, _ := cookieValue(r, m.cfg.refreshCookie)
	hold := &headerBuffer{h: http.Header{}}
	nu, err := m.provisionAs(hold, r, UserBacked)
	if err != nil {
		return nil, err
	}
	if err := m.convertHook(r.Context(), u.ID, nu); err != nil {
		ctx, cancel := m.callContext(r.Context())
		defer cancel()
		began := m.obs.start()
		derr := m.c.Management.User().Delete(ctx, nu.ID)
		m.obs.done(ctx, "user.delete", began, derr)
		if derr != nil {
			m.cfg.logger.Warn("delete of unpromoted user failed", "user", nu.ID, "err", derr)
		}
		m.dropSession(nu)
		return nil, err
	}
	hold.copyTo(w)
	m.revoke(r.Context(), oldDSR)
	m.refreshes.forget(oldDSR)
	m.dropSession(u)
	m.obs.emit(r.Context(), Event{Kind: EventPromoted, User: nu})
	return nu, nil
}

// PromoteTo lifts the request's visitor to an anonymous identity of target:
// a local visitor to NativeTokens (one call, no user record) or UserBacked
// (a user in the anonymous tenant), a native one to UserBacked. The OnConvert
// hook moves the application's data from the old ID to the new one; when it
// fails, the visitor keeps its identity, the new one is undone (user deleted,
// refresh token revoked) and no cookie is written. On success the new
// identity's cookies replace the old ones (a local visitor's cookie is
// cleared). A visitor already at or above target is returned as is: nothing
// is ever demoted. A second promotion of a local visitor while one is under
// way gets ErrConversionInProgress. Promote(w, r) is PromoteTo(w, r,
// UserBacked).
func (m *Middleware) PromoteTo(w http.ResponseWriter, r *http.Request, target Strategy) (*User, error) {
	switch target {
	case UserBacked:
		return m.Promote(w, r)
	case NativeTokens:
	default:
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
	case isLocal(u):
		return m.promoteLocal(w, r, u, target)
	}
	return u, nil
}

// promoteLocal provisions a Descope anonymous identity of target for the
// local visitor u and moves its data there.
func (m *Middleware) promoteLocal(w http.ResponseWriter, r *http.Request, u *User, target Strategy) (*User, error) {
	if err := m.localProof(r, u); err != nil {
		return nil, err
	}
	// A double submit gets ErrConversionInProgress, not a second identity.
	unlock, err := m.lockConversion(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	hold := &headerBuffer{h: http.Header{}}
	nu, err := m.provisionAs(hold, r, target)
	if err != nil {
		return nil, err
	}
	if err := m.convertHook(r.Context(), u.ID, nu); err != nil {
		m.undoProvision(r, hold, nu, target)
		return nil, err
	}
	hold.copyTo(w)
	m.clearLocal(w)
	m.cfg.logger.Info("local visitor promoted", "anonymous", u.ID, "user", nu.ID, "strategy", target)
	m.obs.emit(r.Context(), Event{Kind: EventPromoted, Strategy: target, User: nu})
	return nu, nil
}

// undoProvision takes back an identity provisioned for a promotion that did
// not stand: the user is deleted, or the native refresh token revoked.
func (m *Middleware) undoProvision(r *http.Request, hold *headerBuffer, nu *User, strategy Strategy) {
	ctx, cancel := m.callContext(r.Context())
	defer cancel()
	if strategy == UserBacked {
		if err := m.c.Management.User().Delete(ctx, nu.ID); err != nil {
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

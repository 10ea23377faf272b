package anonymous

import (
	"errors"
	"net/http"
)

// Logout revokes the visitor's refresh token at Descope and clears the
// cookies. The cookies are cleared even when Descope cannot be reached; the
// error says so. The refresh token passes the same local checks as any other
// first: a forged one costs no call to Descope and leaves nothing in any
// store. The call is bounded by the configured timeout, and a refresh
// remembered for that token is forgotten.
func (m *Middleware) Logout(w http.ResponseWriter, r *http.Request) error {
	dsr, _ := cookieValue(r, m.cfg.refreshCookie)
	ds, _ := cookieValue(r, m.cfg.sessionCookie)
	m.ClearCookies(w)
	if ds != "" {
		m.cache.drop(ds)
	}
	if dsr == "" {
		return nil
	}
	if _, err := m.verify(r.Context(), dsr, "DSR"); err != nil {
		if errors.Is(err, ErrUnavailable) {
			// Unchecked: forget what this process remembers of it, but
			// write nothing a forged token could fill a store with.
			m.refreshes.forgetLocal(dsr)
			return during("logout", err)
		}
		return nil // not a live refresh token of this project: nothing to revoke
	}
	m.refreshes.forget(dsr)
	err := m.logoutToken(r.Context(), dsr)
	if err != nil {
		return m.descopeFailure("logout", err)
	}
	return nil
}

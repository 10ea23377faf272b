package anonymous

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/descope/go-sdk/descope"
)

// Logout revokes the visitor's refresh token at Descope and clears the
// cookies. The cookies are cleared even when Descope cannot be reached; the
// error says so. The refresh token passes the same local checks as any other
// first: a forged one costs no call to Descope and leaves nothing in any
// store. The call is bounded by the configured timeout, and a refresh
// remembered for that token is forgotten. When refresh tokens rotate, the
// token revoked is the one in force: the one the middleware's refresh on r
// handed out in place of r's cookie, or a parallel request's (see
// [Middleware.FinishConversion]). A token that Descope answers, or has
// answered, is not live (logged out already, revoked, rejected) is no error:
// there is nothing left to revoke. Once answered, it is remembered (for 10
// minutes at most), and logging it out again costs no call; concurrent
// logouts of one token share one call.
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
	var rt refreshToken
	if u, ok := FromContext(r.Context()); ok {
		if held, ok := refreshInForce(u); ok && held != dsr {
			// Rotated out by the refresh on r: never presented again.
			rt.rotatedOut, dsr = []string{dsr}, held
		}
	}
	if _, ok := m.refreshes.rejected.has(dsr, m.now()); ok {
		// Genuine (Descope answered for it) and not live. A refresh
		// remembered for it, or for the token spent for it, is forgotten
		// all the same.
		for _, t := range append(rt.rotatedOut, dsr) {
			m.refreshes.forget(t)
		}
		return nil
	}
	u, err := m.verify(r.Context(), dsr, "DSR")
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			// Unchecked: forget what this process remembers of it, but
			// write nothing a forged token could fill a store with.
			for _, t := range append(rt.rotatedOut, dsr) {
				m.refreshes.forgetLocal(t)
			}
			return during("logout", err)
		}
		return nil // not a live refresh token of this project: nothing to revoke
	}
	rt.jwt = dsr
	rt = m.newestHeld(r.Context(), u.ID, rt)
	for _, t := range rt.rotatedOut {
		m.refreshes.forget(t)
	}
	m.refreshes.forget(rt.jwt)
	var exp int64
	if t := u.Token(); t != nil && rt.jwt == dsr {
		exp = t.Expiration
	}
	// Concurrent logouts of one token share one call.
	tok := rt.jwt
	err = m.refreshes.logouts.do(tok, func() error {
		if _, ok := m.refreshes.rejected.has(tok, m.now()); ok {
			return nil // logged out meanwhile
		}
		err := m.logoutToken(r.Context(), tok, alreadyRevoked)
		if err != nil && !descopeRejected(err) {
			return err // not revoked for all we know: the next logout asks again
		}
		// Revoked now, or not live already: nothing is left to revoke.
		m.refreshes.rejected.remember(tok, exp, true, m.now())
		return nil
	})
	if err != nil {
		return m.descopeFailure("logout", err)
	}
	return nil
}

// revoke logs a refresh token out at Descope, best effort, within the
// configured timeout. A token Descope says is revoked already, or whose user
// is gone, is what revoke wants: done, and logged at debug level only.
func (m *Middleware) revoke(ctx context.Context, refreshJWT string) {
	if refreshJWT == "" {
		return
	}
	switch err := m.logoutToken(ctx, refreshJWT, alreadyRevoked); {
	case err == nil:
	case alreadyRevoked(err), descopeRejected(err):
		m.cfg.logger.Debug("replaced refresh token was revoked already", "err", err)
	default:
		m.cfg.logger.Warn("revoke of replaced refresh token failed", "err", err)
		return
	}
	m.refreshes.rejected.remember(refreshJWT, 0, true, m.now())
}

// alreadyRevoked reports whether Descope refused a logout because the
// refresh token is dead already: logged out (E064001; the emulator answers
// it too for a token whose user was deleted) or of a user that no longer
// exists.
func alreadyRevoked(err error) bool {
	return descope.IsError(err, descope.ErrTokenExpiredByLoggedOut.Code) || isUserNotFound(err)
}

// logoutToken revokes one refresh token at Descope, within the configured
// timeout (the SDK's logout reads its context from the request it is given).
// The errors expected picks out (nil: none) are reported to the observers as
// answers (callExpecting).
func (m *Middleware) logoutToken(ctx context.Context, refreshJWT string, expected func(error) bool) error {
	_, err := callExpecting(m, ctx, "auth.logout", expected, func(ctx context.Context) (struct{}, error) {
		sr, err := m.sdkRequest(ctx, refreshJWT)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, m.c.Auth.Logout(sr, nil)
	})
	return err
}

// sdkRequest builds the request the SDK reads the refresh token from, with
// the cookie name the SDK client expects.
func (m *Middleware) sdkRequest(ctx context.Context, dsr string) (*http.Request, error) {
	sr, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", nil)
	if err != nil {
		return nil, err
	}
	sr.AddCookie(&http.Cookie{Name: m.sdkRefreshCookie, Value: dsr})
	return sr, nil
}

// flights shares one call among concurrent callers with the same key: the
// first makes it, the others wait for its answer. Its zero value is ready to
// use.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	err  error
}

// errFlightAborted is the answer of a call that did not return (it
// panicked), for those that waited on it.
var errFlightAborted = wrap(ErrUnavailable, errors.New("call did not finish"))

// do returns the error of fn, called now, or of the call with the same key
// under way.
func (f *flights) do(key string, fn func() error) error {
	f.mu.Lock()
	if c, ok := f.m[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.err
	}
	if f.m == nil {
		f.m = make(map[string]*flight)
	}
	c := &flight{done: make(chan struct{}), err: errFlightAborted}
	f.m[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.err = fn()
	return c.err
}

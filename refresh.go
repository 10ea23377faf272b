package anonymous

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/descope/go-sdk/descope"
)

// refreshGrace is how long the outcome of a refresh is remembered for the
// refresh token that was spent on it. Requests the browser sent in parallel
// with the old token, or that arrive just after a rotation revoked it, get the
// same new tokens instead of a second refresh (or a lost identity).
const refreshGrace = 30 * time.Second

// failureMemory is how long a failed refresh is remembered for its refresh
// token: during an outage, a visitor's next requests are served (Degraded) at
// once instead of each waiting for Descope's timeout again.
const failureMemory = 2 * time.Second

// maxRecentRefreshes bounds the memory of refreshGrace and failureMemory.
const maxRecentRefreshes = 10000

type refreshResult struct {
	session *descope.Token
	refresh *descope.Token // non-nil only when Descope rotated the refresh token
	at      time.Time
	err     error // a failed refresh, remembered for failureMemory
	shared  bool  // agreed through the shared store (or held for it): not remembered here
}

// fresh reports whether a remembered outcome may still be handed out.
func (r refreshResult) fresh(now time.Time) bool {
	if r.err != nil {
		return now.Sub(r.at) < failureMemory
	}
	return now.Sub(r.at) < refreshGrace && r.session.Expiration > now.Unix()
}

type refreshCall struct {
	done chan struct{}
	res  refreshResult
	err  error
}

// refreshGroup makes concurrent refreshes of one refresh token share a single
// call to Descope, and remembers outcomes: successes for refreshGrace (never
// past the new session's expiry), failures for failureMemory.
type refreshGroup struct {
	now      func() time.Time
	mu       sync.Mutex
	inflight map[string]*refreshCall
	recent   map[string]refreshResult
	spentFor map[string]string  // rotated-in refresh token -> the one spent for it
	onForget func(token string) // also called by forget, for each token forgotten
}

func (g *refreshGroup) do(token string, fn func() (refreshResult, error)) (refreshResult, error) {
	g.mu.Lock()
	if g.inflight == nil {
		g.inflight = make(map[string]*refreshCall)
		g.recent = make(map[string]refreshResult)
		g.spentFor = make(map[string]string)
	}
	if res, ok := g.recent[token]; ok {
		if res.fresh(g.now()) {
			g.mu.Unlock()
			return res, res.err
		}
		g.dropLocked(token)
	}
	if c, ok := g.inflight[token]; ok {
		g.mu.Unlock()
		<-c.done
		return c.res, c.err
	}
	c := &refreshCall{done: make(chan struct{})}
	g.inflight[token] = c
	g.mu.Unlock()

	defer func() {
		// Release the waiters whatever happens, a panic in fn included.
		if p := recover(); p != nil {
			c.res, c.err = refreshResult{}, fmt.Errorf("%w: refresh panicked: %v", ErrUnavailable, p)
			g.mu.Lock()
			delete(g.inflight, token)
			g.mu.Unlock()
			close(c.done)
			panic(p)
		}
	}()
	c.res, c.err = fn()

	g.mu.Lock()
	delete(g.inflight, token)
	now := g.now()
	if len(g.recent) >= maxRecentRefreshes {
		for k, r := range g.recent {
			if !r.fresh(now) || len(g.recent) >= maxRecentRefreshes {
				g.dropLocked(k)
			}
		}
	}
	remembered := c.res
	remembered.at, remembered.err = now, c.err
	if !c.res.shared {
		g.recent[token] = remembered
	}
	if c.err == nil && c.res.refresh != nil && !c.res.shared {
		g.spentFor[c.res.refresh.JWT] = token
	}
	g.mu.Unlock()
	close(c.done)
	return c.res, c.err
}

// dropLocked forgets the outcome remembered for token.
func (g *refreshGroup) dropLocked(token string) {
	if r, ok := g.recent[token]; ok && r.refresh != nil {
		delete(g.spentFor, r.refresh.JWT)
	}
	delete(g.recent, token)
}

// forget drops what is remembered of a refresh token that was revoked
// (logout, conversion): the outcome of spending it, and the outcome of the
// refresh that rotated it in, which would otherwise still hand it out.
func (g *refreshGroup) forget(token string) {
	g.mu.Lock()
	old, had := g.spentFor[token]
	if had {
		g.dropLocked(old)
		delete(g.spentFor, token)
	}
	g.dropLocked(token)
	g.mu.Unlock()
	if g.onForget != nil {
		g.onForget(token)
		if had {
			g.onForget(old)
		}
	}
}

// callRefresh asks Descope for a new session token. It runs detached from
// the request that started it, so that one visitor's cancelled request does
// not fail the others waiting on the same refresh.
func (m *Middleware) callRefresh(ctx context.Context, refreshJWT string) (refreshResult, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.timeout)
	defer cancel()
	// The SDK hands over a rotated refresh token only as a cookie it writes.
	cw := &headerBuffer{h: http.Header{}}
	began := m.obs.start()
	ok, session, err := m.c.Auth.RefreshSessionWithTokenAndWriter(ctx, refreshJWT, cw)
	m.obs.done(ctx, "session.refresh", began, err)
	if err != nil || !ok || session == nil {
		if err == nil {
			err = ErrInvalidToken
		}
		return refreshResult{}, err
	}
	if err := m.checkIssued(session, "DS"); err != nil {
		return refreshResult{}, err
	}
	res := refreshResult{session: session, at: m.now()}
	for _, ck := range (&http.Response{Header: cw.h}).Cookies() {
		if ck.Value == "" || ck.Value == refreshJWT {
			continue
		}
		began := m.obs.start()
		_, rt, err := m.c.Auth.ValidateSessionWithToken(ctx, ck.Value)
		m.obs.done(ctx, opValidate, began, err)
		if err == nil && m.checkClaims(rt, "DSR") == nil {
			res.refresh = rt
		}
	}
	m.noteRotation(res.refresh != nil)
	return res, nil
}

// refresh trades a refresh token for a new session token. Concurrent requests
// with the same refresh token share one call to Descope. A transient failure
// leaves the visitor's cookies alone; a rejected refresh token lets the
// visitor be provisioned anew.
func (m *Middleware) refresh(w http.ResponseWriter, r *http.Request, dsr string) (*User, outcome, error) {
	ctx := r.Context()
	rt, err := m.verify(ctx, dsr, "DSR")
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			m.obs.emit(ctx, Event{Kind: EventRefreshFailed, Err: err})
			return nil, refused, err
		}
		m.obs.emit(ctx, Event{Kind: EventRefreshRejected, Reason: "invalid", Err: err})
		return nil, noSession, nil
	}
	res, err := m.refreshes.do(rt.Token.JWT, func() (refreshResult, error) {
		return m.refreshVia(ctx, rt)
	})
	if err != nil {
		if errors.Is(err, errRefreshHeld) {
			return m.degradedFrom(ctx, rt, err)
		}
		if isTransient(err) {
			if !errors.Is(err, ErrUnavailable) {
				err = wrap(ErrUnavailable, err)
			}
			if !m.cfg.degraded {
				m.obs.emit(ctx, Event{Kind: EventRefreshFailed, Err: err})
				return nil, refused, err
			}
			// Degraded: the refresh token is genuine, unexpired and ours; keep
			// the visitor's identity for this request and touch no cookie.
			m.obs.emit(ctx, Event{Kind: EventDegraded, Err: err})
			return &User{ID: rt.ID, Anonymous: rt.Anonymous, Degraded: true}, refused, err
		}
		m.cfg.logger.Info("refresh token rejected by Descope", "user", rt.ID, "err", err)
		if !res.shared && m.inRejectionGrace(rt.Token.JWT) {
			// Perhaps rotated by another replica just now: keep the identity.
			return m.degradedFrom(ctx, rt, err)
		}
		m.obs.emit(ctx, Event{Kind: EventRefreshRejected, Reason: "descope", Err: err})
		return nil, noSession, nil
	}
	u := m.userFrom(res.session)
	u.Refreshed = true
	m.writeTokens(w, res.session, res.refresh)
	if _, known := m.knownTenant(); known || u.Anonymous {
		cached := *u
		cached.Refreshed = false
		m.cache.put(&cached, res.session.Expiration)
	}
	m.obs.emit(ctx, Event{Kind: EventRefreshed, User: u})
	return u, identified, nil
}

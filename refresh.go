package anonymous

import (
	"context"
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
	mu       sync.Mutex
	inflight map[string]*refreshCall
	recent   map[string]refreshResult
}

func (g *refreshGroup) do(token string, fn func() (refreshResult, error)) (refreshResult, error) {
	g.mu.Lock()
	if g.inflight == nil {
		g.inflight = make(map[string]*refreshCall)
		g.recent = make(map[string]refreshResult)
	}
	if res, ok := g.recent[token]; ok {
		if res.fresh(time.Now()) {
			g.mu.Unlock()
			return res, res.err
		}
		delete(g.recent, token)
	}
	if c, ok := g.inflight[token]; ok {
		g.mu.Unlock()
		<-c.done
		return c.res, c.err
	}
	c := &refreshCall{done: make(chan struct{})}
	g.inflight[token] = c
	g.mu.Unlock()

	c.res, c.err = fn()

	g.mu.Lock()
	delete(g.inflight, token)
	// Remembered: a refresh, or an outage. A token that Descope or the SDK's
	// check rejected (a forgery, say) is not kept.
	if c.err == nil || isTransient(c.err) {
		now := time.Now()
		g.makeRoom(now)
		remembered := c.res
		remembered.at, remembered.err = now, c.err
		g.recent[token] = remembered
	}
	g.mu.Unlock()
	close(c.done)
	return c.res, c.err
}

// makeRoom keeps recent under its bound: when it is full, it drops the stale
// outcomes among a few it looks at, then arbitrary ones. It never walks the
// whole map. g.mu is held.
func (g *refreshGroup) makeRoom(now time.Time) {
	if len(g.recent) < maxRecentRefreshes {
		return
	}
	looked := 0
	for k, r := range g.recent {
		if !r.fresh(now) {
			delete(g.recent, k)
		}
		if looked++; looked == 16 {
			break
		}
	}
	for k := range g.recent {
		if len(g.recent) < maxRecentRefreshes {
			break
		}
		delete(g.recent, k)
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
	ok, session, err := m.c.Auth.RefreshSessionWithTokenAndWriter(ctx, refreshJWT, cw)
	if err != nil || !ok || session == nil {
		if err == nil {
			err = ErrInvalidToken
		}
		return refreshResult{}, err
	}
	if err := m.checkClaims(session, "DS"); err != nil {
		return refreshResult{}, err
	}
	res := refreshResult{session: session, at: time.Now()}
	for _, ck := range (&http.Response{Header: cw.h}).Cookies() {
		if ck.Value == "" || ck.Value == refreshJWT {
			continue
		}
		// A rotated refresh token: the SDK verified it with Descope's answer.
		// It is decoded, not verified again: nothing in this request trusts
		// it, it is only handed to the browser, and verified when spent.
		if t := decodeToken(ck.Value); t != nil && m.checkClaims(t, "DSR") == nil {
			res.refresh = t
		}
	}
	return res, nil
}

// spendable reads a refresh token without verifying it, and reports whether
// it is worth sending to Descope: well formed, with a key ID and an accepted
// algorithm, of this project, a refresh token (drn), unexpired and not
// DPoP-bound. The SDK verifies its signature before it calls Descope, so the
// claims checked here are those it verifies.
func (m *Middleware) spendable(dsr string) (kid string, ok bool) {
	if len(dsr) > maxTokenLen {
		return "", false
	}
	if kid, ok = tokenKid(dsr); !ok {
		return "", false
	}
	t := decodeToken(dsr)
	return kid, t != nil && m.checkClaims(t, "DSR") == nil
}

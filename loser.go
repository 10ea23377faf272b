package anonymous

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// The loser of a double submit. A visitor may send a conversion's finish
// twice (a double click, two tabs): both requests pass the middleware,
// which refreshes an expired session on each (once, shared) and writes the
// refreshed anonymous cookies on both responses, or, when the visitor's
// refresh token was revoked by the first finish a moment ago, provisions a
// new anonymous visitor on the second and writes its cookies. One finish
// converts, writes the regular cookies and retires the anonymous tokens;
// the other fails. Its response still carries anonymous cookies: should the
// browser process it after the winner's, the visitor would appear
// anonymous again (its writes landing under the retired anonymous ID), and
// once that session expired, be given a new identity, signed out of the
// account it just made.
//
// So every conversion notes the anonymous identity it converted in the
// store for convertedFor (noteConverted), before it releases the
// conversion lock. A finish that fails on a request that carries fresh
// anonymous identity cookies looks the note up, once, and when the identity
// named by the request's credentials was converted it takes those cookies
// off its response (dropLoserCookies): the browser keeps the winner's. A
// finish that found the lock held first waits until it is released (the
// winner's outcome decides). A finish that fails for any other reason (a
// wrong code, nothing started) finds no note and keeps the cookies, as the
// browser needs them: with rotation, the refresh cookie the request carried
// was rotated out. No call to Descope; one store read on such failures
// only, never on a request with a valid session.

// convertedKey + an anonymous ID: a conversion of that identity ended a
// moment ago (noteConverted). Its value is empty.
const convertedKey = "conv:converted:"

// convertedFor is how long a conversion's note lives: as long as its
// conversion lock may be held (8 times the timeout), and at least a minute,
// so that a request sent before the winner answered, which may first wait
// for a refresh and a provisioning of its own, still finds it.
func (m *Middleware) convertedFor() time.Duration {
	return max(8*m.cfg.timeout, time.Minute)
}

// noteConverted notes that the anonymous identity id was converted, for
// dropLoserCookies. The conversion lock was taken on the same store a
// moment before; should the store fail in between, the conversion stands
// and the note is missing (logged): a late duplicate then answers with
// anonymous cookies, as it did before notes were kept.
func (m *Middleware) noteConverted(ctx context.Context, id string) {
	if err := m.state.strictSet(context.WithoutCancel(ctx), convertedKey+id, nil, m.convertedFor()); err != nil {
		m.cfg.logger.Warn("conversion not noted", "anonymous", id, "err", err)
	}
}

// loserGuard returns what a finish defers (with its error) so that, when it
// fails because a concurrent request converted the visitor, the identity
// cookies the middleware put on w before the finish began are not sent
// (dropLoserCookies). It notes how many Set-Cookie lines w holds now: the
// cookies the finish writes itself come after them and are never taken.
func (m *Middleware) loserGuard(w http.ResponseWriter, r *http.Request) func(error) {
	before := 0
	if w != nil {
		before = len(w.Header()["Set-Cookie"])
	}
	return func(err error) {
		if err != nil && before > 0 {
			m.dropLoserCookies(w, r, before, err)
		}
	}
}

// dropLoserCookies takes the identity cookies (session, refresh, local ID)
// among the first before Set-Cookie lines of w off it when the anonymous
// identity r's credentials named was converted (noteConverted) by another
// request. err is the finish's error: after ErrConversionInProgress it
// first waits for that conversion to end (awaitUnlock). A visitor with a
// regular session keeps its cookies: those are never an anonymous
// identity's.
func (m *Middleware) dropLoserCookies(w http.ResponseWriter, r *http.Request, before int, err error) {
	h := w.Header()
	lines := h["Set-Cookie"]
	before = min(before, len(lines))
	identity := false
	for _, l := range lines[:before] {
		identity = identity || m.isIdentityCookie(l)
	}
	if !identity {
		return // nothing of the middleware's to take: no store call
	}
	id, lockedBy := m.loserIdentity(r)
	if id == "" {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	if errors.Is(err, ErrConversionInProgress) && lockedBy != "" {
		if !m.awaitUnlock(r.Context(), lockedBy) {
			return // still held, or the visitor went away: as before
		}
	}
	if _, converted, gerr := m.state.strictGet(ctx, convertedKey+id); gerr != nil || !converted {
		return
	}
	kept := make([]string, 0, len(lines))
	for i, l := range lines {
		if i >= before || !m.isIdentityCookie(l) {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		h.Del("Set-Cookie")
	} else {
		h["Set-Cookie"] = kept
	}
	m.cfg.logger.Info("double submit: the converted visitor's anonymous cookies are not sent again", "anonymous", id)
}

// loserIdentity returns the anonymous identity r's credentials named, whose
// note dropLoserCookies looks up ("" when there is none to look up), and
// the user whose conversion lock r's finish took or found held. For a
// visitor identified or refreshed on r, both are its ID; for one
// provisioned on r (its refresh cookie was refused on the way in: the
// winner had revoked it), the identity of that refresh cookie, verified
// locally, and no lock.
func (m *Middleware) loserIdentity(r *http.Request) (id, lockedBy string) {
	u, ok := FromContext(r.Context())
	if !ok || !u.Anonymous {
		return "", ""
	}
	if _, minted := mintedInForce(u); !minted {
		return u.ID, u.ID
	}
	dsr, dup := cookieValue(r, m.cfg.refreshCookie)
	if dup || dsr == "" {
		return "", ""
	}
	prev, err := m.verify(r.Context(), dsr, "DSR")
	if err != nil || !prev.Anonymous || prev.ID == u.ID {
		return "", ""
	}
	return prev.ID, ""
}

// isIdentityCookie reports whether the Set-Cookie line l sets the session,
// refresh or local ID cookie.
func (m *Middleware) isIdentityCookie(l string) bool {
	name, _, ok := strings.Cut(l, "=")
	if !ok {
		return false
	}
	name = strings.TrimSpace(name)
	return name == m.cfg.sessionCookie || name == m.cfg.refreshCookie || (m.local != nil && name == m.local.name)
}

// Polling of a conversion lock held by another request (awaitUnlock), by
// at most maxAwaiting finishes of a process at once: a flood of parallel
// finishes of one visitor (each would poll the store up to 8×timeout/200
// ms times) costs the store no more than maxAwaiting pollers; the others
// answer at once, their cookies left as they were.
const (
	unlockPollFirst = 10 * time.Millisecond
	unlockPollMax   = 200 * time.Millisecond
	maxAwaiting     = 32
)

// awaitUnlock waits until userID's conversion lock is released, polling
// the store (from every 10 ms, doubling up to every 200 ms), at most as
// long as the lock may be held (8 times the timeout, on the real clock: the
// lock's holder is a real request). It reports false when the lock is still
// held then, the store does not answer, ctx ends, or maxAwaiting finishes
// of this process wait already.
func (m *Middleware) awaitUnlock(ctx context.Context, userID string) bool {
	if m.awaiting.Add(1) > maxAwaiting {
		m.awaiting.Add(-1)
		return false
	}
	defer m.awaiting.Add(-1)
	key := conversionLockKey(userID)
	deadline := time.Now().Add(8 * m.cfg.timeout)
	wait := unlockPollFirst
	for {
		_, held, err := m.state.strictGet(ctx, key)
		switch {
		case err != nil:
			return false
		case !held:
			return true
		case time.Now().After(deadline):
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, unlockPollMax)
	}
}

package anonymous

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	done    chan struct{}
	waiters int // requests waiting on it, counted under the group's lock
	res     refreshResult
	err     error
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
	rejected rejectedTokens     // refresh tokens Descope answered are not live
	logouts  flights            // logouts under way: one call per token
}

// do returns the outcome of spending token with fn: one remembered and still
// fresh, that of a call under way (waiting for it), or that of calling fn now
// on behalf of every request that comes meanwhile.
func (g *refreshGroup) do(token string, fn func() (refreshResult, error)) (refreshResult, error) {
	g.mu.Lock()
	if g.inflight == nil {
		g.inflight = make(map[string]*refreshCall)
		g.recent = make(map[string]refreshResult)
		g.spentFor = make(map[string]string)
	}
	if res, ok := g.recent[token]; ok {
		if res.fresh(g.clock()) {
			g.mu.Unlock()
			return res, res.err
		}
		g.dropLocked(token)
	}
	if c, ok := g.inflight[token]; ok {
		c.waiters++
		g.mu.Unlock()
		<-c.done
		return c.res, c.err
	}
	c := &refreshCall{done: make(chan struct{})}
	g.inflight[token] = c
	g.mu.Unlock()

	panicked := c.run(fn)
	g.settle(token, c, panicked == nil)
	close(c.done)
	if panicked != nil {
		panic(panicked)
	}
	return c.res, c.err
}

// run calls fn and keeps its outcome. A panic in fn (it parses what Descope
// answers) is kept as an error, so that the waiters are still released, and
// returned, for do to raise again once they are.
func (c *refreshCall) run(fn func() (refreshResult, error)) (panicked any) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
			c.res, c.err = refreshResult{}, fmt.Errorf("%w: refresh panicked: %v", ErrUnavailable, p)
		}
	}()
	c.res, c.err = fn()
	return nil
}

// settle ends the call on token and, with remember, keeps its outcome when it
// is a refresh or an outage. A token that Descope or the SDK's check
// rejected (a forgery, say) is not kept, nor an outcome the shared store
// holds for every replica.
func (g *refreshGroup) settle(token string, c *refreshCall, remember bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.inflight, token)
	if !remember || c.res.shared || (c.err != nil && !isTransient(c.err)) {
		return
	}
	now := g.clock()
	g.makeRoom(now)
	remembered := c.res
	remembered.at, remembered.err = now, c.err
	g.recent[token] = remembered
	if c.err == nil && c.res.refresh != nil {
		g.spentFor[c.res.refresh.JWT] = token
	}
}

// clock returns the group's time: its clock, or the wall clock.
func (g *refreshGroup) clock() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
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
// Only verified tokens may be forgotten this way: onForget writes to the
// stores.
func (g *refreshGroup) forget(token string) {
	old, had := g.forgetLocal(token)
	if g.onForget != nil {
		g.onForget(token)
		if had {
			g.onForget(old)
		}
	}
}

// forgetLocal is forget within this process only; it returns the token
// that rotated token in, when one is remembered.
func (g *refreshGroup) forgetLocal(token string) (old string, had bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old, had = g.spentFor[token]
	if had {
		g.dropLocked(old)
		delete(g.spentFor, token)
	}
	g.dropLocked(token)
	return old, had
}

// successor returns the refresh token that spending token rotated in, when
// this process remembers that refresh.
func (g *refreshGroup) successor(token string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.recent[token]; ok && r.err == nil && r.refresh != nil {
		return r.refresh.JWT, true
	}
	return "", false
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
			g.dropLocked(k)
		}
		if looked++; looked == 16 {
			break
		}
	}
	for k := range g.recent {
		if len(g.recent) < maxRecentRefreshes {
			break
		}
		g.dropLocked(k)
	}
}

// callRefresh asks Descope for a new session token. It runs detached from
// the request that started it, so that one visitor's cancelled request does
// not fail the others waiting on the same refresh.
func (m *Middleware) callRefresh(ctx context.Context, refreshJWT string) (refreshResult, error) {
	// The SDK hands over a rotated refresh token only as a cookie it writes.
	cw := &headerBuffer{h: http.Header{}}
	var ok bool
	session, err := call(m, ctx, "session.refresh", func(ctx context.Context) (session *descope.Token, err error) {
		ok, session, err = m.c.Auth.RefreshSessionWithTokenAndWriter(ctx, refreshJWT, cw)
		return session, err
	})
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
		// A rotated refresh token: the SDK verified it with Descope's answer.
		// It is decoded, not verified again: nothing in this request trusts
		// it, it is only handed to the browser, and verified when spent.
		if t := decodeToken(ck.Value); t != nil && m.checkClaims(t, "DSR") == nil {
			res.refresh = t
		}
	}
	m.noteRotation(res.refresh != nil)
	return res, nil
}

// checkIssued is checkClaims for a token Descope has just issued for a
// refresh: one that expired on the way (a session of a few seconds, on a
// loaded host) still names the visitor, who must not lose the refresh token
// that came with it. writeTokens writes no cookie for it.
func (m *Middleware) checkIssued(t *descope.Token, drn string) error {
	if t != nil && t.Expiration > 0 && t.Expiration <= m.now().Unix() {
		live := *t
		live.Expiration = math.MaxInt64
		return m.checkClaims(&live, drn)
	}
	return m.checkClaims(t, drn)
}

// What the last refresh showed of Descope's refresh-token rotation.
const (
	rotationUnknown = iota // no refresh yet
	rotationOn             // the last refresh returned a new refresh token
	rotationOff            // it did not
)

// noteRotation records whether a refresh returned a new refresh token.
func (m *Middleware) noteRotation(rotated bool) {
	if rotated {
		m.rotation.Store(rotationOn)
	} else {
		m.rotation.Store(rotationOff)
	}
}

// refresh trades a refresh token for a new session token. Concurrent requests
// with the same refresh token share one call to Descope (one across replicas
// with a shared store). A transient failure leaves the visitor's cookies
// alone; a rejected refresh token lets the visitor be provisioned anew, and
// is remembered (rejectedTokens): presented again, it is answered the same
// way with no call.
//
// The refresh token is verified once: by the SDK, before it calls Descope.
// It is verified here only where nothing else would: the first token of a
// key since start-up (through the key gate), and before its identity alone
// serves a request (Degraded). An outcome another replica stored is sealed
// under the token itself, so only its holder can open it.
func (m *Middleware) refresh(w http.ResponseWriter, r *http.Request, dsr string) (*User, outcome, error) {
	ctx := r.Context()
	kid, claimed, ok := m.spendable(dsr)
	if !ok {
		m.obs.emit(ctx, Event{Kind: EventRefreshRejected, Reason: "invalid", Err: ErrInvalidToken})
		return nil, noSession, nil
	}
	rt := &presentedRefresh{m: m, ctx: ctx, jwt: dsr}
	if !m.kids.isKnown(kid) {
		// The first token signed with this key since start-up: verify it
		// through the gate, which lets one request at a time fetch the keys.
		if _, out, err := rt.verified(); out != identified {
			return nil, out, err
		}
	}
	res, err := m.refreshes.do(dsr, func() (refreshResult, error) {
		if final, ok := m.refreshes.rejected.has(dsr, m.now()); ok {
			// Descope has answered that this token is not live: it is
			// answered as then, without asking again.
			return refreshResult{shared: final}, errRejectedBefore
		}
		res, err := m.refreshVia(ctx, rt, claimed.ID)
		if descopeRejected(err) {
			// Remembered before the requests waiting on this call are
			// released, so that none that comes after asks again.
			m.refreshes.rejected.remember(dsr, claimed.Expiration, res.shared, m.now())
		}
		return res, err
	})
	switch {
	case err == nil:
	case errors.Is(err, errNotGenuine):
		// It failed its check before a claim in the shared store: answer
		// as that check does (this request's own, for one that waited).
		if _, out, verr := rt.verified(); out != identified {
			return nil, out, verr
		}
		return m.refreshUnavailable(ctx, rt, err)
	case errors.Is(err, errRefreshHeld):
		u, out, verr := rt.verified()
		if out != identified {
			return nil, out, verr
		}
		return m.degradedFrom(ctx, u, err)
	case isTransient(err):
		return m.refreshUnavailable(ctx, rt, err)
	default:
		return m.refreshRejected(ctx, rt, res, err)
	}
	held := dsr
	if res.refresh != nil {
		held = res.refresh.JWT // dsr is rotated out: never to be presented again
	}
	u := m.newRefreshedUser(res.session, held)
	m.writeTokens(w, res.session, res.refresh)
	if _, known := m.knownTenant(); known || u.Anonymous {
		m.cache.putIDs(res.session.JWT, u.ID, u.Anonymous, u.LoginIDs, res.session.Expiration, m.now().Unix())
	}
	m.obs.emit(ctx, Event{Kind: EventRefreshed, User: u})
	return u, identified, nil
}

// presentedRefresh is the refresh token a request presented, verified
// locally only once a step needs its identity.
type presentedRefresh struct {
	m    *Middleware
	ctx  context.Context
	jwt  string
	done bool // verified has run: its answer is below
	user *User
	out  outcome
	err  error
}

// verified verifies the token, once: it returns its identity, or, with the
// event reported, refused for an outage (and its error) or noSession for a
// token that is not genuine.
func (p *presentedRefresh) verified() (*User, outcome, error) {
	if !p.done {
		p.done = true
		p.user, p.out, p.err = p.check()
	}
	return p.user, p.out, p.err
}

func (p *presentedRefresh) check() (*User, outcome, error) {
	u, err := p.m.verify(p.ctx, p.jwt, "DSR")
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			p.m.obs.emit(p.ctx, Event{Kind: EventRefreshFailed, Err: err})
			return nil, refused, err
		}
		p.m.obs.emit(p.ctx, Event{Kind: EventRefreshRejected, Reason: "invalid", Err: err})
		return nil, noSession, nil
	}
	return u, identified, nil
}

// errNotGenuine is a presented refresh token that did not pass the local
// check genuine makes.
var errNotGenuine = fmt.Errorf("%w: refresh token not checked genuine", ErrInvalidToken)

// genuine verifies the token (verified) for a step that must not act on a
// forged one: nil, or errNotGenuine.
func (p *presentedRefresh) genuine() error {
	if _, out, _ := p.verified(); out != identified {
		return errNotGenuine
	}
	return nil
}

// refreshUnavailable answers a refresh that failed for want of Descope: the
// visitor's cookies are left alone, and with [WithDegradedIdentity] a genuine
// refresh token keeps its identity for this request, Degraded.
func (m *Middleware) refreshUnavailable(ctx context.Context, rt *presentedRefresh, err error) (*User, outcome, error) {
	err = wrap(ErrUnavailable, err)
	if !m.cfg.degraded {
		m.obs.emit(ctx, Event{Kind: EventRefreshFailed, Err: err})
		return nil, refused, err
	}
	// Degraded: if the refresh token is genuine, unexpired and ours, keep
	// the visitor's identity for this request and touch no cookie.
	u, out, verr := rt.verified()
	switch out {
	case identified:
	case refused:
		return nil, refused, err
	default:
		return nil, out, verr
	}
	m.obs.emit(ctx, Event{Kind: EventDegraded, Err: err})
	return &User{ID: u.ID, Anonymous: u.Anonymous, Degraded: true}, refused, err
}

// refreshRejected answers a refresh token that Descope, or the SDK's check,
// rejected: the visitor may be provisioned anew, unless another replica may
// just have rotated the token (inRejectionGrace).
func (m *Middleware) refreshRejected(ctx context.Context, rt *presentedRefresh, res refreshResult, err error) (*User, outcome, error) {
	level := slog.LevelInfo
	if descope.ErrInvalidToken.Is(err) || errors.Is(err, errRejectedBefore) {
		level = slog.LevelDebug // failed the SDK's own check, or rejected before: Descope was not asked
	}
	m.cfg.logger.Log(ctx, level, "refresh token rejected", "err", err)
	if !res.shared && m.inRejectionGrace(rt.jwt) {
		// Perhaps rotated by another replica just now: keep the identity.
		if u, out, verr := rt.verified(); out == identified {
			return m.degradedFrom(ctx, u, err)
		} else if out == refused {
			return nil, out, verr
		}
	}
	m.obs.emit(ctx, Event{Kind: EventRefreshRejected, Reason: "descope", Err: err})
	return nil, noSession, nil
}

// degradedFrom serves the visitor of a genuine, unexpired refresh token with
// the identity it names, Degraded, writing no cookie (or with no identity,
// when [WithDegradedIdentity] is off).
func (m *Middleware) degradedFrom(ctx context.Context, rt *User, err error) (*User, outcome, error) {
	if !m.cfg.degraded {
		m.obs.emit(ctx, Event{Kind: EventRefreshFailed, Err: err})
		return nil, refused, nil
	}
	m.obs.emit(ctx, Event{Kind: EventDegraded, Err: err})
	return &User{ID: rt.ID, Anonymous: rt.Anonymous, Degraded: true}, identified, nil
}

// spendable reads a refresh token without verifying it, and reports whether
// it is worth sending to Descope: well formed in its canonical spelling,
// with a key ID and an accepted algorithm, of this project, a refresh token
// (drn), unexpired and not DPoP-bound. The SDK verifies its signature before
// it calls Descope, so the claims checked here are those it verifies.
func (m *Middleware) spendable(dsr string) (kid string, claimed *descope.Token, ok bool) {
	if len(dsr) > maxTokenLen || !canonicalJWS(dsr) {
		return "", nil, false
	}
	if kid, ok = tokenKid(dsr); !ok {
		return "", nil, false
	}
	t := decodeToken(dsr)
	if t == nil || m.checkClaims(t, "DSR") != nil {
		return "", nil, false
	}
	return kid, t, true
}

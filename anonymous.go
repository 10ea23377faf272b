package anonymous

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/descope/go-sdk/descope/client"
)

// Middleware identifies, refreshes or provisions a Descope user for every
// request. Build it once with New; it is safe for concurrent use.
type Middleware struct {
	c         *client.DescopeClient
	cfg       config
	projectID string
	cache     *sessionCache
	refreshes refreshGroup
	kids      kidGate
	local     *localSealer     // nil without WithLocalKeys
	opened    *sessionCache    // local ID cookies opened under the first key; nil without WithLocalKeys
	state     *sharedState     // rate limits, pending conversions, conversion locks, refresh outcomes
	now       func() time.Time // the clock
	obs       *observer        // observers of events; what Healthy knows of Descope
	rotation  atomic.Int32     // what the last refresh showed: rotationUnknown, rotationOn or rotationOff
	awaiting  atomic.Int32     // finishes waiting for another's conversion lock (awaitUnlock)

	createPausedUntil atomic.Int64 // unix nanoseconds: Descope answered user create with 429
	sdkRefreshCookie  string       // the refresh cookie name the SDK client reads

	tenantMu   sync.Mutex
	tenantID   string // set once resolved; read under tenantMu or via anonTenant
	tenantNext time.Time
	tenantErr  error
	tenantOK   chan struct{} // closed once the tenant is resolved
}

// New builds the middleware around a configured Descope client. It makes no
// call to Descope: the anonymous tenant is resolved on first use, or by Init.
func New(c *client.DescopeClient, opts ...Option) (*Middleware, error) {
	if c == nil || c.Auth == nil || c.Management == nil {
		return nil, errors.New("anonymous: nil Descope client")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sdkPID, readable := sdkConfig(c, "ProjectID")
	sdkCookie, _ := sdkConfig(c, "RefreshCookieName")
	pid := firstNonEmpty(cfg.projectID, sdkPID)
	switch {
	case cfg.projectID == "" && !readable:
		return nil, errors.New("anonymous: the Descope client's configuration cannot be read (a go-sdk version this library does not know): use WithProjectID")
	case pid == "":
		return nil, errors.New("anonymous: unknown project ID: use WithProjectID")
	case !readable:
		cfg.logger.Warn("the Descope client's configuration cannot be read: assuming the refresh cookie name DSR")
	}
	m := &Middleware{
		c:                c,
		cfg:              cfg,
		projectID:        pid,
		cache:            newSessionCache(cfg.cacheEntries, cfg.cacheBytes),
		state:            newSharedState(cfg),
		now:              cfg.now,
		obs:              newObserver(&cfg),
		tenantOK:         make(chan struct{}),
		sdkRefreshCookie: firstNonEmpty(sdkCookie, "DSR"),
	}
	var err error
	if m.state.keys, err = newStoreKeysFor(&cfg, c); err != nil {
		return nil, err
	}
	if m.local, err = newLocalSealer(cfg.localKeys, cfg.localCookie); err != nil {
		return nil, err
	}
	if m.local != nil {
		m.opened = newSessionCache(cfg.cacheEntries, cfg.cacheBytes)
	}
	m.state.emit = m.obs.emit
	m.refreshes.now = cfg.now
	m.refreshes.onForget = m.forgetRefresh
	m.kids.now = cfg.now
	return m, nil
}

// Handler returns next wrapped by the middleware. next is called with a
// request whose context carries the User, when there is one, and with the
// ResponseWriter the middleware was given, except on a response on which the
// middleware set identity cookies (a new visitor, a refresh): then with a
// wrapper that applies [PreventSharedCaching] just before the header is
// written, whatever Cache-Control next set. The wrapper offers what net/http's
// own writers offer (http.Flusher, http.Hijacker and io.ReaderFrom over
// HTTP/1; http.Flusher and http.Pusher over HTTP/2), and Unwrap, through
// which http.ResponseController reaches everything else.
func (m *Middleware) Handler(next http.Handler) http.Handler { return m.handler(next, true) }

// handler is [Middleware.Handler], or with provision false
// [Middleware.Identify].
func (m *Middleware) handler(next http.Handler, provision bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m == nil {
			m.Process(w, r)
			return
		}
		r, ok, setCookie := m.serve(w, r, provision)
		if !ok {
			return
		}
		if setCookie {
			w = newCacheGuard(w)
		}
		next.ServeHTTP(w, r)
	})
}

// Process does the middleware's work for one request, for frameworks whose
// handlers are not http.Handlers: it identifies, refreshes or provisions the
// visitor, writing cookies on w, and returns the request to hand on (its
// context carries the User, when there is one). ok is false when the error
// hook wrote a response: the request ends there. When it wrote a cookie on
// w, the framework must call [PreventSharedCaching] on w's header just
// before the header is written (the gin and echo adapters do), as Handler
// does.
//
// A nil Middleware answers every request 500 and hands nothing on.
func (m *Middleware) Process(w http.ResponseWriter, r *http.Request) (_ *http.Request, ok bool) {
	if m == nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": publicMessage(errNilMiddleware)})
		return r, false
	}
	r, ok, _ = m.serve(w, r, true)
	return r, ok
}

// outcome says what identify learned about a request's tokens.
type outcome int

const (
	noSession  outcome = iota // no token, or only tokens Descope rejected: provisioning may follow
	identified                // a user is known
	refused                   // tokens present but unusable now (outage, duplicate, bad bearer): touch nothing
)

// serve is Process for a Middleware; provision is false behind
// [Middleware.Identify], which never provisions; setCookie reports that it
// wrote a cookie on w.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, provision bool) (_ *http.Request, ok, setCookie bool) {
	h := w.Header()
	markVary(h)
	cookies := len(h["Set-Cookie"])
	u, out, err := m.identifyVisitor(w, r)
	// Whether the browser would keep the cookies comes first: a cross-site
	// embed is counted as such, whatever else would skip it.
	if out == noSession && m.keepsCookies(r) && m.mayProvision(r, provision) {
		u, err = m.provision(w, r)
	}
	if err != nil && m.fail(w, r, err) {
		return r, false, false
	}
	if u != nil {
		r = r.WithContext(withUser(r.Context(), u))
	}
	return r, true, len(h["Set-Cookie"]) != cookies
}

// identifyVisitor identifies a request by its Descope session, as identify
// does, and, when it has none, by its local ID cookie. A request with neither
// a bearer token nor a Descope cookie (a local visitor's) reads its cookies
// in one pass and goes straight to the local cookie.
func (m *Middleware) identifyVisitor(w http.ResponseWriter, r *http.Request) (*User, outcome, error) {
	if m.local == nil {
		return m.identify(w, r)
	}
	if !m.cfg.acceptBearer || len(r.Header["Authorization"]) == 0 {
		ds, dsr, dsl, dup := m.visitorCookies(r)
		if !dup && ds == "" && dsr == "" {
			return m.identifyLocal(w, r, dsl)
		}
	}
	u, out, err := m.identify(w, r)
	if out != noSession {
		return u, out, err
	}
	dsl, dup := cookieValue(r, m.local.name)
	if dup {
		return nil, refused, ErrDuplicateCookie
	}
	return m.identifyLocal(w, r, dsl)
}

// identify finds the user of a request by its Descope tokens, for
// identifyVisitor: its session token (bearer or cookie), else its refresh
// token.
func (m *Middleware) identify(w http.ResponseWriter, r *http.Request) (*User, outcome, error) {
	ctx := r.Context()
	if m.cfg.acceptBearer {
		if tok := bearerToken(r); tok != "" {
			u, err := m.verify(ctx, tok, "DS")
			if err != nil {
				// An API client with a bad token gets no user and no cookies.
				if errors.Is(err, ErrUnavailable) {
					return nil, refused, err
				}
				return nil, refused, nil
			}
			return u, identified, nil
		}
	}
	ds, dup := cookieValue(r, m.cfg.sessionCookie)
	if dup {
		return nil, refused, ErrDuplicateCookie
	}
	var sessionErr error
	if ds != "" {
		u, err := m.verify(ctx, ds, "DS")
		if err == nil {
			return u, identified, nil
		}
		sessionErr = err
	}
	dsr, dup := cookieValue(r, m.cfg.refreshCookie)
	if dup {
		return nil, refused, ErrDuplicateCookie
	}
	if dsr == "" {
		if errors.Is(sessionErr, ErrUnavailable) {
			return nil, refused, sessionErr
		}
		return nil, noSession, nil
	}
	return m.refresh(w, r, dsr)
}

// Ensure returns the request's user, provisioning one now when there is none
// (in lazy mode, or when the middleware skipped the request). It writes the
// cookies on w, so call it before writing the response body. The request's
// context is not changed: use the returned user. A cross-site request whose
// cookies the browser would not keep (an embed on another site's page) gets
// no identity but an error that is [ErrNoSession].
func (m *Middleware) Ensure(w http.ResponseWriter, r *http.Request) (*User, error) {
	if u, ok := FromContext(r.Context()); ok {
		return u, nil
	}
	u, out, err := m.identifyVisitor(w, r)
	switch out {
	case identified:
		return u, nil
	case refused:
		if err == nil {
			err = ErrNoSession
		}
		return u, err
	}
	if !m.keepsCookies(r) {
		return nil, errCookiesNotKept
	}
	return m.provision(w, r)
}

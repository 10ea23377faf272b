package anonymous

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/descope/go-sdk/descope"
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
	state     *sharedState     // rate limits, pending conversions, conversion locks, refresh outcomes
	now       func() time.Time // the clock
	obs       *observer        // observers of events; what Healthy knows of Descope
	rotation  atomic.Int32     // what the last refresh showed: rotationUnknown, rotationOn or rotationOff

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
	if m.local, err = newLocalSealer(cfg.localKeys, cfg.localCookie); err != nil {
		return nil, err
	}
	m.state.emit = m.obs.emit
	m.refreshes.now = cfg.now
	m.refreshes.onForget = m.forgetRefresh
	m.kids.now = cfg.now
	return m, nil
}

// sdkConfig reads a string field of the Config the client was built with
// (ProjectID, RefreshCookieName). The go-sdk keeps that Config unexported;
// reading it spares every caller from repeating what the client already
// knows. ok is false when the field cannot be read at all (a go-sdk whose
// layout differs from v1.28.0's); an empty value with ok is a field unset.
func sdkConfig(c *client.DescopeClient, field string) (value string, ok bool) {
	defer func() {
		if recover() != nil {
			value, ok = "", false
		}
	}()
	v := reflect.ValueOf(c).Elem().FieldByName("config")
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return "", false
	}
	f := v.Elem().FieldByName(field)
	if !f.IsValid() || f.Kind() != reflect.String {
		return "", false
	}
	return f.String(), true
}

// Init resolves the anonymous tenant now (creating it and configuring its
// session settings when needed) instead of on first use, so a deployment
// learns at start-up whether its credentials work.
func (m *Middleware) Init(ctx context.Context) error {
	_, err := m.anonTenant(ctx, true)
	return err
}

// anonTenant returns the anonymous tenant's ID, resolving it on first use.
// After a failure it waits a few seconds before asking Descope again, so an
// outage does not turn every request into a tenant lookup.
func (m *Middleware) anonTenant(ctx context.Context, force bool) (string, error) {
	select {
	case <-m.tenantOK:
		return m.tenantID, nil
	default:
	}
	m.tenantMu.Lock()
	defer m.tenantMu.Unlock()
	if m.tenantID != "" {
		return m.tenantID, nil
	}
	if !force && m.now().Before(m.tenantNext) {
		return "", m.tenantErr
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.timeout)
	defer cancel()
	t, err := resolveTenant(ctx, m.c, tenantSpec{
		id: m.cfg.tenantID, name: m.cfg.tenantName,
		lifetime: m.cfg.lifetime, sessionTTL: m.cfg.sessionTTL, configure: true, obs: m.obs,
	})
	if err != nil {
		if isTransient(err) && !errors.Is(err, ErrUnavailable) {
			err = wrap(ErrUnavailable, err)
		}
		m.tenantErr, m.tenantNext = err, m.now().Add(5*time.Second)
		m.cfg.logger.Warn("anonymous tenant not resolved", "err", err)
		return "", err
	}
	m.tenantID = t.id
	close(m.tenantOK)
	m.cfg.logger.Info("anonymous tenant resolved", "tenant", t.id)
	return t.id, nil
}

// knownTenant returns the tenant ID if it is already resolved.
func (m *Middleware) knownTenant() (string, bool) {
	select {
	case <-m.tenantOK:
		return m.tenantID, true
	default:
		return "", false
	}
}

// Handler returns next wrapped by the middleware. next is called with the
// ResponseWriter the middleware was given (never a wrapper of its own), and
// a request whose context carries the User, when there is one.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r, ok := m.Process(w, r); ok {
			next.ServeHTTP(w, r)
		}
	})
}

// Process does the middleware's work for one request, for frameworks whose
// handlers are not http.Handlers: it identifies, refreshes or provisions the
// visitor, writing cookies on w, and returns the request to hand on (its
// context carries the User, when there is one). ok is false when the error
// hook wrote a response: the request ends there.
func (m *Middleware) Process(w http.ResponseWriter, r *http.Request) (_ *http.Request, ok bool) {
	return m.serve(w, r)
}

// outcome says what identify learned about a request's tokens.
type outcome int

const (
	noSession  outcome = iota // no token, or only tokens Descope rejected: provisioning may follow
	identified                // a user is known
	refused                   // tokens present but unusable now (outage, duplicate, bad bearer): touch nothing
)

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	markVary(w.Header())
	u, out, err := m.identifyVisitor(w, r)
	if out == noSession && m.shouldProvision(r) {
		u, err = m.provision(w, r)
	}
	if err != nil && m.fail(w, r, err) {
		return r, false
	}
	if u != nil {
		r = r.WithContext(withUser(r.Context(), u))
	}
	return r, true
}

// identify finds the user of a request from its session token (bearer or
// cookie), else from its refresh token.
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

// descopeFailure wraps an error from Descope under ErrUnavailable when it is
// transient, with what was being done.
func (m *Middleware) descopeFailure(doing string, err error) error {
	if isTransient(err) {
		return fmt.Errorf("%s: %w", doing, wrap(ErrUnavailable, err))
	}
	return fmt.Errorf("anonymous: %s: %w", doing, err)
}

// Ensure returns the request's user, provisioning one now when there is none
// (in lazy mode, or when the middleware skipped the request). It writes the
// cookies on w, so call it before writing the response body. The request's
// context is not changed: use the returned user.
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
	return m.provision(w, r)
}

// fail reports err to the log and the error hook. It returns true when the
// hook wrote a response, which ends the request.
func (m *Middleware) fail(w http.ResponseWriter, r *http.Request, err error) bool {
	level := slog.LevelWarn
	if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrDuplicateCookie) {
		level = slog.LevelInfo
	}
	m.cfg.logger.Log(r.Context(), level, "anonymous identity unavailable", "path", r.URL.Path, "err", err)
	if m.cfg.errorHandler == nil {
		return false
	}
	tw := &trackingWriter{ResponseWriter: w}
	m.cfg.errorHandler(tw, r, err)
	return tw.wrote
}

// trackingWriter notes whether the error hook wrote a response.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) { t.wrote = true; t.ResponseWriter.WriteHeader(code) }
func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// LoadUser loads the full Descope profile of u (login IDs, email, phone,
// tenants). It is one management call; the middleware never makes it on its
// own.
func (m *Middleware) LoadUser(ctx context.Context, u *User) (*descope.UserResponse, error) {
	if u == nil {
		return nil, ErrNoSession
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.timeout)
	defer cancel()
	began := m.obs.start()
	p, err := m.c.Management.User().Load(ctx, u.ID)
	m.obs.done(ctx, "user.load", began, err)
	return p, err
}

// Logout revokes the visitor's refresh token at Descope and clears the
// cookies. The cookies are cleared even when Descope cannot be reached; the
// error says so. The refresh token passes the same local checks as any other
// first (a forged one costs no call to Descope), the call is bounded by the
// configured timeout, and a refresh remembered for that token is forgotten.
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
	m.refreshes.forget(dsr)
	if _, err := m.verify(r.Context(), dsr, "DSR"); err != nil {
		if errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("logout: %w", err)
		}
		return nil // not a live refresh token of this project: nothing to revoke
	}
	ctx, cancel := m.callContext(r.Context())
	defer cancel()
	sr, err := m.sdkRequest(ctx, dsr)
	if err == nil {
		began := m.obs.start()
		err = m.c.Auth.Logout(sr, nil)
		m.obs.done(ctx, "auth.logout", began, err)
	}
	if err != nil {
		return m.descopeFailure("logout", err)
	}
	return nil
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package anonymous

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
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
	limiter   provisionLimiter
	refreshes refreshGroup
	kids      kidGate

	convertStarts    provisionLimiter // conversion codes per user and per address
	sdkRefreshCookie string           // the refresh cookie name the SDK client reads

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
	pid := firstNonEmpty(cfg.projectID, sdkConfig(c, "ProjectID"), os.Getenv("DESCOPE_PROJECT_ID"))
	if pid == "" {
		return nil, errors.New("anonymous: unknown project ID: use WithProjectID")
	}
	m := &Middleware{
		c:         c,
		cfg:       cfg,
		projectID: pid,
		cache:     newSessionCache(cfg.cacheEntries, cfg.cacheBytes),
		limiter: provisionLimiter{
			client: newWindow(cfg.clientLimit, cfg.clientPer),
			global: newWindow(cfg.globalLimit, cfg.globalPer),
		},
		tenantOK:         make(chan struct{}),
		convertStarts:    provisionLimiter{client: newWindow(maxConversionStarts, conversionWindow)},
		sdkRefreshCookie: firstNonEmpty(sdkConfig(c, "RefreshCookieName"), "DSR"),
	}
	return m, nil
}

// sdkConfig reads a string field of the Config the client was built with
// (ProjectID, RefreshCookieName). The go-sdk keeps that Config unexported;
// reading it spares every caller from repeating what the client already
// knows. It returns "" when the field cannot be read.
func sdkConfig(c *client.DescopeClient, field string) (value string) {
	defer func() {
		if recover() != nil {
			value = ""
		}
	}()
	v := reflect.ValueOf(c).Elem().FieldByName("config")
	if !v.IsValid() || v.IsNil() {
		return ""
	}
	f := v.Elem().FieldByName(field)
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
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
	if !force && time.Now().Before(m.tenantNext) {
		return "", m.tenantErr
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.timeout)
	defer cancel()
	t, err := resolveTenant(ctx, m.c, tenantSpec{
		id: m.cfg.tenantID, name: m.cfg.tenantName,
		lifetime: m.cfg.lifetime, sessionTTL: m.cfg.sessionTTL, configure: true,
	})
	if err != nil {
		if isTransient(err) && !errors.Is(err, ErrUnavailable) {
			err = wrap(ErrUnavailable, err)
		}
		m.tenantErr, m.tenantNext = err, time.Now().Add(5*time.Second)
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
		m.serve(w, r, next)
	})
}

// outcome says what identify learned about a request's tokens.
type outcome int

const (
	noSession  outcome = iota // no token, or only tokens Descope rejected: provisioning may follow
	identified                // a user is known
	refused                   // tokens present but unusable now (outage, duplicate, bad bearer): touch nothing
)

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	markVary(w.Header())
	u, out, err := m.identify(w, r)
	if out == noSession && m.shouldProvision(r) {
		u, err = m.provision(w, r)
	}
	if err != nil && m.fail(w, r, err) {
		return
	}
	if u != nil {
		r = r.WithContext(withUser(r.Context(), u))
	}
	next.ServeHTTP(w, r)
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

// verify checks a token locally: signature against Descope's keys (fetched
// once by the SDK), expiry, this project, and the token type (drn). Verified
// session tokens are cached until they expire.
func (m *Middleware) verify(ctx context.Context, tok, drn string) (*User, error) {
	now := time.Now().Unix()
	if drn == "DS" {
		if id, anon, ok := m.cache.get(tok, now); ok {
			return newCachedUser(id, anon, tok), nil
		}
	}
	if len(tok) > maxTokenLen {
		return nil, ErrInvalidToken
	}
	kid, ok := tokenKid(tok)
	if !ok {
		return nil, ErrInvalidToken
	}
	if exp, ok := unverifiedExp(tok); ok && exp <= now {
		// Expired whatever its signature: spare the RSA check.
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	var t *descope.Token
	err := m.kids.do(kid, m.cfg.timeout, func() error {
		_, vt, err := m.c.Auth.ValidateSessionWithToken(ctx, tok)
		if err == nil {
			err = m.checkClaims(vt, drn)
		}
		if err == nil {
			t = vt
		}
		return err
	})
	if err != nil {
		if isTransient(err) {
			return nil, wrap(ErrUnavailable, err)
		}
		if !errors.Is(err, ErrInvalidToken) {
			err = wrap(ErrInvalidToken, err)
		}
		return nil, err
	}
	u := m.userFrom(t)
	if drn == "DS" {
		if _, known := m.knownTenant(); known || u.Anonymous {
			m.cache.put(tok, u.ID, u.Anonymous, t.Expiration, now)
		}
	}
	return u, nil
}

// checkClaims makes the checks the SDK leaves out: the token belongs to this
// project, is of the expected type (drn), and has an expiry not yet passed.
func (m *Middleware) checkClaims(t *descope.Token, drn string) error {
	if t == nil || t.ID == "" {
		return ErrInvalidToken
	}
	if t.ProjectID != m.projectID {
		return fmt.Errorf("%w: token of another project", ErrInvalidToken)
	}
	if t.GetDPoPThumbprint() != "" {
		// Bound to a key whose proof the middleware does not check.
		return fmt.Errorf("%w: DPoP-bound token", ErrInvalidToken)
	}
	if got, _ := t.Claims["drn"].(string); got != drn {
		return fmt.Errorf("%w: %q token where %q was expected", ErrInvalidToken, got, drn)
	}
	if t.Expiration <= time.Now().Unix() {
		return fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return nil
}

// userFrom builds the User a verified session token describes.
func (m *Middleware) userFrom(t *descope.Token) *User {
	return &User{ID: t.ID, Anonymous: m.isAnonymous(t), token: t}
}

// isAnonymous reports whether a token says its user is anonymous: a member of
// the anonymous tenant, or a Descope-native anonymous token (danu).
func (m *Middleware) isAnonymous(t *descope.Token) bool {
	if danu, _ := t.Claims["danu"].(bool); danu {
		return true
	}
	tenants, _ := t.Claims["tenants"].(map[string]any)
	if len(tenants) == 0 {
		return false
	}
	tid, ok := m.knownTenant()
	if !ok {
		// First token with tenants since start-up (Init was not called):
		// resolve the tenant now. Until that succeeds the answer is false and
		// the token is not cached.
		var err error
		if tid, err = m.anonTenant(context.Background(), false); err != nil {
			return false
		}
	}
	_, member := tenants[tid]
	return member
}

// refresh trades a refresh token for a new session token. Concurrent requests
// with the same refresh token share one call to Descope. A transient failure
// leaves the visitor's cookies alone; a rejected refresh token lets the
// visitor be provisioned anew. The refresh token is verified once: by the SDK
// before it calls Descope, or here when Descope could not be reached.
func (m *Middleware) refresh(w http.ResponseWriter, r *http.Request, dsr string) (*User, outcome, error) {
	ctx := r.Context()
	kid, ok := m.spendable(dsr)
	if !ok {
		return nil, noSession, nil
	}
	if !m.kids.isKnown(kid) {
		// The first token signed with this key since start-up: verify it
		// through the gate, which lets one request at a time fetch the keys.
		if _, err := m.verify(ctx, dsr, "DSR"); err != nil {
			if errors.Is(err, ErrUnavailable) {
				return nil, refused, err
			}
			return nil, noSession, nil
		}
	}
	res, err := m.refreshes.do(dsr, func() (refreshResult, error) {
		return m.callRefresh(ctx, dsr)
	})
	if err != nil {
		if isTransient(err) {
			err = wrap(ErrUnavailable, err)
			if !m.cfg.degraded {
				return nil, refused, err
			}
			// Degraded: if the refresh token is genuine, unexpired and ours,
			// keep the visitor's identity for this request and touch no cookie.
			rt, verr := m.verify(ctx, dsr, "DSR")
			if verr != nil {
				if errors.Is(verr, ErrUnavailable) {
					return nil, refused, err
				}
				return nil, noSession, nil
			}
			return &User{ID: rt.ID, Anonymous: rt.Anonymous, Degraded: true}, refused, err
		}
		level := slog.LevelInfo
		if descope.ErrInvalidToken.Is(err) {
			level = slog.LevelDebug // failed the SDK's own check: Descope was not asked
		}
		m.cfg.logger.Log(ctx, level, "refresh token rejected", "err", err)
		return nil, noSession, nil
	}
	u := m.userFrom(res.session)
	u.Refreshed = true
	m.writeTokens(w, res.session, res.refresh)
	if _, known := m.knownTenant(); known || u.Anonymous {
		m.cache.put(res.session.JWT, u.ID, u.Anonymous, res.session.Expiration, time.Now().Unix())
	}
	if m.cfg.onRefresh != nil {
		m.cfg.onRefresh(ctx, u)
	}
	return u, identified, nil
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
	u, out, err := m.identify(w, r)
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

// Unavailable is a ready-made error handler for WithErrorHandler that answers
// 503 with a JSON error, for applications that prefer failing closed.
func Unavailable(w http.ResponseWriter, _ *http.Request, err error) {
	status := http.StatusServiceUnavailable
	if errors.Is(err, ErrRateLimited) {
		status = http.StatusTooManyRequests
	}
	writeJSON(w, status, map[string]string{"error": publicMessage(err)})
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
	return m.c.Management.User().Load(ctx, u.ID)
}

// Logout revokes the visitor's refresh token at Descope and clears the
// cookies. The cookies are cleared even when Descope cannot be reached; the
// error says so.
func (m *Middleware) Logout(w http.ResponseWriter, r *http.Request) error {
	dsr, _ := cookieValue(r, m.cfg.refreshCookie)
	m.ClearCookies(w)
	if dsr == "" {
		return nil
	}
	if err := m.c.Auth.LogoutWithToken(dsr, nil); err != nil {
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

// publicMessage is the text of err that is safe to show a visitor: the
// sentinel's message, never Descope's details.
func publicMessage(err error) string {
	for _, s := range []error{ErrRateLimited, ErrUnavailable, ErrNoSession, ErrInvalidToken, ErrDuplicateCookie,
		ErrNotAnonymous, ErrInvalidAddress, ErrIdentifierInUse, ErrInvalidCode, ErrTooManyAttempts,
		ErrNoPendingConversion, ErrNotProvisioned} {
		if errors.Is(err, s) {
			return strings.TrimPrefix(s.Error(), "anonymous: ")
		}
	}
	return "internal error"
}

// kidGate serialises the verification of tokens whose key ID has never
// verified. The SDK refetches the whole key set for every unknown kid (and
// without a deadline), so forged tokens with random kids could otherwise make
// every concurrent request a call to Descope; legitimate requests with a new
// kid just wait for the first one to teach the gate that kid.
type kidGate struct {
	once    sync.Once
	unknown chan struct{} // a one-slot semaphore held while an unknown kid is verified
	mu      sync.RWMutex
	known   map[string]struct{}
}

// maxKnownKids bounds the gate's memory; Descope projects have a few keys.
const maxKnownKids = 64

// errKeyWait reports that the verification of a token with an unknown key ID
// did not finish in time (the key set could not be fetched).
var errKeyWait = wrap(ErrUnavailable, errors.New("signing keys not fetched in time"))

func (g *kidGate) isKnown(kid string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, ok := g.known[kid]
	return ok
}

// do runs verify for a token with key ID kid. For an unknown kid it runs one
// at a time and waits at most timeout; a verification that succeeds teaches
// the gate the kid.
func (g *kidGate) do(kid string, timeout time.Duration, verify func() error) error {
	if g.isKnown(kid) {
		return verify()
	}
	g.once.Do(func() { g.unknown = make(chan struct{}, 1) })
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case g.unknown <- struct{}{}:
	case <-timer.C:
		return errKeyWait
	}
	if g.isKnown(kid) {
		<-g.unknown
		return verify()
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-g.unknown }()
		err := verify()
		if err == nil {
			g.learn(kid)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return errKeyWait
	}
}

func (g *kidGate) learn(kid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known == nil {
		g.known = make(map[string]struct{})
	}
	if len(g.known) < maxKnownKids {
		g.known[kid] = struct{}{}
	}
}

// unverifiedExp reads the exp claim of a compact JWS without verifying it,
// only to skip work on a token that is expired anyway.
func unverifiedExp(tok string) (int64, bool) {
	first := strings.IndexByte(tok, '.')
	last := strings.LastIndexByte(tok, '.')
	if first < 0 || last <= first {
		return 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(tok[first+1 : last])
	if err != nil {
		return 0, false
	}
	var c struct {
		Exp *json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == nil {
		return 0, false
	}
	f, err := c.Exp.Float64()
	return int64(f), err == nil
}

// tokenKid reads the kid of a compact JWS header, rejecting anything that is
// not three base64url segments with an RS/ES/PS-signed header.
func tokenKid(tok string) (string, bool) {
	dot := strings.IndexByte(tok, '.')
	if dot <= 0 || strings.Count(tok, ".") != 2 || dot > 1024 {
		return "", false
	}
	var buf [768]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(tok[:dot]))
	if err != nil {
		return "", false
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(buf[:n], &h) != nil || h.Kid == "" {
		return "", false
	}
	switch h.Alg {
	case "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512":
		return h.Kid, true
	}
	return "", false
}

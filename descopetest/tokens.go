package descopetest

import (
	"maps"
	"slices"
	"time"

	"github.com/descope/go-sdk/descope"
)

// grant describes the tokens to mint for one response.
type grant struct {
	sub        string
	anon       bool
	dct        string
	tenants    map[string]any
	roles      []string
	amr        []string
	custom     map[string]any
	template   map[string]any // the JWT template's claims (WithJWTTemplate)
	sessionTTL time.Duration
	refreshTTL time.Duration
	override   time.Duration
	user       *descope.UserResponse
	firstSeen  bool

	chain      string    // of the token this grant replaces, "" for a sign-in
	newRefresh bool      // mint a refresh token (registered by registerLocked)
	jti        string    // of the new refresh token
	refreshExp time.Time // expiry of the refresh token the client holds
}

// grantForUserLocked prepares tokens for u. dct is kept only if u is a
// member of that tenant.
func (e *Emulator) grantForUserLocked(u *user, dct string) *grant {
	if dct != "" && !u.inTenant(dct) {
		dct = ""
	}
	g := &grant{sub: u.id, dct: dct, roles: slices.Clone(u.roles), user: e.responseLocked(u), template: e.templateClaimsLocked(u)}
	if len(u.tenants) > 0 {
		g.tenants = map[string]any{}
		for _, t := range u.tenants {
			g.tenants[t.id] = map[string]any{"roles": mergeStrings(nil, t.roles), "permissions": []string{}}
		}
	}
	g.sessionTTL, g.refreshTTL = e.lifetimesLocked(u.tenantIDs())
	return g
}

// signInGrantLocked records a sign-in of u by the methods amr (see
// signedInLocked) and prepares its tokens, with no tenant selected.
func (e *Emulator) signInGrantLocked(u *user, amr ...string) *grant {
	e.signedInLocked(u)
	g := e.grantForUserLocked(u, "")
	g.amr = amr
	return g
}

// grantForAnonLocked prepares tokens for an anonymous subject with no user
// record, optionally in a selected tenant.
func (e *Emulator) grantForAnonLocked(sub, dct string) *grant {
	g := &grant{sub: sub, anon: true, dct: dct, template: e.templateClaimsLocked(nil)}
	var ids []string
	if dct != "" {
		ids = []string{dct}
		g.tenants = map[string]any{dct: map[string]any{"roles": []string{}, "permissions": []string{}}}
	}
	g.sessionTTL, g.refreshTTL = e.lifetimesLocked(ids)
	return g
}

// lifetimesLocked returns the session and refresh lifetimes for a member of
// tenantIDs. Tenant settings take precedence over the project's; a member of
// several tenants with session settings enabled gets the stricter (shorter)
// of their lifetimes, session and refresh each on its own, whichever tenant
// is selected (Descope documents a merged policy "favoring stricter
// security"). A lifetime no such tenant sets is the project's. The session
// lifetime never exceeds the refresh lifetime that comes with it.
func (e *Emulator) lifetimesLocked(tenantIDs []string) (time.Duration, time.Duration) {
	var session, refresh time.Duration
	stricter := func(cur, d time.Duration) time.Duration {
		if d > 0 && (cur == 0 || d < cur) {
			return d
		}
		return cur
	}
	for _, id := range tenantIDs {
		t := e.tenants[id]
		if t == nil || !t.settings.Enabled {
			continue
		}
		session = stricter(session, unitDuration(t.settings.SessionTokenExpiration, t.settings.SessionTokenExpirationUnit))
		refresh = stricter(refresh, unitDuration(t.settings.RefreshTokenExpiration, t.settings.RefreshTokenExpirationUnit))
	}
	if session == 0 {
		session = e.cfg.sessionTTL
	}
	if refresh == 0 {
		refresh = e.cfg.refreshTTL
	}
	return min(session, refresh), refresh
}

// pruneEvery is how many refresh tokens are issued between sweeps of
// expired token records.
const pruneEvery = 4096

// registerLocked records a new refresh token for g, expiring refreshTTL (or
// the override) after now.
func (e *Emulator) registerLocked(g *grant, now time.Time) {
	ttl := g.refreshTTL
	if g.override > 0 {
		ttl = g.override
	}
	g.newRefresh = true
	g.jti = randomID("", 27)
	g.refreshExp = now.Add(ttl)
	if g.chain == "" {
		g.chain = g.jti
	}
	e.tokens[g.jti] = &refreshRecord{
		chain:    g.chain,
		sub:      g.sub,
		anon:     g.anon,
		dct:      g.dct,
		custom:   cloneAny(g.custom),
		amr:      slices.Clone(g.amr),
		override: g.override,
		exp:      g.refreshExp,
	}
	set := e.userTokens[g.sub]
	if set == nil {
		set = map[string]struct{}{}
		e.userTokens[g.sub] = set
	}
	set[g.jti] = struct{}{}

	e.issued++
	if e.issued%pruneEvery == 0 {
		cutoff := time.Now().Add(-time.Minute)
		for jti, rec := range e.tokens {
			if rec.exp.Before(cutoff) {
				delete(e.tokens, jti)
				if s := e.userTokens[rec.sub]; s != nil {
					delete(s, jti)
					if len(s) == 0 {
						delete(e.userTokens, rec.sub)
					}
				}
			}
		}
	}
}

// reserved claims cannot be set through customClaims.
var reserved = map[string]bool{
	"sub": true, "iss": true, "aud": true, "iat": true, "exp": true, "nbf": true,
	"jti": true, "drn": true, "amr": true, "tenants": true, "dct": true, "danu": true,
	"roles": true, "permissions": true, "cnf": true, "dsub": true,
}

// refreshCookie is the name of the cookie that holds the refresh token:
// the cookieName of every authentication response, and the cookie that
// refresh, try-refresh, me, logout and logout all read when the
// Authorization header carries only the project ID (see cookieRefresh).
const refreshCookie = "DSR"

// jwtResponse is the JSON body of authentication responses, Descope's
// OpenAPI JWTResponse. Unlike go-sdk's JWTResponse it always carries both
// cookie numbers, and it has the fields Descope's JavaScript SDKs read:
// sessionExpiration (web-js-sdk's sign-in signal: its logged-in indicator
// and its auto-refresh timer), cookieName (web-js-sdk sends it back as
// x-descope-refresh-cookie-name), claims (its onClaimsChange) and firstSeen.
type jwtResponse struct {
	SessionJwt        string                `json:"sessionJwt"`
	RefreshJwt        string                `json:"refreshJwt,omitempty"`
	CookieDomain      string                `json:"cookieDomain"`
	CookiePath        string                `json:"cookiePath"`
	CookieMaxAge      int32                 `json:"cookieMaxAge"`
	CookieExpiration  int32                 `json:"cookieExpiration"`
	CookieName        string                `json:"cookieName"`
	SessionExpiration int32                 `json:"sessionExpiration"`
	Claims            map[string]any        `json:"claims"`
	User              *descope.UserResponse `json:"user,omitempty"`
	FirstSeen         bool                  `json:"firstSeen"`
}

// issue answers a call that signs in with fresh tokens. Under e.mu, prepare
// finds the subject and returns its grant, which is registered as a new
// refresh token; the tokens are signed once e.mu is released.
func (e *Emulator) issue(prepare func() (*grant, *apiError)) (any, *apiError) {
	now := time.Now()
	e.mu.Lock()
	g, a := prepare()
	if a == nil {
		e.registerLocked(g, now)
	}
	e.mu.Unlock()
	if a != nil {
		return nil, a
	}
	return e.mint(g, now)
}

// mint signs the tokens of g. Call it without holding e.mu.
func (e *Emulator) mint(g *grant, now time.Time) (*jwtResponse, *apiError) {
	iat := now.Unix()
	session := map[string]any{}
	for k, v := range withTemplate(g.template, g.custom) {
		if !reserved[k] {
			session[k] = v
		}
	}
	exp := iat + int64(g.sessionTTL/time.Second)
	maps.Copy(session, map[string]any{"sub": g.sub, "iss": e.issuer, "iat": iat, "exp": exp, "drn": "DS"})
	if len(g.amr) > 0 {
		session["amr"] = g.amr
	}
	if g.tenants != nil {
		session["tenants"] = g.tenants
	}
	if len(g.roles) > 0 {
		session["roles"] = g.roles
		session["permissions"] = []string{}
	}
	if g.dct != "" {
		session["dct"] = g.dct
	}
	if g.anon {
		session["danu"] = true
	}
	res := &jwtResponse{
		CookiePath:        "/",
		CookieMaxAge:      int32(max(g.refreshExp.Unix()-iat, 0)),
		CookieExpiration:  int32(g.refreshExp.Unix()),
		CookieName:        refreshCookie,
		SessionExpiration: int32(exp),
		Claims:            session,
		User:              g.user,
		FirstSeen:         g.firstSeen,
	}
	var err error
	if res.SessionJwt, err = e.signer.sign(session); err != nil {
		return nil, signingFailed(err)
	}
	if g.newRefresh {
		refresh := maps.Clone(g.template) // custom claims travel in the refresh token too
		if refresh == nil {
			refresh = map[string]any{}
		}
		maps.Copy(refresh, map[string]any{
			"sub": g.sub, "iss": e.issuer, "iat": iat, "exp": g.refreshExp.Unix(), "drn": "DSR", "jti": g.jti,
		})
		if len(g.amr) > 0 {
			refresh["amr"] = g.amr
		}
		if g.tenants != nil {
			refresh["tenants"] = g.tenants
		}
		if res.RefreshJwt, err = e.signer.sign(refresh); err != nil {
			return nil, signingFailed(err)
		}
	}
	return res, nil
}

// loginOptions is the "loginOptions" object of authentication requests.
type loginOptions struct {
	CustomClaims map[string]any `json:"customClaims"`
}

// claims returns the custom claims of o, which may be nil.
func (o *loginOptions) claims() map[string]any {
	if o == nil {
		return nil
	}
	return o.CustomClaims
}

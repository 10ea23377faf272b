package descopetest

import "time"

// selectTenantRequest is the body of tenant select.
type selectTenantRequest struct {
	Tenant string `json:"tenant"`
}

// tokenClaims is a refresh token whose signature, issuer, drn and expiry
// have been checked.
type tokenClaims struct {
	jti string
	sub string
}

// verifyRefresh checks everything about a refresh token that needs no
// server state.
func (e *Emulator) verifyRefresh(tok string) (*tokenClaims, *apiError) {
	claims, err := e.signer.verify(tok)
	if err != nil {
		return nil, unauthorized("invalid refresh token")
	}
	if d, _ := claims["drn"].(string); d != "DSR" {
		return nil, unauthorized("not a refresh token (drn is %q)", d)
	}
	if iss, _ := claims["iss"].(string); iss != e.issuer && iss != e.ProjectID {
		return nil, unauthorized("refresh token was issued for another project")
	}
	exp, ok := claims["exp"].(float64)
	if !ok || int64(exp) <= time.Now().Unix() {
		return nil, unauthorized("refresh token expired")
	}
	jti, _ := claims["jti"].(string)
	sub, _ := claims["sub"].(string)
	if jti == "" || sub == "" {
		return nil, unauthorized("refresh token lacks jti or sub")
	}
	return &tokenClaims{jti: jti, sub: sub}, nil
}

// liveRefreshLocked returns the record of a verified refresh token if it is
// still usable: known here, not revoked, and its user still exists.
func (e *Emulator) liveRefreshLocked(tc *tokenClaims) (*refreshRecord, *user, *apiError) {
	rec := e.tokens[tc.jti]
	if rec == nil || rec.sub != tc.sub {
		return nil, nil, unauthorized("unknown refresh token")
	}
	if rec.revoked {
		if rec.rotated && !e.cfg.reuseOff {
			e.revokeChainLocked(rec)
		}
		return nil, nil, loggedOut()
	}
	if rec.anon {
		return rec, nil, nil
	}
	u := e.users[rec.sub]
	if u == nil {
		return nil, nil, loggedOut()
	}
	if u.status == "disabled" {
		return nil, nil, userDisabled()
	}
	return rec, u, nil
}

// withSession runs f under e.mu with the record of the call's refresh
// token and its user (nil for an anonymous subject), once liveRefreshLocked
// finds them usable, and answers what f returns.
func (e *Emulator) withSession(c *call, f func(rec *refreshRecord, u *user) (any, *apiError)) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, u, a := e.liveRefreshLocked(c.refresh)
	if a != nil {
		return nil, a
	}
	return f(rec, u)
}

// rotateLocked revokes rec because a rotated token replaced it.
func rotateLocked(rec *refreshRecord) {
	rec.revoked = true
	rec.rotated = true
}

// revokeChainLocked revokes every refresh token descended from the same
// sign-in as rec: presenting a rotated-out token is taken as token theft.
func (e *Emulator) revokeChainLocked(rec *refreshRecord) {
	for jti := range e.userTokens[rec.sub] {
		if r := e.tokens[jti]; r != nil && r.chain == rec.chain {
			r.revoked = true
		}
	}
}

// revokeAllLocked revokes every refresh token of the subject sub.
func (e *Emulator) revokeAllLocked(sub string) {
	for jti := range e.userTokens[sub] {
		if rec := e.tokens[jti]; rec != nil {
			rec.revoked = true
		}
	}
}

// grantFromRecordLocked prepares fresh tokens for the holder of rec,
// re-reading the user so tenants and lifetimes are current.
func (e *Emulator) grantFromRecordLocked(rec *refreshRecord, u *user, dct string) *grant {
	var g *grant
	if rec.anon {
		g = e.grantForAnonLocked(rec.sub, dct)
	} else {
		g = e.grantForUserLocked(u, dct)
	}
	g.amr, g.custom, g.override, g.chain = rec.amr, rec.custom, rec.override, rec.chain
	return g
}

// handleRefresh answers a new session token for the call's refresh token,
// with the user's current tenants and lifetimes. With rotation it also
// answers a new refresh token and revokes the one presented.
func (e *Emulator) handleRefresh(c *call) (any, *apiError) {
	now := time.Now()
	e.mu.Lock()
	rec, u, a := e.liveRefreshLocked(c.refresh)
	if a != nil {
		e.mu.Unlock()
		return nil, a
	}
	g := e.grantFromRecordLocked(rec, u, rec.dct)
	if e.cfg.rotation {
		e.registerLocked(g, now)
		rotateLocked(rec)
	} else {
		g.refreshExp = rec.exp
	}
	e.mu.Unlock()
	return e.mint(g, now)
}

// handleLogout revokes the call's refresh token.
func (e *Emulator) handleLogout(c *call) (any, *apiError) {
	return e.withSession(c, func(rec *refreshRecord, _ *user) (any, *apiError) {
		rec.revoked = true
		return nil, nil
	})
}

// handleLogoutAll revokes every refresh token of the call's subject.
func (e *Emulator) handleLogoutAll(c *call) (any, *apiError) {
	return e.withSession(c, func(rec *refreshRecord, _ *user) (any, *apiError) {
		rec.revoked = true
		e.revokeAllLocked(rec.sub)
		return nil, nil
	})
}

// handleMe answers the user of the call's refresh token; an anonymous
// subject has none.
func (e *Emulator) handleMe(c *call) (any, *apiError) {
	return e.withSession(c, func(rec *refreshRecord, u *user) (any, *apiError) {
		if rec.anon {
			return nil, authUserNotFound(rec.sub)
		}
		return e.responseLocked(u), nil
	})
}

// handleSelectTenant answers new tokens with the tenant selected (dct);
// a user must be a member of it. With rotation the refresh token presented
// is revoked.
func (e *Emulator) handleSelectTenant(c *call, req *selectTenantRequest) (any, *apiError) {
	if req.Tenant == "" {
		return nil, missingArg("tenant")
	}
	return e.issue(func() (*grant, *apiError) {
		rec, u, a := e.liveRefreshLocked(c.refresh)
		if a == nil && e.tenants[req.Tenant] == nil {
			a = tenantNotFound(req.Tenant)
		}
		if a == nil && !rec.anon && !u.inTenant(req.Tenant) {
			a = invalid("user is not a member of tenant %q", req.Tenant)
		}
		if a != nil {
			return nil, a
		}
		g := e.grantFromRecordLocked(rec, u, req.Tenant)
		if e.cfg.rotation {
			rotateLocked(rec)
		}
		return g, nil
	})
}

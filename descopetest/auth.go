package descopetest

import (
	"crypto/subtle"
	"time"
)

func (e *Emulator) handleLicense(*call) (any, *apiError) {
	return map[string]string{"rateLimitTier": "tier1"}, nil
}

func (e *Emulator) handleKeys(c *call) (any, *apiError) {
	if c.arg != e.ProjectID {
		return nil, invalid("unknown project ID %q", c.arg)
	}
	return map[string]any{"keys": []any{e.signer.jwk}}, nil
}

func (e *Emulator) handleOutbox(c *call) (any, *apiError) {
	addr, a := c.query("address")
	if a != nil {
		return nil, a
	}
	code, ok := e.Outbox(addr)
	if !ok {
		return nil, notFound("no one-time code was sent to " + addr)
	}
	return map[string]string{"code": code}, nil
}

// userFields is the "user" object of sign-up requests.
type userFields struct {
	Name       string `json:"name"`
	GivenName  string `json:"givenName"`
	MiddleName string `json:"middleName"`
	FamilyName string `json:"familyName"`
	Phone      string `json:"phone"`
	Email      string `json:"email"`
}

// profile returns the names, email and phone of f, which may be nil.
func (f *userFields) profile() profile {
	if f == nil {
		return profile{}
	}
	return profile{name: f.Name, givenName: f.GivenName, middleName: f.MiddleName, familyName: f.FamilyName, email: f.Email, phone: f.Phone}
}

// input describes the user to create with loginID and the fields of f,
// which may be nil.
func (f *userFields) input(loginID string) *userInput {
	return &userInput{loginIDs: []string{loginID}, profile: f.profile()}
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

// passwordSignUpRequest is the body of password sign-up.
type passwordSignUpRequest struct {
	LoginID      string        `json:"loginId"`
	Password     string        `json:"password"`
	User         *userFields   `json:"user"`
	LoginOptions *loginOptions `json:"loginOptions"`
}

func (e *Emulator) handlePasswordSignUp(c *call, req *passwordSignUpRequest) (any, *apiError) {
	if a := required(field{"loginId", req.LoginID}, field{"password", req.Password}); a != nil {
		return nil, a
	}
	in := req.User.input(req.LoginID)
	in.password = hashPassword(req.Password)
	return e.issue(func() (*grant, *apiError) {
		u, a := e.createUserLocked(in)
		if a != nil {
			return nil, a
		}
		g := e.grantForUserLocked(u, "")
		g.amr, g.custom, g.firstSeen = []string{"pwd"}, req.LoginOptions.claims(), true
		return g, nil
	})
}

// passwordUserLocked finds the user of a password operation and checks the
// password.
func (e *Emulator) passwordUserLocked(loginID, password string) (*user, *apiError) {
	u := e.userByLoginLocked(loginID)
	if u == nil {
		return nil, authUserNotFound(loginID)
	}
	if u.password == nil || subtle.ConstantTimeCompare(u.password, hashPassword(password)) != 1 {
		return nil, badPassword()
	}
	if u.status == "disabled" {
		return nil, userDisabled()
	}
	return u, nil
}

// passwordSignInRequest is the body of password sign-in.
type passwordSignInRequest struct {
	LoginID      string        `json:"loginId"`
	Password     string        `json:"password"`
	LoginOptions *loginOptions `json:"loginOptions"`
}

func (e *Emulator) handlePasswordSignIn(c *call, req *passwordSignInRequest) (any, *apiError) {
	if req.LoginID == "" {
		return nil, missingArg("loginId")
	}
	return e.issue(func() (*grant, *apiError) {
		u, a := e.passwordUserLocked(req.LoginID, req.Password)
		if a != nil {
			return nil, a
		}
		g := e.signInGrantLocked(u, "pwd")
		g.custom = req.LoginOptions.claims()
		return g, nil
	})
}

// passwordReplaceRequest is the body of password replace.
type passwordReplaceRequest struct {
	LoginID     string `json:"loginId"`
	OldPassword string `json:"oldPassword"`
	NewPassword string `json:"newPassword"`
}

func (e *Emulator) handlePasswordReplace(c *call, req *passwordReplaceRequest) (any, *apiError) {
	if a := required(field{"loginId", req.LoginID}, field{"newPassword", req.NewPassword}); a != nil {
		return nil, a
	}
	return e.issue(func() (*grant, *apiError) {
		u, a := e.passwordUserLocked(req.LoginID, req.OldPassword)
		if a != nil {
			return nil, a
		}
		u.password = hashPassword(req.NewPassword)
		e.touchLocked(u)
		return e.signInGrantLocked(u, "pwd"), nil
	})
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

// selectTenantRequest is the body of tenant select.
type selectTenantRequest struct {
	Tenant string `json:"tenant"`
}

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

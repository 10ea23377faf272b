package descopetest

import (
	"time"
)

type mgmtSignInRequest struct {
	LoginID         string         `json:"loginId"`
	CustomClaims    map[string]any `json:"customClaims"`
	RefreshDuration int32          `json:"refreshDuration"`
}

func (e *Emulator) handleMgmtSignIn(c *call, req *mgmtSignInRequest) (any, *apiError) {
	if req.LoginID == "" {
		return nil, missingArg("loginId")
	}
	if req.RefreshDuration < 0 {
		return nil, invalid("refreshDuration must not be negative")
	}
	now := time.Now()
	e.mu.Lock()
	u := e.findUserLocked(req.LoginID)
	if u == nil {
		e.mu.Unlock()
		return nil, authUserNotFound(req.LoginID)
	}
	if u.status == "disabled" {
		e.mu.Unlock()
		return nil, unauthorized("user is disabled")
	}
	e.signedInLocked(u)
	g := e.grantForUserLocked(u, "")
	g.custom = req.CustomClaims
	g.override = time.Duration(req.RefreshDuration) * time.Second
	e.registerLocked(g, now)
	e.mu.Unlock()
	return e.mint(g, now)
}

type mgmtSignUpRequest struct {
	LoginID         string         `json:"loginId"`
	User            *userFields    `json:"user"`
	EmailVerified   bool           `json:"emailVerified"`
	PhoneVerified   bool           `json:"phoneVerified"`
	SSOAppID        string         `json:"ssoAppId"`
	CustomClaims    map[string]any `json:"customClaims"`
	RefreshDuration int32          `json:"refreshDuration"`
}

func (e *Emulator) handleMgmtSignUp(c *call, req *mgmtSignUpRequest) (any, *apiError) {
	return e.mgmtSignUp(req, false)
}

func (e *Emulator) handleMgmtSignUpOrIn(c *call, req *mgmtSignUpRequest) (any, *apiError) {
	return e.mgmtSignUp(req, true)
}

func (e *Emulator) mgmtSignUp(req *mgmtSignUpRequest, orIn bool) (any, *apiError) {
	if req.LoginID == "" {
		return nil, missingArg("loginId")
	}
	if req.RefreshDuration < 0 {
		return nil, invalid("refreshDuration must not be negative")
	}
	if req.User == nil {
		req.User = &userFields{}
	}
	now := time.Now()
	e.mu.Lock()
	var u *user
	if orIn {
		u = e.userByLoginLocked(req.LoginID)
		if u != nil && u.status == "disabled" {
			e.mu.Unlock()
			return nil, unauthorized("user is disabled")
		}
	}
	first := u == nil
	if first {
		in := &userInput{
			loginIDs:      []string{req.LoginID},
			name:          req.User.Name,
			givenName:     req.User.GivenName,
			middleName:    req.User.MiddleName,
			familyName:    req.User.FamilyName,
			email:         req.User.Email,
			phone:         req.User.Phone,
			verifiedEmail: req.EmailVerified && req.User.Email != "",
			verifiedPhone: req.PhoneVerified && req.User.Phone != "",
		}
		if req.SSOAppID != "" {
			in.ssoApps = []string{req.SSOAppID}
		}
		var a *apiError
		if u, a = e.createUserLocked(in); a != nil {
			e.mu.Unlock()
			return nil, a
		}
	}
	e.signedInLocked(u)
	g := e.grantForUserLocked(u, "")
	g.custom, g.firstSeen = req.CustomClaims, first
	g.override = time.Duration(req.RefreshDuration) * time.Second
	e.registerLocked(g, now)
	e.mu.Unlock()
	return e.mint(g, now)
}

// mgmtAnonymousRequest is the body of management anonymous sign-in.
type mgmtAnonymousRequest struct {
	SelectedTenant  string         `json:"selectedTenant"`
	CustomClaims    map[string]any `json:"customClaims"`
	RefreshDuration int32          `json:"refreshDuration"`
}

func (e *Emulator) handleMgmtAnonymous(c *call, req *mgmtAnonymousRequest) (any, *apiError) {
	if req.RefreshDuration < 0 {
		return nil, invalid("refreshDuration must not be negative")
	}
	now := time.Now()
	e.mu.Lock()
	if req.SelectedTenant != "" && e.tenants[req.SelectedTenant] == nil {
		e.mu.Unlock()
		return nil, tenantNotFound(req.SelectedTenant)
	}
	g := e.grantForAnonLocked(randomID("U", 27), req.SelectedTenant)
	g.custom = req.CustomClaims
	g.override = time.Duration(req.RefreshDuration) * time.Second
	e.registerLocked(g, now)
	e.mu.Unlock()
	return e.mint(g, now)
}

// updateJWTRequest is the body of management JWT update.
type updateJWTRequest struct {
	JWT             string         `json:"jwt"`
	CustomClaims    map[string]any `json:"customClaims"`
	RefreshDuration int32          `json:"refreshDuration"`
}

func (e *Emulator) handleUpdateJWT(c *call, req *updateJWTRequest) (any, *apiError) {
	if req.JWT == "" {
		return nil, missingArg("jwt")
	}
	claims, err := e.signer.verify(req.JWT)
	if err != nil {
		return nil, invalid("jwt is not a valid token of this project")
	}
	if iss, _ := claims["iss"].(string); iss != e.issuer && iss != e.ProjectID {
		return nil, invalid("jwt was issued for another project")
	}
	if exp, ok := claims["exp"].(float64); ok && int64(exp) <= time.Now().Unix() {
		return nil, invalid("jwt expired")
	}
	for k, v := range req.CustomClaims {
		if !reserved[k] {
			claims[k] = v
		}
	}
	tok, err := e.signer.sign(claims)
	if err != nil {
		return nil, signingFailed(err)
	}
	return map[string]string{"jwt": tok}, nil
}

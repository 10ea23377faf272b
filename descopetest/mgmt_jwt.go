package descopetest

import (
	"time"
)

// tokenOptions are the fields of management sign-in calls that shape the
// tokens: custom claims, and a refresh token lifetime in seconds that
// replaces the project's and the tenant's (0: none).
type tokenOptions struct {
	CustomClaims    map[string]any `json:"customClaims"`
	RefreshDuration int32          `json:"refreshDuration"`
}

// mgmtSignInRequest is the body of management sign-in.
type mgmtSignInRequest struct {
	LoginID string `json:"loginId"`
	tokenOptions
}

// mgmtSignUpRequest is the body of management sign-up and sign-up-or-in.
type mgmtSignUpRequest struct {
	LoginID       string      `json:"loginId"`
	User          *userFields `json:"user"`
	EmailVerified bool        `json:"emailVerified"`
	PhoneVerified bool        `json:"phoneVerified"`
	SSOAppID      string      `json:"ssoAppId"`
	tokenOptions
}

// mgmtAnonymousRequest is the body of management anonymous sign-in.
type mgmtAnonymousRequest struct {
	SelectedTenant string `json:"selectedTenant"`
	tokenOptions
}

// updateJWTRequest is the body of management JWT update. RefreshDuration
// is read and ignored: the call returns no refresh token.
type updateJWTRequest struct {
	JWT             string         `json:"jwt"`
	CustomClaims    map[string]any `json:"customClaims"`
	RefreshDuration int32          `json:"refreshDuration"`
}

// check refuses a negative refresh duration.
func (o *tokenOptions) check() *apiError {
	if o.RefreshDuration < 0 {
		return invalid("refreshDuration must not be negative")
	}
	return nil
}

// applyTo sets the custom claims and refresh lifetime of g.
func (o *tokenOptions) applyTo(g *grant) {
	g.custom = o.CustomClaims
	g.override = time.Duration(o.RefreshDuration) * time.Second
}

// handleMgmtSignIn signs in an existing user that is not disabled.
func (e *Emulator) handleMgmtSignIn(c *call, req *mgmtSignInRequest) (any, *apiError) {
	if req.LoginID == "" {
		return nil, missingArg("loginId")
	}
	if a := req.check(); a != nil {
		return nil, a
	}
	return e.issue(func() (*grant, *apiError) {
		u := e.findUserLocked(req.LoginID)
		if u == nil {
			return nil, authUserNotFound(req.LoginID)
		}
		if u.status == "disabled" {
			return nil, userDisabled()
		}
		g := e.signInGrantLocked(u)
		req.applyTo(g)
		return g, nil
	})
}

// handleMgmtSignUp creates a user and signs it in.
func (e *Emulator) handleMgmtSignUp(c *call, req *mgmtSignUpRequest) (any, *apiError) {
	return e.mgmtSignUp(req, false)
}

// handleMgmtSignUpOrIn signs in the user with the login ID, creating it
// first when there is none.
func (e *Emulator) handleMgmtSignUpOrIn(c *call, req *mgmtSignUpRequest) (any, *apiError) {
	return e.mgmtSignUp(req, true)
}

// mgmtSignUp creates the user and signs it in; with orIn, an existing user
// with the login ID is signed in instead.
func (e *Emulator) mgmtSignUp(req *mgmtSignUpRequest, orIn bool) (any, *apiError) {
	if req.LoginID == "" {
		return nil, missingArg("loginId")
	}
	if a := req.check(); a != nil {
		return nil, a
	}
	in := req.User.input(req.LoginID)
	in.verifiedEmail = req.EmailVerified && in.email != ""
	in.verifiedPhone = req.PhoneVerified && in.phone != ""
	if req.SSOAppID != "" {
		in.ssoApps = []string{req.SSOAppID}
	}
	return e.issue(func() (*grant, *apiError) {
		var u *user
		if orIn {
			u = e.userByLoginLocked(req.LoginID)
			if u != nil && u.status == "disabled" {
				return nil, userDisabled()
			}
		}
		first := u == nil
		if first {
			var a *apiError
			if u, a = e.createUserLocked(in); a != nil {
				return nil, a
			}
		}
		g := e.signInGrantLocked(u)
		req.applyTo(g)
		g.firstSeen = first
		return g, nil
	})
}

// handleMgmtAnonymous signs in a new anonymous subject, with no user
// record, optionally in a tenant.
func (e *Emulator) handleMgmtAnonymous(c *call, req *mgmtAnonymousRequest) (any, *apiError) {
	if a := req.check(); a != nil {
		return nil, a
	}
	return e.issue(func() (*grant, *apiError) {
		if req.SelectedTenant != "" && e.tenants[req.SelectedTenant] == nil {
			return nil, tenantNotFound(req.SelectedTenant)
		}
		g := e.grantForAnonLocked(randomID("U", 27), req.SelectedTenant)
		req.applyTo(g)
		return g, nil
	})
}

// handleUpdateJWT re-signs a valid, unexpired token of this project with
// the custom claims added; reserved claims stay as they are.
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

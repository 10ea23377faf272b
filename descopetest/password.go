package descopetest

import (
	"crypto/sha256"
	"crypto/subtle"
)

// passwordSignUpRequest is the body of password sign-up.
type passwordSignUpRequest struct {
	LoginID      string        `json:"loginId"`
	Password     string        `json:"password"`
	User         *userFields   `json:"user"`
	LoginOptions *loginOptions `json:"loginOptions"`
}

// handlePasswordSignUp creates a user with a password and signs it in.
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

// handlePasswordSignIn signs in the user whose password matches.
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

// handlePasswordReplace sets a new password for the user whose old one
// matches, and signs it in.
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

// hashPassword is what the emulator stores of a password.
func hashPassword(p string) []byte {
	sum := sha256.Sum256([]byte("descopetest:" + p))
	return sum[:]
}

// passwordUpdateRequest is the body of password update.
type passwordUpdateRequest struct {
	LoginID     string `json:"loginId"`
	NewPassword string `json:"newPassword"`
}

// handlePasswordUpdate sets a new password for the signed-in user, named by
// one of its login IDs (Descope's OpenAPI UpdateUserPassword: refresh JWT,
// {loginId, newPassword}, an empty answer). The sessions stay as they are.
func (e *Emulator) handlePasswordUpdate(c *call, req *passwordUpdateRequest) (any, *apiError) {
	if a := required(field{"loginId", req.LoginID}, field{"newPassword", req.NewPassword}); a != nil {
		return nil, a
	}
	return e.withSession(c, func(rec *refreshRecord, u *user) (any, *apiError) {
		if rec.anon {
			return nil, invalid("anonymous sessions have no user to update")
		}
		if e.userByLoginLocked(req.LoginID) != u {
			return nil, unauthorized("login ID %q does not belong to the signed-in user", req.LoginID)
		}
		u.password = hashPassword(req.NewPassword)
		e.touchLocked(u)
		return nil, nil
	})
}

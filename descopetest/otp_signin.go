package descopetest

import "strings"

// otpSignUpRequest is the body of OTP sign-up: go-sdk sends the address at
// the top (email, phone or whatsapp) and in user; core-js sends it only in
// user, if at all.
type otpSignUpRequest struct {
	LoginID      string        `json:"loginId"`
	Email        string        `json:"email"`
	Phone        string        `json:"phone"`
	WhatsApp     string        `json:"whatsapp"`
	User         *userFields   `json:"user"`
	LoginOptions *loginOptions `json:"loginOptions"`
}

// address returns where a sign-up's code goes for the class: the address
// given at the top, else the one in user, else the login ID itself.
func (r *otpSignUpRequest) address(class, loginID string) string {
	var given []string
	if class == "email" {
		given = []string{r.Email, r.User.profile().email}
	} else {
		given = []string{r.Phone, r.WhatsApp, r.User.profile().phone}
	}
	for _, a := range given {
		if a = strings.TrimSpace(a); a != "" {
			return a
		}
	}
	return loginID
}

// handleOTPSignIn sends a code to a user who exists: to its address of the
// path's kind, or to its login ID when that is such an address. Descope
// documents that sign-in "will return a failure code if the email address
// is not yet registered" (OpenAPI UserSigninOtpEmail) without naming it;
// the emulator answers go-sdk's user-not-found code, E062108.
func (e *Emulator) handleOTPSignIn(c *call) (any, *apiError) {
	var req otpSignUpInRequest // the same body: loginId and loginOptions
	class, a := otpRequest(c, &req)
	if a != nil {
		return nil, a
	}
	loginID := strings.TrimSpace(req.LoginID)
	if loginID == "" {
		return nil, missingArg("loginId")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userByLoginLocked(loginID)
	if u == nil {
		return nil, authUserNotFound(loginID)
	}
	address := u.address(class)
	if address == "" {
		address = loginID
	}
	if !looksLike(class, address) {
		return nil, invalid("user %q has no %s to send a code to", loginID, addressNoun(class))
	}
	op := &otpOp{
		kind:    otpSignIn,
		class:   class,
		loginID: loginID,
		address: address,
		keys:    []string{otpKey(class, loginID)},
		custom:  cloneAny(req.LoginOptions.claims()),
	}
	e.startOTPLocked(op)
	return masked(class, address), nil
}

// handleOTPSignUp sends a code for a user who does not exist yet; verifying
// it creates the user with the sign-up's details. Descope documents that
// sign-up "will return a failure code if the email address is already
// registered" (OpenAPI UserSignupOtpEmail); the emulator answers
// user-already-exists, E062107, as password sign-up does.
func (e *Emulator) handleOTPSignUp(c *call) (any, *apiError) {
	var req otpSignUpRequest
	class, a := otpRequest(c, &req)
	if a != nil {
		return nil, a
	}
	loginID := strings.TrimSpace(req.LoginID)
	if loginID == "" {
		return nil, missingArg("loginId")
	}
	address := req.address(class, loginID)
	if !looksLike(class, address) {
		return nil, invalid("%q is not a valid %s", address, addressNoun(class))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.userByLoginLocked(loginID) != nil {
		return nil, userExists(loginID)
	}
	op := &otpOp{
		kind:    otpSignUp,
		class:   class,
		loginID: loginID,
		address: address,
		keys:    []string{otpKey(class, loginID)},
		custom:  cloneAny(req.LoginOptions.claims()),
		user:    req.User,
	}
	e.startOTPLocked(op)
	return masked(class, address), nil
}

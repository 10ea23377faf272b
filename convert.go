package anonymous

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/descope/go-sdk/descope"
)

// Conversion turns the anonymous user into a regular one, keeping its user ID:
//
//  1. StartConversion sends a one-time code to the email or phone, through
//     Descope's OTP update flow authorised by the visitor's refresh token. The
//     address is added as a login ID only once the code is verified.
//  2. FinishConversion verifies the code; the address becomes a verified login
//     ID, the user leaves the anonymous tenant, the random login ID is dropped,
//     and a fresh session and refresh token pair replaces the anonymous one.
//
// An address that belongs to another user is never attached: without
// WithMerge the verification fails with ErrIdentifierInUse and neither user
// changes; with WithMerge the visitor, having proved ownership with the code,
// is signed in to the existing user and the anonymous one is deleted.

// maxConversionStarts bounds how many codes one user may request, and how
// many codes one address may be sent, per conversionWindow, so the flow
// cannot be used to pump emails or SMS.
const (
	maxConversionStarts = 5
	conversionWindow    = 10 * time.Minute
)

// address is a parsed email address or phone number.
type address struct {
	value string
	phone bool
}

// parseAddress accepts a bare email address or an E.164 phone number
// (+ and 7 to 15 digits; spaces, dots, dashes and parentheses are dropped).
func parseAddress(s string) (address, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 {
		return address{}, ErrInvalidAddress
	}
	if strings.Contains(s, "@") {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
			return address{}, ErrInvalidAddress
		}
		return address{value: strings.ToLower(s)}, nil
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune(" .-()", r):
		default:
			return address{}, ErrInvalidAddress
		}
	}
	p := b.String()
	if len(p) < 8 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
		return address{}, ErrInvalidAddress
	}
	return address{value: p, phone: true}, nil
}

// method is the OTP delivery method for the address.
func (a address) method() descope.DeliveryMethod {
	if a.phone {
		return descope.MethodSMS
	}
	return descope.MethodEmail
}

// convertible returns the request's user if it may be converted. With
// resume, a user that is no longer anonymous passes too: FinishConversion
// then lets it through only to finish a conversion whose address is already
// verified.
func (m *Middleware) convertible(r *http.Request, resume bool) (*User, string, error) {
	u, ok := FromContext(r.Context())
	if !ok {
		return nil, "", ErrNoSession
	}
	if u.Degraded {
		return nil, "", ErrUnavailable
	}
	if !u.Anonymous && !resume {
		return nil, "", ErrNotAnonymous
	}
	dsr, dup := cookieValue(r, m.cfg.refreshCookie)
	if dup {
		return nil, "", ErrDuplicateCookie
	}
	if dsr == "" {
		return nil, "", fmt.Errorf("%w: no refresh cookie", ErrNoSession)
	}
	if rt, err := m.verify(r.Context(), dsr, "DSR"); err != nil {
		return nil, "", err
	} else if rt.ID != u.ID {
		return nil, "", fmt.Errorf("%w: refresh token of another user", ErrInvalidToken)
	}
	return u, dsr, nil
}

// generatedLoginID loads the user and returns its generated login ID.
func (m *Middleware) generatedLoginID(ctx context.Context, userID string) (*descope.UserResponse, string, error) {
	p, err := m.c.Management.User().Load(ctx, userID)
	if err != nil {
		return nil, "", m.descopeFailure("load user", err)
	}
	for _, id := range p.LoginIDs {
		if m.cfg.isGenerated(id) {
			return p, id, nil
		}
	}
	if len(p.LoginIDs) == 0 {
		return nil, "", fmt.Errorf("anonymous: user %s has no login ID", userID)
	}
	return p, p.LoginIDs[0], nil
}

// StartConversion sends a one-time code to addr (an email address or an E.164
// phone number) for the anonymous user of r, and returns the masked address
// Descope reports. r must have passed through the middleware and carry the
// visitor's refresh cookie. Nothing changes on the user until
// FinishConversion verifies the code.
func (m *Middleware) StartConversion(ctx context.Context, r *http.Request, addr string) (string, error) {
	a, err := parseAddress(addr)
	if err != nil {
		return "", err
	}
	u, dsr, err := m.convertible(r, false)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if !m.convertStarts.allow(u.ID, now) || !m.convertStarts.allow("to:"+a.value, now) {
		return "", ErrRateLimited
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.timeout)
	defer cancel()
	if isNative(u) {
		// No user record yet: the code signs the visitor up or in.
		masked, err := m.c.Auth.OTP().SignUpOrIn(ctx, a.method(), a.value, nil)
		if err != nil {
			return "", m.codeFailure("start conversion", err)
		}
		return masked, nil
	}
	_, loginID, err := m.generatedLoginID(ctx, u.ID)
	if err != nil {
		return "", err
	}
	sr, err := m.sdkRequest(ctx, dsr)
	if err != nil {
		return "", err
	}
	opts := &descope.UpdateOptions{AddToLoginIDs: true, OnMergeUseExisting: m.cfg.allowMerge}
	var masked string
	if a.phone {
		masked, err = m.c.Auth.OTP().UpdateUserPhone(ctx, descope.MethodSMS, loginID, a.value, opts, sr)
	} else {
		masked, err = m.c.Auth.OTP().UpdateUserEmail(ctx, loginID, a.value, opts, sr)
	}
	if err != nil {
		return "", m.codeFailure("start conversion", err)
	}
	return masked, nil
}

// FinishConversion verifies the code sent by StartConversion for addr. On
// success the same user ID is now a regular user with addr as a verified login
// ID, and w carries a fresh session and refresh cookie pair. The returned user
// is the converted one (or, after a merge, the existing one).
//
// A conversion that verified the code but failed half-way (Descope went away)
// is finished by calling FinishConversion again with the same address: a code
// is not needed once the address is a verified login ID of the user.
func (m *Middleware) FinishConversion(w http.ResponseWriter, r *http.Request, addr, code string) (*User, error) {
	a, err := parseAddress(addr)
	if err != nil {
		return nil, err
	}
	anon, oldDSR, err := m.convertible(r, false)
	if errors.Is(err, ErrNotAnonymous) {
		// Perhaps a conversion verified earlier, whose session was refreshed
		// since: it may resume (checked below against the profile).
		if u, dsr, rerr := m.convertible(r, true); rerr == nil {
			anon, oldDSR, err = u, dsr, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if isNative(anon) {
		return m.finishNative(w, r, anon, oldDSR, a, code)
	}
	tenant, err := m.anonTenant(r.Context(), false)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*m.cfg.timeout)
	defer cancel()
	profile, loginID, err := m.generatedLoginID(ctx, anon.ID)
	if err != nil {
		return nil, err
	}
	fresh := !ownsVerified(profile, a)
	if fresh && !anon.Anonymous {
		return nil, ErrNotAnonymous // only a conversion already verified may be resumed
	}
	if fresh {
		code = strings.TrimSpace(code)
		if code == "" || len(code) > 32 {
			return nil, ErrInvalidCode
		}
		info, err := m.c.Auth.OTP().VerifyCode(ctx, a.method(), loginID, code, nil)
		if err != nil {
			return nil, m.codeFailure("verify code", err)
		}
		if info == nil || info.SessionToken == nil || info.RefreshToken == nil {
			return nil, fmt.Errorf("anonymous: verify code: %w", descope.ErrUnexpectedResponse)
		}
		if info.SessionToken.ID != anon.ID {
			return m.merge(ctx, w, r, anon, oldDSR, info)
		}
		m.revoke(info.RefreshToken.JWT)
	}
	// The address is now a verified login ID of this user: finish the move
	// out of the anonymous tenant. Each step is idempotent.
	inTenant := slices.ContainsFunc(profile.UserTenants, func(t *descope.UserResponseAssociatedTenant) bool { return t.TenantID == tenant })
	if fresh || inTenant {
		if _, err := m.c.Management.User().RemoveTenant(ctx, anon.ID, tenant); err != nil {
			return nil, m.descopeFailure("leave anonymous tenant", err)
		}
	}
	if m.cfg.dropLoginID && m.cfg.isGenerated(loginID) && (fresh || slices.Contains(profile.LoginIDs, loginID)) {
		if _, err := m.c.Management.User().UpdateLoginID(ctx, loginID, ""); err != nil {
			return nil, m.descopeFailure("drop generated login ID", err)
		}
	}
	info, err := m.c.Management.JWT().SignIn(ctx, a.value, nil)
	if err != nil {
		return nil, m.descopeFailure("issue regular tokens", err)
	}
	if err := m.checkClaims(info.SessionToken, "DS"); err != nil {
		return nil, err
	}
	if err := m.checkClaims(info.RefreshToken, "DSR"); err != nil {
		return nil, err
	}
	m.revoke(oldDSR)
	m.forget(anon)
	loginIDs := []string{a.value}
	if !m.cfg.dropLoginID {
		loginIDs = append(loginIDs, loginID)
	}
	u := &User{ID: info.SessionToken.ID, LoginIDs: loginIDs, Anonymous: m.isAnonymous(info.SessionToken), token: info.SessionToken}
	if err := m.convertHook(ctx, anon.ID, u); err != nil {
		m.cfg.logger.Warn("convert hook failed after conversion", "user", u.ID, "err", err)
	}
	m.writeTokens(w, info.SessionToken, info.RefreshToken)
	m.cfg.logger.Info("anonymous user converted", "user", u.ID)
	return u, nil
}

// finishNative verifies the code of a Descope-native anonymous visitor: the
// visitor is signed up or in to the real user that owns the address, the
// OnConvert hook moves the data from the anonymous ID, and that user's tokens
// replace the anonymous ones.
func (m *Middleware) finishNative(w http.ResponseWriter, r *http.Request, anon *User, oldDSR string, a address, code string) (*User, error) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 32 {
		return nil, ErrInvalidCode
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*m.cfg.timeout)
	defer cancel()
	info, err := m.c.Auth.OTP().VerifyCode(ctx, a.method(), a.value, code, nil)
	if err != nil {
		return nil, m.codeFailure("verify code", err)
	}
	if info == nil || info.SessionToken == nil || info.RefreshToken == nil {
		return nil, fmt.Errorf("anonymous: verify code: %w", descope.ErrUnexpectedResponse)
	}
	if err := m.checkClaims(info.SessionToken, "DS"); err != nil {
		return nil, err
	}
	if err := m.checkClaims(info.RefreshToken, "DSR"); err != nil {
		return nil, err
	}
	u := &User{ID: info.SessionToken.ID, Anonymous: m.isAnonymous(info.SessionToken), token: info.SessionToken}
	if info.User != nil {
		u.LoginIDs = info.User.LoginIDs
	}
	if err := m.convertHook(ctx, anon.ID, u); err != nil {
		m.revoke(info.RefreshToken.JWT)
		return nil, err
	}
	m.revoke(oldDSR)
	m.forget(anon)
	m.writeTokens(w, info.SessionToken, info.RefreshToken)
	m.cfg.logger.Info("anonymous visitor signed up", "anonymous", anon.ID, "user", u.ID)
	return u, nil
}

// merge signs the visitor in to the existing user that owns the verified
// address, lets the application move its data, and deletes the anonymous user.
func (m *Middleware) merge(ctx context.Context, w http.ResponseWriter, r *http.Request, anon *User, oldDSR string, info *descope.AuthenticationInfo) (*User, error) {
	existing := &User{ID: info.SessionToken.ID, Anonymous: m.isAnonymous(info.SessionToken), token: info.SessionToken}
	if info.User != nil {
		existing.LoginIDs = info.User.LoginIDs
	}
	if !m.cfg.allowMerge {
		// Descope merged although we did not ask: keep the anonymous user.
		m.revoke(info.RefreshToken.JWT)
		return nil, ErrIdentifierInUse
	}
	if err := m.checkClaims(info.SessionToken, "DS"); err != nil {
		return nil, err
	}
	if err := m.cfg.onMerge(ctx, anon, existing); err != nil {
		m.revoke(info.RefreshToken.JWT)
		return nil, fmt.Errorf("anonymous: merge hook: %w", err)
	}
	if err := m.c.Management.User().Delete(ctx, anon.ID); err != nil {
		// The data has moved; a leftover anonymous user is culled later.
		m.cfg.logger.Warn("delete of merged anonymous user failed", "user", anon.ID, "err", err)
	}
	m.revoke(oldDSR)
	m.forget(anon)
	m.writeTokens(w, info.SessionToken, info.RefreshToken)
	m.cfg.logger.Info("anonymous user merged", "anonymous", anon.ID, "user", existing.ID)
	return existing, nil
}

// ownsVerified reports whether the profile has a as a verified login ID.
func ownsVerified(p *descope.UserResponse, a address) bool {
	if !slices.ContainsFunc(p.LoginIDs, func(id string) bool { return strings.EqualFold(id, a.value) }) {
		return false
	}
	if a.phone {
		return p.VerifiedPhone && p.Phone == a.value
	}
	return p.VerifiedEmail && strings.EqualFold(p.Email, a.value)
}

// revoke logs a refresh token out at Descope, best effort.
func (m *Middleware) revoke(refreshJWT string) {
	if refreshJWT == "" {
		return
	}
	if err := m.c.Auth.LogoutWithToken(refreshJWT, nil); err != nil {
		m.cfg.logger.Debug("revoke of replaced refresh token failed", "err", err)
	}
}

// forget drops a replaced session token from the cache.
func (m *Middleware) forget(u *User) {
	m.cache.drop(u.sessionJWT())
}

// codeFailure maps Descope's answers on one-time codes to sentinels.
func (m *Middleware) codeFailure(doing string, err error) error {
	switch {
	case descope.IsError(err, "E061103"):
		return wrap(ErrTooManyAttempts, err)
	case descope.IsError(err, descope.ErrInvalidOneTimeCode.Code):
		return wrap(ErrInvalidCode, err)
	case descope.IsError(err, descope.ErrUserAlreadyExists.Code):
		return wrap(ErrIdentifierInUse, err)
	case descope.IsError(err, descope.ErrRefreshToken.Code), descope.IsError(err, descope.ErrTokenExpiredByLoggedOut.Code):
		return wrap(ErrNoSession, err)
	case descope.IsError(err, descope.ErrInvalidArguments.Code),
		descope.IsError(err, descope.ErrBadRequest.Code, descope.ErrValidationFailure.Code) && statusOf(err) == http.StatusBadRequest:
		// The SDK's or Descope's own check of the address is stricter than ours.
		return wrap(ErrInvalidAddress, err)
	}
	return m.descopeFailure(doing, err)
}

// sdkRequest builds the request the SDK reads the refresh token from, with
// the cookie name the SDK client expects.
func (m *Middleware) sdkRequest(ctx context.Context, dsr string) (*http.Request, error) {
	sr, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", nil)
	if err != nil {
		return nil, err
	}
	sr.AddCookie(&http.Cookie{Name: m.sdkRefreshCookie, Value: dsr})
	return sr, nil
}

// ErrorStatus returns the HTTP status the conversion handlers answer err with.
func ErrorStatus(err error) int {
	switch {
	case errors.Is(err, ErrInvalidAddress), errors.Is(err, ErrInvalidCode), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrNoSession), errors.Is(err, ErrInvalidToken), errors.Is(err, ErrDuplicateCookie):
		return http.StatusUnauthorized
	case errors.Is(err, ErrNotAnonymous), errors.Is(err, ErrIdentifierInUse):
		return http.StatusConflict
	case errors.Is(err, ErrTooManyAttempts), errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

package anonymous

import (
	"context"
	"net/http"
	"strings"

	"github.com/descope/go-sdk/descope"
)

// Conversion by one-time code: [Middleware.StartConversion] sends a code to
// the address, [Middleware.FinishConversion] verifies it. The code is bound
// to the address by Descope itself (an update's code verifies only under the
// user's login ID, a sign-up-or-in code only for the address it went to).

// otpMethod is conversion by one-time code.
type otpMethod struct{}

func (otpMethod) kind() string { return methodOTP }

func (otpMethod) clean(code string) (string, error) { return cleanCode(code) }

// verify checks the code the visitor typed for loginID.
func (otpMethod) verify(ctx context.Context, m *Middleware, a address, loginID, code string) (*descope.AuthenticationInfo, error) {
	return m.verifyCode(ctx, a, loginID, code)
}

// bind has nothing to check: Descope verifies a code only for the login ID
// and address it was sent to.
func (otpMethod) bind(*descope.AuthenticationInfo, address, string, string) error { return nil }

// send asks Descope to send the code: an update of the user's email or
// phone (under p.LoginID) for a user-backed visitor, a sign-up-or-in code
// for a native one or for the existing account of a merge.
func (otpMethod) send(ctx context.Context, m *Middleware, u *User, dsr string, a address, p pendingConversion) (string, error) {
	if isNative(u) || isLocal(u) || p.ExistingID != "" {
		masked, err := call(m, ctx, "otp.sign_up_or_in", func(ctx context.Context) (string, error) {
			return m.c.Auth.OTP().SignUpOrIn(ctx, a.method(), a.value, nil)
		})
		if err != nil {
			return "", m.codeFailure("send code", err)
		}
		return masked, nil
	}
	loginID := p.LoginID
	// OnMergeUseExisting: should the address become another account's login
	// ID before the code is verified (the checks before and after this call
	// make that a narrow race), Descope then keeps that account and merges
	// the anonymous user into it, instead of deleting it (Descope's default,
	// per its SDK docs: swift-sdk UpdateOptions.onMergeUseExisting,
	// flutter-sdk others.dart).
	opts := &descope.UpdateOptions{AddToLoginIDs: true, OnMergeUseExisting: true}
	op := "otp.update_email"
	if a.phone {
		op = "otp.update_phone"
	}
	masked, err := call(m, ctx, op, func(ctx context.Context) (string, error) {
		sr, err := m.sdkRequest(ctx, dsr)
		if err != nil {
			return "", err
		}
		if a.phone {
			return m.c.Auth.OTP().UpdateUserPhone(ctx, descope.MethodSMS, loginID, a.value, opts, sr)
		}
		return m.c.Auth.OTP().UpdateUserEmail(ctx, loginID, a.value, opts, sr)
	})
	if err != nil {
		return "", m.codeFailure("send code", err)
	}
	return masked, nil
}

// verifyCode checks a one-time code for loginID and the tokens Descope
// answers with.
func (m *Middleware) verifyCode(ctx context.Context, a address, loginID, code string) (*descope.AuthenticationInfo, error) {
	info, err := call(m, ctx, "otp.verify", func(ctx context.Context) (*descope.AuthenticationInfo, error) {
		return m.c.Auth.OTP().VerifyCode(ctx, a.method(), loginID, code, nil)
	})
	if err != nil {
		return nil, m.codeFailure("verify code", err)
	}
	if err := m.checkPair(info); err != nil {
		if info != nil && info.RefreshToken != nil {
			m.revoke(ctx, info.RefreshToken.JWT)
		}
		return nil, err
	}
	m.convEvent(ctx, Event{Kind: EventCodeVerified})
	return info, nil
}

// cleanCode trims a one-time code and refuses an empty or oversized one.
func cleanCode(code string) (string, error) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 32 {
		return "", ErrInvalidCode
	}
	return code, nil
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

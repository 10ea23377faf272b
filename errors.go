package anonymous

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/descope/go-sdk/descope"
)

// Errors returned by the middleware, conversion and cull. Each wraps the
// upstream *descope.Error where there is one, so errors.As reaches it.
var (
	// ErrNoSession means the request carries no usable session or refresh token.
	ErrNoSession = errors.New("anonymous: no session")
	// ErrInvalidToken means a token failed verification: bad signature, wrong
	// project, wrong token type (drn), expired or malformed.
	ErrInvalidToken = errors.New("anonymous: invalid token")
	// ErrDuplicateCookie means the request carries two different values for the
	// session or refresh cookie (for example a cookie tossed from a sibling
	// domain); the middleware trusts neither.
	ErrDuplicateCookie = errors.New("anonymous: duplicate session cookie")
	// ErrUnavailable means Descope could not be reached or answered with a
	// transient failure (5xx, 429, timeout). The visitor's cookies are kept.
	ErrUnavailable = errors.New("anonymous: descope unavailable")
	// ErrRateLimited means provisioning was refused by the middleware's own
	// per-client or global provisioning limit.
	ErrRateLimited = errors.New("anonymous: provisioning rate limit exceeded")
	// ErrNotProvisioned means provisioning was skipped on purpose for this
	// request: lazy mode, a crawler, a HEAD/OPTIONS request or the skip function.
	ErrNotProvisioned = errors.New("anonymous: visitor not provisioned")
	// ErrNotAnonymous means the operation needs an anonymous user and the
	// current user is a regular one.
	ErrNotAnonymous = errors.New("anonymous: user is not anonymous")
	// ErrInvalidAddress means an email address or phone number is malformed.
	ErrInvalidAddress = errors.New("anonymous: invalid email or phone")
	// ErrIdentifierInUse means the verified email or phone already belongs to
	// another user and merging was not enabled; neither account was changed.
	ErrIdentifierInUse = errors.New("anonymous: identifier belongs to another user")
	// ErrInvalidCode means the one-time code was wrong or has expired.
	ErrInvalidCode = errors.New("anonymous: invalid or expired code")
	// ErrTooManyAttempts means the one-time code was locked after too many
	// wrong attempts; start the conversion again to get a new code.
	ErrTooManyAttempts = errors.New("anonymous: too many attempts")
	// ErrNoPendingConversion means verify was called with no conversion
	// started for this visitor and address.
	ErrNoPendingConversion = errors.New("anonymous: no conversion in progress")
)

// descopeError wraps err from Descope under a sentinel so both errors.Is(err,
// sentinel) and errors.As(err, **descope.Error) work.
type descopeError struct {
	sentinel error
	err      error
}

func (e *descopeError) Error() string   { return e.sentinel.Error() + ": " + e.err.Error() }
func (e *descopeError) Unwrap() []error { return []error{e.sentinel, e.err} }

func wrap(sentinel, err error) error {
	if err == nil {
		return sentinel
	}
	return &descopeError{sentinel: sentinel, err: err}
}

// statusOf reports the HTTP status Descope answered with, or 0 when the error
// did not come from an HTTP answer.
func statusOf(err error) int {
	de := descope.AsError(err)
	if de == nil || de.Info == nil {
		return 0
	}
	s, _ := de.Info[descope.ErrorInfoKeys.HTTPResponseStatusCode].(int)
	return s
}

// isTransient reports whether err is a failure to reach Descope (network
// error, timeout, 5xx, 429, unreadable answer, keys not fetched) rather than
// Descope's verdict on the request.
func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	de := descope.AsError(err)
	if de == nil {
		return errors.Is(err, ErrUnavailable)
	}
	if de.Code == descope.ErrPublicKey.Code {
		// The SDK reports both "keys could not be fetched" and "the token's
		// key is not in the fetched set" this way; only the first is an outage.
		return !strings.Contains(de.Message, "does not exist in key set") &&
			!strings.Contains(de.Message, "signature algorithm") &&
			!strings.Contains(de.Message, "does not match")
	}
	if de.Code == descope.ErrInvalidResponse.Code ||
		de.Code == descope.ErrUnexpectedResponse.Code || de.Code == descope.ErrRateLimitExceeded.Code {
		return true
	}
	s := statusOf(err)
	return s >= http.StatusInternalServerError || s == http.StatusTooManyRequests
}

package anonymous

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

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
	// per-client or global provisioning limit, or because Descope answered
	// the last user creation with 429; the error says which.
	ErrRateLimited = errors.New("anonymous: provisioning rate limit exceeded")
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
	// wrong attempts (start the conversion again to get a new code), or the
	// visitor, or its client, made as many verifications as the limits
	// allow for now; the error says which.
	ErrTooManyAttempts = errors.New("anonymous: too many attempts")
	// ErrNoPendingConversion means a finish found no pending conversion of
	// this visitor that its answer belongs to: no code was sent to that
	// address (or the code's time has passed; a code only ever verifies
	// the address it was sent to), or the magic link, social login state
	// or passkey transaction is not this visitor's pending one (another
	// visitor's, an older start's, or one used already).
	ErrNoPendingConversion = errors.New("anonymous: no pending conversion for this answer: start again from this browser")
	// ErrTooManyCodes means the visitor, or the address, was sent as many
	// one-time codes as the limits allow for now, or the visitor, or its
	// client, started as many conversions; the error says which.
	ErrTooManyCodes = errors.New("anonymous: too many codes requested, try again later")
	// ErrConversionInProgress means another request is finishing the same
	// visitor's conversion or promotion right now (a double submit).
	ErrConversionInProgress = errors.New("anonymous: conversion already in progress")
	// ErrDescopeMerged means Descope merged the visitor with another account
	// while the address was being verified (the address was registered by
	// someone else between the check and the code). Nothing was deleted by
	// the middleware; the error names both user IDs so the application can
	// repair its data. It is logged at error level, and the conversion
	// handler also reports it to the error hook.
	ErrDescopeMerged = errors.New("anonymous: descope merged the visitor with another account")
)

// errNilMiddleware answers requests to a nil Middleware; errBadRequest marks
// a request to a conversion handler that is not the JSON it expects;
// errMethod one with the wrong method; errCrossOrigin one from a page of
// another origin; errContentType one whose body is not declared JSON.
var (
	errNilMiddleware = errors.New("anonymous: nil Middleware")
	errBadRequest    = errors.New("anonymous: bad request")
	errMethod        = errors.New("anonymous: method not allowed")
	errCrossOrigin   = errors.New("anonymous: cross-origin request refused")
	errContentType   = errors.New("anonymous: unsupported media type")
)

// errorTable is the one place that says what an error means outside: the
// HTTP status, the message a visitor may see (the sentinel's text without
// the prefix) and the reason EventConversionFailed gives ("" where a
// conversion never fails so). The first sentinel err matches wins.
var errorTable = []struct {
	err    error
	status int
	reason string
}{
	{errNilMiddleware, http.StatusInternalServerError, ""},
	{errMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
	{errCrossOrigin, http.StatusForbidden, "cross_origin"},
	{errContentType, http.StatusUnsupportedMediaType, "content_type"},
	{errBadRequest, http.StatusBadRequest, "bad_request"},
	{ErrInvalidAddress, http.StatusBadRequest, "invalid_address"},
	{ErrInvalidCode, http.StatusBadRequest, "invalid_code"},
	{ErrNoSession, http.StatusUnauthorized, "no_session"},
	{ErrInvalidToken, http.StatusUnauthorized, "invalid_token"},
	{ErrDuplicateCookie, http.StatusBadRequest, "duplicate_cookie"},
	{ErrNotAnonymous, http.StatusConflict, "not_anonymous"},
	{ErrIdentifierInUse, http.StatusConflict, "identifier_in_use"},
	{ErrNoPendingConversion, http.StatusConflict, "no_pending_conversion"},
	{ErrConversionInProgress, http.StatusConflict, "conversion_in_progress"},
	{ErrDescopeMerged, http.StatusConflict, "descope_merged"},
	{ErrTooManyAttempts, http.StatusTooManyRequests, "too_many_attempts"},
	{ErrTooManyCodes, http.StatusTooManyRequests, "too_many_codes"},
	{ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
	{ErrInvalidLink, http.StatusBadRequest, "invalid_link"},
	{ErrLinkURL, http.StatusBadRequest, "link_url"},
	{ErrInvalidOAuth, http.StatusBadRequest, "invalid_oauth"},
	{ErrOAuthURL, http.StatusBadRequest, "oauth_url"},
	{ErrInvalidPasskey, http.StatusBadRequest, "invalid_passkey"},
	{ErrPasskeyOrigin, http.StatusBadRequest, "passkey_origin"},
	{ErrInvalidName, http.StatusBadRequest, "invalid_name"},
	{ErrNothingVerified, http.StatusConflict, "nothing_verified"},
	{ErrNotUserBacked, http.StatusConflict, "not_user_backed"},
	{ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
}

// ErrorStatus returns the HTTP status for err: 400 for bad input, 401 for a
// missing or invalid session, 409 for a conflict with the visitor's or the
// address's state, 429 for a limit, 503 when Descope is unavailable, and 500
// for anything else. The conversion handlers and [FailClosed] answer with it.
func ErrorStatus(err error) int {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// ErrorReason returns a short, stable name for err that a page can switch
// on ("identifier_in_use", "no_pending_conversion", "too_many_codes", …:
// the sentinels' names in snake case), or "" when err is none of them. The
// conversion handlers and [FailClosed] send it as "reason" beside "error",
// whose words may change; events carry it as [Event.Reason].
func ErrorReason(err error) string {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.reason
		}
	}
	return ""
}

// errorBody is the JSON answer of err: {"error": publicMessage, "reason":
// ErrorReason} (no reason when it has none).
func errorBody(err error) map[string]string {
	body := map[string]string{"error": publicMessage(err)}
	if reason := ErrorReason(err); reason != "" {
		body["reason"] = reason
	}
	return body
}

// publicMessage is the text of err that is safe to show a visitor: the
// sentinel's message (with the detail of a request the conversion handlers
// refused, which is the handlers' own words), never Descope's.
func publicMessage(err error) string {
	if errors.Is(err, errBadRequest) || errors.Is(err, errCrossOrigin) || errors.Is(err, errContentType) {
		return strings.TrimPrefix(err.Error(), prefix)
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return strings.TrimPrefix(e.err.Error(), prefix)
		}
	}
	return "internal error"
}

// FailClosed is a ready-made error handler for [WithErrorHandler], for
// applications that prefer failing closed: it answers with a JSON error and
// the status [ErrorStatus] gives (503 while Descope is unavailable, 429 over a
// provisioning limit), and the request goes no further.
func FailClosed(w http.ResponseWriter, _ *http.Request, err error) {
	status := ErrorStatus(err)
	if status == http.StatusInternalServerError {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, errorBody(err))
}

// descopeError wraps err from Descope under a sentinel so both errors.Is(err,
// sentinel) and errors.As(err, **descope.Error) work.
type descopeError struct {
	sentinel error
	err      error
}

func (e *descopeError) Error() string {
	return e.sentinel.Error() + ": " + strings.TrimPrefix(e.err.Error(), prefix)
}
func (e *descopeError) Unwrap() []error { return []error{e.sentinel, e.err} }

// prefix starts every error message of the package, once.
const prefix = "anonymous: "

// during adds what was being done to err. The message keeps one prefix, at
// the front; errors.Is and errors.As see err.
func during(doing string, err error) error { return &duringError{doing: doing, err: err} }

type duringError struct {
	doing string
	err   error
}

func (e *duringError) Error() string {
	return prefix + e.doing + ": " + strings.TrimPrefix(e.err.Error(), prefix)
}
func (e *duringError) Unwrap() error { return e.err }

// wrap puts err under sentinel; an err already under it is returned as is.
func wrap(sentinel, err error) error {
	switch {
	case err == nil:
		return sentinel
	case errors.Is(err, sentinel):
		return err
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

// isRateLimit reports whether err is Descope's rate limit: 429, or the
// SDK's error for it.
func isRateLimit(err error) bool {
	return descope.IsError(err, descope.ErrRateLimitExceeded.Code) || statusOf(err) == http.StatusTooManyRequests
}

// retryAfter returns the Retry-After that came with a 429 from Descope, or
// def when it carried none.
func retryAfter(err error, def time.Duration) time.Duration {
	if de := descope.AsError(err); de != nil && de.Info != nil {
		if s, ok := de.Info[descope.ErrorInfoKeys.RateLimitExceededRetryAfter].(int); ok && s > 0 {
			return time.Duration(s) * time.Second
		}
	}
	return def
}

// descopeFailure wraps an error from Descope under [ErrUnavailable] when it is
// transient, with what was being done.
func (m *Middleware) descopeFailure(doing string, err error) error {
	if isTransient(err) {
		return wrap(ErrUnavailable, during(doing, err))
	}
	return during(doing, err)
}

// fail reports err to the log and the error hook. It returns true when the
// hook wrote a response, which ends the request.
func (m *Middleware) fail(w http.ResponseWriter, r *http.Request, err error) bool {
	level := slog.LevelWarn
	if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrDuplicateCookie) {
		level = slog.LevelInfo
	}
	m.cfg.logger.Log(r.Context(), level, "anonymous identity unavailable", "path", r.URL.Path, "err", err)
	if m.cfg.errorHandler == nil {
		return false
	}
	tw := &trackingWriter{ResponseWriter: w}
	m.cfg.errorHandler(tw, r, err)
	return tw.wrote
}

// trackingWriter notes whether the error hook wrote a response.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) { t.wrote = true; t.ResponseWriter.WriteHeader(code) }

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
